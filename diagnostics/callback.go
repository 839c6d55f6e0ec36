package diagnostics

import (
	"errors"
	"fmt"

	"github.com/tapegrad/tapegrad/train"
)

// Callback records a Report of the model on a fixed batch during Fit: after
// every Every-th epoch, after the last one (also when training stops
// early), and before the first when Initial is set. Use a pointer; Reports
// is reset when training begins.
//
//	diag := &diagnostics.Callback{Every: 5, Batch: train.Data{X: xVal[:512], Y: yVal[:512]}}
//	_, err := model.Fit(ctx, x, y, train.FitOptions{Epochs: 20, Callbacks: []train.Callback{diag}})
//	last := diag.Reports[len(diag.Reports)-1]
//
// The inspection program is compiled once, when training begins, and runs
// on the model's store between two training steps without writing to it,
// so it changes nothing about the training. Its cost is about one training
// step on the batch per recorded report.
type Callback struct {
	train.BaseCallback
	// Every is the number of epochs between two reports; 0 means 1.
	Every int
	// Batch is the data inspected: a batch of inputs and, for the
	// gradients, targets (Y may be nil). A few hundred rows of the
	// validation data is typical.
	Batch train.Data
	// Initial also records a report before the first epoch, with Epoch −1:
	// the model at initialization (or as the previous Fit left it).
	Initial bool
	// Options are the inspection's options. Set Options.Loss when the
	// model's loss is not the sparse categorical cross-entropy of logits.
	Options Options

	// Reports are the reports recorded, in order.
	Reports []Report

	in       *Inspector
	recorded int // the epoch of the last report, to record each once
}

// OnTrainBegin compiles the inspection and records the initial report when
// asked to.
func (c *Callback) OnTrainBegin(r *train.Run) error {
	c.Reports = c.Reports[:0]
	c.recorded = -2
	if c.Every < 0 {
		return fmt.Errorf("diagnostics: callback: Every %d: want 0 (every epoch) or more", c.Every)
	}
	if c.Batch.X == nil {
		return errors.New("diagnostics: callback: Batch.X is nil: give it a batch of inputs to inspect")
	}
	dt, err := dtypeOf(c.Batch.X)
	if err != nil {
		return err
	}
	if mdt := r.Model.DType(); mdt != 0 && mdt != dt {
		return fmt.Errorf("diagnostics: callback: a %v batch for a %v model", dt, mdt)
	}
	in, err := NewInspector(r.Model.Sequential(), r.Model.Store(), dt, c.Options)
	if err != nil {
		return err
	}
	c.in = in
	if c.Initial {
		return c.record(-1)
	}
	return nil
}

// OnEpochEnd records a report when it is time to.
func (c *Callback) OnEpochEnd(r *train.Run, epoch int, _ train.Logs) error {
	every := c.Every
	if every == 0 {
		every = 1
	}
	if (epoch+1)%every == 0 || epoch == r.Epochs-1 || r.Stopping() {
		return c.record(epoch)
	}
	return nil
}

func (c *Callback) record(epoch int) error {
	if c.in == nil || c.recorded == epoch {
		return nil
	}
	rep, err := c.in.Inspect(c.Batch.X, c.Batch.Y)
	if err != nil {
		return err
	}
	rep.Epoch = epoch
	c.Reports = append(c.Reports, rep)
	c.recorded = epoch
	return nil
}
