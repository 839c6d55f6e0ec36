package nodes_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
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

// goldenDropout is the dispatch table of TestGoldenDropout, keyed by the
// golden op; the mask is an input of every case.
var goldenDropout = map[string]goldenBuilder{
	"dropout": func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		rate, err := goldenDropoutParams(c)
		if err != nil {
			return nil, err
		}
		mask, err := goldenInput(in, "mask")
		if err != nil {
			return nil, err
		}
		return nodes.DropoutWithMask(in["x"], mask, rate), nil
	},
	// a, b and alpha_p are the case's coefficients, which
	// TestGoldenDropout compares with AlphaDropoutCoefficients.
	"alpha_dropout": func(c golden.Case, in map[string]*graph.Node) (*graph.Node, error) {
		rate, err := goldenDropoutParams(c, "a", "b", "alpha_p")
		if err != nil {
			return nil, err
		}
		mask, err := goldenInput(in, "mask")
		if err != nil {
			return nil, err
		}
		return nodes.AlphaDropoutWithMask(in["x"], mask, rate), nil
	},
}

// goldenDropoutParams checks the params of a dropout case (training true,
// the keep-mask convention 1=keep, no key but these and extra) and returns
// its rate.
func goldenDropoutParams(c golden.Case, extra ...string) (float64, error) {
	if err := goldenCheckParams(c, append([]string{"rate", "training", "mask_semantics"}, extra...)...); err != nil {
		return 0, err
	}
	if v, ok := c.Params["training"]; ok && v != true {
		return 0, fmt.Errorf("params.training = %v: the mask-input ops are training-mode dropout", v)
	}
	if s, ok := c.Params["mask_semantics"]; ok && s != "1=keep" {
		return 0, fmt.Errorf("params.mask_semantics = %v: want 1=keep", s)
	}
	rate, ok := c.Float("rate")
	if !ok {
		return 0, fmt.Errorf("params.rate = %v: want a number", c.Params["rate"])
	}
	return rate, nil
}

// TestGoldenDropout runs every case of dropout.json, forward and gradient,
// in float64 (1e-10, the golden README's bound) and float32 (goldenTol32);
// an op without a builder fails the test, since the file holds only ops of
// this family.
func TestGoldenDropout(t *testing.T) {
	f := golden.Load(t, "dropout.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			build, ok := goldenDropout[c.Op]
			if !ok {
				t.Fatalf("no builder for golden op %q", c.Op)
			}
			require.NotNil(t, c.Upstream, "every dropout case has a backward")
			require.Contains(t, c.Grads, "x")
			assert.NotContains(t, c.Grads, "mask", "the mask is a constant")
			if c.Op == "alpha_dropout" {
				// the case's own coefficients agree with ours to the last
				// couple of bits (1e-15 relative: a pow and a few products)
				rate, _ := c.Float("rate")
				a, b := nodes.AlphaDropoutCoefficients(rate)
				wantA, _ := c.Float("a")
				wantB, _ := c.Float("b")
				wantAlpha, _ := c.Float("alpha_p")
				assert.InEpsilon(t, wantA, a, 1e-15, "a")
				assert.InEpsilon(t, wantB, b, 1e-15, "b")
				assert.Equal(t, wantAlpha, nodes.AlphaDropoutAlpha, "α'")
			}
			for _, dt := range goldenDTypes {
				t.Run(dt.String(), func(t *testing.T) { goldenRun(t, dt, c, build) })
			}
		})
	}
}

// TestAlphaDropoutCoefficients checks SEMANTICS §6's worked values.
func TestAlphaDropoutCoefficients(t *testing.T) {
	for _, tc := range []struct{ rate, a, b float64 }{
		{0, 1, 0},
		{0.1, 0.9212845161497115, 0.16197097005757022},
		{0.2, 0.8789035834435328, 0.30903996214409446},
	} {
		a, b := nodes.AlphaDropoutCoefficients(tc.rate)
		// 2e-16 relative: one rounding of pow and of the product
		assert.InDelta(t, tc.a, a, 2e-16*tc.a, "a(%v)", tc.rate)
		assert.InDelta(t, tc.b, b, 2e-16*max(tc.b, 1e-300), "b(%v)", tc.rate)
	}
}

