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
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// Multi-output element-wise fusion: an element-wise chain whose result is
// read by a later chain and by something else (an optimizer's new moment,
// read by the parameter's update and by the moment's assignment) merges
// into the later chain, which then writes several outputs in one sweep.

// unfused names every pass that changes how values are computed.
var unfused = []string{"fold-bn", "fuse-bn-act", "fuse-dense-act", "fuse-gemm-update", "fuse-elementwise"}

// multiOptimizers are the optimizers with slots, in their forms.
var multiOptimizers = []struct {
	name string
	opt  train.Optimizer
}{
	{"momentum", train.SGD{LearningRate: 0.05, Momentum: 0.9}},
	{"nesterov", train.SGD{LearningRate: 0.05, Momentum: 0.9, Nesterov: true}},
	{"nesterov_keras", train.SGD{LearningRate: 0.05, Momentum: 0.9, Nesterov: true, Keras: true}},
	{"adagrad", train.Adagrad{LearningRate: 0.1}},
	{"adagrad_torch", train.Adagrad{LearningRate: 0.1, Torch: true, LRDecay: 0.01}},
	{"rmsprop", train.RMSprop{LearningRate: 0.01}},
	{"rmsprop_centered_momentum", train.RMSprop{LearningRate: 0.01, Centered: true, Momentum: 0.9}},
	{"rmsprop_torch_centered_momentum", train.RMSprop{LearningRate: 0.01, Torch: true, Centered: true, Momentum: 0.9}},
	{"adam", train.Adam{LearningRate: 0.01}},
	{"adam_keras_clipnorm", train.Adam{LearningRate: 0.01, Keras: true, Clip: train.Clip{ClipNorm: 0.5}}},
	{"adamw", train.AdamW{LearningRate: 0.01}},
	{"nadam", train.Nadam{LearningRate: 0.01}},
	{"nadam_torch", train.Nadam{LearningRate: 0.01, Torch: true}},
}

// optModel builds a training step of 6-5-tanh-3 (kernels and biases) with
// a mean-squared loss and an optimizer; it returns the graph, the fetches
// (the loss first) and the number of parameters.
func optModel(t *testing.T, dt graph.DType, opt train.Optimizer) (*graph.Graph, []*graph.Node, int) {
	t.Helper()
	g := graph.New(dt)
	x := g.Input("x", graph.Shape{graph.Batch, 6})
	y := g.Input("y", graph.Shape{graph.Batch, 3})
	h := x
	var params []*graph.Node
	for i, units := range []int{5, 3} {
		g.WithScope(fmt.Sprintf("dense_%d", i), func() {
			w := g.Variable("kernel", graph.Shape{h.Shape()[1], units})
			b := g.Variable("bias", graph.Shape{units})
			h = nodes.Add(nodes.MatMul(h, w), b)
			if i == 0 {
				h = nodes.Tanh(h)
			}
			params = append(params, w, b)
		})
	}
	loss := nodes.Mean(nodes.Square(nodes.Sub(h, y)), false)
	grads, err := autodiff.Grad(loss, params...)
	require.NoError(t, err)
	s, inc := train.NewStep(g, opt.InitialRate())
	ups, err := opt.Apply(s, params, grads)
	require.NoError(t, err)
	return g, append(append([]*graph.Node{loss}, ups...), inc...), len(params)
}

// trajectory runs steps training steps of prog from the graph's seeded
// initial values on seeded random batches of 4 and returns the loss of
// each step and every variable at the end, by name.
func trajectory(t *testing.T, g *graph.Graph, prog *vm.Program, steps int) ([]float64, map[string][]float64) {
	t.Helper()
	store := vm.NewStore()
	require.NoError(t, store.Init(g, 7, initializers.RandomUniform{Minval: -0.5, Maxval: 0.5}))
	m := vm.NewMachine(prog, store)
	r := rand.New(rand.NewPCG(3, 4))
	var losses []float64
	for range steps {
		x, y := make([]float64, 4*6), make([]float64, 4*3)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		for i := range y {
			y[i] = r.NormFloat64()
		}
		out, err := m.Run(vm.Feeds{"x": testutil.Tensor(g.DType(), []int{4, 6}, x), "y": testutil.Tensor(g.DType(), []int{4, 3}, y)})
		require.NoError(t, err)
		losses = append(losses, testutil.Float64s(out[0])[0])
	}
	vars := map[string][]float64{}
	for _, v := range g.Variables() {
		d, err := store.Float64s(v.Name())
		require.NoError(t, err)
		vars[v.Name()] = d
	}
	return losses, vars
}

