package nodes

import (
	"strconv"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The shape family: Reshape, Flatten, Transpose, Slice, Concat. Values are
// always contiguous and row-major, so these ops copy (the compiler may turn
// a reshape into an alias of its input).

// Reshape returns x with a new shape of the same size. One dimension of shape
// may be -1 (graph.Batch is the same value): it is inferred from the size,
// as in numpy. When x has the open batch dimension, the target must start
// with -1, which stands for the batch, and the other dimensions must hold
// one sample exactly: Reshape(x[B,28,28], [-1,784]). (A reshape that moved
// the batch elsewhere or mixed samples would be size-consistent but wrong.)
func Reshape(x *graph.Node, shape graph.Shape) *graph.Node {
	op := reshapeOp{shape: shape.Clone()}
	infer := 0
	for _, d := range shape {
		switch {
		case d == -1:
			infer++
		case d < 0:
			return fail(op, []*graph.Node{x}, graph.ErrArg, "negative dimension %d in %s", d, targetString(shape))
		}
	}
	if infer > 1 {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "more than one dimension to infer in %s", targetString(shape))
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
func (op reshapeOp) Attrs() string { return "shape=" + targetString(op.shape) }

// targetString formats a reshape target the way the user wrote it, with -1
// for the dimension to infer (graph.Shape.String would print B).
func targetString(s graph.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

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
		if infer != 0 || xKnown != known {
			return nil, graph.Errorf(graph.ErrShape, "cannot reshape %v to %s: the open batch dimension must map to the target's leading -1", x, targetString(op.shape))
		}
		return out, nil
	}
	size := x.Size()
	if infer >= 0 {
		if known == 0 || size%known != 0 {
			return nil, graph.Errorf(graph.ErrShape, "cannot reshape %v (%d values) to %s", x, size, targetString(op.shape))
		}
		out[infer] = size / known
		return out, nil
	}
	if known != size {
		return nil, graph.Errorf(graph.ErrShape, "cannot reshape %v (%d values) to %s (%d values)", x, size, targetString(op.shape), known)
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

// Transpose permutes the axes of x: axis i of the result is axis perm[i] of
// x, as in numpy. With no perm the axes are reversed. perm must list every
// axis of x once; negative entries count from the end. The open batch
// dimension must stay in front: when x's first dimension is graph.Batch,
// perm[0] must be 0 (the rest of tapegrad relies on the batch being axis 0;
// transpose a value of concrete shape to move it).
func Transpose(x *graph.Node, perm ...int) *graph.Node {
	op := transposeOp{}
	if x == nil {
		return nil
	}
	s := x.Shape()
	r := len(s)
	if len(perm) == 0 {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if len(perm) != r {
		op.perm = append([]int(nil), perm...)
		return fail(op, []*graph.Node{x}, graph.ErrArg, "perm %v has %d entries for rank %d", perm, len(perm), r)
	}
	p := make([]int, r)
	seen := make([]bool, r)
	for i, a := range perm {
		n, err := normAxis(a, r)
		if err != nil {
			return fail(op, []*graph.Node{x}, graph.ErrArg, "perm %v: %v", perm, err)
		}
		if seen[n] {
			return fail(op, []*graph.Node{x}, graph.ErrArg, "perm %v names axis %d twice", perm, n)
		}
		seen[n] = true
		p[i] = n
	}
	op.perm = p
	if r > 0 && s[0] == graph.Batch && p[0] != 0 {
		return fail(op, []*graph.Node{x}, graph.ErrShape, "perm %v moves the open batch dimension away from axis 0", perm)
	}
	return add(op, x)
}

// transposeOp permutes axes; perm is complete and normalized.
type transposeOp struct{ perm []int }

func (transposeOp) Name() string { return "transpose" }

func (op transposeOp) Attrs() string { return "perm=" + graph.Shape(op.perm).String() }

func (op transposeOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("transpose", in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x) != len(op.perm) {
		return nil, graph.Errorf(graph.ErrShape, "perm %v does not fit rank %d", op.perm, len(x))
	}
	out := make(graph.Shape, len(x))
	for i, a := range op.perm {
		if a < 0 || a >= len(x) {
			return nil, graph.Errorf(graph.ErrArg, "perm %v: axis %d out of range for rank %d", op.perm, a, len(x))
		}
		out[i] = x[a]
	}
	return out, nil
}

func (op transposeOp) Bind32(a *kernel.Args[float32]) func() { return bindTranspose(op, a) }
func (op transposeOp) Bind64(a *kernel.Args[float64]) func() { return bindTranspose(op, a) }

// bindTranspose walks the output row by row; along a row the input is read
// with the stride of the axis that became the last one. Rows are spread over
// the worker pool.
func bindTranspose[T kernel.Float](op transposeOp, a *kernel.Args[T]) func() {
	d, x := a.Dst[0], a.Src[0]
	out := a.Out[0]
	r := len(out)
	if r == 0 || len(d) == 0 {
		return func() { copy(d, x) }
	}
	ist := kernel.Strides(a.In[0])
	st := make([]int, r) // input stride along each output axis
	for i, p := range op.perm {
		st[i] = ist[p]
	}
	outer := out[:r-1]
	inner, step := out[r-1], st[r-1]
	rows := kernel.Size(outer)
	body := func(lo, hi int) {
		for row := lo; row < hi; row++ {
			off, rem := 0, row
			for k := len(outer) - 1; k >= 0; k-- {
				off += (rem % outer[k]) * st[k]
				rem /= outer[k]
			}
			dst := d[row*inner : (row+1)*inner]
			for i := range dst {
				dst[i] = x[off+i*step]
			}
		}
	}
	grain := max(1, kernel.ElementGrain/max(1, inner))
	return func() { kernel.For(rows, grain, body) }
}

// VJP: the gradient is transposed back with the inverse permutation.
func (op transposeOp) VJP(_, gy *graph.Node) []*graph.Node {
	inv := make([]int, len(op.perm))
	for i, p := range op.perm {
		inv[p] = i
	}
	return []*graph.Node{Transpose(gy, inv...)}
}

// Slice returns the elements of x whose index along axis lies in
// [begin, end), as in x[begin:end] in Python. Negative axis, begin and end
// count from the end. There is no clamping: after counting from the end
// the range must satisfy 0 ≤ begin < end ≤ size (an empty or out-of-range
// slice is an error, not an empty value), which catches off-by-one mistakes
// where numpy would silently shorten the result.
//
// On the open batch axis the size is unknown until run time; begin and end
// must then have the same sign, so that the result has the fixed size
// end − begin (x[2:5] or x[-3:-1] are fine, x[1:-1] is an error, since its
// size would depend on the batch). Whether the batch is large enough is
// checked when the program runs with a concrete batch size.
//
// The gradient scatters the upstream gradient into zeros shaped like x.
func Slice(x *graph.Node, axis, begin, end int) *graph.Node {
	op := sliceOp{axis: axis, begin: begin, end: end}
	if x == nil {
		return nil
	}
	a, err := normAxis(axis, x.Shape().Rank())
	if err != nil {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "%v", err)
	}
	op.axis = a
	return add(op, x)
}

// sliceOp keeps [begin, end) of axis (normalized); begin and end are kept
// as given, possibly negative, and resolved against the concrete size.
type sliceOp struct{ axis, begin, end int }

func (sliceOp) Name() string { return "slice" }

func (op sliceOp) Attrs() string {
	return "axis=" + itoa(op.axis) + " range=[" + itoa(op.begin) + ":" + itoa(op.end) + ")"
}

// bounds resolves [begin, end) against an axis of size dim (graph.Batch when
// open) and returns the begin offset (-1 when it depends on the batch) and
// the size of the result.
func (op sliceOp) bounds(dim int) (lo, n int, err error) {
	if dim == graph.Batch {
		if (op.begin < 0) != (op.end < 0) {
			return 0, 0, graph.Errorf(graph.ErrArg, "slice [%d:%d) of the open batch axis %d: begin and end must have the same sign, or the size would depend on the batch", op.begin, op.end, op.axis)
		}
		if op.begin >= op.end {
			return 0, 0, graph.Errorf(graph.ErrArg, "slice [%d:%d) of the open batch axis %d is empty", op.begin, op.end, op.axis)
		}
		lo = op.begin
		if lo < 0 {
			lo = -1
		}
		return lo, op.end - op.begin, nil
	}
	lo, hi := op.begin, op.end
	if lo < 0 {
		lo += dim
	}
	if hi < 0 {
		hi += dim
	}
	if lo < 0 || hi > dim || hi < 0 || lo > dim {
		return 0, 0, graph.Errorf(graph.ErrArg, "slice [%d:%d) out of range for axis %d of size %d", op.begin, op.end, op.axis, dim)
	}
	if lo >= hi {
		return 0, 0, graph.Errorf(graph.ErrArg, "slice [%d:%d) of axis %d (size %d) is empty", op.begin, op.end, op.axis, dim)
	}
	return lo, hi - lo, nil
}

func (op sliceOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("slice", in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if op.axis < 0 || op.axis >= len(x) {
		return nil, graph.Errorf(graph.ErrArg, "axis %d out of range for rank %d", op.axis, len(x))
	}
	_, n, err := op.bounds(x[op.axis])
	if err != nil {
		return nil, err
	}
	out := x.Clone()
	out[op.axis] = n
	return out, nil
}

func (op sliceOp) Bind32(a *kernel.Args[float32]) func() { return bindSlice(op, a) }
func (op sliceOp) Bind64(a *kernel.Args[float64]) func() { return bindSlice(op, a) }

func bindSlice[T kernel.Float](op sliceOp, a *kernel.Args[T]) func() {
	in := a.In[0]
	lo, n, err := op.bounds(in[op.axis])
	if err != nil {
		// InferShape ran on these shapes and passed: unreachable
		panic("nodes: slice: " + err.Error())
	}
	p := slab(in, op.axis)
	return bindSlabs(p.outer, p.inner*in[op.axis], p.inner*lo, p.inner*n, a.Src[0], a.Dst[0], false)
}

// slabs describes a value as outer × dim × inner around one axis.
type slabs struct{ outer, inner int }

func slab(s []int, axis int) slabs {
	return slabs{outer: kernel.Size(s[:axis]), inner: kernel.Size(s[axis+1:])}
}

// bindSlabs copies, for each of outer blocks, the n values at offset lo of a
// block of size big into a block of size n (scatter false), or back
// (scatter true: the n values go to offset lo of the big block, the rest of
// which is zeroed).
func bindSlabs[T kernel.Float](outer, big, lo, n int, src, dst []T, scatter bool) func() {
	body := func(b, e int) {
		for o := b; o < e; o++ {
			if scatter {
				blk := dst[o*big : (o+1)*big]
				clear(blk[:lo])
				copy(blk[lo:lo+n], src[o*n:(o+1)*n])
				clear(blk[lo+n:])
			} else {
				copy(dst[o*n:(o+1)*n], src[o*big+lo:o*big+lo+n])
			}
		}
	}
	grain := max(1, kernel.ElementGrain/max(1, big))
	return func() { kernel.For(outer, grain, body) }
}

// VJP: the gradient is gy scattered into zeros shaped like x.
func (op sliceOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{add(sliceScatterOp(op), gy, n.Input(0))}
}

// sliceScatterOp is the adjoint of sliceOp: its first input is placed at
// [begin, end) of axis in zeros shaped like its second input (only whose
// shape is used).
type sliceScatterOp sliceOp

func (sliceScatterOp) Name() string     { return "slice_scatter" }
func (op sliceScatterOp) Attrs() string { return sliceOp(op).Attrs() }

func (op sliceScatterOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("slice_scatter", in, 2); err != nil {
		return nil, err
	}
	want, err := sliceOp(op).InferShape(in[1:])
	if err != nil {
		return nil, err
	}
	if !want.Equal(in[0]) {
		return nil, graph.Errorf(graph.ErrShape, "cannot scatter %v into slice %v of %v", in[0], want, in[1])
	}
	return in[1], nil
}

func (op sliceScatterOp) Bind32(a *kernel.Args[float32]) func() { return bindSliceScatter(op, a) }
func (op sliceScatterOp) Bind64(a *kernel.Args[float64]) func() { return bindSliceScatter(op, a) }

func bindSliceScatter[T kernel.Float](op sliceScatterOp, a *kernel.Args[T]) func() {
	out := a.Out[0]
	lo, n, err := sliceOp(op).bounds(out[op.axis])
	if err != nil {
		panic("nodes: slice_scatter: " + err.Error())
	}
	p := slab(out, op.axis)
	return bindSlabs(p.outer, p.inner*out[op.axis], p.inner*lo, p.inner*n, a.Src[0], a.Dst[0], true)
}

// VJP: the gradient of a scatter is the slice of the upstream gradient; the
// second input gives only a shape.
func (op sliceScatterOp) VJP(_, gy *graph.Node) []*graph.Node {
	return []*graph.Node{add(sliceOp(op), gy), nil}
}

// Concat joins xs along axis (negative counts from the end). Every input
// must have the same rank and the same dimensions except along axis.
// Concatenating along the open batch axis is an error: the size of the
// result would not be the batch size.
func Concat(axis int, xs ...*graph.Node) *graph.Node {
	op := concatOp{axis: axis}
	g := graphOf(xs...)
	if g == nil {
		return nil // no inputs, or only nil ones: no graph to record on
	}
	for _, x := range xs {
		if x == nil || x.Graph() != g {
			return add(op, xs...) // AddNode reports it
		}
	}
	a, err := normAxis(axis, xs[0].Shape().Rank())
	if err != nil {
		return fail(op, xs, graph.ErrArg, "%v", err)
	}
	op.axis = a
	return add(op, xs...)
}

// concatOp joins its inputs along axis (normalized).
type concatOp struct{ axis int }

func (concatOp) Name() string     { return "concat" }
func (op concatOp) Attrs() string { return "axis=" + itoa(op.axis) }

func (op concatOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if len(in) == 0 {
		return nil, graph.Errorf(graph.ErrArg, "concat needs at least one input")
	}
	r := len(in[0])
	if op.axis < 0 || op.axis >= r {
		return nil, graph.Errorf(graph.ErrArg, "axis %d out of range for rank %d", op.axis, r)
	}
	out := in[0].Clone()
	out[op.axis] = 0
	for i, s := range in {
		if len(s) != r {
			return nil, graph.Errorf(graph.ErrShape, "input %d has rank %d, input 0 has rank %d", i, len(s), r)
		}
		for k, d := range s {
			if k == op.axis {
				if d == graph.Batch {
					return nil, graph.Errorf(graph.ErrShape, "cannot concatenate along the open batch axis %d: the result would not have the batch size", k)
				}
				out[k] += d
				continue
			}
			if d != in[0][k] {
				return nil, graph.Errorf(graph.ErrShape, "input %d has shape %v, input 0 has %v: they may differ only on axis %d", i, s, in[0], op.axis)
			}
		}
	}
	return out, nil
}

func (op concatOp) Bind32(a *kernel.Args[float32]) func() { return bindConcat(op, a) }
func (op concatOp) Bind64(a *kernel.Args[float64]) func() { return bindConcat(op, a) }

func bindConcat[T kernel.Float](op concatOp, a *kernel.Args[T]) func() {
	out := a.Out[0]
	p := slab(out, op.axis)
	big := p.inner * out[op.axis]
	width := make([]int, len(a.In)) // each input's share of an output block
	for i, s := range a.In {
		width[i] = p.inner * s[op.axis]
	}
	src, d := a.Src, a.Dst[0]
	body := func(b, e int) {
		for o := b; o < e; o++ {
			off := o * big
			for i, w := range width {
				copy(d[off:off+w], src[i][o*w:(o+1)*w])
				off += w
			}
		}
	}
	grain := max(1, kernel.ElementGrain/max(1, big))
	return func() { kernel.For(p.outer, grain, body) }
}

// VJP: each input's gradient is its slice of the upstream gradient.
func (op concatOp) VJP(n, gy *graph.Node) []*graph.Node {
	gs := make([]*graph.Node, len(n.Inputs()))
	off := 0
	for i, x := range n.Inputs() {
		d := x.Shape()[op.axis]
		gs[i] = add(sliceOp{axis: op.axis, begin: off, end: off + d}, gy)
		off += d
	}
	return gs
}

func itoa(i int) string { return strconv.Itoa(i) }
