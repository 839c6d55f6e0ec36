package main

import (
	"context"
	"os"
)

// The list of commands.
func Example() {
	run(context.Background(), []string{"help"}, os.Stdout, os.Stderr)
	// Output:
	// tapegrad runs the experiments of tapegrad's study of training deep networks
	// (initialization, nonsaturating activations, self-normalization, Batch
	// Normalization) and looks at its reference models.
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
	//	bench    times the training steps of the reference models
	//
	// Use "tapegrad help <command>" or "tapegrad <command> -h" for more about a command.
}
