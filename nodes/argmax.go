package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// ArgMax returns the index of the largest value along the last axis of x,
// stored as a float: x of shape [..., C] gives [...]. It is what accuracy
// metrics compare with integer labels.
//
// Ties go to the first index, as in numpy. A NaN counts as larger than
// every number (numpy's rule too): a row holding NaN gives the index of its
// first NaN. x must have rank 1 or more and a non-empty last axis; when that
// axis is the open batch dimension (x of shape [B]) and the batch turns out
// empty, Run returns an error. Indices are exact in float32 up to 2²⁴.
//
// ArgMax has no gradient (see NoGradient).
func ArgMax(x *graph.Node) *graph.Node { return add(argMaxOp{}, x) }

type argMaxOp struct{}

func (argMaxOp) Name() string { return "argmax" }

func (argMaxOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("argmax", in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x) == 0 {
		return nil, graph.Errorf(graph.ErrShape, "argmax needs an input of rank 1 or more (it works along the last axis), got a scalar")
	}
	if x[len(x)-1] == 0 {
		return nil, graph.Errorf(graph.ErrShape, "argmax of %v: the last axis is empty", x)
	}
	return exampleShape(x), nil
}

func (argMaxOp) NoGradient() string {
	return "argmax returns indices: it is piecewise constant in its input, so its derivative is zero almost everywhere and undefined at ties"
}

func (argMaxOp) Bind32(a *kernel.Args[float32]) func() { return bindArgMax(a) }
func (argMaxOp) Bind64(a *kernel.Args[float64]) func() { return bindArgMax(a) }

func bindArgMax[T kernel.Float](a *kernel.Args[T]) func() {
	in := a.In[0]
	n := in[len(in)-1]
	d, x, st := a.Dst[0], a.Src[0], a.Status
	if n == 0 {
		return func() { st.Fail("argmax: the last axis of %v is empty", in) }
	}
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			d[r] = T(argMaxRow(x[r*n : (r+1)*n]))
		}
	}
	grain := max(1, kernel.ElementGrain/n)
	return func() { kernel.For(len(d), grain, body) }
}

// argMaxRow returns the index of the first maximum of x, or of its first
// NaN.
func argMaxRow[T kernel.Float](x []T) int {
	best := 0
	m := x[0]
	if m != m {
		return 0
	}
	for i, v := range x[1:] {
		if v > m {
			m, best = v, i+1
		} else if v != v {
			return i + 1
		}
	}
	return best
}
