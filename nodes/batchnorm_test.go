package nodes_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// bnRand draws n values uniform on [lo, hi).
func bnRand(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

// bnReference computes SEMANTICS §4 and §4.1 directly, one channel at a
// time, in float64: the forward pass, the batch statistics, and the
// closed-form VJP for upstream gy. It is the test's own implementation,
// written from the formulas, for the axes the golden file does not cover.
type bnReference struct {
	y, mean, variance, gx, gGamma, gBeta []float64
}

func bnReferenceOf(shape []int, axis int, x, gamma, beta, gy []float64, eps float64) bnReference {
	c := shape[axis]
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	channel := func(i int) int { return (i / inner) % c }
	r := bnReference{y: make([]float64, len(x)), gx: make([]float64, len(x)),
		mean: make([]float64, c), variance: make([]float64, c), gGamma: make([]float64, c), gBeta: make([]float64, c)}
	count := make([]float64, c)
	for i, v := range x {
		r.mean[channel(i)] += v
		count[channel(i)]++
	}
	for k := range r.mean {
		r.mean[k] /= count[k]
	}
	for i, v := range x {
		d := v - r.mean[channel(i)]
		r.variance[channel(i)] += d * d
	}
	xhat := make([]float64, len(x))
	for k := range r.variance {
		r.variance[k] /= count[k]
	}
	for i, v := range x {
		k := channel(i)
		xhat[i] = (v - r.mean[k]) / math.Sqrt(r.variance[k]+eps)
		r.y[i] = gamma[k]*xhat[i] + beta[k]
		r.gBeta[k] += gy[i]
		r.gGamma[k] += gy[i] * xhat[i]
	}
	for i := range x {
		k := channel(i)
		m := count[k]
		r.gx[i] = gamma[k] / math.Sqrt(r.variance[k]+eps) * (gy[i] - r.gBeta[k]/m - xhat[i]*r.gGamma[k]/m)
	}
	return r
}

// bnBuild is a training BN graph with inputs x, gamma, beta and upstream
// gradient up, fetching y, the statistics and the three gradients.
type bnBuild struct {
	g                  *graph.Graph
	x, gamma, beta, up *graph.Node
	y                  *graph.Node
	stats              nodes.BNStats
	gx, gGamma, gBeta  *graph.Node
	fetches            []*graph.Node
}

func newBNBuild(t testing.TB, dt graph.DType, xShape graph.Shape, c int, opts nodes.BNOptions) *bnBuild {
	t.Helper()
	b := &bnBuild{g: graph.New(dt)}
	g := b.g
	b.x = g.Input("x", xShape)
	b.gamma = g.Input("gamma", graph.Shape{c})
	b.beta = g.Input("beta", graph.Shape{c})
	b.up = g.Input("up", xShape)
	b.y = nodes.BatchNormTrain(b.x, b.gamma, b.beta, opts)
	b.stats = nodes.BatchNormStats(b.y)
	// Σ y ⊙ up has the gradient VJP(up) for every input
	loss := nodes.Sum(nodes.Mul(b.y, b.up), false)
	grads, err := autodiff.Grad(loss, b.x, b.gamma, b.beta)
	require.NoError(t, err)
	b.gx, b.gGamma, b.gBeta = grads[0], grads[1], grads[2]
	b.fetches = []*graph.Node{b.y, b.stats.Mean, b.stats.Variance, b.gx, b.gGamma, b.gBeta}
	return b
}

func (b *bnBuild) machine(t testing.TB) *vm.Machine {
	t.Helper()
	p, err := compile.Compile(b.g, b.fetches, compile.Options{})
	require.NoError(t, err)
	return vm.NewMachine(p, vm.NewStore())
}

func bnFeeds(dt graph.DType, shape []int, x, gamma, beta, up []float64) vm.Feeds {
	c := []int{len(gamma)}
	return vm.Feeds{
		"x": testutil.Tensor(dt, shape, x), "gamma": testutil.Tensor(dt, c, gamma),
		"beta": testutil.Tensor(dt, c, beta), "up": testutil.Tensor(dt, shape, up),
	}
}

// bnClose compares float64 results to 1e-12·max(1, |want|): the kernel and
// the reference evaluate the same formulas in float64 and differ only in
// summation order over at most a few hundred terms of order 10, which
// leaves ~1e-14. For float32 the kernel rounds its inputs' consumers
// (outputs, saved statistics) to float32: 1e-5 relative plus 1e-5 absolute
// (the outputs are of order 1–10 and x̄ cancels terms of that size).
func bnClose(dt graph.DType, got, want float64) bool {
	if dt == graph.Float64 {
		return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want))
	}
	return math.Abs(got-want) <= 1e-5*math.Abs(want)+1e-5
}

