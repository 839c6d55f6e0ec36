package kernel

import "unsafe"

// The packed GEMM, in the manner of GotoBLAS and BLIS (Goto and van de
// Geijn, "Anatomy of high-performance matrix multiplication", 2008; Van Zee
// and van de Geijn, "BLIS", 2015). Five loops around a micro-kernel:
//
//	for jc over N in steps of nc             B block kc×nc: L3
//	  for pc over K in steps of kc
//	    pack B[pc:pc+kc, jc:jc+nc] into panels of nr columns
//	    for ic over M in steps of mc           A block mc×kc: L2
//	      pack A[ic:ic+mc, pc:pc+kc] into panels of mr rows
//	      for jr over the block in steps of nr   B panel kc×nr: L1
//	        for ir over the block in steps of mr
//	          micro-kernel: C[mr×nr] = alpha·Apanel·Bpanel + beta·C
//
// The micro-kernel keeps an mr×nr tile of C in registers for the whole kc
// loop (6×16 float32 or 6×8 float64: twelve YMM registers), so each value
// of A it loads feeds nr multiply-adds and each value of B mr. Packing puts
// the panels in the order the micro-kernel reads them, contiguous, whatever
// the transposes and leading dimensions: one micro-kernel serves the four
// transpose combinations. The loop over ir runs inside the assembly (one
// call a B panel, not one a tile), and the packers that transpose or copy
// are assembly too.
//
// Four departures from the textbook, each measured (BenchmarkGEMM and
// CPU-time runs on AMD Zen 4):
//
//   - A C with one row (batch-1 inference), or one column stored
//     contiguously, is a matrix-vector product and skips all of the above:
//     GEMV kernels read the matrix once, whole rows at a time, where it lies
//     (gemv.go). The micro-kernel would use one of its six rows and read B
//     in strips of 16 columns, ldb apart.
//   - An untransposed B is not packed when C has few rows (gemmDirectB,
//     gemmDirectBMax): the kernel reads its panels in place, ldb apart.
//     Packing a panel pays off only when many A panels reuse it.
//   - When B is transposed and C has at most gemmDotM rows, dot-product
//     kernels read rows of A and of B where they lie: with so few rows,
//     transposing B into panels would cost more than the product.
//   - The blocks are balanced: k = 300 runs as two blocks of 150, not as
//     256 and 44.
//
// Edges: a last panel of A with r < mr rows is packed r wide and computed by
// the r-row kernel; a last panel of B with w < nr columns by the half-width
// kernel if w = nr/2, else by a masked kernel, which reads B and reads and
// writes C through a mask of w columns. So any M, N, K and any leading
// dimension run at full speed but for a thin rim, and nothing outside the
// matrices is read or written.
//
// Threads: C is cut into a grid of at most Threads() parts, along M in
// multiples of mr and along N in multiples of nr (see grid); each part runs
// the loops above on its own packing buffers (see packedJob), so that a
// call allocates nothing once a first call has grown them to the shape.
// Every element is summed in the same order whatever the grid, so the
// result does not depend on the number of threads, to the bit.

// microKernel computes one tile of C: r rows (fixed by the kernel) by w
// columns (likewise), from k steps of a packed A panel (r values a step,
// contiguous) and of a B panel (w values a step, ldb apart):
//
//	c[i·ldc+j] = alpha·Σ_p a[p·r+i]·b[p·ldb+j] + beta·c[i·ldc+j]
//
// with c not read when beta == 0. The caller guarantees k ≥ 1 and that the
// slices hold everything the kernel touches: the assembly kernels do not
// check.
type microKernel[T Float] func(k int, a, b []T, ldb int, c []T, ldc int, alpha, beta T)

