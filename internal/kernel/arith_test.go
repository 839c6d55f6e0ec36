package kernel_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/tapegrad/tapegrad/internal/kernel"
)

type binaryRowCase[T kernel.Float] struct {
	name        string
	row, goLoop kernel.BinaryRow[T]
	f           func(x, y T) T      // the element function the row computes
	fn          kernel.BinaryRow[T] // the row as …RowFunc returns it
}

type unaryRowCase[T kernel.Float] struct {
	name        string
	row, goLoop kernel.UnaryRow[T]
	f           func(x T) T        // the element function the row computes
	fn          kernel.UnaryRow[T] // the row as …RowFunc returns it
}

func binaryRowCases[T kernel.Float]() []binaryRowCase[T] {
	cases := []binaryRowCase[T]{
		{"add", kernel.AddRow[T], kernel.AddRowGo[T], func(x, y T) T { return x + y }, nil},
		{"sub", kernel.SubRow[T], kernel.SubRowGo[T], func(x, y T) T { return x - y }, nil},
		{"mul", kernel.MulRow[T], kernel.MulRowGo[T], func(x, y T) T { return x * y }, nil},
		{"div", kernel.DivRow[T], kernel.DivRowGo[T], func(x, y T) T { return x / y }, nil},
		{"max", kernel.MaxRow[T], kernel.MaxRowGo[T], func(x, y T) T {
			switch {
			case x != x || y != y:
				return T(math.NaN())
			case x > y:
				return x
			}
			return y
		}, nil},
		{"min", kernel.MinRow[T], kernel.MinRowGo[T], func(x, y T) T {
			switch {
			case x != x || y != y:
				return T(math.NaN())
			case x > y:
				return y
			}
			return x
		}, nil},
	}
	fns := []kernel.BinaryRow[T]{kernel.AddRowFunc[T](), kernel.SubRowFunc[T](), kernel.MulRowFunc[T](),
		kernel.DivRowFunc[T](), kernel.MaxRowFunc[T](), kernel.MinRowFunc[T]()}
	for i := range cases {
		cases[i].fn = fns[i]
	}
	return cases
}

func unaryRowCases[T kernel.Float]() []unaryRowCase[T] {
	cases := []unaryRowCase[T]{
		{"neg", kernel.NegRow[T], kernel.NegRowGo[T], func(x T) T { return -x }, nil},
		{"sqrt", kernel.SqrtRow[T], kernel.SqrtRowGo[T], func(x T) T { return T(math.Sqrt(float64(x))) }, nil},
		{"square", kernel.SquareRow[T], kernel.SquareRowGo[T], func(x T) T { return x * x }, nil},
		{"reciprocal", kernel.ReciprocalRow[T], kernel.ReciprocalRowGo[T], func(x T) T { return 1 / x }, nil},
		{"abs", kernel.AbsRow[T], kernel.AbsRowGo[T], func(x T) T {
			if x != x {
				return x
			}
			return T(math.Abs(float64(x)))
		}, nil},
	}
	fns := []kernel.UnaryRow[T]{kernel.NegRowFunc[T](), kernel.SqrtRowFunc[T](), kernel.SquareRowFunc[T](),
		kernel.ReciprocalRowFunc[T](), kernel.AbsRowFunc[T]()}
	for i := range cases {
		cases[i].fn = fns[i]
	}
	return cases
}

// bitsOf returns the bits of v, widened to 64.
func bitsOf[T kernel.Float](v T) uint64 {
	if unsafe.Sizeof(v) == 4 {
		return uint64(math.Float32bits(float32(v)))
	}
	return math.Float64bits(float64(v))
}

// fromBits is the T with bits b32 (float32) or b64 (float64).
func fromBits[T kernel.Float](b32 uint32, b64 uint64) T {
	var z T
	if unsafe.Sizeof(z) == 4 {
		return T(math.Float32frombits(b32))
	}
	return T(math.Float64frombits(b64))
}

