// Command tapegrad runs tapegrad's study of training deep networks — the
// experiments of chapter 11 of Géron's Hands-On Machine Learning on
// initialization, nonsaturating activations, self-normalization and Batch
// Normalization — and looks at its reference models.
//
// Usage:
//
//	tapegrad <command> [arguments]
//
// The commands are:
//
//	study    runs the chapter's experiments and writes report.md and PNG plots
//	dot      writes the DOT drawing of a reference model's graph (and SVG)
//	explain  prints the compiled program of a reference model
//	bench    times the reference configurations' steps
//
// "tapegrad help <command>" and "tapegrad <command> -h" describe a command
// and its flags; flags may be written -flag or --flag, before or after the
// arguments.
//
// # study
//
//	tapegrad study [variance|selfnorm|activations|batchnorm|all]... [--out DIR]
//	    [--data mnist|fashion] [--data-dir DIR] [--full] [--quick] [--seed N] [--epochs N] [--batch N] [--quiet]
//
// runs the experiments (package experiment) and writes DIR/report.md
// (default ./study) with the tables and the PNG plots it refers to.
// With no argument every experiment runs on the 6,000-image MNIST subset
// embedded in package datasets, in under three minutes on two cores; --full uses
// the whole data set where it is installed, --data fashion Fashion-MNIST
// (Debian's dataset-fashion-mnist package or $TAPEGRAD_DATA), and --quick
// (or TAPEGRAD_STUDY_QUICK=1) a tiny configuration that runs in seconds.
// The progress goes to stderr: a bar on a terminal, a line per finished
// task otherwise; the summaries go to stdout.
//
// # dot, explain
//
//	tapegrad dot [--model A|B|C|D|mlp] [--mode train|infer] [--out file.dot] [--collapse scopes]
//	tapegrad explain [--model A|B|C|D|mlp] [--mode train|infer] [--batch N]
//
// The models are internal/refmodels' reference configurations (A: 784-300-
// 100-10 SELU, B: 784-300-BN-ELU-100-BN-ELU-10, C: 3072-(20×100 ELU)-10,
// D: inference of B) and mlp, the chapter's 784-300-100-10 ReLU MLP. The
// training mode draws or explains the whole training step (forward,
// backward, SGD update, BatchNorm's statistics). dot writes to stdout, or
// to --out and, when Graphviz's dot is on PATH, to an SVG beside it.
//
// # bench
//
//	tapegrad bench [--model A|B|C|D|mlp|all] [--iters N] [--batch N]
//
// compiles each configuration and prints ms/step and allocs/step at its
// batch sizes. The Go benchmarks (go test -bench Ref ./internal/refmodels)
// are the authoritative figures.
//
// # Exit status
//
// 0 on success (and for help), 1 when a command fails, 2 for a wrong
// command line (an unknown command, flag or experiment, a bad value).
package main
