//go:build amd64 && !purego

package avx2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Each routine is run on operands that sit inside larger buffers filled
// with a sentinel: a routine that reads outside its operands poisons its
// result with NaN, one that writes outside them changes a sentinel. The
// results are compared with plain Go loops. (internal/kernel tests the
// routines in context, on thousands of shapes; these tests pin down their
// contracts, edges included.)

const guard = 64 // elements of sentinel before and after each operand

type float interface{ ~float32 | ~float64 }

// guarded returns a buffer with n elements between two guard zones, the
// elements drawn from rng (NaN if nan), and the n-element operand.
func guarded[T float](rng *rand.Rand, n int, nan bool) (buf, op []T) {
	buf = make([]T, n+2*guard)
	for i := range buf {
		buf[i] = T(math.NaN())
	}
	op = buf[guard : guard+n : guard+n]
	if !nan {
		for i := range op {
			op[i] = T(rng.Float64()*2 - 1)
		}
	}
	return buf, op
}

// checkGuards fails if a guard zone of buf no longer holds NaN.
func checkGuards[T float](t *testing.T, name string, buf []T) {
	t.Helper()
	for i, v := range buf {
		if (i < guard || i >= len(buf)-guard) && v == v {
			t.Fatalf("%s wrote %v outside its operand (buffer index %d of %d)", name, v, i, len(buf))
		}
	}
}

func near[T float](got, want, scale float64) bool {
	var tol float64 = 1e-13
	if _, ok := any(T(0)).(float32); ok {
		tol = 1e-5
	}
	return math.Abs(got-want) <= tol*(scale+1e-30)
}

type tileKernel[T float] func(k int, a, b []T, ldb int, c []T, ldc int, alpha, beta T)

// testTile checks an r×width kernel over `panels` tiles (0: the plain
// kernel), or, with w > 0, the masked one over its first w columns.
func testTile[T float](t *testing.T, name string, r, width, panels, w int, kern func(k int, a, b []T, ldb int, c []T, ldc int, alpha, beta T)) {
	rng := rand.New(rand.NewPCG(uint64(r), uint64(width)))
	cols := width
	if w > 0 {
		cols = w
	}
	np := max(panels, 1)
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 17, 64, 129} {
		for _, beta := range []T{0, 0.5} {
			ldb, ldc := cols+rng.IntN(3), cols+rng.IntN(3)
			aBuf, a := guarded[T](rng, np*k*r, false)
			bBuf, b := guarded[T](rng, (k-1)*ldb+cols, false)
			cBuf, c := guarded[T](rng, (np*r-1)*ldc+cols, beta == 0)
			orig := append([]T(nil), c...)
			alpha := T(1.5)
			kern(k, a, b, ldb, c, ldc, alpha, beta)
			what := fmt.Sprintf("%s(k=%d, ldb=%d, ldc=%d, beta=%v)", name, k, ldb, ldc, beta)
			checkGuards(t, what+" A", aBuf)
			checkGuards(t, what+" B", bBuf)
			checkGuards(t, what+" C", cBuf)
			for q := 0; q < np; q++ {
				for i := 0; i < r; i++ {
					row := q*r + i
					for j := 0; j < ldc && row*ldc+j < len(c); j++ {
						got := float64(c[row*ldc+j])
						if j >= cols { // between rows: C's own padding, not to be written
							if o := float64(orig[row*ldc+j]); got != o && !(got != got && o != o) {
								t.Fatalf("%s: wrote C[%d,%d] past the tile", what, row, j)
							}
							continue
						}
						var s, abs float64
						for p := 0; p < k; p++ {
							v := float64(a[q*k*r+p*r+i]) * float64(b[p*ldb+j])
							s += v
							abs += math.Abs(v)
						}
						want := float64(alpha) * s
						if beta != 0 {
							want += float64(beta) * float64(orig[row*ldc+j])
						}
						if !near[T](got, want, abs*1.5+1) {
							t.Fatalf("%s: C[%d,%d] = %v, want %v", what, row, j, got, want)
						}
					}
				}
			}
		}
	}
}

