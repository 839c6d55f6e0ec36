package graph

import "math/rand/v2"

// Op is what a node computes. Ops are values defined in package nodes (and
// the three leaf ops here); an op knows its name as printed in dumps and its
// shape rule.
//
// InferShape receives the shapes of the node's inputs, which may contain the
// open Batch dimension, and returns the output shape or an error that says
// what is wrong (the graph wraps it in an *OpError). The compiler calls it
// again with concrete shapes once the batch size is known, so it must accept
// both.
type Op interface {
	Name() string
	InferShape(inputs []Shape) (Shape, error)
}

// Attributer is implemented by ops with hyper-parameters worth printing; the
// text appears in brackets after the op name in dumps: "pow[p=2]".
type Attributer interface {
	Attrs() string
}

// Differentiable is implemented by ops that have a gradient rule. VJP
// returns, for each input of n, the vector–Jacobian product of the upstream
// gradient gy (shaped like n) with n's Jacobian, built from graph ops, or nil
// where that input gets no gradient (an integer label, a constant mask).
type Differentiable interface {
	VJP(n, gy *Node) []*Node
}

// NonDifferentiable is implemented by ops that have no gradient; the string
// says why, for the error autodiff reports when a path needs one.
type NonDifferentiable interface {
	NoGradient() string
}

// InputOp is the op of a node created by Graph.Input: a value fed at run time.
type InputOp struct{ Shape Shape }

// Name returns "input".
func (InputOp) Name() string { return "input" }

// InferShape returns the declared shape.
func (op InputOp) InferShape([]Shape) (Shape, error) { return op.Shape, nil }

// NoGradient says that inputs are leaves.
func (InputOp) NoGradient() string { return "inputs are leaves of the graph" }

// VariableOp is the op of a node created by Graph.Variable: a value that lives
// in a variable store outside the graph, under the node's name.
type VariableOp struct {
	Shape     Shape
	Trainable bool
	// Init is the variable's initializer; nil leaves the choice to the
	// store's default.
	Init Initializer
}

// Name returns "variable".
func (VariableOp) Name() string { return "variable" }

// InferShape returns the declared shape.
func (op VariableOp) InferShape([]Shape) (Shape, error) { return op.Shape, nil }

// NoGradient says that variables are leaves.
func (VariableOp) NoGradient() string { return "variables are leaves of the graph" }

// Initializer fills a new variable's values (row-major, shape as given) from
// a random stream. Package initializers implements it for every Keras
// initializer; the store calls it with a stream derived from the model seed
// and the variable's name.
type Initializer interface {
	Initialize(dst []float64, shape []int, rng *rand.Rand) error
}

// ConstantOp is the op of a node created by Graph.Constant. Data holds either
// one value (filled) or Shape.Size() values, row-major.
type ConstantOp struct {
	Shape Shape
	Data  []float64
}

// Name returns "constant".
func (ConstantOp) Name() string { return "constant" }

// InferShape returns the declared shape.
func (op ConstantOp) InferShape([]Shape) (Shape, error) { return op.Shape, nil }

// NoGradient says that constants are leaves.
func (ConstantOp) NoGradient() string { return "constants are leaves of the graph" }

// Scalar returns the constant's value if it holds a single value repeated
// over its shape.
func (op ConstantOp) Scalar() (float64, bool) {
	if len(op.Data) == 1 {
		return op.Data[0], true
	}
	return 0, false
}