// microKernels is a family of micro-kernels for one element type: wide[r]
// computes r rows × nr columns, narrow[r] r rows × nr/2 columns, for
// r = 1…mr (mr ≤ 6).
type microKernels[T Float] struct {
	name         string
	mr, nr       int
	wide, narrow [7]microKernel[T]

	// The edge of C: wideM[r] computes the first w columns (nr/2 < w < nr)
	// of an r×nr tile, narrowM[r] the first w < nr/2 of an r×nr/2 one,
	// without reading B or C past them.
	wideM, narrowM [7]maskedKernel[T]

	// Optional: wide[mr] and narrow[mr] over several panels of A at once
	// (see panels).
	wideP, narrowP panelKernel[T]

	// Optional packers, faster than the Go loops: packBN copies nr
	// columns of an untransposed B, packAT mr columns of a transposed A,
	// for k steps; packBT transposes nr rows of a transposed B, packAN mr
	// rows of an untransposed A, for the first k steps, k a multiple of
	// packStep.
	packBN, packAT, packBT, packAN func(d, src []T, ld, k int)
	packStep                       int

	// Optional dot-product kernels for A·Bᵀ with few rows (see dotBlock):
	// dot4[r] computes r rows × 4 columns, dot1[r] r rows × 1 column, for
	// r = 1, 2.
	dot4, dot1 [3]dotKernel[T]

	// Optional GEMV kernels for C with one row or one column (see gemv.go).
	gemvN gemvNKernel[T]
	gemvT gemvTKernel[T]
	// gemvMinN and gemvMinT are the fewest elements of C that gemvN and
	// gemvT compute; below, the packed path was measured faster (gemvN's
	// sums are then too few to hide the latency of its multiply-adds).
	gemvMinN, gemvMinT int
}

// maskedKernel is a microKernel that computes only the first w columns of
// its tile and reads only the first w columns of B.
type maskedKernel[T Float] func(k int, a, b []T, ldb int, c []T, ldc int, alpha, beta T, w int)

// panelKernel computes the tiles of panels consecutive mr-row panels of A
// (panel q at a[q·mr·k:]) with the same B panel, into C rows q·mr… (panel q
// at c[q·mr·ldc:]): the loop over the panels of a block, in one call.
type panelKernel[T Float] func(panels, k int, a, b []T, ldb int, c []T, ldc int, alpha, beta T)

// dotKernel computes r×c elements of C (r and c fixed by the kernel) as dot
// products of rows of A and rows of B, both contiguous along k:
//
//	c[i·ldc+j] = alpha·Σ_l a[i·lda+l]·b[j·ldb+l] + beta·c[i·ldc+j]
//
// with c not read when beta == 0; any k ≥ 1.
type dotKernel[T Float] func(k int, a []T, lda int, b []T, ldb int, c []T, ldc int, alpha, beta T)

// Cache blocking. The B panel the micro-kernel streams (kc·nr elements) and
// the A panel (kc·mr) should sit in L1 (32 KiB a core on the machines we
// measure, AMD Zen 4), the A block (mc·kc) in L2 (1 MiB a core), the B block
// (kc·nc) in L3. With kc = 256 the B panel is 16 KiB in both types (16
// float32 or 8 float64 columns); mc·kc is 192 KiB (float32: 192×256;
// float64: 96×256), a fifth of L2, which leaves room for the B block's
// traffic and for a second hyper-thread; nc only bounds the B buffer. The
// loops balance the blocks: k = 300 runs as two blocks of 150, not 256 + 44.
// The constants were tuned with BenchmarkGEMM; they are not sensitive
// within a factor of two either side.
const (
	gemmKC   = 256
	gemmMC   = 96
	gemmNC32 = 4096
	gemmNC64 = 2048

	// An untransposed B is read in place rather than packed when C has
	// at most gemmDirectB rows, or at most gemmDirectBMax and B's rows are
	// not a multiple of 4 KiB apart. Packing costs a copy of B; reading in
	// place costs nothing but a stride, which the prefetchers follow well
	// unless every row falls in the same cache sets and a new page (AMD
	// Zen 4, measured by CPU time: reading in place is up to 10% faster
	// at m ≤ 128, packing up to 25% faster with 4 KiB strides at m ≥ 64).
	gemmDirectB    = 32
	gemmDirectBMax = 128

	// gemmDotM is the largest number of rows of C computed with the dot
	// kernels when B is transposed and A is not: with so few rows, packing
	// B (a transpose of all of it) costs more than the product, and dot
	// products read both operands where they lie.
	gemmDotM = 4

	// gemmParallelMin is the smallest m·n·k worth splitting over threads:
	// below it (about 30 µs of work on one core) handing a part to a
	// worker costs more than it saves.
	gemmParallelMin = 1 << 20

	// gemmPackCost is what packing an element costs, in multiply-adds of
	// the micro-kernel (which does 16 float32 a cycle; a packer moves 2 to
	// 4 elements a cycle), for grid's model.
	gemmPackCost = 6
)

