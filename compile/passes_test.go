package compile_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
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

// plan-memory alone, on a small graph, as Explain prints it: without it
// the reshape is a copy, the product of w and 2 runs every time, and every
// buffer has its own block (the arena is the sum of the aligned sizes);
// with it the reshape is a view, exp and neg run in place over the matmul's
// block, and w·2 is hoisted. (The view has no block of its own: 6 blocks
// without reuse.)
func TestPlanMemoryText(t *testing.T) {
	build := func() (*graph.Graph, []*graph.Node) {
		g := graph.New(graph.Float32)
		x := g.Input("x", graph.Shape{graph.Batch, 4})
		w := g.Variable("w", graph.Shape{4, 2})
		h := nodes.MatMul(x, nodes.Mul(w, g.Scalar(2)))
		return g, []*graph.Node{nodes.Neg(nodes.Exp(nodes.Reshape(h, graph.Shape{graph.Batch, 2, 1})))}
	}
	disabled := ""
	for _, p := range compile.Passes[:len(compile.Passes)-1] {
		disabled += "  " + p.Name + ": disabled\n"
	}
	want := map[bool]string{
		false: `program f32: 5 instructions
inputs:
  %0 x : f32[B,4] @buf0
variables:
  %1 w : f32[4,2]
constants:
  %2 2 : f32[] @buf1
instructions:
  %3 = mul %1 %2 : f32[4,2] @buf2   ; mul
  %4 = matmul %0 %3 : f32[B,2] @buf3   ; matmul
  %5 = reshape[shape=[-1,2,1]] %4 : f32[B,2,1] @buf4   ; reshape
  %6 = exp %5 : f32[B,2,1] @buf5   ; exp
  %7 = neg %6 : f32[B,2,1] @buf6   ; neg
fetch %7
passes:
` + disabled + `  plan-memory: disabled
memory (batch 4): buffers 7 → 7, 448 B → 448 B; variables 32 B in the store
`,
		true: `program f32: 4 instructions
inputs:
  %0 x : f32[B,4] @buf0
variables:
  %1 w : f32[4,2]
constants:
  %2 2 : f32[] @buf1
hoisted (run when the variables change):
  %3 = mul %1 %2 : f32[4,2] @buf2   ; mul
instructions:
  %4 = matmul %0 %3 : f32[B,2] @buf3   ; matmul
  %6 = exp %5 : f32[B,2,1] @buf3 (in place)   ; exp
  %7 = neg %6 : f32[B,2,1] @buf3 (in place)   ; neg
  %5 = view %4 : f32[B,2,1] @buf3   ; reshape
fetch %7
passes:
` + disabled + `  plan-memory: buffers reused by liveness; 1 views, 3 in-place candidates, 1 hoisted
memory (batch 4): buffers 7 → 4, 384 B → 256 B; variables 32 B in the store
`,
	}
	for _, on := range []bool{false, true} {
		opts := only()
		if on {
			opts = only("plan-memory")
		}
		g, fetches := build()
		p, err := compile.Compile(g, fetches, opts)
		require.NoError(t, err)
		assert.Equal(t, want[on], compile.ExplainBatch(p, 4), "plan-memory on: %v", on)
	}
}

// CSE merges only values that are the same op with the same attributes on
// the same arguments: leaky_relu with α 0.1 and 0.2, sums over different
// axes, softmax and log-softmax stay apart; the duplicates merge.
func TestCSEKeepsDifferentAttributes(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	fetches := []*graph.Node{
		nodes.LeakyReLU(x, 0.1), nodes.LeakyReLU(x, 0.2), nodes.LeakyReLU(x, 0.1),
		nodes.Sum(x, false, 0), nodes.Sum(x, false, 1), nodes.Sum(x, false, 0),
		nodes.Sum(x, true, 1), nodes.Softmax(x), nodes.LogSoftmax(x),
	}
	for i, opts := range []compile.Options{only(), only("cse")} {
		p, err := compile.Compile(g, fetches, opts)
		require.NoError(t, err)
		want := []string{
			"leaky_relu[alpha=0.1]", "leaky_relu[alpha=0.2]", "leaky_relu[alpha=0.1]",
			"sum[axes=0]", "sum[axes=1]", "sum[axes=0]", "sum[axes=1 keepdims]", "softmax", "log_softmax",
		}
		if i == 1 {
			want = slices.Delete(want, 5, 6) // the second sum over axis 0
			want = slices.Delete(want, 2, 3) // the second α = 0.1
		}
		assert.Equal(t, want, ops(p), "cse on: %v\n%s", i == 1, p)
		// the merged duplicates are fetched from the first ones' buffers
		if i == 1 {
			assert.Equal(t, p.Fetches[0], p.Fetches[2], "leaky_relu α=0.1 twice")
			assert.Equal(t, p.Fetches[3], p.Fetches[5], "sum over axis 0 twice")
			assert.NotEqual(t, p.Fetches[0], p.Fetches[1], "α 0.1 and 0.2 merged")
			assert.NotEqual(t, p.Fetches[3], p.Fetches[4], "axes 0 and 1 merged")
		}
	}
}

