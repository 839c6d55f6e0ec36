package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The comparison family: Equal, NotEqual, Less, LessEqual, Greater,
// GreaterEqual give 0/1 masks (not differentiable); Maximum and Minimum
// (differentiable, ties share the gradient equally, as in PyTorch); Where
// selects by a mask.

type cmpKind uint8

const (
	cmpEq cmpKind = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

var cmpNames = [...]string{cmpEq: "equal", cmpNe: "not_equal", cmpLt: "less", cmpLe: "less_equal", cmpGt: "greater", cmpGe: "greater_equal"}

type cmpOp struct{ kind cmpKind }

// Equal returns 1 where a == b and 0 elsewhere, broadcasting.
func Equal(a, b *graph.Node) *graph.Node { return add(cmpOp{cmpEq}, a, b) }

// NotEqual returns 1 where a != b and 0 elsewhere, broadcasting.
func NotEqual(a, b *graph.Node) *graph.Node { return add(cmpOp{cmpNe}, a, b) }

// Less returns 1 where a < b and 0 elsewhere, broadcasting.
func Less(a, b *graph.Node) *graph.Node { return add(cmpOp{cmpLt}, a, b) }

// LessEqual returns 1 where a <= b and 0 elsewhere, broadcasting.
func LessEqual(a, b *graph.Node) *graph.Node { return add(cmpOp{cmpLe}, a, b) }

// Greater returns 1 where a > b and 0 elsewhere, broadcasting.
func Greater(a, b *graph.Node) *graph.Node { return add(cmpOp{cmpGt}, a, b) }

// GreaterEqual returns 1 where a >= b and 0 elsewhere, broadcasting.
func GreaterEqual(a, b *graph.Node) *graph.Node { return add(cmpOp{cmpGe}, a, b) }

func (op cmpOp) Name() string { return cmpNames[op.kind] }
func (op cmpOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return binaryShape(op.Name(), in)
}
func (op cmpOp) NoGradient() string {
	return "comparisons give 0/1 masks, whose derivative is zero almost everywhere and undefined at the switch"
}
func (op cmpOp) Bind32(a *kernel.Args[float32]) func() {
	return bindBinary(a, cmpRow[float32](op.kind))
}
func (op cmpOp) Bind64(a *kernel.Args[float64]) func() {
	return bindBinary(a, cmpRow[float64](op.kind))
}

// cmpRow returns the row kernel of a comparison: one loop per kind, the
// test written out in it (no call per element).
func cmpRow[T kernel.Float](kind cmpKind) kernel.BinaryRow[T] {
	return func(m kernel.Mode, d, a, b []T) {
		switch kind {
		case cmpEq:
			for i := range d {
				x, y := operands(m, a, b, i)
				d[i] = mask[T](x == y)
			}
		case cmpNe:
			for i := range d {
				x, y := operands(m, a, b, i)
				d[i] = mask[T](x != y)
			}
		case cmpLt:
			for i := range d {
				x, y := operands(m, a, b, i)
				d[i] = mask[T](x < y)
			}
		case cmpLe:
			for i := range d {
				x, y := operands(m, a, b, i)
				d[i] = mask[T](x <= y)
			}
		case cmpGt:
			for i := range d {
				x, y := operands(m, a, b, i)
				d[i] = mask[T](x > y)
			}
		default:
			for i := range d {
				x, y := operands(m, a, b, i)
				d[i] = mask[T](x >= y)
			}
		}
	}
}

// operands returns the i-th pair of a binary row in mode m.
func operands[T kernel.Float](m kernel.Mode, a, b []T, i int) (T, T) {
	x, y := a[0], b[0]
	if m != kernel.SV {
		x = a[i]
	}
	if m != kernel.VS {
		y = b[i]
	}
	return x, y
}

// mask is 1 for true and 0 for false.
func mask[T kernel.Float](c bool) T {
	if c {
		return 1
	}
	return 0
}

// Maximum returns the element-wise maximum of a and b, broadcasting. NaN
// propagates. Where a == b each side gets half the gradient.
func Maximum(a, b *graph.Node) *graph.Node { return add(extremumOp{max: true}, a, b) }

// Minimum returns the element-wise minimum of a and b, broadcasting. NaN
// propagates. Where a == b each side gets half the gradient.
func Minimum(a, b *graph.Node) *graph.Node { return add(extremumOp{}, a, b) }

type extremumOp struct{ max bool }

func (op extremumOp) Name() string {
	if op.max {
		return "maximum"
	}
	return "minimum"
}
func (op extremumOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return binaryShape(op.Name(), in)
}
func (op extremumOp) Bind32(a *kernel.Args[float32]) func() {
	return bindBinary(a, extremumRow[float32](op.max))
}
func (op extremumOp) Bind64(a *kernel.Args[float64]) func() {
	return bindBinary(a, extremumRow[float64](op.max))
}

// extremumRow returns the row kernel: kernel.MaxRow or kernel.MinRow (a if
// a > b, respectively a < b, else b, and a NaN where either is NaN), as a
// plain function of T.
func extremumRow[T kernel.Float](isMax bool) kernel.BinaryRow[T] {
	if isMax {
		return kernel.MaxRowFunc[T]()
	}
	return kernel.MinRowFunc[T]()
}

// VJP: ā = ḡ·([a wins] + ½[a == b]), b̄ = ḡ·([b wins] + ½[a == b]).
func (op extremumOp) VJP(n, gy *graph.Node) []*graph.Node {
	a, b := n.Input(0), n.Input(1)
	g := gy.Graph()
	win := Greater(a, b)
	if !op.max {
		win = Less(a, b)
	}
	half := Mul(Equal(a, b), g.Scalar(0.5))
	wa := Add(win, half)
	wb := Sub(Sub(g.Scalar(1), win), half)
	return []*graph.Node{SumTo(Mul(gy, wa), a), SumTo(Mul(gy, wb), b)}
}

// Where returns a where cond is non-zero and b elsewhere; the three
// broadcast together. cond gets no gradient.
func Where(cond, a, b *graph.Node) *graph.Node { return add(whereOp{}, cond, a, b) }

type whereOp struct{}

func (whereOp) Name() string { return "where" }
func (whereOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("where", in, 3); err != nil {
		return nil, err
	}
	return broadcastShapes(in...)
}
func (whereOp) Bind32(a *kernel.Args[float32]) func() { return bindWhere(a) }
func (whereOp) Bind64(a *kernel.Args[float64]) func() { return bindWhere(a) }

func bindWhere[T kernel.Float](a *kernel.Args[T]) func() {
	out := a.Out[0]
	l := kernel.NewLoop(out, out, a.In[0], a.In[1], a.In[2])
	d, c, x, y := a.Dst[0], a.Src[0], a.Src[1], a.Src[2]
	rows, inner := l.Rows(), l.Inner()
	sc, sx, sy := l.InnerStride(1), l.InnerStride(2), l.InnerStride(3)
	return func() {
		for r := 0; r < rows; r++ {
			o := l.Offsets(r)
			dst := d[o[0] : o[0]+inner]
			for i := range dst {
				if c[o[1]+i*sc] != 0 {
					dst[i] = x[o[2]+i*sx]
				} else {
					dst[i] = y[o[3]+i*sy]
				}
			}
		}
	}
}

func (whereOp) VJP(n, gy *graph.Node) []*graph.Node {
	c, a, b := n.Input(0), n.Input(1), n.Input(2)
	zero := gy.Graph().Scalar(0)
	return []*graph.Node{nil, SumTo(Where(c, gy, zero), a), SumTo(Where(c, zero, gy), b)}
}