// packedGemm is one GEMM: a family of micro-kernels with its blocking and
// its recycled call descriptors and packing buffers (bufs for calls on one
// thread, the descriptors' own for parallel calls).
type packedGemm[T Float] struct {
	k          *microKernels[T]
	kc, mc, nc int
	bufs       FreeList[packBuf[T]]
	jobs       FreeList[packedJob[T]]
	gemvJobs   FreeList[gemvJob[T]]
}

func newPackedGemm[T Float](k *microKernels[T]) *packedGemm[T] {
	g := &packedGemm[T]{k: k, kc: gemmKC, mc: gemmMC, nc: gemmNC32}
	if Is64[T]() {
		g.nc = gemmNC64
	}
	g.mc = roundUp(g.mc, k.mr)
	g.nc = roundUp(g.nc, k.nr)
	g.bufs.New = func() *packBuf[T] { return new(packBuf[T]) }
	g.jobs.New = func() *packedJob[T] {
		j := &packedJob[T]{g: g}
		j.body = j.run
		return j
	}
	g.gemvJobs.New = func() *gemvJob[T] {
		j := &gemvJob[T]{g: g}
		j.body = j.run
		return j
	}
	return g
}

// packBuf is one worker's scratch: the packed A block and the packed B
// block. The slices grow to the largest shape seen and are 64-byte aligned,
// so the micro-kernel's loads never split a cache line.
type packBuf[T Float] struct {
	a, b []T
}

func (p *packBuf[T]) reserve(na, nb int) {
	if len(p.a) < na {
		p.a = alignedSlice[T](na)
	}
	if len(p.b) < nb {
		p.b = alignedSlice[T](nb)
	}
}

// alignedSlice returns a slice of n elements whose first is 64-byte aligned.
func alignedSlice[T Float](n int) []T {
	size := int(unsafe.Sizeof(T(0)))
	s := make([]T, n+64/size)
	off := (64 - int(uintptr(unsafe.Pointer(&s[0]))%64)) % 64 / size
	return s[off : off+n : off+n]
}

// gemmArgs are the arguments of one call.
type gemmArgs[T Float] struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	a, b, c        []T
	lda, ldb, ldc  int
}

// packedJob carries a parallel call to the pool's workers; it is recycled
// so that its body closure is made once, not per call. It owns a set of
// packing buffers per part of the grid: whichever goroutine runs part p
// (the caller may run them all, if the workers are slow to come), part p of
// a shape always packs into bufs[p], so the buffers a shape needs are grown
// by its first call, never by a later one.
type packedJob[T Float] struct {
	g      *packedGemm[T]
	x      gemmArgs[T]
	tm, tn int // the grid: tm parts along M, tn along N
	bufs   []packBuf[T]
	body   func(lo, hi int)
}

// run computes parts [lo, hi) of the grid, row-major.
func (j *packedJob[T]) run(lo, hi int) {
	g, x := j.g, &j.x
	mp, np := ceilDiv(x.m, g.k.mr), ceilDiv(x.n, g.k.nr)
	for p := lo; p < hi; p++ {
		pi, pj := p/j.tn, p%j.tn
		i0, i1 := pi*mp/j.tm*g.k.mr, min(x.m, (pi+1)*mp/j.tm*g.k.mr)
		j0, j1 := pj*np/j.tn*g.k.nr, min(x.n, (pj+1)*np/j.tn*g.k.nr)
		g.block(&j.bufs[p], x, i0, i1, j0, j1)
	}
}

// gemm computes C = alpha·op(A)·op(B) + beta·C; see GemmFunc.
func (g *packedGemm[T]) gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(beta, c, m, n, ldc) // A and B are not read
		return
	}
	x := gemmArgs[T]{transA, transB, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc}
	if g.gemv(&x) {
		return
	}
	tm, tn := g.grid(transA, transB, m, n, k)
	if tm*tn == 1 {
		buf := g.bufs.Get()
		g.block(buf, &x, 0, m, 0, n)
		g.bufs.Put(buf)
		return
	}
	j := g.jobs.Get()
	j.x, j.tm, j.tn = x, tm, tn
	if len(j.bufs) < tm*tn {
		j.bufs = append(j.bufs, make([]packBuf[T], tm*tn-len(j.bufs))...)
	}
	For(tm*tn, 1, j.body)
	j.x = gemmArgs[T]{} // do not keep the caller's memory alive
	g.jobs.Put(j)
}

