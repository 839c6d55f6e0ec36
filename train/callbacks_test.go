package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/layers"
)

// flipped returns y with the labels 0 and 1 swapped.
func flipped(y *tensor.Dense) *tensor.Dense {
	d := make([]float32, y.Shape().TotalSize())
	for i, v := range y.Float32s() {
		d[i] = 1 - v
	}
	return tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(d))
}

func TestEarlyStoppingRestoresBest(t *testing.T) {
	// Validating on flipped labels: the better the model learns, the worse
	// the validation loss, so the best epoch is the first.
	x, y := blobs(256, 12)
	xv, yv := blobs(64, 13)
	yv = flipped(yv)
	m := blobModel(t, 1, nil)
	var snaps []map[string][]float64
	record := LambdaCallback{EpochEnd: func(*Run, int, Logs) error {
		snaps = append(snaps, weightValues(t, m))
		return nil
	}}
	es := &EarlyStopping{Patience: 2, RestoreBestWeights: true}
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 20, BatchSize: 32, ValidationData: &Data{X: xv, Y: yv}, Callbacks: []Callback{record, es}})
	require.NoError(t, err)
	assert.Equal(t, 3, h.Len(), "epoch 0 is best, 1 and 2 are not: stop after 2")
	assert.Equal(t, 2, es.StoppedEpoch)
	assert.Equal(t, 0, es.BestEpoch)
	assert.Equal(t, h.ValLoss[0], es.Best)
	assert.Greater(t, h.ValLoss[2], h.ValLoss[0])
	assert.Equal(t, snaps[0], weightValues(t, m), "the weights are the best epoch's")
	assert.NotEqual(t, snaps[2], weightValues(t, m))
	ev, err := m.Evaluate(xv, yv)
	require.NoError(t, err)
	assert.InDelta(t, h.ValLoss[0], ev.Loss, 1e-6)
}

func TestEarlyStopping(t *testing.T) {
	cases := []struct {
		name     string
		es       EarlyStopping
		values   []float64
		stopped  int // epoch, -1 for none
		best     int
		epochRun int
	}{
		{"improving", EarlyStopping{Monitor: "loss"}, []float64{5, 4, 3, 2}, -1, 3, 4},
		{"patience 0", EarlyStopping{Monitor: "loss"}, []float64{5, 4, 4.5, 3}, 2, 1, 3},
		{"patience 2", EarlyStopping{Monitor: "loss", Patience: 2}, []float64{5, 4, 4.5, 4.2, 3}, 3, 1, 4},
		{"min delta", EarlyStopping{Monitor: "loss", Patience: 1, MinDelta: 0.5}, []float64{5, 4.8, 4.7, 3}, 1, 0, 2},
		{"auto max", EarlyStopping{Monitor: "val_accuracy"}, []float64{0.5, 0.6, 0.55}, 2, 1, 3},
		{"mode max", EarlyStopping{Monitor: "loss", Mode: ModeMax}, []float64{1, 2, 1}, 2, 1, 3},
		{"NaN never improves", EarlyStopping{Monitor: "loss", Patience: 1}, []float64{5, math.NaN(), math.NaN()}, 1, 0, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.es
			r := &Run{}
			require.NoError(t, es.OnTrainBegin(r))
			n := 0
			for e, v := range tc.values {
				if r.Stopping() {
					break
				}
				n++
				require.NoError(t, es.OnEpochEnd(r, e, Logs{"loss": v, "val_accuracy": v}))
			}
			assert.Equal(t, tc.stopped, es.StoppedEpoch)
			assert.Equal(t, tc.best, es.BestEpoch)
			assert.Equal(t, tc.epochRun, n)
		})
	}
	t.Run("missing monitor", func(t *testing.T) {
		es := &EarlyStopping{}
		require.NoError(t, es.OnTrainBegin(&Run{}))
		err := es.OnEpochEnd(&Run{}, 0, Logs{"loss": 1})
		assert.ErrorContains(t, err, `EarlyStopping: "val_loss" is not in the logs (loss) (pass FitOptions.ValidationData or ValidationSplit`)
	})
}