// specials are the values every row must get right: zeros of both signs,
// infinities, NaNs of both signs with different payloads (quiet and
// signalling), denormals, the extremes of the type, and ±1.
func specials[T kernel.Float]() []T {
	return []T{
		0, T(math.Copysign(0, -1)), T(math.Inf(1)), T(math.Inf(-1)), 1, -1, 0.5, -3,
		fromBits[T](0x7fc00000, 0x7ff8000000000000), // NaN
		fromBits[T](0xffc00000, 0xfff8000000000000), // −NaN (0·Inf)
		fromBits[T](0x7fc12345, 0x7ff8000000012345), // NaN with a payload
		fromBits[T](0xffe54321, 0xfffc000000054321), // −NaN with another
		fromBits[T](0x7f812345, 0x7ff0000000012345), // signalling NaN
		fromBits[T](0x00000001, 0x0000000000000001), // smallest denormal
		fromBits[T](0x80000003, 0x8000000000000003), // a negative denormal
		fromBits[T](0x007fffff, 0x000fffffffffffff), // largest denormal
		fromBits[T](0x00800000, 0x0010000000000000), // smallest normal
		fromBits[T](0x7f7fffff, 0x7fefffffffffffff), // largest finite
		fromBits[T](0xff7fffff, 0xffefffffffffffff), // its negative
		fromBits[T](0x1f800000, 0x1ff0000000000000), // tiny: its square is denormal
		fromBits[T](0x5f800000, 0x5ff0000000000000), // huge: its square overflows
		fromBits[T](0x3eaaaaab, 0x3fd5555555555555), // 1/3, inexact
		fromBits[T](0x4b000001, 0x4330000000000001), // 2^23+1, 2^52+1
		fromBits[T](0x3f800001, 0x3ff0000000000001), // 1 + ulp
		fromBits[T](0x33800000, 0x3ca0000000000000), // half an ulp of 1
		fromBits[T](0xb3800000, 0xbca0000000000000), // its negative
		fromBits[T](0x7fffffff, 0x7fffffffffffffff), // NaN, all payload bits
		fromBits[T](0xff900000, 0xfff1000000000000), // −sNaN
	}
}

// randomRow returns n values: a special one in three, the others of random
// sign and magnitude over most of the exponent range.
func randomRow[T kernel.Float](rng *rand.Rand, n int) []T {
	sp := specials[T]()
	x := make([]T, n)
	for i := range x {
		if rng.IntN(3) == 0 {
			x[i] = sp[rng.IntN(len(sp))]
			continue
		}
		v := rng.NormFloat64() * math.Exp2(float64(rng.IntN(60)-30))
		if unsafe.Sizeof(x[0]) == 8 && rng.IntN(4) == 0 {
			v *= math.Exp2(float64(rng.IntN(1200) - 600))
		}
		x[i] = T(v)
	}
	return x
}

// arithLengths: every length to 70 (each path of the loops: four vectors a
// step, one, the masked tail), a block of the fused kernels and large ones.
func arithLengths() []int {
	var ns []int
	for n := 0; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 255, 256, 1000, 65536+13)
}

// The guard around d: a NaN no row computes, so that a write outside d
// shows.
const arithGuard = 16

func guarded[T kernel.Float](n, off int) (buf, d []T) {
	buf = make([]T, n+2*arithGuard)
	for i := range buf {
		buf[i] = fromBits[T](0x7fbadbad, 0x7ff7badbadbadbad)
	}
	return buf, buf[arithGuard+off : arithGuard+off+n : arithGuard+off+n]
}

func checkGuard[T kernel.Float](t *testing.T, what string, buf []T, n, off int) {
	t.Helper()
	g := fromBits[T](0x7fbadbad, 0x7ff7badbadbadbad)
	for i, v := range buf {
		if (i < arithGuard+off || i >= arithGuard+off+n) && bitsOf(v) != bitsOf(g) {
			t.Fatalf("%s wrote buffer index %d, outside d [%d, %d)", what, i, arithGuard+off, arithGuard+off+n)
		}
	}
}