// multiInsts returns the fused element-wise instructions of prog with
// more than one output.
func multiInsts(prog *vm.Program) []vm.Inst {
	var out []vm.Inst
	for _, in := range prog.Insts {
		if _, ok := prog.Kernels[in.Aux].(*nodes.FusedElementwise); ok && in.Op == vm.OpCall && len(in.Dst) > 1 {
			out = append(out, in)
		}
	}
	return out
}

// Every optimizer with slots: each parameter's update is one instruction
// with an output per variable, and the trajectory is bit-identical to the
// program without element-wise fusion (the same ops in the same order on
// each element), and within round-off of the program without any fusion
// (whose dense layers round differently: bias added before or after the
// GEMM's sum).
func TestMultiOutputOptimizers(t *testing.T) {
	const steps = 6
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		for _, tc := range multiOptimizers {
			t.Run(fmt.Sprintf("%s/%v", tc.name, dt), func(t *testing.T) {
				g, fetches, nparams := optModel(t, dt, tc.opt)
				fused, err := compile.Compile(g, fetches, compile.Options{Verify: true})
				require.NoError(t, err)
				noEW, err := compile.Compile(g, fetches, compile.Options{Disable: []string{"fuse-elementwise"}})
				require.NoError(t, err)
				none, err := compile.Compile(g, fetches, compile.Options{Disable: unfused})
				require.NoError(t, err)

				// the updates: multi-output instructions writing variables
				// only (the loss's d = h − y and d² are one too)
				var updates []vm.Inst
				for _, in := range multiInsts(fused) {
					if !slices.ContainsFunc(in.Dst, func(d int32) bool { return fused.Bufs[d].Kind != vm.BufVariable }) {
						updates = append(updates, in)
					}
				}
				require.Len(t, updates, nparams, "one multi-output update per parameter:\n%s", compile.Explain(fused))
				assert.Empty(t, multiInsts(noEW), "multi-output instructions without fuse-elementwise")
				assert.Contains(t, strings.Join(fused.Passes, "\n"), fmt.Sprintf("%d with several outputs", len(multiInsts(fused))))

				lf, vf := trajectory(t, g, fused, steps)
				le, ve := trajectory(t, g, noEW, steps)
				ln, vn := trajectory(t, g, none, steps)
				assert.Equal(t, le, lf, "losses, fused vs element-wise unfused")
				tol := 1e-10
				if dt == graph.Float32 {
					tol = 1e-4
				}
				for i := range lf {
					assert.InDelta(t, ln[i], lf[i], tol*(1+math.Abs(ln[i])), "loss of step %d, fused vs unfused", i+1)
				}
				names := slices.Sorted(func(yield func(string) bool) {
					for n := range vf {
						if !yield(n) {
							return
						}
					}
				})
				for _, n := range names {
					assert.Equal(t, ve[n], vf[n], "%s after %d steps, fused vs element-wise unfused", n, steps)
					for i := range vf[n] {
						if !assert.InDelta(t, vn[n][i], vf[n][i], tol*(1+math.Abs(vn[n][i])), "%s[%d] after %d steps, fused vs unfused", n, i, steps) {
							break
						}
					}
				}
			})
		}
	}
}

// runVars runs prog once on a fresh store holding the given values and
// returns the fetches and the variables named, after the run.
func runVars(t *testing.T, g *graph.Graph, prog *vm.Program, init map[string][]float64, feeds vm.Feeds, names ...string) ([][]float64, [][]float64) {
	t.Helper()
	store := vm.NewStore()
	require.NoError(t, store.Init(g, 1, initializers.Zeros{}))
	for n, v := range init {
		require.NoError(t, store.SetFloat64s(n, graph.Shape{len(v)}, g.DType(), v))
	}
	out, err := vm.NewMachine(prog, store).Run(feeds)
	require.NoError(t, err)
	var fetched, vars [][]float64
	for _, o := range out {
		fetched = append(fetched, testutil.Float64s(o))
	}
	for _, n := range names {
		d, err := store.Float64s(n)
		require.NoError(t, err)
		vars = append(vars, d)
	}
	return fetched, vars
}