func bnExpect(t *testing.T, dt graph.DType, what string, got, want []float64) {
	t.Helper()
	require.Len(t, got, len(want), what)
	bad := 0
	for i := range got {
		if !bnClose(dt, got[i], want[i]) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.15g, want %.15g", what, i, got[i], want[i])
			}
			bad++
		}
	}
}

// The op against the reference for channel axes the golden file does not
// cover (it is channels-last only): channels-first images, a middle axis,
// rank 3, and an open batch.
func TestBatchNormTrainAxes(t *testing.T) {
	tests := []struct {
		name  string
		decl  graph.Shape // declared input shape
		shape []int       // fed shape
		opts  nodes.BNOptions
		axis  int // the channel axis opts stands for
	}{
		{"rank2_last", graph.Shape{6, 5}, []int{6, 5}, nodes.BNOptions{}, 1},
		{"rank2_open_batch", graph.Shape{graph.Batch, 5}, []int{7, 5}, nodes.BNOptions{Epsilon: 1e-5}, 1},
		{"rank4_last", graph.Shape{2, 3, 4, 5}, []int{2, 3, 4, 5}, nodes.BNOptions{Axis: -1}, 3},
		{"rank4_channels_first", graph.Shape{graph.Batch, 3, 4, 5}, []int{2, 3, 4, 5}, nodes.BNOptions{Axis: 1}, 1},
		{"rank4_axis2", graph.Shape{2, 3, 4, 5}, []int{2, 3, 4, 5}, nodes.BNOptions{Axis: 2}, 2},
		{"rank4_axis_minus3", graph.Shape{2, 3, 4, 5}, []int{2, 3, 4, 5}, nodes.BNOptions{Axis: -3}, 1},
		{"rank3_axis1", graph.Shape{4, 3, 6}, []int{4, 3, 6}, nodes.BNOptions{Axis: 1, Unbiased: true}, 1},
	}
	for ti, tc := range tests {
		for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, uint64(ti)))
				c := tc.shape[tc.axis]
				n := graph.Shape(tc.shape).Size()
				x := bnRand(rng, n, -3, 5)
				gamma, beta := bnRand(rng, c, 0.5, 2), bnRand(rng, c, -1, 1)
				up := bnRand(rng, n, -1, 1)
				b := newBNBuild(t, dt, tc.decl, c, tc.opts)
				require.NoError(t, b.g.Err())
				out, err := b.machine(t).Run(bnFeeds(dt, tc.shape, x, gamma, beta, up))
				require.NoError(t, err)
				eps := tc.opts.Epsilon
				if eps == 0 {
					eps = 1e-3
				}
				want := bnReferenceOf(tc.shape, tc.axis, x, gamma, beta, up, eps)
				for i, w := range [][]float64{want.y, want.mean, want.variance, want.gx, want.gGamma, want.gBeta} {
					bnExpect(t, dt, "BatchNormTrain "+b.fetches[i].Name(), testutil.Float64s(out[i]), w)
				}
			})
		}
	}
}

// The closed-form VJP against central finite differences (autodiff.Check,
// float64, its default h = 1e-6 and tolerance 1e-6), for x, γ and β, for
// rank 2 and rank 4 and channel axes other than the last.
func TestBatchNormTrainGradCheck(t *testing.T) {
	tests := []struct {
		name  string
		decl  graph.Shape
		shape []int
		opts  nodes.BNOptions
		c     int
	}{
		{"rank2", graph.Shape{5, 4}, []int{5, 4}, nodes.BNOptions{}, 4},
		{"rank2_open_batch_pytorch", graph.Shape{graph.Batch, 3}, []int{6, 3}, nodes.BNOptions{Epsilon: 1e-5, Unbiased: true}, 3},
		{"rank4_last", graph.Shape{2, 3, 3, 4}, []int{2, 3, 3, 4}, nodes.BNOptions{}, 4},
		{"rank4_axis1", graph.Shape{2, 3, 2, 2}, []int{2, 3, 2, 2}, nodes.BNOptions{Axis: 1}, 3},
		{"rank4_axis2", graph.Shape{graph.Batch, 2, 3, 2}, []int{2, 2, 3, 2}, nodes.BNOptions{Axis: 2}, 3},
		{"rank3_axis1", graph.Shape{3, 2, 4}, []int{3, 2, 4}, nodes.BNOptions{Axis: 1}, 2},
	}
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(ti)))
			g := graph.New(graph.Float64)
			x := g.Input("x", tc.decl)
			gamma := g.Input("gamma", graph.Shape{tc.c})
			beta := g.Input("beta", graph.Shape{tc.c})
			n := graph.Shape(tc.shape).Size()
			// a random weighting: Σ BN(x) alone has a zero x-gradient
			w := g.Constant(tc.decl.WithBatch(tc.shape[0]), bnRand(rng, n, -2, 2)...)
			if tc.decl.IsOpen() {
				w = g.Input("w", tc.decl)
			}
			y := nodes.BatchNormTrain(x, gamma, beta, tc.opts)
			loss := nodes.Sum(nodes.Mul(nodes.Tanh(y), w), false)
			feeds := vm.Feeds{
				"x":     testutil.Tensor(graph.Float64, tc.shape, bnRand(rng, n, -2, 3)),
				"gamma": testutil.Tensor(graph.Float64, []int{tc.c}, bnRand(rng, tc.c, 0.5, 1.5)),
				"beta":  testutil.Tensor(graph.Float64, []int{tc.c}, bnRand(rng, tc.c, -0.5, 0.5)),
			}
			if tc.decl.IsOpen() {
				feeds["w"] = testutil.Tensor(graph.Float64, tc.shape, bnRand(rng, n, -2, 2))
			}
			rep, err := autodiff.Check(g, loss, []*graph.Node{x, gamma, beta}, feeds, nil, autodiff.CheckOptions{})
			require.NoError(t, err, "BatchNormTrain gradient check: worst %v", rep.Worst)
			assert.Equal(t, n+2*tc.c, rep.Checked)
		})
	}
}

