package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveGemm is the reference: C = alpha·op(A)·op(B) + beta·C in float64,
// with beta == 0 meaning C is not read (the BLAS convention). It also
// returns, per element, the scale |alpha|·Σ|a||b| + |beta·c| that round-off
// is measured against.
func naiveGemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) (want, scale []float64) {
	at := func(i, l int) float64 {
		if transA {
			return float64(a[l*lda+i])
		}
		return float64(a[i*lda+l])
	}
	bt := func(l, j int) float64 {
		if transB {
			return float64(b[j*ldb+l])
		}
		return float64(b[l*ldb+j])
	}
	want = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for l := 0; l < k; l++ {
				s += at(i, l) * bt(l, j)
				abs += math.Abs(at(i, l) * bt(l, j))
			}
			w := float64(alpha) * s
			sc := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				cv := float64(c[i*ldc+j])
				w += float64(beta) * cv
				sc += math.Abs(float64(beta) * cv)
			}
			want[i*n+j], scale[i*n+j] = w, sc
		}
	}
	return want, scale
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float64
	pad            int // extra elements per row: leading dimensions above the row length
}

// gemmCases draws many shapes, always including the degenerate sizes 0 and
// 1, every transpose combination and several alpha/beta pairs.
func gemmCases(rng *rand.Rand) []gemmCase {
	dims := func() int {
		switch rng.IntN(5) {
		case 0:
			return rng.IntN(2) // 0 or 1
		default:
			return rng.IntN(71)
		}
	}
	alphas := []float64{1, -0.5, 0, 2.5}
	betas := []float64{0, 1, 0.5, -2}
	var cases []gemmCase
	for _, fixed := range [][3]int{{0, 0, 0}, {1, 1, 1}, {0, 5, 3}, {5, 0, 3}, {5, 3, 0}, {1, 70, 1}, {70, 1, 70}, {64, 64, 64}, {70, 70, 70}, {130, 200, 150}, {257, 65, 129}} {
		for tr := 0; tr < 4; tr++ {
			cases = append(cases, gemmCase{tr&1 != 0, tr&2 != 0, fixed[0], fixed[1], fixed[2], 1, 0.5, tr})
		}
	}
	for range 300 {
		cases = append(cases, gemmCase{
			transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
			m: dims(), n: dims(), k: dims(),
			alpha: alphas[rng.IntN(len(alphas))], beta: betas[rng.IntN(len(betas))],
			pad: rng.IntN(3) * rng.IntN(4),
		})
	}
	return cases
}

// matrix returns a rows×cols matrix with leading dimension cols+pad whose
// padding holds NaN: a GEMM that reads it poisons the result.
func matrix[T Float](rng *rand.Rand, rows, cols, pad int) ([]T, int) {
	ld := max(1, cols+pad)
	if rows == 0 {
		return nil, ld
	}
	s := make([]T, (rows-1)*ld+cols)
	for i := range s {
		if i%ld < cols {
			s[i] = T(rng.Float64()*2 - 1)
		} else {
			s[i] = T(math.NaN())
		}
	}
	return s, ld
}

func testGemm[T Float](t *testing.T, relTol float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	gemm := Gemm[T]()
	for _, tc := range gemmCases(rng) {
		ar, ac := tc.m, tc.k
		if tc.transA {
			ar, ac = ac, ar
		}
		br, bc := tc.k, tc.n
		if tc.transB {
			br, bc = bc, br
		}
		a, lda := matrix[T](rng, ar, ac, tc.pad)
		b, ldb := matrix[T](rng, br, bc, tc.pad)
		c, ldc := matrix[T](rng, tc.m, tc.n, tc.pad)
		if tc.beta == 0 {
			// beta == 0: C is output only, NaN in it must not leak through
			for i := range c {
				c[i] = T(math.NaN())
			}
		}
		orig := append([]T(nil), c...)
		want, scale := naiveGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, T(tc.alpha), a, lda, b, ldb, T(tc.beta), c, ldc)
		gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, T(tc.alpha), a, lda, b, ldb, T(tc.beta), c, ldc)
		for i := 0; i < tc.m; i++ {
			for j := 0; j < ldc && i*ldc+j < len(c); j++ {
				got := float64(c[i*ldc+j])
				if j >= tc.n { // padding of C must be left alone
					if o := float64(orig[i*ldc+j]); !(got == o || math.IsNaN(got) && math.IsNaN(o)) {
						t.Fatalf("Gemm%+v wrote %v into the padding of C at (%d,%d), was %v", tc, got, i, j, o)
					}
					continue
				}
				w, sc := want[i*tc.n+j], scale[i*tc.n+j]
				if d := math.Abs(got - w); !(d <= relTol*max(sc, 1e-300)) {
					t.Fatalf("Gemm%+v: C[%d,%d] = %v, want %v (error %.3g, allowed %.3g)", tc, i, j, got, w, d, relTol*sc)
				}
			}
		}
	}
}