func TestTerminateOnNaN(t *testing.T) {
	// A regression whose learning rate jumps from 0.01 to 10 at epoch 2
	// diverges to infinity, then NaN, during that epoch.
	x, _ := blobs(256, 14)
	y := tensor.New(tensor.WithShape(256, 1), tensor.WithBacking(make([]float32, 256)))
	for i := range 256 {
		y.Float32s()[i] = 3*x.Float32s()[2*i] - x.Float32s()[2*i+1]
	}
	model := func() *Model {
		m := NewSequential(layers.Input(2), layers.Dense(8, layers.DenseOptions{}), layers.Dense(1, layers.DenseOptions{}))
		m.Seed(2)
		require.NoError(t, m.Compile(Config{Loss: MeanSquaredError{}, Optimizer: SGD{}}))
		return m
	}
	jump := LearningRateScheduler{PerEpoch: true, Schedule: PiecewiseConstant{Boundaries: []int{1}, Values: []float64{0.01, 10}}}
	m := model()
	starts := map[int]map[string][]float64{}
	record := LambdaCallback{EpochBegin: func(r *Run, e int) error {
		starts[e] = storeValues(t, m)
		return nil
	}}
	failedEpoch := -1
	watch := LambdaCallback{BatchEnd: func(r *Run, _ int, _ Logs) error {
		if !finite(r.BatchLoss()) && failedEpoch < 0 {
			failedEpoch = r.Epoch()
		}
		return nil
	}}
	h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 10, BatchSize: 8, Callbacks: []Callback{record, jump, watch, TerminateOnNaN{}}})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrNonFiniteLoss)
	assert.ErrorContains(t, err, "TerminateOnNaN: epoch 3, batch ")
	assert.ErrorContains(t, err, "training stopped, the weights restored to the start of epoch 3")
	assert.Equal(t, 2, failedEpoch)
	assert.Equal(t, 2, h.Len(), "the epochs before the bad one are recorded")
	after := storeValues(t, m)
	assert.True(t, allFinite(after), "the weights are finite")
	assert.Equal(t, starts[2], after, "restored to the start of the epoch that failed")
	assert.InDelta(t, 0.01, m.LearningRate(), 1e-9, "the learning rate too")

	// without TerminateOnNaN training goes on, as in Keras
	m2 := model()
	h, err = m2.Fit(context.Background(), x, y, FitOptions{Epochs: 4, BatchSize: 8, Callbacks: []Callback{jump}})
	require.NoError(t, err)
	assert.False(t, finite(h.Loss[3]))
}

func TestLearningRateScheduler(t *testing.T) {
	x, y := blobs(100, 15)
	sched := ExponentialDecay{InitialRate: 0.1, DecaySteps: 1, DecayRate: 0.5}
	t.Run("per step", func(t *testing.T) {
		m := blobModel(t, 1, SGD{})
		var rates []float64
		seen := LambdaCallback{BatchBegin: func(r *Run, _ int) error {
			rates = append(rates, r.Model.LearningRate())
			return nil
		}}
		_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 50, Callbacks: []Callback{LearningRateScheduler{Schedule: sched}, seen}})
		require.NoError(t, err)
		require.Len(t, rates, 4)
		for i, r := range rates {
			assert.InDelta(t, sched.Rate(i), r, 1e-8, "step %d", i) // float32 storage
		}
	})
	t.Run("per epoch", func(t *testing.T) {
		m := blobModel(t, 1, SGD{})
		var rates []float64
		seen := LambdaCallback{BatchBegin: func(r *Run, _ int) error {
			rates = append(rates, r.Model.LearningRate())
			return nil
		}}
		_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 50, Callbacks: []Callback{LearningRateScheduler{Schedule: sched, PerEpoch: true}, seen}})
		require.NoError(t, err)
		assert.InDeltaSlice(t, []float64{0.1, 0.1, 0.05, 0.05}, rates, 1e-8)
	})
	t.Run("nil schedule", func(t *testing.T) {
		m := blobModel(t, 1, SGD{})
		_, err := m.Fit(context.Background(), x, y, FitOptions{Callbacks: []Callback{LearningRateScheduler{}}})
		assert.ErrorContains(t, err, "LearningRateScheduler")
	})
}

