package train

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/vm"
)

// divergingRegression returns a regression whose SGD learning rate (1e3)
// makes the weights overflow float32 within a few steps, and the model
// (8 hidden units, named layers).
func divergingRegression(t *testing.T) (*Model, *tensor.Dense, *tensor.Dense) {
	t.Helper()
	x, _ := blobs(256, 14)
	y := tensor.New(tensor.WithShape(256, 1), tensor.WithBacking(make([]float32, 256)))
	for i := range 256 {
		y.Float32s()[i] = 3*x.Float32s()[2*i] - x.Float32s()[2*i+1]
	}
	m := NewSequential(layers.Input(2), layers.Dense(8, layers.DenseOptions{}), layers.Dense(1, layers.DenseOptions{}))
	m.Seed(2)
	require.NoError(t, m.Compile(Config{Loss: MeanSquaredError{}, Optimizer: SGD{LearningRate: 1e3}}))
	return m, x, y
}

// With FitOptions.Guard, the first non-finite value of a step stops
// training before the step's updates: the model keeps the weights of the
// last good step (the store after the last completed batch, bit for bit),
// and the error names the instruction, node and layer. With TerminateOnNaN
// as well nothing changes: the guard stops first.
func TestFitGuard(t *testing.T) {
	for _, tc := range []struct {
		name      string
		callbacks []Callback
	}{
		{"guard", nil},
		{"guard and TerminateOnNaN", []Callback{TerminateOnNaN{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, x, y := divergingRegression(t)
			var lastGood map[string][]float64
			steps := 0
			keep := LambdaCallback{BatchEnd: func(r *Run, _ int, _ Logs) error {
				lastGood = storeValues(t, m)
				steps++
				return nil
			}}
			h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 5, BatchSize: 8, Guard: true, Callbacks: append([]Callback{keep}, tc.callbacks...)})
			require.Error(t, err, "the regression diverges")
			assert.ErrorIs(t, err, vm.ErrNonFinite)
			assert.NotErrorIs(t, err, ErrNonFiniteLoss, "the guard stopped training, not TerminateOnNaN")
			var ge *vm.GuardError
			require.True(t, errors.As(err, &ge))
			assert.NotEmpty(t, ge.Layer, "the layer of %q", ge.Node)
			assert.True(t, strings.HasPrefix(ge.Node, ge.Layer+"/"), "node %q in layer %q", ge.Node, ge.Layer)
			assert.ErrorContains(t, err, "the NaN/Inf guard stopped training; the step applied none of its updates")
			assert.ErrorContains(t, err, fmt.Sprintf("after %d updates", steps))
			assert.Greater(t, steps, 0, "some steps were good")
			assert.Equal(t, lastGood, storeValues(t, m), "the store is what it was after the last good step")
			assert.True(t, allFinite(storeValues(t, m)))
			assert.Equal(t, steps, iterations(t, m))
			assert.Equal(t, steps/32, h.Len(), "the completed epochs are recorded")
			assert.False(t, m.trainM.Guard(), "Fit turns the guard off when it returns")

			// without the guard the same run goes on to non-finite weights
			m2, _, _ := divergingRegression(t)
			_, err = m2.Fit(context.Background(), x, y, FitOptions{Epochs: 5, BatchSize: 8})
			require.NoError(t, err)
			assert.False(t, allFinite(storeValues(t, m2)))
		})
	}
}

// Predict and Evaluate may be called from many goroutines at once on one
// model: 8 goroutines × 50 calls give what serial calls give, bit for bit
// (run with -race to check for data races).
func TestPredictConcurrent(t *testing.T) {
	x, y := blobs(96, 30)
	m := blobModel(t, 3, nil, layers.BatchNormalization(layers.BNOptions{}), layers.Dropout(0.2, layers.DropoutOptions{}))
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 16})
	require.NoError(t, err)
	sizes := []int{1, 7, 32, 96}
	want := map[int][]float32{}
	for _, bs := range sizes {
		p, err := m.Predict(x, PredictOptions{BatchSize: bs})
		require.NoError(t, err)
		want[bs] = p.Float32s()
	}
	wantEval, err := m.Evaluate(x, y)
	require.NoError(t, err)

	const goroutines, calls = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				bs := sizes[(g+i)%len(sizes)]
				p, err := m.Predict(x, PredictOptions{BatchSize: bs})
				if err != nil {
					errs <- err
					return
				}
				if got := p.Float32s(); !equalFloat32s(got, want[bs]) {
					errs <- fmt.Errorf("goroutine %d, call %d, batch size %d: Predict differs from the serial result", g, i, bs)
					return
				}
				if i%10 == 0 {
					ev, err := m.Evaluate(x, y)
					if err != nil {
						errs <- err
						return
					}
					if ev.Loss != wantEval.Loss || ev.Metrics["accuracy"] != wantEval.Metrics["accuracy"] {
						errs <- fmt.Errorf("goroutine %d: Evaluate gives %v, serially %v", g, ev, wantEval)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.LessOrEqual(t, len(m.predM.free), goroutines, "the pool holds at most one machine per concurrent caller")
}

func equalFloat32s(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A memory limit (Config.CompileOptions.MemoryLimit) makes Fit refuse a
// batch size whose training step would need more, before training, with
// the plan's size; Predict refuses likewise, and smaller batches run.
func TestFitMemoryLimit(t *testing.T) {
	x, y := blobs(256, 31)
	m := NewSequential(layers.Input(2), layers.Dense(512, layers.DenseOptions{Activation: "relu"}), layers.Dense(2, layers.DenseOptions{}))
	m.Seed(1)
	// the training step needs 0.10 MB at batch 16 and 1.6 MB at 256, the
	// evaluation 0.53 MB at 256 and 2.1 MB at 1024
	require.NoError(t, m.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}, CompileOptions: compile.Options{MemoryLimit: 1e6, Batches: []int{16}}}))
	before := storeValues(t, m)
	_, err := m.Fit(context.Background(), x, y, FitOptions{BatchSize: 256})
	require.ErrorIs(t, err, vm.ErrMemoryLimit)
	assert.ErrorContains(t, err, "train: fit: training step: vm: batch size 256: the memory plan needs")
	assert.Equal(t, before, storeValues(t, m), "nothing ran")
	xv, yv := blobs(1024, 32)
	_, err = m.Fit(context.Background(), x, y, FitOptions{BatchSize: 16, ValidationData: &Data{X: xv, Y: yv}, ValidationBatchSize: 1024})
	require.ErrorIs(t, err, vm.ErrMemoryLimit)
	assert.ErrorContains(t, err, "train: fit: validation: vm: batch size 1024")
	assert.Equal(t, before, storeValues(t, m), "nothing ran")
	_, err = m.Fit(context.Background(), x, y, FitOptions{BatchSize: 16})
	require.NoError(t, err)
	_, err = m.Predict(xv, PredictOptions{BatchSize: 1024})
	assert.ErrorIs(t, err, vm.ErrMemoryLimit)
	_, err = m.Predict(x, PredictOptions{BatchSize: 16})
	assert.NoError(t, err)

	// a limit that batch 16 does not fit fails at Compile
	m2 := NewSequential(layers.Input(2), layers.Dense(512, layers.DenseOptions{}), layers.Dense(2, layers.DenseOptions{}))
	err = m2.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}, CompileOptions: compile.Options{MemoryLimit: 1e4, Batches: []int{16}}})
	assert.ErrorIs(t, err, vm.ErrMemoryLimit)
	assert.ErrorContains(t, err, "train: compile: training step: compile: Options.MemoryLimit: vm: batch size 16: the memory plan needs")
}
