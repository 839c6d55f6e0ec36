package nodes_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
)

// actGoldenOp builds the op of a golden case from its params and its input
// nodes by name ("x", "alpha", "slopes"). It returns nil, with a reason,
// when the case asks for something it does not support; the case then
// fails.
type actGoldenOp func(c golden.Case, in map[string]*graph.Node) (*graph.Node, string)

// actGoldenOps is the dispatch table of TestGoldenActivationOps, keyed by
// the golden op name. softmax, log_softmax, sigmoid and tanh are covered
// by TestGoldenActivations (golden_test.go); the two tables are to be
// merged.
var actGoldenOps = map[string]actGoldenOp{
	"relu": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) { return nodes.ReLU(in["x"]), "" },
	"leaky_relu": func(c golden.Case, in map[string]*graph.Node) (*graph.Node, string) {
		a, ok := c.Float("alpha")
		if !ok {
			return nil, "params.alpha missing"
		}
		return nodes.LeakyReLU(in["x"], a), ""
	},
	"elu": func(c golden.Case, in map[string]*graph.Node) (*graph.Node, string) {
		a, ok := c.Float("alpha")
		if !ok {
			return nil, "params.alpha missing"
		}
		return nodes.ELU(in["x"], a), ""
	},
	"selu": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) { return nodes.SELU(in["x"]), "" },
	"softplus": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) {
		return nodes.Softplus(in["x"]), ""
	},
	"gelu": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) { return nodes.GELU(in["x"]), "" },
	"gelu_tanh": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) {
		return nodes.GELUTanh(in["x"]), ""
	},
	"silu": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) { return nodes.SiLU(in["x"]), "" },
	"rrelu_eval": func(c golden.Case, in map[string]*graph.Node) (*graph.Node, string) {
		lo, ok1 := c.Float("lower")
		hi, ok2 := c.Float("upper")
		if !ok1 || !ok2 {
			return nil, "params.lower or params.upper missing"
		}
		return nodes.RReLU(in["x"], lo, hi, false, 0, nil), ""
	},
	"rrelu_train": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) {
		if in["slopes"] == nil {
			return nil, "input slopes missing"
		}
		return nodes.LeakyReLUWithSlopes(in["x"], in["slopes"]), ""
	},
	"prelu": func(_ golden.Case, in map[string]*graph.Node) (*graph.Node, string) {
		if in["alpha"] == nil {
			return nil, "input alpha missing"
		}
		return nodes.PReLU(in["x"], in["alpha"]), ""
	},
}

// Tolerances against the golden values (float64 references from PyTorch,
// checked against NumPy).
//
//   - float64: golden.Close with 1e-10, i.e. 1e-10·max(1, |want|), the
//     golden README's bound for single ops.
//   - float32: 1e-5 relative, plus 1e-6 absolute. The inputs are rounded to
//     float32 (relative 6e-8), which a relative bound absorbs, but some
//     results are small differences of larger terms: PReLU's ᾱ sums x·ḡ of
//     both signs over the batch, and GELU's and SiLU's derivatives cross
//     zero (Φ(x) + x·φ(x) = 0 near x = −0.75); near such zeros the float32
//     rounding of terms of order 1 (a few 1e-7) is all that is left.
const (
	actGoldenTol64    = 1e-10
	actGoldenTol32    = 1e-5
	actGoldenTol32Abs = 1e-6
)

// TestGoldenActivationOps runs every case of activations.json whose op is
// in actGoldenOps, in float64 and float32: forward output y, and with the
// case's upstream the gradient of every input that has a golden gradient
// (for prelu both x and alpha; slopes, constants, have none).
func TestGoldenActivationOps(t *testing.T) {
	f := golden.Load(t, "activations.json")
	ran := 0
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			build, ok := actGoldenOps[c.Op]
			if !ok {
				t.Skipf("op %q is covered by TestGoldenActivations", c.Op)
			}
			ran++
			for _, dt := range actDTypes {
				t.Run(dt.String(), func(t *testing.T) { actGoldenRun(t, dt, c, build) })
			}
		})
	}
	require.Positive(t, ran, "no case of activations.json has an op of actGoldenOps")
}

func actGoldenRun(t *testing.T, dt graph.DType, c golden.Case, build actGoldenOp) {
	names := make([]string, 0, len(c.Inputs))
	for k := range c.Inputs {
		names = append(names, k)
	}
	slices.Sort(names)
	ins := make([]testutil.Value, len(names))
	for i, k := range names {
		ins[i] = testutil.Value{Name: k, Shape: c.Inputs[k].Shape, Data: c.Inputs[k].Data}
	}
	want, ok := c.Outputs["y"]
	require.True(t, ok, "case %s has no output y", c.Name)
	require.NotNil(t, c.Upstream, "case %s has no upstream", c.Name)
	var why string
	y, grads, err := testutil.RunVJP(dt, ins, c.Upstream.Data, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
		byName := make(map[string]*graph.Node, len(in))
		for i, n := range in {
			byName[names[i]] = n
		}
		var out *graph.Node
		out, why = build(c, byName)
		return out
	})
	require.Empty(t, why, "%s (params %v)", c.Op, c.Params)
	require.NoError(t, err, "%s (params %v)", c.Op, c.Params)
	require.Equal(t, want.Shape, y.Shape, "%s: output shape", c.Op)
	actGoldenCompare(t, dt, c.Op+" y", y.Data, want)
	checked := 0
	for i, k := range names {
		if wg, ok := c.Grads[k]; ok {
			actGoldenCompare(t, dt, c.Op+" grad "+k, grads[i].Data, wg)
			checked++
		}
	}
	require.Equal(t, len(c.Grads), checked, "%s: golden gradients for inputs the case does not have", c.Op)
}

func actGoldenCompare(t *testing.T, dt graph.DType, what string, got []float64, want golden.Tensor) {
	t.Helper()
	if dt == graph.Float64 {
		golden.Compare(t, what, got, want, actGoldenTol64)
		return
	}
	require.Len(t, got, len(want.Data), "%s (shape %v)", what, want.Shape)
	bad := 0
	for i := range got {
		if !golden.CloseRel(got[i], want.Data[i], actGoldenTol32, actGoldenTol32Abs) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.9g, want %.9g (f32 tol %g rel + %g abs)", what, i, got[i], want.Data[i], actGoldenTol32, actGoldenTol32Abs)
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d mismatches in all", what, bad)
	}
}
