package train_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/train"
)

func TestMetricValues(t *testing.T) {
	// argmax of the rows: 1, 0, 2, 0 (the last row ties: the first wins);
	// a NaN row's argmax is its NaN
	scores := batched([]int{5, 3}, 0.1, 0.7, 0.2, 3, -1, 2, 0, 0, 5, 4, 4, 1, 1, math.NaN(), 9)
	cases := []struct {
		name         string
		metric       train.Metric
		pred, target operand
		want         float64
	}{
		// labels 1, 0, 0, 1, 1: rows 0, 1 and 4 right
		{"sparse", train.SparseCategoricalAccuracy{}, scores, batched([]int{5}, 1, 0, 0, 1, 1), 3.0 / 5},
		// [B, 1] labels are squeezed
		{"sparse/column", train.SparseCategoricalAccuracy{}, scores, batched([]int{5, 1}, 1, 0, 2, 0, 2), 4.0 / 5},
		// one-hot rows with argmax 1, 2, 2, 0, 1: rows 0, 2, 3 and 4 right
		{"categorical", train.CategoricalAccuracy{}, scores, batched([]int{5, 3}, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0), 4.0 / 5},
		// probability rows count by their argmax too (1, 0, 2, 0 on a tie,
		// 2): all but the NaN row right
		{"categorical/soft", train.CategoricalAccuracy{}, scores, batched([]int{5, 3}, 0.2, 0.5, 0.3, 0.6, 0.4, 0, 0.1, 0.1, 0.8, 0.5, 0.5, 0, 0.3, 0.3, 0.4), 4.0 / 5},
		// > 0.5 strictly: 1, 0, 0, 1 against 1, 0, 1, 0
		{"binary", train.BinaryAccuracy{}, batched([]int{4, 1}, 0.7, 0.4, 0.5, 0.9), batched([]int{4, 1}, 1, 0, 1, 0), 0.5},
		// a [B] target for a [B, 1] output
		{"binary/column", train.BinaryAccuracy{}, batched([]int{4, 1}, 0.7, 0.4, 0.5, 0.9), batched([]int{4}, 1, 0, 1, 0), 0.5},
		// threshold 0.45: 1, 0, 1, 1
		{"binary/threshold", train.BinaryAccuracy{Threshold: 0.45}, batched([]int{4, 1}, 0.7, 0.4, 0.5, 0.9), batched([]int{4, 1}, 1, 0, 1, 0), 0.75},
		// on logits the default threshold is 0: 1, 0, 0, 1
		{"binary/logits", train.BinaryAccuracy{FromLogits: true}, batched([]int{4}, 0.1, -0.2, 0, 3), batched([]int{4}, 1, 0, 1, 0), 0.5},
		// threshold ¾ on logits is ln 3 ≈ 1.0986: 1, 0, 0, 1
		{"binary/logits/threshold", train.BinaryAccuracy{FromLogits: true, Threshold: 0.75}, batched([]int{4}, 1.2, 1, 1.0986, 5), batched([]int{4}, 1, 1, 0, 1), 0.75},
		// multi-label: every element counts; a soft target never matches
		{"binary/multilabel", train.BinaryAccuracy{}, batched([]int{2, 3}, 0.9, 0.1, 0.6, 0.2, 0.8, 0.3), batched([]int{2, 3}, 1, 0, 0, 0, 1, 0.5), 4.0 / 6},
		{"mae", train.LossMetric{Loss: train.MeanAbsoluteError{}}, batched([]int{2, 2}, 1, 2, 3, 4), batched([]int{2, 2}, 0, 4, 3, 1), 1.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evalPair(tc.pred, tc.target, tc.metric.Build)
			require.NoError(t, err)
			expect(t, fmt.Sprintf("%s%+v.Build(%v, %v)", tc.metric.Name(), tc.metric, tc.pred.data, tc.target.data), got, []int{}, []float64{tc.want})
		})
	}
}

