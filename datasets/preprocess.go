package datasets

import (
	"fmt"
	"math"
)

// Scale01 divides the pixel values of each split's X by 255, in place,
// mapping 0..255 to [0, 1] as the Keras examples do (x / 255). Call it once:
// splits that share memory (ValidationSplit's) are scaled together when
// one of them is.
func Scale01(splits ...Split) error {
	for i, s := range splits {
		x, err := floats(fmt.Sprintf("split %d X", i), s.X)
		if err != nil {
			return err
		}
		switch d := x.(type) {
		case []float32:
			scale(d, 255)
		case []float64:
			scale(d, 255)
		}
	}
	return nil
}

// scale divides every element by by.
func scale[T float](d []T, by T) {
	for i := range d {
		d[i] /= by
	}
}

// Standardizer holds per-feature statistics fitted on a training split:
// Apply maps each feature (each pixel) to (x - Mean) / Std.
type Standardizer struct {
	// Mean is the mean of each feature over the training rows.
	Mean []float64
	// Std is the population standard deviation (divisor n, as
	// scikit-learn's StandardScaler) of each feature, except that a
	// feature constant over the training rows (MNIST's border pixels) has
	// 1, so that it maps to 0 rather than dividing by zero.
	Std []float64
}

// FitStandardizer computes the per-feature mean and standard deviation of
// train.X, a feature being every position after the row axis (784 of them
// for [n, 28, 28] and for [n, 784] alike). Sums are in float64, in two
// passes (mean, then squared deviations), whatever the dtype.
func FitStandardizer(train Split) (*Standardizer, error) {
	x, err := floats("train.X", train.X)
	if err != nil {
		return nil, err
	}
	n := train.Len()
	if n == 0 {
		return nil, fmt.Errorf("datasets: FitStandardizer: train.X has no rows")
	}
	var st *Standardizer
	switch d := x.(type) {
	case []float32:
		st = fit(d, n)
	case []float64:
		st = fit(d, n)
	}
	return st, nil
}

// fit computes the statistics of n rows held in d.
func fit[T float](d []T, n int) *Standardizer {
	f := len(d) / n
	mean, std := make([]float64, f), make([]float64, f)
	for r := range n {
		for j, v := range d[r*f : (r+1)*f] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for r := range n {
		for j, v := range d[r*f : (r+1)*f] {
			dv := float64(v) - mean[j]
			std[j] += dv * dv
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / float64(n))
		if std[j] == 0 {
			std[j] = 1
		}
	}
	return &Standardizer{Mean: mean, Std: std}
}

// Apply standardizes each split's X in place with the fitted statistics.
// Each split must have as many features per row as the training split.
func (st *Standardizer) Apply(splits ...Split) error {
	for i, s := range splits {
		what := fmt.Sprintf("split %d X", i)
		x, err := floats(what, s.X)
		if err != nil {
			return err
		}
		if n := s.Len(); n > 0 && s.X.Shape().TotalSize()/n != len(st.Mean) {
			return fmt.Errorf("datasets: Standardizer.Apply: %s has %d features per row, the fitted statistics %d", what, s.X.Shape().TotalSize()/n, len(st.Mean))
		}
		switch d := x.(type) {
		case []float32:
			apply(d, st)
		case []float64:
			apply(d, st)
		}
	}
	return nil
}

// apply standardizes the rows held in d.
func apply[T float](d []T, st *Standardizer) {
	f := len(st.Mean)
	for r := 0; r+f <= len(d); r += f {
		row := d[r : r+f]
		for j := range row {
			row[j] = T((float64(row[j]) - st.Mean[j]) / st.Std[j])
		}
	}
}

// Standardize fits a Standardizer on train and applies it to train and to
// the other splits (validation, test), in place, and returns it: the
// statistics come from the training rows only, so nothing of the test set
// leaks into the model.
func Standardize(train Split, others ...Split) (*Standardizer, error) {
	st, err := FitStandardizer(train)
	if err != nil {
		return nil, err
	}
	if err := st.Apply(append([]Split{train}, others...)...); err != nil {
		return nil, err
	}
	return st, nil
}
