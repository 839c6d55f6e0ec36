// Package train turns a model into something a researcher trains, the way
// Keras's compile/fit works: losses as graph builders, optimizers that emit
// their updates as graph nodes (so that forward, backward and update are one
// compiled program), Fit/Evaluate/Predict, callbacks, progress and
// checkpoints.
//
// The model API lives here rather than in package layers: layers describes
// an architecture and emits it into graphs; train compiles and runs it.
package train
