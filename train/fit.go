package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// FitOptions configures Fit; the zero value is Keras's default: one epoch,
// batches of 32, shuffled, no validation, silent.
type FitOptions struct {
	// Epochs is the epoch to stop before (1 when zero); with InitialEpoch
	// the run trains epochs InitialEpoch .. Epochs-1, as in Keras.
	Epochs int
	// InitialEpoch is the epoch to start from (to resume a run).
	InitialEpoch int
	// BatchSize is the number of examples per step (32 when zero); the
	// last batch of an epoch holds what is left.
	BatchSize int
	// NoShuffle keeps the examples in order; by default they are shuffled
	// before every epoch, from Seed.
	NoShuffle bool
	// Seed seeds the shuffling: epoch e's order of the training rows is a
	// permutation drawn from a PCG generator seeded with (Seed, e), the
	// order datasets.Batches(rows, BatchSize, Seed).Order(e) gives. It
	// depends on nothing else, so that a run resumed with InitialEpoch k
	// (and the same Seed, BatchSize and validation) sees the batches the
	// uninterrupted run saw from epoch k on.
	Seed uint64
	// ValidationData is evaluated at the end of every epoch (in inference
	// mode), reported as "val_loss" and "val_" + metric.
	ValidationData *Data
	// ValidationSplit, in [0, 1), holds out the last fraction of x and y
	// (before shuffling) as validation data, as Keras does: the first
	// ceil(N·(1−split)) rows train. ValidationData, when given, takes
	// precedence, as in Keras.
	ValidationSplit float64
	// ValidationBatchSize is the batch size of the validation (BatchSize
	// when zero).
	ValidationBatchSize int
	// Callbacks are called around training, epochs and batches, in order.
	Callbacks []Callback
	// Progress receives a Keras-like progress display: a bar redrawn in
	// place on a terminal, one line per epoch otherwise. Nil is silent.
	Progress io.Writer
	// Guard turns on the training program's NaN/Inf guard
	// (vm.Machine.SetGuard): every value a step computes is checked as it
	// is computed, and the first NaN or infinity stops the step before any
	// of its updates is applied. Fit then returns an error matching
	// vm.ErrNonFinite, whose *vm.GuardError names the instruction, the
	// graph node, its layer and the ranges of its inputs, and the model
	// keeps the weights of the last good step. It costs a pass over every
	// value a step computes (11% of a step of reference configuration B
	// at batch size 128, 28% at 32: BenchmarkGuard in package vm). With
	// Guard, TerminateOnNaN has nothing to catch and takes no copies of
	// the store.
	Guard bool
}

