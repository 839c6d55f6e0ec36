package kernel_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/internal/kernel"
)

// ulps returns the distance between got and the float32 nearest to want, in
// units in the last place of that float32.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if got == w {
		return 0
	}
	if math.IsInf(float64(w), 0) || math.IsInf(float64(got), 0) {
		return math.Inf(1)
	}
	ulp := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1)))) - float64(w))
	if w == 0 || ulp == 0 {
		ulp = float64(math.SmallestNonzeroFloat32)
	}
	return math.Abs(float64(got)-want) / ulp
}

// Exp32 and Expm1_32 are within 2 ulp of the correctly rounded float32
// result, over every float32 in a dense sweep of their ranges, and exact at
// the special values.
func TestFastExp(t *testing.T) {
	worstExp, worstExpm1 := 0.0, 0.0
	var atExp, atExpm1 float32
	for x := float32(-104); x < 89; x = math.Nextafter32(x, 100) + 0.0001*float32(math.Abs(float64(x))) {
		if e := ulps(kernel.Exp32(x), math.Exp(float64(x))); e > worstExp && math.Exp(float64(x)) > 1e-37 {
			worstExp, atExp = e, x
		}
		if e := ulps(kernel.Expm1_32(x), math.Expm1(float64(x))); e > worstExpm1 {
			worstExpm1, atExpm1 = e, x
		}
	}
	for x := float32(-1e-3); x < 1e-3; x += 1e-7 {
		if e := ulps(kernel.Expm1_32(x), math.Expm1(float64(x))); e > worstExpm1 {
			worstExpm1, atExpm1 = e, x
		}
	}
	if worstExp > 2 {
		t.Errorf("Exp32(%v) is %.2f ulp off", atExp, worstExp)
	}
	if worstExpm1 > 2 {
		t.Errorf("Expm1_32(%v) is %.2f ulp off", atExpm1, worstExpm1)
	}
	t.Logf("worst: Exp32 %.2f ulp at %v, Expm1_32 %.2f ulp at %v", worstExp, atExp, worstExpm1, atExpm1)
	special := []struct {
		x          float32
		exp, expm1 float64
	}{
		{0, 1, 0},
		{float32(math.Copysign(0, -1)), 1, math.Copysign(0, -1)},
		{float32(math.Inf(1)), math.Inf(1), math.Inf(1)},
		{float32(math.Inf(-1)), 0, -1},
		{89, math.Inf(1), math.Inf(1)},
		{-200, 0, -1},
	}
	for _, s := range special {
		if got := kernel.Exp32(s.x); float64(got) != s.exp {
			t.Errorf("Exp32(%v) = %v, want %v", s.x, got, s.exp)
		}
		if got := kernel.Expm1_32(s.x); float64(got) != s.expm1 {
			t.Errorf("Expm1_32(%v) = %v, want %v", s.x, got, s.expm1)
		}
	}
	nan := float32(math.NaN())
	if !math.IsNaN(float64(kernel.Exp32(nan))) || !math.IsNaN(float64(kernel.Expm1_32(nan))) {
		t.Error("NaN in, not NaN out")
	}
}

func BenchmarkExp(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = float32(i%200)/10 - 10
	}
	var sink float32
	b.Run("Exp32", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, x := range xs {
				sink += kernel.Exp32(x)
			}
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, x := range xs {
				sink += float32(math.Exp(float64(x)))
			}
		}
	})
	b.Run("Expm1_32", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, x := range xs {
				sink += kernel.Expm1_32(x)
			}
		}
	})
	b.Run("math.Expm1", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, x := range xs {
				sink += float32(math.Expm1(float64(x)))
			}
		}
	})
	if sink == 0 {
		b.Fatal("sink")
	}
}
