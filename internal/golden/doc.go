// Package golden reads the reference vectors of ../shared/golden (relative
// to the repository root): JSON files of cases, each an op with parameters,
// input tensors, an upstream cotangent, expected outputs, gradients and
// state. The format is described in that directory's README.md.
//
// Golden tests run every case of a file and dispatch on Case.Op and
// Case.Params, so that new cases of a known kind are tested the day they
// appear.
package golden
