package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/datasets"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
)

func TestFitLearnsBlobs(t *testing.T) {
	x, y := blobs(512, 1)
	xTest, yTest := blobs(256, 2)
	m := blobModel(t, 42, nil)
	before, err := m.Evaluate(xTest, yTest)
	require.NoError(t, err)

	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 5, BatchSize: 32, Seed: 7})
	require.NoError(t, err)
	require.Equal(t, 5, h.Len())
	assert.Equal(t, []int{0, 1, 2, 3, 4}, h.Epoch)
	assert.Len(t, h.Loss, 5)
	assert.Len(t, h.Metrics["accuracy"], 5)
	assert.Len(t, h.Time, 5)
	assert.Empty(t, h.ValLoss)
	assert.Less(t, h.Loss[4], h.Loss[0], "the loss decreases")
	assert.Less(t, h.Loss[4], 0.15)
	assert.Equal(t, 5*16, iterations(t, m), "512/32 steps per epoch")

	after, err := m.Evaluate(xTest, yTest)
	require.NoError(t, err)
	assert.Less(t, after.Loss, before.Loss)
	// Two unit Gaussians 3√2 apart: the Bayes error is Φ(−2.12) ≈ 1.7%.
	assert.GreaterOrEqual(t, after.Metrics["accuracy"], 0.95, "test accuracy")
}

func TestFitDeterministic(t *testing.T) {
	x, y := blobs(200, 3)
	run := func() (*History, map[string][]float64) {
		m := blobModel(t, 5, nil)
		h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 16, Seed: 9})
		require.NoError(t, err)
		return h, storeValues(t, m)
	}
	h1, s1 := run()
	h2, s2 := run()
	assert.Equal(t, h1.Loss, h2.Loss)
	assert.Equal(t, s1, s2)
}

func TestFitShuffle(t *testing.T) {
	x, y := blobs(64, 3)
	m := blobModel(t, 5, nil)
	order := func(seed uint64, epoch int) []int {
		f, err := fitSetup[float32](m, x, y, FitOptions{Seed: seed})
		require.NoError(t, err)
		f.shuffle(epoch)
		return append([]int(nil), f.idx...)
	}
	a, b, c := order(1, 0), order(1, 0), order(2, 0)
	assert.Equal(t, a, b, "same seed, same order")
	assert.NotEqual(t, a, c, "another seed, another order")
	assert.NotEqual(t, a, order(1, 1), "each epoch its own order")
	seen := make([]bool, 64)
	for _, i := range a {
		seen[i] = true
	}
	assert.NotContains(t, seen, false, "a permutation")

	// an epoch's order depends on the seed and the epoch's number only,
	// not on the epochs shuffled before it in the same Fit (a resumed run
	// starts at a later epoch), and it is datasets.Batches' order
	f, err := fitSetup[float32](m, x, y, FitOptions{Seed: 1})
	require.NoError(t, err)
	it, err := datasets.Batches(datasets.Split{X: x, Y: y}, 32, 1)
	require.NoError(t, err)
	for _, e := range []int{0, 1, 2, 5, 3} {
		f.shuffle(e)
		assert.Equal(t, order(1, e), f.idx, "epoch %d after other epochs", e)
		assert.Equal(t, it.Order(e), f.idx, "epoch %d: datasets.Batches' order", e)
	}

	f, err = fitSetup[float32](m, x, y, FitOptions{NoShuffle: true})
	require.NoError(t, err)
	assert.False(t, f.shuf)
}

func TestFitLastPartialBatch(t *testing.T) {
	x, y := blobs(100, 4)
	m := blobModel(t, 1, nil)
	var sizes []int
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 32, Callbacks: []Callback{
		LambdaCallback{BatchEnd: func(r *Run, b int, _ Logs) error {
			if r.Epoch() == 0 {
				sizes = append(sizes, min(32, 100-32*b))
			}
			return nil
		}},
	}})
	require.NoError(t, err)
	assert.Equal(t, []int{32, 32, 32, 4}, sizes)
	assert.Equal(t, 8, iterations(t, m))
	assert.Equal(t, 2, h.Len())

	// a batch larger than the data is the whole data
	h, err = m.Fit(context.Background(), x, y, FitOptions{BatchSize: 1000})
	require.NoError(t, err)
	assert.Equal(t, 9, iterations(t, m))
	assert.Equal(t, 1, h.Len())
}

