package train

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
)

// Data is a labelled data set: inputs X, one example per row (the leading
// dimension), and targets Y with as many rows. FitOptions.ValidationData
// takes one.
type Data struct {
	X, Y *tensor.Dense
}

// float is the element type of a model's tensors.
type float interface{ ~float32 | ~float64 }

// rows is a data set seen as row-major slices: n examples of xRow input
// values and yRow target values each (yRow is 0 without targets).
type rows[T float] struct {
	x, y       []T
	n          int
	xRow, yRow int
}

// slice returns the examples [from, to).
func (r rows[T]) slice(from, to int) rows[T] {
	out := rows[T]{n: to - from, xRow: r.xRow, yRow: r.yRow}
	out.x = r.x[from*r.xRow : to*r.xRow]
	if r.y != nil {
		out.y = r.y[from*r.yRow : to*r.yRow]
	}
	return out
}

// tensorDType maps a graph dtype to gorgonia's.
func tensorDType(dt graph.DType) tensor.Dtype {
	if dt == graph.Float64 {
		return tensor.Float64
	}
	return tensor.Float32
}

// denseData returns t's elements as a contiguous row-major slice of T,
// materializing a view (a copy) when t is not contiguous. t's dtype must
// be T's (checked by the caller).
func denseData[T float](t *tensor.Dense) []T {
	if t.RequiresIterator() || t.IsMaterializable() {
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
	return v.([]T)[:t.Shape().TotalSize()]
}

// newTensor returns a tensor of shape backed by data (no copy).
func newTensor[T float](data []T, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// checkTensor checks that t holds rows of shape want (the batch dimension
// open) in dtype dt, and returns the number of rows. A trailing axis of
// size 1 is accepted on either side (labels of shape [N, 1] for [N]), as
// Keras does. what names the tensor in errors ("x", "y", "validation x").
func checkTensor(what string, t *tensor.Dense, want graph.Shape, dt graph.DType) (int, error) {
	if t == nil {
		return 0, fmt.Errorf("%s is nil", what)
	}
	switch have := t.Dtype(); {
	case have == tensorDType(dt):
	case have == tensor.Float32 || have == tensor.Float64:
		return 0, fmt.Errorf("%s has dtype %v but the model is %v: convert the data, or compile with Config.DType: graph.%s", what, have, tensorDType(dt), dtypeName(have))
	default:
		return 0, fmt.Errorf("%s has dtype %v: want %v, the model's dtype (integer labels are stored as floats)", what, have, tensorDType(dt))
	}
	shape := graph.Shape(t.Shape())
	if t.IsScalar() || len(shape) == 0 {
		return 0, fmt.Errorf("%s is a scalar; want shape %v (rows along the first axis)", what, want)
	}
	n := shape[0]
	if n == 0 {
		return 0, fmt.Errorf("%s has no rows", what)
	}
	if !sameRow(shape[1:], want[1:]) {
		return 0, fmt.Errorf("%s has shape %v; the model wants %v", what, shape, want)
	}
	return n, nil
}

// sameRow reports whether two row shapes match, ignoring one trailing axis
// of size 1.
func sameRow(have, want graph.Shape) bool {
	if have.Equal(want) {
		return true
	}
	trim := func(s graph.Shape) graph.Shape {
		if len(s) > 0 && s[len(s)-1] == 1 {
			return s[:len(s)-1]
		}
		return s
	}
	return trim(have).Equal(trim(want))
}

// dtypeName returns the graph constant's name for a tensor dtype.
func dtypeName(dt tensor.Dtype) string {
	if dt == tensor.Float64 {
		return "Float64"
	}
	return "Float32"
}

// dataRows checks x (and y, unless nil) against the model's input and
// target shapes and returns them as rows.
func dataRows[T float](m *Model, prefix string, x, y *tensor.Dense, needY bool) (rows[T], error) {
	var r rows[T]
	n, err := checkTensor(prefix+"x", x, m.inShape, m.dtype)
	if err != nil {
		return r, err
	}
	r.n, r.xRow = n, m.inShape[1:].Size()
	r.x = denseData[T](x)
	if !needY {
		return r, nil
	}
	ny, err := checkTensor(prefix+"y", y, m.targetShape, m.dtype)
	if err != nil {
		return r, err
	}
	if ny != n {
		return r, fmt.Errorf("%sx has %d rows but %sy has %d", prefix, n, prefix, ny)
	}
	r.yRow = max(m.targetShape[1:].Size(), 1)
	r.y = denseData[T](y)
	return r, nil
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
