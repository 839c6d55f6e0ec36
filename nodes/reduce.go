package nodes

import (
	"fmt"
	"math"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The reduction family: Sum, Mean and Max over axes (keepdims option), and
// the pair SumTo / BroadcastLike that autodiff uses to undo broadcasting.
// All of them run on one loop: the input's shape is walked row by row and
// the output is an operand with stride 0 along the reduced axes.

type reduceKind uint8

const (
	reduceSum reduceKind = iota
	reduceMean
	reduceMax
)

var reduceNames = [...]string{reduceSum: "sum", reduceMean: "mean", reduceMax: "max"}

// reduceOp reduces the axes in mask (bit i = axis i).
type reduceOp struct {
	kind reduceKind
	mask uint64
	keep bool
}

// Sum returns the sum of x over axes (every axis when none is given). With
// keepDims the reduced axes stay as dimensions of size 1.
func Sum(x *graph.Node, keepDims bool, axes ...int) *graph.Node {
	return reduce(reduceSum, x, keepDims, axes)
}

// Mean returns the mean of x over axes (every axis when none is given).
func Mean(x *graph.Node, keepDims bool, axes ...int) *graph.Node {
	return reduce(reduceMean, x, keepDims, axes)
}

// Max returns the maximum of x over axes (every axis when none is given).
// Its gradient is shared equally among tied maxima.
func Max(x *graph.Node, keepDims bool, axes ...int) *graph.Node {
	return reduce(reduceMax, x, keepDims, axes)
}

func reduce(kind reduceKind, x *graph.Node, keep bool, axes []int) *graph.Node {
	op := reduceOp{kind: kind, keep: keep}
	if x == nil {
		return nil
	}
	r := x.Shape().Rank()
	if r > 64 {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "rank %d above 64", r)
	}
	if len(axes) == 0 {
		for i := 0; i < r; i++ {
			op.mask |= 1 << i
		}
	}
	for _, a := range axes {
		n, err := normAxis(a, r)
		if err != nil {
			return fail(op, []*graph.Node{x}, graph.ErrArg, "%v", err)
		}
		if op.mask&(1<<n) != 0 {
			return fail(op, []*graph.Node{x}, graph.ErrArg, "axis %d given twice", a)
		}
		op.mask |= 1 << n
	}
	return add(op, x)
}

func (op reduceOp) Name() string { return reduceNames[op.kind] }

func (op reduceOp) Attrs() string {
	var axes []string
	for i := 0; i < 64; i++ {
		if op.mask&(1<<i) != 0 {
			axes = append(axes, fmt.Sprint(i))
		}
	}
	s := "axes=" + strings.Join(axes, ",")
	if op.keep {
		s += " keepdims"
	}
	return s
}

func (op reduceOp) reduced(i int) bool { return op.mask&(1<<i) != 0 }

// keepShape is the output shape with reduced axes kept as 1.
func (op reduceOp) keepShape(in graph.Shape) graph.Shape {
	out := in.Clone()
	for i := range out {
		if op.reduced(i) {
			out[i] = 1
		}
	}
	return out
}

func (op reduceOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 1); err != nil {
		return nil, err
	}
	if op.mask>>uint(len(in[0])) != 0 {
		return nil, graph.Errorf(graph.ErrArg, "axes out of range for rank %d", len(in[0]))
	}
	if op.keep {
		return op.keepShape(in[0]), nil
	}
	var out graph.Shape
	for i, d := range in[0] {
		if !op.reduced(i) {
			out = append(out, d)
		}
	}
	if out == nil {
		out = graph.Shape{}
	}
	return out, nil
}

func (op reduceOp) Bind32(a *kernel.Args[float32]) func() { return bindReduce(op, a) }
func (op reduceOp) Bind64(a *kernel.Args[float64]) func() { return bindReduce(op, a) }

func bindReduce[T kernel.Float](op reduceOp, a *kernel.Args[T]) func() {
	in := a.In[0]
	keep := op.keepShape(in)
	isMax := op.kind == reduceMax
	count := kernel.Size(in) / max(1, kernel.Size(keep))
	return bindReduceTo(in, keep, a.Dst[0], a.Src[0], isMax, op.kind == reduceMean, count)
}

