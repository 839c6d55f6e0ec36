package nodes_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Helpers shared by math_test.go, logistic_test.go, softmax_test.go and
// secondorder_test.go. Their names start with "math" so that they do not
// collide with the helpers of other test files of package nodes_test.

// Tolerances of the forward tables. float64: the ops are one or two libm
// calls (each within 1 ulp, 2.2e-16) and a division, so 1e-14 relative is a
// generous bound. float32: the inputs are rounded to float32 (relative 6e-8)
// and so is the result; 1e-5 relative is the project's float32 bound.
const (
	mathTol64 = 1e-14
	mathTol32 = 1e-5
)

func mathTol(dt graph.DType) float64 {
	if dt == graph.Float32 {
		return mathTol32
	}
	return mathTol64
}

var mathDTypes = []graph.DType{graph.Float64, graph.Float32}

// mathClose reports whether got is within rel·|want| of want; infinities
// must match exactly and NaN matches NaN.
func mathClose(got, want, rel float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case math.IsInf(want, 0):
		return got == want
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

// mathForward runs op on one input x of the given shape and returns the
// result's shape and data.
func mathForward(t *testing.T, dt graph.DType, op func(*graph.Node) *graph.Node, shape []int, x []float64) ([]int, []float64) {
	t.Helper()
	out, err := testutil.Run(dt, []testutil.Value{{Name: "x", Shape: shape, Data: x}},
		func(_ *graph.Graph, in []*graph.Node) []*graph.Node { return []*graph.Node{op(in[0])} })
	require.NoError(t, err)
	return out[0].Shape, out[0].Data
}

// mathVJP runs op on x and returns y and the vector–Jacobian product of the
// upstream up with respect to x.
func mathVJP(t *testing.T, dt graph.DType, op func(*graph.Node) *graph.Node, shape []int, x, up []float64) (y, gx []float64) {
	t.Helper()
	yv, gs, err := testutil.RunVJP(dt, []testutil.Value{{Name: "x", Shape: shape, Data: x}}, up,
		func(_ *graph.Graph, in []*graph.Node) *graph.Node { return op(in[0]) })
	require.NoError(t, err)
	return yv.Data, gs[0].Data
}

// mathRand returns n values drawn uniformly from [lo, hi), each with a
// random sign when signed is set (so |v| ∈ [lo, hi)).
func mathRand(rng *rand.Rand, n int, lo, hi float64, signed bool) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo + (hi-lo)*rng.Float64()
		if signed && rng.IntN(2) == 0 {
			out[i] = -out[i]
		}
	}
	return out
}

// mathGradCase is one finite-difference check of an op: x has shape shape
// (its leading dimension may be graph.Batch, fed as batch), and the loss is
// Σ w ⊙ op(x) for a random constant w of shape wShape (broadcast against
// the output), so that the upstream gradient is not uniform.
type mathGradCase struct {
	shape  graph.Shape
	batch  int
	wShape graph.Shape
}

// mathGradShapes covers a vector, a matrix, rank 3, a broadcast weight and
// an open batch dimension.
var mathGradShapes = []mathGradCase{
	{shape: graph.Shape{5}, wShape: graph.Shape{5}},
	{shape: graph.Shape{3, 4}, wShape: graph.Shape{3, 4}},
	{shape: graph.Shape{2, 3, 4}, wShape: graph.Shape{4}},
	{shape: graph.Shape{3, 1}, wShape: graph.Shape{3, 1}},
	{shape: graph.Shape{graph.Batch, 4}, batch: 3, wShape: graph.Shape{1, 4}},
}

// mathCheckGrad runs autodiff.Check (float64, default step and tolerance:
// central differences with h = 1e-6 have error O(h²·f”') ≈ 1e-12 plus
// round-off ≈ 1e-16/1e-6 = 1e-10, far below the 1e-6 tolerance) on
// Σ w ⊙ op(x) with x drawn by draw.
func mathCheckGrad(t *testing.T, op func(*graph.Node) *graph.Node, c mathGradCase, draw func(rng *rand.Rand, n int) []float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(len(c.shape))))
	g := graph.New(graph.Float64)
	x := g.Input("x", c.shape)
	w := g.Constant(c.wShape, mathRand(rng, c.wShape.Size(), -2, 2, false)...)
	loss := nodes.Sum(nodes.Mul(op(x), w), false)
	concrete := c.shape.WithBatch(c.batch)
	feeds := vm.Feeds{"x": testutil.Tensor(graph.Float64, concrete, draw(rng, concrete.Size()))}
	rep, err := autodiff.Check(g, loss, []*graph.Node{x}, feeds, nil, autodiff.CheckOptions{})
	require.NoError(t, err, "worst %v", rep.Worst)
	require.Equal(t, concrete.Size(), rep.Checked)
}

