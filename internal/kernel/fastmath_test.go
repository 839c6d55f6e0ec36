package kernel_test

import (
	"math"
	"math/rand/v2"
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

// sweep32 returns every 1000th float32 bit pattern from 0 to 89 and from −0
// to −104, then the special values: ±0, ±Inf, NaNs (quiet, signalling,
// negative), the edges of Exp32's range and of Expm1_32's branches, and
// arguments whose eˣ is denormal.
func sweep32() []float32 {
	var xs []float32
	for b := uint32(0); b <= math.Float32bits(89); b += 1000 {
		xs = append(xs, math.Float32frombits(b))
	}
	for b := uint32(1 << 31); b <= math.Float32bits(-104); b += 1000 {
		xs = append(xs, math.Float32frombits(b))
	}
	inf := float32(math.Inf(1))
	special := []float32{
		0, float32(math.Copysign(0, -1)), inf, -inf,
		float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00123),
		math.MaxFloat32, -math.MaxFloat32, 1e30, -1e30, math.SmallestNonzeroFloat32,
		88.72284, 88.7228, -103.97208, -103.97207, -103.9721, -87.33654, -87.3365, -87.3366,
		-17, -17.000002, -16.999998, 0.5, -0.5, 0.49999997, -0.49999997, 1e-8, -1e-8,
		0.34657359, -0.34657359, 88.37626, 88.376, 88.377, 127.5 / log2e, -126.5 / log2e,
	}
	for _, s := range special {
		// the value and its neighbours
		xs = append(xs, s, math.Nextafter32(s, inf), math.Nextafter32(s, -inf))
	}
	for x := float32(-104); x < -87; x += 1.0 / 1024 { // denormal results
		xs = append(xs, x)
	}
	return xs
}

const log2e = 1.44269504088896341

// same reports whether a and b have the same bits; any two NaNs count as
// the same when loose.
func same(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// Exp32Row, Expm1_32Row and Elu32Row give the same bits as the scalar
// Exp32 and Expm1_32, element by element, on a dense sweep of float32 and
// the special values, and (so) stay within 2 ulp of math.Exp and
// math.Expm1: in this build and on this CPU they run the AVX2 routines when
// it has AVX2 and FMA, so this pins the assembly to the Go code.
func TestExpRow(t *testing.T) {
	t.Logf("assembly: %v", kernel.HaveExpAsm)
	xs := sweep32()
	// then the same values shuffled: the routines take a fast path for
	// vectors whose eight lanes are all well inside the range and a slow
	// one for the others; sorted, nearly all vectors take the fast path,
	// shuffled, most of them hold a special value and take the slow one
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := append([]float32(nil), xs...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	xs = append(xs, shuffled...)
	d := make([]float32, len(xs))
	const scale, negScale = 1.0507009873554805, 1.7580993408473766
	rows := []struct {
		name   string
		row    func(d, x []float32)
		scalar func(x float32) float32
		ref    func(x float64) float64
	}{
		{"Exp32Row", kernel.Exp32Row, kernel.Exp32, math.Exp},
		{"Exp32RowGo", kernel.Exp32RowGo, kernel.Exp32, math.Exp},
		{"Expm1_32Row", kernel.Expm1_32Row, kernel.Expm1_32, math.Expm1},
		{"Expm1_32RowGo", kernel.Expm1_32RowGo, kernel.Expm1_32, math.Expm1},
		{"Elu32Row", func(d, x []float32) { kernel.Elu32Row(d, x, scale, negScale) }, func(x float32) float32 {
			if x > 0 {
				return scale * x
			}
			return negScale * kernel.Expm1_32(x)
		}, nil},
		{"Elu32RowGo", func(d, x []float32) { kernel.Elu32RowGo(d, x, scale, negScale) }, func(x float32) float32 {
			if x > 0 {
				return scale * x
			}
			return negScale * kernel.Expm1_32(x)
		}, nil},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			clear(d)
			r.row(d, xs)
			worst, at := 0.0, float32(0)
			bad := 0
			for i, x := range xs {
				if want := r.scalar(x); !same(d[i], want) {
					if bad++; bad <= 10 {
						t.Errorf("%s(%v) = %v (%#08x), want %v (%#08x)", r.name, x, d[i], math.Float32bits(d[i]), want, math.Float32bits(want))
					}
				}
				if r.ref == nil || x != x {
					continue
				}
				// within 2 ulp of the float32 nearest the float64 result,
				// denormals included (their ulp is 2⁻¹⁴⁹)
				if e := ulps(d[i], r.ref(float64(x))); e > worst {
					worst, at = e, x
				}
			}
			if bad > 0 {
				t.Errorf("%s: %d of %d results differ from the scalar function", r.name, bad, len(xs))
			}
			if worst > 2 {
				t.Errorf("%s(%v) is %.2f ulp off", r.name, at, worst)
			}
			t.Logf("%d values, worst %.2f ulp at %v", len(xs), worst, at)
		})
	}
}