// The inference op's VJP, for every input, the moving statistics
// included, against finite differences; and its second order (its VJP is
// made of graph ops), as TestSecondOrder does: L₂ = Σ (∂L/∂x) ⊙ v.
func TestBatchNormInferGradCheck(t *testing.T) {
	tests := []struct {
		name  string
		shape graph.Shape
		opts  nodes.BNOptions
		c     int
	}{
		{"rank2", graph.Shape{4, 3}, nodes.BNOptions{}, 3},
		{"rank4_last", graph.Shape{2, 2, 2, 3}, nodes.BNOptions{Epsilon: 1e-5}, 3},
		{"rank4_axis1", graph.Shape{2, 3, 2, 2}, nodes.BNOptions{Axis: 1}, 3},
	}
	for ti, tc := range tests {
		for _, second := range []bool{false, true} {
			name := tc.name
			if second {
				name += "/second_order"
			}
			t.Run(name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(9, uint64(ti)))
				g := graph.New(graph.Float64)
				ch := graph.Shape{tc.c}
				x := g.Input("x", tc.shape)
				in := []*graph.Node{x, g.Input("gamma", ch), g.Input("beta", ch), g.Input("mean", ch), g.Input("var", ch)}
				w := g.Constant(tc.shape, bnRand(rng, tc.shape.Size(), -2, 2)...)
				y := nodes.BatchNormInferWith(in[0], in[1], in[2], in[3], in[4], tc.opts)
				loss := nodes.Sum(nodes.Mul(nodes.Tanh(y), w), false)
				if second {
					g1, err := autodiff.Grad(loss, x)
					require.NoError(t, err)
					v := g.Constant(tc.shape, bnRand(rng, tc.shape.Size(), -1, 1)...)
					loss = nodes.Sum(nodes.Mul(g1[0], v), false)
				}
				feeds := vm.Feeds{
					"x":     testutil.Tensor(graph.Float64, tc.shape, bnRand(rng, tc.shape.Size(), -2, 3)),
					"gamma": testutil.Tensor(graph.Float64, ch, bnRand(rng, tc.c, 0.5, 1.5)),
					"beta":  testutil.Tensor(graph.Float64, ch, bnRand(rng, tc.c, -0.5, 0.5)),
					"mean":  testutil.Tensor(graph.Float64, ch, bnRand(rng, tc.c, -0.5, 0.5)),
					"var":   testutil.Tensor(graph.Float64, ch, bnRand(rng, tc.c, 0.5, 2)),
				}
				rep, err := autodiff.Check(g, loss, in, feeds, nil, autodiff.CheckOptions{})
				require.NoError(t, err, "BatchNormInfer gradient check: worst %v", rep.Worst)
				assert.Equal(t, tc.shape.Size()+4*tc.c, rep.Checked)
			})
		}
	}
}

