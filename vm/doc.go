// Package vm runs compiled programs: the Program (instructions as data), the
// Machine that runs one, and the Store that holds a model's variables.
//
// # Overview
//
// compile.Compile turns the part of a graph that some fetches need into a
// Program: a table of buffers (inputs, variables, constants, temporaries),
// a list of instructions, each naming a kernel and the buffers it reads and
// writes, and the buffers to fetch. Program.String prints it one line per
// buffer or instruction. A program is immutable once built.
//
// A Machine runs one program against one Store:
//
//	store := vm.NewStore()
//	err := store.Init(g, 42, initializers.Get("glorot_uniform"))
//	m := vm.NewMachine(prog, store)
//	out, err := m.Run(vm.Feeds{"x": xs}) // copies, owned by the caller
//	res, err := m.Exec(vm.Feeds{"x": xs}) // views, valid until the next run
//
// # Who owns what
//
// The program owns nothing that changes: it may be shared by any number of
// machines on any number of goroutines.
//
// The store owns the variables: parameters and state such as BatchNorm
// moving statistics and optimizer slots. A variable's memory is allocated
// once, when the variable is created, and never moves: Store.Set and
// Store.SetFloat64s copy into it. Machines bind their kernels directly to
// that memory, so every program of a model (training step, evaluation,
// inference) and every machine running them sees one copy of each variable,
// and an update written by one program is what the next run of any program
// reads. Store.Delete removes a name; machines already bound to it keep the
// old memory. Variables are looked up when a machine first runs a batch
// size; a missing variable or one of the wrong shape or dtype is an error
// from that run, and a later run retries once the store has it.
//
// The machine owns everything else: for each batch size it has run, an
// arena holding the inputs, the constants and the temporaries, and the
// kernels bound to them. Feeds are copied into the arena at the start of
// each run: the caller's tensors are never kept or written, and may be
// changed or reused as soon as Run or Exec returns.
//
// # What may alias
//
// Run returns fresh copies of the fetched values: they belong to the
// caller, and nothing the machine does later changes them.
//
// Exec returns a Result whose tensors are views of the machine's memory, so
// that a training loop that reads only a loss pays for no copy. They stay
// valid until the next Run or Exec of the same machine, which overwrites
// them; copy what must outlive that. Two fetches of the same value may be
// views of the same memory. A view must not be written to.
//
// Inside a machine, a memory plan made for each batch size (Plan) lets
// temporaries whose lifetimes do not overlap share memory, a reshape be a
// view of its input, and an element-wise kernel write its output over an
// input that is not read afterwards; a fetched value's buffer is kept
// intact until the end of the run. Inputs, constants and variables are
// never overwritten by a temporary. Different machines share no memory but
// the store's.
//
// # Values that depend on variables only
//
// An instruction that reads only variables and constants (a batch
// normalization folded into a kernel, 2·w) is hoisted: the machine computes
// it on its first run and again only when the store has changed since
// (Store.Generation counts every Set, Init and assignment, whichever
// machine made it). Everything else runs on every run. Assignments
// (nodes.Assign: optimizer updates, moving statistics) run after all other
// instructions, so a run reads the variables as they were when it began.
//
// # Goroutines
//
// A Machine is used by one goroutine at a time: make one machine per
// goroutine to run a program concurrently (they are cheap until they run).
// The Store's methods may be called from several goroutines, but a variable
// that a machine reads while another goroutine sets it, or that two machines
// running at once both write, is a data race on its values: the store locks
// its table of names, not the machines' reads and writes.
//
// The kernels spread large loops over one pool of worker goroutines shared
// by the whole process (package internal/kernel); a run blocks until its
// instructions are done.
//
// # The open batch dimension
//
// A graph's inputs may leave their leading dimension open (graph.Batch), and
// a program keeps its shapes symbolic. A machine reads the batch size from
// the feeds (every input with an open dimension must agree) and, the first
// time it sees a batch size, makes an instance of the program for it:
// concrete shapes from the ops' shape rules, an arena, and kernels bound to
// the arena's slices. Instances are cached for the life of the machine, so
// a training loop whose last batch is short, or a model serving one row at a
// time after training on 128, pays for each distinct batch size once; the
// machine's memory grows with the number of distinct sizes it has seen.
//
// # Running allocates nothing
//
// Once a machine has run a batch size, Exec on that batch size allocates
// nothing: the feed check walks the program's inputs, the inputs are copied
// into the arena, the instructions are calls of kernels bound in advance,
// the GEMM tiles its work over the persistent worker pool (or calls
// OpenBLAS with the build tag openblas), and the pool recycles what it
// needs. Run allocates only the copies it returns. The test
// TestExecAllocatesNothing checks this for the forward pass and the
// training step of a 784-300-100-10 MLP.
//
// # Errors
//
// Every error about feeds matches ErrFeed (errors.Is) and names the input:
// a missing or unknown input, a wrong rank, dimension or dtype, batch sizes
// that differ between inputs. Feeding an input of the graph that the
// program does not need is allowed. A data-dependent failure inside a kernel
// (OneHot given a label out of range) is returned by the run that met it,
// which fetches nothing. A kernel that panics has found a bug in tapegrad,
// not in its input.
package vm