func TestKernels(t *testing.T) {
	if !Supported {
		t.Skip("no AVX2 and FMA")
	}
	s16 := []tileKernel[float32]{nil, KernS1x16, KernS2x16, KernS3x16, KernS4x16, KernS5x16, KernS6x16}
	s8 := []tileKernel[float32]{nil, KernS1x8, KernS2x8, KernS3x8, KernS4x8, KernS5x8, KernS6x8}
	d8 := []tileKernel[float64]{nil, KernD1x8, KernD2x8, KernD3x8, KernD4x8, KernD5x8, KernD6x8}
	d4 := []tileKernel[float64]{nil, KernD1x4, KernD2x4, KernD3x4, KernD4x4, KernD5x4, KernD6x4}
	for r := 1; r <= 6; r++ {
		testTile(t, fmt.Sprintf("KernS%dx16", r), r, 16, 0, 0, s16[r])
		testTile(t, fmt.Sprintf("KernS%dx8", r), r, 8, 0, 0, s8[r])
		testTile(t, fmt.Sprintf("KernD%dx8", r), r, 8, 0, 0, d8[r])
		testTile(t, fmt.Sprintf("KernD%dx4", r), r, 4, 0, 0, d4[r])
	}
	for _, panels := range []int{1, 2, 3} {
		p := panels
		testTile(t, "KernS6x16P", 6, 16, p, 0, func(k int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
			KernS6x16P(p, k, a, b, ldb, c, ldc, alpha, beta)
		})
		testTile(t, "KernS6x8P", 6, 8, p, 0, func(k int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
			KernS6x8P(p, k, a, b, ldb, c, ldc, alpha, beta)
		})
		testTile(t, "KernD6x8P", 6, 8, p, 0, func(k int, a, b []float64, ldb int, c []float64, ldc int, alpha, beta float64) {
			KernD6x8P(p, k, a, b, ldb, c, ldc, alpha, beta)
		})
		testTile(t, "KernD6x4P", 6, 4, p, 0, func(k int, a, b []float64, ldb int, c []float64, ldc int, alpha, beta float64) {
			KernD6x4P(p, k, a, b, ldb, c, ldc, alpha, beta)
		})
	}
}

func TestMaskedKernels(t *testing.T) {
	if !Supported {
		t.Skip("no AVX2 and FMA")
	}
	type masked32 func(k int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, w int)
	type masked64 func(k int, a, b []float64, ldb int, c []float64, ldc int, alpha, beta float64, w int)
	s16 := []masked32{nil, KernS1x16M, KernS2x16M, KernS3x16M, KernS4x16M, KernS5x16M, KernS6x16M}
	s8 := []masked32{nil, KernS1x8M, KernS2x8M, KernS3x8M, KernS4x8M, KernS5x8M, KernS6x8M}
	d8 := []masked64{nil, KernD1x8M, KernD2x8M, KernD3x8M, KernD4x8M, KernD5x8M, KernD6x8M}
	d4 := []masked64{nil, KernD1x4M, KernD2x4M, KernD3x4M, KernD4x4M, KernD5x4M, KernD6x4M}
	bind32 := func(f masked32, w int) tileKernel[float32] {
		return func(k int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
			f(k, a, b, ldb, c, ldc, alpha, beta, w)
		}
	}
	bind64 := func(f masked64, w int) tileKernel[float64] {
		return func(k int, a, b []float64, ldb int, c []float64, ldc int, alpha, beta float64) {
			f(k, a, b, ldb, c, ldc, alpha, beta, w)
		}
	}
	for r := 1; r <= 6; r++ {
		for w := 9; w < 16; w++ {
			testTile(t, fmt.Sprintf("KernS%dx16M(w=%d)", r, w), r, 16, 0, w, bind32(s16[r], w))
		}
		for w := 1; w < 8; w++ {
			testTile(t, fmt.Sprintf("KernS%dx8M(w=%d)", r, w), r, 8, 0, w, bind32(s8[r], w))
		}
		for w := 5; w < 8; w++ {
			testTile(t, fmt.Sprintf("KernD%dx8M(w=%d)", r, w), r, 8, 0, w, bind64(d8[r], w))
		}
		for w := 1; w < 4; w++ {
			testTile(t, fmt.Sprintf("KernD%dx4M(w=%d)", r, w), r, 4, 0, w, bind64(d4[r], w))
		}
	}
}

type dotKernel[T float] func(k int, a []T, lda int, b []T, ldb int, c []T, ldc int, alpha, beta T)

