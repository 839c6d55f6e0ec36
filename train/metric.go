package train

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// Metric is a quantity reported during training and evaluation, built as
// graph nodes next to the loss, so that it is computed by the same
// compiled program.
//
// Build returns a scalar: the metric's mean over one batch (for an
// accuracy, the fraction of correct predictions in the batch). Its weight
// when batches are combined is the batch size: Fit and Evaluate report
// Σ mean_b·n_b / Σ n_b over the batches b of sizes n_b, which is the
// metric over the whole epoch even when the last batch is short. (For
// outputs with more axes than [B, C], the mean is over every example of
// the batch, a fixed multiple of n_b, so the weighting is the same.)
type Metric interface {
	// Name is the Keras name under which the metric is reported
	// ("accuracy").
	Name() string
	// Build returns the batch mean of the metric for predictions pred and
	// targets target (shaped as the loss's TargetShape says). Errors go
	// to the graph.
	Build(pred, target *graph.Node) *graph.Node
}

// Accuracy is Keras's "accuracy": the fraction of correct predictions,
// where what "correct" means depends on the loss, as Keras resolves the
// string "accuracy":
//
//   - SparseCategoricalCrossentropy: SparseCategoricalAccuracy (integer
//     labels against the argmax of the output);
//   - CategoricalCrossentropy: CategoricalAccuracy (argmax against argmax);
//   - BinaryCrossentropy: BinaryAccuracy, with threshold 0.5 on
//     probabilities, or 0 on logits when the loss has FromLogits (Keras
//     would threshold logits at 0.5; the loss tells us better);
//   - any other loss (or none): by the shapes, as Keras does: an output
//     whose last axis is 1 (or of rank 1, one value per example) is binary
//     (threshold 0.5), targets of lower rank than the output (or with a
//     last axis of 1 against several classes) are sparse labels, and
//     anything else is one-hot.
type Accuracy struct {
	// Loss is the model's loss; nil resolves by shapes only.
	Loss Loss
}

// Name returns "accuracy".
func (Accuracy) Name() string { return "accuracy" }

// Build returns the batch's accuracy.
func (a Accuracy) Build(pred, target *graph.Node) *graph.Node {
	return a.resolve(pred, target).Build(pred, target)
}

// resolve picks the accuracy that fits the loss, or the shapes.
func (a Accuracy) resolve(pred, target *graph.Node) Metric {
	switch l := a.Loss.(type) {
	case SparseCategoricalCrossentropy, *SparseCategoricalCrossentropy:
		return SparseCategoricalAccuracy{}
	case CategoricalCrossentropy, *CategoricalCrossentropy:
		return CategoricalAccuracy{}
	case BinaryCrossentropy:
		return BinaryAccuracy{FromLogits: l.FromLogits}
	case *BinaryCrossentropy:
		if l != nil {
			return BinaryAccuracy{FromLogits: l.FromLogits}
		}
	}
	if pred == nil || target == nil {
		return CategoricalAccuracy{} // reports the nil input
	}
	ps, ts := pred.Shape(), target.Shape()
	if len(ps) <= 1 || len(ts) == 0 {
		return BinaryAccuracy{} // one value per example
	}
	pLast, tLast := ps[len(ps)-1], ts[len(ts)-1]
	switch {
	case pLast == 1:
		return BinaryAccuracy{}
	case len(ts) < len(ps) || (tLast == 1 && pLast > 1):
		return SparseCategoricalAccuracy{}
	}
	return CategoricalAccuracy{}
}

// SparseCategoricalAccuracy is Keras's sparse_categorical_accuracy: the
// fraction of examples whose integer label (stored as a float, shape [B],
// or [B, 1] squeezed as Keras does) equals the index of the largest output
// (nodes.ArgMax: the first on ties, a NaN counts as largest).
type SparseCategoricalAccuracy struct{}

// Name returns "sparse_categorical_accuracy".
func (SparseCategoricalAccuracy) Name() string { return "sparse_categorical_accuracy" }

// Build returns the batch's accuracy.
func (m SparseCategoricalAccuracy) Build(pred, target *graph.Node) *graph.Node {
	target = lossSqueezeLabels(pred, target)
	if bad := metricCheckShapes(m.Name(), pred, target, true); bad != nil {
		return bad
	}
	return nodes.Mean(nodes.Equal(nodes.ArgMax(pred), target), false)
}

// CategoricalAccuracy is Keras's categorical_accuracy: the fraction of
// examples whose largest output and largest target entry (one-hot or
// probability rows of the output's shape) have the same index.
type CategoricalAccuracy struct{}

// Name returns "categorical_accuracy".
func (CategoricalAccuracy) Name() string { return "categorical_accuracy" }

// Build returns the batch's accuracy.
func (m CategoricalAccuracy) Build(pred, target *graph.Node) *graph.Node {
	if bad := metricCheckShapes(m.Name(), pred, target, false); bad != nil {
		return bad
	}
	return nodes.Mean(nodes.Equal(nodes.ArgMax(pred), nodes.ArgMax(target)), false)
}

// BinaryAccuracy is Keras's binary_accuracy: the fraction of elements
// where the prediction thresholded (1 where pred > threshold, else 0)
// equals the target, which should hold 0 or 1 (a soft target never
// matches). A [B] target against a [B, 1] output is reshaped as Keras
// does.
type BinaryAccuracy struct {
	// Threshold is the probability above which a prediction counts as 1;
	// zero means Keras's default, 0.5. It must lie in (0, 1).
	Threshold float64
	// FromLogits says the output is logits: it is compared with
	// logit(Threshold) = ln(Threshold/(1 − Threshold)), which is 0 for the
	// default threshold; σ(z) > Threshold exactly when z is above it.
	FromLogits bool
}