func TestFitEpochLossIsExampleWeighted(t *testing.T) {
	// With a zero learning rate nothing changes, so the epoch's loss and
	// accuracy are Evaluate's on the same data (training and inference
	// modes agree for a model without BatchNorm or Dropout), whatever the
	// batch size, the last batch being short included.
	x, y := blobs(100, 5)
	m := blobModel(t, 3, SGD{LearningRate: 1e-30})
	ev, err := m.Evaluate(x, y)
	require.NoError(t, err)
	for _, bs := range []int{1, 7, 32, 100} {
		h, err := m.Fit(context.Background(), x, y, FitOptions{BatchSize: bs})
		require.NoError(t, err)
		// float32 sums of up to 100 per-batch means: a few ulps
		assert.InDelta(t, ev.Loss, h.Loss[0], 1e-5, "batch size %d", bs)
		assert.InDelta(t, ev.Metrics["accuracy"], h.Metrics["accuracy"][0], 1e-6, "batch size %d", bs)
	}
}

func TestFitValidation(t *testing.T) {
	x, y := blobs(200, 6)
	t.Run("split", func(t *testing.T) {
		m := blobModel(t, 1, nil)
		var samples int
		h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 16, ValidationSplit: 0.25, Callbacks: []Callback{
			LambdaCallback{TrainBegin: func(r *Run) error { samples = r.Samples; return nil }},
		}})
		require.NoError(t, err)
		assert.Equal(t, 150, samples, "ceil(200·0.75) rows train")
		require.Len(t, h.ValLoss, 2)
		require.Len(t, h.ValMetrics["accuracy"], 2)
		// the validation rows are the last quarter, evaluated after the epoch
		ev, err := m.Evaluate(rowsOf(x, 150, 200), rowsOf(y, 150, 200), EvaluateOptions{BatchSize: 16})
		require.NoError(t, err)
		assert.Equal(t, ev.Loss, h.ValLoss[1])
		assert.Equal(t, ev.Metrics["accuracy"], h.ValMetrics["accuracy"][1])
		assert.Equal(t, []string{"loss", "accuracy", "val_loss", "val_accuracy"}, h.Names())
	})
	t.Run("data", func(t *testing.T) {
		m := blobModel(t, 1, nil)
		xv, yv := blobs(50, 7)
		h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 3, ValidationData: &Data{X: xv, Y: yv}, ValidationSplit: 0.5})
		require.NoError(t, err)
		require.Len(t, h.ValLoss, 3)
		ev, err := m.Evaluate(xv, yv)
		require.NoError(t, err)
		assert.InDelta(t, ev.Loss, h.ValLoss[2], 1e-6)
		assert.Equal(t, 3*7, iterations(t, m), "ValidationData wins: all 200 rows train")
	})
}