// TestAccuracyResolves: "accuracy" picks the accuracy the loss implies, or
// the one the shapes imply. Each case's data gives a different value under
// each candidate, so the value shows which was picked.
func TestAccuracyResolves(t *testing.T) {
	// logits of 2 examples over 2 classes, argmax 0 and 1; as probabilities
	// (> 0.5) the elements read 0, 0, 0, 1 (a 0.2 logit is below 0.5), as
	// logits (> 0) 1, 0, 0, 1
	logits := batched([]int{2, 2}, 0.2, -1, -2, 0.7)
	onehot := batched([]int{2, 2}, 1, 0, 0, 1)
	cases := []struct {
		name         string
		loss         train.Loss
		pred, target operand
		want         float64
	}{
		{"sparse", train.SparseCategoricalCrossentropy{FromLogits: true}, logits, batched([]int{2}, 0, 0), 0.5},
		{"sparse/pointer", &train.SparseCategoricalCrossentropy{}, logits, batched([]int{2}, 0, 0), 0.5},
		{"categorical", train.CategoricalCrossentropy{}, logits, onehot, 1},
		{"categorical/pointer", &train.CategoricalCrossentropy{}, logits, onehot, 1},
		// binary on probabilities: 0, 0, 0, 1 against 1, 0, 0, 1
		{"binary", train.BinaryCrossentropy{}, logits, onehot, 0.75},
		// binary on logits: threshold 0, all four right
		{"binary/logits", train.BinaryCrossentropy{FromLogits: true}, logits, onehot, 1},
		{"binary/logits/pointer", &train.BinaryCrossentropy{FromLogits: true}, logits, onehot, 1},
		// other losses: by shapes. Last axis 1: binary at 0.5
		{"shapes/binary", train.MeanSquaredError{}, batched([]int{2, 1}, 0.7, 0.2), batched([]int{2, 1}, 1, 1), 0.5},
		// rank 1: binary
		{"shapes/rank1", train.MeanSquaredError{}, batched([]int{2}, 0.7, 0.2), batched([]int{2}, 1, 1), 0.5},
		// lower-rank targets: sparse labels
		{"shapes/sparse", nil, logits, batched([]int{2}, 1, 1), 0.5},
		// a last axis of 1 against several classes: sparse labels
		{"shapes/sparse-column", nil, logits, batched([]int{2, 1}, 0, 1), 1},
		// same shapes: one-hot
		{"shapes/categorical", train.Huber{}, logits, batched([]int{2, 2}, 1, 0, 1, 0), 0.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := train.MetricByName("accuracy", tc.loss)
			require.NoError(t, err)
			assert.Equal(t, "accuracy", m.Name())
			got, err := evalPair(tc.pred, tc.target, m.Build)
			require.NoError(t, err)
			expect(t, fmt.Sprintf("accuracy for %T(%v, %v)", tc.loss, tc.pred.data, tc.target.data), got, []int{}, []float64{tc.want})
		})
	}
}

func TestMetricByName(t *testing.T) {
	logitsBCE := train.BinaryCrossentropy{FromLogits: true}
	cases := []struct {
		name string
		loss train.Loss
		want train.Metric
	}{
		{"accuracy", logitsBCE, train.Accuracy{Loss: logitsBCE}},
		{"acc", nil, train.Accuracy{}},
		{"sparse_categorical_accuracy", nil, train.SparseCategoricalAccuracy{}},
		{"categorical_accuracy", logitsBCE, train.CategoricalAccuracy{}},
		{"binary_accuracy", nil, train.BinaryAccuracy{}},
		{"binary_accuracy", train.BinaryCrossentropy{}, train.BinaryAccuracy{}},
		// the loss says the output is logits: threshold on logits
		{"binary_accuracy", logitsBCE, train.BinaryAccuracy{FromLogits: true}},
		{"binary_accuracy", &logitsBCE, train.BinaryAccuracy{FromLogits: true}},
		{"mse", nil, train.LossMetric{Loss: train.MeanSquaredError{}}},
		{"mean_squared_error", nil, train.LossMetric{Loss: train.MeanSquaredError{}}},
		{"mae", nil, train.LossMetric{Loss: train.MeanAbsoluteError{}}},
		{"mean_absolute_error", nil, train.LossMetric{Loss: train.MeanAbsoluteError{}}},
	}
	for _, tc := range cases {
		got, err := train.MetricByName(tc.name, tc.loss)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, "MetricByName(%q, %+v)", tc.name, tc.loss)
	}
	names := map[train.Metric]string{
		train.Accuracy{}:                                 "accuracy",
		train.SparseCategoricalAccuracy{}:                "sparse_categorical_accuracy",
		train.CategoricalAccuracy{}:                      "categorical_accuracy",
		train.BinaryAccuracy{}:                           "binary_accuracy",
		train.LossMetric{Loss: train.MeanSquaredError{}}: "mean_squared_error",
		train.LossMetric{}:                               "loss",
	}
	for m, want := range names {
		assert.Equal(t, want, m.Name(), "%T.Name()", m)
	}

	for _, name := range []string{"", "Accuracy", "precision"} {
		m, err := train.MetricByName(name, nil)
		require.Error(t, err)
		assert.Nil(t, m)
		assert.True(t, errors.Is(err, graph.ErrArg), "MetricByName(%q) error %v does not match graph.ErrArg", name, err)
		assert.Equal(t, fmt.Sprintf("train: invalid argument: unknown metric %q (valid: acc, accuracy, binary_accuracy, categorical_accuracy, mae, mean_absolute_error, mean_squared_error, mse, sparse_categorical_accuracy)", name), err.Error())
	}
	assert.Len(t, train.MetricNames(), 9)
}

