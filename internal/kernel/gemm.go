package kernel

// GemmFunc computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n; lda, ldb and
// ldc are the row strides of A, B and C as stored. When beta is zero C is
// only written (a NaN in it does not survive); when alpha is zero A and B
// are not read.
type GemmFunc[T Float] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// Gemm returns the GEMM of the build for element type T: by default the
// packed pure-Go GEMM of this package (gemm_packed.go) with AVX2+FMA
// assembly micro-kernels on amd64 CPUs that have them and portable Go
// micro-kernels elsewhere or with the build tag purego; OpenBLAS with the
// build tag openblas. Resolve it once, when a kernel is bound; the returned
// function allocates nothing. It panics with a "kernel:" message when a
// slice is too short for its matrix or a leading dimension too small.
func Gemm[T Float]() GemmFunc[T] {
	var f any
	if Is64[T]() {
		f = GemmFunc[float64](guard(dgemm))
	} else {
		f = GemmFunc[float32](guard(sgemm))
	}
	return f.(GemmFunc[T])
}

// GemmBackend names the GEMM behind Gemm: "go-avx2" (the packed GEMM with
// its assembly micro-kernels), "go-portable" (the packed GEMM in plain Go:
// the purego build, or a CPU without AVX2 and FMA) or "openblas".
func GemmBackend() string { return backend }

// guard handles the degenerate sizes that BLAS implementations reject or
// treat inconsistently: an empty C does nothing; k == 0 scales C by beta.
func guard[T Float](f GemmFunc[T]) GemmFunc[T] {
	return func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
		if m == 0 || n == 0 {
			return
		}
		if k == 0 {
			checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
			scaleC(beta, c, m, n, ldc)
			return
		}
		f(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// checkGemm panics, like gonum's BLAS, when a dimension is negative or a
// slice is too short for the matrix it is said to hold: the assembly
// micro-kernels and OpenBLAS would read or write out of bounds.
func checkGemm(transA, transB bool, m, n, k, na, lda, nb, ldb, nc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("kernel: gemm: negative dimension")
	}
	ar, ac := dims(transA, m, k)
	br, bc := dims(transB, k, n)
	checkLen("A", na, ar, ac, lda)
	checkLen("B", nb, br, bc, ldb)
	checkLen("C", nc, m, n, ldc)
}

// checkLen checks a rows×cols matrix stored with leading dimension ld in
// have elements. An empty matrix is not read, whatever its ld (the VM binds
// an m×0 operand with ld 0).
func checkLen(name string, have, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols || have < (rows-1)*ld+cols {
		panic("kernel: gemm: " + name + " too short or bad leading dimension")
	}
}

// dims returns the stored shape of a rows×cols operand, transposed or not.
func dims(trans bool, rows, cols int) (int, int) {
	if trans {
		return cols, rows
	}
	return rows, cols
}
