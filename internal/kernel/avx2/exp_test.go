//go:build amd64 && !purego

package avx2_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/internal/kernel/avx2"
)

// ExpS, Expm1S and EluS give the bits of kernel.Exp32, kernel.Expm1_32 and
// the ELU formula on random values mixed with special ones, at every
// length up to 40, and write nothing outside d. (internal/kernel tests the
// row functions built on them over a dense sweep of float32.)
func TestExp(t *testing.T) {
	if !avx2.Supported {
		t.Skip("no AVX2 and FMA")
	}
	inf := float32(math.Inf(1))
	special := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()), 89, -89, -104, 88.72284, -17.5, 0.4999, -0.4999, 1e-30}
	elu := func(x float32) float32 {
		if x > 0 {
			return 1.5 * x
		}
		return 2.5 * kernel.Expm1_32(x)
	}
	routines := []struct {
		name   string
		run    func(d, x []float32)
		scalar func(float32) float32
	}{
		{"ExpS", avx2.ExpS, kernel.Exp32},
		{"Expm1S", avx2.Expm1S, kernel.Expm1_32},
		{"EluS", func(d, x []float32) { avx2.EluS(d, x, 1.5, 2.5) }, elu},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const guard = 16
	for _, r := range routines {
		for n := 0; n <= 40; n++ {
			x := make([]float32, n)
			for i := range x {
				if rng.IntN(8) == 0 {
					x[i] = special[rng.IntN(len(special))]
				} else {
					x[i] = float32(rng.NormFloat64() * 4)
				}
			}
			buf := make([]float32, n+2*guard)
			for i := range buf {
				buf[i] = -7 // a sentinel no routine writes here
			}
			d := buf[guard : guard+n]
			r.run(d, x)
			for i, v := range buf {
				if i < guard || i >= guard+n {
					if v != -7 {
						t.Fatalf("%s(n=%d) wrote buffer index %d, outside d", r.name, n, i)
					}
					continue
				}
				xi := x[i-guard]
				if want := r.scalar(xi); math.Float32bits(v) != math.Float32bits(want) {
					t.Errorf("%s(%v) = %v, want %v (n=%d)", r.name, xi, v, want, n)
				}
			}
		}
	}
}
