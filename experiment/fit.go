package experiment

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"gonum.org/v1/plot/plotutil"

	"github.com/tapegrad/tapegrad/diagnostics"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/train"
)

// TrainResult is one model trained by a training experiment.
type TrainResult struct {
	// Name says which variant this is ("elu", "BN before act").
	Name string
	// Params is the number of trainable parameters, NonTrainable that of
	// the others (BatchNormalization's moving statistics).
	Params, NonTrainable int
	// TrainRows is the number of rows it was trained on.
	TrainRows int
	// Loss, Accuracy, ValLoss and ValAccuracy are per epoch.
	Loss, Accuracy, ValLoss, ValAccuracy []float64
	// EpochTime is the wall time of each epoch, validation included.
	EpochTime []time.Duration
	// TestAccuracy is the accuracy on the test split after training.
	TestAccuracy float64
	// Before and After are diagnostics of the model on the inspected
	// validation rows, at initialization and after the last epoch.
	Before, After diagnostics.Report
}

// MeanEpochTime is the mean of EpochTime.
func (r TrainResult) MeanEpochTime() time.Duration {
	if len(r.EpochTime) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range r.EpochTime {
		s += d
	}
	return s / time.Duration(len(r.EpochTime))
}

// Final returns the last value of v, NaN when empty.
func final(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return v[len(v)-1]
}

// fitSpec is one training run of an experiment.
type fitSpec struct {
	label     string
	model     *layers.Sequential
	optimizer train.Optimizer
	epochs    int
	data      splits // train (already cut to the rows used), val, test
	inspect   train.Data
}

// fit trains one model, with diagnostics before and after and progress.
func fit(ctx context.Context, c Config, s fitSpec) (TrainResult, error) {
	m := train.NewModel(s.model)
	m.Seed(c.Seed)
	if err := m.Compile(train.Config{
		Loss:      train.SparseCategoricalCrossentropy{FromLogits: true},
		Optimizer: s.optimizer,
		Metrics:   []string{"accuracy"},
	}); err != nil {
		return TrainResult{}, fmt.Errorf("%s: %w", s.label, err)
	}
	diag := &diagnostics.Callback{Every: s.epochs, Initial: true, Batch: s.inspect}
	h, err := m.Fit(ctx, s.data.train.X, s.data.train.Y, train.FitOptions{
		Epochs: s.epochs, BatchSize: c.BatchSize, Seed: c.Seed,
		ValidationData: &s.data.val,
		Callbacks:      []train.Callback{diag, &fitProgress{p: c.Progress, label: s.label}},
	})
	if err != nil {
		return TrainResult{}, fmt.Errorf("%s: %w", s.label, err)
	}
	ev, err := m.Evaluate(s.data.test.X, s.data.test.Y, train.EvaluateOptions{BatchSize: 256})
	if err != nil {
		return TrainResult{}, fmt.Errorf("%s: %w", s.label, err)
	}
	tr, ntr, err := s.model.Params()
	if err != nil {
		return TrainResult{}, err
	}
	r := TrainResult{
		Name: s.label, Params: tr, NonTrainable: ntr, TrainRows: s.data.train.X.Shape()[0],
		Loss: h.Loss, Accuracy: h.Get("accuracy"), ValLoss: h.ValLoss, ValAccuracy: h.Get("val_accuracy"),
		EpochTime: h.Time, TestAccuracy: ev.Metrics["accuracy"],
	}
	if n := len(diag.Reports); n >= 2 {
		r.Before, r.After = diag.Reports[0], diag.Reports[n-1]
	}
	return r, nil
}

func writeTrainSummary(w io.Writer, what string, rs []TrainResult) {
	fmt.Fprintf(w, "\n== %s\n", what)
	fmt.Fprintf(w, "%-36s %10s %10s %10s %12s\n", "model", "params", "val acc", "test acc", "s/epoch")
	for _, r := range rs {
		fmt.Fprintf(w, "%-36s %10d %10.4f %10.4f %12.3f\n", r.Name, r.Params, final(r.ValAccuracy), r.TestAccuracy, r.MeanEpochTime().Seconds())
	}
}

// curves writes the validation accuracy and the training loss per epoch of
// rs as two charts.
func curves(dir, prefix, title string, rs []TrainResult) ([]string, error) {
	files := []string{prefix + "_accuracy.png", prefix + "_loss.png"}
	var acc, loss []series
	for i, r := range rs {
		acc = append(acc, series{Name: r.Name, X: seq(len(r.ValAccuracy)), Y: r.ValAccuracy, Color: i, Dash: i / len(plotutil.DefaultColors)})
		loss = append(loss, series{Name: r.Name, X: seq(len(r.Loss)), Y: r.Loss, Color: i, Dash: i / len(plotutil.DefaultColors)})
	}
	epochs := 0
	for _, r := range rs {
		epochs = max(epochs, len(r.Loss))
	}
	ticks := seq(epochs)
	charts := []chart{
		{Title: title + ": validation accuracy", XLabel: "epoch", YLabel: "validation accuracy", XTicks: ticks, Series: acc},
		{Title: title + ": training loss", XLabel: "epoch", YLabel: "training loss (log scale)", LogY: true, XTicks: ticks, Series: loss},
	}
	for i, ch := range charts {
		if err := ch.writePNG(filepath.Join(dir, files[i])); err != nil {
			return nil, err
		}
	}
	return files, nil
}