// AlphaDropoutCoefficients gives NaN, not +Inf or plausible finite
// values, for a rate outside [0, 1), and AlphaDropoutWithMask records such
// a rate as an argument error naming it.
func TestAlphaDropoutCoefficientsBadRate(t *testing.T) {
	for _, rate := range []float64{1, 1.5, -0.1, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		a, b := nodes.AlphaDropoutCoefficients(rate)
		assert.True(t, math.IsNaN(a), "a(%v) = %v, want NaN", rate, a)
		assert.True(t, math.IsNaN(b), "b(%v) = %v, want NaN", rate, b)

		g := graph.New(graph.Float64)
		x := g.Input("x", graph.Shape{2, 3})
		var y *graph.Node
		require.NotPanics(t, func() { y = nodes.AlphaDropoutWithMask(x, x, rate) })
		assert.True(t, y.IsPoisoned(), "rate %v", rate)
		err := g.Err()
		require.Error(t, err, "rate %v", rate)
		assert.ErrorIs(t, err, graph.ErrArg)
		assert.Contains(t, err.Error(), "alpha_dropout: rate "+strconv.FormatFloat(rate, 'g', -1, 64)+": want 0 ≤ rate < 1")
	}
	// the edge of the range is fine
	a, b := nodes.AlphaDropoutCoefficients(math.Nextafter(1, 0))
	assert.False(t, math.IsNaN(a) || math.IsInf(a, 0) || math.IsNaN(b) || math.IsInf(b, 0), "a, b = %v, %v just below rate 1", a, b)
}

// TestDropoutMaskGradient checks the dropouts' gradients against central
// differences (autodiff.Check, step 1e-6, tolerance 1e-6: the functions are
// linear in x, so central differences are exact up to rounding), and that
// the mask gets no gradient.
func TestDropoutMaskGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	mask := make([]float64, 12)
	for i := range mask {
		mask[i] = float64(rng.IntN(2))
	}
	vals := []testutil.Value{
		{Name: "x", Shape: []int{3, 4}, Data: actRand(rng, 12, -2, 2)},
		{Name: "mask", Shape: []int{3, 4}, Data: mask},
		{Name: "w", Shape: []int{3, 4}, Data: actRand(rng, 12, -1, 1)},
	}
	for _, tc := range []struct {
		name string
		f    func(x, m *graph.Node) *graph.Node
	}{
		{"dropout", func(x, m *graph.Node) *graph.Node { return nodes.DropoutWithMask(x, m, 0.3) }},
		{"alpha_dropout", func(x, m *graph.Node) *graph.Node { return nodes.AlphaDropoutWithMask(x, m, 0.3) }},
		// second order: the gradient of Σ w⊙x̄ with respect to the upstream
		{"alpha_dropout_grad", func(x, m *graph.Node) *graph.Node {
			gs, err := autodiff.GradWith(nodes.AlphaDropoutWithMask(m, m, 0.3), []*graph.Node{m}, autodiff.Options{Seed: x})
			if err != nil {
				return nil
			}
			return gs[0]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			in := actInputs(g, vals...)
			y := tc.f(in[0], in[1])
			require.NotNil(t, y)
			loss := nodes.Sum(nodes.Mul(y, in[2]), false)
			actCheck(t, g, loss, in[:1], vals)
			if tc.name != "alpha_dropout_grad" {
				_, err := autodiff.Grad(loss, in[1])
				require.Error(t, err, "the mask is a constant: no gradient")
			}
		})
	}
}

// maskProgram is a compiled program that draws a dropout mask like an
// input "x" of shape [Batch, shape...] from the scalar variable "step" and
// applies dropout (or alpha dropout) with it; each run advances "step".
type maskProgram struct {
	m     *vm.Machine
	feeds vm.Feeds
}

// maskStep is one run of a maskProgram: the mask, the output, x̄ for
// upstream 1.
type maskStep struct{ mask, y, gx []float64 }

