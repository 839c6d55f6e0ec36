package nodes

import (
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The logistic-based smooth activations: Softplus, whose derivative is the
// sigmoid, and SiLU (Swish), x·σ(x) (SEMANTICS §1.8, §1.10). Their kernels
// compute in float64 with σ evaluated without overflow (sigmoidPair).

// Softplus returns log(1 + eˣ) element-wise, computed as
// max(x, 0) + log1p(e^(−|x|)), exact for every x: unlike PyTorch's default
// (threshold=20, which returns x itself above 20) there is no cut-off.
// Its derivative is σ(x).
func Softplus(x *graph.Node) *graph.Node { return add(actOp{kind: actSoftplus}, x) }

func softplusRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		z := float64(v)
		if z > 0 {
			d[i] = T(z + math.Log1p(math.Exp(-z)))
		} else {
			d[i] = T(math.Log1p(math.Exp(z))) // also NaN
		}
	}
}

func softplusGradRow[T kernel.Float](d, x, g []T) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		s, _ := sigmoidPair(float64(v))
		d[i] = T(s * float64(g[i]))
	}
}

// softplusSecond is σ'(x) = σ(x)·σ(−x).
func softplusSecond(x *graph.Node) *graph.Node { return Mul(Sigmoid(x), Sigmoid(Neg(x))) }

// SiLU returns x·σ(x) element-wise, the sigmoid-weighted linear unit (Keras
// "silu" and "swish", torch.nn.SiLU). Its derivative is
// σ(x)·(1 + x·(1 − σ(x))).
func SiLU(x *graph.Node) *graph.Node { return add(actOp{kind: actSiLU}, x) }

// Swish is SiLU, under the name Keras also accepts (Swish with β = 1).
func Swish(x *graph.Node) *graph.Node { return SiLU(x) }

func siluRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		z := float64(v)
		s, _ := sigmoidPair(z)
		d[i] = T(z * s)
	}
}

// siluGradRow computes g·(σ + x·σ·(1−σ)), with 1 − σ(x) = σ(−x) taken
// without cancellation.
func siluGradRow[T kernel.Float](d, x, g []T) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		z := float64(v)
		s, c := sigmoidPair(z)
		f := s
		if q := s * c; q != 0 { // q = 0 once |x| > 745: skip 0·∞
			f += z * q
		}
		d[i] = T(f * float64(g[i]))
	}
}

// siluSecond is SiLU's second derivative, σ(x)σ(−x)·(2 + x·(σ(−x) − σ(x))).
func siluSecond(x *graph.Node) *graph.Node {
	s, c := Sigmoid(x), Sigmoid(Neg(x))
	return Mul(Mul(s, c), Add(x.Graph().Scalar(2), Mul(x, Sub(c, s))))
}
