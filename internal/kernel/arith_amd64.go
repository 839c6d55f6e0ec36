//go:build amd64 && !purego

package kernel

import "github.com/tapegrad/tapegrad/internal/kernel/avx2"

// haveArithAsm: the element-wise arithmetic rows run on the AVX routines
// of package avx2 (chosen once, at start-up, from the CPU's features).
var haveArithAsm = avx2.Supported

// The rows of each type: the routine of the mode, called directly (a call
// through a table or a generic function costs a few nanoseconds more, on
// rows of a few hundred elements), after the bounds checks of the Go loop,
// since the assembly checks nothing. A mode that is none of the three is
// left to the Go loop, which writes nothing.

// scalar returns s, which must hold an element: the scalar operand of modes
// VS and SV.
func scalar[T Float](s []T) []T {
	_ = s[0]
	return s
}

func addRow32(m Mode, d, a, b []float32) {
	switch {
	case !haveArithAsm || m > SV:
		addRowGo(m, d, a, b)
	case m == VV:
		avx2.AddSVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.AddSVS(d, a[:len(d)], scalar(b))
	default:
		avx2.AddSSV(d, scalar(a), b[:len(d)])
	}
}

func addRow64(m Mode, d, a, b []float64) {
	switch {
	case !haveArithAsm || m > SV:
		addRowGo(m, d, a, b)
	case m == VV:
		avx2.AddDVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.AddDVS(d, a[:len(d)], scalar(b))
	default:
		avx2.AddDSV(d, scalar(a), b[:len(d)])
	}
}

func subRow32(m Mode, d, a, b []float32) {
	switch {
	case !haveArithAsm || m > SV:
		subRowGo(m, d, a, b)
	case m == VV:
		avx2.SubSVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.SubSVS(d, a[:len(d)], scalar(b))
	default:
		avx2.SubSSV(d, scalar(a), b[:len(d)])
	}
}

func subRow64(m Mode, d, a, b []float64) {
	switch {
	case !haveArithAsm || m > SV:
		subRowGo(m, d, a, b)
	case m == VV:
		avx2.SubDVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.SubDVS(d, a[:len(d)], scalar(b))
	default:
		avx2.SubDSV(d, scalar(a), b[:len(d)])
	}
}

func mulRow32(m Mode, d, a, b []float32) {
	switch {
	case !haveArithAsm || m > SV:
		mulRowGo(m, d, a, b)
	case m == VV:
		avx2.MulSVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.MulSVS(d, a[:len(d)], scalar(b))
	default:
		avx2.MulSSV(d, scalar(a), b[:len(d)])
	}
}

func mulRow64(m Mode, d, a, b []float64) {
	switch {
	case !haveArithAsm || m > SV:
		mulRowGo(m, d, a, b)
	case m == VV:
		avx2.MulDVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.MulDVS(d, a[:len(d)], scalar(b))
	default:
		avx2.MulDSV(d, scalar(a), b[:len(d)])
	}
}

func divRow32(m Mode, d, a, b []float32) {
	switch {
	case !haveArithAsm || m > SV:
		divRowGo(m, d, a, b)
	case m == VV:
		avx2.DivSVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.DivSVS(d, a[:len(d)], scalar(b))
	default:
		avx2.DivSSV(d, scalar(a), b[:len(d)])
	}
}

func divRow64(m Mode, d, a, b []float64) {
	switch {
	case !haveArithAsm || m > SV:
		divRowGo(m, d, a, b)
	case m == VV:
		avx2.DivDVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.DivDVS(d, a[:len(d)], scalar(b))
	default:
		avx2.DivDSV(d, scalar(a), b[:len(d)])
	}
}

func maxRow32(m Mode, d, a, b []float32) {
	switch {
	case !haveArithAsm || m > SV:
		maxRowGo(m, d, a, b)
	case m == VV:
		avx2.MaxSVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.MaxSVS(d, a[:len(d)], scalar(b))
	default:
		avx2.MaxSSV(d, scalar(a), b[:len(d)])
	}
}

func maxRow64(m Mode, d, a, b []float64) {
	switch {
	case !haveArithAsm || m > SV:
		maxRowGo(m, d, a, b)
	case m == VV:
		avx2.MaxDVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.MaxDVS(d, a[:len(d)], scalar(b))
	default:
		avx2.MaxDSV(d, scalar(a), b[:len(d)])
	}
}

func minRow32(m Mode, d, a, b []float32) {
	switch {
	case !haveArithAsm || m > SV:
		minRowGo(m, d, a, b)
	case m == VV:
		avx2.MinSVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.MinSVS(d, a[:len(d)], scalar(b))
	default:
		avx2.MinSSV(d, scalar(a), b[:len(d)])
	}
}

func minRow64(m Mode, d, a, b []float64) {
	switch {
	case !haveArithAsm || m > SV:
		minRowGo(m, d, a, b)
	case m == VV:
		avx2.MinDVV(d, a[:len(d)], b[:len(d)])
	case m == VS:
		avx2.MinDVS(d, a[:len(d)], scalar(b))
	default:
		avx2.MinDSV(d, scalar(a), b[:len(d)])
	}
}

func negRow32(d, x []float32) {
	if !haveArithAsm {
		negRowGo(d, x)
		return
	}
	avx2.NegS(d, x[:len(d)])
}

func negRow64(d, x []float64) {
	if !haveArithAsm {
		negRowGo(d, x)
		return
	}
	avx2.NegD(d, x[:len(d)])
}

func sqrtRow32(d, x []float32) {
	if !haveArithAsm {
		sqrtRowGo(d, x)
		return
	}
	avx2.SqrtS(d, x[:len(d)])
}

func sqrtRow64(d, x []float64) {
	if !haveArithAsm {
		sqrtRowGo(d, x)
		return
	}
	avx2.SqrtD(d, x[:len(d)])
}

func squareRow32(d, x []float32) {
	if !haveArithAsm {
		squareRowGo(d, x)
		return
	}
	avx2.SquareS(d, x[:len(d)])
}

func squareRow64(d, x []float64) {
	if !haveArithAsm {
		squareRowGo(d, x)
		return
	}
	avx2.SquareD(d, x[:len(d)])
}

func reciprocalRow32(d, x []float32) {
	if !haveArithAsm {
		reciprocalRowGo(d, x)
		return
	}
	avx2.RecipS(d, x[:len(d)])
}

func reciprocalRow64(d, x []float64) {
	if !haveArithAsm {
		reciprocalRowGo(d, x)
		return
	}
	avx2.RecipD(d, x[:len(d)])
}

func absRow32(d, x []float32) {
	if !haveArithAsm {
		absRowGo(d, x)
		return
	}
	avx2.AbsS(d, x[:len(d)])
}

func absRow64(d, x []float64) {
	if !haveArithAsm {
		absRowGo(d, x)
		return
	}
	avx2.AbsD(d, x[:len(d)])
}