func newMaskProgram(t *testing.T, dt graph.DType, rate float64, seed uint64, alpha bool, x testutil.Value, store *vm.Store, shared ...int) *maskProgram {
	t.Helper()
	g := graph.New(dt)
	xn := g.Input("x", append(graph.Shape{graph.Batch}, x.Shape[1:]...))
	step := g.Variable("step", graph.Shape{}, graph.NonTrainable())
	mask := nodes.DropoutMask(xn, rate, seed, step, shared...)
	var y *graph.Node
	if alpha {
		y = nodes.AlphaDropoutWithMask(xn, mask, rate)
	} else {
		y = nodes.DropoutWithMask(xn, mask, rate)
	}
	gx, err := autodiff.GradWith(y, []*graph.Node{xn}, autodiff.Options{Seed: nodes.OnesLike(y)})
	require.NoError(t, err)
	p, err := compile.Compile(g, []*graph.Node{mask, y, gx[0], nodes.Assign(step, nodes.NextCount(step))}, compile.Options{})
	require.NoError(t, err)
	return &maskProgram{m: vm.NewMachine(p, store), feeds: actFeeds(dt, x)}
}

func (p *maskProgram) run(t *testing.T) maskStep {
	t.Helper()
	out, err := p.m.Run(p.feeds)
	require.NoError(t, err)
	return maskStep{testutil.Float64s(out[0]), testutil.Float64s(out[1]), testutil.Float64s(out[2])}
}

// TestDropoutMask checks the drawn masks: 0/1 values, the fraction
// dropped within statistical bounds of the rate, the output and gradient
// scaled by 1/(1−rate) where kept and 0 where dropped, a fresh mask each
// step, and masks that depend only on seed and counter (another program,
// one thread, a resumed counter) and agree across dtypes.
func TestDropoutMask(t *testing.T) {
	const rows, cols = 50, 2000 // 100,000 elements: 25 blocks of draws
	n := rows * cols
	rng := rand.New(rand.NewPCG(5, 6))
	xv := testutil.Value{Name: "x", Shape: []int{rows, cols}, Data: actRand(rng, n, -3, 3)}
	for _, rate := range []float64{0, 0.1, 0.5, 0.9} {
		masks := map[graph.DType][]float64{}
		for _, dt := range actDTypes {
			t.Run(sprintRate(rate)+"/"+dt.String(), func(t *testing.T) {
				store := rreluStore(t, dt, 0)
				p := newMaskProgram(t, dt, rate, 7, false, xv, store)
				s1, s2 := p.run(t), p.run(t)
				masks[dt] = s1.mask
				scale := 1 / (1 - rate)
				for _, s := range []maskStep{s1, s2} {
					dropped := 0
					for i, m := range s.mask {
						switch m {
						case 0:
							dropped++
							require.Zero(t, s.y[i], "dropped y[%d]", i)
							require.Zero(t, s.gx[i], "dropped x̄[%d]", i)
						case 1:
							want := xv.Data[i] * scale
							if dt == graph.Float32 {
								want = float64(float32(float32(xv.Data[i]) * float32(scale)))
							}
							require.Equal(t, want, s.y[i], "kept y[%d]", i)
							require.Equal(t, float64(castTo(dt, scale)), s.gx[i], "kept x̄[%d]", i)
						default:
							t.Fatalf("mask[%d] = %v, want 0 or 1", i, m)
						}
					}
					// the number dropped is Binomial(n, rate): σ = √(n·p·(1−p)),
					// at most 158 for n = 1e5; allow 5σ (a false alarm once in
					// 1.7 million runs)
					sigma := math.Sqrt(float64(n) * rate * (1 - rate))
					assert.InDelta(t, rate*float64(n), float64(dropped), 5*sigma+0.5, "dropped of %d at rate %v", n, rate)
				}
				if rate == 0 {
					assert.Equal(t, s1.mask, s2.mask, "rate 0 keeps everything")
					return
				}
				differ := 0
				for i := range s1.mask {
					if s1.mask[i] != s2.mask[i] {
						differ++
					}
				}
				// two independent masks differ with probability 2p(1−p) ≥ 0.18
				// per element: far more than 10% of them
				assert.Greater(t, differ, n/10, "two steps draw fresh masks")

				q := newMaskProgram(t, dt, rate, 7, false, xv, rreluStore(t, dt, 0))
				assert.Equal(t, s1.mask, q.run(t).mask, "step 1 in another program")
				func() {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
					r := newMaskProgram(t, dt, rate, 7, false, xv, rreluStore(t, dt, 1))
					assert.Equal(t, s2.mask, r.run(t).mask, "step 2 resumed on one thread")
				}()
				o := newMaskProgram(t, dt, rate, 8, false, xv, rreluStore(t, dt, 0))
				assert.NotEqual(t, s1.mask, o.run(t).mask, "another seed")
			})
		}
		assert.Equal(t, masks[graph.Float64], masks[graph.Float32], "both dtypes draw the same mask at rate %v", rate)
	}
}

