package nodes_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
)

// Tolerances of the dense golden cases. float64: the golden README's 1e-10
// relative (two independent implementations agree to 3e-14). float32: the
// project's 1e-5, applied as 1e-5·max(1, |want|): every value is a sum of at
// most 8 products of inputs below 3.4 in magnitude, whose float32 error
// bound (k+2)·2⁻²⁴·Σ|terms| is about 1e-5 in the worst case and ~1e-7 in
// practice.
const (
	coreGoldenTol64 = 1e-10
	coreGoldenTol32 = 1e-5
)

// goldenDenseElsewhere lists the ops of dense.json that TestGoldenDense
// does not run, each with the test that does. It is the only exception:
// any other op without a case in TestGoldenDense fails.
var goldenDenseElsewhere = map[string]string{
	// folding an inference BatchNorm into the kernel is a compiler pass
	"bn_fold_dense": "compile.TestGoldenBNFoldDense (compile/passes_test.go)",
}

// TestGoldenDense runs every case of dense.json: y = x·W + b ("dense"),
// then an activation ("dense_act", with the pre-activation z compared too),
// forward and gradients for x, W and b with the case's upstream. The ops of
// goldenDenseElsewhere are skipped, naming the test that runs them; any
// other unknown op, activation or params key fails.
func TestGoldenDense(t *testing.T) {
	f := golden.Load(t, "dense.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if layout := c.String("kernel_layout"); layout != "" && layout != "[in,out]" {
				t.Fatalf("kernel_layout %q: want [in,out]", layout)
			}
			switch c.Op {
			case "dense":
				if err := goldenCheckParams(c, "kernel_layout"); err != nil {
					t.Fatal(err)
				}
				coreGoldenDense(t, c, nil)
			case "dense_act":
				if err := goldenCheckParams(c, "kernel_layout", "activation", "alpha"); err != nil {
					t.Fatal(err)
				}
				act, err := coreGoldenActivation(c)
				if err != nil {
					t.Fatalf("case %s: activation: %v", c.Name, err)
				}
				coreGoldenDense(t, c, act)
			default:
				if where, ok := goldenDenseElsewhere[c.Op]; ok {
					t.Skipf("%s is tested by %s", c.Op, where)
				}
				t.Fatalf("unknown op %q in dense.json: add a case to TestGoldenDense or an entry to goldenDenseElsewhere", c.Op)
			}
		})
	}
}

// coreGoldenActivation returns the builder for the case's activation, with
// its alpha when the case gives one.
func coreGoldenActivation(c golden.Case) (func(*graph.Node) *graph.Node, error) {
	name := c.String("activation")
	if alpha, ok := c.Float("alpha"); ok {
		switch name {
		case "leaky_relu":
			return func(x *graph.Node) *graph.Node { return nodes.LeakyReLU(x, alpha) }, nil
		case "elu":
			return func(x *graph.Node) *graph.Node { return nodes.ELU(x, alpha) }, nil
		}
		return nil, fmt.Errorf("no builder for %q with alpha %v", name, alpha)
	}
	return nodes.LookupActivation(name)
}

// coreGoldenDense checks one case in both dtypes: z = x·W + b against
// outputs z (or y for plain dense cases, act nil), then y = act(z) (z
// itself with act nil) and the gradients through it.
func coreGoldenDense(t *testing.T, c golden.Case, act func(*graph.Node) *graph.Node) {
	t.Helper()
	var ins []testutil.Value
	for _, name := range []string{"x", "W", "b"} {
		in, ok := c.Inputs[name]
		require.True(t, ok, "case %s has no input %q", c.Name, name)
		ins = append(ins, testutil.Value{Name: name, Shape: in.Shape, Data: in.Data})
	}
	want := c.Outputs["y"]
	z, hasZ := c.Outputs["z"]
	if c.Op == "dense" {
		z, hasZ = want, true
	}
	dense := func(in []*graph.Node) *graph.Node { return nodes.Add(nodes.MatMul(in[0], in[1]), in[2]) }
	for _, dt := range coreDTypes {
		tol := coreGoldenTol64
		if dt == graph.Float32 {
			tol = coreGoldenTol32
		}
		label := func(what string) string { return fmt.Sprintf("%s %s %s", c.Name, dt, what) }
		// forward: z and, with an activation, y
		out, err := testutil.Run(dt, ins, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
			zn := dense(in)
			if act == nil {
				return []*graph.Node{zn}
			}
			return []*graph.Node{zn, act(zn)}
		})
		require.NoError(t, err)
		if hasZ {
			require.Equal(t, z.Shape, out[0].Shape, label("z shape"))
			golden.Compare(t, label("z"), out[0].Data, z, tol)
		}
		// gradients with the case's upstream
		require.NotNil(t, c.Upstream, "case %s has no upstream", c.Name)
		y, grads, err := testutil.RunVJP(dt, ins, c.Upstream.Data, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
			if act == nil {
				return dense(in)
			}
			return act(dense(in))
		})
		require.NoError(t, err)
		require.Equal(t, want.Shape, y.Shape, label("y shape"))
		golden.Compare(t, label("y"), y.Data, want, tol)
		for i, g := range grads {
			wg, ok := c.Grads[ins[i].Name]
			require.True(t, ok, "case %s has no gradient for %s", c.Name, ins[i].Name)
			require.Equal(t, wg.Shape, g.Shape, label("grad "+ins[i].Name+" shape"))
			golden.Compare(t, label("grad "+ins[i].Name), g.Data, wg, tol)
		}
	}
}
