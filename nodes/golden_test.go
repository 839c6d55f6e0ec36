package nodes_test

import (
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
)

// goldenBuilder builds the op of a golden case from the case (for its
// params) and its input nodes by name ("x", "alpha", "slopes", ...). It
// returns nil when the case asks for something the builder does not
// support; the case then fails.
type goldenBuilder func(c golden.Case, in map[string]*graph.Node) *graph.Node

// goldenActivations is the dispatch table of TestGoldenActivations, keyed
// by the golden op name (c.Op). To test an op against
// ../shared/golden/activations.json, add one entry here: every case of that
// op is then run in float64 and float32, forward and, where the case has an
// upstream, backward for every input with a golden gradient. Cases of ops
// without an entry are skipped, not failed.
var goldenActivations = map[string]goldenBuilder{
	"sigmoid": func(_ golden.Case, in map[string]*graph.Node) *graph.Node { return nodes.Sigmoid(in["x"]) },
	"tanh":    func(_ golden.Case, in map[string]*graph.Node) *graph.Node { return nodes.Tanh(in["x"]) },
	"softmax": func(c golden.Case, in map[string]*graph.Node) *graph.Node {
		if !goldenLastAxis(c, in["x"]) {
			return nil
		}
		return nodes.Softmax(in["x"])
	},
	"log_softmax": func(c golden.Case, in map[string]*graph.Node) *graph.Node {
		if !goldenLastAxis(c, in["x"]) {
			return nil
		}
		return nodes.LogSoftmax(in["x"])
	},
}

// goldenLastAxis reports whether the case's params.axis (default −1) is
// the last axis of x, the only one Softmax and LogSoftmax work along.
func goldenLastAxis(c golden.Case, x *graph.Node) bool {
	a, ok := c.Float("axis")
	if !ok {
		_, present := c.Params["axis"]
		return !present
	}
	r := float64(x.Shape().Rank())
	return a == -1 || a == r-1
}

// Tolerances against the golden values (float64 references from PyTorch).
//
//   - float64: 1e-10·max(1, |want|), the golden README's bound for single
//     ops (two independent implementations agree to 3e-14).
//   - float32: 1e-5 relative, the project's float32 bound, plus 1e-6
//     absolute: the inputs themselves are rounded to float32 (by up to
//     2.7e-7 for the golden inputs), and gradients such as y ⊙ (ḡ − Σ ḡy)
//     or ḡ(1 − y²) cancel terms of order 1 in float32 (ε = 6e-8), so a
//     value near 0 carries an absolute error of a few 1e-7 that no
//     relative bound covers.
const (
	goldenTol64    = 1e-10
	goldenTol32    = 1e-5
	goldenTol32Abs = 1e-6
)

func TestGoldenActivations(t *testing.T) {
	f := golden.Load(t, "activations.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			build, ok := goldenActivations[c.Op]
			if !ok {
				t.Skipf("op %q not implemented yet", c.Op)
			}
			for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
				t.Run(dt.String(), func(t *testing.T) { goldenRun(t, dt, c, build) })
			}
		})
	}
}

// goldenRun runs one case in one dtype and compares the output and the
// golden gradients.
func goldenRun(t *testing.T, dt graph.DType, c golden.Case, build goldenBuilder) {
	names := make([]string, 0, len(c.Inputs))
	for k := range c.Inputs {
		names = append(names, k)
	}
	slices.Sort(names)
	ins := make([]testutil.Value, len(names))
	for i, k := range names {
		ins[i] = testutil.Value{Name: k, Shape: c.Inputs[k].Shape, Data: c.Inputs[k].Data}
	}
	outName := "y"
	if _, ok := c.Outputs[outName]; !ok {
		outName = "loss"
	}
	want, ok := c.Outputs[outName]
	if !ok {
		t.Fatalf("case %s has neither output y nor loss", c.Name)
	}
	builder := func(_ *graph.Graph, in []*graph.Node) *graph.Node {
		byName := make(map[string]*graph.Node, len(in))
		for i, n := range in {
			byName[names[i]] = n
		}
		return build(c, byName)
	}

	var y testutil.Value
	var grads []testutil.Value
	var err error
	if c.Upstream == nil {
		var outs []testutil.Value
		outs, err = testutil.Run(dt, ins, func(g *graph.Graph, in []*graph.Node) []*graph.Node {
			return []*graph.Node{builder(g, in)}
		})
		if err == nil {
			y = outs[0]
		}
	} else {
		y, grads, err = testutil.RunVJP(dt, ins, c.Upstream.Data, builder)
	}
	if err != nil {
		t.Fatalf("%s (params %v): %v", c.Op, c.Params, err)
	}
	if !slices.Equal(y.Shape, want.Shape) {
		t.Errorf("%s: output shape %v, want %v", c.Op, y.Shape, want.Shape)
	}
	goldenCompare(t, dt, c.Op+" "+outName, y.Data, want)
	if c.Upstream == nil {
		return
	}
	for i, k := range names {
		if wg, ok := c.Grads[k]; ok {
			goldenCompare(t, dt, c.Op+" grad "+k, grads[i].Data, wg)
		}
	}
}

func goldenCompare(t *testing.T, dt graph.DType, what string, got []float64, want golden.Tensor) {
	t.Helper()
	if dt == graph.Float64 {
		golden.Compare(t, what, got, want, goldenTol64)
		return
	}
	if len(got) != len(want.Data) {
		t.Errorf("%s: got %d values, want %d (shape %v)", what, len(got), len(want.Data), want.Shape)
		return
	}
	bad := 0
	for i := range got {
		if !golden.CloseRel(got[i], want.Data[i], goldenTol32, goldenTol32Abs) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.9g, want %.9g (f32 tol %g rel + %g abs)", what, i, got[i], want.Data[i], goldenTol32, goldenTol32Abs)
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d mismatches in all", what, bad)
	}
}
