package nodes

import (
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The Gaussian error linear units (SEMANTICS §1.9): GELU, x·Φ(x) with the
// standard normal CDF Φ, and its tanh approximation GELUTanh. Both are
// smooth; their kernels compute in float64.

const (
	invSqrt2    = 1 / math.Sqrt2                 // 1/√2
	invSqrt2Pi  = 1 / (math.Sqrt2 * math.SqrtPi) // 1/√(2π) = 0.3989422804014327
	sqrt2OverPi = math.Sqrt2 / math.SqrtPi       // √(2/π) = 0.7978845608028654
	geluCubic   = 0.044715                       // the cubic coefficient of the tanh approximation
)

// GELU returns x·Φ(x) = ½x(1 + erf(x/√2)) element-wise, the exact form that
// Keras (approximate=False) and PyTorch (approximate='none') default to.
// Φ is evaluated as ½·erfc(−x/√2), which keeps its relative precision for
// negative x where 1 + erf cancels. Its derivative is Φ(x) + x·φ(x) with
// φ(x) = e^(−x²/2)/√(2π).
func GELU(x *graph.Node) *graph.Node { return add(actOp{kind: actGELU}, x) }

func geluRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		z := float64(v)
		d[i] = T(z * 0.5 * math.Erfc(-z*invSqrt2))
	}
}

func geluGradRow[T kernel.Float](d, x, g []T) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		z := float64(v)
		f := 0.5 * math.Erfc(-z*invSqrt2)
		if p := math.Exp(-0.5*z*z) * invSqrt2Pi; p != 0 { // p = 0 for |x| > 38.6: skip 0·∞
			f += z * p
		}
		d[i] = T(f * float64(g[i]))
	}
}

// geluSecond is GELU's second derivative, φ(x)·(2 − x²).
func geluSecond(x *graph.Node) *graph.Node {
	g := x.Graph()
	sq := Square(x)
	phi := Mul(Exp(Mul(sq, g.Scalar(-0.5))), g.Scalar(invSqrt2Pi))
	return Mul(phi, Sub(g.Scalar(2), sq))
}

// GELUTanh returns the tanh approximation of GELU,
// ½x(1 + tanh(√(2/π)(x + 0.044715x³))) element-wise (PyTorch's
// approximate='tanh', Keras's approximate=True). It is evaluated as x·σ(w)
// with w = 2√(2/π)(x + 0.044715x³), an identity (½(1 + tanh u) = σ(2u))
// that keeps the relative precision for negative x.
func GELUTanh(x *graph.Node) *graph.Node { return add(actOp{kind: actGELUTanh}, x) }

// geluTanhArg returns w = 2√(2/π)(x + 0.044715x³) and its derivative
// w' = 2√(2/π)(1 + 3·0.044715x²).
func geluTanhArg(z float64) (w, dw float64) {
	z2 := z * z
	return 2 * sqrt2OverPi * (z + geluCubic*z2*z), 2 * sqrt2OverPi * (1 + 3*geluCubic*z2)
}

func geluTanhRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		z := float64(v)
		w, _ := geluTanhArg(z)
		s, _ := sigmoidPair(w)
		d[i] = T(z * s)
	}
}

// geluTanhGradRow computes g·(σ(w) + x·σ(w)·σ(−w)·w'), which equals the
// textbook ½(1 + tanh u) + ½x(1 − tanh²u)·u' since 1 − tanh²u = 4σ(2u)σ(−2u).
func geluTanhGradRow[T kernel.Float](d, x, g []T) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		z := float64(v)
		w, dw := geluTanhArg(z)
		s, c := sigmoidPair(w)
		f := s
		if q := s * c; q != 0 { // q = 0 once |w| > 745: skip 0·∞
			f += z * q * dw
		}
		d[i] = T(f * float64(g[i]))
	}
}

// geluTanhSecond is GELUTanh's second derivative: with s = σ(w), c = σ(−w),
// q = s·c, w' and w″ = 12√(2/π)·0.044715x,
// q·(2w' + x(c − s)w'² + x·w″).
func geluTanhSecond(x *graph.Node) *graph.Node {
	g := x.Graph()
	k := func(v float64) *graph.Node { return g.Scalar(v) }
	x2 := Square(x)
	w := Mul(Add(x, Mul(Mul(x2, x), k(geluCubic))), k(2*sqrt2OverPi))
	dw := Mul(Add(k(1), Mul(x2, k(3*geluCubic))), k(2*sqrt2OverPi))
	ddw := Mul(x, k(12*sqrt2OverPi*geluCubic))
	s, c := Sigmoid(w), Sigmoid(Neg(w))
	inner := Add(Add(Mul(dw, k(2)), Mul(Mul(x, Sub(c, s)), Square(dw))), Mul(x, ddw))
	return Mul(Mul(s, c), inner)
}

// sigmoidPair returns σ(z) and 1 − σ(z) = σ(−z), each to full relative
// precision and without overflow for any z (NaN gives NaN).
func sigmoidPair(z float64) (s, c float64) {
	if z >= 0 {
		e := math.Exp(-z)
		r := 1 / (1 + e)
		return r, e * r
	}
	e := math.Exp(z)
	r := 1 / (1 + e)
	return e * r, r
}