// fuse-dense-act fuses a producer only where no other reader needs what
// fusion would hide: a matmul that is also fetched, or also read by
// another op, keeps its bias add apart (the fused op would hold only the
// sum); a pre-activation read by another op (as an activation's gradient
// reads it) is kept as a second output of the fused op, computed once,
// never recomputed.
func TestFuseDenseActSingleConsumer(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *graph.Graph, x, w, b *graph.Node) []*graph.Node
		want  []string
	}{
		{"matmul fetched", func(_ *graph.Graph, x, w, b *graph.Node) []*graph.Node {
			mm := nodes.MatMul(x, w)
			return []*graph.Node{nodes.ReLU(nodes.Add(mm, b)), mm}
		}, []string{"matmul", "add", "relu"}},
		{"matmul read twice", func(_ *graph.Graph, x, w, b *graph.Node) []*graph.Node {
			mm := nodes.MatMul(x, w)
			return []*graph.Node{nodes.ReLU(nodes.Add(mm, b)), nodes.Sum(mm, false, 1)}
		}, []string{"matmul", "add", "relu", "sum[axes=1]"}},
		{"bias sum fetched", func(_ *graph.Graph, x, w, b *graph.Node) []*graph.Node {
			z := nodes.Add(nodes.MatMul(x, w), b)
			return []*graph.Node{nodes.ReLU(z), z}
		}, []string{"dense[bias act=relu keep_z]"}},
		{"pre-activation read twice", func(_ *graph.Graph, x, w, b *graph.Node) []*graph.Node {
			z := nodes.Add(nodes.MatMul(x, w), b)
			return []*graph.Node{nodes.ReLU(z), nodes.Neg(z)}
		}, []string{"dense[bias act=relu keep_z]", "neg"}},
		{"single reader", func(_ *graph.Graph, x, w, b *graph.Node) []*graph.Node {
			return []*graph.Node{nodes.ReLU(nodes.Add(nodes.MatMul(x, w), b))}
		}, []string{"dense[bias act=relu]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{graph.Batch, 3})
			w, b := g.Variable("w", graph.Shape{3, 2}), g.Variable("b", graph.Shape{2})
			fetches := tc.build(g, x, w, b)
			opts := only("fuse-dense-act")
			opts.Verify = true
			p, err := compile.Compile(g, fetches, opts)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ops(p), "%s", p)
			gemms := 0
			for _, op := range ops(p) {
				if strings.HasPrefix(op, "matmul") || strings.HasPrefix(op, "dense") {
					gemms++
				}
			}
			assert.Equal(t, 1, gemms, "the product is computed once")
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

// A BatchNorm folded into the dense layer before it, with or without a
// bias, with Keras's ε (1e-3) or PyTorch's (1e-5), followed by nothing or
// by an activation fused with the folded layer, gives the unfolded
// program's outputs within 1e-12 (relative, float64) on random inputs and
// variables, at several batch sizes. (PyTorch's momentum convention only
// changes the training update of the moving statistics, which an inference
// program does not run.)
func TestBNFoldMatchesUnfolded(t *testing.T) {
	const inputs, units = 9, 5
	for _, bias := range []bool{false, true} {
		for _, eps := range []float64{1e-3, 1e-5} {
			for _, act := range []string{"", "elu"} {
				name := fmt.Sprintf("bias=%v eps=%g act=%q", bias, eps, act)
				rng := rand.New(rand.NewPCG(7, uint64(eps*1e6)))
				st := vm.NewStore()
				g := graph.New(graph.Float64)
				x := g.Input("x", graph.Shape{graph.Batch, inputs})
				v := func(n string, shape graph.Shape, gen func() float64) *graph.Node {
					vals := make([]float64, shape.Size())
					for i := range vals {
						vals[i] = gen()
					}
					require.NoError(t, st.SetFloat64s(n, shape, graph.Float64, vals))
					return g.Variable(n, shape)
				}
				normal := func(mu, sd float64) func() float64 { return func() float64 { return mu + sd*rng.NormFloat64() } }
				h := nodes.MatMul(x, v("w", graph.Shape{inputs, units}, normal(0, 0.5)))
				if bias {
					h = nodes.Add(h, v("b", graph.Shape{units}, normal(0, 1)))
				}
				// small variances make ε matter: s = γ/sqrt(v+ε) differs
				// between the conventions in the third digit
				variance := v("var", graph.Shape{units}, func() float64 { return 1e-3 * math.Exp(4*rng.Float64()) })
				y := nodes.BatchNormInfer(h, v("gamma", graph.Shape{units}, normal(1, 0.5)), v("beta", graph.Shape{units}, normal(0, 1)),
					v("mean", graph.Shape{units}, normal(0, 1)), variance, eps)
				if act != "" {
					y = nodes.Activation(act, y)
				}
				require.NoError(t, g.Err())
				folded, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
				require.NoError(t, err, name)
				plain, err := compile.Compile(g, []*graph.Node{y}, compile.Options{Disable: []string{"fold-bn"}})
				require.NoError(t, err, name)
				n := kernelCounts(folded)
				require.Zero(t, n["batch_norm_infer"], "%s: not folded:\n%s", name, folded)
				require.Equal(t, 1, kernelCounts(plain)["batch_norm_infer"], "%s: folded without fold-bn:\n%s", name, plain)
				mf, mp := vm.NewMachine(folded, st), vm.NewMachine(plain, st)
				for _, rows := range []int{1, 7, 32} {
					xs := make([]float64, rows*inputs)
					for i := range xs {
						xs[i] = 2 * rng.NormFloat64()
					}
					feeds := vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{rows, inputs}, xs)}
					got, err := mf.Run(feeds)
					require.NoError(t, err)
					want, err := mp.Run(feeds)
					require.NoError(t, err)
					a, b := testutil.Float64s(got[0]), testutil.Float64s(want[0])
					require.Len(t, a, rows*units)
					for i := range b {
						if d := math.Abs(a[i] - b[i]); !(d <= 1e-12*math.Max(1, math.Abs(b[i]))) {
							t.Errorf("%s, batch %d, element %d: folded %v, unfolded %v (difference %.3g)", name, rows, i, a[i], b[i], d)
						}
					}
				}
			}
		}
	}
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
