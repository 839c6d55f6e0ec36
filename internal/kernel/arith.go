package kernel

import (
	"math"
	"unsafe"
)

// Element-wise arithmetic rows: the row kernels of the element-wise ops of
// package nodes (Add, Sub, Mul, Div, Maximum, Minimum; Neg, Sqrt, Square,
// Reciprocal, Abs) and of the fused element-wise kernels built from them.
// Each is one IEEE operation per element. On amd64 with AVX2 (chosen once,
// at start-up, from the CPU's features) the rows run on the routines of
// package avx2, which perform the scalar loop's instruction on a vector of
// elements at a time, so that the results are the same bit for bit, NaN
// payloads included; under the build tag purego and on other architectures
// they run the Go loops below.
//
// In every row d may be an operand itself (the element-wise ops run in
// place), but must not overlap one otherwise. A row reads len(d) elements
// of each operand that is not a scalar and panics, as the Go loops do, when
// one is shorter.

// is64 reports whether T is float64, as a constant of each instantiation.
func is64[T Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 8
}

// asF32 and asF64 reinterpret a []T whose T has that size (the slice
// headers are alike).
func asF32[T Float](s []T) []float32 { return *(*[]float32)(unsafe.Pointer(&s)) }
func asF64[T Float](s []T) []float64 { return *(*[]float64)(unsafe.Pointer(&s)) }

// AddRow sets d[i] = a + b in mode m (see BinaryRow).
func AddRow[T Float](m Mode, d, a, b []T) {
	if is64[T]() {
		addRow64(m, asF64(d), asF64(a), asF64(b))
		return
	}
	addRow32(m, asF32(d), asF32(a), asF32(b))
}

// SubRow sets d[i] = a − b in mode m.
func SubRow[T Float](m Mode, d, a, b []T) {
	if is64[T]() {
		subRow64(m, asF64(d), asF64(a), asF64(b))
		return
	}
	subRow32(m, asF32(d), asF32(a), asF32(b))
}

// MulRow sets d[i] = a·b in mode m.
func MulRow[T Float](m Mode, d, a, b []T) {
	if is64[T]() {
		mulRow64(m, asF64(d), asF64(a), asF64(b))
		return
	}
	mulRow32(m, asF32(d), asF32(a), asF32(b))
}

// DivRow sets d[i] = a/b in mode m (IEEE 754: ±Inf or NaN for b = 0).
func DivRow[T Float](m Mode, d, a, b []T) {
	if is64[T]() {
		divRow64(m, asF64(d), asF64(a), asF64(b))
		return
	}
	divRow32(m, asF32(d), asF32(a), asF32(b))
}

// MaxRow sets d[i] to the larger of a and b in mode m: a if a > b, else b
// (so the second of two zeros), and a + b (a NaN) where either is NaN.
func MaxRow[T Float](m Mode, d, a, b []T) {
	if is64[T]() {
		maxRow64(m, asF64(d), asF64(a), asF64(b))
		return
	}
	maxRow32(m, asF32(d), asF32(a), asF32(b))
}

// MinRow sets d[i] to the smaller of a and b in mode m: b if a > b, else a
// (so the first of two zeros), and a + b (a NaN) where either is NaN.
func MinRow[T Float](m Mode, d, a, b []T) {
	if is64[T]() {
		minRow64(m, asF64(d), asF64(a), asF64(b))
		return
	}
	minRow32(m, asF32(d), asF32(a), asF32(b))
}

// NegRow sets d[i] = −x[i].
func NegRow[T Float](d, x []T) {
	if is64[T]() {
		negRow64(asF64(d), asF64(x))
		return
	}
	negRow32(asF32(d), asF32(x))
}

// SqrtRow sets d[i] = √x[i], correctly rounded.
func SqrtRow[T Float](d, x []T) {
	if is64[T]() {
		sqrtRow64(asF64(d), asF64(x))
		return
	}
	sqrtRow32(asF32(d), asF32(x))
}

