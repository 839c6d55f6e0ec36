package nodes

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The float32 row kernels that take their exponentials a row or a chunk
// at a time (kernel.Exp32Row, Expm1_32Row, Elu32Row) give the bits of the
// element-by-element formulas they replaced, in place and not, for lengths
// on both sides of a chunk (rowChunk) and with special values mixed in.
func TestExp32Rows(t *testing.T) {
	elu, eluGrad := eluRow[float32](SELUScale, SELUScaleAlpha), eluGradRow[float32](SELUScale, SELUScaleAlpha)
	s, ns := float32(SELUScale), float32(SELUScaleAlpha)
	rows := []struct {
		name string
		row  func(d, x []float32)
		want func(x []float32) []float32 // the element-by-element formula
	}{
		{"sigmoid32Row", sigmoid32Row, func(x []float32) []float32 {
			return each(x, func(z float32) float32 {
				if z >= -80 {
					return 1 / (1 + kernel.Exp32(-z))
				}
				e := kernel.Exp32(z)
				return e / (1 + e)
			})
		}},
		{"tanh32Row", tanh32Row, func(x []float32) []float32 {
			return each(x, func(z float32) float32 {
				switch {
				case z > 9:
					return 1
				case z < -9:
					return -1
				}
				t := kernel.Expm1_32(2 * z)
				return t / (t + 2)
			})
		}},
		{"eluRow", elu, func(x []float32) []float32 {
			return each(x, func(z float32) float32 {
				if z > 0 {
					return s * z
				}
				return ns * kernel.Expm1_32(z)
			})
		}},
		{"eluGradRow", func(d, x []float32) { eluGrad(d, x, x) }, func(x []float32) []float32 {
			return each(x, func(z float32) float32 { // with g = x
				if z > 0 {
					return s * z
				}
				return ns * kernel.Exp32(z) * z
			})
		}},
		{"softmaxRow", softmaxRow[float32], func(x []float32) []float32 {
			m, sum := float32(rowMax(x)), 0.0
			e := each(x, func(z float32) float32 { return kernel.Exp32(z - m) })
			for _, v := range e {
				sum += float64(v)
			}
			inv := float32(1 / sum)
			return each(e, func(v float32) float32 { return v * inv })
		}},
		{"logSoftmaxRow", logSoftmaxRow[float32], func(x []float32) []float32 {
			m, sum := rowMax(x), 0.0
			for _, z := range x {
				sum += float64(kernel.Exp32(z - float32(m)))
			}
			ls := math.Log(sum)
			return each(x, func(z float32) float32 { return float32((float64(z) - m) - ls) })
		}},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	special := []float32{0, float32(math.Inf(1)), float32(math.Inf(-1)), -85, 85, -10, 10, -17.5, 0.25}
	for _, r := range rows {
		for _, n := range []int{0, 1, 7, 9, 255, 256, 257, 600} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 3)
				if rng.IntN(10) == 0 && r.name != "softmaxRow" && r.name != "logSoftmaxRow" {
					x[i] = special[rng.IntN(len(special))]
				}
			}
			want := r.want(x)
			for _, inPlace := range []bool{false, true} {
				d := make([]float32, n)
				xs := append([]float32(nil), x...)
				if inPlace {
					d = xs
				}
				r.row(d, xs)
				for i := range d {
					if math.Float32bits(d[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s(n=%d, in place %v): element %d (x = %v) = %v, want %v", r.name, n, inPlace, i, x[i], d[i], want[i])
					}
				}
			}
		}
	}
}

func each(x []float32, f func(float32) float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = f(v)
	}
	return y
}