var modeNames = map[kernel.Mode]string{kernel.VV: "VV", kernel.VS: "VS", kernel.SV: "SV"}

// binaryOperands returns the operands of mode m for a row of n: the
// scalar sides hold one value.
func binaryOperands[T kernel.Float](rng *rand.Rand, m kernel.Mode, n int) (a, b []T) {
	a, b = randomRow[T](rng, n), randomRow[T](rng, n)
	switch m {
	case kernel.VS:
		b = randomRow[T](rng, 1)
	case kernel.SV:
		a = randomRow[T](rng, 1)
	}
	return a, b
}

// runBinary runs row on copies of a and b into a guarded d (in place: d is
// the copy of a, or of b, where inPlace says so) and returns d.
func runBinary[T kernel.Float](t *testing.T, what string, row kernel.BinaryRow[T], m kernel.Mode, a, b []T, inPlace byte) []T {
	t.Helper()
	n := max(len(a), len(b))
	if m == kernel.VS {
		n = len(a)
	} else if m == kernel.SV {
		n = len(b)
	}
	off := n % 5 // vary the alignment
	buf, d := guarded[T](n, off)
	a, b = append([]T(nil), a...), append([]T(nil), b...)
	switch inPlace {
	case 'a':
		copy(d, a)
		a = d
	case 'b':
		copy(d, b)
		b = d
	}
	row(m, d, a, b)
	checkGuard(t, what, buf, n, off)
	return d
}

func inPlaceModes(m kernel.Mode) []byte {
	switch m {
	case kernel.VS:
		return []byte{0, 'a'}
	case kernel.SV:
		return []byte{0, 'b'}
	}
	return []byte{0, 'a', 'b'}
}

// quiet is the NaN v with its quiet bit set, as an operation returns it.
func quiet[T kernel.Float](v T) T {
	if unsafe.Sizeof(v) == 4 {
		return T(math.Float32frombits(math.Float32bits(float32(v)) | 1<<22))
	}
	return T(math.Float64frombits(math.Float64bits(float64(v)) | 1<<51))
}

// ordinaryBuild reports whether this test was built as the library is:
// without the race detector and without -gcflags (-N, -l change the
// compiler's choices).
func ordinaryBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok || kernel.RaceEnabled {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-gcflags" {
			return false
		}
	}
	return true
}