func TestFitErrors(t *testing.T) {
	x, y := blobs(40, 8)
	x64 := tensor.New(tensor.WithShape(40, 2), tensor.WithBacking(make([]float64, 80)))
	x3 := tensor.New(tensor.WithShape(40, 3), tensor.WithBacking(make([]float32, 120)))
	yInt := tensor.New(tensor.WithShape(40), tensor.WithBacking(make([]int, 40)))
	y39 := tensor.New(tensor.WithShape(39), tensor.WithBacking(make([]float32, 39)))
	y2 := tensor.New(tensor.WithShape(40, 2), tensor.WithBacking(make([]float32, 80)))
	y1 := tensor.New(tensor.WithShape(40, 1), tensor.WithBacking(make([]float32, 40)))
	yBad := tensor.New(tensor.WithShape(40), tensor.WithBacking(make([]float32, 40)))
	yBad.Float32s()[37] = 5 // class 5 of 2
	empty := tensor.New(tensor.WithShape(0, 2), tensor.WithBacking([]float32{}))
	cases := []struct {
		name string
		x, y *tensor.Dense
		opts FitOptions
		want string
	}{
		{"nil x", nil, y, FitOptions{}, "x is nil"},
		{"nil y", x, nil, FitOptions{}, "y is nil"},
		{"x dtype", x64, y, FitOptions{}, "x has dtype float64 but the model is float32"},
		{"x shape", x3, y, FitOptions{}, "x has shape [40,3]; the model wants [B,2]"},
		{"y dtype", x, yInt, FitOptions{}, "y has dtype int: want float32"},
		{"y rows", x, y39, FitOptions{}, "x has 40 rows but y has 39"},
		{"y shape", x, y2, FitOptions{}, "y has shape [40,2]; the model wants [B]"},
		{"no rows", empty, empty, FitOptions{}, "x has no rows"},
		{"epochs", x, y, FitOptions{Epochs: -1}, "Epochs is -1"},
		{"initial epoch", x, y, FitOptions{Epochs: 2, InitialEpoch: 3}, "InitialEpoch 3 is not in [0, Epochs=2]"},
		{"batch size", x, y, FitOptions{BatchSize: -4}, "BatchSize is -4"},
		{"split 1", x, y, FitOptions{ValidationSplit: 1}, "ValidationSplit 1 is not in [0, 1)"},
		{"split NaN", x, y, FitOptions{ValidationSplit: math.NaN()}, "ValidationSplit NaN"},
		{"split too small", x, y, FitOptions{ValidationSplit: 0.001}, "leaves 40 to train on and 0 to validate on"},
		{"validation x", x, y, FitOptions{ValidationData: &Data{X: x3, Y: y}}, "validation x has shape [40,3]"},
		{"validation y", x, y, FitOptions{ValidationData: &Data{X: x, Y: nil}}, "validation y is nil"},
		{"nil callback", x, y, FitOptions{Callbacks: []Callback{nil}}, "callback 0 is nil"},
		{"label out of range", x, yBad, FitOptions{BatchSize: 8, NoShuffle: true}, "epoch 1, batch 4 (the step changed nothing)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := blobModel(t, 1, nil)
			before := storeValues(t, m)
			h, err := m.Fit(context.Background(), tc.x, tc.y, tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "train: fit")
			if tc.name != "label out of range" {
				assert.Nil(t, h)
				assert.Equal(t, before, storeValues(t, m), "the model is untouched")
			} else {
				assert.Equal(t, 0, h.Len())
				assert.Equal(t, 4, iterations(t, m), "the four good batches ran; the bad one changed nothing")
			}
		})
	}
	t.Run("labels [N,1]", func(t *testing.T) {
		m := blobModel(t, 1, nil)
		_, err := m.Fit(context.Background(), x, y1, FitOptions{})
		require.NoError(t, err)
	})
	t.Run("not compiled", func(t *testing.T) {
		m := NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{}))
		_, err := m.Fit(context.Background(), x, y, FitOptions{})
		require.ErrorContains(t, err, "not compiled")
		_, err = m.Evaluate(x, y)
		require.ErrorContains(t, err, "not compiled")
		_, err = m.Predict(x)
		require.ErrorContains(t, err, "not compiled")
	})
}

func TestFitCancel(t *testing.T) {
	x, y := blobs(256, 9)
	const k = 11 // cancel after the 11th step: epoch 1, batch 2 (8 steps per epoch)
	m := blobModel(t, 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ended error
	start := time.Now()
	h, err := m.Fit(ctx, x, y, FitOptions{Epochs: 100, BatchSize: 32, Callbacks: []Callback{
		LambdaCallback{
			BatchEnd: func(r *Run, _ int, _ Logs) error {
				if r.Iterations() == k {
					cancel()
				}
				return nil
			},
			TrainEnd: func(r *Run, _ Logs) error { ended = r.Err(); return nil },
		},
	}})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "cancelled at epoch 2, batch 3")
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, k, iterations(t, m), "no step after the cancellation")
	assert.Equal(t, 1, h.Len(), "the completed epoch is in the history")
	assert.ErrorIs(t, ended, context.Canceled, "OnTrainEnd sees the error")
	assert.True(t, allFinite(storeValues(t, m)))

	// already cancelled: nothing runs
	h, err = m.Fit(ctx, x, y, FitOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, h.Len())
	assert.Equal(t, k, iterations(t, m))
}