// bindReduceTo reduces x of shape in into d of shape keep (same rank, 1 on
// reduced axes): a sum (divided by count when mean) or a max. Sums
// accumulate in float64 whatever T is, so that a float32 mean over
// thousands of values keeps float32's precision.
func bindReduceTo[T kernel.Float](in, keep []int, d, x []T, isMax, mean bool, count int) func() {
	l := kernel.NewLoop(in, keep, in)
	rows, inner := l.Rows(), l.Inner()
	vec := l.InnerStride(0) == 1 // the row's axis is kept: accumulate a vector
	scale := 1.0
	if mean && count > 0 {
		scale = 1 / float64(count)
	}
	var acc []float64
	if !isMax {
		acc = make([]float64, len(d))
	}
	return func() {
		if len(x) == 0 {
			v := 0.0
			switch {
			case mean: // the mean of nothing, as numpy and PyTorch give
				v = math.NaN()
			case isMax:
				v = math.Inf(-1)
			}
			for i := range d {
				d[i] = T(v)
			}
			return
		}
		if isMax {
			maxInto(l, rows, inner, vec, d, x)
			return
		}
		clear(acc)
		for r := 0; r < rows; r++ {
			o := l.Offsets(r)
			src := x[o[1] : o[1]+inner]
			if vec {
				dst := acc[o[0] : o[0]+len(src)]
				for i, v := range src {
					dst[i] += float64(v)
				}
				continue
			}
			s := 0.0
			for _, v := range src {
				s += float64(v)
			}
			acc[o[0]] += s
		}
		for i, v := range acc {
			d[i] = T(v * scale)
		}
	}
}

// maxInto writes the maximum of x over the reduced axes into d; NaN
// wins.
func maxInto[T kernel.Float](l *kernel.Loop, rows, inner int, vec bool, d, x []T) {
	for i := range d {
		d[i] = T(math.Inf(-1))
	}
	for r := 0; r < rows; r++ {
		o := l.Offsets(r)
		src := x[o[1] : o[1]+inner]
		if vec {
			dst := d[o[0] : o[0]+len(src)]
			for i, v := range src {
				if v > dst[i] || v != v {
					dst[i] = v
				}
			}
			continue
		}
		m := d[o[0]]
		for _, v := range src {
			if v > m || v != v {
				m = v
			}
		}
		d[o[0]] = m
	}
}

// VJP: the sum's gradient is broadcast back; the mean's is broadcast and
// divided by the count; the max's goes to the positions equal to the
// maximum, shared equally among ties.
func (op reduceOp) VJP(n, gy *graph.Node) []*graph.Node {
	x := n.Input(0)
	g := gy
	if !op.keep {
		g = Reshape(gy, op.keepShape(x.Shape()))
	}
	switch op.kind {
	case reduceSum:
		return []*graph.Node{BroadcastLike(g, x)}
	case reduceMean:
		return []*graph.Node{add(expandOp{mean: true}, g, x)}
	}
	y := n
	if !op.keep {
		y = Reshape(n, op.keepShape(x.Shape()))
	}
	mask := Equal(x, BroadcastLike(y, x))
	ties := reduce(reduceSum, mask, true, op.axes())
	return []*graph.Node{Mul(Div(mask, BroadcastLike(ties, x)), BroadcastLike(g, x))}
}

func (op reduceOp) axes() []int {
	var axes []int
	for i := 0; i < 64; i++ {
		if op.reduced(i) {
			axes = append(axes, i)
		}
	}
	return axes
}

// SumTo sums x down to the shape of like, undoing a broadcast of like to x's
// shape (like's shape must broadcast to x's). When the shapes are equal it
// returns x. Only like's shape is used.
func SumTo(x, like *graph.Node) *graph.Node {
	if x != nil && like != nil && x.Graph() == like.Graph() && x.Shape().Equal(like.Shape()) {
		return x
	}
	return add(sumToOp{}, x, like)
}

