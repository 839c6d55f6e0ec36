package datasets

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

// split64 makes a float64 split of rows×cols values with labels 0, 1, ...
func split64(rows, cols int, x ...float64) Split {
	y := make([]float64, rows)
	for i := range y {
		y[i] = float64(i)
	}
	return Split{X: newDense(x, rows, cols), Y: newDense(y, rows)}
}

func TestScale01(t *testing.T) {
	a := Split{X: newDense([]float32{0, 51, 255, 127.5}, 2, 2)}
	b := split64(1, 2, 255, 25.5)
	require.NoError(t, Scale01(a, b))
	assert.Equal(t, []float32{0, 0.2, 1, 0.5}, a.X.Data())
	assert.Equal(t, []float64{1, 0.1}, b.X.Data())

	ints := Split{X: tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2}))}
	err := Scale01(b, ints)
	assert.EqualError(t, err, "datasets: split 1 X has dtype int; want float32 or float64")
	assert.EqualError(t, Scale01(Split{}), "datasets: split 0 X is nil")
}

// TestStandardize checks the fitted statistics and the mapping against
// values worked out by hand.
func TestStandardize(t *testing.T) {
	// Feature 0 is 1, 3, 5 (mean 3, population variance 8/3); feature 1 is
	// constant 2 (std taken as 1).
	train := split64(3, 2, 1, 2, 3, 2, 5, 2)
	test := split64(1, 2, 7, 3)
	st, err := Standardize(train, test)
	require.NoError(t, err)
	sd := math.Sqrt(8.0 / 3)
	assert.Equal(t, []float64{3, 2}, st.Mean)
	assert.InDeltaSlice(t, []float64{sd, 1}, st.Std, 1e-15)
	// Tolerances: one subtraction and one division in float64.
	assert.InDeltaSlice(t, []float64{-2 / sd, 0, 0, 0, 2 / sd, 0}, train.X.Data(), 1e-15)
	assert.InDeltaSlice(t, []float64{4 / sd, 1}, test.X.Data(), 1e-15, "test uses the training statistics")
	assert.Equal(t, []float64{0, 1, 2}, train.Y.Data(), "labels untouched")
}

// TestStandardizeMNIST: after standardizing on the training split, each
// non-constant training feature has mean 0 and variance 1; the test split
// does not, exactly, having been mapped with the training statistics.
func TestStandardizeMNIST(t *testing.T) {
	hermetic(t)
	ds, err := MNIST(Options{Subset: true, Flat: true})
	require.NoError(t, err)
	st, err := Standardize(ds.Train, ds.Test)
	require.NoError(t, err)
	require.Len(t, st.Mean, 784)
	assert.Equal(t, 0.0, st.Mean[0], "the corner pixel is always 0")
	assert.Equal(t, 1.0, st.Std[0], "a constant feature keeps std 1")

	x := ds.Train.X.Data().([]float32)
	n := ds.Train.Len()
	constant := 0
	for j := range 784 {
		var s, s2 float64
		for r := range n {
			v := float64(x[r*784+j])
			s += v
			s2 += v * v
		}
		mean, variance := s/float64(n), s2/float64(n)-(s/float64(n))*(s/float64(n))
		// float32 storage: each value is rounded to ~6e-8 relative, and
		// rare pixels reach |x| ≈ 77 (one nonzero among 6,000 rows).
		assert.InDelta(t, 0, mean, 1e-5, "feature %d mean", j)
		if st.Std[j] == 1 && st.Mean[j] == 0 {
			constant++
			assert.Equal(t, 0.0, variance, "feature %d", j)
			continue
		}
		assert.InDelta(t, 1, variance, 1e-4, "feature %d variance", j)
	}
	assert.Greater(t, constant, 0, "MNIST has pixels that are always 0")

	var tm float64
	for _, v := range ds.Test.X.Data().([]float32) {
		tm += float64(v)
	}
	assert.NotZero(t, tm, "the test split has its own mean")
}

func TestStandardizeErrors(t *testing.T) {
	_, err := FitStandardizer(Split{X: newDense([]float32{}, 0, 3)})
	assert.EqualError(t, err, "datasets: FitStandardizer: train.X has no rows")
	st, err := FitStandardizer(split64(2, 2, 1, 2, 3, 4))
	require.NoError(t, err)
	err = st.Apply(split64(1, 3, 1, 2, 3))
	assert.EqualError(t, err, "datasets: Standardizer.Apply: split 0 X has 3 features per row, the fitted statistics 2")
	_, err = Standardize(Split{})
	assert.EqualError(t, err, "datasets: train.X is nil")
}

func TestValidationSplit(t *testing.T) {
	s := split64(4, 2, 0, 1, 10, 11, 20, 21, 30, 31)
	train, val, err := ValidationSplit(s, 1)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, []int(val.X.Shape()))
	assert.Equal(t, []float64{0, 1}, val.X.Data())
	assert.Equal(t, []float64{0}, val.Y.Data())
	assert.Equal(t, []int{3, 2}, []int(train.X.Shape()))
	assert.Equal(t, []float64{10, 11, 20, 21, 30, 31}, train.X.Data())
	assert.Equal(t, []float64{1, 2, 3}, train.Y.Data())

	// No copy: a change through the views shows in the original.
	require.NoError(t, Scale01(val))
	assert.InDelta(t, 1.0/255, s.X.Data().([]float64)[1], 1e-18)
	assert.Equal(t, 10.0, s.X.Data().([]float64)[2], "the rest untouched")

	for _, n := range []int{0, -1, 4, 5} {
		_, _, err := ValidationSplit(s, n)
		assert.EqualError(t, err, fmt.Sprintf("datasets: ValidationSplit: %d validation rows of 4; want 1 to 3", n))
	}
	// Without labels.
	train, val, err = ValidationSplit(Split{X: s.X}, 3)
	require.NoError(t, err)
	assert.Nil(t, train.Y)
	assert.Nil(t, val.Y)
	assert.Equal(t, 1, train.Len())
	// Mismatched rows.
	_, _, err = ValidationSplit(Split{X: s.X, Y: newDense([]float64{1}, 1)}, 1)
	assert.EqualError(t, err, "datasets: split.X has 4 rows but split.Y has 1")
}

// TestValidationSplitMNIST: the Keras recipe, the first 1,000 rows held out.
func TestValidationSplitMNIST(t *testing.T) {
	hermetic(t)
	ds, err := MNIST(Options{Subset: true})
	require.NoError(t, err)
	train, val, err := ValidationSplit(ds.Train, 1000)
	require.NoError(t, err)
	assert.Equal(t, 5000, train.Len())
	assert.Equal(t, 1000, val.Len())
	assert.Equal(t, []int{1000, 28, 28}, []int(val.X.Shape()))
	assert.Equal(t, ds.Train.Labels()[:1000], val.Labels())
	assert.Equal(t, ds.Train.Labels()[1000:], train.Labels())
}