// grid chooses how to cut C over the threads: tm·tn ≤ Threads() parts, tm
// along M, tn along N, each a whole number of panels. It minimizes a model
// of the time of the slowest part: its share of the multiply-adds plus what
// it packs (its rows of A, unless the dot kernels or a one-row A need no
// packing; its columns of B when B is transposed), a packed element
// costing about as much as gemmPackCost multiply-adds.
func (g *packedGemm[T]) grid(transA, transB bool, m, n, k int) (tm, tn int) {
	t := Threads()
	if t == 1 || int64(m)*int64(n)*int64(k) < gemmParallelMin {
		return 1, 1
	}
	mr, nr := g.k.mr, g.k.nr
	mp, np := ceilDiv(m, mr), ceilDiv(n, nr)
	dot := g.useDot(transA, transB, m)
	tm, tn = 1, 1
	best := -1
	for a := 1; a <= min(t, mp); a++ {
		if dot && a > 1 {
			break // the dot kernels take all the rows of C
		}
		for b := 1; b <= min(t/a, np); b++ {
			rows := min(m, ceilDiv(mp, a)*mr)
			cols := min(n, ceilDiv(np, b)*nr)
			packed := 0
			if !dot && rows > 1 {
				packed += rows
			}
			if transB && !dot {
				packed += cols
			}
			cost := rows*cols + gemmPackCost*packed
			if best < 0 || cost < best {
				tm, tn, best = a, b, cost
			}
		}
	}
	return tm, tn
}

// block computes rows [i0, i1) and columns [j0, j1) of C, serially, with
// buf's buffers.
func (g *packedGemm[T]) block(buf *packBuf[T], x *gemmArgs[T], i0, i1, j0, j1 int) {
	mr, nr := g.k.mr, g.k.nr
	if g.useDot(x.transA, x.transB, x.m) {
		g.dotBlock(x, i0, i1, j0, j1)
		return
	}
	kc := balance(x.k, g.kc, 1)
	mc := balance(i1-i0, g.mc, mr)
	nc := balance(j1-j0, g.nc, nr)
	// An untransposed B is read where it lies (see macro) when C has so
	// few rows that each of its panels serves one or two micro-kernel
	// calls; otherwise B is packed. (The choice, like the dot kernels',
	// rests on all of C, not on this part, so that the thread count does
	// not change how an element is summed: the bits are the same.)
	direct := !x.transB && (x.m <= gemmDirectB ||
		x.m <= gemmDirectBMax && x.ldb*int(unsafe.Sizeof(x.alpha))%4096 != 0)
	if direct {
		buf.reserve(mc*kc, 0)
	} else {
		buf.reserve(mc*kc, kc*nc)
	}
	for jc := j0; jc < j1; jc += nc {
		ncur := min(nc, j1-jc)
		for pc := 0; pc < x.k; pc += kc {
			kcur := min(kc, x.k-pc)
			beta := x.beta
			if pc > 0 {
				beta = 1 // later blocks of k add into C
			}
			if !direct {
				packB(g.k, buf.b, x, pc, kcur, jc, ncur)
			}
			for ic := i0; ic < i1; ic += mc {
				mcur := min(mc, i1-ic)
				a := buf.a
				if mcur == 1 && !x.transA {
					a = x.a[ic*x.lda+pc:] // one row of A is its own packed panel
				} else {
					packA(g.k, a, x, ic, mcur, pc, kcur)
				}
				g.macro(buf, a, x, ic, mcur, jc, ncur, pc, kcur, beta, direct)
			}
		}
	}
}

// useDot reports whether the dot kernels compute C.
func (g *packedGemm[T]) useDot(transA, transB bool, m int) bool {
	return transB && !transA && m <= gemmDotM && g.k.dot4[1] != nil
}

