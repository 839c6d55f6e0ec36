package train

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/layers"
)

// blobs returns n points of two seeded Gaussian blobs in 2-D, centred at
// (−1.5, −1.5) and (1.5, 1.5) with standard deviation 1, and their labels
// 0 and 1 (alternating): a problem a small MLP separates to about 98%.
func blobs(n int, seed uint64) (x, y *tensor.Dense) {
	r := rand.New(rand.NewPCG(seed, 1))
	xs := make([]float32, 2*n)
	ys := make([]float32, n)
	for i := range n {
		c := float32(i % 2)
		ys[i] = c
		for j := range 2 {
			xs[2*i+j] = float32(r.NormFloat64()) + 3*c - 1.5
		}
	}
	return tensor.New(tensor.WithShape(n, 2), tensor.WithBacking(xs)),
		tensor.New(tensor.WithShape(n), tensor.WithBacking(ys))
}

// blobModel is 2-16(relu)-2, seeded and compiled with Adam and accuracy.
func blobModel(t testing.TB, seed uint64, opt Optimizer, extra ...layers.Layer) *Model {
	t.Helper()
	ls := []layers.Layer{layers.Input(2), layers.Dense(16, layers.DenseOptions{Activation: "relu"})}
	ls = append(ls, extra...)
	ls = append(ls, layers.Dense(2, layers.DenseOptions{}))
	m := NewSequential(ls...)
	m.Seed(seed)
	if opt == nil {
		opt = Adam{LearningRate: 0.01}
	}
	require.NoError(t, m.Compile(Config{
		Loss:      SparseCategoricalCrossentropy{FromLogits: true},
		Optimizer: opt,
		Metrics:   []string{"accuracy"},
	}))
	return m
}

// storeValues returns every variable of m's store.
func storeValues(t testing.TB, m *Model) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, n := range m.Store().Names() {
		v, err := m.Store().Float64s(n)
		require.NoError(t, err)
		out[n] = v
	}
	return out
}

// weightValues returns the model's weights (the layers' variables).
func weightValues(t testing.TB, m *Model) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, n := range m.weights {
		v, err := m.Store().Float64s(n)
		require.NoError(t, err)
		out[n] = v
	}
	return out
}

// allFinite reports whether every value is finite.
func allFinite(vals map[string][]float64) bool {
	for _, vs := range vals {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
	}
	return true
}

// rowsOf returns rows [from, to) of a float32 tensor as a new tensor.
func rowsOf(t *tensor.Dense, from, to int) *tensor.Dense {
	shape := append([]int{to - from}, t.Shape()[1:]...)
	row := 1
	for _, d := range t.Shape()[1:] {
		row *= d
	}
	data := append([]float32(nil), t.Float32s()[from*row:to*row]...)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// iterations reads the optimizer's update counter.
func iterations(t testing.TB, m *Model) int {
	t.Helper()
	v, err := m.Store().Float64s(IterationsVar)
	require.NoError(t, err)
	return int(v[0])
}

func TestCompileErrors(t *testing.T) {
	dense := func() *Model { return NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{})) }
	cases := []struct {
		name string
		m    *Model
		cfg  Config
		want string
	}{
		{"no loss", dense(), Config{}, "Config.Loss is required"},
		{"bad metric", dense(), Config{Loss: MeanSquaredError{}, Metrics: []string{"accuracyy"}}, `unknown metric "accuracyy"`},
		{"twice", dense(), Config{Loss: MeanSquaredError{}, Metrics: []string{"mae", "mae"}}, `metric "mae" is listed twice`},
		{"dtype", dense(), Config{Loss: MeanSquaredError{}, DType: 7}, "unsupported dtype"},
		{"no input", NewSequential(layers.Dense(2, layers.DenseOptions{})), Config{Loss: MeanSquaredError{}}, "no input shape"},
		{"nil layer", NewSequential(layers.Input(2), nil), Config{Loss: MeanSquaredError{}}, "layer 0 is nil"},
		{"no trainable", NewSequential(layers.Input(2), layers.Activation("relu")), Config{Loss: MeanSquaredError{}}, "no trainable variables"},
		{"bad optimizer", dense(), Config{Loss: MeanSquaredError{}, Optimizer: SGD{LearningRate: -1}}, "learning rate"},
		{"nil model", NewModel(nil), Config{Loss: MeanSquaredError{}}, "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Compile(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "train: compile")
			assert.Empty(t, tc.m.Store().Names(), "nothing created")
		})
	}
}

