package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/layers"
)

// resumeModel is a model whose training draws random numbers (Dropout) and
// keeps state besides its weights (BatchNormalization's moving statistics,
// Adam's moments and step), compiled for float32.
func resumeModel(t *testing.T, seed uint64) *Model {
	t.Helper()
	m := NewSequential(layers.Input(2),
		layers.Dense(16, layers.DenseOptions{Activation: "relu"}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Dropout(0.3, layers.DropoutOptions{}),
		layers.Dense(2, layers.DenseOptions{}))
	m.Seed(seed)
	require.NoError(t, m.Compile(Config{
		Loss:      SparseCategoricalCrossentropy{FromLogits: true},
		Optimizer: Adam{LearningRate: 0.01},
		Metrics:   []string{"accuracy"},
	}))
	return m
}

// storeBitsOf returns the bits of every variable of m's store (float32
// values are exact in float64), so that two stores compare bit for bit.
func storeBitsOf(t *testing.T, m *Model) map[string][]uint64 {
	t.Helper()
	out := map[string][]uint64{}
	for name, v := range storeValues(t, m) {
		bits := make([]uint64, len(v))
		for i, x := range v {
			bits[i] = math.Float64bits(x)
		}
		out[name] = bits
	}
	return out
}

// historyTail returns the history's entries from epoch index i on, without
// the times.
func historyTail(h *History, i int) *History {
	out := &History{Epoch: h.Epoch[i:], Loss: h.Loss[i:], ValLoss: h.ValLoss[i:], Metrics: map[string][]float64{}, ValMetrics: map[string][]float64{}}
	for k, v := range h.Metrics {
		out.Metrics[k] = v[i:]
	}
	for k, v := range h.ValMetrics {
		out.ValMetrics[k] = v[i:]
	}
	return out
}

// TestFitResumeBitIdentical checks issue 8's promise: a run of 4 epochs
// saved after epoch 2, loaded into a new model and continued with
// InitialEpoch 2 ends with the very bits of the uninterrupted run — the
// weights, BatchNorm's statistics, Adam's moments and step, the random
// layers' counter — and records the same losses and metrics for epochs 3
// and 4. Shuffling is on (each epoch's order derives from the Seed and the
// epoch's number), Dropout draws from the model seed and the counter, and a
// validation split is held out.
func TestFitResumeBitIdentical(t *testing.T) {
	x, y := blobs(200, 13)
	opts := func(epochs, initial int) FitOptions {
		return FitOptions{Epochs: epochs, InitialEpoch: initial, BatchSize: 16, Seed: 21, ValidationSplit: 0.2}
	}
	straight := resumeModel(t, 5)
	hs, err := straight.Fit(context.Background(), x, y, opts(4, 0))
	require.NoError(t, err)
	require.Equal(t, 4, hs.Len())
	want := storeBitsOf(t, straight)

	for _, tc := range []struct {
		name string
		seed uint64 // the resumed model's seed before Load
	}{
		{"same model seed", 5},
		{"model seed restored by Load", 77},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := resumeModel(t, 5)
			h1, err := first.Fit(context.Background(), x, y, opts(2, 0))
			require.NoError(t, err)
			assert.Equal(t, historyTail(hs, 0).Loss[:2], h1.Loss, "the first two epochs")
			path := filepath.Join(t.TempDir(), "epoch2.safetensors")
			require.NoError(t, first.Save(path))

			resumed := resumeModel(t, tc.seed)
			require.NoError(t, resumed.Load(path))
			assert.Equal(t, uint64(5), resumed.Sequential().RandomSeed(), "Load restores the model seed")
			h2, err := resumed.Fit(context.Background(), x, y, opts(4, 2))
			require.NoError(t, err)
			assert.Equal(t, historyTail(hs, 2), historyTail(h2, 0), "epochs 3 and 4")
			got := storeBitsOf(t, resumed)
			assert.Equal(t, len(want), len(got), "store variables")
			for name, w := range want {
				assert.Equal(t, w, got[name], "variable %q, bit for bit", name)
			}
		})
	}
}

// TestLoadModelSeed checks how Load treats the model seed of a checkpoint:
// Save records it, Load restores it (recompiling a compiled model, whose
// Dropout then draws what the saved model's would), a checkpoint without
// one (SaveStore's) leaves the model's seed alone, and a malformed one is
// an error that leaves the model untouched.
func TestLoadModelSeed(t *testing.T) {
	dir := t.TempDir()
	x, _ := blobs(32, 3)
	saved := resumeModel(t, 5)
	path := filepath.Join(dir, "m.safetensors")
	require.NoError(t, saved.Save(path))
	meta, err := ReadCheckpointMetadata(path)
	require.NoError(t, err)
	assert.Equal(t, "5", meta[MetaModelSeed])

	// MC dropout shows the seed the programs were built with
	want, err := saved.PredictMC(x, 3)
	require.NoError(t, err)
	m := resumeModel(t, 77)
	other, err := m.PredictMC(x, 3)
	require.NoError(t, err)
	require.NotEqual(t, want.Float32s(), other.Float32s(), "another seed, other masks")
	require.NoError(t, m.Load(path))
	assert.Equal(t, uint64(5), m.Sequential().RandomSeed())
	got, err := m.PredictMC(x, 3)
	require.NoError(t, err)
	assert.Equal(t, want.Float32s(), got.Float32s(), "the restored seed's masks")

	t.Run("no seed in the file", func(t *testing.T) {
		p := filepath.Join(dir, "store.safetensors")
		require.NoError(t, SaveStore(p, saved.Store()))
		m := resumeModel(t, 77)
		require.NoError(t, m.Load(p))
		assert.Equal(t, uint64(77), m.Sequential().RandomSeed())
		assert.Equal(t, storeBitsOf(t, saved), storeBitsOf(t, m))
	})
	for _, bad := range []string{"", "-1", "x", "18446744073709551616"} {
		t.Run("bad seed "+bad, func(t *testing.T) {
			p := filepath.Join(dir, "bad.safetensors")
			require.NoError(t, SaveStore(p, saved.Store(), SaveOptions{Metadata: map[string]string{MetaModelSeed: bad}}))
			m := resumeModel(t, 77)
			before := storeBitsOf(t, m)
			err := m.Load(p)
			require.Error(t, err)
			assert.ErrorContains(t, err, "model_seed")
			assert.ErrorContains(t, err, "bad.safetensors")
			assert.Equal(t, uint64(77), m.Sequential().RandomSeed())
			assert.Equal(t, before, storeBitsOf(t, m), "the model is untouched")
		})
	}
}
