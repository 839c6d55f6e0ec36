package compile_test

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// only returns Options that run the named passes and disable the others.
func only(names ...string) compile.Options {
	var off []string
	for _, p := range compile.Passes {
		if !slices.Contains(names, p.Name) {
			off = append(off, p.Name)
		}
	}
	return compile.Options{Disable: off}
}

// ops lists a program's instructions by op name, in order.
func ops(p *vm.Program) []string {
	var out []string
	for _, in := range p.Insts {
		if in.Op == vm.OpCall {
			out = append(out, graph.OpString(p.Kernels[in.Aux]))
		} else {
			out = append(out, in.Op.String())
		}
	}
	return out
}

// Each pass alone, on a small graph: the instructions before (no pass) and
// after (that pass only).
func TestEachPassAlone(t *testing.T) {
	tests := []struct {
		pass          string
		build         func(g *graph.Graph) []*graph.Node
		before, after []string
	}{
		{
			pass: "prune",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				nodes.Exp(x) // not fetched
				return []*graph.Node{nodes.Neg(x)}
			},
			before: []string{"exp", "neg"}, after: []string{"neg"},
		},
		{
			pass: "cse",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				return []*graph.Node{nodes.Add(nodes.Exp(x), nodes.Exp(x))}
			},
			before: []string{"exp", "exp", "add"}, after: []string{"exp", "add"},
		},
		{
			pass: "fold-constants",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				c := nodes.Mul(g.Scalar(2), nodes.Sqrt(g.Scalar(9)))
				return []*graph.Node{nodes.Mul(x, c)}
			},
			before: []string{"sqrt", "mul", "mul"}, after: []string{"mul"},
		},
		{
			pass: "simplify",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				y := nodes.Neg(nodes.Neg(nodes.Mul(nodes.Add(nodes.Exp(x), g.Scalar(0)), g.Scalar(1))))
				return []*graph.Node{nodes.StopGradient(y)}
			},
			before: []string{"exp", "add", "mul", "neg", "neg", "stop_gradient"}, after: []string{"exp"},
		},
		{
			pass: "fuse-dense-act",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				w := g.Variable("w", graph.Shape{3, 2})
				b := g.Variable("b", graph.Shape{2})
				return []*graph.Node{nodes.ReLU(nodes.Add(nodes.MatMul(x, w), b))}
			},
			before: []string{"matmul", "add", "relu"}, after: []string{"dense[bias act=relu]"},
		},
		{
			pass: "fuse-elementwise",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				return []*graph.Node{nodes.Tanh(nodes.Mul(nodes.Exp(x), g.Scalar(3)))}
			},
			before: []string{"exp", "mul", "tanh"}, after: []string{"fused[exp,mul,tanh]"},
		},
		{
			pass: "fuse-gemm-update",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				dy := g.Input("dy", graph.Shape{graph.Batch, 2})
				w := g.Variable("w", graph.Shape{3, 2})
				return []*graph.Node{nodes.Assign(w, nodes.Sub(w, nodes.Mul(g.Scalar(0.1), nodes.MatMulT(x, dy, true, false))))}
			},
			before: []string{"matmul[Aᵀ]", "mul", "sub", "assign"}, after: []string{"gemm_update[Aᵀ]", "assign"},
		},
		{
			pass: "fuse-bn-act",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				gamma, beta := g.Variable("gamma", graph.Shape{3}), g.Variable("beta", graph.Shape{3})
				return []*graph.Node{nodes.ELU(nodes.BatchNormTrain(x, gamma, beta, nodes.BNOptions{}), 1)}
			},
			before: []string{"batch_norm_train[axis=1 eps=0.001]", "elu[alpha=1]"},
			after:  []string{"batch_norm_act[batch_norm_train[axis=1 eps=0.001] act=elu[alpha=1]]"},
		},
		{
			pass: "fold-bn",
			build: func(g *graph.Graph) []*graph.Node {
				x := g.Input("x", graph.Shape{graph.Batch, 3})
				w := g.Variable("w", graph.Shape{3, 2})
				v := func(n string) *graph.Node { return g.Variable(n, graph.Shape{2}) }
				return []*graph.Node{nodes.BatchNormInfer(nodes.MatMul(x, w), v("gamma"), v("beta"), v("mean"), v("var"), 1e-3)}
			},
			before: []string{"matmul", "batch_norm_infer[axis=1 eps=0.001]"},
			after:  []string{"add", "sqrt", "reciprocal", "mul", "mul", "neg", "mul", "add", "matmul", "add"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.pass, func(t *testing.T) {
			for i, opts := range []compile.Options{only(), only(tc.pass)} {
				g := graph.New(graph.Float64)
				fetches := tc.build(g)
				p, err := compile.Compile(g, fetches, opts)
				require.NoError(t, err)
				want := tc.before
				if i == 1 {
					want = tc.after
				}
				assert.Equal(t, want, ops(p), "%s\n%s", map[int]string{0: "before", 1: "after"}[i], p)
			}
		})
	}
}

