package kernel

// Loop is the iteration plan of an element-wise op over operands that may
// broadcast: the output shape, coalesced (adjacent dimensions merged where
// every operand is contiguous across them), and each operand's strides, 0 on
// the dimensions it is broadcast along. Operand 0 is the output.
//
// The innermost dimension is a row; every operand's stride along it is 0 or
// 1 because buffers are contiguous. A kernel walks rows and runs a tight loop
// per row, picking the loop by the operands' inner strides.
type Loop struct {
	dims  []int   // coalesced dimensions, outermost first; at least one
	st    [][]int // st[k][d]: stride of operand k along dims[d]
	rows  int     // product of dims[:len(dims)-1]
	inner int     // dims[len(dims)-1]
}

// MaxOperands is the most operands (output included) a Loop supports.
const MaxOperands = 4

// NewLoop plans a loop over shape (the output's) for operands whose shapes
// broadcast to it numpy-style (trailing-aligned, 1 stretches). shapes[0] is
// usually shape itself; an operand with stride 0 on a dimension of size > 1
// is read (or, for reductions, accumulated) repeatedly.
func NewLoop(shape []int, shapes ...[]int) *Loop {
	if len(shapes) > MaxOperands {
		panic("kernel: too many operands for a loop")
	}
	r := len(shape)
	st := make([][]int, len(shapes))
	for k, s := range shapes {
		if len(s) > r {
			panic("kernel: operand rank above loop rank")
		}
		full := Strides(s)
		st[k] = make([]int, r)
		off := r - len(s)
		for d := 0; d < len(s); d++ {
			if s[d] == 1 && shape[off+d] != 1 {
				st[k][off+d] = 0
			} else {
				st[k][off+d] = full[d]
			}
		}
	}
	// drop dimensions of size 1, then merge neighbours where every operand's
	// outer stride equals its inner stride times the inner size
	var dims []int
	var keep []int
	for d := 0; d < r; d++ {
		if shape[d] != 1 {
			keep = append(keep, d)
		}
	}
	cst := make([][]int, len(shapes))
	for _, d := range keep {
		n := len(dims)
		if n > 0 {
			merge := true
			for k := range shapes {
				if cst[k][n-1] != st[k][d]*shape[d] {
					merge = false
					break
				}
			}
			if merge {
				dims[n-1] *= shape[d]
				for k := range shapes {
					cst[k][n-1] = st[k][d]
				}
				continue
			}
		}
		dims = append(dims, shape[d])
		for k := range shapes {
			cst[k] = append(cst[k], st[k][d])
		}
	}
	if len(dims) == 0 {
		dims = []int{1}
		for k := range shapes {
			cst[k] = []int{1}
		}
	}
	l := &Loop{dims: dims, st: cst, inner: dims[len(dims)-1], rows: 1}
	for _, d := range dims[:len(dims)-1] {
		l.rows *= d
	}
	for k := range shapes {
		if s := cst[k][len(dims)-1]; s != 0 && s != 1 {
			panic("kernel: non-contiguous innermost dimension")
		}
	}
	return l
}

// Rows is the number of rows (the product of all but the innermost
// coalesced dimension).
func (l *Loop) Rows() int { return l.rows }

// Inner is the length of a row.
func (l *Loop) Inner() int { return l.inner }

// InnerStride is operand k's stride along a row: 0 (broadcast) or 1.
func (l *Loop) InnerStride(k int) int { return l.st[k][len(l.dims)-1] }

// Offsets returns each operand's offset at the start of row r.
func (l *Loop) Offsets(r int) [MaxOperands]int {
	var off [MaxOperands]int
	for d := len(l.dims) - 2; d >= 0 && r > 0; d-- {
		i := r % l.dims[d]
		r /= l.dims[d]
		for k := range l.st {
			off[k] += i * l.st[k][d]
		}
	}
	return off
}

// Span returns operand k's row starting at off: the whole row, or one
// element when the operand is broadcast along it.
func Span[T Float](l *Loop, k int, buf []T, off int) []T {
	if l.InnerStride(k) == 0 {
		return buf[off : off+1]
	}
	return buf[off : off+l.inner]
}

// Mode says which operands of a binary element-wise row are broadcast
// scalars: VV both rows, VS the second is one value, SV the first is.
type Mode uint8

// The three row modes of a binary element-wise op.
const (
	VV Mode = iota
	VS
	SV
)

// BinaryRow computes one row of a binary element-wise op: d[i] = f(a[i], b[i])
// for mode VV, f(a[i], b[0]) for VS, f(a[0], b[i]) for SV.
type BinaryRow[T Float] func(m Mode, d, a, b []T)

// BindBinary binds a broadcasting binary element-wise kernel: out has shape
// out, a and b shapes sa and sb. The rows are spread over the worker pool
// when the output is large.
func BindBinary[T Float](out, sa, sb []int, d, a, b []T, row BinaryRow[T]) func() {
	l := NewLoop(out, out, sa, sb)
	mode := VV
	switch {
	case l.InnerStride(1) == 1 && l.InnerStride(2) == 0:
		mode = VS
	case l.InnerStride(1) == 0 && l.InnerStride(2) == 1:
		mode = SV
	case l.InnerStride(1) == 0 && l.InnerStride(2) == 0:
		// both broadcast along the row: only possible when the row has
		// length 1, which coalescing removes unless everything is scalar
		mode = VV
	}
	inner := l.Inner()
	if l.Rows() == 1 {
		// one contiguous row: split it across the pool
		split := func(lo, hi int) {
			switch mode {
			case VV:
				row(mode, d[lo:hi], a[lo:hi], b[lo:hi])
			case VS:
				row(mode, d[lo:hi], a[lo:hi], b)
			case SV:
				row(mode, d[lo:hi], a, b[lo:hi])
			}
		}
		return func() { For(inner, ElementGrain, split) }
	}
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := l.Offsets(r)
			row(mode, d[o[0]:o[0]+inner], Span(l, 1, a, o[1]), Span(l, 2, b, o[2]))
		}
	}
	grain := max(1, ElementGrain/max(1, inner))
	rows := l.Rows()
	return func() { For(rows, grain, body) }
}

// UnaryRow computes one contiguous run of a unary element-wise op.
type UnaryRow[T Float] func(d, x []T)

// BindUnary binds a unary element-wise kernel over equal-length buffers,
// spread over the pool when large.
func BindUnary[T Float](d, x []T, row UnaryRow[T]) func() {
	n := len(d)
	body := func(lo, hi int) { row(d[lo:hi], x[lo:hi]) }
	return func() { For(n, ElementGrain, body) }
}