func TestFitStopTraining(t *testing.T) {
	x, y := blobs(256, 9)
	m := blobModel(t, 1, nil)
	var ends int
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 10, BatchSize: 32, ValidationSplit: 0.25, Callbacks: []Callback{
		LambdaCallback{
			BatchEnd: func(r *Run, b int, _ Logs) error {
				if r.Epoch() == 1 && b == 2 {
					r.StopTraining()
				}
				return nil
			},
			EpochEnd: func(*Run, int, Logs) error { ends++; return nil },
		},
	}})
	require.NoError(t, err)
	assert.Equal(t, 2, h.Len(), "the stopped epoch is recorded")
	assert.Len(t, h.ValLoss, 2, "and validated")
	assert.Equal(t, 2, ends)
	assert.Equal(t, 6+3, iterations(t, m))
}

func TestFitCallbackError(t *testing.T) {
	x, y := blobs(64, 9)
	m := blobModel(t, 1, nil)
	boom := errors.New("boom")
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 3, Callbacks: []Callback{
		LambdaCallback{EpochEnd: func(_ *Run, e int, _ Logs) error {
			if e == 1 {
				return boom
			}
			return nil
		}},
	}})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 2, h.Len())
}

func TestFitInitialEpoch(t *testing.T) {
	x, y := blobs(64, 9)
	m := blobModel(t, 1, nil)
	var out bytes.Buffer
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 5, InitialEpoch: 3, Progress: &out})
	require.NoError(t, err)
	assert.Equal(t, []int{3, 4}, h.Epoch)
	assert.Contains(t, out.String(), "Epoch 4/5")
	assert.Contains(t, out.String(), "Epoch 5/5")
	assert.NotContains(t, out.String(), "Epoch 3/5")
}

func TestFitFloat64(t *testing.T) {
	x32, y32 := blobs(128, 10)
	conv := func(t32 *tensor.Dense) *tensor.Dense {
		d := make([]float64, t32.Shape().TotalSize())
		for i, v := range t32.Float32s() {
			d[i] = float64(v)
		}
		return tensor.New(tensor.WithShape(t32.Shape()...), tensor.WithBacking(d))
	}
	x, y := conv(x32), conv(y32)
	m := NewSequential(layers.Input(2), layers.Dense(8, layers.DenseOptions{Activation: "tanh"}), layers.Dense(2, layers.DenseOptions{}))
	m.Seed(1)
	require.NoError(t, m.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}, Optimizer: Adam{LearningRate: 0.05}, Metrics: []string{"accuracy"}, DType: graph.Float64}))
	assert.Equal(t, graph.Float64, m.DType())
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 5, BatchSize: 16})
	require.NoError(t, err)
	assert.Greater(t, h.Metrics["accuracy"][4], 0.9)
	p, err := m.Predict(x)
	require.NoError(t, err)
	assert.Equal(t, tensor.Float64, p.Dtype())
	_, err = m.Fit(context.Background(), x32, y32, FitOptions{})
	assert.ErrorContains(t, err, "x has dtype float32 but the model is float64: convert the data, or compile with Config.DType: graph.Float32")
}

// TestFitStepAllocs checks that a training step of Fit's inner loop
// allocates nothing once both batch sizes have run: the batch is copied
// into buffers made once, the program runs on machine memory, and the loss
// and metrics are read in place. A per-step learning-rate schedule and
// TerminateOnNaN's check are included.
func TestFitStepAllocs(t *testing.T) {
	x, y := blobs(100, 11)
	m := blobModel(t, 1, nil, layers.BatchNormalization(layers.BNOptions{}), layers.Dropout(0.2, layers.DropoutOptions{}))
	f, err := fitSetup[float32](m, x, y, FitOptions{BatchSize: 32, Callbacks: []Callback{
		LearningRateScheduler{Schedule: ExponentialDecay{InitialRate: 0.01, DecaySteps: 10, DecayRate: 0.9}},
		TerminateOnNaN{},
		&EarlyStopping{},
	}})
	require.NoError(t, err)
	for _, c := range f.cbs {
		require.NoError(t, c.OnTrainBegin(f.run))
	}
	last := f.run.Steps - 1
	require.NoError(t, f.step(0))
	require.NoError(t, f.step(last)) // the short batch
	for _, b := range []int{0, last} {
		allocs := testing.AllocsPerRun(50, func() {
			if err := f.step(b); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "allocations per step, batch %d", b)
	}
}