// SEMANTICS §4.1: per channel Σ x̄ = 0, so a bias before BN gets no
// gradient. The companion Σ x̄·x̂ = 0 holds only for ε = 0: with ε,
// Σ x̂² = m·σ²/(σ²+ε), and the closed form gives
// Σ x̄·x̂ = γ/sqrt(σ²+ε) · γ̄ · ε/(σ²+ε), which is what is checked. The
// output has mean β and variance γ²·σ²/(σ²+ε) per channel.
func TestBatchNormTrainProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 0))
	const n, c, eps = 50, 7, 1e-3
	shape := []int{n, c}
	x := bnRand(rng, n*c, -4, 9)
	gamma, beta := bnRand(rng, c, 0.5, 3), bnRand(rng, c, -2, 2)
	up := bnRand(rng, n*c, -1, 1)
	b := newBNBuild(t, graph.Float64, graph.Shape{n, c}, c, nodes.BNOptions{Epsilon: eps})
	out, err := b.machine(t).Run(bnFeeds(graph.Float64, shape, x, gamma, beta, up))
	require.NoError(t, err)
	y, mean, variance, gx, gg := testutil.Float64s(out[0]), testutil.Float64s(out[1]), testutil.Float64s(out[2]), testutil.Float64s(out[3]), testutil.Float64s(out[4])
	for k := 0; k < c; k++ {
		var sgx, sgxh, sy, sy2 float64
		for i := 0; i < n; i++ {
			xh := (x[i*c+k] - mean[k]) / math.Sqrt(variance[k]+eps)
			sgx += gx[i*c+k]
			sgxh += gx[i*c+k] * xh
			sy += y[i*c+k]
		}
		my := sy / n
		for i := 0; i < n; i++ {
			d := y[i*c+k] - my
			sy2 += d * d
		}
		// sums of 50 terms of order 1–10 in float64: 1e-12 absolute
		assert.InDelta(t, 0, sgx, 1e-12, "channel %d: Σ x̄", k)
		assert.InDelta(t, gamma[k]/math.Sqrt(variance[k]+eps)*gg[k]*eps/(variance[k]+eps), sgxh, 1e-12, "channel %d: Σ x̄·x̂", k)
		assert.InDelta(t, beta[k], my, 1e-12, "channel %d: mean of y", k)
		assert.InDelta(t, gamma[k]*gamma[k]*variance[k]/(variance[k]+eps), sy2/n, 1e-12, "channel %d: variance of y", k)
	}
}

// Edge cases of SEMANTICS §4.4: a constant channel, one value per channel.
func TestBatchNormTrainEdgeCases(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		// channel 1 is the constant 1.75 (exact in binary, so μ = 1.75 and
		// x − μ = 0 exactly), channel 2 the constant 0.1 (inexact: x − μ
		// is a rounding error, amplified by 1/sqrt(ε) ≈ 32 only)
		t.Run("constant_channel/"+dt.String(), func(t *testing.T) {
			const n, c = 5, 3
			x := []float64{0.3, 1.75, 0.1, -1.2, 1.75, 0.1, 2.5, 1.75, 0.1, 0.7, 1.75, 0.1, -0.4, 1.75, 0.1}
			gamma, beta := []float64{1.5, 2, 0.5}, []float64{0.1, -0.3, 0.7}
			up := []float64{0.2, -1, 0.5, 0.4, 0.3, -0.2, -0.9, 0.6, 0.1, 0.25, -0.15, 0.3, 0.05, 0.8, -0.6}
			b := newBNBuild(t, dt, graph.Shape{n, c}, c, nodes.BNOptions{})
			out, err := b.machine(t).Run(bnFeeds(dt, []int{n, c}, x, gamma, beta, up))
			require.NoError(t, err)
			for i, o := range out {
				for j, v := range testutil.Float64s(o) {
					assert.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s[%d] = %v", b.fetches[i].Name(), j, v)
				}
			}
			y, variance, gx, gg, gb := testutil.Float64s(out[0]), testutil.Float64s(out[2]), testutil.Float64s(out[3]), testutil.Float64s(out[4]), testutil.Float64s(out[5])
			assert.Equal(t, 0.0, variance[1], "variance of a constant channel")
			// §4.4: x̂ = 0, y = β, γ̄ = 0, β̄ = Σḡ, x̄ = γ/sqrt(ε)·(ḡ − mean ḡ)
			var sum float64
			for i := 0; i < n; i++ {
				sum += up[i*c+1]
			}
			for i := 0; i < n; i++ {
				assert.Equal(t, float64(float32Or(dt, beta[1])), y[i*c+1], "y of the constant channel, row %d", i)
				assert.True(t, bnClose(dt, gx[i*c+1], gamma[1]/math.Sqrt(1e-3)*(up[i*c+1]-sum/n)), "x̄ row %d = %v", i, gx[i*c+1])
				// 0.1: |x − μ| ≤ 1.4e-17 (float64) or 7.5e-9 (float32, the
				// rounding of a sum of five float32 0.1s in float64 is
				// exact, but be generous), times 1/sqrt(ε)·γ = 16
				assert.InDelta(t, beta[2], y[i*c+2], 2e-7, "y of channel 2, row %d", i)
			}
			assert.Equal(t, 0.0, gg[1], "γ̄ of the constant channel")
			assert.True(t, bnClose(dt, gb[1], sum), "β̄ = %v, want %v", gb[1], sum)
		})

		// Keras computes m = 1: σ² = 0, x̂ = 0, y = β, x̄ = 0, γ̄ = 0, β̄ = ḡ.
		for _, shape := range [][]int{{1, 4}, {1, 1, 1, 4}} {
			t.Run("one_value_keras/"+graph.Shape(shape).String()+"/"+dt.String(), func(t *testing.T) {
				x, gamma, beta, up := []float64{0.3, -2, 7.5, 1}, []float64{1, 2, 3, 0.5}, []float64{0.5, -1, 0.25, 2}, []float64{1, -0.5, 2, 0.125}
				decl := append(graph.Shape{graph.Batch}, shape[1:]...)
				b := newBNBuild(t, dt, decl, 4, nodes.BNOptions{})
				out, err := b.machine(t).Run(bnFeeds(dt, shape, x, gamma, beta, up))
				require.NoError(t, err)
				assert.Equal(t, beta, testutil.Float64s(out[0]), "y")
				assert.Equal(t, float64sOf(dt, x), testutil.Float64s(out[1]), "mean")
				assert.Equal(t, []float64{0, 0, 0, 0}, testutil.Float64s(out[2]), "variance")
				assert.Equal(t, []float64{0, 0, 0, 0}, testutil.Float64s(out[3]), "x̄")
				assert.Equal(t, []float64{0, 0, 0, 0}, testutil.Float64s(out[4]), "γ̄")
				assert.Equal(t, up, testutil.Float64s(out[5]), "β̄")
			})
		}
	}
}

