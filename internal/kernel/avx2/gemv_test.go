//go:build amd64 && !purego

package avx2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type gemvN[T float] func(n, k int, x, b []T, ldb int, y, s []T, alpha, beta T)

type gemvT[T float] func(n, k int, x, b []T, ldb int, y []T, alpha, beta T)

// gemvShapes are the (n, k) pairs the GEMV kernels are tested on: every
// remainder of n and k modulo the blocks (8 rows, 4 registers of lanes) and
// a few larger ones.
func gemvShapes() [][2]int {
	var s [][2]int
	for n := 1; n <= 40; n++ {
		for _, k := range []int{1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24} {
			s = append(s, [2]int{n, k})
		}
	}
	return append(s, [2]int{64, 100}, [2]int{100, 300}, [2]int{300, 33}, [2]int{10, 100}, [2]int{129, 257})
}

// testGemvN checks KernGemvN against plain loops, with s separate from y
// and, when beta is 0, s = y; then that computing the columns in two calls
// gives the same bits as one call.
func testGemvN[T float](t *testing.T, name string, kern gemvN[T]) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sh := range gemvShapes() {
		n, k := sh[0], sh[1]
		for _, beta := range []T{0, -2} {
			for _, alias := range []bool{false, true} {
				if alias && beta != 0 {
					continue
				}
				ldb := n + rng.IntN(3)
				xBuf, x := guarded[T](rng, k, false)
				bBuf, b := guarded[T](rng, (k-1)*ldb+n, false)
				yBuf, y := guarded[T](rng, n, beta == 0)
				sBuf, s := guarded[T](rng, n, true)
				if alias {
					s = y
				}
				orig := append([]T(nil), y...)
				kern(n, k, x, b, ldb, y, s, 0.5, beta)
				what := fmt.Sprintf("%s(n=%d, k=%d, ldb=%d, beta=%v, s=y: %v)", name, n, k, ldb, beta, alias)
				checkGuards(t, what+" x", xBuf)
				checkGuards(t, what+" B", bBuf)
				checkGuards(t, what+" y", yBuf)
				checkGuards(t, what+" s", sBuf)
				for j := 0; j < n; j++ {
					var sum, abs float64
					for l := 0; l < k; l++ {
						v := float64(x[l]) * float64(b[l*ldb+j])
						sum += v
						abs += math.Abs(v)
					}
					want := 0.5 * sum
					if beta != 0 {
						want += float64(beta) * float64(orig[j])
					}
					if got := float64(y[j]); !near[T](got, want, abs+2) {
						t.Fatalf("%s: y[%d] = %v, want %v", what, j, got, want)
					}
				}
				if n < 2 {
					continue
				}
				// the same columns in two calls, cut anywhere: the same bits
				cut := 1 + rng.IntN(n-1)
				y2 := append([]T(nil), orig...)
				s2 := make([]T, n)
				kern(cut, k, x, b, ldb, y2, s2, 0.5, beta)
				kern(n-cut, k, x, b[cut:], ldb, y2[cut:], s2[cut:], 0.5, beta)
				for j := range y2 {
					if y2[j] != y[j] {
						t.Fatalf("%s: y[%d] = %v in one call, %v in two cut at %d", what, j, y[j], y2[j], cut)
					}
				}
			}
		}
	}
}

// testGemvT checks KernGemvT against plain loops, then that computing the
// rows in two calls gives the same bits as one call.
func testGemvT[T float](t *testing.T, name string, kern gemvT[T]) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, sh := range gemvShapes() {
		n, k := sh[0], sh[1]
		for _, beta := range []T{0, -2} {
			ldb := k + rng.IntN(3)
			xBuf, x := guarded[T](rng, k, false)
			bBuf, b := guarded[T](rng, (n-1)*ldb+k, false)
			yBuf, y := guarded[T](rng, n, beta == 0)
			orig := append([]T(nil), y...)
			kern(n, k, x, b, ldb, y, 0.5, beta)
			what := fmt.Sprintf("%s(n=%d, k=%d, ldb=%d, beta=%v)", name, n, k, ldb, beta)
			checkGuards(t, what+" x", xBuf)
			checkGuards(t, what+" B", bBuf)
			checkGuards(t, what+" y", yBuf)
			for j := 0; j < n; j++ {
				var sum, abs float64
				for l := 0; l < k; l++ {
					v := float64(x[l]) * float64(b[j*ldb+l])
					sum += v
					abs += math.Abs(v)
				}
				want := 0.5 * sum
				if beta != 0 {
					want += float64(beta) * float64(orig[j])
				}
				if got := float64(y[j]); !near[T](got, want, abs+2) {
					t.Fatalf("%s: y[%d] = %v, want %v", what, j, got, want)
				}
			}
			if n < 2 {
				continue
			}
			cut := 1 + rng.IntN(n-1)
			y2 := append([]T(nil), orig...)
			kern(cut, k, x, b, ldb, y2, 0.5, beta)
			kern(n-cut, k, x, b[cut*ldb:], ldb, y2[cut:], 0.5, beta)
			for j := range y2 {
				if y2[j] != y[j] {
					t.Fatalf("%s: y[%d] = %v in one call, %v in two cut at %d", what, j, y[j], y2[j], cut)
				}
			}
		}
	}
}

func TestGemvKernels(t *testing.T) {
	if !Supported {
		t.Skip("no AVX2 and FMA")
	}
	testGemvN(t, "KernGemvNS", KernGemvNS)
	testGemvN(t, "KernGemvND", KernGemvND)
	testGemvT(t, "KernGemvTS", KernGemvTS)
	testGemvT(t, "KernGemvTD", KernGemvTD)
}
