// Package graph holds the computation graphs of tapegrad: the Graph, its
// Nodes, their Shapes and DType, the Op interface that the op catalogue
// (package nodes) implements, the first error met while building, and a DOT
// export for looking at the result.
//
// # Overview
//
// A model goes through four steps, each owned by one package:
//
//  1. Build (graph, nodes, layers). Make a graph with New, add its leaves
//     (Input for values fed at run time, Variable for parameters and state,
//     Constant) and apply ops to them: nodes.MatMul(x, w), nodes.Add(h, b).
//     Nothing is computed; each call adds a Node, checks its shapes and
//     returns it.
//  2. Differentiate (autodiff). autodiff.Grad(loss, w, b) adds the gradient
//     nodes to the same graph, built from the same ops, so a training step —
//     forward, backward and the optimizer's update — is one graph.
//  3. Compile (compile). compile.Compile(g, fetches, opts) prunes what the
//     fetches do not need, fuses, plans memory and emits a vm.Program: a flat
//     list of instructions over preallocated buffers.
//  4. Run (vm). A vm.Machine runs the program on feeds, with the variables
//     held in a vm.Store outside the graph and shared by every program of a
//     model.
//
// A graph is data and never runs anything itself; the same graph can be
// compiled for several sets of fetches (a training step, an evaluation).
//
// # Nodes, order and names
//
// Every node has one op, its inputs, a shape and the graph's dtype (one of
// Float32 and Float64 for all the values of a graph). Nodes are kept in the
// order they were made, which is a topological order: Graph.Nodes lists
// every node after its inputs, and Node.ID is the index in that list.
//
// Each node has a full name, unique in its graph, made of the name scopes
// open when it was made and its own name: "dense_1/kernel",
// "gradients/dense_1/matmul". Inputs and variables are named by the caller
// and a clash is an error (variables are stored under their names); other
// nodes are named after their op and made unique with a suffix: add, add_1,
// add_2. Graph.PushScope, PopScope and WithScope open and close scopes;
// Graph.UniqueName gives Keras-style names for layers (dense, dense_1, ...)
// that are not yet used as a node name or scope at the current level.
// autodiff puts the gradient of a node of scope s under "gradients/s", so
// the backward pass mirrors the forward one in dumps and drawings.
//
// # The open batch dimension
//
// An input may leave its leading dimension open by giving it as Batch
// (Shape{Batch, 784}, printed [B,784]). Shape rules carry the open dimension
// through (MatMul of [B,784] and [784,300] is [B,300]); a variable or a
// constant may not have one, and no dimension other than the first may be
// open. The compiler specializes a program for each concrete batch size it
// is run with (Shape.WithBatch), so a last partial batch or a single-row
// prediction needs nothing special.
//
// # Errors
//
// Builder calls return a *Node, never an error. The first problem — shapes
// that do not fit, a bad hyper-parameter, a nil node, a node of another
// graph, a duplicate name — is recorded on the graph as an *OpError that
// names the op, the node, the shapes of its inputs and the line of the
// caller:
//
//	graph: matmul "dense_1/matmul": inner dimensions 784 and 300 differ (inputs f32[B,784], f32[300,10]; at model.go:12)
//
// From then on the graph is poisoned: every builder call does nothing and
// returns a poisoned node (Node.IsPoisoned), which later calls accept and
// pass on. The error is returned by Graph.Err, autodiff.Grad and
// compile.Compile, so model code is written straight through and checked
// once, the way bufio.Scanner reports its error after the loop. The kind of
// the error is one of the sentinels ErrShape, ErrArg, ErrNil, ErrForeign,
// ErrDType and ErrGradient, for errors.Is. Nothing a user passes makes the
// builder panic; a panic in an op's shape rule is a bug of the library and
// is recorded as an error too.
//
// # Concurrency
//
// A graph is built by one goroutine: builder calls, scopes, UniqueName and
// autodiff.Grad (which adds the gradient nodes) change it without locks, and
// nothing else may use it meanwhile. Once built it is only read — by
// compile.Compile, WriteDOT, Err, Nodes — and any number of goroutines may
// read it at once: compiling one graph for several sets of fetches in
// parallel is fine (compile's TestCompileConcurrent checks it under the race
// detector). Compiled programs do not refer back to the graph for running,
// so programs compiled from a graph may run while one goroutine goes on
// building it.
//
// # Looking at a graph
//
// Node.String prints one node as
// `dense/matmul = matmul(x, dense/kernel) : f32[B,300]`. WriteDOT writes the
// whole graph in Graphviz's DOT language, one cluster per name scope,
// nested as the scopes are, with inputs, variables, constants and ops drawn
// apart and the fetches highlighted; RenderDOT runs Graphviz's dot program,
// when it is installed, to turn the text into SVG or PNG.
package graph