func TestMathForward(t *testing.T) {
	inf := math.Inf(1)
	nan := math.NaN()
	cases := []struct {
		name string
		op   func(*graph.Node) *graph.Node
		x    []float64
		want []float64
	}{
		// Exp: e⁰ = 1, e¹ = e, e^(ln 2) = 2, e^(−ln 4) = 1/4; overflow
		// and underflow at ±1000 (also in float32, computed via float64).
		{"Exp", nodes.Exp, []float64{0, 1, math.Ln2, -2 * math.Ln2, 1000, -1000}, []float64{1, math.E, 2, 0.25, inf, 0}},
		// Log: ln 1 = 0, ln e = 1, ln ½ = −ln 2, ln 0 = −Inf, ln(−1) = NaN.
		{"Log", nodes.Log, []float64{1, math.E, 0.5, 0, -1, 1e30}, []float64{0, 1, -math.Ln2, -inf, nan, 30 * math.Ln10}},
		// Sqrt of perfect squares, 0, 2, and a negative number.
		{"Sqrt", nodes.Sqrt, []float64{0, 4, 0.25, 2, -1, 1e20}, []float64{0, 2, 0.5, math.Sqrt2, nan, 1e10}},
		{"Square", nodes.Square, []float64{0, -3, 0.5, 1e20, 1e-3}, []float64{0, 9, 0.25, 1e40, 1e-6}},
		{"Pow3", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 3) }, []float64{2, -2, 0, 0.5}, []float64{8, -8, 0, 0.125}},
		{"Pow2", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 2) }, []float64{-3, 0.5}, []float64{9, 0.25}},
		{"PowHalf", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 0.5) }, []float64{4, 0.25, 0}, []float64{2, 0.5, 0}},
		{"PowMinus1", func(x *graph.Node) *graph.Node { return nodes.Pow(x, -1) }, []float64{4, -0.5, 0}, []float64{0.25, -2, inf}},
		{"PowMinus2", func(x *graph.Node) *graph.Node { return nodes.Pow(x, -2) }, []float64{2, -0.5}, []float64{0.25, 4}},
		{"Pow1.5", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 1.5) }, []float64{4, 0.25, -1}, []float64{8, 0.125, nan}},
		// x⁰ = 1 for every x, 0 and NaN included (math.Pow's convention).
		{"Pow0", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 0) }, []float64{0, -3, 7, nan}, []float64{1, 1, 1, 1}},
		{"Pow1", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 1) }, []float64{0, -3, 7.5}, []float64{0, -3, 7.5}},
		{"Abs", nodes.Abs, []float64{-3, 3, 0, -0.25, -inf}, []float64{3, 3, 0, 0.25, inf}},
		{"Sign", nodes.Sign, []float64{-3, 3, 0, 1e-30, -1e-30, nan}, []float64{-1, 1, 0, 1, -1, nan}},
		{"Reciprocal", nodes.Reciprocal, []float64{4, -0.5, 1, 0, inf}, []float64{0.25, -2, 1, inf, 0}},
	}
	for _, tc := range cases {
		for _, dt := range mathDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				shape, got := mathForward(t, dt, tc.op, []int{len(tc.x)}, tc.x)
				assert.Equal(t, []int{len(tc.x)}, shape)
				for i, w := range tc.want {
					x := tc.x[i]
					if dt == graph.Float32 {
						if mathOutside32(x) || mathOutside32(w) {
							continue // not representable in float32
						}
					}
					if !mathClose(got[i], w, mathTol(dt)) {
						t.Errorf("%s(%v) = %v, want %v", tc.name, x, got[i], w)
					}
				}
			})
		}
	}
}

// mathOutside32 reports whether a finite v overflows float32 or falls
// below its smallest normal number (where it would lose relative
// precision).
func mathOutside32(v float64) bool {
	a := math.Abs(v)
	return !math.IsInf(v, 0) && !math.IsNaN(v) && (a > math.MaxFloat32 || (a != 0 && a < 0x1p-126))
}

func TestAbsNegativeZero(t *testing.T) {
	// |−0| must be +0: a −0 would print as "-0" and flip 1/x to −Inf.
	for _, dt := range mathDTypes {
		_, got := mathForward(t, dt, nodes.Abs, []int{1}, []float64{math.Copysign(0, -1)})
		assert.False(t, math.Signbit(got[0]), "Abs(-0) = %v (%s), want +0", got[0], dt)
	}
}

