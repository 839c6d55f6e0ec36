package nodes_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// TestSecondOrder checks gradients of gradients: for a loss L(x, …) it
// builds g₁ = ∂L/∂x with autodiff.Grad, then L₂ = Σ g₁ ⊙ v for a fixed
// random v, and lets autodiff.Check compare ∂L₂/∂(x, …) — a Hessian-vector
// product built from the VJP rules applied to their own output — with
// central finite differences of L₂, i.e. of the first derivative. It runs
// in float64 with Check's defaults (h = 1e-6, tolerance 1e-6; the
// differenced quantity g₁ is exact to ~1e-16, so the numeric derivative is
// good to ~1e-10).
func TestSecondOrder(t *testing.T) {
	type inputs map[string]*graph.Node
	cases := []struct {
		name string
		// shapes of the inputs; "x" is differentiated first, the others
		// only in the second pass (mixed partials)
		shapes map[string]graph.Shape
		// draw gives an input's values (nil: uniform on [−2, 2])
		draw func(name string, rng *rand.Rand, n int) []float64
		// loss builds L from the inputs and a random weight node w shaped
		// like the op's output
		loss func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node
	}{
		{name: "tanh", shapes: map[string]graph.Shape{"x": {3, 4}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.Tanh(in["x"]), w(graph.Shape{3, 4}))
			}},
		{name: "sigmoid", shapes: map[string]graph.Shape{"x": {graph.Batch, 5}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.Sigmoid(in["x"]), w(graph.Shape{5}))
			}},
		{name: "exp", shapes: map[string]graph.Shape{"x": {2, 3, 2}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.Exp(in["x"]), w(graph.Shape{2, 3, 2}))
			}},
		{name: "log", shapes: map[string]graph.Shape{"x": {6}},
			draw: func(_ string, rng *rand.Rand, n int) []float64 { return mathRand(rng, n, 0.5, 3, false) },
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.Log(in["x"]), w(graph.Shape{6}))
			}},
		// L = Σ w ⊙ x ⊙ x ⊙ y with y broadcast along the rows: ∂²L/∂x² and
		// the mixed ∂²L/∂x∂y, which goes through SumTo.
		{name: "mul", shapes: map[string]graph.Shape{"x": {3, 4}, "y": {4}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.Mul(nodes.Mul(in["x"], in["x"]), in["y"]), w(graph.Shape{3, 4}))
			}},
		// x·xᵀ is quadratic in x: the second pass differentiates the
		// transposed-product VJPs.
		{name: "matmul_xxT", shapes: map[string]graph.Shape{"x": {3, 4}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.MatMulT(in["x"], in["x"], false, true), w(graph.Shape{3, 3}))
			}},
		// a dense layer with tanh: mixed partials between input and kernel.
		{name: "matmul_dense", shapes: map[string]graph.Shape{"x": {graph.Batch, 4}, "a": {4, 3}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.Tanh(nodes.MatMul(in["x"], in["a"])), w(graph.Shape{1, 3}))
			}},
		{name: "softmax", shapes: map[string]graph.Shape{"x": {3, 5}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.Softmax(in["x"]), w(graph.Shape{3, 5}))
			}},
		{name: "log_softmax", shapes: map[string]graph.Shape{"x": {2, 2, 4}},
			loss: func(in inputs, w func(graph.Shape) *graph.Node) *graph.Node {
				return nodes.Mul(nodes.LogSoftmax(in["x"]), w(graph.Shape{4}))
			}},
	}
	const batch = 3 // the batch size fed for an open leading dimension
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(ci)))
			g := graph.New(graph.Float64)
			in := inputs{}
			feeds := vm.Feeds{}
			wrt := []*graph.Node{}
			names := []string{"x"}
			for k := range tc.shapes {
				if k != "x" {
					names = append(names, k)
				}
			}
			for _, k := range names {
				s := tc.shapes[k]
				in[k] = g.Input(k, s)
				wrt = append(wrt, in[k])
				concrete := s.WithBatch(batch)
				var data []float64
				if tc.draw != nil {
					data = tc.draw(k, rng, concrete.Size())
				} else {
					data = mathRand(rng, concrete.Size(), -2, 2, false)
				}
				feeds[k] = testutil.Tensor(graph.Float64, concrete, data)
			}
			w := func(s graph.Shape) *graph.Node {
				return g.Constant(s, mathRand(rng, s.Size(), -2, 2, false)...)
			}
			loss := nodes.Sum(tc.loss(in, w), false)
			g1, err := autodiff.Grad(loss, in["x"])
			require.NoError(t, err)
			v := g.Input("v", tc.shapes["x"])
			feeds["v"] = testutil.Tensor(graph.Float64, tc.shapes["x"].WithBatch(batch), mathRand(rng, tc.shapes["x"].WithBatch(batch).Size(), -1, 1, false))
			loss2 := nodes.Sum(nodes.Mul(g1[0], v), false)
			rep, err := autodiff.Check(g, loss2, wrt, feeds, nil, autodiff.CheckOptions{})
			require.NoError(t, err, "worst %v", rep.Worst)
			require.Positive(t, rep.Checked)
		})
	}
}
