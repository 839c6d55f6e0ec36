package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/layers"
)

// The validation of every epoch sees the weights of that epoch. The
// inference program folds BatchNormalization into the Dense kernel and
// keeps the folded kernel from run to run; plain SGD writes its updates
// straight into the variables (no assignment left), and the evaluation
// machine must still notice the store changed. The last epoch's validation
// loss equals what a new model, loaded with the trained weights, computes.
func TestValidationSeesEachEpochsWeights(t *testing.T) {
	x, y := blobs(160, 17)
	vx, vy := blobs(64, 18)
	build := func() *Model {
		m := NewSequential(layers.Input(2),
			layers.Dense(8, layers.DenseOptions{UseBias: layers.False}),
			layers.BatchNormalization(layers.BNOptions{}),
			layers.Activation("relu"),
			layers.Dense(2, layers.DenseOptions{}))
		m.Seed(3)
		require.NoError(t, m.Compile(Config{
			Loss:      SparseCategoricalCrossentropy{FromLogits: true},
			Optimizer: SGD{LearningRate: 0.1},
		}))
		return m
	}
	m := build()
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 3, BatchSize: 16, Seed: 1, ValidationData: &Data{X: vx, Y: vy}})
	require.NoError(t, err)
	require.Equal(t, 3, h.Len())
	assert.NotEqual(t, h.ValLoss[0], h.ValLoss[2], "the validation loss did not move in three epochs")

	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, m.Save(path))
	fresh := build()
	require.NoError(t, fresh.Load(path))
	want, err := fresh.Evaluate(vx, vy, EvaluateOptions{BatchSize: 16})
	require.NoError(t, err)
	assert.InDelta(t, want.Loss, h.ValLoss[2], 1e-6*max(1, want.Loss), "last epoch's validation loss: got %v, a new model with the trained weights computes %v", h.ValLoss[2], want.Loss)
	got, err := m.Evaluate(vx, vy, EvaluateOptions{BatchSize: 16})
	require.NoError(t, err)
	assert.Equal(t, want.Loss, got.Loss, "Evaluate after Fit: got %v, a new model computes %v", got.Loss, want.Loss)
}