// Fit trains the model on x and y: Keras's Model.fit. Every epoch the
// training rows are shuffled (unless NoShuffle) and cut into batches; each
// batch is copied into buffers allocated once, and one run of the compiled
// training step computes the loss, the metrics, the gradients and the
// updates. The epoch's loss and metrics are the means over its examples
// (each batch weighted by its size); with validation data, the model is
// then evaluated on it.
//
// x and y are checked against the model before anything runs: x must be
// [N, input...] and y [N, target...] (the loss's TargetShape; a trailing
// axis of 1 is accepted for labels), both in the model's dtype; a mismatch
// is an error and nothing changes.
//
// A run resumed from a checkpoint continues bit-identically: Save after
// epoch k (ModelCheckpoint does), build and Compile the same model, Load the
// checkpoint (it restores the weights, the BatchNorm statistics, the
// optimizer's state, the random layers' step counter and the model seed),
// and Fit with the same data and options and InitialEpoch k: every value of
// the store, and the History of epochs k+1 on, are those of the run that
// was never interrupted. (Callbacks keep their own state: an EarlyStopping
// resumed this way starts counting afresh.)
//
// Fit returns the history of the completed epochs and an error when
// training did not run to its end: a cancelled ctx (checked before every
// step: the step under way finishes, so the weights are never half
// updated; the error wraps ctx.Err()), a callback's error, a run that
// failed (a label out of range: that step changed nothing), or a
// non-finite loss with TerminateOnNaN (ErrNonFiniteLoss), or with Guard, a
// non-finite value anywhere in a step (vm.ErrNonFinite: that step changed
// nothing). With a memory limit (Config.CompileOptions.MemoryLimit), the
// batch sizes are checked against it before anything runs. An epoch that
// was cut short by an error is not recorded; one stopped by
// Run.StopTraining is.
func (m *Model) Fit(ctx context.Context, x, y *tensor.Dense, opts FitOptions) (*History, error) {
	if !m.compiled {
		return nil, fmt.Errorf("train: fit: %w", errNotCompiled)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if m.dtype == graph.Float32 {
		return fit[float32](ctx, m, x, y, opts)
	}
	return fit[float64](ctx, m, x, y, opts)
}

// fitLoop is the state of one Fit.
type fitLoop[T float] struct {
	m      *Model
	run    *Run
	cbs    []Callback
	train  rows[T]
	val    rows[T]
	idx    []int // the training rows in the epoch's order
	seed   uint64
	pcg    *rand.PCG // reseeded with (seed, epoch) every epoch
	rng    *rand.Rand
	bs     int
	batch  *batchFeeds[T]
	vbatch *batchFeeds[T]
	keys   []string  // "loss" and the metrics: the training fetches
	vkeys  []string  // "val_loss" and "val_" + metrics
	sums   []float64 // Σ value·n over the epoch's batches
	vsums  []float64
	seen   int
	logs   Logs // batch logs
	elogs  Logs // epoch logs
	shuf   bool
	// guarded: the NaN/Inf guard is on (FitOptions.Guard)
	guarded bool
}

// fitSetup checks everything and allocates what the epochs reuse.
func fitSetup[T float](m *Model, x, y *tensor.Dense, opts FitOptions) (*fitLoop[T], error) {
	if opts.Epochs == 0 {
		opts.Epochs = 1
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 32
	}
	switch {
	case opts.Epochs < 0:
		return nil, fmt.Errorf("options: Epochs is %d", opts.Epochs)
	case opts.InitialEpoch < 0 || opts.InitialEpoch > opts.Epochs:
		return nil, fmt.Errorf("options: InitialEpoch %d is not in [0, Epochs=%d]", opts.InitialEpoch, opts.Epochs)
	case opts.BatchSize < 0:
		return nil, fmt.Errorf("options: BatchSize is %d", opts.BatchSize)
	case opts.ValidationBatchSize < 0:
		return nil, fmt.Errorf("options: ValidationBatchSize is %d", opts.ValidationBatchSize)
	case math.IsNaN(opts.ValidationSplit) || opts.ValidationSplit < 0 || opts.ValidationSplit >= 1:
		return nil, fmt.Errorf("options: ValidationSplit %v is not in [0, 1)", opts.ValidationSplit)
	}
	for i, c := range opts.Callbacks {
		if c == nil {
			return nil, fmt.Errorf("options: callback %d is nil", i)
		}
	}
	all, err := dataRows[T](m, "", x, y, true)
	if err != nil {
		return nil, err
	}
	f := &fitLoop[T]{m: m, train: all, shuf: !opts.NoShuffle, guarded: opts.Guard}
	switch {
	case opts.ValidationData != nil:
		f.val, err = dataRows[T](m, "validation ", opts.ValidationData.X, opts.ValidationData.Y, true)
		if err != nil {
			return nil, err
		}
	case opts.ValidationSplit > 0:
		at := int(math.Ceil(float64(all.n) * (1 - opts.ValidationSplit)))
		if at <= 0 || at >= all.n {
			return nil, fmt.Errorf("options: ValidationSplit %v of %d examples leaves %d to train on and %d to validate on", opts.ValidationSplit, all.n, at, all.n-at)
		}
		f.train, f.val = all.slice(0, at), all.slice(at, all.n)
	}
	f.bs = min(opts.BatchSize, f.train.n)
	if m.cfg.CompileOptions.MemoryLimit > 0 {
		if err := m.trainM.CheckBatch(f.bs); err != nil {
			return nil, fmt.Errorf("training step: %w", err)
		}
	}
	steps := (f.train.n + f.bs - 1) / f.bs
	f.batch = newBatchFeeds[T](m, f.bs, true)
	f.idx = make([]int, f.train.n)
	for i := range f.idx {
		f.idx[i] = i
	}
	f.seed = opts.Seed
	f.pcg = rand.NewPCG(opts.Seed, 0)
	f.rng = rand.New(f.pcg)
	f.keys = append([]string{"loss"}, m.metrics...)
	f.sums = make([]float64, len(f.keys))
	f.logs = Logs{}
	f.elogs = Logs{}
	for _, k := range f.keys {
		f.logs[k] = 0
	}
	if f.val.n > 0 {
		vbs := opts.ValidationBatchSize
		if vbs == 0 {
			vbs = opts.BatchSize
		}
		f.vbatch = newBatchFeeds[T](m, min(vbs, f.val.n), true)
		if m.cfg.CompileOptions.MemoryLimit > 0 {
			if err := vm.NewMachine(m.evalM.prog, m.store).CheckBatch(f.vbatch.size); err != nil {
				return nil, fmt.Errorf("validation: %w", err)
			}
		}
		f.vsums = make([]float64, len(f.keys))
		for _, k := range f.keys {
			f.vkeys = append(f.vkeys, "val_"+k)
		}
	}
	f.run = &Run{
		Model:        m,
		Epochs:       opts.Epochs,
		InitialEpoch: opts.InitialEpoch,
		Steps:        steps,
		Samples:      f.train.n,
		BatchSize:    f.bs,
		Validation:   f.val.n > 0,
		History:      newHistory(m.metrics, f.val.n > 0),
		metrics:      m.metrics,
		iterations:   m.iterations(),
		epoch:        opts.InitialEpoch,
	}
	if opts.Progress != nil {
		f.cbs = append(f.cbs, newProgress(opts.Progress))
	}
	f.cbs = append(f.cbs, opts.Callbacks...)
	return f, nil
}

func fit[T float](ctx context.Context, m *Model, x, y *tensor.Dense, opts FitOptions) (*History, error) {
	f, err := fitSetup[T](m, x, y, opts)
	if err != nil {
		return nil, fmt.Errorf("train: fit: %w", err)
	}
	r := f.run
	m.trainM.SetGuard(f.guarded)
	err = f.loop(ctx)
	m.trainM.SetGuard(false)
	r.err = err
	for _, c := range f.cbs {
		if cerr := c.OnTrainEnd(r, f.elogs); cerr != nil && err == nil {
			err = cerr
		}
	}
	return r.History, err
}

// loop runs the epochs.
func (f *fitLoop[T]) loop(ctx context.Context) error {
	r := f.run
	for _, c := range f.cbs {
		if err := c.OnTrainBegin(r); err != nil {
			return err
		}
	}
	for epoch := r.InitialEpoch; epoch < r.Epochs && !r.stop; epoch++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("train: fit: cancelled before epoch %d: %w", epoch+1, err)
		}
		start := time.Now()
		r.epoch = epoch
		if r.guard && !f.guarded {
			if err := f.keepGood(epoch); err != nil {
				return err
			}
		}
		if f.shuf {
			f.shuffle(epoch)
		}
		for _, c := range f.cbs {
			if err := c.OnEpochBegin(r, epoch); err != nil {
				return err
			}
		}
		clear(f.sums)
		f.seen = 0
		for b := 0; b < r.Steps && !r.stop; b++ {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("train: fit: cancelled at epoch %d, batch %d: %w", epoch+1, b, err)
			}
			if err := f.step(b); err != nil {
				return err
			}
		}
		clear(f.elogs)
		for i, k := range f.keys {
			f.elogs[k] = f.sums[i] / float64(f.seen)
		}
		if f.val.n > 0 {
			if err := evaluateRows(ctx, f.m, f.val, f.vbatch, f.vsums); err != nil {
				if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
					return fmt.Errorf("train: fit: cancelled while validating epoch %d: %w", epoch+1, err)
				}
				return fmt.Errorf("train: fit: validation, epoch %d: %w", epoch+1, err)
			}
			for i, k := range f.vkeys {
				f.elogs[k] = f.vsums[i]
			}
		}
		r.History.add(epoch, f.elogs, time.Since(start))
		for _, c := range f.cbs {
			if err := c.OnEpochEnd(r, epoch, f.elogs); err != nil {
				return err
			}
		}
	}
	return nil
}

