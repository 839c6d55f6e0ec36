// Command quickstart builds a 784-300-100-10 multilayer perceptron (tanh
// hidden layers, softmax output) with tapegrad's graph builders, initializes
// its weights from a seed, compiles it, runs a forward pass on generated
// data, and draws the graph: mlp.dot, and mlp.svg when Graphviz's dot is on
// PATH.
//
// Run it from the repository root:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -batch 32 -seed 7 -out /tmp
package main