func TestCompileKeepsWeightsResetsOptimizer(t *testing.T) {
	x, y := blobs(64, 1)
	m := blobModel(t, 1, nil)
	_, err := m.Fit(context.Background(), x, y, FitOptions{})
	require.NoError(t, err)
	w := weightValues(t, m)
	require.Equal(t, 2, iterations(t, m))
	require.NoError(t, m.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}, Optimizer: SGD{LearningRate: 0.5}}))
	assert.Equal(t, w, weightValues(t, m), "weights kept")
	assert.Equal(t, 0, iterations(t, m), "a new optimizer")
	assert.InDelta(t, 0.5, m.LearningRate(), 1e-7)
	assert.False(t, m.Store().Has("optimizer/dense/kernel/m"), "Adam's slots are gone")
}

func TestSummary(t *testing.T) {
	m := NewSequential(layers.Input(2), layers.Dense(3, layers.DenseOptions{}))
	assert.Contains(t, m.Summary(), "Total params: 9")
	assert.Same(t, m.Sequential(), m.seq)
}

func TestPredictEvaluateBatchSizes(t *testing.T) {
	x, y := blobs(50, 20)
	m := blobModel(t, 1, nil, layers.BatchNormalization(layers.BNOptions{}), layers.Dropout(0.5, layers.DropoutOptions{}))
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 8})
	require.NoError(t, err)
	before := storeValues(t, m)
	full, err := m.Predict(x, PredictOptions{BatchSize: 50})
	require.NoError(t, err)
	assert.Equal(t, []int{50, 2}, []int(full.Shape()))
	evFull, err := m.Evaluate(x, y, EvaluateOptions{BatchSize: 50})
	require.NoError(t, err)
	for _, bs := range []int{1, 7, 0, 1000} {
		p, err := m.Predict(x, PredictOptions{BatchSize: bs})
		require.NoError(t, err)
		// each row's output depends on that row only; the GEMM's sums may
		// be split differently for different batch sizes: float32 round-off
		assert.InDeltaSlice(t, full.Float32s(), p.Float32s(), 1e-5, "batch size %d", bs)
		ev, err := m.Evaluate(x, y, EvaluateOptions{BatchSize: bs})
		require.NoError(t, err)
		assert.InDelta(t, evFull.Loss, ev.Loss, 1e-5, "batch size %d", bs)
		assert.InDelta(t, evFull.Metrics["accuracy"], ev.Metrics["accuracy"], 1e-7, "batch size %d", bs) // float32 batch means
	}
	one, err := m.Predict(rowsOf(x, 3, 4))
	require.NoError(t, err)
	assert.InDeltaSlice(t, full.Float32s()[6:8], one.Float32s(), 1e-5, "a single row")
	assert.Equal(t, before, storeValues(t, m), "inference changes nothing")
	assert.Contains(t, evFull.String(), "loss: ")
	assert.Contains(t, evFull.String(), " - accuracy: ")

	_, err = m.Predict(x, PredictOptions{BatchSize: -1})
	assert.ErrorContains(t, err, "batch size -1")
	_, err = m.Predict(x, PredictOptions{}, PredictOptions{})
	assert.ErrorContains(t, err, "more than one")
	_, err = m.Predict(y)
	assert.ErrorContains(t, err, "train: predict: x has shape [50]")
	_, err = m.Evaluate(x, nil)
	assert.ErrorContains(t, err, "train: evaluate: y is nil")
}

