package train

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// Logs are the values Fit reports to callbacks, by Keras name: "loss", the
// metrics ("accuracy"), and at the end of an epoch with validation data
// "val_loss" and "val_accuracy". Batch logs hold the running means over the
// epoch so far, as Keras's do. Fit reuses the map: a callback must copy
// what it keeps beyond the call.
type Logs map[string]float64

// Callback is called by Fit around training, each epoch and each batch, as
// Keras's callbacks are (on_train_begin, on_epoch_end, ...). Epochs and
// batches count from 0. A callback stops training gracefully with
// Run.StopTraining (the current epoch ends, with its validation, and is
// recorded); an error from a hook stops Fit at once and is returned.
// OnTrainEnd is called however Fit ends, with Run.Err saying why, so that a
// callback can restore or flush what it holds.
//
// Embed BaseCallback to implement only some hooks, or use LambdaCallback.
// The batch hooks run on every training step: they should be cheap and not
// allocate.
type Callback interface {
	OnTrainBegin(r *Run) error
	OnEpochBegin(r *Run, epoch int) error
	OnBatchBegin(r *Run, batch int) error
	OnBatchEnd(r *Run, batch int, logs Logs) error
	OnEpochEnd(r *Run, epoch int, logs Logs) error
	OnTrainEnd(r *Run, logs Logs) error
}

// BaseCallback implements every hook of Callback as doing nothing; embed it.
type BaseCallback struct{}

// OnTrainBegin does nothing.
func (BaseCallback) OnTrainBegin(*Run) error { return nil }

// OnEpochBegin does nothing.
func (BaseCallback) OnEpochBegin(*Run, int) error { return nil }

// OnBatchBegin does nothing.
func (BaseCallback) OnBatchBegin(*Run, int) error { return nil }

// OnBatchEnd does nothing.
func (BaseCallback) OnBatchEnd(*Run, int, Logs) error { return nil }

// OnEpochEnd does nothing.
func (BaseCallback) OnEpochEnd(*Run, int, Logs) error { return nil }

// OnTrainEnd does nothing.
func (BaseCallback) OnTrainEnd(*Run, Logs) error { return nil }

// LambdaCallback is a callback made of functions, Keras's LambdaCallback; a
// nil function does nothing.
type LambdaCallback struct {
	TrainBegin func(r *Run) error
	EpochBegin func(r *Run, epoch int) error
	BatchBegin func(r *Run, batch int) error
	BatchEnd   func(r *Run, batch int, logs Logs) error
	EpochEnd   func(r *Run, epoch int, logs Logs) error
	TrainEnd   func(r *Run, logs Logs) error
}

// OnTrainBegin calls TrainBegin.
func (c LambdaCallback) OnTrainBegin(r *Run) error {
	if c.TrainBegin == nil {
		return nil
	}
	return c.TrainBegin(r)
}

// OnEpochBegin calls EpochBegin.
func (c LambdaCallback) OnEpochBegin(r *Run, epoch int) error {
	if c.EpochBegin == nil {
		return nil
	}
	return c.EpochBegin(r, epoch)
}

// OnBatchBegin calls BatchBegin.
func (c LambdaCallback) OnBatchBegin(r *Run, batch int) error {
	if c.BatchBegin == nil {
		return nil
	}
	return c.BatchBegin(r, batch)
}

// OnBatchEnd calls BatchEnd.
func (c LambdaCallback) OnBatchEnd(r *Run, batch int, logs Logs) error {
	if c.BatchEnd == nil {
		return nil
	}
	return c.BatchEnd(r, batch, logs)
}

// OnEpochEnd calls EpochEnd.
func (c LambdaCallback) OnEpochEnd(r *Run, epoch int, logs Logs) error {
	if c.EpochEnd == nil {
		return nil
	}
	return c.EpochEnd(r, epoch, logs)
}

