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
	// feature constant over the training rows at float precision (MNIST's
	// border pixels; see FitStandardizer) has 1, so that it maps to about
	// 0 rather than dividing by a rounding error.
	Std []float64
}

// FitStandardizer computes the per-feature mean and standard deviation of
// train.X, a feature being every position after the row axis (784 of them
// for [n, 28, 28] and for [n, 784] alike). Sums are in float64, in two
// passes (mean, then squared deviations), whatever the dtype. train must
// have rows and features, and, when it has labels, as many as rows.
//
// A feature that is constant at float precision gets Std 1, as
// scikit-learn's StandardScaler does, rather than a tiny std that would
// blow its values up (on the training rows to ±1 instead of 0, on other
// rows to 1e7 or more). Constant means, with n rows and float64's epsilon
// ε = 2⁻⁵², a variance within scikit-learn's bound on the rounding error of
// a two-pass variance (Chan, Golub and LeVeque), var ≤ n·ε·var +
// (n·|mean|·ε)², which catches a float64 feature such as 0.1 on every row,
// whose mean does not round to 0.1; or, beyond StandardScaler, a std below
// one unit of the data's own precision, std ≤ |mean|·ε_T with ε_T the
// epsilon of X's dtype (2⁻²³ ≈ 1.2e-7 for float32): values that all lie
// within about one ulp of each other, a constant up to the rounding of
// whatever computed it.
func FitStandardizer(train Split) (*Standardizer, error) {
	x, _, err := train.check("train")
	if err != nil {
		return nil, err
	}
	n := train.Len()
	if n == 0 {
		return nil, fmt.Errorf("datasets: FitStandardizer: train.X has no rows")
	}
	if train.X.Shape().TotalSize() == 0 {
		return nil, fmt.Errorf("datasets: FitStandardizer: train.X has no features (shape %v)", train.X.Shape())
	}
	var st *Standardizer
	switch d := x.(type) {
	case []float32:
		st = fit(d, n, 0x1p-23)
	case []float64:
		st = fit(d, n, 0x1p-52)
	}
	for j := range st.Mean {
		if m, sd := st.Mean[j], st.Std[j]; math.IsNaN(m) || math.IsInf(m, 0) || math.IsNaN(sd) || math.IsInf(sd, 0) {
			return nil, fmt.Errorf("datasets: FitStandardizer: feature %d of train.X has a NaN or an infinity (mean %v, std %v)", j, m, sd)
		}
	}
	return st, nil
}

// constantFeature reports whether a feature of n values with this mean and
// variance (two-pass, in float64) is constant at float precision: within
// scikit-learn's bound (_is_constant_feature) or below |mean|·eps, eps the
// machine epsilon of the data's dtype. See FitStandardizer.
func constantFeature(mean, variance float64, n int, eps float64) bool {
	const eps64 = 0x1p-52
	nf := float64(n)
	if bound := nf * math.Abs(mean) * eps64; variance <= nf*eps64*variance+bound*bound {
		return true
	}
	return math.Sqrt(variance) <= math.Abs(mean)*eps
}

// fit computes the statistics of n rows held in d, eps being the machine
// epsilon of T.
func fit[T float](d []T, n int, eps float64) *Standardizer {
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
		variance := std[j] / float64(n)
		if constantFeature(mean[j], variance, n, eps) {
			std[j] = 1
		} else {
			std[j] = math.Sqrt(variance)
		}
	}
	return &Standardizer{Mean: mean, Std: std}
}

// Apply standardizes each split's X in place with the fitted statistics.
// Each split must have as many features per row as the training split. A
// Standardizer made by hand must have as many (finite) means as stds, at
// least one, and every std positive and finite.
func (st *Standardizer) Apply(splits ...Split) error {
	if err := st.check(); err != nil {
		return err
	}
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

// check reports a Standardizer that Apply cannot use.
func (st *Standardizer) check() error {
	switch {
	case st == nil:
		return fmt.Errorf("datasets: Standardizer.Apply: nil Standardizer")
	case len(st.Mean) == 0:
		return fmt.Errorf("datasets: Standardizer.Apply: no features (Mean is empty)")
	case len(st.Std) != len(st.Mean):
		return fmt.Errorf("datasets: Standardizer.Apply: %d means but %d stds", len(st.Mean), len(st.Std))
	}
	for j, sd := range st.Std {
		if !(sd > 0) || math.IsInf(sd, 1) {
			return fmt.Errorf("datasets: Standardizer.Apply: Std[%d] is %v; want positive and finite", j, sd)
		}
		if m := st.Mean[j]; math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("datasets: Standardizer.Apply: Mean[%d] is %v; want finite", j, m)
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