func sprintRate(r float64) string { return "rate=" + strconv.FormatFloat(r, 'g', -1, 64) }

func castTo(dt graph.DType, v float64) float64 {
	if dt == graph.Float32 {
		return float64(float32(v))
	}
	return v
}

// TestDropoutMaskShared checks masks shared along axes (Keras's
// noise_shape): the mask's shape, and that y drops whole rows of the
// shared axis together.
func TestDropoutMaskShared(t *testing.T) {
	const b, tSteps, f = 4, 6, 50
	rng := rand.New(rand.NewPCG(8, 9))
	xv := testutil.Value{Name: "x", Shape: []int{b, tSteps, f}, Data: actRand(rng, b*tSteps*f, 0.5, 2)}
	p := newMaskProgram(t, graph.Float64, 0.5, 11, false, xv, rreluStore(t, graph.Float64, 0), 1)
	s := p.run(t)
	require.Len(t, s.mask, b*f, "mask [B,1,F]")
	dropped := 0
	for i := range b {
		for j := range tSteps {
			for k := range f {
				m := s.mask[i*f+k]
				y := s.y[(i*tSteps+j)*f+k]
				if m == 0 {
					dropped++
					require.Zero(t, y)
				} else {
					require.Equal(t, 2*xv.Data[(i*tSteps+j)*f+k], y)
				}
			}
		}
	}
	assert.Positive(t, dropped)

	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3, 5})
	c := g.Scalar(0)
	assert.Equal(t, graph.Shape{graph.Batch, 1, 5}, nodes.DropoutMask(x, 0.2, 1, c, 1).Shape())
	assert.Equal(t, graph.Shape{graph.Batch, 3, 1}, nodes.DropoutMask(x, 0.2, 1, c, -1).Shape())
	assert.Equal(t, graph.Shape{1, 3, 5}, nodes.DropoutMask(x, 0.2, 1, c, 0).Shape())
	assert.Equal(t, "dropout_mask[rate=0.2 seed=1 shared=1,2]", graph.OpString(nodes.DropoutMask(x, 0.2, 1, c, 2, 1).Op()))
	assert.Equal(t, "dropout_mask[rate=0.5 seed=3]", graph.OpString(nodes.DropoutMask(x, 0.5, 3, c).Op()))
	require.NoError(t, g.Err())
}

// TestAlphaDropoutMoments checks that alpha dropout keeps a standardized
// input standardized: the outputs of SELU on N(0, 1) draws, shifted and
// scaled to sample mean 0 and variance 1 exactly, keep mean ≈ 0 and
// variance ≈ 1 after alpha dropout with a drawn mask, while plain dropout
// at the same rate inflates the variance to ≈ 1/(1−p).
func TestAlphaDropoutMoments(t *testing.T) {
	const n = 1 << 18
	rng := rand.New(rand.NewPCG(12, 13))
	x := make([]float64, n)
	var mean, sq float64
	for i := range x {
		z := rng.NormFloat64()
		if z > 0 {
			x[i] = nodes.SELUScale * z
		} else {
			x[i] = nodes.SELUScaleAlpha * math.Expm1(z)
		}
		mean += x[i]
	}
	mean /= n
	for i := range x {
		x[i] -= mean
		sq += x[i] * x[i]
	}
	sd := math.Sqrt(sq / n)
	for i := range x {
		x[i] /= sd
	}
	xv := testutil.Value{Name: "x", Shape: []int{n / 256, 256}, Data: x}
	for _, rate := range []float64{0.05, 0.1, 0.2, 0.5} {
		t.Run(sprintRate(rate), func(t *testing.T) {
			y := newMaskProgram(t, graph.Float64, rate, 21, true, xv, rreluStore(t, graph.Float64, 0)).run(t).y
			m, v, m4 := moments(y)
			// the sample mean of n values of variance 1 has σ = 1/√n
			// ≈ 0.002; the sample variance has σ = √((μ₄ − σ⁴)/n), μ₄ the
			// fourth central moment (estimated from the sample itself);
			// allow 5σ for both
			assert.InDelta(t, 0, m, 5/math.Sqrt(n), "mean at rate %v", rate)
			assert.InDelta(t, 1, v, 5*math.Sqrt((m4-1)/n), "variance at rate %v", rate)

			plain := newMaskProgram(t, graph.Float64, rate, 21, false, xv, rreluStore(t, graph.Float64, 0)).run(t).y
			_, pv, _ := moments(plain)
			assert.InDelta(t, 1/(1-rate), pv, 0.05/(1-rate), "plain dropout's variance at rate %v", rate)
		})
	}
}