// sumToOp sums its first input down to the shape of its second; with mean
// it divides by the ratio of the sizes (the adjoint of expandOp{mean}).
type sumToOp struct{ mean bool }

func (op sumToOp) Name() string {
	if op.mean {
		return "mean_to"
	}
	return "sum_to"
}

func (op sumToOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 2); err != nil {
		return nil, err
	}
	b, err := broadcastShapes(in[0], in[1])
	if err != nil || !b.Equal(in[0]) {
		return nil, graph.Errorf(graph.ErrShape, "cannot sum %v down to %v", in[0], in[1])
	}
	return in[1], nil
}

func (op sumToOp) Bind32(a *kernel.Args[float32]) func() { return bindSumTo(op, a) }
func (op sumToOp) Bind64(a *kernel.Args[float64]) func() { return bindSumTo(op, a) }

func bindSumTo[T kernel.Float](op sumToOp, a *kernel.Args[T]) func() {
	in := a.In[0]
	keep := alignRank(a.Out[0], len(in))
	count := kernel.Size(in) / max(1, kernel.Size(keep))
	return bindReduceTo(in, keep, a.Dst[0], a.Src[0], false, op.mean, count)
}

func (op sumToOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{add(expandOp(op), gy, n.Input(0)), nil}
}

// alignRank left-pads s with 1s to rank r.
func alignRank(s []int, r int) []int {
	out := make([]int, r)
	off := r - len(s)
	for i := range out {
		if i < off {
			out[i] = 1
		} else {
			out[i] = s[i-off]
		}
	}
	return out
}

// BroadcastLike broadcasts x to the shape of like (numpy rules). Only like's
// shape is used.
func BroadcastLike(x, like *graph.Node) *graph.Node {
	if x != nil && like != nil && x.Graph() == like.Graph() && x.Shape().Equal(like.Shape()) {
		return x
	}
	return add(expandOp{}, x, like)
}

// expandOp broadcasts its first input to the shape of its second; with mean
// it divides by the ratio of the sizes (the gradient of a mean).
type expandOp struct{ mean bool }

func (op expandOp) Name() string {
	if op.mean {
		return "expand_mean"
	}
	return "broadcast"
}

func (op expandOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 2); err != nil {
		return nil, err
	}
	b, err := broadcastShapes(in[0], in[1])
	if err != nil || !b.Equal(in[1]) {
		return nil, graph.Errorf(graph.ErrShape, "cannot broadcast %v to %v", in[0], in[1])
	}
	return in[1], nil
}

func (op expandOp) Bind32(a *kernel.Args[float32]) func() { return bindExpand(op, a) }
func (op expandOp) Bind64(a *kernel.Args[float64]) func() { return bindExpand(op, a) }

func bindExpand[T kernel.Float](op expandOp, a *kernel.Args[T]) func() {
	out := a.Out[0]
	l := kernel.NewLoop(out, out, a.In[0])
	d, x := a.Dst[0], a.Src[0]
	rows, inner := l.Rows(), l.Inner()
	scale := T(1)
	if op.mean {
		scale = T(float64(kernel.Size(a.In[0])) / float64(max(1, kernel.Size(out))))
	}
	return func() {
		if len(d) == 0 {
			return
		}
		for r := 0; r < rows; r++ {
			o := l.Offsets(r)
			dst := d[o[0] : o[0]+inner]
			if l.InnerStride(1) == 0 {
				v := x[o[1]] * scale
				for i := range dst {
					dst[i] = v
				}
				continue
			}
			src := x[o[1] : o[1]+inner]
			if op.mean {
				for i, v := range src {
					dst[i] = v * scale
				}
			} else {
				copy(dst, src)
			}
		}
	}
}

func (op expandOp) VJP(n, gy *graph.Node) []*graph.Node {
	x := n.Input(0)
	if x.Shape().Equal(n.Shape()) && !op.mean {
		return []*graph.Node{gy, nil}
	}
	return []*graph.Node{add(sumToOp(op), gy, x), nil}
}