// float32Or rounds v to float32 when dt is Float32.
func float32Or(dt graph.DType, v float64) float64 {
	if dt == graph.Float32 {
		return float64(float32(v))
	}
	return v
}

// float64sOf is v as fed in dt: rounded to float32 for Float32.
func float64sOf(dt graph.DType, v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float32Or(dt, x)
	}
	return out
}

// Builder and shape-rule errors: recorded on the graph with the right kind
// and a message that says what is wrong; nothing panics.
func TestBatchNormErrors(t *testing.T) {
	in := func(g *graph.Graph, name string, s ...int) *graph.Node { return g.Input(name, s) }
	train := func(xs graph.Shape, gs, bs []int, opts nodes.BNOptions) func(g *graph.Graph) *graph.Node {
		return func(g *graph.Graph) *graph.Node {
			return nodes.BatchNormTrain(g.Input("x", xs), in(g, "gamma", gs...), in(g, "beta", bs...), opts)
		}
	}
	infer := func(xs graph.Shape, c, mv int, opts nodes.BNOptions) func(g *graph.Graph) *graph.Node {
		return func(g *graph.Graph) *graph.Node {
			return nodes.BatchNormInferWith(g.Input("x", xs), in(g, "gamma", c), in(g, "beta", c), in(g, "mean", c), in(g, "var", mv), opts)
		}
	}
	open := graph.Batch
	tests := []struct {
		name  string
		build func(g *graph.Graph) *graph.Node
		kind  error  // nil: no error
		want  string // part of the message
	}{
		{"gamma shape", train(graph.Shape{open, 4}, []int{3}, []int{4}, nodes.BNOptions{}), graph.ErrShape, "gamma has shape [3], want [4]: one value per channel (axis 1 of input [B,4])"},
		{"beta rank", train(graph.Shape{open, 4}, []int{4}, []int{4, 1}, nodes.BNOptions{}), graph.ErrShape, "beta has shape [4,1], want [4]"},
		{"gamma shape channels first", train(graph.Shape{open, 3, 5, 5}, []int{5}, []int{5}, nodes.BNOptions{Axis: 1}), graph.ErrShape, "gamma has shape [5], want [3]"},
		{"rank 1", train(graph.Shape{4}, []int{4}, []int{4}, nodes.BNOptions{}), graph.ErrShape, "rank ≥ 2"},
		{"axis out of range", train(graph.Shape{open, 4}, []int{4}, []int{4}, nodes.BNOptions{Axis: 2}), graph.ErrArg, "channel axis 2 out of range for rank 2"},
		{"batch axis", train(graph.Shape{open, 4}, []int{4}, []int{4}, nodes.BNOptions{Axis: -2}), graph.ErrArg, "channel axis -2 out of range"},
		{"negative epsilon", train(graph.Shape{open, 4}, []int{4}, []int{4}, nodes.BNOptions{Epsilon: -1e-3}), graph.ErrArg, "epsilon -0.001: want a positive finite number"},
		{"NaN epsilon", train(graph.Shape{open, 4}, []int{4}, []int{4}, nodes.BNOptions{Epsilon: math.NaN()}), graph.ErrArg, "epsilon NaN"},
		{"pytorch one value", train(graph.Shape{1, 4}, []int{4}, []int{4}, nodes.BNOptions{Unbiased: true}), graph.ErrShape, "expected more than 1 value per channel when training, got input shape [1,4]"},
		{"pytorch one value rank 4", train(graph.Shape{1, 1, 1, 3}, []int{3}, []int{3}, nodes.BNOptions{Unbiased: true}), graph.ErrShape, "expected more than 1 value per channel"},
		{"empty batch", train(graph.Shape{0, 4}, []int{4}, []int{4}, nodes.BNOptions{}), graph.ErrShape, "no values per channel"},
		{"nil gamma", func(g *graph.Graph) *graph.Node {
			return nodes.BatchNormTrain(g.Input("x", graph.Shape{open, 4}), nil, in(g, "beta", 4), nodes.BNOptions{})
		}, graph.ErrNil, "input 1 is nil"},
		{"stats of another op", func(g *graph.Graph) *graph.Node {
			return nodes.BatchNormStats(nodes.ReLU(g.Input("x", graph.Shape{open, 4}))).Mean
		}, graph.ErrArg, "not the output of BatchNormTrain"},
		{"infer moving variance shape", infer(graph.Shape{open, 4}, 4, 5, nodes.BNOptions{}), graph.ErrShape, "moving variance has shape [5], want [4]"},
		{"infer axis", infer(graph.Shape{open, 4}, 4, 4, nodes.BNOptions{Axis: 3}), graph.ErrArg, "channel axis 3 out of range"},
		// legal
		{"keras one value", train(graph.Shape{1, 4}, []int{4}, []int{4}, nodes.BNOptions{}), nil, ""},
		{"pytorch open batch", train(graph.Shape{open, 4}, []int{4}, []int{4}, nodes.BNOptions{Unbiased: true}), nil, ""},
		{"pytorch open batch 1x1 image", train(graph.Shape{open, 1, 1, 4}, []int{4}, []int{4}, nodes.BNOptions{Unbiased: true}), nil, ""},
		{"infer one row", infer(graph.Shape{1, 5}, 5, 5, nodes.BNOptions{Epsilon: 1e-5}), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			n := tc.build(g)
			err := g.Err()
			if tc.kind == nil {
				require.NoError(t, err)
				require.False(t, n.IsPoisoned())
				return
			}
			require.Error(t, err, "no error recorded")
			assert.True(t, errors.Is(err, tc.kind), "error %q is not %v", err, tc.kind)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, n.IsPoisoned())
		})
	}
}

