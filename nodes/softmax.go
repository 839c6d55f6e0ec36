package nodes

import (
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The softmax family: Softmax and LogSoftmax over the last axis
// (SEMANTICS §1.11). The kernel treats the input as rows of the last
// dimension's length; each row subtracts its maximum before exponentiating,
// so inputs like ±1000 neither overflow nor lose the result, and sums in
// float64 whatever the dtype. Large inputs spread their rows over the worker
// pool. A single class gives softmax 1 and log-softmax 0.

// Softmax returns exp(x) normalized to sum to 1 along the last axis of x,
// which must have rank at least 1.
func Softmax(x *graph.Node) *graph.Node { return add(softmaxOp{}, x) }

// LogSoftmax returns log(Softmax(x)), computed directly as
// x − max − log Σ exp(x − max) along the last axis, so that it stays finite
// where Softmax underflows to 0.
func LogSoftmax(x *graph.Node) *graph.Node { return add(softmaxOp{log: true}, x) }

type softmaxOp struct{ log bool }

func (op softmaxOp) Name() string {
	if op.log {
		return "log_softmax"
	}
	return "softmax"
}

func (op softmaxOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 1); err != nil {
		return nil, err
	}
	if len(in[0]) == 0 {
		return nil, graph.Errorf(graph.ErrShape, "%s needs an input of rank 1 or more (it works along the last axis), got a scalar", op.Name())
	}
	return in[0], nil
}

func (op softmaxOp) Bind32(a *kernel.Args[float32]) func() { return bindSoftmax(op.log, a) }
func (op softmaxOp) Bind64(a *kernel.Args[float64]) func() { return bindSoftmax(op.log, a) }

// softmaxGrain is the least number of elements worth a chunk of the worker
// pool: each element costs an exponential (tens of nanoseconds), so fewer
// elements than a plain element-wise loop pay for the hand-off.
const softmaxGrain = kernel.ElementGrain / 8

func bindSoftmax[T kernel.Float](log bool, a *kernel.Args[T]) func() {
	in := a.In[0]
	d, x := a.Dst[0], a.Src[0]
	n := 0
	if len(in) > 0 {
		n = in[len(in)-1]
	}
	rows := 0
	if n > 0 {
		rows = kernel.Size(in) / n
	}
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(d[r*n:(r+1)*n], x[r*n:(r+1)*n])
		}
	}
	if log {
		body = func(lo, hi int) {
			for r := lo; r < hi; r++ {
				logSoftmaxRow(d[r*n:(r+1)*n], x[r*n:(r+1)*n])
			}
		}
	}
	grain := max(1, softmaxGrain/max(1, n))
	return func() { kernel.For(rows, grain, body) }
}

// rowMax returns the largest value of x, or NaN when x holds a NaN.
func rowMax[T kernel.Float](x []T) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if f > m {
			m = f
		} else if f != f {
			return f
		}
	}
	return m
}

// softmaxRow writes the softmax of one row: eₖ = exp(xₖ − m) is stored in
// d, then scaled by 1/Σe (both in float64).
func softmaxRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	m := rowMax(x)
	sum := 0.0
	if !kernel.Is64[T]() {
		d, x, m := kernel.F32(d), kernel.F32(x), float32(m)
		for i, v := range x {
			d[i] = v - m
		}
		kernel.Exp32Row(d, d)
		for _, e := range d {
			sum += float64(e)
		}
		inv := float32(1 / sum)
		for i, v := range d {
			d[i] = v * inv
		}
		return
	}
	for i, v := range x {
		e := math.Exp(float64(v) - m)
		d[i] = T(e)
		sum += e
	}
	inv := 1 / sum
	for i, v := range d {
		d[i] = T(float64(v) * inv)
	}
}

// logSoftmaxRow writes (xₖ − m) − log Σ exp(xⱼ − m) for one row.
func logSoftmaxRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	m := rowMax(x)
	sum := 0.0
	if !kernel.Is64[T]() {
		d, x, m32 := kernel.F32(d), kernel.F32(x), float32(m)
		if len(d) > 0 && &d[0] == &x[0] {
			// in place: d cannot hold the exponentials
			for _, v := range x {
				sum += float64(kernel.Exp32(v - m32))
			}
		} else {
			// the exponentials in d, overwritten below
			for i, v := range x {
				d[i] = v - m32
			}
			kernel.Exp32Row(d, d)
			for _, e := range d {
				sum += float64(e)
			}
		}
	} else {
		for _, v := range x {
			sum += math.Exp(float64(v) - m)
		}
	}
	ls := math.Log(sum)
	for i, v := range x {
		d[i] = T((float64(v) - m) - ls)
	}
}

// VJP, with y the node's output and sums along the last axis (keepdims):
//
//	softmax:     x̄ = y ⊙ (ḡ − Σ ḡ⊙y)
//	log_softmax: x̄ = ḡ − exp(y) · Σ ḡ
func (op softmaxOp) VJP(n, gy *graph.Node) []*graph.Node {
	if op.log {
		return []*graph.Node{Sub(gy, Mul(Exp(n), Sum(gy, true, -1)))}
	}
	return []*graph.Node{Mul(n, Sub(gy, Sum(Mul(gy, n), true, -1)))}
}