// testArithBits holds each row to the bits of its Go loop. Where both
// operands are NaN, x86 returns the first operand's NaN, and for a + b and
// a·b the compiler picks which is first: in an ordinary build it gives a
// first in modes VV and VS and b[i] first in SV (the order the assembly
// follows, and which the test requires of an ordinary build), but the race
// detector's instrumentation, or -gcflags=-N, can swap them. There the
// assembly must give its order, and the Go loop one of the two NaNs.
func testArithBits[T kernel.Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	otherOrder := 0 // results where the Go loop took the other NaN of two
	defer func() {
		if otherOrder > 0 {
			t.Logf("the Go loops took the other NaN of two %d times", otherOrder)
			if ordinaryBuild() {
				t.Errorf("the Go loops took the other NaN of two %d times: the assembly no longer follows the compiler's operand order", otherOrder)
			}
		}
	}()
	for _, c := range binaryRowCases[T]() {
		for _, m := range []kernel.Mode{kernel.VV, kernel.VS, kernel.SV} {
			for _, n := range arithLengths() {
				a, b := binaryOperands[T](rng, m, n)
				for _, ip := range inPlaceModes(m) {
					what := fmt.Sprintf("%s %s (n=%d, in place %q)", c.name, modeNames[m], n, ip)
					got := runBinary(t, what, c.row, m, a, b, ip)
					gotFn := runBinary(t, what+" (RowFunc)", c.fn, m, a, b, ip)
					want := runBinary(t, what+" (Go)", c.goLoop, m, a, b, ip)
					for i := range got {
						if bitsOf(gotFn[i]) != bitsOf(got[i]) {
							t.Fatalf("%s: d[%d] = %#x from the …RowFunc row, %#x from the generic one", what, i, bitsOf(gotFn[i]), bitsOf(got[i]))
						}
						x, y := operandsOf(m, a, b, i)
						if x != x && y != y {
							// two NaNs: the result is the first operand's,
							// quieted; which is first is the compiler's
							// choice for a + b and a·b (see below)
							first, second := x, y
							if (c.name == "add" || c.name == "mul") && m == kernel.SV {
								first, second = y, x
							}
							if bitsOf(got[i]) != bitsOf(quiet(first)) {
								t.Fatalf("%s: d[%d] = %#x for the NaNs %#x and %#x, want %#x",
									what, i, bitsOf(got[i]), bitsOf(x), bitsOf(y), bitsOf(quiet(first)))
							}
							if w := bitsOf(want[i]); w != bitsOf(quiet(first)) && w != bitsOf(quiet(second)) {
								t.Fatalf("%s: the Go loop gives %#x for the NaNs %#x and %#x, neither quieted", what, w, bitsOf(x), bitsOf(y))
							}
							if w := bitsOf(want[i]); w != bitsOf(got[i]) {
								otherOrder++
							}
							continue
						}
						if bitsOf(got[i]) != bitsOf(want[i]) {
							t.Fatalf("%s: d[%d] = %v (%#x) for %v (%#x) and %v (%#x), want %v (%#x) as the Go loop",
								what, i, got[i], bitsOf(got[i]), x, bitsOf(x), y, bitsOf(y), want[i], bitsOf(want[i]))
						}
					}
				}
			}
		}
	}
	for _, c := range unaryRowCases[T]() {
		for _, n := range arithLengths() {
			x := randomRow[T](rng, n)
			for _, inPlace := range []bool{false, true} {
				what := fmt.Sprintf("%s (n=%d, in place %v)", c.name, n, inPlace)
				run := func(row kernel.UnaryRow[T]) []T {
					buf, d := guarded[T](n, n%5)
					src := append([]T(nil), x...)
					if inPlace {
						copy(d, src)
						src = d
					}
					row(d, src)
					checkGuard(t, what, buf, n, n%5)
					return d
				}
				got, gotFn, want := run(c.row), run(c.fn), run(c.goLoop)
				for i := range got {
					if bitsOf(gotFn[i]) != bitsOf(got[i]) {
						t.Fatalf("%s: d[%d] = %#x from the …RowFunc row, %#x from the generic one", what, i, bitsOf(gotFn[i]), bitsOf(got[i]))
					}
					if bitsOf(got[i]) != bitsOf(want[i]) {
						t.Fatalf("%s: d[%d] = %v (%#x) for %v (%#x), want %v (%#x) as the Go loop",
							what, i, got[i], bitsOf(got[i]), x[i], bitsOf(x[i]), want[i], bitsOf(want[i]))
					}
				}
			}
		}
	}
}

func operandsOf[T kernel.Float](m kernel.Mode, a, b []T, i int) (T, T) {
	x, y := a[0], b[0]
	if m != kernel.SV {
		x = a[i]
	}
	if m != kernel.VS {
		y = b[i]
	}
	return x, y
}

// The rows give the bits of their Go loops, NaN payloads, signed zeros
// and denormals included, at every length to 70 and in place.
func TestArithRowsBits(t *testing.T) {
	if !kernel.HaveArithAsm {
		t.Skip("no assembly rows in this build or on this CPU: the rows are the Go loops")
	}
	t.Run("float32", testArithBits[float32])
	t.Run("float64", testArithBits[float64])
}

