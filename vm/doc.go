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
// The compiler may move an assignment into the instruction computing its
// value, which then writes the variable in place; it places such
// instructions last, and the machine runs them, like the assignments, only
// once the rest of the run has succeeded.
//
// # Goroutines
//
// What may be shared between goroutines, and what may not:
//
//   - A Program, once built, is immutable: any number of machines on any
//     number of goroutines may run it at once.
//   - A Machine is used by one goroutine at a time (its arenas, its cached
//     instances and the Result views are its own): make one machine per
//     goroutine to run a program concurrently (they are cheap until they
//     run), or hand machines out from a pool, as train.Model.Predict does.
//   - A Store's methods may be called from several goroutines. Machines that
//     only read its variables (inference programs: no assignments) may run
//     at once on one store. A variable that a machine reads while another
//     goroutine sets it or a program assigns it, or that two machines
//     running at once both write, is a data race on its values: the store
//     locks its table of names, not the machines' reads and writes. So a
//     training step must not run while another machine predicts from the
//     same store.
//
// The tests TestMachinesConcurrent and train's TestPredictConcurrent check
// this under the race detector. The kernels spread large loops over one pool
// of worker goroutines shared by the whole process (package internal/kernel),
// which any number of machines may use at once; a run blocks until its
// instructions are done.
//
// # The NaN/Inf guard
//
// Machine.SetGuard(true) makes every later run check each instruction's
// outputs right after the instruction and stop at the first NaN or infinity.
// The run then returns a *GuardError (matching ErrNonFinite) that names the
// instruction (as Program.InstString prints it), the graph node it computes
// (Inst.Note), that node's layer (its name scope: "dense_1", or
// "gradients/dense_1" for the backward pass), the batch size, the first bad
// element and its value, and the range of each input: its smallest and
// largest finite values and how many of its values are NaN or infinite.
// The instructions after it do not run and, as after a kernel's own failure,
// neither do the assignments, so the store keeps the values it had before
// the run: a training step stopped by the guard before its updates has
// changed nothing. (An update whose own result is not finite, a weight that
// overflows, is met while the updates write the store in place: the updates
// before it in the program have then been applied.)
// Hoisted instructions are checked when they run. An input that an
// instruction overwrites in place is copied aside before it runs, so that
// its range can still be reported.
//
// Off (the default), the guard costs nothing: a run chooses once between
// the plain loop over the instructions and the checking one, so there is no
// test per instruction, let alone per element. On, it costs one pass over
// every output (x·0 summed: branch-free; large outputs are checked on the
// worker pool) and a copy of each in-place input, and allocates nothing:
// BenchmarkGuard measures it on the training step of reference
// configuration B (784-300-BN-ELU-100-BN-ELU-10, float32). On a 2-core
// machine with the packed GEMM that is about 0.3 ms a step: 11% of a step
// at batch size 128, 28% at 32. The cost is mostly the passes over the
// weight gradients and their updates (0.3 ns a value), whose size does not
// depend on the batch size, so it shrinks as batches grow.
//
// # Memory limits
//
// The memory a machine allocates for a batch size is the arena of the plan
// (Plan.Arena values of the program's dtype: inputs, constants,
// temporaries; variables live in the store). Program.MemoryLimit (set by
// compile.Options.MemoryLimit) or Machine.SetMemoryLimit caps it: the first
// run at a batch size whose plan needs more fails with ErrMemoryLimit and the
// plan's size before allocating anything, and Machine.CheckBatch asks the
// same question without running. Program.MemoryFor gives a plan's size. The
// limit applies to each batch size on its own: a machine that has run
// several holds an arena for each. Whatever the limit, a plan whose buffers
// could not be addressed (sizes that overflow, or more than 2⁴⁶ bytes) is
// refused the same way rather than panicking in make.
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
// which fetches nothing and applies no assignment. The NaN/Inf guard stops a
// run the same way (ErrNonFinite), and a batch size over the memory limit
// fails before anything runs (ErrMemoryLimit). A kernel that panics has
// found a bug in tapegrad, not in its input. FuzzFeeds feeds programs random
// names, shapes, dtypes and views and checks that nothing panics.
package vm