// moments returns the mean, the variance and the fourth central moment.
func moments(x []float64) (mean, variance, m4 float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		d := (v - mean) * (v - mean)
		variance += d
		m4 += d * d
	}
	return mean, variance / float64(len(x)), m4 / float64(len(x))
}

// TestNextCount checks the counter update: +1, and 0 where the dtype stops
// counting exactly or the value is not a count.
func TestNextCount(t *testing.T) {
	cases := []struct {
		dt      graph.DType
		in, out float64
	}{
		{graph.Float32, 0, 1},
		{graph.Float32, 41, 42},
		{graph.Float32, 1<<24 - 2, 1<<24 - 1},
		{graph.Float32, 1<<24 - 1, 0}, // 2²⁴ + 1 would round to 2²⁴ and stick
		{graph.Float32, -3, 0},
		{graph.Float32, math.NaN(), 0},
		{graph.Float64, 1<<24 - 1, 1 << 24},
		{graph.Float64, 1<<53 - 1, 0},
		{graph.Float64, math.Inf(1), 0},
	}
	for _, tc := range cases {
		out, err := testutil.Run(tc.dt, []testutil.Value{{Name: "c", Shape: []int{}, Data: []float64{tc.in}}},
			func(_ *graph.Graph, in []*graph.Node) []*graph.Node { return []*graph.Node{nodes.NextCount(in[0])} })
		require.NoError(t, err)
		assert.Equal(t, tc.out, out[0].Data[0], "NextCount(%v) in %v", tc.in, tc.dt)
	}
}