// sameValue: equal bits, or both NaN (the NaN of two is the hardware's
// choice, which TestArithRowsBits holds to the Go loops').
func sameValue[T kernel.Float](got, want T) bool {
	return bitsOf(got) == bitsOf(want) || (got != got && want != want)
}

// testArithValues holds each row, whichever runs it, to its element
// function.
func testArithValues[T kernel.Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range binaryRowCases[T]() {
		for _, m := range []kernel.Mode{kernel.VV, kernel.VS, kernel.SV} {
			for _, n := range arithLengths() {
				a, b := binaryOperands[T](rng, m, n)
				for _, ip := range inPlaceModes(m) {
					what := fmt.Sprintf("%s %s (n=%d, in place %q)", c.name, modeNames[m], n, ip)
					got := runBinary(t, what, c.row, m, a, b, ip)
					for i := range got {
						x, y := operandsOf(m, a, b, i)
						if want := c.f(x, y); !sameValue(got[i], want) {
							t.Fatalf("%s: d[%d] = %v (%#x) for %v and %v, want %v (%#x)", what, i, got[i], bitsOf(got[i]), x, y, want, bitsOf(want))
						}
					}
				}
			}
		}
	}
	for _, c := range unaryRowCases[T]() {
		for _, n := range arithLengths() {
			x := randomRow[T](rng, n)
			buf, d := guarded[T](n, 0)
			c.row(d, x)
			checkGuard(t, c.name, buf, n, 0)
			for i := range d {
				if want := c.f(x[i]); !sameValue(d[i], want) {
					t.Fatalf("%s (n=%d): d[%d] = %v (%#x) for %v, want %v (%#x)", c.name, n, i, d[i], bitsOf(d[i]), x[i], want, bitsOf(want))
				}
			}
		}
	}
}

// The rows compute their element functions, in every build: the signs of
// zeros (max(+0, −0) = −0, the second; min(+0, −0) = +0, the first;
// |−0| = +0), a NaN wherever an operand is NaN (and abs and neg keep a
// NaN's payload), the rounding of each single operation.
func TestArithRowsValues(t *testing.T) {
	t.Run("float32", testArithValues[float32])
	t.Run("float64", testArithValues[float64])
}

// myFloat is an element type of another name, for which the …RowFunc
// functions return the generic rows.
type myFloat float32

// funcName is the name of the function f holds.
func funcName(f any) string {
	return runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
}

// …RowFunc returns the plain function of float32 or float64 rows (no
// generic dictionary on the way to the assembly), and for an element type
// of another name the generic row, which computes the same.
func TestArithRowFuncs(t *testing.T) {
	for _, c := range []struct {
		f    any
		want string
	}{
		{kernel.AddRowFunc[float32](), "kernel.addRow32"},
		{kernel.SubRowFunc[float64](), "kernel.subRow64"},
		{kernel.MaxRowFunc[float32](), "kernel.maxRow32"},
		{kernel.SqrtRowFunc[float64](), "kernel.sqrtRow64"},
		{kernel.AbsRowFunc[float32](), "kernel.absRow32"},
		{kernel.MulRowFunc[myFloat](), ""},
		{kernel.ReciprocalRowFunc[myFloat](), ""},
	} {
		got := funcName(c.f)
		switch {
		case c.want == "" && (strings.Contains(got, "Row32") || strings.Contains(got, "Row64")):
			t.Errorf("the row of myFloat is %s, want the generic row", got)
		case !strings.Contains(got, c.want):
			t.Errorf("the row is %s, want %s", got, c.want)
		}
	}
	d, a, b := make([]myFloat, 21), make([]myFloat, 21), []myFloat{3}
	for i := range a {
		a[i] = myFloat(i) - 10
	}
	kernel.MulRowFunc[myFloat]()(kernel.VS, d, a, b)
	kernel.ReciprocalRowFunc[myFloat]()(d, d)
	for i, v := range d {
		if want := 1 / (3 * (myFloat(i) - 10)); v != want {
			t.Errorf("1/(3·%v) = %v, want %v", a[i], v, want)
		}
	}
}