// OnTrainEnd calls TrainEnd.
func (c LambdaCallback) OnTrainEnd(r *Run, logs Logs) error {
	if c.TrainEnd == nil {
		return nil
	}
	return c.TrainEnd(r, logs)
}

// Run is what callbacks see of a Fit in progress: the model, the plan
// (epochs, steps per epoch, samples) and the history so far, and a way to
// stop.
type Run struct {
	Model        *Model
	Epochs       int  // FitOptions.Epochs: training stops before this epoch
	InitialEpoch int  // FitOptions.InitialEpoch
	Steps        int  // batches per epoch
	Samples      int  // training examples per epoch
	BatchSize    int  // examples per batch (the last may have fewer)
	Validation   bool // whether epochs end with a validation
	History      *History

	metrics    []string // Config.Metrics
	epoch      int
	iterations int
	batchLoss  float64
	stop       bool
	err        error

	guard     bool     // keep a finite snapshot for TerminateOnNaN
	lastGood  snapshot // the store at the start of the last epoch where it was finite
	goodEpoch int      // that epoch
}

// StopTraining asks Fit to stop at the end of the current batch: the epoch
// ends there, is validated and recorded, and Fit returns without error
// (Keras's model.stop_training = True).
func (r *Run) StopTraining() { r.stop = true }

// Stopping reports whether StopTraining was called.
func (r *Run) Stopping() bool { return r.stop }

// Epoch is the current epoch, from 0.
func (r *Run) Epoch() int { return r.epoch }

// Iterations is the number of training steps the model has taken, over
// every Fit (the optimizer's "optimizer/iterations"). A schedule's step.
func (r *Run) Iterations() int { return r.iterations }

// BatchLoss is the loss of the last batch (not the running mean).
func (r *Run) BatchLoss() float64 { return r.batchLoss }

// Metrics returns the names of the model's metrics, as in the logs.
func (r *Run) Metrics() []string { return r.metrics }

// Err is the error Fit is about to return, for OnTrainEnd: nil when
// training ran to its end or was stopped by StopTraining.
func (r *Run) Err() error { return r.err }

// snapshot is a copy of some variables of a store.
type snapshot struct {
	names []string
	vals  []*tensor.Dense
}

// take copies the named variables (all of them when names is nil).
func takeSnapshot(s *vm.Store, names []string) (snapshot, error) {
	if names == nil {
		names = s.Names()
	}
	snap := snapshot{names: names, vals: make([]*tensor.Dense, len(names))}
	for i, n := range names {
		t, err := s.Get(n)
		if err != nil {
			return snapshot{}, err
		}
		snap.vals[i] = t
	}
	return snap, nil
}

// valid reports whether the snapshot holds anything.
func (s snapshot) valid() bool { return s.vals != nil }

// finite reports whether every value of the snapshot is finite.
func (s snapshot) finite() bool {
	for _, t := range s.vals {
		switch d := t.Data().(type) {
		case []float32:
			for _, v := range d {
				if !finite(float64(v)) {
					return false
				}
			}
		case []float64:
			for _, v := range d {
				if !finite(v) {
					return false
				}
			}
		case float32:
			if !finite(float64(d)) {
				return false
			}
		case float64:
			if !finite(d) {
				return false
			}
		}
	}
	return true
}