// The op's attributes print in dumps, and the statistics are [C].
func TestBatchNormNodes(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3, 8, 8})
	c := graph.Shape{3}
	y := nodes.BatchNormTrain(x, g.Variable("gamma", c), g.Variable("beta", c), nodes.BNOptions{Axis: 1, Epsilon: 1e-5, Unbiased: true})
	st := nodes.BatchNormStats(y)
	z := nodes.BatchNormInferWith(x, g.Variable("g2", c), g.Variable("b2", c), g.Variable("mm", c), g.Variable("mv", c), nodes.BNOptions{Axis: -3})
	require.NoError(t, g.Err())
	assert.Equal(t, "batch_norm_train = batch_norm_train[axis=1 eps=1e-05 unbiased](x, gamma, beta) : f32[B,3,8,8]", y.String())
	assert.Equal(t, "batch_norm_infer = batch_norm_infer[axis=1 eps=0.001](x, g2, b2, mm, mv) : f32[B,3,8,8]", z.String())
	for _, s := range []*graph.Node{st.Mean, st.Variance, st.InvStd, st.MovingVariance} {
		assert.Equal(t, c, s.Shape(), s.Name())
	}
	assert.NotEqual(t, st.Variance, st.MovingVariance, "with Unbiased the moving variance is its own output")
	k := nodes.BatchNormStats(nodes.BatchNormTrain(x, g.Variable("g3", c), g.Variable("b3", c), nodes.BNOptions{Axis: 1}))
	assert.Equal(t, k.Variance, k.MovingVariance, "Keras averages the biased variance")

	info, ok := nodes.BatchNormOf(y.Op())
	assert.True(t, ok)
	assert.Equal(t, nodes.BatchNormInfo{Train: true, Axis: 1, Epsilon: 1e-5, Unbiased: true}, info)
	info, ok = nodes.BatchNormOf(z.Op())
	assert.True(t, ok)
	assert.Equal(t, nodes.BatchNormInfo{Axis: 1, Epsilon: 1e-3}, info)
	_, ok = nodes.BatchNormOf(nodes.ReLU(x).Op())
	assert.False(t, ok, "relu is not a batch norm")
}