// TestDropoutErrors checks that bad rates, masks, axes and counters are
// recorded on the graph with a clear message, and nothing panics.
func TestDropoutErrors(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name  string
		build func(x, m, c *graph.Node) *graph.Node
		kind  error
		msg   string
	}{
		{"dropout rate 1", func(x, m, _ *graph.Node) *graph.Node { return nodes.DropoutWithMask(x, m, 1) }, graph.ErrArg, "dropout: rate 1: want 0 ≤ rate < 1"},
		{"dropout rate negative", func(x, m, _ *graph.Node) *graph.Node { return nodes.DropoutWithMask(x, m, -0.1) }, graph.ErrArg, "rate -0.1"},
		{"dropout rate NaN", func(x, m, _ *graph.Node) *graph.Node { return nodes.DropoutWithMask(x, m, nan) }, graph.ErrArg, "rate NaN"},
		{"alpha rate 1.5", func(x, m, _ *graph.Node) *graph.Node { return nodes.AlphaDropoutWithMask(x, m, 1.5) }, graph.ErrArg, "alpha_dropout: rate 1.5"},
		{"mask rate 1", func(x, _, c *graph.Node) *graph.Node { return nodes.DropoutMask(x, 1, 0, c) }, graph.ErrArg, "dropout_mask: rate 1"},
		{"mask shape", func(x, _, _ *graph.Node) *graph.Node {
			return nodes.DropoutWithMask(x, x.Graph().Constant(graph.Shape{4}, 1), 0.5)
		}, graph.ErrShape, "mask of shape [4] does not broadcast to the input's shape [B,5]"},
		{"mask enlarges x", func(x, _, _ *graph.Node) *graph.Node {
			return nodes.AlphaDropoutWithMask(x, x.Graph().Constant(graph.Shape{2, 1, 5}, 1), 0.5)
		}, graph.ErrShape, "mask of shape [2,1,5] does not broadcast"},
		{"nil mask", func(x, _, _ *graph.Node) *graph.Node { return nodes.DropoutWithMask(x, nil, 0.5) }, graph.ErrNil, "input 1 is nil"},
		{"axis out of range", func(x, _, c *graph.Node) *graph.Node { return nodes.DropoutMask(x, 0.5, 0, c, 2) }, graph.ErrArg, "axis 2 out of range for rank 2"},
		{"axis twice", func(x, _, c *graph.Node) *graph.Node { return nodes.DropoutMask(x, 0.5, 0, c, 1, -1) }, graph.ErrArg, "shared axis -1 given twice"},
		{"nil counter", func(x, _, _ *graph.Node) *graph.Node { return nodes.DropoutMask(x, 0.5, 0, nil) }, graph.ErrNil, "dropout_mask: nil counter"},
		{"counter not scalar", func(x, m, _ *graph.Node) *graph.Node { return nodes.DropoutMask(x, 0.5, 0, m) }, graph.ErrShape, "the counter must be a scalar, got shape [B,5]"},
		{"next_count not scalar", func(x, _, _ *graph.Node) *graph.Node { return nodes.NextCount(x) }, graph.ErrShape, "next_count: the counter must be a scalar"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{graph.Batch, 5})
			m := g.Input("m", graph.Shape{graph.Batch, 5})
			c := g.Scalar(0)
			var y *graph.Node
			require.NotPanics(t, func() { y = tc.build(x, m, c) })
			assert.True(t, y.IsPoisoned())
			err := g.Err()
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.kind), "error %v is not %v", err, tc.kind)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	assert.Nil(t, nodes.DropoutMask(nil, 0.5, 0, nil), "no graph to record on")
}

// TestDropoutAttrs checks the names and attributes printed in dumps.
func TestDropoutAttrs(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{3})
	assert.Equal(t, "dropout[rate=0.25]", graph.OpString(nodes.DropoutWithMask(x, x, 0.25).Op()))
	y := nodes.AlphaDropoutWithMask(x, x, 0.1)
	assert.Equal(t, "alpha_dropout[rate=0.1]", graph.OpString(y.Op()))
	gs, err := autodiff.GradWith(y, []*graph.Node{x}, autodiff.Options{Seed: x, AllowUnused: true})
	require.NoError(t, err)
	assert.Contains(t, graph.OpString(gs[0].Op()), "mask_scale[scale=0.92128451614971")
	assert.Equal(t, "next_count", graph.OpString(nodes.NextCount(g.Scalar(0)).Op()))
	require.NoError(t, g.Err())
}

// TestRandomExecAllocs: once bound, a training step with dropout, alpha
// dropout and RReLU (masks and slopes drawn over several blocks, on the
// worker pool) and the counter's advance allocates nothing per run.
func TestRandomExecAllocs(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 300})
	step := g.Variable("step", graph.Shape{}, graph.NonTrainable())
	h := nodes.RReLU(x, nodes.RReLULower, nodes.RReLUUpper, true, 1, step)
	h = nodes.DropoutWithMask(h, nodes.DropoutMask(h, 0.5, 2, step), 0.5)
	y := nodes.AlphaDropoutWithMask(h, nodes.DropoutMask(h, 0.1, 3, step, 0), 0.1)
	gx, err := autodiff.GradWith(y, []*graph.Node{x}, autodiff.Options{Seed: nodes.OnesLike(y)})
	require.NoError(t, err)
	p, err := compile.Compile(g, []*graph.Node{y, gx[0], nodes.Assign(step, nodes.NextCount(step))}, compile.Options{})
	require.NoError(t, err)
	m := vm.NewMachine(p, rreluStore(t, graph.Float32, 0))
	feeds := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{128, 300}, make([]float64, 128*300))}
	_, err = m.Exec(feeds)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := m.Exec(feeds); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "Exec allocates")
}
