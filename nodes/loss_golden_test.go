package nodes_test

import (
	"fmt"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/nodes"
)

// lossGoldenParams lists, per op of losses.json, every params key the
// test reads; any other key fails the case, so that a new parameter is
// never silently ignored.
var lossGoldenParams = map[string][]string{
	"softmax_cross_entropy_sparse":      {"reduction", "from_logits"},
	"softmax_cross_entropy_probs":       {"reduction", "from_logits", "labels"},
	"sigmoid_cross_entropy_with_logits": {"reduction", "from_logits"},
	"mse":                               {"reduction"},
}

// lossGoldenPerExample builds the unreduced loss of a case of
// ../shared/golden/losses.json from its op and params (from_logits,
// labels), or returns an error naming what it does not know: an op, a
// params key or a params value.
func lossGoldenPerExample(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
	known, ok := lossGoldenParams[c.Op]
	if !ok {
		return nil, fmt.Errorf("unknown loss op %q", c.Op)
	}
	if err := goldenCheckParams(c, known...); err != nil {
		return nil, err
	}
	fromLogits := true
	if v, ok := c.Params["from_logits"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, fmt.Errorf("params.from_logits = %v: want a boolean", v)
		}
		fromLogits = b
	}
	switch c.Op {
	case "softmax_cross_entropy_sparse":
		if fromLogits {
			return nodes.SoftmaxCrossEntropySparsePerExample(in["logits"], in["labels"]), nil
		}
		return nodes.SparseCategoricalCrossEntropyFromProbsPerExample(in["logits"], in["labels"]), nil
	case "softmax_cross_entropy_probs":
		switch l := c.String("labels"); l {
		case "onehot", "soft", "":
		default:
			return nil, fmt.Errorf("params.labels = %q: want onehot or soft", l)
		}
		if fromLogits {
			return nodes.SoftmaxCrossEntropyPerExample(in["logits"], in["labels"]), nil
		}
		return nodes.CategoricalCrossEntropyFromProbsPerExample(in["logits"], in["labels"]), nil
	case "sigmoid_cross_entropy_with_logits":
		if fromLogits {
			return nodes.SigmoidCrossEntropyWithLogitsPerElement(in["logits"], in["labels"]), nil
		}
		return nodes.BinaryCrossEntropyFromProbsPerElement(in["logits"], in["labels"]), nil
	case "mse":
		return nodes.SquaredError(in["predictions"], in["targets"]), nil
	}
	return nil, fmt.Errorf("unknown loss op %q", c.Op)
}

// lossGoldenBuild is the whole loss of a case: the unreduced loss reduced
// as params.reduction says. "mean" is the mean over the per-example values
// (over the batch), "mean_over_all_elements" the mean over every element of
// an element-wise loss; both are one Mean over all axes of the unreduced
// value.
func lossGoldenBuild(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
	per, err := lossGoldenPerExample(c, in)
	if err != nil {
		return nil, err
	}
	switch r := c.String("reduction"); r {
	case "mean", "mean_over_all_elements":
		return nodes.Mean(per, false), nil
	case "sum":
		return nodes.Sum(per, false), nil
	case "none":
		return per, nil
	default:
		return nil, fmt.Errorf("params.reduction = %q: want mean, mean_over_all_elements, sum or none", r)
	}
}

// TestGoldenLosses runs every case of losses.json in float64 and float32:
// the loss value, and the gradient (for the case's upstream scalar) with
// respect to every input that has a golden gradient. Tolerances are
// goldenRun's (golden_test.go): 1e-10·max(1, |want|) in float64, 1e-5
// relative plus 1e-6 absolute in float32. An unknown op, params key or
// params value fails the case.
func TestGoldenLosses(t *testing.T) {
	f := golden.Load(t, "losses.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			// check the dispatch once on a throwaway graph, so that an
			// unknown op or parameter fails with its own message
			g := graph.New(graph.Float64)
			probe := map[string]*graph.Node{}
			for k, v := range c.Inputs {
				probe[k] = g.Input(k, v.Shape)
			}
			if _, err := lossGoldenBuild(c, probe); err != nil {
				t.Fatalf("case %s (op %s, params %v): %v", c.Name, c.Op, c.Params, err)
			}
			for _, dt := range goldenDTypes {
				t.Run(dt.String(), func(t *testing.T) { goldenRun(t, dt, c, lossGoldenBuild) })
			}
		})
	}
}