// dotBlock computes rows [i0, i1) and columns [j0, j1) of C = A·Bᵀ with
// the dot kernels, two rows of C at a time, four columns at a time.
func (g *packedGemm[T]) dotBlock(x *gemmArgs[T], i0, i1, j0, j1 int) {
	for i := i0; i < i1; i += 2 {
		r := min(2, i1-i)
		a := x.a[i*x.lda:]
		j := j0
		for ; j+4 <= j1; j += 4 {
			g.k.dot4[r](x.k, a, x.lda, x.b[j*x.ldb:], x.ldb, x.c[i*x.ldc+j:], x.ldc, x.alpha, x.beta)
		}
		for ; j < j1; j++ {
			g.k.dot1[r](x.k, a, x.lda, x.b[j*x.ldb:], x.ldb, x.c[i*x.ldc+j:], x.ldc, x.alpha, x.beta)
		}
	}
}

// macro runs the micro-kernel over one packed A block (mcur×kcur, in a)
// and one B block (kcur×ncur, packed in buf.b, or in place when direct),
// into C at (ic, jc).
//
// B's last panel, w < nr columns wide, is computed straight into C by the
// half-width kernels if w = nr/2, else by the masked kernels, which read
// and write only its w columns.
func (g *packedGemm[T]) macro(buf *packBuf[T], a []T, x *gemmArgs[T], ic, mcur, jc, ncur, pc, kcur int, beta T, direct bool) {
	ks := g.k
	mr, nr := ks.mr, ks.nr
	for jr := 0; jr < ncur; jr += nr {
		w := min(nr, ncur-jr)
		var bp []T
		ldbp := nr
		if direct {
			bp, ldbp = x.b[pc*x.ldb+jc+jr:], x.ldb
		} else {
			bp = buf.b[jr*kcur:]
		}
		ci := ic*x.ldc + jc + jr
		switch {
		case w == nr:
			panels(ks.wideP, &ks.wide, mr, kcur, mcur, a, bp, ldbp, x.c[ci:], x.ldc, x.alpha, beta)
		case w == nr/2:
			panels(ks.narrowP, &ks.narrow, mr, kcur, mcur, a, bp, ldbp, x.c[ci:], x.ldc, x.alpha, beta)
		default: // the last panel of B, w < nr columns
			kern := &ks.wideM
			if w < nr/2 {
				kern = &ks.narrowM
			}
			for ir := 0; ir < mcur; ir += mr {
				r := min(mr, mcur-ir)
				kern[r](kcur, a[ir*kcur:], bp, ldbp, x.c[ci+ir*x.ldc:], x.ldc, x.alpha, beta, w)
			}
		}
	}
}

// panels runs the kernels of one width down the m rows of a block: the
// full mr-row panels with kp in one call if there is one, else one by one
// with ks[mr], then the last r < mr rows with ks[r].
func panels[T Float](kp panelKernel[T], ks *[7]microKernel[T], mr, k, m int, a, b []T, ldb int, c []T, ldc int, alpha, beta T) {
	full := m / mr
	if kp != nil && full > 0 {
		kp(full, k, a, b, ldb, c, ldc, alpha, beta)
	} else {
		for q := 0; q < full; q++ {
			ks[mr](k, a[q*mr*k:], b, ldb, c[q*mr*ldc:], ldc, alpha, beta)
		}
	}
	if r := m - full*mr; r > 0 {
		ks[r](k, a[full*mr*k:], b, ldb, c[full*mr*ldc:], ldc, alpha, beta)
	}
}

// packA packs op(A)[ic:ic+mcur, pc:pc+kcur] into dst as panels of mr rows:
// panel q holds, for each step l of k, its r rows' values (r = mr but in the
// last panel), at dst[q·mr·kcur + l·r + i].
func packA[T Float](ks *microKernels[T], dst []T, x *gemmArgs[T], ic, mcur, pc, kcur int) {
	mr := ks.mr
	for ir := 0; ir < mcur; ir += mr {
		r := min(mr, mcur-ir)
		d := dst[ir*kcur : (ir+r)*kcur]
		i := ic + ir
		if x.transA {
			// A is stored k×m: the r values of a step are contiguous
			if r == mr && ks.packAT != nil {
				ks.packAT(d, x.a[pc*x.lda+i:], x.lda, kcur)
			} else {
				packCopy(d, x.a[pc*x.lda+i:], x.lda, r, kcur)
			}
		} else {
			// A is stored m×k: a step's r values are lda apart
			src, l0 := x.a[i*x.lda+pc:], 0
			if r == mr && ks.packAN != nil {
				l0 = kcur - kcur%ks.packStep
				ks.packAN(d, src, x.lda, l0)
			}
			packTranspose(d, src, x.lda, r, l0, kcur)
		}
	}
}

