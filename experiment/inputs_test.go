package experiment_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/experiment"
)

// Sizes below 1, a batch too large to draw, and one row to standardize
// are errors, not a panic or NaNs.
func TestStandardNormalBatchErrors(t *testing.T) {
	for _, tc := range []struct {
		rows, cols  int
		standardize bool
		want        string
	}{
		{-1, 3, false, "experiment: StandardNormalBatch: -1 rows × 3 columns: want at least 1 of each"},
		{0, 3, true, "experiment: StandardNormalBatch: 0 rows × 3 columns: want at least 1 of each"},
		{3, 0, false, "experiment: StandardNormalBatch: 3 rows × 0 columns: want at least 1 of each"},
		{3, -2, false, "experiment: StandardNormalBatch: 3 rows × -2 columns: want at least 1 of each"},
		{1 << 20, 1 << 20, false, "experiment: StandardNormalBatch: 1048576 rows × 1048576 columns: want at most 2147483647 values"},
		{math.MaxInt, 2, false, "want at most 2147483647 values"},
		{1, 3, true, "experiment: StandardNormalBatch: standardizing 1 row: want at least 2 (the std of one row is 0)"},
	} {
		x, err := experiment.StandardNormalBatch(tc.rows, tc.cols, 42, 1, tc.standardize)
		assert.Nil(t, x, "StandardNormalBatch(%d, %d, standardize %v)", tc.rows, tc.cols, tc.standardize)
		if assert.Error(t, err, "StandardNormalBatch(%d, %d, standardize %v)", tc.rows, tc.cols, tc.standardize) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}

	// The smallest valid batches: one row drawn, two rows standardized
	// (each column then holds −1 and 1).
	x, err := experiment.StandardNormalBatch(1, 3, 42, 1, false)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 3}, []int(x.Shape()))
	x, err = experiment.StandardNormalBatch(2, 3, 42, 1, true)
	require.NoError(t, err)
	v := x.Data().([]float32)
	for j := range 3 {
		assert.InDelta(t, 1, math.Abs(float64(v[j])), 1e-6, "column %d, row 0: %v", j, v)
		assert.InDelta(t, 0, float64(v[j]+v[3+j]), 1e-6, "column %d: %v", j, v)
	}
}