// TestMathVJP checks each gradient rule at points where the derivative is
// known by hand, with the upstream 2 so that a rule that ignores ḡ fails.
func TestMathVJP(t *testing.T) {
	cases := []struct {
		name string
		op   func(*graph.Node) *graph.Node
		x    []float64
		want []float64 // d op / dx at x (before multiplying by the upstream)
	}{
		{"Exp", nodes.Exp, []float64{0, 1, -2 * math.Ln2}, []float64{1, math.E, 0.25}},
		{"Log", nodes.Log, []float64{1, 4, 0.5}, []float64{1, 0.25, 2}},
		// d√x/dx = 1/(2√x)
		{"Sqrt", nodes.Sqrt, []float64{4, 0.25, 1}, []float64{0.25, 1, 0.5}},
		{"Square", nodes.Square, []float64{3, -0.5, 0}, []float64{6, -1, 0}},
		// d x³/dx = 3x²
		{"Pow3", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 3) }, []float64{2, -1, 0}, []float64{12, 3, 0}},
		{"Pow2", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 2) }, []float64{2, -1}, []float64{4, -2}},
		// d x^½/dx = ½x^(−½)
		{"PowHalf", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 0.5) }, []float64{4, 0.25}, []float64{0.25, 1}},
		// d x⁻²/dx = −2x⁻³
		{"PowMinus2", func(x *graph.Node) *graph.Node { return nodes.Pow(x, -2) }, []float64{2, -1}, []float64{-0.25, 2}},
		{"Pow0", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 0) }, []float64{0, 3, -2}, []float64{0, 0, 0}},
		{"Pow1", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 1) }, []float64{0, 3, -2}, []float64{1, 1, 1}},
		// the subgradient at 0 is 0
		{"Abs", nodes.Abs, []float64{-2, 3, 0}, []float64{-1, 1, 0}},
		// d(1/x)/dx = −1/x²
		{"Reciprocal", nodes.Reciprocal, []float64{2, -0.5, 1}, []float64{-0.25, -4, -1}},
	}
	for _, tc := range cases {
		for _, dt := range mathDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				up := make([]float64, len(tc.x))
				for i := range up {
					up[i] = 2
				}
				_, gx := mathVJP(t, dt, tc.op, []int{len(tc.x)}, tc.x, up)
				for i, w := range tc.want {
					if want := 2 * w; !mathClose(gx[i], want, mathTol(dt)) {
						t.Errorf("%s'(%v)·2 = %v, want %v", tc.name, tc.x[i], gx[i], want)
					}
				}
			})
		}
	}
}

// mathOps lists every differentiable op of math.go with the inputs its
// gradient check draws: positive for Log, Sqrt, Reciprocal and Pow (whose
// derivative is undefined or complex at and below 0), and away from 0 for
// Abs (its kink).
func mathOps() []struct {
	name string
	op   func(*graph.Node) *graph.Node
	draw func(rng *rand.Rand, n int) []float64
} {
	anyX := func(rng *rand.Rand, n int) []float64 { return mathRand(rng, n, -3, 3, false) }
	pos := func(rng *rand.Rand, n int) []float64 { return mathRand(rng, n, 0.5, 2.5, false) }
	awayFrom0 := func(rng *rand.Rand, n int) []float64 { return mathRand(rng, n, 0.2, 2, true) }
	pow := func(p float64) func(*graph.Node) *graph.Node {
		return func(x *graph.Node) *graph.Node { return nodes.Pow(x, p) }
	}
	return []struct {
		name string
		op   func(*graph.Node) *graph.Node
		draw func(rng *rand.Rand, n int) []float64
	}{
		{"Exp", nodes.Exp, anyX},
		{"Log", nodes.Log, pos},
		{"Sqrt", nodes.Sqrt, pos},
		{"Square", nodes.Square, anyX},
		{"Pow0", pow(0), anyX},
		{"Pow1", pow(1), anyX},
		{"Pow2", pow(2), anyX},
		{"Pow3", pow(3), anyX},
		{"PowHalf", pow(0.5), pos},
		{"PowMinus1", pow(-1), pos},
		{"Pow2.7", pow(2.7), pos},
		{"PowMinus1.5", pow(-1.5), pos},
		{"Abs", nodes.Abs, awayFrom0},
		{"Reciprocal", nodes.Reciprocal, pos},
	}
}

func TestMathGradCheck(t *testing.T) {
	for _, o := range mathOps() {
		for _, c := range mathGradShapes {
			t.Run(o.name+"/"+c.shape.String(), func(t *testing.T) {
				mathCheckGrad(t, o.op, c, o.draw)
			})
		}
	}
}

// TestMathSignHasNoGradient: a loss that depends on x only through Sign
// has no gradient, and autodiff says why, naming the op.
func TestMathSignHasNoGradient(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{3})
	_, err := autodiff.Grad(nodes.Sum(nodes.Sign(x), false), x)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sign")
}

