package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// StopGradient returns x unchanged in the forward pass; autodiff treats it
// as a constant, so no gradient flows back through it.
func StopGradient(x *graph.Node) *graph.Node { return add(stopGradientOp{}, x) }

type stopGradientOp struct{}

func (stopGradientOp) Name() string { return "stop_gradient" }
func (stopGradientOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return sameShape("stop_gradient", in)
}
func (stopGradientOp) Bind32(a *kernel.Args[float32]) func() { return bindCopy(a) }
func (stopGradientOp) Bind64(a *kernel.Args[float64]) func() { return bindCopy(a) }

// VJP gives no gradient: the input is a constant for autodiff.
func (stopGradientOp) VJP(_, _ *graph.Node) []*graph.Node { return []*graph.Node{nil} }

// ZerosLike returns zeros of x's shape (only x's shape is used).
func ZerosLike(x *graph.Node) *graph.Node {
	if x == nil {
		return nil
	}
	return BroadcastLike(x.Graph().Scalar(0), x)
}

// OnesLike returns ones of x's shape (only x's shape is used).
func OnesLike(x *graph.Node) *graph.Node {
	if x == nil {
		return nil
	}
	return BroadcastLike(x.Graph().Scalar(1), x)
}
