//go:build openblas

package kernel

/*
#cgo LDFLAGS: -lopenblas
// The two CBLAS prototypes we use, declared here so that the build does not
// depend on where the distribution puts cblas.h.
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(const enum CBLAS_ORDER Order, const enum CBLAS_TRANSPOSE TransA, const enum CBLAS_TRANSPOSE TransB,
	const int M, const int N, const int K, const float alpha, const float *A, const int lda,
	const float *B, const int ldb, const float beta, float *C, const int ldc);
void cblas_dgemm(const enum CBLAS_ORDER Order, const enum CBLAS_TRANSPOSE TransA, const enum CBLAS_TRANSPOSE TransB,
	const int M, const int N, const int K, const double alpha, const double *A, const int lda,
	const double *B, const int ldb, const double beta, double *C, const int ldc);
void openblas_set_num_threads(int num_threads);
*/
import "C"

import (
	"os"
	"runtime"
)

const backend = "openblas"

// In the OpenBLAS build the pool's goroutines do not poll (spin = 0): the
// GEMMs run on OpenBLAS's own threads, which poll for work themselves, and
// Go workers polling beside them took their cores (measured, 2 threads:
// model A at batch 32 393 µs with blocking workers, 687 µs with polling
// ones; config C 4.3 ms against 10.1 ms).
func init() { spin = 0 }

// OpenBLAS starts as many threads as there are cores, whatever GOMAXPROCS
// says; its threads then compete with Go's. Unless OPENBLAS_NUM_THREADS
// (or OMP_NUM_THREADS) is set, use GOMAXPROCS threads, so that GOMAXPROCS=1
// means one thread everywhere.
func init() {
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" && os.Getenv("OMP_NUM_THREADS") == "" {
		C.openblas_set_num_threads(C.int(runtime.GOMAXPROCS(0)))
	}
}

// setBLASThreads sets the number of threads OpenBLAS uses (the benchmarks
// compare one and two).
func setBLASThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

func ctrans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	C.cblas_sgemm(C.CblasRowMajor, ctrans(transA), ctrans(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), (*C.float)(&a[0]), C.int(lda), (*C.float)(&b[0]), C.int(ldb),
		C.float(beta), (*C.float)(&c[0]), C.int(ldc))
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	C.cblas_dgemm(C.CblasRowMajor, ctrans(transA), ctrans(transB), C.int(m), C.int(n), C.int(k),
		C.double(alpha), (*C.double)(&a[0]), C.int(lda), (*C.double)(&b[0]), C.int(ldb),
		C.double(beta), (*C.double)(&c[0]), C.int(ldc))
}