// The nets' constructors take sizes and Keras names from their caller:
// a size below 1 or an unknown name is an error that says which, and
// nothing panics.
func TestNetsBadInput(t *testing.T) {
	type tc struct {
		name string
		f    func() error
		want string
	}
	variance := func(layers, units int, init, act string) func() error {
		return func() error {
			m, err := experiment.VarianceNet(layers, units, init, act, 1)
			assert.True(t, (m == nil) == (err != nil), "VarianceNet returns a model or an error")
			return err
		}
	}
	selfNorm := func(layers, units int, act, init string) func() error {
		return func() error {
			m, err := experiment.SelfNormNet(layers, units, act, init)
			assert.True(t, (m == nil) == (err != nil), "SelfNormNet returns a model or an error")
			return err
		}
	}
	batchNorm := func(v, layers, units int, act string) func() error {
		return func() error {
			m, outs, err := experiment.BatchNormNet(v, layers, units, act)
			assert.True(t, (m == nil) == (err != nil), "BatchNormNet returns a model or an error")
			if err == nil {
				assert.Len(t, outs, layers)
			}
			return err
		}
	}
	mlp := func(act string, hidden ...int) func() error {
		return func() error {
			m, outs, err := experiment.ActivationMLP(act, hidden)
			assert.True(t, (m == nil) == (err != nil), "ActivationMLP returns a model or an error")
			if err == nil {
				assert.Len(t, outs, len(hidden))
			}
			return err
		}
	}
	cases := []tc{
		{"VarianceNet ok", variance(2, 4, "he_normal", "relu"), ""},
		{"VarianceNet 0 layers", variance(0, 4, "he_normal", "relu"), "experiment: VarianceNet: 0 layers of 4 units: want at least 1 of each"},
		{"VarianceNet -1 layers", variance(-1, 4, "he_normal", "relu"), "VarianceNet: -1 layers of 4 units"},
		{"VarianceNet 0 units", variance(2, 0, "he_normal", "relu"), "VarianceNet: 2 layers of 0 units"},
		{"VarianceNet -3 units", variance(2, -3, "he_normal", "relu"), "VarianceNet: 2 layers of -3 units"},
		{"VarianceNet init", variance(2, 4, "he_nromal", "relu"), `experiment: VarianceNet: layers: dense (Dense): kernel_initializer: initializers: unknown initializer "he_nromal"`},
		{"VarianceNet act", variance(2, 4, "he_normal", "relu7"), `experiment: VarianceNet: layers: activation (Activation): nodes: invalid argument: unknown activation "relu7"`},
		{"VarianceNet linear", variance(2, 4, "he_normal", "linear"), ""},

		{"SelfNormNet ok", selfNorm(2, 4, "selu", "lecun_normal"), ""},
		{"SelfNormNet 0 layers", selfNorm(0, 4, "selu", "lecun_normal"), "experiment: SelfNormNet: 0 hidden layers of 4 units: want at least 1 of each"},
		{"SelfNormNet -2 layers", selfNorm(-2, 4, "selu", "lecun_normal"), "SelfNormNet: -2 hidden layers of 4 units"},
		{"SelfNormNet 0 units", selfNorm(2, 0, "selu", "lecun_normal"), "SelfNormNet: 2 hidden layers of 0 units"},
		{"SelfNormNet act", selfNorm(2, 4, "sleu", "lecun_normal"), `experiment: SelfNormNet: layers: dense (Dense): nodes: invalid argument: unknown activation "sleu"`},
		{"SelfNormNet init", selfNorm(2, 4, "selu", "lecun"), `experiment: SelfNormNet: layers: dense (Dense): kernel_initializer: initializers: unknown initializer "lecun"`},

		{"ActivationMLP ok", mlp("prelu", 8, 4), ""},
		{"ActivationMLP act", mlp("swish", 8), `experiment: ActivationMLP: unknown activation "swish" (valid: elu, leaky_relu, prelu, relu, rrelu, selu)`},
		{"ActivationMLP no act", mlp("", 8), `unknown activation ""`},
		{"ActivationMLP no hidden", mlp("relu"), "experiment: ActivationMLP: no hidden layer"},
		{"ActivationMLP 0 units", mlp("relu", 8, 0), "experiment: ActivationMLP: hidden layer 2 has 0 units: want at least 1"},
		{"ActivationMLP -1 units", mlp("elu", -1), "experiment: ActivationMLP: hidden layer 1 has -1 units: want at least 1"},
	}
	for v, name := range experiment.BatchNormVariants() {
		cases = append(cases,
			tc{"BatchNormNet ok, " + name, batchNorm(v, 2, 4, "relu"), ""},
			tc{"BatchNormNet 0 blocks, " + name, batchNorm(v, 0, 4, "relu"), "experiment: BatchNormNet: 0 hidden blocks of 4 units: want at least 1 of each"},
			tc{"BatchNormNet -1 units, " + name, batchNorm(v, 2, -1, "relu"), "BatchNormNet: 2 hidden blocks of -1 units"},
			tc{"BatchNormNet no act, " + name, batchNorm(v, 2, 4, ""), "experiment: BatchNormNet: no activation"},
			tc{"BatchNormNet act, " + name, batchNorm(v, 2, 4, "rleu"), `unknown activation "rleu"`},
		)
	}
	n := len(experiment.BatchNormVariants())
	cases = append(cases,
		tc{"BatchNormNet variant -1", batchNorm(-1, 2, 4, "relu"), "experiment: BatchNormNet: no Batch Normalization variant -1 (want 0 to 2)"},
		tc{"BatchNormNet variant n", batchNorm(n, 2, 4, "relu"), "experiment: BatchNormNet: no Batch Normalization variant 3 (want 0 to 2)"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.f()
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), c.want)
			}
		})
	}

	// MeasureVariance hands the net's error on, named.
	x, err := experiment.StandardNormalBatch(4, 4, 1, 1, true)
	require.NoError(t, err)
	_, err = experiment.MeasureVariance(0, 4, "he_normal", "relu", 1, x, x)
	assert.EqualError(t, err, "experiment: VarianceNet: 0 layers of 4 units: want at least 1 of each")
}

// NewProgress on no writer is a nil *Progress, which shows nothing: a run
// with it works.
func TestNewProgressNil(t *testing.T) {
	for _, tty := range []bool{false, true} {
		p := experiment.NewProgress(nil, tty)
		assert.Nil(t, p, "NewProgress(nil, %v)", tty)
		cfg := experiment.Quick()
		cfg.Dir = t.TempDir()
		cfg.Variance.Inits, cfg.Variance.Acts = []string{"he_normal"}, []string{"relu"}
		cfg.Progress = p
		_, err := experiment.Run(context.Background(), cfg, "variance")
		assert.NoError(t, err, "tty %v", tty)
	}
}