// shuffle sets the order of the training rows for an epoch: the rows in
// order, shuffled (Fisher–Yates, as rand.Rand.Shuffle does) by a PCG
// generator seeded with (Seed, epoch), so that the order depends on the
// seed and the epoch's number only, as datasets.Iterator's does.
func (f *fitLoop[T]) shuffle(epoch int) {
	for i := range f.idx {
		f.idx[i] = i
	}
	f.pcg.Seed(f.seed, uint64(epoch))
	for i := len(f.idx) - 1; i > 0; i-- {
		j := f.rng.IntN(i + 1)
		f.idx[i], f.idx[j] = f.idx[j], f.idx[i]
	}
}

// step runs training batch b of the epoch: copies its rows into the feed
// buffers, runs the training program, and accumulates the loss and the
// metrics. It allocates nothing once both batch sizes have been seen.
func (f *fitLoop[T]) step(b int) error {
	r := f.run
	for _, c := range f.cbs {
		if err := c.OnBatchBegin(r, b); err != nil {
			return err
		}
	}
	start := b * f.bs
	end := min(start+f.bs, f.train.n)
	n := end - start
	feeds := f.batch.fillIndex(f.train, f.idx[start:end])
	res, err := f.m.trainM.Exec(feeds)
	if err != nil {
		return f.stepError(b, err)
	}
	r.iterations++
	for i := range f.sums {
		f.sums[i] += scalar[T](res.At(i)) * float64(n)
	}
	r.batchLoss = scalar[T](res.At(0))
	f.seen += n
	for i, k := range f.keys {
		f.logs[k] = f.sums[i] / float64(f.seen)
	}
	for _, c := range f.cbs {
		if err := c.OnBatchEnd(r, b, f.logs); err != nil {
			return err
		}
	}
	return nil
}

// stepError explains a failed run (kept out of step so that step's frame
// stays small).
func (f *fitLoop[T]) stepError(b int, err error) error {
	if errors.Is(err, vm.ErrFeed) {
		return fmt.Errorf("train: fit: epoch %d, batch %d: %w", f.run.epoch+1, b, err)
	}
	if errors.Is(err, vm.ErrNonFinite) {
		return fmt.Errorf("train: fit: epoch %d, batch %d: the NaN/Inf guard stopped training; the step applied none of its updates, so the model keeps the weights of the last good step (after %d updates): %w",
			f.run.epoch+1, b, f.run.iterations, err)
	}
	return fmt.Errorf("train: fit: epoch %d, batch %d (the step changed nothing): %w", f.run.epoch+1, b, err)
}

// keepGood copies the store at the start of an epoch for TerminateOnNaN,
// keeping the previous copy when the store is no longer finite.
func (f *fitLoop[T]) keepGood(epoch int) error {
	snap, err := takeSnapshot(f.m.store, nil)
	if err != nil {
		return fmt.Errorf("train: TerminateOnNaN: %w", err)
	}
	if snap.finite() {
		f.run.lastGood, f.run.goodEpoch = snap, epoch
	}
	return nil
}
