package initializers

import "fmt"

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
func Fans(shape []int, layout Layout) (fanIn, fanOut float64, err error) {
	for _, d := range shape {
		if d < 0 {
			return 0, 0, fmt.Errorf("initializers: shape %v has a negative dimension", shape)
		}
	}
	switch {
	case len(shape) == 0:
		return 0, 0, fmt.Errorf("initializers: fans of a scalar shape []: a fan-based initializer needs a kernel of rank ≥ 1")
	case layout == TorchLayout && len(shape) < 2:
		return 0, 0, fmt.Errorf("initializers: fans of shape %v: the PyTorch layout [out, in, k…] needs rank ≥ 2", shape)
	case layout == TorchLayout:
		rf := 1
		for _, d := range shape[2:] {
			rf *= d
		}
		return float64(shape[1] * rf), float64(shape[0] * rf), nil
	case len(shape) == 1:
		return float64(shape[0]), float64(shape[0]), nil
	}
	r := len(shape)
	rf := 1
	for _, d := range shape[:r-2] {
		rf *= d
	}
	return float64(shape[r-2] * rf), float64(shape[r-1] * rf), nil
}