// SquareRow sets d[i] = x[i]·x[i].
func SquareRow[T Float](d, x []T) {
	if is64[T]() {
		squareRow64(asF64(d), asF64(x))
		return
	}
	squareRow32(asF32(d), asF32(x))
}

// ReciprocalRow sets d[i] = 1/x[i].
func ReciprocalRow[T Float](d, x []T) {
	if is64[T]() {
		reciprocalRow64(asF64(d), asF64(x))
		return
	}
	reciprocalRow32(asF32(d), asF32(x))
}

// AbsRow sets d[i] = |x[i]|: +0 for ±0, and a NaN as it is.
func AbsRow[T Float](d, x []T) {
	if is64[T]() {
		absRow64(asF64(d), asF64(x))
		return
	}
	absRow32(asF32(d), asF32(x))
}

// AddRowFunc returns AddRow[T] as a plain function of float32 or float64
// rows, for a caller that binds a row once and calls it on many short rows,
// as the fused element-wise kernels do on blocks of a few hundred elements:
// a call of AddRow[T] through a function value passes a generic dictionary
// and tests the type, a few nanoseconds a call, where the plain function
// calls the assembly straight away. For an element type of another name
// (type F float32) it returns AddRow[T]. So do the other …RowFunc for their
// rows.
func AddRowFunc[T Float]() BinaryRow[T] { return pickBinary(addRow32, addRow64, AddRow[T]) }

// SubRowFunc returns SubRow[T] as a plain function (see AddRowFunc).
func SubRowFunc[T Float]() BinaryRow[T] { return pickBinary(subRow32, subRow64, SubRow[T]) }

// MulRowFunc returns MulRow[T] as a plain function (see AddRowFunc).
func MulRowFunc[T Float]() BinaryRow[T] { return pickBinary(mulRow32, mulRow64, MulRow[T]) }

// DivRowFunc returns DivRow[T] as a plain function (see AddRowFunc).
func DivRowFunc[T Float]() BinaryRow[T] { return pickBinary(divRow32, divRow64, DivRow[T]) }

// MaxRowFunc returns MaxRow[T] as a plain function (see AddRowFunc).
func MaxRowFunc[T Float]() BinaryRow[T] { return pickBinary(maxRow32, maxRow64, MaxRow[T]) }

// MinRowFunc returns MinRow[T] as a plain function (see AddRowFunc).
func MinRowFunc[T Float]() BinaryRow[T] { return pickBinary(minRow32, minRow64, MinRow[T]) }

// NegRowFunc returns NegRow[T] as a plain function (see AddRowFunc).
func NegRowFunc[T Float]() UnaryRow[T] { return pickUnary(negRow32, negRow64, NegRow[T]) }

// SqrtRowFunc returns SqrtRow[T] as a plain function (see AddRowFunc).
func SqrtRowFunc[T Float]() UnaryRow[T] { return pickUnary(sqrtRow32, sqrtRow64, SqrtRow[T]) }

// SquareRowFunc returns SquareRow[T] as a plain function (see AddRowFunc).
func SquareRowFunc[T Float]() UnaryRow[T] {
	return pickUnary(squareRow32, squareRow64, SquareRow[T])
}

// ReciprocalRowFunc returns ReciprocalRow[T] as a plain function (see
// AddRowFunc).
func ReciprocalRowFunc[T Float]() UnaryRow[T] {
	return pickUnary(reciprocalRow32, reciprocalRow64, ReciprocalRow[T])
}

// AbsRowFunc returns AbsRow[T] as a plain function (see AddRowFunc).
func AbsRowFunc[T Float]() UnaryRow[T] { return pickUnary(absRow32, absRow64, AbsRow[T]) }

// pickBinary and pickUnary return f32 or f64 as the row of T, or generic
// when T is neither float32 nor float64 but a type of another name.
func pickBinary[T Float](f32 BinaryRow[float32], f64 BinaryRow[float64], generic BinaryRow[T]) BinaryRow[T] {
	var f any = f32
	if is64[T]() {
		f = f64
	}
	if r, ok := f.(BinaryRow[T]); ok {
		return r
	}
	return generic
}