// Folding an inference BatchNorm into the dense layer before it gives the
// golden bn_fold_dense results (folded kernel, bias and output), and the
// folded and unfolded programs agree within 1e-12 in float64.
func TestGoldenBNFoldDense(t *testing.T) {
	f := golden.Load(t, "dense.json")
	n := 0
	for _, c := range f.Cases {
		if c.Op != "bn_fold_dense" {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			eps, ok := c.Float("eps")
			require.True(t, ok)
			in := c.Inputs
			inputs, units := in["W"].Shape[0], in["W"].Shape[1]
			build := func() (*graph.Graph, *graph.Node, *vm.Store) {
				g := graph.New(graph.Float64)
				x := g.Input("x", graph.Shape{graph.Batch, inputs})
				st := vm.NewStore()
				v := func(name string) *graph.Node {
					require.NoError(t, st.SetFloat64s(name, in[name].Shape, graph.Float64, in[name].Data))
					return g.Variable(name, in[name].Shape)
				}
				h := nodes.Add(nodes.MatMul(x, v("W")), v("b"))
				return g, nodes.BatchNormInfer(h, v("gamma"), v("beta"), v("moving_mean"), v("moving_var"), eps), st
			}
			run := func(opts compile.Options, x []float64, rows int) []float64 {
				g, y, st := build()
				p, err := compile.Compile(g, []*graph.Node{y}, opts)
				require.NoError(t, err)
				if !slices.Contains(opts.Disable, "fold-bn") {
					require.NotContains(t, ops(p), "batch_norm_infer[axis=1 eps=0.001]", "not folded")
				}
				res, err := vm.NewMachine(p, st).Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{rows, inputs}, x)})
				require.NoError(t, err)
				return testutil.Float64s(res[0])
			}
			folded := run(compile.Options{}, in["x"].Data, in["x"].Shape[0])
			plain := run(compile.Options{Disable: []string{"fold-bn"}}, in["x"].Data, in["x"].Shape[0])
			golden.Compare(t, "y_folded", folded, c.Outputs["y_folded"], 1e-10)
			golden.Compare(t, "y", plain, c.Outputs["y"], 1e-10)
			for i := range folded {
				assert.InDelta(t, plain[i], folded[i], 1e-12*math.Max(1, math.Abs(plain[i])), "folded vs unfolded [%d]", i)
			}
			// the folded kernel and bias, read through the program: a zero
			// row gives b', a unit row e_k gives W'[k] + b'
			eye := make([]float64, (inputs+1)*inputs)
			for k := 0; k < inputs; k++ {
				eye[(k+1)*inputs+k] = 1
			}
			out := run(compile.Options{}, eye, inputs+1)
			golden.Compare(t, "b_folded", out[:units], c.Outputs["b_folded"], 1e-10)
			wf := make([]float64, inputs*units)
			for k := 0; k < inputs; k++ {
				for j := 0; j < units; j++ {
					wf[k*units+j] = out[(k+1)*units+j] - out[j]
				}
			}
			golden.Compare(t, "W_folded", wf, c.Outputs["W_folded"], 1e-10)
		})
	}
	require.NotZero(t, n, "no bn_fold_dense cases")
}

// An SGD update is computed straight into the weights (no temporary, no
// assignment copy), after everything that could fail: a step whose loss
// kernel fails (a label out of range) leaves every variable as it was.
func TestAssignInPlace(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 4})
	y := g.Input("y", graph.Shape{graph.Batch})
	w := g.Variable("w", graph.Shape{4, 3})
	loss := nodes.SoftmaxCrossEntropySparse(nodes.MatMul(x, w), y)
	gw, err := autodiff.Grad(loss, w)
	require.NoError(t, err)
	upd := nodes.Assign(w, nodes.Sub(w, nodes.Mul(g.Scalar(0.5), gw[0])))
	p, err := compile.Compile(g, []*graph.Node{loss, upd}, compile.Options{Verify: true})
	require.NoError(t, err)
	for _, in := range p.Insts {
		assert.NotEqual(t, vm.OpAssign, in.Op, "the update still goes through a copy:\n%s", p)
	}
	last := p.Insts[len(p.Insts)-1]
	assert.Equal(t, "w", p.Bufs[last.Dst[0]].Name, "the update is not the last instruction:\n%s", p)

	st := vm.NewStore()
	w0 := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	require.NoError(t, st.SetFloat64s("w", graph.Shape{4, 3}, graph.Float32, w0))
	m := vm.NewMachine(p, st)
	xs := testutil.Tensor(graph.Float32, []int{2, 4}, []float64{1, 0, 0, 0, 0, 1, 0, 0})
	_, err = m.Run(vm.Feeds{"x": xs, "y": testutil.Tensor(graph.Float32, []int{2}, []float64{1, 7})})
	require.Error(t, err, "label 7 of 3 classes")
	got, _ := st.Float64s("w")
	assert.Equal(t, w0, got, "a failed step changed the weights")
	_, err = m.Run(vm.Feeds{"x": xs, "y": testutil.Tensor(graph.Float32, []int{2}, []float64{1, 2})})
	require.NoError(t, err)
	got, _ = st.Float64s("w")
	assert.NotEqual(t, w0, got, "a good step did not update the weights")
}
