package kernel

// The GEMV path of the packed GEMM: C with a single row (batch-1
// inference: x·W), or a single column stored contiguously, is a
// matrix-vector product, and packing buys nothing there: each value of the
// matrix is used once. The GEMV kernels read the matrix once, where it
// lies, a whole row (or several) at a time:
//
//   - gemvN, y = alpha·x·B + beta·y with B stored k×n: the rows of B are
//     streamed whole, several at a time, each adding its multiple of x[l]
//     into partial sums held in L1 (s, n elements), so that every element
//     of y is the sum of its k products in the order of l.
//   - gemvT, y = alpha·B·x + beta·y with B stored n×k: dot products of x
//     with the rows of B, several rows at a time, reduced at the end.
//
// C = alpha·op(A)·op(B) + beta·C maps onto them so:
//
//	m = 1:           y = C's row,   x = op(A)'s row,     matrix op(B)
//	n = 1, ldc = 1:  y = C's column, x = op(B)'s column, matrix op(A)ᵀ
//
// the matrix stored as gemvN reads it (op(B) = B, op(A)ᵀ with A stored
// transposed) or as gemvT does. A vector stored with a stride (a column of
// a matrix) is first copied into the packing buffer, k elements. A strided
// column of C, and a y shorter than the kernels' gemvMinN or gemvMinT, go
// to the packed path (gemvN's sums, one chain of multiply-adds each, are
// then too few to keep the FMA units busy; the micro-kernel interleaves
// four chains an element).
//
// Measured on AMD Zen 4, one thread, float32 (BenchmarkGEMM; docs/gemm.md):
// x·W with W 784×300 runs at about 48 GFLOP/s against 36 for the packed
// path, which is what the caches deliver: the 940 KB of W come from L2 and
// L3 at about 100 GB/s, each of its values used for one multiply-add.
//
// Each element of y is computed by one kernel in an order that depends only
// on k, not on n or on where the element lies (the kernels guarantee it),
// so the parts a parallel call cuts y into give the same bits as one call.

// gemvN and gemvT are the GEMV kernels' types: for j < n, with k ≥ 1,
//
//	gemvN: y[j] = alpha·Σ_l x[l]·b[l·ldb+j] + beta·y[j]   (s: n elements of scratch, or y itself when beta == 0)
//	gemvT: y[j] = alpha·Σ_l x[l]·b[j·ldb+l] + beta·y[j]
//
// with y not read when beta == 0. Each element's result may depend on k
// and its operands only: not on n, nor on its index.
type (
	gemvNKernel[T Float] func(n, k int, x, b []T, ldb int, y, s []T, alpha, beta T)
	gemvTKernel[T Float] func(n, k int, x, b []T, ldb int, y []T, alpha, beta T)
)

// gemvArgs is one matrix-vector product: y[0:n] = alpha·x·op(mat) + beta·y,
// op(mat) k×n, stored k×n (ld apart) unless trans, then n×k; x has k
// elements inc apart.
type gemvArgs[T Float] struct {
	trans       bool
	n, k        int
	alpha, beta T
	x, mat, y   []T
	inc, ld     int
	s           []T // gemvN's partial sums
}

// gemvJob carries a parallel GEMV to the pool's workers; recycled, so that
// its body closure is made once.
type gemvJob[T Float] struct {
	g    *packedGemm[T]
	v    gemvArgs[T]
	body func(lo, hi int)
}

func (j *gemvJob[T]) run(lo, hi int) { j.g.gemvPart(&j.v, lo, hi) }

// gemv computes x's GEMM with the GEMV kernels when C has one row, or one
// column with ldc == 1, and the kernels exist; it reports whether it did.
// The caller has checked the arguments and handled k == 0 and alpha == 0.
func (g *packedGemm[T]) gemv(x *gemmArgs[T]) bool {
	if g.k.gemvN == nil || g.k.gemvT == nil {
		return false
	}
	v := gemvArgs[T]{k: x.k, alpha: x.alpha, beta: x.beta, y: x.c}
	switch {
	case x.m == 1: // C = op(A)[0,:]·op(B)
		v.trans, v.n, v.mat, v.ld = x.transB, x.n, x.b, x.ldb
		v.x, v.inc = x.a, 1
		if x.transA {
			v.inc = x.lda
		}
	case x.n == 1 && x.ldc == 1: // Cᵀ = op(B)[:,0]ᵀ·op(A)ᵀ
		v.trans, v.n, v.mat, v.ld = !x.transA, x.m, x.a, x.lda
		v.x, v.inc = x.b, 1
		if !x.transB {
			v.inc = x.ldb
		}
	default:
		return false
	}
	if !v.trans && v.n < g.k.gemvMinN || v.trans && v.n < g.k.gemvMinT {
		return false // too few columns to hide the multiply-adds' latency
	}
	// scratch: the vector, when strided; gemvN's partial sums, unless y
	// holds them
	var buf *packBuf[T]
	na, nb := 0, 0
	if v.inc != 1 {
		na = v.k
	}
	if !v.trans && v.beta != 0 {
		nb = v.n
	}
	if na+nb > 0 {
		buf = g.bufs.Get()
		buf.reserve(na, nb)
	}
	if v.inc != 1 {
		d := buf.a[:v.k]
		for l := range d {
			d[l] = v.x[l*v.inc]
		}
		v.x = d
	}
	v.x = v.x[:v.k]
	if !v.trans {
		v.s = v.y // beta == 0: y is not read, its elements hold their own sums
		if v.beta != 0 {
			v.s = buf.b[:v.n]
		}
	}
	if Threads() == 1 || int64(v.n)*int64(v.k) < gemmParallelMin {
		g.gemvPart(&v, 0, v.n)
	} else {
		j := g.gemvJobs.Get()
		j.v = v
		For(v.n, ceilDiv(gemmParallelMin/2, v.k), j.body)
		j.v = gemvArgs[T]{} // do not keep the caller's memory alive
		g.gemvJobs.Put(j)
	}
	if buf != nil {
		g.bufs.Put(buf)
	}
	return true
}

// gemvPart computes elements [lo, hi) of v's y.
func (g *packedGemm[T]) gemvPart(v *gemvArgs[T], lo, hi int) {
	if lo == hi {
		return
	}
	if v.trans {
		g.k.gemvT(hi-lo, v.k, v.x, v.mat[lo*v.ld:], v.ld, v.y[lo:hi], v.alpha, v.beta)
	} else {
		g.k.gemvN(hi-lo, v.k, v.x, v.mat[lo:], v.ld, v.y[lo:hi], v.s[lo:hi], v.alpha, v.beta)
	}
}
