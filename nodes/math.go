package nodes

import (
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The math family: element-wise Exp, Log, Sqrt, Square, Pow (by a constant),
// Abs, Sign and Reciprocal. Each op keeps its input's shape; its forward
// kernel is a row loop run by kernel.BindUnary (float32 values go through
// float64 math where a transcendental function is involved), and its VJP is
// built from graph ops, using the node's own output where that saves work.
// Values outside an op's domain follow IEEE 754 and Go's math package:
// Log(0) = −Inf, Log(−1) = NaN, Sqrt(−1) = NaN, Reciprocal(0) = +Inf.

// Exp returns eˣ element-wise.
func Exp(x *graph.Node) *graph.Node { return add(expOp{}, x) }

type expOp struct{}

func (expOp) Name() string                                     { return "exp" }
func (expOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("exp", in) }
func (expOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, expRow[float32]) }
func (expOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, expRow[float64]) }

// VJP: x̄ = ḡ·eˣ = ḡ·y.
func (expOp) VJP(n, gy *graph.Node) []*graph.Node { return []*graph.Node{Mul(gy, n)} }

func expRow[T kernel.Float](d, x []T) {
	if !kernel.Is64[T]() {
		kernel.Exp32Row(kernel.F32(d), kernel.F32(x))
		return
	}
	x = x[:len(d)]
	for i, v := range x {
		d[i] = T(math.Exp(float64(v)))
	}
}

// Log returns the natural logarithm of x element-wise.
func Log(x *graph.Node) *graph.Node { return add(logOp{}, x) }

type logOp struct{}

func (logOp) Name() string                                     { return "log" }
func (logOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("log", in) }
func (logOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, logRow[float32]) }
func (logOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, logRow[float64]) }

// VJP: x̄ = ḡ/x.
func (logOp) VJP(n, gy *graph.Node) []*graph.Node { return []*graph.Node{Div(gy, n.Input(0))} }

func logRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = T(math.Log(float64(v)))
	}
}

// Sqrt returns the square root of x element-wise.
func Sqrt(x *graph.Node) *graph.Node { return add(sqrtOp{}, x) }

type sqrtOp struct{}

func (sqrtOp) Name() string                                     { return "sqrt" }
func (sqrtOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("sqrt", in) }
func (sqrtOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, sqrtRow[float32]()) }
func (sqrtOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, sqrtRow[float64]()) }

// VJP: x̄ = ḡ/(2√x) = (½ḡ)/y.
func (sqrtOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{Div(Mul(gy, gy.Graph().Scalar(0.5)), n)}
}

// sqrtRow returns the row kernel: kernel.SqrtRow, as a plain function of T.
func sqrtRow[T kernel.Float]() kernel.UnaryRow[T] { return kernel.SqrtRowFunc[T]() }

// Square returns x² element-wise.
func Square(x *graph.Node) *graph.Node { return add(squareOp{}, x) }

type squareOp struct{}

func (squareOp) Name() string                                     { return "square" }
func (squareOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("square", in) }
func (squareOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, squareRow[float32]()) }
func (squareOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, squareRow[float64]()) }

// VJP: x̄ = ḡ·2x.
func (squareOp) VJP(n, gy *graph.Node) []*graph.Node {
	x := n.Input(0)
	return []*graph.Node{Mul(gy, Mul(x, gy.Graph().Scalar(2)))}
}

// squareRow returns the row kernel: kernel.SquareRow, as a plain function of T.
func squareRow[T kernel.Float]() kernel.UnaryRow[T] { return kernel.SquareRowFunc[T]() }

// Pow returns xᵖ element-wise for a constant exponent p, as math.Pow does
// (x⁰ = 1 for every x, NaN for a negative x and a non-integer p). A p that
// is NaN or infinite records an error.
func Pow(x *graph.Node, p float64) *graph.Node {
	op := powOp{p: p}
	if math.IsNaN(p) || math.IsInf(p, 0) {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "exponent %v is not finite", p)
	}
	return add(op, x)
}

type powOp struct{ p float64 }