// mathUnaryOps lists every op of the three files by name, for the shape
// rule tests.
var mathUnaryOps = []struct {
	name string
	op   func(*graph.Node) *graph.Node
}{
	{"exp", nodes.Exp},
	{"log", nodes.Log},
	{"sqrt", nodes.Sqrt},
	{"square", nodes.Square},
	{"pow", func(x *graph.Node) *graph.Node { return nodes.Pow(x, 2) }},
	{"abs", nodes.Abs},
	{"sign", nodes.Sign},
	{"reciprocal", nodes.Reciprocal},
	{"sigmoid", nodes.Sigmoid},
	{"tanh", nodes.Tanh},
	{"softmax", nodes.Softmax},
	{"log_softmax", nodes.LogSoftmax},
}

// TestMathShapes: every op keeps its input's shape, symbolic (graph.Batch)
// or concrete, and its shape rule gives the concrete shape again when the
// VM re-runs it with the batch size known.
func TestMathShapes(t *testing.T) {
	shapes := []graph.Shape{{5}, {graph.Batch, 4}, {graph.Batch}, {2, 3, 4}, {0, 3}, {3, 0}}
	for _, o := range mathUnaryOps {
		for _, s := range shapes {
			t.Run(o.name+"/"+s.String(), func(t *testing.T) {
				g := graph.New(graph.Float32)
				y := o.op(g.Input("x", s))
				require.NoError(t, g.Err())
				assert.Equal(t, o.name, y.Op().Name())
				assert.True(t, y.Shape().Equal(s), "%s(%v) has shape %v, want %v", o.name, s, y.Shape(), s)
				concrete := s.WithBatch(7)
				got, err := y.Op().InferShape([]graph.Shape{concrete})
				require.NoError(t, err)
				assert.True(t, got.Equal(concrete), "%s shape rule on %v = %v, want %v", o.name, concrete, got, concrete)
				// a wrong input count is an error, not a panic
				_, err = y.Op().InferShape([]graph.Shape{concrete, concrete})
				assert.ErrorIs(t, err, graph.ErrArg)
			})
		}
	}
}

// TestMathScalarInputs: the element-wise ops take scalars; softmax and
// log-softmax reject them with an error that names the op.
func TestMathScalarInputs(t *testing.T) {
	for _, o := range mathUnaryOps {
		t.Run(o.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			y := o.op(g.Scalar(2))
			if o.name != "softmax" && o.name != "log_softmax" {
				require.NoError(t, g.Err())
				assert.Equal(t, 0, y.Shape().Rank())
				return
			}
			err := g.Err()
			require.Error(t, err)
			assert.True(t, y.IsPoisoned())
			assert.ErrorIs(t, err, graph.ErrShape)
			var oe *graph.OpError
			require.True(t, errors.As(err, &oe))
			assert.Equal(t, o.name, oe.Op)
			assert.True(t, strings.HasPrefix(err.Error(), "graph: "+o.name+" "), "error %q does not name the op", err)
		})
	}
}

// TestMathNilInputs: a nil input never panics; with no graph to record on,
// the builders return nil.
func TestMathNilInputs(t *testing.T) {
	for _, o := range mathUnaryOps {
		t.Run(o.name, func(t *testing.T) {
			assert.NotPanics(t, func() { assert.Nil(t, o.op(nil)) })
		})
	}
	assert.NotPanics(t, func() { assert.Nil(t, nodes.Pow(nil, math.NaN())) })
}

func TestPowArgs(t *testing.T) {
	for _, p := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		g := graph.New(graph.Float64)
		y := nodes.Pow(g.Input("x", graph.Shape{2}), p)
		assert.True(t, y.IsPoisoned(), "Pow(x, %v) is not poisoned", p)
		assert.ErrorIs(t, g.Err(), graph.ErrArg, "Pow(x, %v)", p)
	}
	for _, tc := range []struct {
		p    float64
		want string
	}{{2, "pow[p=2]"}, {0.5, "pow[p=0.5]"}, {-1.5, "pow[p=-1.5]"}} {
		g := graph.New(graph.Float64)
		y := nodes.Pow(g.Input("x", graph.Shape{2}), tc.p)
		require.NoError(t, g.Err())
		assert.Equal(t, tc.want, graph.OpString(y.Op()), "OpString(Pow(x, %v))", tc.p)
	}
}

// TestMathSticky: after an error the builders do nothing more.
func TestMathSticky(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{2})
	nodes.Softmax(g.Scalar(1))
	first := g.Err()
	require.Error(t, first)
	n := g.Len()
	for _, o := range mathUnaryOps {
		assert.True(t, o.op(x).IsPoisoned(), "%s after an error", o.name)
	}
	assert.Equal(t, n, g.Len())
	assert.Equal(t, first, g.Err())
}
