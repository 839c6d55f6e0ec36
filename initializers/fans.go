package initializers

import (
	"fmt"
	"math"
	"slices"
)

// Layout says how a kernel's dimensions are ordered, which decides its fans.
type Layout uint8

const (
	// KerasLayout is tapegrad's and Keras's: dense [in, out], convolution
	// [k1, …, kd, in, out]. It is the zero value.
	KerasLayout Layout = iota
	// TorchLayout is PyTorch's: linear [out, in], convolution
	// [out, in, k1, …, kd].
	TorchLayout
)

func (l Layout) String() string {
	if l == TorchLayout {
		return "torch"
	}
	return "keras"
}

// Fans returns the fan-in and fan-out of a kernel shape.
//
// Keras layout (keras compute_fans): [n] → n, n; [in, out] → in, out;
// [k1, …, kd, in, out] → in·∏k, out·∏k. PyTorch layout
// (_calculate_fan_in_and_fan_out): [out, in, k…] → in·∏k, out·∏k, and fewer
// than 2 dimensions is an error.
//
// A scalar shape is an error in both layouts: Keras gives it fans of 1, but
// a fan-based initializer on a scalar variable is almost surely a mistake.
// So is a shape whose fans an int cannot count (no such kernel fits in
// memory).
func Fans(shape []int, layout Layout) (fanIn, fanOut float64, err error) {
	for _, d := range shape {
		if d < 0 {
			return 0, 0, fmt.Errorf("initializers: shape %v has a negative dimension", shape)
		}
	}
	var in, out []int // the dimensions whose products are the fans
	switch {
	case len(shape) == 0:
		return 0, 0, fmt.Errorf("initializers: fans of a scalar shape []: a fan-based initializer needs a kernel of rank ≥ 1")
	case layout == TorchLayout && len(shape) < 2:
		return 0, 0, fmt.Errorf("initializers: fans of shape %v: the PyTorch layout [out, in, k…] needs rank ≥ 2", shape)
	case layout == TorchLayout:
		in = append([]int{shape[1]}, shape[2:]...)
		out = append([]int{shape[0]}, shape[2:]...)
	case len(shape) == 1:
		in, out = shape, shape
	default:
		r := len(shape)
		in = append([]int{shape[r-2]}, shape[:r-2]...)
		out = append([]int{shape[r-1]}, shape[:r-2]...)
	}
	fi, okIn := product(in...)
	fo, okOut := product(out...)
	if !okIn || !okOut {
		return 0, 0, fmt.Errorf("initializers: fans of shape %v (%v layout) overflow an int", shape, layout)
	}
	return float64(fi), float64(fo), nil
}

// product multiplies non-negative dimensions, reporting false when the
// product overflows an int (a zero dimension makes it 0 whatever the rest).
func product(dims ...int) (int, bool) {
	if slices.Contains(dims, 0) {
		return 0, true
	}
	n := 1
	for _, d := range dims {
		if n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}
