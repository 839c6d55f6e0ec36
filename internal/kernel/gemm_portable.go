package kernel

// The portable micro-kernels: plain Go, for CPUs without the assembly ones
// and for the purego build. They read the same packed panels as the
// assembly kernels (6 rows; 16 float32 or 8 float64 columns) and walk the
// tile row by row, four columns at a time (see block1x4).

var (
	portableKernels32 = newPortableKernels[float32](6, 16)
	portableKernels64 = newPortableKernels[float64](6, 8)
)

func portableKernels[T Float]() *microKernels[T] {
	var k any = portableKernels32
	if Is64[T]() {
		k = portableKernels64
	}
	return k.(*microKernels[T])
}

func newPortableKernels[T Float](mr, nr int) *microKernels[T] {
	ks := &microKernels[T]{name: "portable", mr: mr, nr: nr,
		gemvN: portableGemvN[T], gemvT: portableGemvT[T], gemvMinN: 8, gemvMinT: 1}
	for r := 1; r <= mr; r++ {
		ks.wide[r] = portableKernel[T](r, nr)
		ks.narrow[r] = portableKernel[T](r, nr/2)
		ks.wideM[r] = portableMasked[T](r)
		ks.narrowM[r] = portableMasked[T](r)
	}
	for r := 1; r <= 2; r++ {
		ks.dot4[r] = portableDot[T](r, 4)
		ks.dot1[r] = portableDot[T](r, 1)
	}
	return ks
}

// portableDot returns the r×c dot-product kernel (c = 4 or 1).
func portableDot[T Float](r, c int) dotKernel[T] {
	return func(k int, a []T, lda int, b []T, ldb int, cs []T, ldc int, alpha, beta T) {
		for i := 0; i < r; i++ {
			ai := a[i*lda:][:k]
			ci := cs[i*ldc:][:c]
			if c == 4 {
				s0, s1, s2, s3 := dot1x4(ai, b, ldb)
				store4(ci, s0, s1, s2, s3, alpha, beta)
				continue
			}
			var s T
			for l, v := range b[:k] {
				s += ai[l] * v
			}
			if beta == 0 {
				ci[0] = alpha * s
			} else {
				ci[0] = alpha*s + beta*ci[0]
			}
		}
	}
}

// dot1x4 returns the dot products of a with rows 0…3 of b (ldb apart).
func dot1x4[T Float](a, b []T, ldb int) (s0, s1, s2, s3 T) {
	k := len(a)
	b0 := b[:k]
	b1 := b[ldb:][:k]
	b2 := b[2*ldb:][:k]
	b3 := b[3*ldb:][:k]
	for l, v := range a {
		s0 += v * b0[l]
		s1 += v * b1[l]
		s2 += v * b2[l]
		s3 += v * b3[l]
	}
	return
}

// portableMasked returns the r-row kernel for the first w columns of a
// tile, any w.
func portableMasked[T Float](r int) maskedKernel[T] {
	return func(k int, a, b []T, ldb int, c []T, ldc int, alpha, beta T, w int) {
		a = a[:k*r]
		b = b[:(k-1)*ldb+w]
		w4 := w &^ 3
		for i := 0; i < r; i++ {
			for j := 0; j < w4; j += 4 {
				block1x4(k, a[i:], r, b[j:], ldb, c[i*ldc+j:], alpha, beta)
			}
		}
		for i := 0; i < r; i++ {
			for j := w4; j < w; j++ {
				var s T
				for p := 0; p < k; p++ {
					s += a[p*r+i] * b[p*ldb+j]
				}
				ci := &c[i*ldc+j]
				if beta == 0 {
					*ci = alpha * s
				} else {
					*ci = alpha*s + beta**ci
				}
			}
		}
	}
}

// portableKernel returns the r×w micro-kernel (w a multiple of 4).
func portableKernel[T Float](r, w int) microKernel[T] {
	return func(k int, a, b []T, ldb int, c []T, ldc int, alpha, beta T) {
		a = a[:k*r]
		b = b[:(k-1)*ldb+w]
		for i := 0; i < r; i++ {
			for j := 0; j < w; j += 4 {
				block1x4(k, a[i:], r, b[j:], ldb, c[i*ldc+j:], alpha, beta)
			}
		}
	}
}