func TestPredictMC(t *testing.T) {
	x, y := blobs(40, 21)
	m := blobModel(t, 1, nil, layers.Dropout(0.5, layers.DropoutOptions{}))
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 8})
	require.NoError(t, err)
	counter, err := m.Store().Float64s(layers.RNGCounterName)
	require.NoError(t, err)
	plain, err := m.Predict(x)
	require.NoError(t, err)

	a, err := m.PredictMC(x, 10, PredictOptions{Seed: 1})
	require.NoError(t, err)
	b, err := m.PredictMC(x, 10, PredictOptions{Seed: 1})
	require.NoError(t, err)
	c, err := m.PredictMC(x, 10, PredictOptions{Seed: 2})
	require.NoError(t, err)
	one, err := m.PredictMC(x, 1, PredictOptions{Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, a.Float32s(), b.Float32s(), "seeded: the same call, the same result")
	assert.NotEqual(t, a.Float32s(), c.Float32s(), "another seed, other masks")
	assert.NotEqual(t, plain.Float32s(), a.Float32s(), "dropout is on")
	assert.NotEqual(t, one.Float32s(), a.Float32s(), "samples are averaged")
	after, err := m.Store().Float64s(layers.RNGCounterName)
	require.NoError(t, err)
	assert.Equal(t, counter, after, "the training stream is not advanced")

	// the average of many samples is close to the plain prediction
	// (inverted dropout keeps the expectation of each layer's output)
	many, err := m.PredictMC(x, 400, PredictOptions{Seed: 3, BatchSize: 40})
	require.NoError(t, err)
	var dMany, dOne float64
	for i, v := range plain.Float32s() {
		dMany += math.Abs(float64(many.Float32s()[i] - v))
		dOne += math.Abs(float64(one.Float32s()[i] - v))
	}
	assert.Less(t, dMany, dOne)

	// without dropout MC prediction is prediction
	m2 := blobModel(t, 1, nil)
	p2, err := m2.Predict(x)
	require.NoError(t, err)
	mc2, err := m2.PredictMC(x, 3)
	require.NoError(t, err)
	assert.InDeltaSlice(t, p2.Float32s(), mc2.Float32s(), 1e-6)
	_, err = m2.PredictMC(x, 0)
	assert.ErrorContains(t, err, "0 samples")
}

func TestSaveLoad(t *testing.T) {
	x, y := blobs(64, 22)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	m := blobModel(t, 1, nil, layers.BatchNormalization(layers.BNOptions{}))
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2})
	require.NoError(t, err)
	require.NoError(t, m.Save(path))
	want, err := m.Predict(x)
	require.NoError(t, err)

	t.Run("round trip", func(t *testing.T) {
		m2 := blobModel(t, 77, nil, layers.BatchNormalization(layers.BNOptions{}))
		other, err := m2.Predict(x)
		require.NoError(t, err)
		require.NotEqual(t, want.Float32s(), other.Float32s())
		require.NoError(t, m2.Load(path))
		got, err := m2.Predict(x)
		require.NoError(t, err)
		assert.Equal(t, want.Float32s(), got.Float32s())
		assert.Equal(t, storeValues(t, m), storeValues(t, m2), "weights and optimizer state")
	})
	t.Run("before compile", func(t *testing.T) {
		m2 := NewSequential(layers.Input(2), layers.Dense(16, layers.DenseOptions{Activation: "relu"}), layers.BatchNormalization(layers.BNOptions{}), layers.Dense(2, layers.DenseOptions{}))
		require.NoError(t, m2.Load(path))
		require.NoError(t, m2.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}}))
		got, err := m2.Predict(x)
		require.NoError(t, err)
		assert.Equal(t, want.Float32s(), got.Float32s())
	})
	t.Run("errors leave the model untouched", func(t *testing.T) {
		other := NewSequential(layers.Input(2), layers.Dense(5, layers.DenseOptions{}), layers.Dense(2, layers.DenseOptions{}))
		other.Seed(3)
		require.NoError(t, other.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}}))
		otherPath := filepath.Join(dir, "other.safetensors")
		require.NoError(t, other.Save(otherPath))
		garbage := filepath.Join(dir, "garbage.safetensors")
		require.NoError(t, os.WriteFile(garbage, []byte("not a checkpoint"), 0o644))

		m2 := blobModel(t, 5, nil, layers.BatchNormalization(layers.BNOptions{}))
		before := storeValues(t, m2)
		for _, p := range []string{filepath.Join(dir, "missing.safetensors"), otherPath, garbage} {
			err := m2.Load(p)
			require.Error(t, err, p)
			assert.Contains(t, err.Error(), "train: load")
			assert.Equal(t, before, storeValues(t, m2), p)
		}
	})
	t.Run("save before compile", func(t *testing.T) {
		err := NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{})).Save(filepath.Join(dir, "empty.safetensors"))
		assert.ErrorContains(t, err, "no variables yet")
	})
}
