// Package compile turns a graph into a program for package vm: it copies
// the part of the graph that the fetches need into a working form (a Func
// of Values), runs an ordered list of passes over it, and lowers the result
// to a vm.Program.
//
// # Using it
//
//	prog, err := compile.Compile(g, []*graph.Node{loss, grads[0]}, compile.Options{})
//	fmt.Print(prog) // one line per buffer and instruction
//
// Compile returns the graph's first builder error (g.Err(), the very value)
// before looking at anything else, so a model can be built without checking
// each call and checked once here. Its own errors, all prefixed "compile:",
// are about its arguments: a nil graph, no fetches, a nil fetch or one from
// another graph, an unknown pass name in Options.Disable, an op without a
// kernel.
//
// The user's graph is never changed: passes rewrite the Func, a copy. The
// same graph may be compiled for several sets of fetches (a training step,
// an evaluation, a prediction); the programs share variables through a
// vm.Store, not through the compiler.
//
// # Passes
//
// The passes run in this order (the table Passes; Options.Disable takes
// these names, and Options.Trace receives each pass's one-line summary and
// the Func after it):
//
//  1. prune — drop the values the fetches do not depend on, and with them
//     the inputs only they read: a program needs only the feeds it uses.
//  2. cse — merge values that apply the same op, with the same attributes,
//     to the same arguments (common subexpressions, frequent in gradients).
//  3. fold-constants — compute at compile time, with the same kernels and in
//     the graph's dtype, every value whose arguments are all constants (up
//     to 65536 elements).
//  4. simplify — apply identities that keep shapes and values: x+0, x−0,
//     x·1, x/1, −(−x), a reshape to the same shape or of a reshape, and
//     stop_gradient, which only matters to autodiff.
//  5. prune-dead — prune again, for what the rewrites left unused.
//  6. fold-bn — fold an inference batch normalization that follows a dense
//     layer into the layer's kernel and bias: W' = W·s, b' = (b − mean)·s
//     + β with s = γ/sqrt(variance + ε). W' and b' depend on variables
//     only, so they are hoisted (see plan-memory).
//  7. fuse-bn-act — fuse a training-mode batch normalization with the
//     element-wise activation that reads it (one instruction forward), and
//     the activation's gradient with the batch normalization's gradient
//     (one instruction backward); the batch statistics stay outputs.
//  8. fuse-dense-act — turn a matmul, the add of a bias broadcast over its
//     rows and an activation into one fused dense instruction (the GEMM,
//     then one sweep); when the pre-activation is read elsewhere (by an
//     activation's gradient) the fused op keeps it as a second output.
//  9. fuse-gemm-update — fold an SGD step w ← w − c·op(a)·op(b) into the
//     GEMM of its gradient (alpha = −c, beta = 1 onto w): no gradient
//     buffer, no sweep.
//  10. fuse-elementwise — merge chains of element-wise values of one shape,
//     whose intermediate results nothing else reads, into one instruction
//     that computes the chain in a single sweep over memory.
//  11. plan-memory — let the machine's memory planner (package vm) save
//     memory and work: buffers whose lifetimes do not overlap share
//     memory, a reshape becomes a view of its input, an element-wise
//     instruction may write over an input that is not read afterwards,
//     and an instruction that reads only variables and constants is
//     hoisted out of the run (computed again only when the store has
//     changed). Disabled, every buffer gets its own block of memory
//     (vm.Program.NoMemoryReuse) and every instruction runs every time.
//
// Lowering, after the passes, gives every remaining value a buffer and every
// non-leaf value an instruction, in an order where each instruction comes
// after the ones it reads from; assignments to variables run last. An
// assigned value computed by an element-wise instruction (or by a GEMM
// accumulating onto the variable) is written straight into the variable
// instead: that instruction moves to the end of the run, after everything
// that could fail or still reads the old value.
//
// Every pass changes how a program computes, not what. The passes other
// than fold-bn and the fuse- passes give the same bits as no pass at all;
// those five may round differently (Options.Verify checks a program against
// the same one compiled without them). Where they do: fuse-dense-act copies
// the bias into the output and lets the GEMM accumulate onto it, so a
// pre-activation is b + Σ rather than Σ + b and may round to the
// neighbouring float; fold-bn multiplies the scale into the kernel
// (W·s, then the GEMM) instead of scaling the GEMM's result;
// fuse-gemm-update lets the GEMM scale by −c and add w as it accumulates.
// fuse-bn-act
// and fuse-elementwise run the same row kernels on the same values in the
// graph's dtype and give the same bits (package train's
// TestFitFusionRounding trains with and without each fusing pass and
// bounds the difference). The test TestPassesKeepValues and the fuzz test
// FuzzBuildGraph compare programs compiled with every pass, with every pass
// but the fusions, and with none.
//
// # Memory limits
//
// Options.MemoryLimit caps, in bytes, the arena a machine allocates to run
// the program at one batch size. Compile plans the program for each batch
// size in Options.Batches (or batch size 1) and fails with the plan's size
// (vm.ErrMemoryLimit) when one exceeds the limit; the program keeps the
// limit, so a machine refuses a larger batch size when it first meets it.
//
// # Fuzzing
//
// FuzzBuildGraph turns random bytes into random builder calls (the whole
// catalogue: arithmetic, shapes, reductions, activations, batch
// normalization, dropout, losses, assignments), gradients, compilation and
// runs, with the NaN/Inf guard on or off, and checks that nothing panics:
//
//	go test ./compile -run XXX -fuzz FuzzBuildGraph -fuzztime 60s
//
// Inputs that once crashed are kept in testdata/fuzz/FuzzBuildGraph and run
// by every go test. .ci/run runs every fuzz target of the module for a few
// seconds, .ci/fuzz-long for 30 seconds or more each.
package compile
