package compile

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// passByName returns the pass of Passes with that name.
func passByName(t *testing.T, name string) Pass {
	t.Helper()
	i := slices.IndexFunc(Passes, func(p Pass) bool { return p.Name == name })
	require.GreaterOrEqual(t, i, 0, "no pass %q", name)
	return Passes[i]
}

// text trims the common indentation of a raw string literal: the
// expected Func texts below are indented like the code.
func text(s string) string {
	lines := strings.Split(strings.TrimPrefix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// Each pass alone, on a small graph: the Func before it (straight from the
// graph, or after the passes it cleans up after) and after it, as text.
func TestEachPassText(t *testing.T) {
	tests := []struct {
		pass          string
		setup         []string // passes run before "before"
		build         func(g *graph.Graph) []*graph.Node
		summary       string
		before, after string
	}{
		{
			pass: "prune",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				nodes.Exp(x) // not fetched
				return []*graph.Node{nodes.Neg(x)}
			},
			summary: "values 3 → 2",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = exp v0 : f64[B,3]  ; exp
				v2 = neg v0 : f64[B,3]  ; neg
				fetch v2
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v2 = neg v0 : f64[B,3]  ; neg
				fetch v2
				`,
		},
		{
			pass: "cse",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				return []*graph.Node{nodes.Add(nodes.Exp(x), nodes.Exp(x))}
			},
			summary: "values 4 → 3",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = exp v0 : f64[B,3]  ; exp
				v2 = exp v0 : f64[B,3]  ; exp_1
				v3 = add v1 v2 : f64[B,3]  ; add
				fetch v3
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v1 = exp v0 : f64[B,3]  ; exp
				v3 = add v1 v1 : f64[B,3]  ; add
				fetch v3
				`,
		},
		{
			pass: "fold-constants",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				c := nodes.Mul(g.Scalar(2), nodes.Sqrt(g.Scalar(9)))
				return []*graph.Node{nodes.Mul(x, c)}
			},
			summary: "2 folded",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = constant 2 : f64[]  ; constant
				v2 = constant 9 : f64[]  ; constant_1
				v3 = sqrt v2 : f64[]  ; sqrt
				v4 = mul v1 v3 : f64[]  ; mul
				v5 = mul v0 v4 : f64[B,3]  ; mul_1
				fetch v5
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v1 = constant 2 : f64[]  ; constant
				v2 = constant 9 : f64[]  ; constant_1
				v3 = constant 3 : f64[]  ; sqrt
				v4 = constant 6 : f64[]  ; mul
				v5 = mul v0 v4 : f64[B,3]  ; mul_1
				fetch v5
				`,
		},
		{
			pass: "simplify",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				y := nodes.Neg(nodes.Neg(nodes.Mul(nodes.Add(nodes.Exp(x), g.Scalar(0)), g.Scalar(1))))
				return []*graph.Node{nodes.StopGradient(y)}
			},
			summary: "4 rewrites",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = exp v0 : f64[B,3]  ; exp
				v2 = constant 0 : f64[]  ; constant
				v3 = add v1 v2 : f64[B,3]  ; add
				v4 = constant 1 : f64[]  ; constant_1
				v5 = mul v3 v4 : f64[B,3]  ; mul
				v6 = neg v5 : f64[B,3]  ; neg
				v7 = neg v6 : f64[B,3]  ; neg_1
				v8 = stop_gradient v7 : f64[B,3]  ; stop_gradient
				fetch v8
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v1 = exp v0 : f64[B,3]  ; exp
				fetch v1
				`,
		},
		{
			// after fold-constants, the constants it folded are dead
			pass:  "prune-dead",
			setup: []string{"fold-constants"},
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				return []*graph.Node{nodes.Mul(x, nodes.Sqrt(g.Scalar(9)))}
			},
			summary: "values 4 → 3",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = constant 9 : f64[]  ; constant
				v2 = constant 3 : f64[]  ; sqrt
				v3 = mul v0 v2 : f64[B,3]  ; mul
				fetch v3
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v2 = constant 3 : f64[]  ; sqrt
				v3 = mul v0 v2 : f64[B,3]  ; mul
				fetch v3
				`,
		},
		{
			pass: "fold-bn",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				w := g.Variable("w", graph.Shape{3, 2})
				v := func(n string) *graph.Node { return g.Variable(n, graph.Shape{2}) }
				return []*graph.Node{nodes.BatchNormInfer(nodes.MatMul(x, w), v("gamma"), v("beta"), v("mean"), v("var"), 1e-3)}
			},
			summary: "1 folded",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = variable : f64[3,2]  ; w
				v2 = matmul v0 v1 : f64[B,2]  ; matmul
				v3 = variable : f64[2]  ; gamma
				v4 = variable : f64[2]  ; beta
				v5 = variable : f64[2]  ; mean
				v6 = variable : f64[2]  ; var
				v7 = batch_norm_infer[axis=1 eps=0.001] v2 v3 v4 v5 v6 : f64[B,2]  ; batch_norm_infer
				fetch v7
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v1 = variable : f64[3,2]  ; w
				v3 = variable : f64[2]  ; gamma
				v4 = variable : f64[2]  ; beta
				v5 = variable : f64[2]  ; mean
				v6 = variable : f64[2]  ; var
				v8 = constant 0.001 : f64[]  ; batch_norm_infer/folded/constant
				v9 = add v6 v8 : f64[2]  ; batch_norm_infer/folded/add
				v10 = sqrt v9 : f64[2]  ; batch_norm_infer/folded/sqrt
				v11 = reciprocal v10 : f64[2]  ; batch_norm_infer/folded/reciprocal
				v12 = mul v3 v11 : f64[2]  ; batch_norm_infer/folded/mul
				v13 = mul v1 v12 : f64[3,2]  ; batch_norm_infer/folded/mul_1
				v14 = neg v5 : f64[2]  ; batch_norm_infer/folded/neg
				v15 = mul v14 v12 : f64[2]  ; batch_norm_infer/folded/mul_2
				v16 = add v15 v4 : f64[2]  ; batch_norm_infer/folded/add_1
				v17 = matmul v0 v13 : f64[B,2]  ; batch_norm_infer/folded/matmul
				v18 = add v17 v16 : f64[B,2]  ; batch_norm_infer
				fetch v18
				`,
		},
		{
			// forward and backward: ELU after BatchNormTrain, and the
			// gradients of both (VJPs of the two ops, by hand)
			pass: "fuse-bn-act",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				gy := g.Input("gy", graph.Shape{graph.Batch, 3})
				gamma, beta := g.Variable("gamma", graph.Shape{3}), g.Variable("beta", graph.Shape{3})
				bn := nodes.BatchNormTrain(x, gamma, beta, nodes.BNOptions{})
				y := nodes.ELU(bn, 1)
				gz := y.Op().(graph.Differentiable).VJP(y, gy)[0]
				gx := bn.Op().(graph.Differentiable).VJP(bn, gz)
				return append([]*graph.Node{y}, gx...)
			},
			summary: "1 forward, 1 backward fused",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = input : f64[B,3]  ; gy
				v2 = variable : f64[3]  ; gamma
				v3 = variable : f64[3]  ; beta
				v4 = batch_norm_train[axis=1 eps=0.001] v0 v2 v3 : f64[B,3]  ; batch_norm_train
				v5 = elu[alpha=1] v4 : f64[B,3]  ; elu
				v6 = elu_grad[alpha=1 of_y] v5 v1 : f64[B,3]  ; elu_grad
				v7 = output[1] v4 : f64[3]  ; batch_norm_train:1
				v8 = output[3] v4 : f64[3]  ; batch_norm_train:3
				v9 = batch_norm_grad[axis=1] v0 v2 v6 v7 v8 : f64[B,3]  ; batch_norm_grad
				v10 = output[1] v9 : f64[3]  ; batch_norm_grad:1
				v11 = output[2] v9 : f64[3]  ; batch_norm_grad:2
				fetch v5 v9 v10 v11
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v1 = input : f64[B,3]  ; gy
				v2 = variable : f64[3]  ; gamma
				v3 = variable : f64[3]  ; beta
				v12 = batch_norm_act[batch_norm_train[axis=1 eps=0.001] act=elu[alpha=1]] v0 v2 v3 : f64[B,3]  ; elu
				v7 = output[1] v12 : f64[3]  ; batch_norm_train:1
				v8 = output[3] v12 : f64[3]  ; batch_norm_train:3
				v13 = batch_norm_act_grad[act=elu_grad[alpha=1 of_y]] v0 v2 v12 v1 v7 v8 : f64[B,3]  ; batch_norm_grad
				v10 = output[1] v13 : f64[3]  ; batch_norm_grad:1
				v11 = output[2] v13 : f64[3]  ; batch_norm_grad:2
				fetch v12 v13 v10 v11
				`,
		},
		{
			pass: "fuse-dense-act",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				w := g.Variable("w", graph.Shape{3, 2})
				b := g.Variable("b", graph.Shape{2})
				return []*graph.Node{nodes.ReLU(nodes.Add(nodes.MatMul(x, w), b))}
			},
			summary: "1 fused",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = variable : f64[3,2]  ; w
				v2 = variable : f64[2]  ; b
				v3 = matmul v0 v1 : f64[B,2]  ; matmul
				v4 = add v3 v2 : f64[B,2]  ; add
				v5 = relu v4 : f64[B,2]  ; relu
				fetch v5
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v1 = variable : f64[3,2]  ; w
				v2 = variable : f64[2]  ; b
				v6 = dense[bias act=relu] v0 v1 v2 : f64[B,2]  ; relu
				fetch v6
				`,
		},
		{
			pass: "fuse-gemm-update",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				dy := g.Input("dy", graph.Shape{graph.Batch, 2})
				w := g.Variable("w", graph.Shape{3, 2})
				return []*graph.Node{nodes.Assign(w, nodes.Sub(w, nodes.Mul(g.Scalar(0.1), nodes.MatMulT(x, dy, true, false))))}
			},
			summary: "1 fused",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = input : f64[B,2]  ; dy
				v2 = variable : f64[3,2]  ; w
				v3 = constant 0.1 : f64[]  ; constant
				v4 = matmul[Aᵀ] v0 v1 : f64[3,2]  ; matmul
				v5 = mul v3 v4 : f64[3,2]  ; mul
				v6 = sub v2 v5 : f64[3,2]  ; sub
				v7 = assign v2 v6 : f64[3,2]  ; assign
				fetch v7
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v1 = input : f64[B,2]  ; dy
				v2 = variable : f64[3,2]  ; w
				v3 = constant 0.1 : f64[]  ; constant
				v8 = gemm_update[Aᵀ] v0 v1 v3 v2 : f64[3,2]  ; sub
				v7 = assign v2 v8 : f64[3,2]  ; assign
				fetch v7
				`,
		},
		{
			pass: "fuse-elementwise",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				return []*graph.Node{nodes.Tanh(nodes.Mul(nodes.Exp(x), g.Scalar(3)))}
			},
			summary: "1 chains fused",
			before: `
				v0 = input : f64[B,3]  ; x
				v1 = exp v0 : f64[B,3]  ; exp
				v2 = constant 3 : f64[]  ; constant
				v3 = mul v1 v2 : f64[B,3]  ; mul
				v4 = tanh v3 : f64[B,3]  ; tanh
				fetch v4
				`,
			after: `
				v0 = input : f64[B,3]  ; x
				v2 = constant 3 : f64[]  ; constant
				v5 = fused[exp,mul,tanh] v0 v2 : f64[B,3]  ; tanh
				fetch v5
				`,
		},
	}
	// every pass but plan-memory, which changes lowering, not the Func
	// (TestPlanMemoryText)
	var tested []string
	for _, tc := range tests {
		tested = append(tested, tc.pass)
	}
	for _, p := range Passes {
		if p.Name != "plan-memory" {
			assert.Contains(t, tested, p.Name, "pass %s has no text test", p.Name)
		}
	}
	for _, tc := range tests {
		t.Run(tc.pass, func(t *testing.T) {
			g := graph.New(graph.Float64)
			fetches := tc.build(g)
			require.NoError(t, g.Err())
			f := fromGraph(g, fetches)
			for _, s := range tc.setup {
				_, err := passByName(t, s).Run(f)
				require.NoError(t, err, s)
			}
			before := f.String()
			summary, err := passByName(t, tc.pass).Run(f)
			require.NoError(t, err)
			after := f.String()
			assert.Equal(t, tc.summary, summary, "%s's summary", tc.pass)
			assert.Equal(t, text(tc.before), before, "before %s", tc.pass)
			assert.Equal(t, text(tc.after), after, "after %s", tc.pass)
		})
	}
}
