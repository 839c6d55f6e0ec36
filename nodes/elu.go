package nodes

import (
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The exponential linear units: ELU and SELU (SEMANTICS §1.5, §1.6). Both
// are λ·x for x > 0 and λ·α·(eˣ − 1) elsewhere (λ = 1 for ELU), with the
// negative branch computed with math.Expm1 so that it keeps its precision
// near 0 (for x = −1e-8, eˣ − 1 would lose 8 digits). Their derivative is λ
// for x > 0 and λ·α·eˣ elsewhere, at x = 0 included (the kink rule), and is
// computed from x rather than from y + λα, which would cancel for very
// negative x.

// ELUAlpha is the default α of ELU in Keras (keras.activations.elu,
// keras.layers.ELU) and PyTorch (torch.nn.ELU).
const ELUAlpha = 1.0

// The SELU constants of Klambauer et al. (2017), as float64 (SEMANTICS §1.6).
const (
	// SELUScale is λ = 1.0507009873554804934193349852946….
	SELUScale = 1.0507009873554805
	// SELUAlpha is α = 1.6732632423543772848170429916717….
	SELUAlpha = 1.6732632423543772
	// SELUScaleAlpha is λ·α as the float64 product of SELUScale and
	// SELUAlpha, the value PyTorch and Keras's AlphaDropout use (TensorFlow's
	// C++ kernels use 1.7580993408473768, one ulp away). It is SELU's
	// derivative at 0 and the limit of −SELU(x) as x → −∞.
	SELUScaleAlpha = 1.7580993408473766
)

// ELU returns x where x > 0 and alpha·(eˣ − 1) elsewhere. Its derivative is
// 1 where x > 0 and alpha·eˣ elsewhere; at x = 0 it is alpha (the kink rule;
// the function is differentiable there only for alpha = 1). alpha must be
// finite and not negative (Keras and PyTorch accept any value, but a
// negative α turns the saturation upside down and is almost surely a bug);
// otherwise an error is recorded. ELUAlpha is the usual value.
func ELU(x *graph.Node, alpha float64) *graph.Node {
	op := actOp{kind: actELU, alpha: alpha}
	if err := checkAlpha("elu", alpha); err != nil {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "%v", err)
	}
	return add(op, x)
}

// SELU returns the scaled ELU λ·x for x > 0 and λ·α·(eˣ − 1) elsewhere,
// with λ = SELUScale and α = SELUAlpha. Its derivative at 0 is λα =
// SELUScaleAlpha, as PyTorch gives (TensorFlow gives λ there).
// Self-normalization needs LeCun-normal weights, standardized inputs and
// AlphaDropout rather than Dropout.
func SELU(x *graph.Node) *graph.Node { return add(actOp{kind: actSELU}, x) }

// eluRow computes scale·x for x > 0 and negScale·expm1(x) elsewhere. In
// float32 it is kernel.Elu32Row (kernel.Expm1_32, within 2 ulp, eight lanes
// at a time with AVX2).
func eluRow[T kernel.Float](scale, negScale float64) kernel.UnaryRow[T] {
	if !kernel.Is64[T]() {
		s, ns := float32(scale), float32(negScale)
		var f kernel.UnaryRow[float32] = func(d, x []float32) { kernel.Elu32Row(d, x, s, ns) }
		return any(f).(kernel.UnaryRow[T])
	}
	return func(d, x []T) {
		x = x[:len(d)]
		for i, v := range x {
			z := float64(v)
			if z > 0 {
				d[i] = T(scale * z)
			} else {
				d[i] = T(negScale * math.Expm1(z)) // also NaN
			}
		}
	}
}

// eluGradRow computes g·scale for x > 0 and g·negScale·eˣ elsewhere (in
// float32 with kernel.Exp32Row, a chunk of eˣ at a time on the stack).
func eluGradRow[T kernel.Float](scale, negScale float64) actGradRow[T] {
	if !kernel.Is64[T]() {
		s, ns := float32(scale), float32(negScale)
		var f actGradRow[float32] = func(d, x, g []float32) {
			x, g = x[:len(d)], g[:len(d)]
			var buf [rowChunk]float32
			for lo := 0; lo < len(d); lo += rowChunk {
				hi := min(lo+rowChunk, len(d))
				e := buf[:hi-lo]
				kernel.Exp32Row(e, x[lo:hi])
				for i, z := range x[lo:hi] {
					if z > 0 {
						d[lo+i] = s * g[lo+i]
					} else {
						d[lo+i] = ns * e[i] * g[lo+i]
					}
				}
			}
		}
		return any(f).(actGradRow[T])
	}
	return func(d, x, g []T) {
		x, g = x[:len(d)], g[:len(d)]
		for i, v := range x {
			z := float64(v)
			if z > 0 {
				d[i] = T(scale * float64(g[i]))
			} else {
				d[i] = T(negScale * math.Exp(z) * float64(g[i]))
			}
		}
	}
}

// eluGradYRow computes the same gradient from the output y: g·scale for
// y > 0 and g·(y + negScale) elsewhere, since negScale·eˣ = y + negScale.
func eluGradYRow[T kernel.Float](scale, negScale float64) actGradRow[T] {
	s, ns := T(scale), T(negScale)
	return func(d, y, g []T) {
		y, g = y[:len(d)], g[:len(d)]
		for i, v := range y {
			// branch-free (the signs of y are random): pick the
			// derivative by index
			k := 0
			if v > 0 {
				k = 1
			}
			pick := [2]T{v + ns, s}
			d[i] = pick[k] * g[i]
		}
	}
}

// eluSecond is the second derivative of eluRow's function: 0 for x > 0 and
// negScale·eˣ elsewhere.
func eluSecond(x *graph.Node, negScale float64) *graph.Node {
	g := x.Graph()
	zero := g.Scalar(0)
	return Where(Greater(x, zero), zero, Mul(Exp(x), g.Scalar(negScale)))
}
