package nodes

import (
	"math"
	"strconv"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// OneHot encodes integer class labels, stored as floats, as one-hot rows:
// labels of shape S give a value of shape S+[depth] holding 1 at the index
// of each label and 0 elsewhere. depth must be at least 1. A label that is
// not an integer in [0, depth) (a fraction, a negative value, NaN) is found
// only when the program runs: Run then returns an error naming the label
// and its position.
//
// OneHot has no gradient: labels are indices, not quantities.
func OneHot(labels *graph.Node, depth int) *graph.Node {
	op := oneHotOp{depth: depth}
	if depth < 1 {
		return fail(op, []*graph.Node{labels}, graph.ErrArg, "depth %d: want at least 1", depth)
	}
	return add(op, labels)
}

type oneHotOp struct{ depth int }

func (oneHotOp) Name() string     { return "one_hot" }
func (op oneHotOp) Attrs() string { return "depth=" + itoa(op.depth) }

func (op oneHotOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("one_hot", in, 1); err != nil {
		return nil, err
	}
	if op.depth < 1 {
		return nil, graph.Errorf(graph.ErrArg, "depth %d: want at least 1", op.depth)
	}
	return append(in[0].Clone(), op.depth), nil
}

func (oneHotOp) NoGradient() string {
	return "one_hot takes integer class labels: the encoding is piecewise constant in them, so its derivative is zero or undefined"
}

func (op oneHotOp) Bind32(a *kernel.Args[float32]) func() { return bindOneHot(op, a) }
func (op oneHotOp) Bind64(a *kernel.Args[float64]) func() { return bindOneHot(op, a) }

func bindOneHot[T kernel.Float](op oneHotOp, a *kernel.Args[T]) func() {
	d, labels, depth, st := a.Dst[0], a.Src[0], op.depth, a.Status
	return func() {
		clear(d)
		for i, v := range labels {
			f := float64(v)
			if !(f >= 0 && f < float64(depth)) || f != math.Trunc(f) {
				st.Fail("one_hot: label %s at index %d is not an integer in [0, %d)", labelString(v), i, depth)
				return
			}
			d[i*depth+int(f)] = 1
		}
	}
}

// labelString formats a label with the precision of its type (a float32
// 1e30 prints as 1e+30, not as its float64 expansion).
func labelString[T kernel.Float](v T) string {
	bits := 64
	if !kernel.Is64[T]() {
		bits = 32
	}
	return strconv.FormatFloat(float64(v), 'g', -1, bits)
}