// PyTorch's convention refuses one value per channel in training. With an
// open batch the refusal comes when the program is run with a batch of 1
// (Run returns it) — before any instruction, so the moving statistics'
// Assign has not run and the state is unchanged; a batch of 2 then works.
func TestBatchNormTrainPyTorchOneValue(t *testing.T) {
	for _, decl := range []graph.Shape{{graph.Batch, 4}, {graph.Batch, 1, 1, 4}} {
		t.Run(decl.String(), func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", decl)
			ch := graph.Shape{4}
			mm := g.Variable("moving_mean", ch, graph.NonTrainable())
			y := nodes.BatchNormTrain(x, g.Constant(ch, 1), g.Constant(ch, 0), nodes.BNOptions{Epsilon: 1e-5, Unbiased: true})
			st := nodes.BatchNormStats(y)
			upd := nodes.Assign(mm, nodes.Add(nodes.Mul(mm, g.Scalar(0.9)), nodes.Mul(st.Mean, g.Scalar(0.1))))
			p, err := compile.Compile(g, []*graph.Node{y, upd}, compile.Options{})
			require.NoError(t, err)
			store := vm.NewStore()
			before := []float64{1, 2, 3, 4}
			require.NoError(t, store.SetFloat64s("moving_mean", ch, graph.Float64, before))
			m := vm.NewMachine(p, store)
			one := decl.WithBatch(1)
			_, err = m.Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, one, []float64{5, 6, 7, 8})})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "expected more than 1 value per channel when training")
			assert.True(t, errors.Is(err, graph.ErrShape), "%v", err)
			after, err := store.Float64s("moving_mean")
			require.NoError(t, err)
			assert.Equal(t, before, after, "a refused run changed the moving mean")

			two := decl.WithBatch(2)
			_, err = m.Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, two, []float64{5, 6, 7, 8, 7, 8, 9, 10})})
			require.NoError(t, err)
			after, err = store.Float64s("moving_mean")
			require.NoError(t, err)
			// 0.9·old + 0.1·μ with μ = 6, 7, 8, 9
			assert.InDeltaSlice(t, []float64{1.5, 2.5, 3.5, 4.5}, after, 1e-15)
		})
	}
}

// The training kernel itself reports one value per channel with
// Status.Fail when bound to such shapes (a program that reaches it without
// the shape rule's check), instead of computing 0/0.
func TestBatchNormTrainKernelRefusesOneValue(t *testing.T) {
	g := graph.New(graph.Float64)
	y := nodes.BatchNormTrain(g.Input("x", graph.Shape{graph.Batch, 2}), g.Input("g", graph.Shape{2}), g.Input("b", graph.Shape{2}), nodes.BNOptions{Unbiased: true})
	require.NoError(t, g.Err())
	k, ok := y.Op().(vm.Kernel)
	require.True(t, ok, "batch_norm_train has no kernel")
	status := &kernel.Status{}
	c := []int{2}
	a := &kernel.Args[float64]{
		In:     [][]int{{1, 2}, c, c},
		Out:    [][]int{{1, 2}, c, c, c, c},
		Src:    [][]float64{{1, 2}, {1, 1}, {0, 0}},
		Dst:    [][]float64{make([]float64, 2), make([]float64, 2), make([]float64, 2), make([]float64, 2), make([]float64, 2)},
		Status: status,
	}
	k.Bind64(a)()
	err := status.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 values per channel in input [1 2]: need at least 2")
}

// Inference works with any batch, a batch of 1 included, in both dtypes.
func TestBatchNormInferBatchOfOne(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			x, gamma, beta, mean, variance := []float64{0.5, -1, 4}, []float64{1, 2, 0.5}, []float64{0, 0.25, -1}, []float64{0.1, 0.2, 3}, []float64{1, 0.5, 4}
			out, err := testutil.Run(dt, []testutil.Value{
				{Name: "x", Shape: []int{1, 3}, Data: x}, {Name: "gamma", Shape: []int{3}, Data: gamma}, {Name: "beta", Shape: []int{3}, Data: beta},
				{Name: "mean", Shape: []int{3}, Data: mean}, {Name: "var", Shape: []int{3}, Data: variance},
			}, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
				return []*graph.Node{nodes.BatchNormInfer(in[0], in[1], in[2], in[3], in[4], 1e-5)}
			})
			require.NoError(t, err)
			for k := range x {
				want := gamma[k]*(x[k]-mean[k])/math.Sqrt(variance[k]+1e-5) + beta[k]
				assert.True(t, bnClose(dt, out[0].Data[k], want), "BatchNormInfer(%v)[%d] = %v, want %v", x, k, out[0].Data[k], want)
			}
		})
	}
}