// Name returns "binary_accuracy".
func (BinaryAccuracy) Name() string { return "binary_accuracy" }

// Build returns the batch's accuracy.
func (m BinaryAccuracy) Build(pred, target *graph.Node) *graph.Node {
	thr := m.Threshold
	if thr == 0 {
		thr = 0.5
	}
	if !(thr > 0 && thr < 1) {
		return lossFail(m.Name(), pred, target, graph.Errorf(graph.ErrArg, "threshold %v: want a value in (0, 1)", thr))
	}
	if m.FromLogits {
		thr = math.Log(thr / (1 - thr))
	}
	target = lossMatchShape(pred, target)
	if bad := metricCheckShapes(m.Name(), pred, target, false); bad != nil {
		return bad
	}
	var g *graph.Graph
	for _, n := range []*graph.Node{pred, target} {
		if n != nil {
			g = n.Graph()
			break
		}
	}
	if g == nil {
		return nil
	}
	return nodes.Mean(nodes.Equal(target, nodes.Greater(pred, g.Scalar(thr))), false)
}

// LossMetric reports a loss as a metric (Keras's metrics=["mae"]): its
// batch mean. The loss must use the mean reduction (ReductionMean, the
// zero value); its Name is the metric's.
type LossMetric struct {
	Loss Loss
}

// Name returns the loss's name.
func (m LossMetric) Name() string {
	if m.Loss == nil {
		return "loss"
	}
	return m.Loss.Name()
}

// Build returns the loss's batch mean.
func (m LossMetric) Build(pred, target *graph.Node) *graph.Node {
	if m.Loss == nil {
		return lossFail("loss_metric", pred, target, graph.Errorf(graph.ErrArg, "LossMetric needs a loss"))
	}
	return m.Loss.Build(pred, target)
}

// metrics maps Keras's metric names to constructors given the model's
// loss.
var metrics = map[string]func(loss Loss) Metric{
	"accuracy":                    func(loss Loss) Metric { return Accuracy{Loss: loss} },
	"acc":                         func(loss Loss) Metric { return Accuracy{Loss: loss} },
	"sparse_categorical_accuracy": func(Loss) Metric { return SparseCategoricalAccuracy{} },
	"categorical_accuracy":        func(Loss) Metric { return CategoricalAccuracy{} },
	"binary_accuracy":             func(loss Loss) Metric { return BinaryAccuracy{FromLogits: metricFromLogits(loss)} },
	"mse":                         func(Loss) Metric { return LossMetric{Loss: MeanSquaredError{}} },
	"mean_squared_error":          func(Loss) Metric { return LossMetric{Loss: MeanSquaredError{}} },
	"mae":                         func(Loss) Metric { return LossMetric{Loss: MeanAbsoluteError{}} },
	"mean_absolute_error":         func(Loss) Metric { return LossMetric{Loss: MeanAbsoluteError{}} },
}

// metricFromLogits reports whether loss is a binary cross-entropy on
// logits.
func metricFromLogits(loss Loss) bool {
	switch l := loss.(type) {
	case BinaryCrossentropy:
		return l.FromLogits
	case *BinaryCrossentropy:
		return l != nil && l.FromLogits
	}
	return false
}

// MetricNames returns the names MetricByName accepts, sorted.
func MetricNames() []string {
	names := make([]string, 0, len(metrics))
	for name := range metrics {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// MetricByName returns the metric with the given Keras name for a model
// trained with loss (which may be nil): "accuracy" (or "acc"), resolved by
// the loss as Accuracy says; "sparse_categorical_accuracy";
// "categorical_accuracy"; "binary_accuracy" (threshold 0.5, applied to
// logits as 0 when loss is a BinaryCrossentropy with FromLogits); "mse" (or
// "mean_squared_error") and "mae" (or "mean_absolute_error"), the loss
// reported as a metric. An unknown name gives an error, matching
// graph.ErrArg, that lists the valid ones.
func MetricByName(name string, loss Loss) (Metric, error) {
	if f, ok := metrics[name]; ok {
		return f(loss), nil
	}
	return nil, fmt.Errorf("train: %w: unknown metric %q (valid: %s)", graph.ErrArg, name, strings.Join(MetricNames(), ", "))
}

// metricCheckShapes records an error unless target fits pred: integer
// labels (sparse) are shaped like pred without its last axis; other
// targets are shaped like pred. Nil or foreign inputs are left to the ops.
func metricCheckShapes(name string, pred, target *graph.Node, sparse bool) *graph.Node {
	if pred == nil || target == nil || pred.Graph() != target.Graph() {
		return nil
	}
	ps, ts := pred.Shape(), target.Shape()
	if sparse {
		if len(ps) == 0 {
			return lossFail(name, pred, target, graph.Errorf(graph.ErrShape, "predictions need rank 1 or more (classes along the last axis), got a scalar"))
		}
		if want := ps[:len(ps)-1]; !ts.Equal(want) {
			return lossFail(name, pred, target, graph.Errorf(graph.ErrShape, "labels %v do not fit predictions %v: want labels %v", ts, ps, want))
		}
		return nil
	}
	if !ts.Equal(ps) {
		return lossFail(name, pred, target, graph.Errorf(graph.ErrShape, "targets %v do not fit predictions %v: want one shape", ts, ps))
	}
	return nil
}
