package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// broadcastOffset is the direct computation a Loop must agree with: the
// offset in an operand of shape s (trailing-aligned to out, 1 stretching) of
// the output element with multi-index idx.
func broadcastOffset(out, s, idx []int) int {
	off := len(out) - len(s)
	st := Strides(s)
	o := 0
	for d := range s {
		if s[d] != 1 {
			o += idx[off+d] * st[d]
		}
	}
	return o
}

// unravel returns the multi-index of flat index i in shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// randomBroadcast draws an output shape (rank 0..5, dimensions 0..4, 1 often)
// and n operand shapes that broadcast to it: a trailing part of it with some
// dimensions set to 1.
func randomBroadcast(rng *rand.Rand, n int, allowZero bool) (out []int, ops [][]int) {
	out = make([]int, rng.IntN(6))
	for i := range out {
		out[i] = 1 + rng.IntN(4)
		if rng.IntN(4) == 0 {
			out[i] = 1
		}
		if allowZero && rng.IntN(20) == 0 {
			out[i] = 0
		}
	}
	for range n {
		s := append([]int(nil), out[rng.IntN(len(out)+1):]...)
		for i := range s {
			if rng.IntN(3) == 0 {
				s[i] = 1
			}
		}
		ops = append(ops, s)
	}
	return out, ops
}

func TestLoopOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 2000 {
		out, ops := randomBroadcast(rng, 1+rng.IntN(MaxOperands-1), true)
		shapes := append([][]int{out}, ops...)
		l := NewLoop(out, shapes...)
		size := Size(out)
		if l.Rows()*l.Inner() != size {
			t.Fatalf("trial %d: NewLoop(%v, %v): Rows()·Inner() = %d·%d, want %d", trial, out, shapes, l.Rows(), l.Inner(), size)
		}
		for k := range shapes {
			if s := l.InnerStride(k); s != 0 && s != 1 {
				t.Fatalf("trial %d: NewLoop(%v, %v): InnerStride(%d) = %d, want 0 or 1", trial, out, shapes, k, s)
			}
		}
		for r := 0; r < l.Rows(); r++ {
			o := l.Offsets(r)
			for i := 0; i < l.Inner(); i++ {
				flat := r*l.Inner() + i
				idx := unravel(flat, out)
				for k, s := range shapes {
					got := o[k] + i*l.InnerStride(k)
					if want := broadcastOffset(out, s, idx); got != want {
						t.Fatalf("trial %d: NewLoop(%v, %v): operand %d at row %d, column %d (index %v) has offset %d, want %d",
							trial, out, shapes, k, r, i, idx, got, want)
					}
				}
			}
		}
	}
}

func TestLoopCoalesces(t *testing.T) {
	tests := []struct {
		out, a, b   []int
		rows, inner int
	}{
		{[]int{}, []int{}, []int{}, 1, 1},                       // scalars
		{[]int{2, 3, 4}, []int{2, 3, 4}, []int{2, 3, 4}, 1, 24}, // all contiguous: one row
		{[]int{2, 3, 4}, []int{2, 3, 4}, []int{4}, 6, 4},        // bias along the last axis
		{[]int{2, 3, 4}, []int{2, 3, 4}, []int{}, 1, 24},        // scalar: still one row
		{[]int{5, 1, 6}, []int{5, 1, 6}, []int{1, 1, 6}, 5, 6},  // size-1 axes dropped
		{[]int{4, 5}, []int{4, 1}, []int{1, 5}, 4, 5},           // outer product
	}
	for _, tc := range tests {
		l := NewLoop(tc.out, tc.out, tc.a, tc.b)
		if l.Rows() != tc.rows || l.Inner() != tc.inner {
			t.Errorf("NewLoop(%v, %v, %v): rows×inner = %d×%d, want %d×%d", tc.out, tc.a, tc.b, l.Rows(), l.Inner(), tc.rows, tc.inner)
		}
	}
}

func TestSpan(t *testing.T) {
	buf := []float64{0, 1, 2, 3, 4, 5}
	l := NewLoop([]int{2, 3}, []int{2, 3}, []int{2, 1})
	if got := Span(l, 0, buf, 3); len(got) != 3 || got[0] != 3 {
		t.Errorf("Span(full row at 3) = %v, want [3 4 5]", got)
	}
	if got := Span(l, 1, buf, 1); len(got) != 1 || got[0] != 1 {
		t.Errorf("Span(broadcast row at 1) = %v, want [1]", got)
	}
}

// subRow is a non-commutative row kernel (a − 2b), so a swapped operand or
// a wrong mode shows.
func subRow[T Float](m Mode, d, a, b []T) {
	for i := range d {
		x, y := a[0], b[0]
		if m != SV {
			x = a[i]
		}
		if m != VS {
			y = b[i]
		}
		d[i] = x - 2*y
	}
}

func fill[T Float](rng *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(rng.NormFloat64())
	}
	return s
}

// broadcast is numpy's rule for shapes known to be compatible.
func broadcast(a, b []int) []int {
	if len(a) < len(b) {
		a, b = b, a
	}
	out := append([]int(nil), a...)
	off := len(a) - len(b)
	for i, d := range b {
		if out[off+i] == 1 {
			out[off+i] = d
		}
	}
	return out
}

func TestBindBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var cases [][3][]int
	for range 500 {
		_, ops := randomBroadcast(rng, 2, true)
		// a binary op's output is the broadcast of its operands
		cases = append(cases, [3][]int{broadcast(ops[0], ops[1]), ops[0], ops[1]})
	}
	// large enough for the pool to split: one long row, many rows, broadcasts
	cases = append(cases,
		[3][]int{{3 * ElementGrain}, {3 * ElementGrain}, {3 * ElementGrain}},
		[3][]int{{3 * ElementGrain}, {3 * ElementGrain}, {}},
		[3][]int{{3 * ElementGrain}, {1}, {3 * ElementGrain}},
		[3][]int{{512, 300}, {512, 300}, {300}},
		[3][]int{{512, 300}, {512, 1}, {512, 300}},
		[3][]int{{700, 200}, {700, 1}, {1, 200}},
		[3][]int{{64, 3, 257}, {64, 1, 257}, {3, 1}},
	)
	for _, c := range cases {
		testBindBinary[float32](t, rng, c[0], c[1], c[2])
		testBindBinary[float64](t, rng, c[0], c[1], c[2])
	}
}

func testBindBinary[T Float](t *testing.T, rng *rand.Rand, out, sa, sb []int) {
	t.Helper()
	a, b := fill[T](rng, Size(sa)), fill[T](rng, Size(sb))
	want := make([]T, Size(out))
	for i := range want {
		idx := unravel(i, out)
		want[i] = a[broadcastOffset(out, sa, idx)] - 2*b[broadcastOffset(out, sb, idx)]
	}
	for _, procs := range []int{1, 2, 4} {
		withProcs(t, procs, func() {
			d := make([]T, Size(out))
			for i := range d {
				d[i] = T(math.NaN()) // every element must be written
			}
			BindBinary(out, sa, sb, d, a, b, subRow[T])()
			for i := range d {
				// the same float operations in the same order: bit-identical
				if d[i] != want[i] {
					t.Fatalf("BindBinary(%v, %v, %v) with GOMAXPROCS=%d: element %d = %v, want %v", out, sa, sb, procs, i, d[i], want[i])
				}
			}
		})
	}
}

func TestBindUnary(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 17, ElementGrain - 1, 2 * ElementGrain, 5*ElementGrain + 3} {
		x := fill[float32](rng, n)
		var serial []float32
		for _, procs := range []int{1, 2, 3, 8} {
			withProcs(t, procs, func() {
				d := make([]float32, n)
				BindUnary(d, x, func(d, x []float32) {
					for i := range d {
						d[i] = x[i]*x[i] + 1
					}
				})()
				if serial == nil {
					serial = d
					for i := range d {
						if want := x[i]*x[i] + 1; d[i] != want {
							t.Fatalf("BindUnary over %d: element %d = %v, want %v", n, i, d[i], want)
						}
					}
					return
				}
				for i := range d {
					if d[i] != serial[i] {
						t.Fatalf("BindUnary over %d with GOMAXPROCS=%d: element %d = %v, serial gives %v", n, procs, i, d[i], serial[i])
					}
				}
			})
		}
	}
}

func TestBindAllocatesNothing(t *testing.T) {
	withProcs(t, 4, func() {
		out := []int{512, 300}
		d, a, b := make([]float32, 512*300), make([]float32, 512*300), make([]float32, 300)
		run := BindBinary(out, out, []int{300}, d, a, b, subRow[float32])
		run()
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Errorf("a bound binary kernel allocated %v times per run, want 0", n)
		}
		u := BindUnary(d, a, func(d, x []float32) { copy(d, x) })
		u()
		if n := testing.AllocsPerRun(50, u); n != 0 {
			t.Errorf("a bound unary kernel allocated %v times per run, want 0", n)
		}
	})
}

func TestSizeStrides(t *testing.T) {
	tests := []struct {
		shape   []int
		size    int
		strides []int
	}{
		{nil, 1, []int{}},
		{[]int{5}, 5, []int{1}},
		{[]int{2, 3, 4}, 24, []int{12, 4, 1}},
		{[]int{3, 0, 2}, 0, []int{0, 2, 1}},
	}
	for _, tc := range tests {
		if got := Size(tc.shape); got != tc.size {
			t.Errorf("Size(%v) = %d, want %d", tc.shape, got, tc.size)
		}
		if got := Strides(tc.shape); fmt.Sprint(got) != fmt.Sprint(tc.strides) {
			t.Errorf("Strides(%v) = %v, want %v", tc.shape, got, tc.strides)
		}
	}
}

func TestIs64(t *testing.T) {
	if Is64[float32]() || !Is64[float64]() {
		t.Errorf("Is64[float32]() = %v, Is64[float64]() = %v; want false, true", Is64[float32](), Is64[float64]())
	}
}

func TestStatus(t *testing.T) {
	var s Status
	if err := s.Err(); err != nil {
		t.Fatalf("new Status: Err() = %v, want nil", err)
	}
	s.Fail("label %d out of range", 12)
	s.Fail("second")
	if err := s.Err(); err == nil || err.Error() != "label 12 out of range" {
		t.Errorf("Err() = %v, want the first failure", err)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() after Err() = %v, want nil (cleared)", err)
	}
}
