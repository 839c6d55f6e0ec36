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

// FitStandardizer and Apply on what a caller may pass: no data, no rows,
// no features, labels that do not match, NaNs, a Standardizer built by
// hand with the wrong sizes or a zero std. Each is an error that names the
// problem; nothing panics or loops.
func TestStandardizerBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		train Split
		want  string
	}{
		{"no X", Split{}, "datasets: train.X is nil"},
		{"scalar X", Split{X: tensor.New(tensor.FromScalar(float32(1)))}, "datasets: train.X is a scalar; want rows along the first axis"},
		{"int X", Split{X: tensor.New(tensor.WithShape(2, 1), tensor.WithBacking([]int{1, 2}))}, "datasets: train.X has dtype int; want float32 or float64"},
		{"no rows", Split{X: newDense([]float32{}, 0, 3)}, "datasets: FitStandardizer: train.X has no rows"},
		{"no features", Split{X: newDense([]float32{}, 3, 0)}, "datasets: FitStandardizer: train.X has no features (shape (3, 0))"},
		{"fewer labels", Split{X: newDense([]float64{1, 2, 3, 4}, 4, 1), Y: newDense([]float64{0}, 1)}, "datasets: train.X has 4 rows but train.Y has 1"},
		{"labels of another dtype", Split{X: newDense([]float32{1, 2}, 2, 1), Y: newDense([]float64{0, 1}, 2)}, "datasets: train.X is float32 but train.Y is float64"},
		{"NaN", split64(2, 2, 1, math.NaN(), 3, 4), "datasets: FitStandardizer: feature 1 of train.X has a NaN or an infinity (mean NaN, std NaN)"},
		{"infinity", split64(2, 2, 1, 2, math.Inf(-1), 4), "datasets: FitStandardizer: feature 0 of train.X has a NaN or an infinity (mean -Inf, std NaN)"},
	} {
		st, err := FitStandardizer(tc.train)
		assert.Nil(t, st, tc.name)
		assert.EqualError(t, err, tc.want, tc.name)
		_, err = Standardize(tc.train)
		assert.EqualError(t, err, tc.want, "Standardize: %s", tc.name)
	}

	x := func() Split { return split64(2, 2, 1, 2, 3, 4) }
	for _, tc := range []struct {
		name  string
		st    *Standardizer
		split Split
		want  string
	}{
		{"nil Standardizer", nil, x(), "datasets: Standardizer.Apply: nil Standardizer"},
		{"zero Standardizer", &Standardizer{}, x(), "datasets: Standardizer.Apply: no features (Mean is empty)"},
		{"zero Standardizer, no features", &Standardizer{}, Split{X: newDense([]float32{}, 2, 0)}, "datasets: Standardizer.Apply: no features (Mean is empty)"},
		{"fewer stds", &Standardizer{Mean: []float64{0, 0}, Std: []float64{1}}, x(), "datasets: Standardizer.Apply: 2 means but 1 stds"},
		{"zero std", &Standardizer{Mean: []float64{0, 0}, Std: []float64{1, 0}}, x(), "datasets: Standardizer.Apply: Std[1] is 0; want positive and finite"},
		{"negative std", &Standardizer{Mean: []float64{0, 0}, Std: []float64{-1, 1}}, x(), "datasets: Standardizer.Apply: Std[0] is -1; want positive and finite"},
		{"NaN std", &Standardizer{Mean: []float64{0, 0}, Std: []float64{math.NaN(), 1}}, x(), "datasets: Standardizer.Apply: Std[0] is NaN; want positive and finite"},
		{"infinite std", &Standardizer{Mean: []float64{0, 0}, Std: []float64{1, math.Inf(1)}}, x(), "datasets: Standardizer.Apply: Std[1] is +Inf; want positive and finite"},
		{"NaN mean", &Standardizer{Mean: []float64{0, math.NaN()}, Std: []float64{1, 1}}, x(), "datasets: Standardizer.Apply: Mean[1] is NaN; want finite"},
		{"more features", &Standardizer{Mean: []float64{0, 0}, Std: []float64{1, 1}}, split64(1, 3, 1, 2, 3), "datasets: Standardizer.Apply: split 0 X has 3 features per row, the fitted statistics 2"},
		{"no X", &Standardizer{Mean: []float64{0, 0}, Std: []float64{1, 1}}, Split{}, "datasets: split 0 X is nil"},
	} {
		before := fmt.Sprint(tc.split.X)
		err := tc.st.Apply(tc.split)
		assert.EqualError(t, err, tc.want, tc.name)
		assert.Equal(t, before, fmt.Sprint(tc.split.X), "%s: X untouched", tc.name)
	}

	// A split without rows is standardized: there is nothing to do.
	st := &Standardizer{Mean: []float64{0, 0}, Std: []float64{1, 1}}
	assert.NoError(t, st.Apply(Split{X: newDense([]float32{}, 0, 2)}))
}

