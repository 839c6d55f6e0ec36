package nodes_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
)

// The shared machinery of the golden tests of this package: every test
// loads a file of ../shared/golden, dispatches each case on its op to a
// goldenBuilder and runs it with goldenRun in float64 and float32. A case
// whose op has no builder, or whose params hold a key the builder does
// not read, fails the test: new cases must never be silently skipped.

// goldenBuilder builds the op of a golden case from the case (for its
// params) and its input nodes by name ("x", "alpha", "slopes", ...). It
// returns an error, which fails the case, when the case asks for something
// the builder does not support.
type goldenBuilder func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error)

// goldenCheckParams returns an error naming the first key of c.Params (in
// sorted order) that is not in known, so that a parameter a builder does
// not read fails the case instead of being ignored.
func goldenCheckParams(c golden.Case, known ...string) error {
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown params key %q (= %v) for op %s: the test reads only %v", k, c.Params[k], c.Op, known)
		}
	}
	return nil
}

// Tolerances against the golden values (float64 references from PyTorch,
// checked against NumPy).
//
//   - float64: 1e-10·max(1, |want|), the golden README's bound for single
//     ops (two independent implementations agree to 3e-14).
//   - float32: the golden README's form scaled to float32: 1e-5 relative,
//     the project's float32 bound, with a small absolute floor of 1e-6.
//     The inputs themselves are rounded to float32 (by up to 2.7e-7 for the
//     golden inputs), which a relative bound absorbs, but some results are
//     small differences of terms of order 1: gradients such as
//     y ⊙ (ḡ − Σ ḡy) or ḡ(1 − y²), PReLU's ᾱ (a sum of x·ḡ of both signs
//     over the batch), GELU's and SiLU's derivatives where they cross zero
//     (Φ(x) + x·φ(x) = 0 near x = −0.75). Near such zeros the float32
//     rounding of the terms (ε = 6e-8, a few 1e-7 in all) is all that is
//     left, which no relative bound covers.
const (
	goldenTol64    = 1e-10
	goldenTol32    = 1e-5
	goldenTol32Abs = 1e-6
)

// goldenDTypes are the dtypes every golden case runs in.
var goldenDTypes = []graph.DType{graph.Float64, graph.Float32}

// goldenRun runs one case in one dtype and compares the output (y, or loss
// for loss ops) and, when the case has an upstream, the gradient of every
// input that has a golden gradient. A golden gradient for a name that is
// not an input of the case fails it.
func goldenRun(t *testing.T, dt graph.DType, c golden.Case, build goldenBuilder) {
	t.Helper()
	names := make([]string, 0, len(c.Inputs))
	for k := range c.Inputs {
		names = append(names, k)
	}
	slices.Sort(names)
	ins := make([]testutil.Value, len(names))
	for i, k := range names {
		ins[i] = testutil.Value{Name: k, Shape: c.Inputs[k].Shape, Data: c.Inputs[k].Data}
	}
	for k := range c.Grads {
		if _, ok := c.Inputs[k]; !ok {
			t.Fatalf("case %s has a golden gradient for %q, which is not one of its inputs %v", c.Name, k, names)
		}
	}
	outName := "y"
	if _, ok := c.Outputs[outName]; !ok {
		outName = "loss"
	}
	want, ok := c.Outputs[outName]
	if !ok {
		t.Fatalf("case %s has neither output y nor loss", c.Name)
	}
	var buildErr error
	builder := func(_ *graph.Graph, in []*graph.Node) *graph.Node {
		byName := make(map[string]*graph.Node, len(in))
		for i, n := range in {
			byName[names[i]] = n
		}
		var y *graph.Node
		y, buildErr = build(c, byName)
		return y
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
	if buildErr != nil {
		t.Fatalf("case %s (op %s, params %v): %v", c.Name, c.Op, c.Params, buildErr)
	}
	if err != nil {
		t.Fatalf("case %s (op %s, params %v): %v", c.Name, c.Op, c.Params, err)
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
			if !slices.Equal(grads[i].Shape, wg.Shape) {
				t.Errorf("%s grad %s: shape %v, want %v", c.Op, k, grads[i].Shape, wg.Shape)
			}
			goldenCompare(t, dt, c.Op+" grad "+k, grads[i].Data, wg)
		}
	}
}

// goldenCompare compares got with want at the tolerance of dt (goldenTol64,
// or goldenTol32 with goldenTol32Abs) and reports the first mismatches.
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

// A params key that no builder reads fails the case instead of being
// ignored, in the shared check and in the loss dispatch.
func TestGoldenCheckParams(t *testing.T) {
	c := golden.Case{Op: "mse", Params: map[string]any{"reduction": "mean", "weights": 2.0}}
	err := goldenCheckParams(c, "reduction")
	if err == nil || !strings.Contains(err.Error(), `unknown params key "weights"`) {
		t.Errorf("goldenCheckParams: got %v, want an error naming the key weights", err)
	}
	if err := goldenCheckParams(c, "reduction", "weights"); err != nil {
		t.Errorf("goldenCheckParams with every key known: got %v, want nil", err)
	}
	if _, err := lossGoldenBuild(c, nil); err == nil || !strings.Contains(err.Error(), `"weights"`) {
		t.Errorf("lossGoldenBuild: got %v, want an error naming the key weights", err)
	}
	c = golden.Case{Op: "softmax_v2"}
	if _, err := lossGoldenBuild(c, nil); err == nil || !strings.Contains(err.Error(), `unknown loss op "softmax_v2"`) {
		t.Errorf("lossGoldenBuild: got %v, want an unknown op error", err)
	}
}