func (powOp) Name() string                                     { return "pow" }
func (op powOp) Attrs() string                                 { return "p=" + sprint(op.p) }
func (powOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("pow", in) }
func (op powOp) Bind32(a *kernel.Args[float32]) func()         { return bindUnary(a, powRow[float32](op.p)) }
func (op powOp) Bind64(a *kernel.Args[float64]) func()         { return bindUnary(a, powRow[float64](op.p)) }

// VJP: x̄ = ḡ·p·xᵖ⁻¹; zero for p = 0 (y is constant) and ḡ for p = 1.
func (op powOp) VJP(n, gy *graph.Node) []*graph.Node {
	x, g := n.Input(0), gy.Graph()
	switch op.p {
	case 0:
		return []*graph.Node{ZerosLike(x)}
	case 1:
		return []*graph.Node{gy}
	case 2:
		return []*graph.Node{Mul(gy, Mul(x, g.Scalar(2)))}
	}
	return []*graph.Node{Mul(gy, Mul(Pow(x, op.p-1), g.Scalar(op.p)))}
}

// powRow picks the row loop for p once, at bind time: the common exponents
// get exact or cheaper loops than math.Pow.
func powRow[T kernel.Float](p float64) kernel.UnaryRow[T] {
	switch p {
	case 0:
		return func(d, _ []T) {
			for i := range d {
				d[i] = 1
			}
		}
	case 1:
		return func(d, x []T) { copy(d, x[:len(d)]) }
	case 2:
		return squareRow[T]()
	case 0.5:
		return sqrtRow[T]()
	case -1:
		return reciprocalRow[T]()
	}
	return func(d, x []T) {
		x = x[:len(d)]
		for i, v := range x {
			d[i] = T(math.Pow(float64(v), p))
		}
	}
}

// Abs returns |x| element-wise.
func Abs(x *graph.Node) *graph.Node { return add(absOp{}, x) }

type absOp struct{}

func (absOp) Name() string                                     { return "abs" }
func (absOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("abs", in) }
func (absOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, absRow[float32]()) }
func (absOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, absRow[float64]()) }

// VJP: x̄ = ḡ·sign(x), zero at x = 0 (the subgradient PyTorch picks).
func (absOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{Mul(gy, Sign(n.Input(0)))}
}

// absRow returns the row kernel: kernel.AbsRow, as a plain function of T.
func absRow[T kernel.Float]() kernel.UnaryRow[T] { return kernel.AbsRowFunc[T]() }

// Sign returns −1, 0 or 1 as x is negative, zero or positive (NaN stays
// NaN). It has no gradient.
func Sign(x *graph.Node) *graph.Node { return add(signOp{}, x) }

type signOp struct{}

func (signOp) Name() string                                     { return "sign" }
func (signOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("sign", in) }
func (signOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, signRow[float32]) }
func (signOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, signRow[float64]) }

func (signOp) NoGradient() string {
	return "sign is piecewise constant: its derivative is zero almost everywhere and undefined at 0"
}

func signRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		switch {
		case v > 0:
			d[i] = 1
		case v < 0:
			d[i] = -1
		case v == 0:
			d[i] = 0
		default:
			d[i] = v // NaN
		}
	}
}

// Reciprocal returns 1/x element-wise.
func Reciprocal(x *graph.Node) *graph.Node { return add(reciprocalOp{}, x) }

type reciprocalOp struct{}

func (reciprocalOp) Name() string { return "reciprocal" }
func (reciprocalOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return sameShape("reciprocal", in)
}
func (reciprocalOp) Bind32(a *kernel.Args[float32]) func() {
	return bindUnary(a, reciprocalRow[float32]())
}
func (reciprocalOp) Bind64(a *kernel.Args[float64]) func() {
	return bindUnary(a, reciprocalRow[float64]())
}

// VJP: x̄ = −ḡ/x² = −ḡ·y².
func (reciprocalOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{Neg(Mul(gy, Square(n)))}
}

// reciprocalRow returns the row kernel: kernel.ReciprocalRow, as a plain function of T.
func reciprocalRow[T kernel.Float]() kernel.UnaryRow[T] { return kernel.ReciprocalRowFunc[T]() }
