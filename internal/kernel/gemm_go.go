//go:build !openblas

package kernel

// The default build's GEMM is the packed GEMM of gemm_packed.go, with the
// AVX2+FMA micro-kernels where the CPU has them (not in the purego build)
// and the portable ones elsewhere.

var (
	defaultGemm32 = newPackedGemm(gemmKernels[float32]())
	defaultGemm64 = newPackedGemm(gemmKernels[float64]())
	backend       = "go-" + defaultGemm32.k.name
)

// gemmKernels returns the micro-kernels the default build uses: the
// assembly ones where the CPU runs them, else the portable ones.
func gemmKernels[T Float]() *microKernels[T] {
	if k := asmKernels[T](); k != nil {
		return k
	}
	return portableKernels[T]()
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	defaultGemm32.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	defaultGemm64.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// setBLASThreads sets the threads of an external BLAS; there is none.
func setBLASThreads(int) {}