func testDot[T float](t *testing.T, name string, r, cols int, kern dotKernel[T]) {
	rng := rand.New(rand.NewPCG(uint64(r), uint64(cols)))
	for k := 1; k <= 40; k++ {
		for _, beta := range []T{0, -2} {
			lda, ldb, ldc := k+rng.IntN(3), k+rng.IntN(3), cols+rng.IntN(3)
			aBuf, a := guarded[T](rng, (r-1)*lda+k, false)
			bBuf, b := guarded[T](rng, (cols-1)*ldb+k, false)
			cBuf, c := guarded[T](rng, (r-1)*ldc+cols, beta == 0)
			orig := append([]T(nil), c...)
			kern(k, a, lda, b, ldb, c, ldc, 0.5, beta)
			what := fmt.Sprintf("%s(k=%d, beta=%v)", name, k, beta)
			checkGuards(t, what+" A", aBuf)
			checkGuards(t, what+" B", bBuf)
			checkGuards(t, what+" C", cBuf)
			for i := 0; i < r; i++ {
				for j := 0; j < cols; j++ {
					var s, abs float64
					for l := 0; l < k; l++ {
						v := float64(a[i*lda+l]) * float64(b[j*ldb+l])
						s += v
						abs += math.Abs(v)
					}
					want := 0.5 * s
					if beta != 0 {
						want += float64(beta) * float64(orig[i*ldc+j])
					}
					if got := float64(c[i*ldc+j]); !near[T](got, want, abs+2) {
						t.Fatalf("%s: C[%d,%d] = %v, want %v", what, i, j, got, want)
					}
				}
			}
		}
	}
}

func TestDotKernels(t *testing.T) {
	if !Supported {
		t.Skip("no AVX2 and FMA")
	}
	testDot(t, "KernDotS1x4", 1, 4, KernDotS1x4)
	testDot(t, "KernDotS2x4", 2, 4, KernDotS2x4)
	testDot(t, "KernDotS1x1", 1, 1, KernDotS1x1)
	testDot(t, "KernDotS2x1", 2, 1, KernDotS2x1)
	testDot(t, "KernDotD1x4", 1, 4, KernDotD1x4)
	testDot(t, "KernDotD2x4", 2, 4, KernDotD2x4)
	testDot(t, "KernDotD1x1", 1, 1, KernDotD1x1)
	testDot(t, "KernDotD2x1", 2, 1, KernDotD2x1)
}

// testPack checks a packer that sets d[l·w+i] = src[at(l, i)] for l < k,
// i < w, k a multiple of step.
func testPack[T float](t *testing.T, name string, w, step int, trans bool, pack func(d, src []T, ld, k int)) {
	rng := rand.New(rand.NewPCG(7, uint64(w)))
	for k := 0; k <= 5*step; k += step {
		ld := w + k + rng.IntN(5)
		n := (w-1)*ld + k // trans: w rows of k
		if !trans {
			n = max(0, (k-1)*ld+w) // k rows of w
		}
		sBuf, src := guarded[T](rng, n, false)
		dBuf, d := guarded[T](rng, k*w, true)
		if k == 0 {
			continue
		}
		pack(d, src, ld, k)
		what := fmt.Sprintf("%s(k=%d, ld=%d)", name, k, ld)
		checkGuards(t, what+" src", sBuf)
		checkGuards(t, what+" d", dBuf)
		for l := 0; l < k; l++ {
			for i := 0; i < w; i++ {
				var want T
				if trans {
					want = src[i*ld+l]
				} else {
					want = src[l*ld+i]
				}
				if got := d[l*w+i]; got != want {
					t.Fatalf("%s: d[%d] = %v, want %v", what, l*w+i, got, want)
				}
			}
		}
	}
}

func TestPackers(t *testing.T) {
	if !Supported {
		t.Skip("no AVX2 and FMA")
	}
	testPack(t, "PackTransS16", 16, 8, true, PackTransS16)
	testPack(t, "PackTransS6", 6, 8, true, PackTransS6)
	testPack(t, "PackTransD8", 8, 4, true, PackTransD8)
	testPack(t, "PackTransD6", 6, 4, true, PackTransD6)
	testPack(t, "PackCopyS16", 16, 1, false, PackCopyS16)
	testPack(t, "PackCopyD8", 8, 1, false, PackCopyD8)
	testPack(t, "PackCopyS6", 6, 1, false, PackCopyS6)
	testPack(t, "PackCopyD6", 6, 1, false, PackCopyD6)
}