// A row panics, as the Go loop does, when an operand is shorter than d or
// a scalar operand is empty, rather than read past it.
func TestArithRowsBounds(t *testing.T) {
	d, short, empty := make([]float32, 9), make([]float32, 8), []float32{}
	cases := []struct {
		name string
		run  func()
	}{
		{"add VV short a", func() { kernel.AddRow(kernel.VV, d, short, d) }},
		{"sub VV short b", func() { kernel.SubRow(kernel.VV, d, d, short) }},
		{"mul VS short a", func() { kernel.MulRow(kernel.VS, d, short, d) }},
		{"div VS empty b", func() { kernel.DivRow(kernel.VS, d, d, empty[:0:8]) }},
		{"max SV empty a", func() { kernel.MaxRow(kernel.SV, d, empty[:0:8], d) }},
		{"min SV short b", func() { kernel.MinRow(kernel.SV, d, d, short) }},
		{"sqrt short x", func() { kernel.SqrtRow(d, short) }},
		{"abs short x", func() { kernel.AbsRow(d, short) }},
	}
	for _, c := range cases {
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			c.run()
			return false
		}()
		if !panicked {
			t.Errorf("%s: no panic, want one", c.name)
		}
	}
}

// The rows allocate nothing.
func TestArithRowsAllocs(t *testing.T) {
	d, a, b := make([]float64, 300), make([]float64, 300), make([]float64, 1)
	f := make([]float32, 300)
	if n := testing.AllocsPerRun(100, func() {
		kernel.AddRow(kernel.VS, d, a, b)
		kernel.MaxRow(kernel.VV, d, a, d)
		kernel.SqrtRow(d, a)
		kernel.DivRow(kernel.SV, f, f[:1], f)
		kernel.AbsRow(f, f)
	}); n != 0 {
		t.Errorf("rows: %v allocations a run, want 0", n)
	}
}

// BenchmarkArithRows measures each row, on 256 elements (a block of the
// fused kernels) and on 64k, float32 and float64: the Go loop and, with
// AVX2, the assembly, called as the fused kernels call it (the row of
// …RowFunc). The bytes are those of d.
func BenchmarkArithRows(b *testing.B) {
	benchArithRows[float32](b, "f32")
	benchArithRows[float64](b, "f64")
}

func benchArithRows[T kernel.Float](b *testing.B, dt string) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{256, 65536} {
		x, y := make([]T, n), make([]T, n)
		for i := range x {
			x[i] = T(rng.Float64() + 0.5)
			y[i] = T(rng.Float64() + 0.5)
		}
		d := make([]T, n)
		run := func(name string, asm bool, f func()) {
			b.Run(fmt.Sprintf("%s/%s/%d/%s", name, dt, n, map[bool]string{false: "go", true: "asm"}[asm]), func(b *testing.B) {
				if asm && !kernel.HaveArithAsm {
					b.Skip("no assembly rows in this build or on this CPU")
				}
				b.ReportAllocs()
				b.SetBytes(int64(n) * int64(unsafe.Sizeof(x[0])))
				for b.Loop() {
					f()
				}
			})
		}
		for _, c := range binaryRowCases[T]() {
			for _, m := range []kernel.Mode{kernel.VV, kernel.VS, kernel.SV} {
				name := c.name + "/" + modeNames[m]
				run(name, false, func() { c.goLoop(m, d, x, y) })
				run(name, true, func() { c.fn(m, d, x, y) })
			}
		}
		for _, c := range unaryRowCases[T]() {
			run(c.name, false, func() { c.goLoop(d, x) })
			run(c.name, true, func() { c.fn(d, x) })
		}
	}
}