// block1x4 computes a 1×4 block of C from a (a value every lda) and b (4
// values every ldb). One row at a time: four sums, four products and the
// value of A in registers, each value of B read once, straight into its
// multiply. Larger blocks read less but spill on amd64: SSE's two-operand
// multiply needs a register per product, Go's scheduler issues all the
// multiplies of a step before its adds, and there are fifteen registers
// (a 1×8 block runs at two thirds of this one's speed, a 2×4 at four
// fifths). Unrolling k by two lengthens the chains of adds and loses too.
func block1x4[T Float](k int, a []T, lda int, b []T, ldb int, c []T, alpha, beta T) {
	var c0, c1, c2, c3 T
	pa, pb := 0, 0
	for range k {
		a0 := a[pa]
		bs := b[pb : pb+4 : pb+4]
		c0 += a0 * bs[0]
		c1 += a0 * bs[1]
		c2 += a0 * bs[2]
		c3 += a0 * bs[3]
		pa += lda
		pb += ldb
	}
	store4(c[:4:4], c0, c1, c2, c3, alpha, beta)
}

func store4[T Float](c []T, v0, v1, v2, v3, alpha, beta T) {
	c = c[:4:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	c[0] = alpha*v0 + beta*c[0]
	c[1] = alpha*v1 + beta*c[1]
	c[2] = alpha*v2 + beta*c[2]
	c[3] = alpha*v3 + beta*c[3]
}

// portableGemvN is the GEMV kernel y = alpha·x·B + beta·y for B stored
// k×n (see gemvNKernel): the rows of B eight at a time (the last k mod 8
// four, then one at a time), each element's sum taking them in the order
// of l. Eight rows a pass measured faster than four (by 10–20%) or two.
func portableGemvN[T Float](n, k int, x, b []T, ldb int, y, s []T, alpha, beta T) {
	s = s[:n]
	clear(s)
	l := 0
	for ; l+8 <= k; l += 8 {
		x0, x1, x2, x3, x4, x5, x6, x7 := x[l], x[l+1], x[l+2], x[l+3], x[l+4], x[l+5], x[l+6], x[l+7]
		b0 := b[l*ldb:][:len(s)]
		b1 := b[(l+1)*ldb:][:len(s)]
		b2 := b[(l+2)*ldb:][:len(s)]
		b3 := b[(l+3)*ldb:][:len(s)]
		b4 := b[(l+4)*ldb:][:len(s)]
		b5 := b[(l+5)*ldb:][:len(s)]
		b6 := b[(l+6)*ldb:][:len(s)]
		b7 := b[(l+7)*ldb:][:len(s)]
		for j := range s {
			s[j] += x0*b0[j] + x1*b1[j] + x2*b2[j] + x3*b3[j] + x4*b4[j] + x5*b5[j] + x6*b6[j] + x7*b7[j]
		}
	}
	if l+4 <= k {
		x0, x1, x2, x3 := x[l], x[l+1], x[l+2], x[l+3]
		b0 := b[l*ldb:][:len(s)]
		b1 := b[(l+1)*ldb:][:len(s)]
		b2 := b[(l+2)*ldb:][:len(s)]
		b3 := b[(l+3)*ldb:][:len(s)]
		for j := range s {
			s[j] += x0*b0[j] + x1*b1[j] + x2*b2[j] + x3*b3[j]
		}
		l += 4
	}
	for ; l < k; l++ {
		xl := x[l]
		bl := b[l*ldb:][:len(s)]
		for j := range s {
			s[j] += xl * bl[j]
		}
	}
	y = y[:len(s)]
	if beta == 0 {
		for j, v := range s {
			y[j] = alpha * v
		}
		return
	}
	for j, v := range s {
		y[j] = alpha*v + beta*y[j]
	}
}

// portableGemvT is the GEMV kernel y = alpha·B·x + beta·y for B stored
// n×k (see gemvTKernel): dot products with four rows of B at a time, each
// summed in the order of l.
func portableGemvT[T Float](n, k int, x, b []T, ldb int, y []T, alpha, beta T) {
	x = x[:k]
	j := 0
	for ; j+4 <= n; j += 4 {
		s0, s1, s2, s3 := dot1x4(x, b[j*ldb:], ldb)
		store4(y[j:], s0, s1, s2, s3, alpha, beta)
	}
	for ; j < n; j++ {
		var s T
		for l, v := range b[j*ldb:][:k] {
			s += x[l] * v
		}
		if beta == 0 {
			y[j] = alpha * s
		} else {
			y[j] = alpha*s + beta*y[j]
		}
	}
}