func TestReduceLROnPlateau(t *testing.T) {
	x, y := blobs(100, 16)
	m := blobModel(t, 1, SGD{LearningRate: 0.1})
	// a MinDelta no epoch can beat: every epoch after the first is a plateau
	c := &ReduceLROnPlateau{Monitor: "loss", Plateau: ReduceOnPlateau{Factor: 0.5, Patience: 1, MinDelta: 1e9}}
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 4, Callbacks: []Callback{c}})
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float64{0.1, 0.05, 0.025, 0.0125}, c.Rates, 1e-8)
	assert.InDelta(t, 0.0125, m.LearningRate(), 1e-8)
}

func TestModelCheckpoint(t *testing.T) {
	x, y := blobs(100, 17)
	dir := t.TempDir()
	t.Run("every", func(t *testing.T) {
		m := blobModel(t, 1, nil)
		c := &ModelCheckpoint{Path: filepath.Join(dir, "ck-{epoch}.safetensors"), Every: 2}
		_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 5, Callbacks: []Callback{c}})
		require.NoError(t, err)
		assert.Equal(t, []string{filepath.Join(dir, "ck-2.safetensors"), filepath.Join(dir, "ck-4.safetensors")}, c.Saved)
		for _, p := range c.Saved {
			_, err := os.Stat(p)
			require.NoError(t, err)
		}
		// the last file holds epoch 4's end (counting from 1)
		m2 := blobModel(t, 99, nil)
		require.NoError(t, m2.Load(c.Saved[1]))
		assert.Equal(t, 4*4, iterations(t, m2))
	})
	t.Run("best only", func(t *testing.T) {
		m := blobModel(t, 1, nil)
		var losses []float64
		c := &ModelCheckpoint{Path: filepath.Join(dir, "best.safetensors"), SaveBestOnly: true, Monitor: "loss"}
		h, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 3, Callbacks: []Callback{c}})
		require.NoError(t, err)
		losses = h.Loss
		assert.Len(t, c.Saved, 3, "the training loss falls every epoch")
		assert.Equal(t, losses[2], c.Best)
	})
	t.Run("errors", func(t *testing.T) {
		m := blobModel(t, 1, nil)
		_, err := m.Fit(context.Background(), x, y, FitOptions{Callbacks: []Callback{&ModelCheckpoint{}}})
		assert.ErrorContains(t, err, "ModelCheckpoint: empty Path")
		_, err = m.Fit(context.Background(), x, y, FitOptions{Callbacks: []Callback{&ModelCheckpoint{Path: filepath.Join(dir, "no", "such", "dir", "x.safetensors")}}})
		assert.ErrorContains(t, err, "ModelCheckpoint")
		_, err = m.Fit(context.Background(), x, y, FitOptions{Callbacks: []Callback{&ModelCheckpoint{Path: filepath.Join(dir, "v.safetensors"), SaveBestOnly: true}}})
		assert.ErrorContains(t, err, `"val_loss" is not in the logs`)
	})
}

func TestMonitorMode(t *testing.T) {
	for _, tc := range []struct {
		mode    MonitorMode
		monitor string
		higher  bool
	}{
		{ModeAuto, "val_loss", false},
		{ModeAuto, "accuracy", true},
		{ModeAuto, "val_acc", true},
		{ModeAuto, "val_sparse_categorical_accuracy", true},
		{ModeAuto, "mae", false},
		{ModeMin, "accuracy", false},
		{ModeMax, "loss", true},
	} {
		assert.Equal(t, tc.higher, tc.mode.higherIsBetter(tc.monitor), "%v %s", tc.mode, tc.monitor)
	}
	assert.Equal(t, "auto", ModeAuto.String())
	assert.Equal(t, "max", ModeMax.String())
}
