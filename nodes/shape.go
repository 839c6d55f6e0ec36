package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The shape family: Reshape, Flatten, Transpose, Slice, Concat. Values are
// always contiguous and row-major, so these ops copy (the compiler may turn
// a reshape into an alias of its input).

// Reshape returns x with a new shape of the same size. One dimension of shape
// may be -1 (graph.Batch is the same value): it is inferred from the size,
// as in numpy. When x has the open batch dimension, the target needs exactly
// one -1 and it must stand for the batch: Reshape(x[B,28,28], [-1,784]).
func Reshape(x *graph.Node, shape graph.Shape) *graph.Node {
	op := reshapeOp{shape: shape.Clone()}
	infer := 0
	for _, d := range shape {
		switch {
		case d == -1:
			infer++
		case d < 0:
			return fail(op, []*graph.Node{x}, graph.ErrArg, "negative dimension %d in %v", d, shape)
		}
	}
	if infer > 1 {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "more than one dimension to infer in %v", shape)
	}
	return add(op, x)
}

// Flatten reshapes x to rank 2, keeping dimension 0 (the batch) and merging
// the others: [B,28,28] → [B,784]. A rank-1 x becomes [n,1].
func Flatten(x *graph.Node) *graph.Node {
	if x == nil {
		return nil
	}
	s := x.Shape()
	if len(s) == 0 {
		return Reshape(x, graph.Shape{1, 1})
	}
	rest := 1
	for _, d := range s[1:] {
		rest *= d
	}
	first := s[0]
	if first == graph.Batch {
		first = -1
	}
	return Reshape(x, graph.Shape{first, rest})
}

type reshapeOp struct{ shape graph.Shape }

func (reshapeOp) Name() string     { return "reshape" }
func (op reshapeOp) Attrs() string { return "shape=" + op.shape.String() }

func (op reshapeOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("reshape", in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	known, infer := 1, -1
	for i, d := range op.shape {
		if d == -1 {
			infer = i
		} else {
			known *= d
		}
	}
	out := op.shape.Clone()
	if x.IsOpen() {
		xKnown := 1
		for _, d := range x {
			if d != graph.Batch {
				xKnown *= d
			}
		}
		if infer < 0 || xKnown != known {
			return nil, graph.Errorf(graph.ErrShape, "cannot reshape %v to %v: the open batch dimension must map to the one -1 of the target", x, op.shape)
		}
		return out, nil
	}
	size := x.Size()
	if infer >= 0 {
		if known == 0 || size%known != 0 {
			return nil, graph.Errorf(graph.ErrShape, "cannot reshape %v (%d values) to %v", x, size, op.shape)
		}
		out[infer] = size / known
		return out, nil
	}
	if known != size {
		return nil, graph.Errorf(graph.ErrShape, "cannot reshape %v (%d values) to %v (%d values)", x, size, op.shape, known)
	}
	return out, nil
}

func (reshapeOp) Bind32(a *kernel.Args[float32]) func() { return bindCopy(a) }
func (reshapeOp) Bind64(a *kernel.Args[float64]) func() { return bindCopy(a) }

func (reshapeOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{Reshape(gy, n.Input(0).Shape())}
}

func bindCopy[T kernel.Float](a *kernel.Args[T]) func() {
	d, x := a.Dst[0], a.Src[0]
	return func() { copy(d, x) }
}