// float32 with a large mean (|μ| = 1000σ): the kernels sum in float64 and
// the backward recovers the exact mean from the float32-rounded one, so the
// results match a float64 evaluation of the same (float32-rounded) inputs
// to float32 rounding. Summing in float32, or using the rounded mean in the
// backward (off by up to 3e-5 here, i.e. 3e-5 in x̂), fails this.
// Tolerance: 4e-6·max(1, |want|), a few float32 ulps (6e-8) for the
// rounding of the result and of the saved inverse standard deviation the
// backward reads.
func TestBatchNormFloat32LargeMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	const n, c = 300, 6
	shape := []int{n, c}
	x := make([]float64, n*c)
	for i := range x {
		x[i] = float64(float32(1000 + rng.NormFloat64()))
	}
	gamma, beta := bnRand(rng, c, 0.5, 2), bnRand(rng, c, -1, 1)
	up := bnRand(rng, n*c, -1, 1)
	for _, v := range [][]float64{gamma, beta, up} {
		for i := range v {
			v[i] = float64(float32(v[i]))
		}
	}
	b := newBNBuild(t, graph.Float32, graph.Shape{n, c}, c, nodes.BNOptions{})
	out, err := b.machine(t).Run(bnFeeds(graph.Float32, shape, x, gamma, beta, up))
	require.NoError(t, err)
	want := bnReferenceOf(shape, 1, x, gamma, beta, up, 1e-3)
	for i, w := range [][]float64{want.y, want.mean, want.variance, want.gx, want.gGamma, want.gBeta} {
		got := testutil.Float64s(out[i])
		bad := 0
		for j := range w {
			if math.Abs(got[j]-w[j]) > 4e-6*math.Max(1, math.Abs(w[j])) {
				if bad < 3 {
					t.Errorf("BatchNormTrain f32 %s[%d] = %.9g, want %.9g", b.fetches[i].Name(), j, got[j], w[j])
				}
				bad++
			}
		}
	}
}

// Differentiating the closed-form gradient again is refused with an error,
// not answered silently wrong.
func TestBatchNormTrainSecondOrderRefused(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{4, 3})
	y := nodes.BatchNormTrain(x, g.Input("gamma", graph.Shape{3}), g.Input("beta", graph.Shape{3}), nodes.BNOptions{})
	w := g.Constant(graph.Shape{4, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	// two paths from x to L₂: through x̄ (no gradient) and through tanh(y)
	loss := nodes.Sum(nodes.Mul(nodes.Tanh(y), w), false)
	g1, err := autodiff.Grad(loss, x)
	require.NoError(t, err)
	loss2 := nodes.Add(nodes.Sum(nodes.Mul(g1[0], w), false), nodes.Sum(nodes.Tanh(y), false))
	_, err = autodiff.Grad(loss2, x)
	require.Error(t, err)
	assert.True(t, errors.Is(err, graph.ErrGradient), "%v", err)
	assert.Contains(t, err.Error(), "second-order derivatives through BatchNormTrain are not supported")
}

// Channels are spread over threads whole, so the bits do not depend on the
// number of threads.
func TestBatchNormThreadsSameBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 0))
	const n, c = 64, 1000
	shape := []int{n, c}
	x, up := bnRand(rng, n*c, -3, 3), bnRand(rng, n*c, -1, 1)
	gamma, beta := bnRand(rng, c, 0.5, 2), bnRand(rng, c, -1, 1)
	var runs [][][]float64
	for _, threads := range []int{1, 4} {
		prev := runtime.GOMAXPROCS(threads)
		b := newBNBuild(t, graph.Float32, graph.Shape{n, c}, c, nodes.BNOptions{})
		out, err := b.machine(t).Run(bnFeeds(graph.Float32, shape, x, gamma, beta, up))
		runtime.GOMAXPROCS(prev)
		require.NoError(t, err)
		var vals [][]float64
		for _, o := range out {
			vals = append(vals, testutil.Float64s(o))
		}
		runs = append(runs, vals)
	}
	for i := range runs[0] {
		assert.Equal(t, runs[0][i], runs[1][i], "output %d differs between 1 and 4 threads", i)
	}
}

// A compiled forward+backward program runs without allocating.
func TestBatchNormNoAllocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape graph.Shape
		opts  nodes.BNOptions
	}{
		{"dense", graph.Shape{64, 32}, nodes.BNOptions{}},
		{"channels_first", graph.Shape{8, 4, 6, 6}, nodes.BNOptions{Axis: 1, Unbiased: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(29, 0))
			c := tc.shape[1]
			if tc.opts.Axis == 0 {
				c = tc.shape[len(tc.shape)-1]
			}
			b := newBNBuild(t, graph.Float32, tc.shape, c, tc.opts)
			n := tc.shape.Size()
			m := b.machine(t)
			feeds := bnFeeds(graph.Float32, tc.shape, bnRand(rng, n, -1, 1), bnRand(rng, c, 1, 2), bnRand(rng, c, 0, 1), bnRand(rng, n, -1, 1))
			_, err := m.Exec(feeds)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := m.Exec(feeds); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs, "allocations per run")
		})
	}
}
