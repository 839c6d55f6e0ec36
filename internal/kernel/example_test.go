package kernel_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/internal/kernel"
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C on row-major slices. Here a
// 2×3 matrix times a 3×2 matrix, then the same product with A stored
// transposed (3×2) and flagged as such.
func ExampleGemm() {
	gemm := kernel.Gemm[float64]() // resolve once, call many times

	a := []float64{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float64{
		1, 0,
		0, 1,
		1, 1,
	}
	c := make([]float64, 4)
	gemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)

	at := []float64{ // Aᵀ as stored
		1, 4,
		2, 5,
		3, 6,
	}
	gemm(true, false, 2, 2, 3, 1, at, 2, b, 2, 0, c, 2)
	fmt.Println(c)
	// Output:
	// [4 5 10 11]
	// [4 5 10 11]
}

// For spreads a loop over the worker pool in contiguous chunks; every index
// is visited exactly once.
func ExampleFor() {
	squares := make([]int, 100000)
	kernel.For(len(squares), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			squares[i] = i * i
		}
	})
	fmt.Println(squares[3], squares[99999])
	// Output: 9 9999800001
}
