package vm

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
)

// Feeds maps input names to values. A value is a *tensor.Dense (from
// gorgonia.org/tensor) of the graph's dtype; FromSlice wraps a plain slice.
type Feeds map[string]*tensor.Dense

// FromSlice wraps data ([]float32 or []float64) as a tensor of the given
// shape, without copying. It returns an error when the length or type is
// wrong.
func FromSlice(data any, shape ...int) (*tensor.Dense, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("vm: shape %v has a negative dimension", shape)
		}
		n *= d
	}
	var have int
	switch s := data.(type) {
	case []float32:
		have = len(s)
	case []float64:
		have = len(s)
	default:
		return nil, fmt.Errorf("vm: data of type %T: want []float32 or []float64", data)
	}
	if have != n {
		return nil, fmt.Errorf("vm: %d values for shape %v: want %d", have, shape, n)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data)), nil
}

// dtypeOf maps a tensor dtype to a graph dtype (0 when unsupported).
func dtypeOf(t *tensor.Dense) graph.DType {
	switch t.Dtype() {
	case tensor.Float32:
		return graph.Float32
	case tensor.Float64:
		return graph.Float64
	}
	return 0
}

// dataOf returns a tensor's elements as a contiguous row-major slice of T,
// materializing views.
func dataOf[T float32 | float64](t *tensor.Dense) []T {
	if t.IsMaterializable() {
		if m, ok := t.Materialize().(*tensor.Dense); ok {
			t = m
		}
	}
	var v any
	var z T
	if _, ok := any(z).(float32); ok {
		v = t.Float32s()
	} else {
		v = t.Float64s()
	}
	return v.([]T)
}

// newDense wraps data as a tensor of the given shape (no copy).
func newDense[T float32 | float64](shape []int, data []T) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}