// packB packs op(B)[pc:pc+kcur, jc:jc+ncur] into dst as panels of nr
// columns, each kcur·nr long: panel q holds, for each step l of k, nr values
// at dst[q·nr·kcur + l·nr + j]. Past the last column of B a panel holds
// whatever was there: column j of a product depends on column j of B only,
// and the columns of the tile computed from them are dropped (see macro).
func packB[T Float](ks *microKernels[T], dst []T, x *gemmArgs[T], pc, kcur, jc, ncur int) {
	nr := ks.nr
	for jr := 0; jr < ncur; jr += nr {
		w := min(nr, ncur-jr)
		d := dst[jr*kcur : (jr+nr)*kcur]
		j := jc + jr
		if !x.transB {
			// B is stored k×n: a step's w values are contiguous
			src := x.b[pc*x.ldb+j:]
			if w == nr && ks.packBN != nil {
				ks.packBN(d, src, x.ldb, kcur)
				continue
			}
			for l := 0; l < kcur; l++ {
				copy(d[l*nr:l*nr+w], src[l*x.ldb:l*x.ldb+w])
			}
		} else {
			// B is stored n×k: column j of op(B) is row j of B
			src, l0 := x.b[j*x.ldb+pc:], 0
			if w == nr && ks.packBT != nil {
				l0 = kcur - kcur%ks.packStep
				ks.packBT(d, src, x.ldb, l0)
			}
			packScatter(d, src, x.ldb, nr, w, l0, kcur)
		}
	}
}

// packCopy sets d[l·r+i] = src[l·ld+i] for l < k, i < r.
func packCopy[T Float](d, src []T, ld, r, k int) {
	if r == 6 {
		for l := 0; l < k; l++ {
			s := src[l*ld:][:6:6]
			e := d[l*6:][:6:6]
			e[0], e[1], e[2], e[3], e[4], e[5] = s[0], s[1], s[2], s[3], s[4], s[5]
		}
		return
	}
	for l := 0; l < k; l++ {
		copy(d[l*r:][:r], src[l*ld:][:r])
	}
}

// packTranspose sets d[l·r+i] = src[i·ld+l] for l0 ≤ l < k, i < r.
func packTranspose[T Float](d, src []T, ld, r, l0, k int) {
	if l0 == k {
		return
	}
	if r == 6 {
		s0 := src[l0:k]
		s1 := src[ld+l0 : ld+k]
		s2 := src[2*ld+l0 : 2*ld+k]
		s3 := src[3*ld+l0 : 3*ld+k]
		s4 := src[4*ld+l0 : 4*ld+k]
		s5 := src[5*ld+l0 : 5*ld+k]
		d = d[6*l0 : 6*k]
		for l := range s0 {
			e := d[l*6:][:6:6]
			e[0], e[1], e[2], e[3], e[4], e[5] = s0[l], s1[l], s2[l], s3[l], s4[l], s5[l]
		}
		return
	}
	for i := 0; i < r; i++ {
		s := src[i*ld+l0 : i*ld+k]
		e := d[l0*r+i:]
		for l, v := range s {
			e[l*r] = v
		}
	}
}

// packScatter sets d[l·nr+j] = src[j·ld+l] for l0 ≤ l < k, j < w.
func packScatter[T Float](d, src []T, ld, nr, w, l0, k int) {
	if l0 == k {
		return
	}
	for j := 0; j < w; j++ {
		s := src[j*ld+l0 : j*ld+k]
		e := d[l0*nr+j:]
		for l, v := range s {
			e[l*nr] = v
		}
	}
}

// scaleC sets the m×n matrix C to beta·C (to zero when beta == 0).
func scaleC[T Float](beta T, c []T, m, n, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// balance cuts total into the fewest blocks of at most max (a multiple of
// unit) and returns the block size, rounded up to unit, that makes them
// even.
func balance(total, max, unit int) int {
	if total <= 0 {
		return unit
	}
	blocks := ceilDiv(total, max)
	return roundUp(ceilDiv(total, blocks), unit)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
