package kernel

// GemmFunc computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n; lda, ldb and
// ldc are the row strides of A, B and C as stored.
type GemmFunc[T Float] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// Gemm returns the GEMM of the build for element type T: gonum's pure-Go BLAS
// by default, OpenBLAS with the build tag openblas. Resolve it once, when a
// kernel is bound; the returned function allocates nothing.
func Gemm[T Float]() GemmFunc[T] {
	var f any
	if Is64[T]() {
		f = GemmFunc[float64](guard(dgemm))
	} else {
		f = GemmFunc[float32](guard(sgemm))
	}
	return f.(GemmFunc[T])
}

// GemmBackend names the BLAS behind Gemm: "gonum" or "openblas".
func GemmBackend() string { return backend }

// guard handles the degenerate sizes that BLAS implementations reject or
// treat inconsistently: an empty C does nothing; k == 0 scales C by beta.
func guard[T Float](f GemmFunc[T]) GemmFunc[T] {
	return func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
		if m == 0 || n == 0 {
			return
		}
		if k == 0 {
			for i := 0; i < m; i++ {
				row := c[i*ldc : i*ldc+n]
				if beta == 0 {
					clear(row)
				} else {
					for j := range row {
						row[j] *= beta
					}
				}
			}
			return
		}
		f(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}
