package nodes_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/nodes"
)

// goldenActivation is one entry of goldenActivations: the builder of a
// golden op and the params keys it knows (any other key fails the case).
type goldenActivation struct {
	params []string
	build  goldenBuilder
}

// goldenX is the builder of an op of x alone, without parameters.
func goldenX(f func(*graph.Node) *graph.Node) goldenActivation {
	return goldenActivation{build: func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		return f(in["x"]), nil
	}}
}

// goldenParam returns params[key], failing when it is missing or not a
// number.
func goldenParam(c golden.Case, key string) (float64, error) {
	v, ok := c.Float(key)
	if !ok {
		return 0, fmt.Errorf("params.%s = %v: want a number", key, c.Params[key])
	}
	return v, nil
}

// goldenInput returns the input node called name, failing when the case
// has no such input.
func goldenInput(in map[string]*graph.Node, name string) (*graph.Node, error) {
	if n := in[name]; n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("input %s missing", name)
}

// goldenActivations is the dispatch table of TestGoldenActivations, keyed
// by the golden op name (c.Op): to test an op against
// ../shared/golden/activations.json, add one entry here. Every case is run
// in float64 and float32, forward and backward for every input that has a
// golden gradient; a case whose op has no entry fails.
var goldenActivations = map[string]goldenActivation{
	"relu":      goldenX(nodes.ReLU),
	"selu":      goldenX(nodes.SELU),
	"sigmoid":   goldenX(nodes.Sigmoid),
	"tanh":      goldenX(nodes.Tanh),
	"softplus":  goldenX(nodes.Softplus),
	"gelu":      goldenX(nodes.GELU),
	"gelu_tanh": goldenX(nodes.GELUTanh),
	"silu":      goldenX(nodes.SiLU),
	"leaky_relu": {params: []string{"alpha"}, build: func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		a, err := goldenParam(c, "alpha")
		if err != nil {
			return nil, err
		}
		return nodes.LeakyReLU(in["x"], a), nil
	}},
	"elu": {params: []string{"alpha"}, build: func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		a, err := goldenParam(c, "alpha")
		if err != nil {
			return nil, err
		}
		return nodes.ELU(in["x"], a), nil
	}},
	"softmax": {params: []string{"axis"}, build: func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		if err := goldenLastAxis(c, in["x"]); err != nil {
			return nil, err
		}
		return nodes.Softmax(in["x"]), nil
	}},
	"log_softmax": {params: []string{"axis"}, build: func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		if err := goldenLastAxis(c, in["x"]); err != nil {
			return nil, err
		}
		return nodes.LogSoftmax(in["x"]), nil
	}},
	"rrelu_eval": {params: []string{"lower", "upper"}, build: func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		lo, err := goldenParam(c, "lower")
		if err != nil {
			return nil, err
		}
		hi, err := goldenParam(c, "upper")
		if err != nil {
			return nil, err
		}
		return nodes.RReLU(in["x"], lo, hi, false, 0, nil), nil
	}},
	// The slopes drawn from U(lower, upper) are an input of the case;
	// lower and upper only document where they came from.
	"rrelu_train": {params: []string{"lower", "upper"}, build: func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		s, err := goldenInput(in, "slopes")
		if err != nil {
			return nil, err
		}
		return nodes.LeakyReLUWithSlopes(in["x"], s), nil
	}},
	// variant names the shape of alpha (scalar, per_feature, ...), which
	// the input alpha has; PReLU broadcasts any of them numpy-style.
	"prelu": {params: []string{"variant"}, build: func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		switch v := c.String("variant"); v {
		case "scalar", "per_feature", "channels_shared_hw", "keras_default_full":
		default:
			return nil, fmt.Errorf("params.variant = %q: want scalar, per_feature, channels_shared_hw or keras_default_full", v)
		}
		a, err := goldenInput(in, "alpha")
		if err != nil {
			return nil, err
		}
		return nodes.PReLU(in["x"], a), nil
	}},
}

// goldenLastAxis returns an error unless the case's params.axis (default
// −1) is the last axis of x, the only one Softmax and LogSoftmax work
// along.
func goldenLastAxis(c golden.Case, x *graph.Node) error {
	v, present := c.Params["axis"]
	if !present {
		return nil
	}
	a, ok := v.(float64)
	r := float64(x.Shape().Rank())
	if !ok || (a != -1 && a != r-1) {
		return fmt.Errorf("params.axis = %v: only the last axis (-1 or %v) is supported", v, r-1)
	}
	return nil
}

// TestGoldenActivations runs every case of activations.json through
// goldenActivations, in float64 and float32 (tolerances in golden_test.go):
// forward output y, and with the case's upstream the gradient of every
// input that has a golden gradient (for prelu both x and alpha; slopes, a
// constant, has none). An op without an entry, or a params key its entry
// does not know, fails the case.
func TestGoldenActivations(t *testing.T) {
	f := golden.Load(t, "activations.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			op, ok := goldenActivations[c.Op]
			if !ok {
				known := make([]string, 0, len(goldenActivations))
				for k := range goldenActivations {
					known = append(known, k)
				}
				slices.Sort(known)
				t.Fatalf("unknown op %q in activations.json: add it to goldenActivations (it has %v)", c.Op, known)
			}
			if err := goldenCheckParams(c, op.params...); err != nil {
				t.Fatal(err)
			}
			if c.Upstream == nil {
				t.Fatalf("case %s has no upstream: every activation case has a backward", c.Name)
			}
			if _, ok := c.Outputs["y"]; !ok {
				t.Fatalf("case %s has no output y", c.Name)
			}
			for _, dt := range goldenDTypes {
				t.Run(dt.String(), func(t *testing.T) { goldenRun(t, dt, c, op.build) })
			}
		})
	}
}