func TestMetricErrors(t *testing.T) {
	cases := []struct {
		name         string
		metric       train.Metric
		pred, target graph.Shape
		kind         error
		want         string
	}{
		{"sparse/labels", train.SparseCategoricalAccuracy{}, graph.Shape{graph.Batch, 3}, graph.Shape{graph.Batch, 3}, graph.ErrShape,
			`graph: sparse_categorical_accuracy "sparse_categorical_accuracy": labels [B,3] do not fit predictions [B,3]: want labels [B]`},
		{"sparse/scalar", train.SparseCategoricalAccuracy{}, graph.Shape{}, graph.Shape{}, graph.ErrShape,
			`graph: sparse_categorical_accuracy "sparse_categorical_accuracy": predictions need rank 1 or more`},
		{"categorical/targets", train.CategoricalAccuracy{}, graph.Shape{graph.Batch, 3}, graph.Shape{graph.Batch, 2}, graph.ErrShape,
			`graph: categorical_accuracy "categorical_accuracy": targets [B,2] do not fit predictions [B,3]: want one shape`},
		{"binary/targets", train.BinaryAccuracy{}, graph.Shape{graph.Batch, 3}, graph.Shape{graph.Batch}, graph.ErrShape,
			`graph: binary_accuracy "binary_accuracy": targets [B] do not fit predictions [B,3]: want one shape`},
		{"binary/threshold", train.BinaryAccuracy{Threshold: 1}, graph.Shape{4}, graph.Shape{4}, graph.ErrArg,
			`graph: binary_accuracy "binary_accuracy": threshold 1: want a value in (0, 1)`},
		{"binary/negative", train.BinaryAccuracy{Threshold: -0.5, FromLogits: true}, graph.Shape{4}, graph.Shape{4}, graph.ErrArg,
			`graph: binary_accuracy "binary_accuracy": threshold -0.5: want a value in (0, 1)`},
		{"binary/nan", train.BinaryAccuracy{Threshold: math.NaN()}, graph.Shape{4}, graph.Shape{4}, graph.ErrArg,
			`graph: binary_accuracy "binary_accuracy": threshold NaN: want a value in (0, 1)`},
		{"loss-metric/nil", train.LossMetric{}, graph.Shape{4}, graph.Shape{4}, graph.ErrArg,
			`graph: loss_metric "loss_metric": LossMetric needs a loss`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			var y *graph.Node
			require.NotPanics(t, func() { y = tc.metric.Build(g.Input("pred", tc.pred), g.Input("target", tc.target)) })
			assert.True(t, y.IsPoisoned(), "%s.Build gave %v, want a poisoned node", tc.metric.Name(), y)
			err := g.Err()
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.kind)
			assert.True(t, strings.HasPrefix(err.Error(), tc.want), "error\n  %s\ndoes not start with\n  %s", err, tc.want)
		})
	}
	// nil inputs never panic
	for _, name := range train.MetricNames() {
		m, err := train.MetricByName(name, nil)
		require.NoError(t, err)
		require.NotPanics(t, func() { assert.Nil(t, m.Build(nil, nil), "%s.Build(nil, nil)", name) })
		for i := range 2 {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{2, 3})
			p, tg := x, (*graph.Node)(nil)
			if i == 1 {
				p, tg = tg, p
			}
			require.NotPanics(t, func() { m.Build(p, tg) }, "%s with input %d nil", name, 1-i)
			assert.ErrorIs(t, g.Err(), graph.ErrNil, "%s with input %d nil", name, 1-i)
		}
	}
}

// TestMetricIsScalar: every metric is the batch mean, a scalar, with an
// open batch dimension. "accuracy" gets the targets of the loss it
// resolves by; the others the targets they take.
func TestMetricIsScalar(t *testing.T) {
	out := graph.Shape{graph.Batch, 4}
	for _, name := range train.MetricNames() {
		for _, loss := range []train.Loss{train.SparseCategoricalCrossentropy{}, train.CategoricalCrossentropy{}, train.BinaryCrossentropy{}} {
			m, err := train.MetricByName(name, loss)
			require.NoError(t, err)
			target := out
			switch name {
			case "accuracy", "acc":
				target = loss.TargetShape(out)
			case "sparse_categorical_accuracy":
				target = graph.Shape{graph.Batch}
			}
			g := graph.New(graph.Float32)
			y := m.Build(g.Input("pred", out), g.Input("target", target))
			require.NoError(t, g.Err(), "%s for %s", name, loss.Name())
			assert.Equal(t, graph.Shape{}, y.Shape(), "%s for %s", name, loss.Name())
		}
	}
}