// A multi-output update whose later output reads the old value of a
// variable that an earlier output overwrites (w ← w·v + v′ with
// v′ ← v/2 + x): the kernel reads every input of a block before it writes
// an output, so w sees the old v. Sizes cross the kernel's blocks and,
// with more than one thread, its parallel chunks.
func TestMultiOutputReadsOldValue(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		for _, n := range []int{3, 300, 20000} {
			g := graph.New(dt)
			x := g.Input("x", graph.Shape{n})
			v := g.Variable("v", graph.Shape{n})
			w := g.Variable("w", graph.Shape{n})
			v1 := nodes.Add(nodes.Mul(v, g.Scalar(0.5)), x)
			w1 := nodes.Add(nodes.Mul(w, v), nodes.Exp(v1))
			fetches := []*graph.Node{nodes.Assign(v, v1), nodes.Assign(w, w1)}
			fused, err := compile.Compile(g, fetches, compile.Options{Verify: true})
			require.NoError(t, err)
			plain, err := compile.Compile(g, fetches, compile.Options{Disable: []string{"fuse-elementwise"}})
			require.NoError(t, err)
			multi := multiInsts(fused)
			require.Len(t, multi, 1, "%v n=%d:\n%s", dt, n, compile.Explain(fused))
			in := multi[0]
			var dsts []string
			for _, d := range in.Dst {
				dsts = append(dsts, fused.Bufs[d].Name)
			}
			assert.Equal(t, []string{"v", "w"}, dsts, "outputs of %s", fused.InstString(in))
			assert.True(t, slices.ContainsFunc(in.Src, func(s int32) bool { return s == in.Dst[0] }),
				"%s does not read the variable it writes, so the test tests nothing", fused.InstString(in))

			r := rand.New(rand.NewPCG(uint64(n), 9))
			vals := func() []float64 {
				d := make([]float64, n)
				for i := range d {
					d[i] = r.Float64()*2 - 1
				}
				return d
			}
			v0, w0, xs := vals(), vals(), vals()
			if dt == graph.Float32 {
				for _, d := range [][]float64{v0, w0, xs} {
					for i := range d {
						d[i] = float64(float32(d[i]))
					}
				}
			}
			init := map[string][]float64{"v": v0, "w": w0}
			feeds := vm.Feeds{"x": testutil.Tensor(dt, []int{n}, xs)}
			_, got := runVars(t, g, fused, init, feeds, "v", "w")
			_, want := runVars(t, g, plain, init, feeds, "v", "w")
			assert.Equal(t, want, got, "%v n=%d: fused vs element-wise unfused", dt, n)
			tol := 1e-12
			if dt == graph.Float32 {
				tol = 1e-5
			}
			for i := range n {
				nv := v0[i]*0.5 + xs[i]
				nw := w0[i]*v0[i] + math.Exp(nv)
				if !assert.InDelta(t, nv, got[0][i], tol, "%v n=%d: v[%d]", dt, n, i) ||
					!assert.InDelta(t, nw, got[1][i], tol*(1+math.Abs(nw)), "%v n=%d: w[%d] (the old v is %g)", dt, n, i, v0[i]) {
					break
				}
			}
		}
	}
}