// Features constant at float precision get std 1, as scikit-learn's
// StandardScaler gives them; features that merely vary little keep their
// std, however small.
func TestStandardizeNearConstant(t *testing.T) {
	// float64: 0.1 on 10 rows sums to 0.9999999999999999, so the mean is
	// not 0.1 and the two-pass std is 1.4e-17, not 0: dividing by it maps
	// the training rows to 1 and a test value of 0.2 to 7e15.
	x := make([]float64, 0, 20)
	for i := range 10 {
		x = append(x, 0.1, float64(i))
	}
	train := split64(10, 2, x...)
	test := split64(1, 2, 0.2, 0)
	st, err := Standardize(train, test)
	require.NoError(t, err)
	assert.Equal(t, 1.0, st.Std[0], "the constant feature 0.1")
	assert.InDelta(t, math.Sqrt(8.25), st.Std[1], 1e-15, "0, 1, ..., 9: variance 8.25")
	for r, v := range train.X.Data().([]float64) {
		if r%2 == 0 {
			assert.InDelta(t, 0, v, 1e-16, "row %d of the constant feature", r/2)
		}
	}
	assert.InDelta(t, 0.1, test.X.Data().([]float64)[0], 1e-16, "a test value of 0.2: 0.2 − 0.1, over 1")

	// float32: 999 rows of 1 and one of the next float32 (1 + 2⁻²³),
	// a std of 3.8e-9: one ulp of spread, a constant up to rounding.
	ulp := math.Nextafter32(1, 2)
	x32 := make([]float32, 1000)
	for i := range x32 {
		x32[i] = 1
	}
	x32[500] = ulp
	st, err = FitStandardizer(Split{X: newDense(x32, 1000, 1)})
	require.NoError(t, err)
	assert.Equal(t, 1.0, st.Std[0], "values within one float32 ulp")

	for _, tc := range []struct {
		name string
		x    Split
		std  float64
	}{
		// 1 and 1 + 2e-10 in float64: far above float64's rounding.
		{"float64, relative std 1e-10", split64(2, 1, 1, 1+2e-10), 1e-10},
		// Four float32 ulps apart: std = 2 ulps, a real difference.
		{"float32, four ulps", Split{X: newDense([]float32{1, 1 + 0x1p-21}, 2, 1)}, 0x1p-22},
		{"float32, 1 and 1.001", Split{X: newDense([]float32{1, 1.001}, 2, 1)}, float64(float32(1.001)-1) / 2},
		// Tiny values around 0: no scale to compare with, a real spread.
		{"float64, ±1e-30", split64(2, 1, -1e-30, 1e-30), 1e-30},
	} {
		st, err := FitStandardizer(tc.x)
		require.NoError(t, err, tc.name)
		assert.InEpsilon(t, tc.std, st.Std[0], 1e-6, tc.name)
		require.NoError(t, st.Apply(tc.x), tc.name)
		var v []float64
		switch d := tc.x.X.Data().(type) {
		case []float32:
			v = []float64{float64(d[0]), float64(d[1])}
		case []float64:
			v = d
		}
		// Tolerance: (x − mean)/std rounded to float32.
		assert.InDeltaSlice(t, []float64{-1, 1}, v, 1e-6, "%s: standardized", tc.name)
	}
}
