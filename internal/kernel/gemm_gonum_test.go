package kernel

// gonum's BLAS, the reference the packed GEMM is tested and measured
// against. It was the default build's GEMM before the packed GEMM; it is
// kept here, tiled over the pool as it was, so that the benchmarks compare
// with what the default build used to run.

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var impl gonum.Implementation

// The method values, made once: taking impl.Sgemm at each call would
// allocate a closure.
var (
	gonumSgemm blasGemm[float32] = impl.Sgemm
	gonumDgemm blasGemm[float64] = impl.Dgemm
)

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gonumGemm returns gonum's GEMM for T behind the same guard as Gemm.
func gonumGemm[T Float]() GemmFunc[T] {
	var f any
	if Is64[T]() {
		f = GemmFunc[float64](guard(gonumTiledD))
	} else {
		f = GemmFunc[float32](guard(gonumTiledS))
	}
	return f.(GemmFunc[T])
}

func gonumTiledS(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tiledGemm(gonumSgemm, &sgemmJobs, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gonumTiledD(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	tiledGemm(gonumDgemm, &dgemmJobs, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gonum's Sgemm and Dgemm go parallel on their own when C has four or more
// 64×64 blocks, and then allocate on every call (a goroutine per block, a
// channel, a WaitGroup). To keep a compiled program's run free of
// allocation, tiledGemm does that tiling itself over the persistent pool:
// C is cut into tileSize×tileSize tiles, the tiles are spread with For, and
// each tile is a sequence of tileSize-deep calls into gonum, each of which
// is small enough for gonum's serial, allocation-free path. This is gonum's
// own blocking (its blockSize is 64), run on our workers.
const tileSize = 64

type blasGemm[T Float] func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// gemmJob carries one call's arguments to the pool's workers; it is
// recycled through a free list so that its body closure is made once, not
// per call.
type gemmJob[T Float] struct {
	f              blasGemm[T]
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	a, b, c        []T
	lda, ldb, ldc  int
	tilesN         int // tiles per row of C
	body           func(lo, hi int)
}

var (
	sgemmJobs = FreeList[gemmJob[float32]]{New: newGemmJob[float32]}
	dgemmJobs = FreeList[gemmJob[float64]]{New: newGemmJob[float64]}
)

func newGemmJob[T Float]() *gemmJob[T] {
	j := &gemmJob[T]{}
	j.body = j.run
	return j
}

func blocks(d int) int { return (d + tileSize - 1) / tileSize }

func tiledGemm[T Float](f blasGemm[T], jobs *FreeList[gemmJob[T]], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	tiles := blocks(m) * blocks(n)
	if tiles < 4 {
		// gonum stays serial (and allocation-free) below four tiles
		f(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	j := jobs.Get()
	j.f, j.transA, j.transB, j.m, j.n, j.k = f, transA, transB, m, n, k
	j.alpha, j.beta, j.a, j.b, j.c, j.lda, j.ldb, j.ldc = alpha, beta, a, b, c, lda, ldb, ldc
	j.tilesN = blocks(n)
	For(tiles, 1, j.body)
	j.a, j.b, j.c, j.f = nil, nil, nil, nil // do not keep the caller's memory alive
	jobs.Put(j)
}

// run computes tiles [lo, hi) of C, row-major over the tile grid.
func (j *gemmJob[T]) run(lo, hi int) {
	ta, tb := trans(j.transA), trans(j.transB)
	for t := lo; t < hi; t++ {
		i0, j0 := (t/j.tilesN)*tileSize, (t%j.tilesN)*tileSize
		mi, nj := min(tileSize, j.m-i0), min(tileSize, j.n-j0)
		c := j.c[i0*j.ldc+j0:]
		beta := j.beta
		for l0 := 0; l0 < j.k; l0 += tileSize {
			kl := min(tileSize, j.k-l0)
			var a, b []T
			if j.transA { // A is stored k×m
				a = j.a[l0*j.lda+i0:]
			} else {
				a = j.a[i0*j.lda+l0:]
			}
			if j.transB { // B is stored n×k
				b = j.b[j0*j.ldb+l0:]
			} else {
				b = j.b[l0*j.ldb+j0:]
			}
			j.f(ta, tb, mi, nj, kl, j.alpha, a, j.lda, b, j.ldb, beta, c, j.ldc)
			beta = 1
		}
	}
}