// Merging a chain into a later one needs every other reader of its result
// to come after the later chain's root: a reduction of the result that the
// later chain reads is before it (merging would make a cycle), a product
// that reads it after the later chain is fine. Fetched outputs are fine too.
func TestMultiOutputMergeRule(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		t.Run(fmt.Sprintf("reduction_between/%v", dt), func(t *testing.T) {
			g := graph.New(dt)
			x := g.Input("x", graph.Shape{graph.Batch, 8})
			y1 := nodes.Mul(nodes.Exp(x), g.Scalar(2))
			s := nodes.Sum(y1, false)
			z := nodes.Add(nodes.Mul(y1, s), x)
			p, err := compile.Compile(g, []*graph.Node{z}, compile.Options{Verify: true})
			require.NoError(t, err)
			assert.Empty(t, multiInsts(p), "merged across the reduction:\n%s", p)
			assert.Contains(t, p.String(), "fused[exp,mul]")
			assert.Contains(t, p.String(), "fused[mul,add]")
		})
		t.Run(fmt.Sprintf("reader_after/%v", dt), func(t *testing.T) {
			g := graph.New(dt)
			x := g.Input("x", graph.Shape{graph.Batch, 8})
			w := g.Variable("w", graph.Shape{8, 3})
			y1 := nodes.Mul(nodes.Exp(x), g.Scalar(2))
			z := nodes.Add(nodes.Mul(y1, y1), x)
			zz := nodes.Tanh(z) // z's chain ends here: tanh reads z alone
			mm := nodes.MatMul(y1, w)
			p, err := compile.Compile(g, []*graph.Node{zz, mm}, compile.Options{Verify: true})
			require.NoError(t, err)
			multi := multiInsts(p)
			require.Len(t, multi, 1, "%s", p)
			assert.Equal(t, "fused[exp,mul,mul,add,tanh out=1,4]", graph.OpString(p.Kernels[multi[0].Aux]))
		})
		t.Run(fmt.Sprintf("fetched/%v", dt), func(t *testing.T) {
			g := graph.New(dt)
			x := g.Input("x", graph.Shape{graph.Batch, 8})
			y1 := nodes.Mul(nodes.Exp(x), g.Scalar(2))
			z := nodes.Sub(nodes.Mul(y1, x), x)
			p, err := compile.Compile(g, []*graph.Node{z, y1}, compile.Options{Verify: true})
			require.NoError(t, err)
			multi := multiInsts(p)
			require.Len(t, multi, 1, "%s", p)
			assert.Equal(t, []int32{p.Fetches[1], p.Fetches[0]}, multi[0].Dst, "outputs (y1, z) of %s", p.InstString(multi[0]))
		})
	}
}

// assignInPlace's rules, with one instruction per op (fuse-elementwise
// off): a′ = a/2 + x (A), b′ = a′ + b (B), c′ = b + x (C) all assigned. C
// reads b after B would write it, so B may not write b in place; then A
// may not either, since B, now before the moved instructions, reads a′.
// (Checking the first rule after the second, once, left A moved and B
// reading a's old value.) Every variable must end as with plain
// assignments.
func TestAssignInPlaceChain(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		g := graph.New(dt)
		x := g.Input("x", graph.Shape{16})
		a := g.Variable("a", graph.Shape{16})
		b := g.Variable("b", graph.Shape{16})
		c := g.Variable("c", graph.Shape{16})
		a1 := nodes.Add(nodes.Mul(a, g.Scalar(0.5)), x)
		b1 := nodes.Add(a1, b)
		c1 := nodes.Add(b, x)
		fetches := []*graph.Node{nodes.Assign(a, a1), nodes.Assign(b, b1), nodes.Assign(c, c1)}
		prog, err := compile.Compile(g, fetches, compile.Options{Disable: []string{"fuse-elementwise"}})
		require.NoError(t, err)
		r := rand.New(rand.NewPCG(5, 6))
		vals := func() []float64 {
			d := make([]float64, 16)
			for i := range d {
				d[i] = float64(float32(r.NormFloat64()))
			}
			return d
		}
		a0, b0, c0, xs := vals(), vals(), vals(), vals()
		init := map[string][]float64{"a": a0, "b": b0, "c": c0}
		feeds := vm.Feeds{"x": testutil.Tensor(dt, []int{16}, xs)}
		_, got := runVars(t, g, prog, init, feeds, "a", "b", "c")
		round := func(v float64) float64 {
			if dt == graph.Float32 {
				return float64(float32(v))
			}
			return v
		}
		for i := range 16 {
			na := round(round(a0[i]*0.5) + xs[i])
			nb := round(na + b0[i])
			nc := round(b0[i] + xs[i])
			if !assert.Equal(t, []float64{na, nb, nc}, []float64{got[0][i], got[1][i], got[2][i]}, "%v: a, b, c [%d]\n%s", dt, i, compile.Explain(prog)) {
				break
			}
		}
	}
}