func pickUnary[T Float](f32 UnaryRow[float32], f64 UnaryRow[float64], generic UnaryRow[T]) UnaryRow[T] {
	var f any = f32
	if is64[T]() {
		f = f64
	}
	if r, ok := f.(UnaryRow[T]); ok {
		return r
	}
	return generic
}

// The Go loops: the rows on CPUs without AVX2 and on other architectures,
// and the reference of the assembly, which the tests hold to their bits.
// The compiler picks the operand order of a commutative operation (a + b,
// a·b), and so which NaN a result keeps where both operands are NaN (x86
// keeps the first's): in an ordinary build, a first in modes VV and VS,
// b[i] first in SV. The assembly follows that order, and the tests check
// it; the race detector's instrumentation, or -gcflags=-N, can give the Go
// loops the other one.

func addRowGo[T Float](m Mode, d, a, b []T) {
	switch m {
	case VV:
		b = b[:len(d)]
		a = a[:len(d)]
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case VS:
		y := b[0]
		for i, x := range a[:len(d)] {
			d[i] = x + y
		}
	case SV:
		x := a[0]
		for i, y := range b[:len(d)] {
			d[i] = x + y
		}
	}
}

func subRowGo[T Float](m Mode, d, a, b []T) {
	switch m {
	case VV:
		b = b[:len(d)]
		a = a[:len(d)]
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case VS:
		y := b[0]
		for i, x := range a[:len(d)] {
			d[i] = x - y
		}
	case SV:
		x := a[0]
		for i, y := range b[:len(d)] {
			d[i] = x - y
		}
	}
}

func mulRowGo[T Float](m Mode, d, a, b []T) {
	switch m {
	case VV:
		b = b[:len(d)]
		a = a[:len(d)]
		for i := range d {
			d[i] = a[i] * b[i]
		}
	case VS:
		y := b[0]
		for i, x := range a[:len(d)] {
			d[i] = x * y
		}
	case SV:
		x := a[0]
		for i, y := range b[:len(d)] {
			d[i] = x * y
		}
	}
}

func divRowGo[T Float](m Mode, d, a, b []T) {
	switch m {
	case VV:
		b = b[:len(d)]
		a = a[:len(d)]
		for i := range d {
			d[i] = a[i] / b[i]
		}
	case VS:
		y := b[0]
		for i, x := range a[:len(d)] {
			d[i] = x / y
		}
	case SV:
		x := a[0]
		for i, y := range b[:len(d)] {
			d[i] = x / y
		}
	}
}

// operands returns the i-th operands of a binary row in mode m.
func operands[T Float](m Mode, a, b []T, i int) (T, T) {
	x, y := a[0], b[0]
	if m != SV {
		x = a[i]
	}
	if m != VS {
		y = b[i]
	}
	return x, y
}

func maxRowGo[T Float](m Mode, d, a, b []T) { extremumRowGo(true, m, d, a, b) }
func minRowGo[T Float](m Mode, d, a, b []T) { extremumRowGo(false, m, d, a, b) }

func extremumRowGo[T Float](isMax bool, m Mode, d, a, b []T) {
	for i := range d {
		x, y := operands(m, a, b, i)
		switch {
		case x != x || y != y:
			d[i] = x + y // NaN
		case (x > y) == isMax:
			d[i] = x
		default:
			d[i] = y
		}
	}
}

func negRowGo[T Float](d, x []T) {
	x = x[:len(d)]
	for i := range d {
		d[i] = -x[i]
	}
}

func sqrtRowGo[T Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		// the square root of a float32 computed in float64 and rounded is
		// the correctly rounded float32 square root
		d[i] = T(math.Sqrt(float64(v)))
	}
}

func squareRowGo[T Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = v * v
	}
}

func reciprocalRowGo[T Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = 1 / v
	}
}

func absRowGo[T Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		if v < 0 {
			v = -v
		} else if v == 0 {
			v = 0 // |−0| = +0
		}
		d[i] = v
	}
}