// Every length from 0 to 40 (the masked tail), at every alignment, in place
// and not: each row function writes exactly d, and the right values.
func TestExpRowTails(t *testing.T) {
	const guard = 16
	nan := float32(math.NaN())
	rows := []struct {
		name   string
		row    func(d, x []float32)
		scalar func(float32) float32
	}{
		{"Exp32Row", kernel.Exp32Row, kernel.Exp32},
		{"Expm1_32Row", kernel.Expm1_32Row, kernel.Expm1_32},
		{"Elu32Row", func(d, x []float32) { kernel.Elu32Row(d, x, 2, 3) }, func(x float32) float32 {
			if x > 0 {
				return 2 * x
			}
			return 3 * kernel.Expm1_32(x)
		}},
	}
	for _, r := range rows {
		for n := 0; n <= 40; n++ {
			for off := 0; off < 8; off++ {
				for _, inPlace := range []bool{false, true} {
					src := make([]float32, n+2*guard)
					dst := make([]float32, n+2*guard)
					for i := range src {
						src[i] = float32(i%23)/2 - 6 // both signs, both Expm1 branches
						dst[i] = nan
					}
					x := src[guard+off-8 : guard+off-8+n : guard+off-8+n]
					d := dst[guard+off-8 : guard+off-8+n : guard+off-8+n]
					x0 := append([]float32(nil), x...)
					if inPlace {
						copy(d, x)
						x = d
					}
					r.row(d, x)
					for i := range dst {
						in := i >= guard+off-8 && i < guard+off-8+n
						switch {
						case in && !same(dst[i], r.scalar(x0[i-(guard+off-8)])):
							t.Fatalf("%s(n=%d, off=%d, inPlace=%v): d[%d] = %v, want %v", r.name, n, off, inPlace, i-(guard+off-8), dst[i], r.scalar(x0[i-(guard+off-8)]))
						case !in && dst[i] == dst[i]:
							t.Fatalf("%s(n=%d, off=%d, inPlace=%v) wrote buffer index %d, outside d", r.name, n, off, inPlace, i)
						}
					}
				}
			}
		}
	}
}

// BenchmarkExpRow reports the row functions in ns per element: the Go
// loops and, on a CPU with AVX2 and FMA, the assembly.
func BenchmarkExpRow(b *testing.B) {
	const n = 4096
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%200)/10 - 10 // [−10, 10): both signs, both Expm1 branches
	}
	d := make([]float32, n)
	rows := []struct {
		name string
		row  func(d, x []float32)
		asm  bool
	}{
		{"exp/go", kernel.Exp32RowGo, false},
		{"exp/avx2", kernel.Exp32Row, true},
		{"expm1/go", kernel.Expm1_32RowGo, false},
		{"expm1/avx2", kernel.Expm1_32Row, true},
		{"elu/go", func(d, x []float32) { kernel.Elu32RowGo(d, x, 1.05, 1.76) }, false},
		{"elu/avx2", func(d, x []float32) { kernel.Elu32Row(d, x, 1.05, 1.76) }, true},
	}
	for _, r := range rows {
		b.Run(r.name, func(b *testing.B) {
			if r.asm && !kernel.HaveExpAsm {
				b.Skip("no AVX2 and FMA in this build or on this CPU")
			}
			b.ReportAllocs()
			for b.Loop() {
				r.row(d, x)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/elem")
			if d[n-1] != d[n-1] || d[0] == 0 {
				b.Fatal("bad result")
			}
		})
	}
}
