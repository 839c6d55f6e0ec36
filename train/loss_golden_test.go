package train_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/train"
)

// goldenLossTol is the golden README's bound for single ops in float64,
// relative to max(1, |want|).
const goldenLossTol = 1e-10

// goldenLossOps maps each op of losses.json to the public loss that
// computes it (its Keras name, as LossByName spells it), the names of its
// prediction and target inputs, and every params key the test reads; any
// other key fails the case, so that a new parameter is never silently
// ignored.
var goldenLossOps = map[string]struct {
	keras        string
	pred, target string
	params       []string
	elementwise  bool // the loss is a mean over elements (BCE, MSE)
}{
	"softmax_cross_entropy_sparse":      {"sparse_categorical_crossentropy", "logits", "labels", []string{"reduction", "from_logits"}, false},
	"softmax_cross_entropy_probs":       {"categorical_crossentropy", "logits", "labels", []string{"reduction", "from_logits", "labels"}, false},
	"sigmoid_cross_entropy_with_logits": {"binary_crossentropy", "logits", "labels", []string{"reduction", "from_logits"}, true},
	"mse":                               {"mean_squared_error", "predictions", "targets", []string{"reduction"}, true},
}

// goldenLoss returns the public train loss of a case of losses.json and
// the names of its prediction and target inputs, or an error naming what
// it does not know: an op, a params key or a params value.
func goldenLoss(c golden.Case) (loss train.Loss, pred, target string, err error) {
	op, ok := goldenLossOps[c.Op]
	if !ok {
		return nil, "", "", fmt.Errorf("unknown loss op %q", c.Op)
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(op.params, k) {
			return nil, "", "", fmt.Errorf("unknown params key %q (= %v) for op %s: the test reads only %v", k, c.Params[k], c.Op, op.params)
		}
	}
	fromLogits := true
	if v, ok := c.Params["from_logits"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, "", "", fmt.Errorf("params.from_logits = %v: want a boolean", v)
		}
		fromLogits = b
	}
	if v, ok := c.Params["labels"]; ok {
		if l, _ := v.(string); l != "onehot" && l != "soft" {
			return nil, "", "", fmt.Errorf("params.labels = %v: want onehot or soft", v)
		}
	}
	// "mean" is the mean of the per-example losses, "mean_over_all_elements"
	// the mean over every element of an element-wise loss: both are
	// ReductionMean (an element-wise loss's per-example value is the mean
	// over its last axis). Sums and unreduced values of the cross-entropies
	// over classes are per example; an element-wise loss's sum in Keras
	// adds per-example means, which is no reference's sum over elements.
	var red train.Reduction
	switch r := c.String("reduction"); {
	case r == "mean" || (r == "mean_over_all_elements" && op.elementwise):
		red = train.ReductionMean
	case r == "sum" && !op.elementwise:
		red = train.ReductionSum
	case r == "none" && !op.elementwise:
		red = train.ReductionNone
	default:
		return nil, "", "", fmt.Errorf("params.reduction = %v: not a reduction the public %s loss computes", c.Params["reduction"], op.keras)
	}
	switch c.Op {
	case "softmax_cross_entropy_sparse":
		loss = train.SparseCategoricalCrossentropy{FromLogits: fromLogits, Reduction: red}
	case "softmax_cross_entropy_probs":
		loss = train.CategoricalCrossentropy{FromLogits: fromLogits, Reduction: red}
	case "sigmoid_cross_entropy_with_logits":
		loss = train.BinaryCrossentropy{FromLogits: fromLogits, Reduction: red}
	case "mse":
		loss = train.MeanSquaredError{Reduction: red}
	}
	// the struct is the loss LossByName gives for the Keras name
	byName, err := train.LossByName(op.keras)
	if err != nil {
		return nil, "", "", err
	}
	if reflect.TypeOf(byName) != reflect.TypeOf(loss) || byName.Name() != loss.Name() {
		return nil, "", "", fmt.Errorf("LossByName(%q) is %T %q, the test uses %T %q", op.keras, byName, byName.Name(), loss, loss.Name())
	}
	for _, in := range []string{op.pred, op.target} {
		if _, ok := c.Inputs[in]; !ok {
			return nil, "", "", fmt.Errorf("no input %q", in)
		}
	}
	if len(c.Inputs) != 2 {
		return nil, "", "", fmt.Errorf("inputs %v: want %s and %s", slices.Sorted(maps.Keys(c.Inputs)), op.pred, op.target)
	}
	if len(c.StateAfter) > 0 {
		return nil, "", "", fmt.Errorf("state_after %v: a loss has no state", slices.Sorted(maps.Keys(c.StateAfter)))
	}
	return loss, op.pred, op.target, nil
}

// TestGoldenLossesPublicAPI runs every case of losses.json through the
// public loss configs of this package (the structs Compile takes, checked
// to be what LossByName names), in float64: the loss value, and the
// gradient for the case's upstream with respect to every input that has a
// golden gradient, within 1e-10·max(1, |want|). An unknown op, params key
// or params value fails the case. (Package nodes' TestGoldenLosses runs
// the same cases on the underlying ops.)
func TestGoldenLossesPublicAPI(t *testing.T) {
	f := golden.Load(t, "losses.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			loss, predName, targetName, err := goldenLoss(c)
			if err != nil {
				t.Fatalf("case %s (op %s, params %v): %v", c.Name, c.Op, c.Params, err)
			}
			names := []string{predName, targetName}
			for k := range c.Grads {
				if !slices.Contains(names, k) {
					t.Fatalf("case %s has a golden gradient for %q, which is not one of its inputs %v", c.Name, k, names)
				}
			}
			want, ok := c.Outputs["loss"]
			if !ok || len(c.Outputs) != 1 {
				t.Fatalf("case %s: outputs %v, want loss alone", c.Name, slices.Sorted(maps.Keys(c.Outputs)))
			}
			if c.Upstream == nil {
				t.Fatalf("case %s has no upstream: its gradients cannot be checked", c.Name)
			}
			ins := make([]testutil.Value, len(names))
			for i, k := range names {
				ins[i] = testutil.Value{Name: k, Shape: c.Inputs[k].Shape, Data: c.Inputs[k].Data}
			}
			y, grads, err := testutil.RunVJP(graph.Float64, ins, c.Upstream.Data, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
				return loss.Build(in[0], in[1])
			})
			if err != nil {
				t.Fatalf("case %s (%s %+v): %v", c.Name, loss.Name(), loss, err)
			}
			if !slices.Equal(y.Shape, want.Shape) {
				t.Errorf("%s: loss shape %v, want %v", loss.Name(), y.Shape, want.Shape)
			}
			golden.Compare(t, loss.Name()+" loss", y.Data, want, goldenLossTol)
			if len(c.Grads) == 0 {
				t.Fatalf("case %s has no golden gradient", c.Name)
			}
			for i, k := range names {
				wg, ok := c.Grads[k]
				if !ok {
					continue
				}
				if !slices.Equal(grads[i].Shape, wg.Shape) {
					t.Errorf("%s grad %s: shape %v, want %v", loss.Name(), k, grads[i].Shape, wg.Shape)
				}
				golden.Compare(t, loss.Name()+" grad "+k, grads[i].Data, wg, goldenLossTol)
			}
		})
	}
}