// float64: the reference sums in float64 too, in another order; both are
// within k·ε of the exact value relative to Σ|a·b| (Higham, Accuracy and
// Stability, §3.1), so they differ by at most 2·(k+2)·ε·scale. With k ≤ 70
// that is below 2·72·2⁻⁵³ ≈ 1.6e-14; 4e-14 leaves room for the beta term.
func TestGemmFloat64(t *testing.T) { testGemm[float64](t, 4e-14) }

// float32: the kernel accumulates in float32 (ε = 2⁻²⁴ ≈ 6e-8), the
// reference in float64 from the same float32 inputs; 72·6e-8 ≈ 4.3e-6, so
// 1e-5 relative to Σ|a·b| is the brief's bound with a safety factor of 2.
func TestGemmFloat32(t *testing.T) { testGemm[float32](t, 1e-5) }

func TestGemmBackend(t *testing.T) {
	if b := GemmBackend(); b != "gonum" && b != "openblas" {
		t.Errorf("GemmBackend() = %q, want gonum or openblas", b)
	}
}

// Gemm on the shapes of the benchmark MLP's forward and backward passes
// must not allocate: the VM's zero-allocation promise rests on it.
func TestGemmAllocs(t *testing.T) {
	for _, s := range []struct {
		ta, tb  bool
		m, n, k int
	}{
		{false, false, 128, 300, 784}, {false, false, 128, 100, 300}, {false, false, 128, 10, 100},
		{false, true, 128, 784, 300}, {true, false, 784, 300, 128}, {true, true, 300, 200, 128},
	} {
		testGemmAllocs[float32](t, s.ta, s.tb, s.m, s.n, s.k)
		testGemmAllocs[float64](t, s.ta, s.tb, s.m, s.n, s.k)
	}
}

func testGemmAllocs[T Float](t *testing.T, ta, tb bool, m, n, k int) {
	t.Helper()
	a := make([]T, m*k)
	b := make([]T, k*n)
	c := make([]T, m*n)
	lda, ldb := k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	gemm := Gemm[T]()
	f := func() { gemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n) }
	f()
	if got := testing.AllocsPerRun(10, f); got != 0 {
		t.Errorf("Gemm[%T](%v, %v, %d, %d, %d) allocates %v times per call (backend %s), want 0", T(0), ta, tb, m, n, k, got, GemmBackend())
	}
}

func BenchmarkGemm(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{128, 300, 784}, {128, 100, 300}, {784, 300, 128}, {512, 512, 512}} {
		b.Run(fmt.Sprintf("%dx%dx%d/f32", s.m, s.n, s.k), func(b *testing.B) { benchGemm[float32](b, s.m, s.n, s.k) })
		b.Run(fmt.Sprintf("%dx%dx%d/f64", s.m, s.n, s.k), func(b *testing.B) { benchGemm[float64](b, s.m, s.n, s.k) })
	}
}

func benchGemm[T Float](b *testing.B, m, n, k int) {
	rng := rand.New(rand.NewPCG(3, 4))
	x, _ := matrix[T](rng, m, k, 0)
	y, _ := matrix[T](rng, k, n, 0)
	c := make([]T, m*n)
	gemm := Gemm[T]()
	b.ReportAllocs()
	b.SetBytes(int64(2 * m * n * k)) // "MB/s" reads as MFLOP/s
	for b.Loop() {
		gemm(false, false, m, n, k, 1, x, k, y, n, 0, c, n)
	}
	if c[0] != c[0] {
		b.Fatal("NaN in the result")
	}
}