// restore writes the snapshot back into s.
func (s snapshot) restore(st *vm.Store) error {
	for i, n := range s.names {
		if err := st.Set(n, s.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// MonitorMode says whether a monitored quantity improves when it goes down
// or up. The zero value, ModeAuto, is Keras's "auto": up for accuracies
// (names ending in "acc", "accuracy" or "auc"), down for anything else.
type MonitorMode uint8

// The monitor modes.
const (
	ModeAuto MonitorMode = iota
	ModeMin
	ModeMax
)

// String returns "auto", "min" or "max".
func (m MonitorMode) String() string {
	switch m {
	case ModeMin:
		return "min"
	case ModeMax:
		return "max"
	case ModeAuto:
		return "auto"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// higherIsBetter resolves the mode for a monitored name.
func (m MonitorMode) higherIsBetter(monitor string) bool {
	switch m {
	case ModeMax:
		return true
	case ModeMin:
		return false
	}
	for _, suffix := range []string{"acc", "accuracy", "auc"} {
		if strings.HasSuffix(monitor, suffix) {
			return true
		}
	}
	return false
}

// monitorValue reads a monitored value from the logs, or explains why it
// is missing.
func monitorValue(who, monitor string, logs Logs) (float64, error) {
	if v, ok := logs[monitor]; ok {
		return v, nil
	}
	hint := ""
	if strings.HasPrefix(monitor, "val_") {
		hint = " (pass FitOptions.ValidationData or ValidationSplit, or monitor a training value)"
	}
	return 0, fmt.Errorf("train: %s: %q is not in the logs (%s)%s", who, monitor, strings.Join(sortedKeys(logs), ", "), hint)
}

// improves reports whether current beats best by more than minDelta.
func improves(current, best, minDelta float64, higher bool) bool {
	if math.IsNaN(current) {
		return false
	}
	minDelta = math.Abs(minDelta)
	if higher {
		return current-minDelta > best
	}
	return current+minDelta < best
}

// EarlyStopping stops training when a monitored quantity has stopped
// improving: Keras's EarlyStopping, whose defaults the zero value has.
//
// After every epoch the monitored value is compared with the best so far;
// it improves when it beats it by more than MinDelta. Training stops once
// Patience epochs in a row have not improved (with Patience 0, after the
// first epoch that does not). With RestoreBestWeights the model's weights
// (the layers' variables: parameters and BatchNorm statistics, not the
// optimizer's state) are copied at each improvement and written back when
// training ends, however it ends, as Keras 3 does.
//
// Use a pointer: EarlyStopping keeps state, reset when training begins, and
// reports it afterwards (StoppedEpoch, BestEpoch, Best).
type EarlyStopping struct {
	// Monitor is the log name to watch ("val_loss" when empty).
	Monitor string
	// MinDelta is the smallest change that counts as an improvement.
	MinDelta float64
	// Patience is the number of epochs without improvement to wait.
	Patience int
	// Mode says which direction improves (ModeAuto: from the name).
	Mode MonitorMode
	// RestoreBestWeights restores the weights of the best epoch at the end.
	RestoreBestWeights bool

	// StoppedEpoch is the epoch training stopped at (-1 when it did not
	// stop early), BestEpoch the best epoch, Best its value.
	StoppedEpoch, BestEpoch int
	Best                    float64

	wait int
	best snapshot
}

func (e *EarlyStopping) monitor() string {
	if e.Monitor == "" {
		return "val_loss"
	}
	return e.Monitor
}

// OnTrainBegin resets the state.
func (e *EarlyStopping) OnTrainBegin(r *Run) error {
	e.wait, e.StoppedEpoch, e.BestEpoch = 0, -1, -1
	e.Best = math.Inf(1)
	if e.Mode.higherIsBetter(e.monitor()) {
		e.Best = math.Inf(-1)
	}
	e.best = snapshot{}
	if e.Patience < 0 {
		return fmt.Errorf("train: EarlyStopping: negative patience %d", e.Patience)
	}
	return nil
}

// OnEpochBegin does nothing.
func (e *EarlyStopping) OnEpochBegin(*Run, int) error { return nil }

// OnBatchBegin does nothing.
func (e *EarlyStopping) OnBatchBegin(*Run, int) error { return nil }

// OnBatchEnd does nothing.
func (e *EarlyStopping) OnBatchEnd(*Run, int, Logs) error { return nil }

// OnEpochEnd compares the monitored value with the best so far.
func (e *EarlyStopping) OnEpochEnd(r *Run, epoch int, logs Logs) error {
	current, err := monitorValue("EarlyStopping", e.monitor(), logs)
	if err != nil {
		return err
	}
	if e.RestoreBestWeights && !e.best.valid() {
		// the first epoch's weights are the best until beaten
		if e.best, err = r.Model.weightSnapshot(); err != nil {
			return err
		}
		e.BestEpoch = epoch
	}
	e.wait++
	if improves(current, e.Best, e.MinDelta, e.Mode.higherIsBetter(e.monitor())) {
		e.Best, e.BestEpoch, e.wait = current, epoch, 0
		if e.RestoreBestWeights {
			if e.best, err = r.Model.weightSnapshot(); err != nil {
				return err
			}
		}
		return nil
	}
	if e.wait >= e.Patience && epoch > 0 {
		e.StoppedEpoch = epoch
		r.StopTraining()
	}
	return nil
}

// OnTrainEnd restores the best weights when asked to.
func (e *EarlyStopping) OnTrainEnd(r *Run, _ Logs) error {
	if e.RestoreBestWeights && e.best.valid() {
		if err := e.best.restore(r.Model.store); err != nil {
			return fmt.Errorf("train: EarlyStopping: restoring the best weights: %w", err)
		}
	}
	return nil
}

// ModelCheckpoint saves the model (every variable of its store: weights and
// optimizer state, see Model.Save) during training: Keras's
// ModelCheckpoint. Each save is atomic: a crash leaves the previous file.
//
// Use a pointer: with SaveBestOnly it keeps the best value so far (Best).
type ModelCheckpoint struct {
	// Path is the file to write. "{epoch}" in it is replaced by the epoch
	// number counted from 1, as Keras does, to keep one file per epoch.
	Path string
	// Every is the number of epochs between saves (1 when zero).
	Every int
	// SaveBestOnly saves only when the monitored value improves on the
	// best so far.
	SaveBestOnly bool
	// Monitor is the log name SaveBestOnly watches ("val_loss" when empty).
	Monitor string
	// Mode says which direction improves (ModeAuto: from the name).
	Mode MonitorMode
	// MinDelta is the smallest change that counts as an improvement.
	MinDelta float64

	// Best is the best monitored value saved so far (SaveBestOnly);
	// Saved lists the files written, in order.
	Best  float64
	Saved []string
}

func (c *ModelCheckpoint) monitor() string {
	if c.Monitor == "" {
		return "val_loss"
	}
	return c.Monitor
}

// OnTrainBegin checks the configuration and resets the state.
func (c *ModelCheckpoint) OnTrainBegin(*Run) error {
	if c.Path == "" {
		return errors.New("train: ModelCheckpoint: empty Path")
	}
	if c.Every < 0 {
		return fmt.Errorf("train: ModelCheckpoint: Every is %d", c.Every)
	}
	c.Best = math.Inf(1)
	if c.Mode.higherIsBetter(c.monitor()) {
		c.Best = math.Inf(-1)
	}
	c.Saved = nil
	return nil
}

// OnEpochBegin does nothing.
func (c *ModelCheckpoint) OnEpochBegin(*Run, int) error { return nil }

// OnBatchBegin does nothing.
func (c *ModelCheckpoint) OnBatchBegin(*Run, int) error { return nil }

// OnBatchEnd does nothing.
func (c *ModelCheckpoint) OnBatchEnd(*Run, int, Logs) error { return nil }

// OnEpochEnd saves the model when it is time to.
func (c *ModelCheckpoint) OnEpochEnd(r *Run, epoch int, logs Logs) error {
	every := max(c.Every, 1)
	if (epoch+1)%every != 0 {
		return nil
	}
	if c.SaveBestOnly {
		current, err := monitorValue("ModelCheckpoint", c.monitor(), logs)
		if err != nil {
			return err
		}
		if !improves(current, c.Best, c.MinDelta, c.Mode.higherIsBetter(c.monitor())) {
			return nil
		}
		c.Best = current
	}
	path := strings.ReplaceAll(c.Path, "{epoch}", strconv.Itoa(epoch+1))
	if err := r.Model.Save(path); err != nil {
		return fmt.Errorf("train: ModelCheckpoint: %w", err)
	}
	c.Saved = append(c.Saved, path)
	return nil
}

// OnTrainEnd does nothing.
func (c *ModelCheckpoint) OnTrainEnd(*Run, Logs) error { return nil }

// LearningRateScheduler sets the optimizer's learning rate (the store
// variable "optimizer/learning_rate", which the compiled training step
// reads) from a schedule. Schedules in tapegrad are functions of the step
// (see Schedule), so the zero value sets the rate before every batch to
// Schedule.Rate(iterations), the number of updates taken so far over every
// Fit (0 for the first): what a Keras LearningRateSchedule given to an
// optimizer does. That costs one store write per step and allocates
// nothing. With PerEpoch it sets the rate once per epoch, before the
// epoch's first batch, to Schedule.Rate(epoch): Keras's
// LearningRateScheduler callback.
type LearningRateScheduler struct {
	BaseCallback
	Schedule Schedule
	PerEpoch bool
}

// OnTrainBegin checks the schedule.
func (c LearningRateScheduler) OnTrainBegin(*Run) error {
	if err := ValidateSchedule(c.Schedule); err != nil {
		return fmt.Errorf("train: LearningRateScheduler: %w", err)
	}
	return nil
}

// OnEpochBegin sets the rate of the epoch (PerEpoch).
func (c LearningRateScheduler) OnEpochBegin(r *Run, epoch int) error {
	if !c.PerEpoch {
		return nil
	}
	return r.Model.setLearningRate("LearningRateScheduler", c.Schedule.Rate(epoch))
}

// OnBatchBegin sets the rate of the step.
func (c LearningRateScheduler) OnBatchBegin(r *Run, _ int) error {
	if c.PerEpoch {
		return nil
	}
	return r.Model.setLearningRate("LearningRateScheduler", c.Schedule.Rate(r.iterations))
}

// ReduceLROnPlateau lowers the learning rate when a monitored quantity has
// stopped improving: Keras's ReduceLROnPlateau. After each epoch it gives
// the monitored value and the current rate to Plateau (a ReduceOnPlateau:
// Factor, Patience, MinDelta, Cooldown, MinRate, with Keras's defaults
// when zero) and writes the rate it returns into the store.
//
// Use a pointer: Plateau keeps state, reset when training begins. Rates
// records the rate after each epoch.
type ReduceLROnPlateau struct {
	BaseCallback
	// Monitor is the log name to watch ("val_loss" when empty).
	Monitor string
	// Mode says which direction improves (ModeAuto: from the name, or
	// Plateau.Maximize when set); it sets Plateau.Maximize.
	Mode    MonitorMode
	Plateau ReduceOnPlateau

	Rates []float64
}

func (c *ReduceLROnPlateau) monitor() string {
	if c.Monitor == "" {
		return "val_loss"
	}
	return c.Monitor
}

// OnTrainBegin checks the configuration and resets the state.
func (c *ReduceLROnPlateau) OnTrainBegin(*Run) error {
	if err := c.Plateau.Validate(); err != nil {
		return fmt.Errorf("train: ReduceLROnPlateau: %w", err)
	}
	c.Plateau.Reset()
	switch c.Mode {
	case ModeMin:
		c.Plateau.Maximize = false
	case ModeMax:
		c.Plateau.Maximize = true
	default:
		c.Plateau.Maximize = c.Plateau.Maximize || c.Mode.higherIsBetter(c.monitor())
	}
	c.Rates = nil
	return nil
}

// OnEpochEnd updates the rate.
func (c *ReduceLROnPlateau) OnEpochEnd(r *Run, _ int, logs Logs) error {
	v, err := monitorValue("ReduceLROnPlateau", c.monitor(), logs)
	if err != nil {
		return err
	}
	current := r.Model.LearningRate()
	next := c.Plateau.Update(v, current)
	if next != current {
		if err := r.Model.setLearningRate("ReduceLROnPlateau", next); err != nil {
			return err
		}
	}
	c.Rates = append(c.Rates, next)
	return nil
}

// TerminateOnNaN stops training when a batch's loss is NaN or infinite, and
// puts back the last good weights: Keras's TerminateOnNaN, which only stops,
// plus the restore. Fit then returns the history of the completed epochs
// and an error matching ErrNonFiniteLoss.
//
// A training step computes the loss and applies the updates in one
// program, so by the time a step's loss is seen its update has been
// applied. Rather than copying the store before every step, Fit copies it
// (every variable: weights, optimizer state, random streams) at the start
// of each epoch while it is finite, and restores that copy: the weights go
// back to the start of the epoch where the loss went bad (or of an earlier
// one, if the weights were already not finite then). The copy costs one
// pass over the variables per epoch and is made only when TerminateOnNaN is
// among the callbacks. FitOptions.Guard does better: it stops the step in
// which a value goes bad before its updates, so the weights are those of the
// last good step and no copy is needed (nor made).
type TerminateOnNaN struct{ BaseCallback }

// ErrNonFiniteLoss is matched (errors.Is) by the error Fit returns when
// TerminateOnNaN stops training.
var ErrNonFiniteLoss = errors.New("non-finite loss")

// OnTrainBegin turns on the per-epoch snapshot.
func (TerminateOnNaN) OnTrainBegin(r *Run) error {
	r.guard = true
	return nil
}

// OnBatchEnd stops on a non-finite loss and restores the last good state.
func (TerminateOnNaN) OnBatchEnd(r *Run, batch int, _ Logs) error {
	if finite(r.batchLoss) {
		return nil
	}
	if !r.lastGood.valid() {
		return fmt.Errorf("train: TerminateOnNaN: epoch %d, batch %d: loss is %v, and no finite weights to restore: %w", r.epoch+1, batch, r.batchLoss, ErrNonFiniteLoss)
	}
	if err := r.lastGood.restore(r.Model.store); err != nil {
		return fmt.Errorf("train: TerminateOnNaN: restoring the weights: %w", err)
	}
	r.iterations = r.Model.iterations()
	return fmt.Errorf("train: TerminateOnNaN: epoch %d, batch %d: loss is %v; training stopped, the weights restored to the start of epoch %d: %w", r.epoch+1, batch, r.batchLoss, r.goodEpoch+1, ErrNonFiniteLoss)
}

// weightSnapshot copies the model's weights (the layers' variables).
func (m *Model) weightSnapshot() (snapshot, error) {
	return takeSnapshot(m.store, m.weights)
}

// setLearningRate writes the optimizer's learning rate.
func (m *Model) setLearningRate(who string, rate float64) error {
	if !finite(rate) || rate < 0 {
		return fmt.Errorf("train: %s: learning rate %v", who, rate)
	}
	m.lrBuf[0] = rate
	if err := m.store.SetFloat64s(LearningRateVar, graph.Shape{}, m.dtype, m.lrBuf[:]); err != nil {
		return fmt.Errorf("train: %s: %w", who, err)
	}
	return nil
}

// LearningRate returns the optimizer's current learning rate, as the
// training step reads it (0 before Compile).
func (m *Model) LearningRate() float64 {
	v, err := m.store.Float64s(LearningRateVar)
	if err != nil || len(v) == 0 {
		return 0
	}
	return v[0]
}

// iterations returns the number of updates taken ("optimizer/iterations").
func (m *Model) iterations() int {
	v, err := m.store.Float64s(IterationsVar)
	if err != nil || len(v) == 0 {
		return 0
	}
	return int(v[0])
}
