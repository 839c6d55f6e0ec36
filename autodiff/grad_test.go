package autodiff_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// eval compiles fetch, runs it once against store (a new one when nil) and
// returns the fetched values as float64.
func eval(t *testing.T, g *graph.Graph, store *vm.Store, feeds vm.Feeds, fetch ...*graph.Node) [][]float64 {
	t.Helper()
	prog, err := compile.Compile(g, fetch, compile.Options{})
	require.NoError(t, err)
	if store == nil {
		store = vm.NewStore()
	}
	out, err := vm.NewMachine(prog, store).Run(feeds)
	require.NoError(t, err)
	vals := make([][]float64, len(out))
	for i, o := range out {
		vals[i] = testutil.Float64s(o)
	}
	return vals
}

// assertRecorded checks that err, returned by Grad, is the error Grad
// recorded on g (the loss's graph): the graph's first error, the very
// value, an *graph.OpError of op "grad" for the node loss+"/grad", of the
// given kind and containing msg, and sticky: builders after it return a
// poisoned node and Grad returns it again.
func assertRecorded(t *testing.T, g *graph.Graph, err error, loss string, kind error, msg string) {
	t.Helper()
	if !assert.Error(t, err) {
		return
	}
	assert.True(t, err == g.Err(), "Grad returned %v, want the graph's error %v", err, g.Err())
	var oe *graph.OpError
	if assert.True(t, errors.As(err, &oe), "error %v is not an *graph.OpError", err) {
		assert.Equal(t, "grad", oe.Op, "op of %v", err)
		assert.Equal(t, loss+"/grad", oe.Node, "node of %v", err)
		assert.Contains(t, oe.Caller, "_test.go:", "caller of %v", err)
	}
	assert.ErrorIs(t, err, kind)
	assert.Contains(t, err.Error(), msg)
	assert.True(t, nodes.Exp(g.Scalar(1)).IsPoisoned(), "a builder after the refused Grad returns a poisoned node")
	if ns := g.Nodes(); assert.NotEmpty(t, ns) {
		_, again := autodiff.Grad(ns[len(ns)-1])
		assert.True(t, again == err, "a later Grad returned %v, want the sticky %v", again, err)
	}
}

// feed is a float64 tensor of the given shape.
func feed(shape []int, data ...float64) *tensor.Dense {
	return testutil.Tensor(graph.Float64, shape, data)
}

// near asserts |got[i] − want[i]| ≤ tol·max(1, |want[i]|) for every i.
func near(t *testing.T, got, want []float64, tol float64, what string) {
	t.Helper()
	if !assert.Len(t, got, len(want), what) {
		return
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); d > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
			t.Errorf("%s = %v, want %v (element %d off by %.3g)", what, got, want, i, d)
			return
		}
	}
}

// gradTol: the hand-derived gradients below and the graph's are both a
// handful of float64 operations (exp and tanh within an ulp or two), so they
// agree to a few ulps; 1e-12 leaves room for summation order.
const gradTol = 1e-12

func TestGradFanOut(t *testing.T) {
	xs := []float64{0.5, -1.25, 2}
	tests := []struct {
		name  string
		loss  func(x *graph.Node) *graph.Node
		deriv func(i int, x float64) float64 // hand-derived ∂loss/∂x_i
	}{
		{"x·x·x as a mul chain",
			func(x *graph.Node) *graph.Node { return nodes.Sum(nodes.Mul(nodes.Mul(x, x), x), false) },
			func(_ int, x float64) float64 { return 3 * x * x }},
		{"x in three branches of a sum",
			func(x *graph.Node) *graph.Node {
				three := x.Graph().Scalar(3)
				return nodes.Add(nodes.Add(nodes.Sum(nodes.Mul(x, three), false), nodes.Sum(nodes.Square(x), false)), nodes.Sum(nodes.Exp(x), false))
			},
			func(_ int, x float64) float64 { return 3 + 2*x + math.Exp(x) }},
		{"an intermediate read three times",
			func(x *graph.Node) *graph.Node {
				h := nodes.Tanh(x)
				return nodes.Sum(nodes.Mul(nodes.Mul(h, h), h), false)
			},
			func(_ int, x float64) float64 { h := math.Tanh(x); return 3 * h * h * (1 - h*h) }},
		{"both operands of one op, and again",
			func(x *graph.Node) *graph.Node { return nodes.Sum(nodes.Add(nodes.Mul(x, x), x), false) },
			func(_ int, x float64) float64 { return 2*x + 1 }},
		{"three copies in one concat",
			func(x *graph.Node) *graph.Node {
				c := x.Graph().Constant(graph.Shape{9}, 1, 2, 3, 4, 5, 6, 7, 8, 9)
				return nodes.Sum(nodes.Mul(nodes.Concat(0, x, x, x), c), false)
			},
			// x_i meets c_i, c_{i+3} and c_{i+6}: 12, 15, 18
			func(i int, _ float64) float64 { return float64(3*i + 12) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{3})
			loss := tc.loss(x)
			grads, err := autodiff.Grad(loss, x)
			require.NoError(t, err)
			require.Len(t, grads, 1)
			assert.Equal(t, graph.Shape{3}, grads[0].Shape())
			got := eval(t, g, nil, vm.Feeds{"x": feed([]int{3}, xs...)}, grads[0])[0]
			want := make([]float64, len(xs))
			for i, v := range xs {
				want[i] = tc.deriv(i, v)
			}
			near(t, got, want, gradTol, "Grad("+tc.name+")")
		})
	}
}

func TestGradStopGradient(t *testing.T) {
	xs := []float64{0.5, -1.25, 2}
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{3})
	// loss = Σ x·sg(x): the stopped factor is a constant, so ∂/∂x = x, not 2x
	loss := nodes.Sum(nodes.Mul(x, nodes.StopGradient(x)), false)
	grads, err := autodiff.Grad(loss, x)
	require.NoError(t, err)
	got := eval(t, g, nil, vm.Feeds{"x": feed([]int{3}, xs...)}, grads[0])[0]
	near(t, got, xs, gradTol, "Grad(Σ x·StopGradient(x))")

	// x reaches the loss only through StopGradient: an error, recorded on
	// the graph
	blockedLoss := func() (*graph.Graph, *graph.Node, *graph.Node) {
		g := graph.New(graph.Float64)
		x := g.Input("x", graph.Shape{3})
		return g, x, nodes.Sum(nodes.Square(nodes.StopGradient(x)), false)
	}
	g, x, blocked := blockedLoss()
	_, err = autodiff.Grad(blocked, x)
	assertRecorded(t, g, err, "sum", graph.ErrGradient, `"sum" depends on "x" only through ops without a gradient: stop_gradient "stop_gradient"`)

	// with AllowUnused, zeros
	g, x, blocked = blockedLoss()
	grads, err = autodiff.GradWith(blocked, []*graph.Node{x}, autodiff.Options{AllowUnused: true})
	require.NoError(t, err)
	assert.Equal(t, graph.Shape{3}, grads[0].Shape())
	got = eval(t, g, nil, vm.Feeds{"x": feed([]int{3}, xs...)}, grads[0])[0]
	assert.Equal(t, []float64{0, 0, 0}, got, "GradWith(Σ sg(x)², AllowUnused)")
}

func TestGradUnused(t *testing.T) {
	build := func() (g *graph.Graph, x, z, v, loss, later *graph.Node) {
		g = graph.New(graph.Float64)
		x = g.Input("x", graph.Shape{3})
		z = g.Input("z", graph.Shape{2, 3})
		v = g.Variable("v", graph.Shape{4})
		loss = nodes.Sum(nodes.Square(x), false)
		later = g.Input("later", graph.Shape{5}) // made after the loss
		return g, x, z, v, loss, later
	}

	// an unused wrt is an error, recorded on the graph
	for i, name := range []string{"z", "v", "later"} {
		g, x, z, v, loss, later := build()
		w := []*graph.Node{z, v, later}[i]
		_, err := autodiff.Grad(loss, x, w)
		assertRecorded(t, g, err, "sum", graph.ErrGradient, `"sum" does not depend on "`+name+`" (set Options.AllowUnused for a zero gradient)`)
	}

	g, x, z, v, loss, later := build()
	grads, err := autodiff.GradWith(loss, []*graph.Node{x, z, v, later}, autodiff.Options{AllowUnused: true})
	require.NoError(t, err)
	require.Len(t, grads, 4)
	for i, w := range []*graph.Node{x, z, v, later} {
		assert.Equal(t, w.Shape(), grads[i].Shape(), "shape of the gradient for %s", w.Name())
	}
	// the zero gradients are constants: z and later need no feed, v no value
	got := eval(t, g, vm.NewStore(), vm.Feeds{"x": feed([]int{3}, 1, -2, 3)}, grads...)
	assert.Equal(t, []float64{2, -4, 6}, got[0], "Grad(Σx², x)")
	assert.Equal(t, make([]float64, 6), got[1], "Grad(Σx², z) with AllowUnused")
	assert.Equal(t, make([]float64, 4), got[2], "Grad(Σx², v) with AllowUnused")
	assert.Equal(t, make([]float64, 5), got[3], "Grad(Σx², later) with AllowUnused")

	// with an open batch dimension the zeros take their shape from the feed
	open := g.Input("open", graph.Shape{graph.Batch, 2})
	grads, err = autodiff.GradWith(loss, []*graph.Node{open}, autodiff.Options{AllowUnused: true})
	require.NoError(t, err)
	assert.Equal(t, graph.Shape{graph.Batch, 2}, grads[0].Shape())
	got = eval(t, g, nil, vm.Feeds{"x": feed([]int{3}, 1, -2, 3), "open": feed([]int{3, 2}, 1, 2, 3, 4, 5, 6)}, grads[0])
	assert.Equal(t, make([]float64, 6), got[0], "Grad(Σx², open) with AllowUnused, batch 3")
}

func TestGradNonDifferentiable(t *testing.T) {
	tests := []struct {
		name string
		loss func(x *graph.Node) *graph.Node
		op   string // the op the error must name
		why  string // and part of its reason
	}{
		{"greater", func(x *graph.Node) *graph.Node {
			return nodes.Sum(nodes.Greater(x, x.Graph().Scalar(0)), false)
		}, `greater "greater"`, "comparisons give 0/1 masks"},
		{"equal then exp", func(x *graph.Node) *graph.Node {
			return nodes.Sum(nodes.Exp(nodes.Equal(x, x.Graph().Scalar(1))), false)
		}, `equal "equal"`, "derivative is zero almost everywhere"},
		{"sign", func(x *graph.Node) *graph.Node {
			return nodes.Sum(nodes.Mul(nodes.Sign(x), x.Graph().Scalar(2)), false)
		}, `sign "sign"`, ""},
		{"one_hot", func(x *graph.Node) *graph.Node {
			return nodes.Sum(nodes.OneHot(x, 4), false)
		}, `one_hot "one_hot"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{4})
			loss := tc.loss(x)
			require.NoError(t, g.Err())
			_, err := autodiff.Grad(loss, x)
			assertRecorded(t, g, err, "sum", graph.ErrGradient, `"sum" depends on "x" only through ops without a gradient`)
			assert.Contains(t, err.Error(), tc.op)
			assert.Contains(t, err.Error(), tc.why)
		})
	}
}

// A mask is a constant for autodiff: relu written as x·(x > 0), or with
// Where, gets its gradient through x alone, and a comparison on a side path
// does not stop the gradient of the other paths.
func TestGradThroughMask(t *testing.T) {
	xs := []float64{-1, 2, 0.5, -3} // no element at the kink x = 0
	tests := []struct {
		name string
		loss func(x *graph.Node) *graph.Node
		want []float64
	}{
		{"x·greater(x, 0)", func(x *graph.Node) *graph.Node {
			return nodes.Sum(nodes.Mul(x, nodes.Greater(x, x.Graph().Scalar(0))), false)
		}, []float64{0, 1, 1, 0}},
		{"where(x > 0, x, 0)", func(x *graph.Node) *graph.Node {
			zero := x.Graph().Scalar(0)
			return nodes.Sum(nodes.Where(nodes.Greater(x, zero), x, zero), false)
		}, []float64{0, 1, 1, 0}},
		{"Σ(x > 0) + Σ 3x", func(x *graph.Node) *graph.Node {
			g := x.Graph()
			return nodes.Add(nodes.Sum(nodes.Greater(x, g.Scalar(0)), false), nodes.Sum(nodes.Mul(x, g.Scalar(3)), false))
		}, []float64{3, 3, 3, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{4})
			grads, err := autodiff.Grad(tc.loss(x), x)
			require.NoError(t, err)
			got := eval(t, g, nil, vm.Feeds{"x": feed([]int{4}, xs...)}, grads[0])[0]
			assert.Equal(t, tc.want, got, "Grad(%s) at %v", tc.name, xs)
		})
	}
}

func TestGradSeed(t *testing.T) {
	xs := []float64{1, -2, 0.5, 3}
	seed := []float64{0.25, 1, -2, 4}
	newGraph := func() (*graph.Graph, *graph.Node, *graph.Node) {
		g := graph.New(graph.Float64)
		x := g.Input("x", graph.Shape{2, 2})
		return g, x, nodes.Mul(x, x)
	}

	t.Run("non-scalar without a seed", func(t *testing.T) {
		g, x, y := newGraph()
		_, err := autodiff.Grad(y, x)
		assertRecorded(t, g, err, "mul", graph.ErrShape, `the output "mul" has shape [2,2]: Grad needs a scalar (reduce it, or pass Options.Seed)`)
	})
	t.Run("open shape without a seed", func(t *testing.T) {
		g := graph.New(graph.Float64)
		x := g.Input("x", graph.Shape{graph.Batch})
		_, err := autodiff.Grad(nodes.Square(x), x)
		assertRecorded(t, g, err, "square", graph.ErrShape, `the output "square" has shape [B]: Grad needs a scalar`)
	})
	t.Run("seed gives the VJP", func(t *testing.T) {
		g, x, y := newGraph()
		s := g.Constant(graph.Shape{2, 2}, seed...)
		grads, err := autodiff.GradWith(y, []*graph.Node{x}, autodiff.Options{Seed: s})
		require.NoError(t, err)
		got := eval(t, g, nil, vm.Feeds{"x": feed([]int{2, 2}, xs...)}, grads[0])[0]
		want := make([]float64, 4)
		for i := range want {
			want[i] = 2 * xs[i] * seed[i] // J = diag(2x)
		}
		near(t, got, want, gradTol, "GradWith(x∘x, seed)")
	})
	t.Run("seed fed at run time, open batch", func(t *testing.T) {
		g := graph.New(graph.Float64)
		x := g.Input("x", graph.Shape{graph.Batch, 2})
		s := g.Input("s", graph.Shape{graph.Batch, 2})
		grads, err := autodiff.GradWith(nodes.Tanh(x), []*graph.Node{x}, autodiff.Options{Seed: s})
		require.NoError(t, err)
		got := eval(t, g, nil, vm.Feeds{"x": feed([]int{2, 2}, xs...), "s": feed([]int{2, 2}, seed...)}, grads[0])[0]
		want := make([]float64, 4)
		for i := range want {
			h := math.Tanh(xs[i])
			want[i] = (1 - h*h) * seed[i]
		}
		near(t, got, want, gradTol, "GradWith(tanh(x), seed)")
	})
	t.Run("scalar with a seed", func(t *testing.T) {
		g, x, y := newGraph()
		grads, err := autodiff.GradWith(nodes.Sum(y, false), []*graph.Node{x}, autodiff.Options{Seed: g.Scalar(-3)})
		require.NoError(t, err)
		got := eval(t, g, nil, vm.Feeds{"x": feed([]int{2, 2}, xs...)}, grads[0])[0]
		near(t, got, []float64{-6, 12, -3, -18}, gradTol, "GradWith(Σx², seed −3)")
	})
	t.Run("one-element output counts as a scalar", func(t *testing.T) {
		g, x, y := newGraph()
		loss := nodes.Sum(y, true) // shape [1,1]
		grads, err := autodiff.Grad(loss, x)
		require.NoError(t, err)
		got := eval(t, g, nil, vm.Feeds{"x": feed([]int{2, 2}, xs...)}, grads[0])[0]
		near(t, got, []float64{2, -4, 1, 6}, gradTol, "Grad(Σx² keepdims)")
	})
	t.Run("seed of the wrong shape", func(t *testing.T) {
		for _, shape := range []graph.Shape{{4}, {2, 2, 1}, {}, {graph.Batch, 2}} {
			g, x, y := newGraph()
			s := g.Input("s", shape)
			_, err := autodiff.GradWith(y, []*graph.Node{x}, autodiff.Options{Seed: s})
			assertRecorded(t, g, err, y.Name(), graph.ErrShape, "the seed has shape "+shape.String()+", the output \""+y.Name()+"\" has [2,2]")
		}
	})
	t.Run("seed of another graph", func(t *testing.T) {
		g, x, y := newGraph()
		other := graph.New(graph.Float64)
		_, err := autodiff.GradWith(y, []*graph.Node{x}, autodiff.Options{Seed: other.Constant(graph.Shape{2, 2}, 1)})
		assertRecorded(t, g, err, y.Name(), graph.ErrForeign, "the seed \"constant\" belongs to another graph")
		assert.NoError(t, other.Err(), "the error is the output's graph's, not the seed's")
	})
}

// Grad refuses nil nodes and nodes of another graph. The error is recorded
// on the loss's graph (even for a wrt of another graph, whose own graph is
// left alone), except for a nil loss, which has no graph; a loss or wrt of a
// graph that already has an error gives that very error.
func TestGradBadArguments(t *testing.T) {
	// bad has an error: a poisoned node and a loss on it
	bad := graph.New(graph.Float64)
	bx := bad.Input("x", graph.Shape{3})
	bloss := nodes.Sum(nodes.Square(bx), false)
	poisoned := nodes.MatMul(bx, bx) // rank-1 operands: recorded on bad
	require.Error(t, bad.Err())
	require.True(t, poisoned.IsPoisoned())

	invalid := graph.New(graph.DType(0))
	ix := invalid.Input("x", graph.Shape{3})

	// a fresh loss Σx², and a graph other with a node foreign to it
	fresh := func() (g *graph.Graph, x, loss *graph.Node, other *graph.Graph, foreign *graph.Node) {
		g = graph.New(graph.Float64)
		x = g.Input("x", graph.Shape{3})
		other = graph.New(graph.Float64)
		return g, x, nodes.Sum(nodes.Square(x), false), other, other.Input("x", graph.Shape{3})
	}

	recorded := []struct {
		name string
		wrt  func(x, foreign *graph.Node) []*graph.Node
		kind error
		msg  string
	}{
		{"nil wrt", func(_, _ *graph.Node) []*graph.Node { return []*graph.Node{nil} }, graph.ErrNil,
			`graph: grad "sum/grad": wrt 0 is nil (inputs f64[], nil; at `},
		{"second wrt nil", func(x, _ *graph.Node) []*graph.Node { return []*graph.Node{x, nil} }, graph.ErrNil,
			`graph: grad "sum/grad": wrt 1 is nil (inputs f64[], nil; at `},
		{"wrt of another graph", func(_, f *graph.Node) []*graph.Node { return []*graph.Node{f} }, graph.ErrForeign,
			`graph: grad "sum/grad": wrt 0 ("x") belongs to another graph (inputs f64[], f64[3]; at `},
		{"poisoned wrt of another graph", func(_, _ *graph.Node) []*graph.Node { return []*graph.Node{poisoned} }, graph.ErrForeign,
			`graph: grad "sum/grad": wrt 0 ("<error>") belongs to another graph`},
	}
	for _, tc := range recorded {
		for _, allowUnused := range []bool{false, true} {
			t.Run(tc.name+"/AllowUnused="+strconv.FormatBool(allowUnused), func(t *testing.T) {
				g, x, loss, other, foreign := fresh()
				var err error
				require.NotPanics(t, func() {
					_, err = autodiff.GradWith(loss, tc.wrt(x, foreign), autodiff.Options{AllowUnused: allowUnused})
				})
				assertRecorded(t, g, err, "sum", tc.kind, "")
				assert.True(t, strings.HasPrefix(err.Error(), tc.msg), "error\n  %v\ndoes not start with\n  %s", err, tc.msg)
				assert.NoError(t, other.Err(), "the error is the loss's graph's, not the other graph's")
			})
		}
	}

	_, x, _, _, _ := fresh()
	earlier := []struct {
		name string
		y    *graph.Node
		wrt  []*graph.Node
		kind error
		msg  string
		err  error // when set, the error must be this very value
	}{
		{"nil loss", nil, []*graph.Node{x}, graph.ErrNil, "autodiff: nil output", nil},
		{"poisoned loss", poisoned, []*graph.Node{bx}, graph.ErrShape, "matmul", bad.Err()},
		{"loss of a graph with an error", bloss, []*graph.Node{bx}, graph.ErrShape, "matmul", bad.Err()},
		{"poisoned wrt", bloss, []*graph.Node{poisoned}, graph.ErrShape, "matmul", bad.Err()},
		{"graph of an invalid dtype", ix, []*graph.Node{ix}, graph.ErrDType, "unsupported dtype", invalid.Err()},
	}
	for _, tc := range earlier {
		t.Run(tc.name, func(t *testing.T) {
			for _, allowUnused := range []bool{false, true} {
				var err error
				require.NotPanics(t, func() {
					_, err = autodiff.GradWith(tc.y, tc.wrt, autodiff.Options{AllowUnused: allowUnused})
				})
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.kind)
				assert.Contains(t, err.Error(), tc.msg)
				if tc.err != nil {
					assert.True(t, err == tc.err, "Grad returned %v, want the graph's error %v", err, tc.err)
				}
			}
		})
	}
	assert.NoError(t, x.Graph().Err(), "a nil loss is recorded nowhere")

	// nothing to differentiate with respect to: no gradients, no error
	g, _, loss, _, _ := fresh()
	grads, err := autodiff.Grad(loss)
	assert.NoError(t, err)
	assert.Empty(t, grads)
	assert.NoError(t, g.Err())
}

// brokenOp is the identity with a gradient rule broken in one of several
// ways, to see how Grad reports a bug in a rule.
type brokenOp struct{ how string }

func (op brokenOp) Name() string { return "broken_" + op.how }
func (brokenOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if len(in) != 1 {
		return nil, graph.Errorf(graph.ErrArg, "one input, got %d", len(in))
	}
	return in[0], nil
}
func (brokenOp) Bind32(a *kernel.Args[float32]) func() { return func() { copy(a.Dst[0], a.Src[0]) } }
func (brokenOp) Bind64(a *kernel.Args[float64]) func() { return func() { copy(a.Dst[0], a.Src[0]) } }
func (op brokenOp) VJP(n, gy *graph.Node) []*graph.Node {
	g := n.Graph()
	switch op.how {
	case "builder": // a builder error inside the rule: shapes [3] and [2]
		return []*graph.Node{nodes.Add(gy, g.Constant(graph.Shape{2}, 1))}
	case "panic":
		panic("boom")
	case "count":
		return []*graph.Node{gy, gy}
	case "shape":
		return []*graph.Node{nodes.Sum(gy, false)}
	}
	return []*graph.Node{gy}
}

var (
	_ vm.Kernel            = brokenOp{}
	_ graph.Differentiable = brokenOp{}
)

// An error met while building gradient nodes is the graph's error: Grad
// returns it, and it stays (sticky) for Grad, Compile and Err alike.
func TestGradRuleErrorsAreSticky(t *testing.T) {
	tests := []struct {
		how  string
		kind error
		msg  string
	}{
		{"builder", graph.ErrShape, "do not broadcast"},
		{"panic", graph.ErrGradient, `gradient rule of broken_panic "broken_panic" failed: boom`},
		{"count", graph.ErrGradient, `gradient rule of broken_count "broken_count" gave 2 gradients for 1 inputs`},
		{"shape", graph.ErrGradient, `gradient rule of broken_shape "broken_shape" gave shape [] for input "x" of shape [3]`},
	}
	for _, tc := range tests {
		t.Run(tc.how, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{3})
			y := g.AddNode(brokenOp{tc.how}, "", x)
			loss := nodes.Sum(nodes.Tanh(y), false)
			require.NoError(t, g.Err())

			var err error
			require.NotPanics(t, func() { _, err = autodiff.Grad(loss, x) })
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.kind)
			assert.Contains(t, err.Error(), tc.msg)
			assert.True(t, err == g.Err(), "Grad returned %v, want the graph's error %v", err, g.Err())

			_, again := autodiff.Grad(loss, x)
			assert.True(t, again == err, "second Grad returned %v, want the sticky %v", again, err)
			_, cerr := compile.Compile(g, []*graph.Node{loss}, compile.Options{})
			assert.True(t, cerr == err, "Compile returned %v, want the sticky %v", cerr, err)
			assert.True(t, nodes.Exp(x).IsPoisoned(), "builders after the error return a poisoned node")
		})
	}
}

func TestGradScopes(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{2, 3})
	var w, h *graph.Node
	g.WithScope("dense", func() {
		w = g.Variable("kernel", graph.Shape{3, 2})
		h = nodes.Tanh(nodes.MatMul(x, w))
	})
	loss := nodes.Sum(nodes.Square(h), false)
	require.Equal(t, "dense/kernel", w.Name())

	grad := func(scope string) []*graph.Node {
		t.Helper()
		before := g.Len()
		grads, err := autodiff.Grad(loss, w, x)
		require.NoError(t, err)
		added := g.Nodes()[before:]
		require.NotEmpty(t, added)
		inDense := 0
		for _, n := range added {
			assert.True(t, strings.HasPrefix(n.Name(), scope+"/"), "gradient node %q is not under %q", n.Name(), scope)
			if strings.HasPrefix(n.Name(), scope+"/dense/") {
				inDense++
			}
		}
		assert.NotZero(t, inDense, "no gradient node under %s/dense/ for the ops of scope dense", scope)
		// ∂/∂w comes from the matmul of scope dense
		assert.True(t, strings.HasPrefix(grads[0].Name(), scope+"/dense/"), "Grad(w) is %q, want it under %s/dense/", grads[0].Name(), scope)
		return grads
	}
	first := grad("gradients")
	second := grad("gradients_1")

	// a third call from inside an open scope: the gradients still go under
	// a top-level "gradients_2", and the caller's scope is back afterwards
	g.PushScope("model")
	third := grad("gradients_2")
	assert.Equal(t, "model", g.Scope())
	assert.Equal(t, "model/exp", nodes.Exp(x).Name())
	g.PopScope()

	store := vm.NewStore()
	require.NoError(t, store.SetFloat64s("dense/kernel", graph.Shape{3, 2}, graph.Float64, []float64{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}))
	feeds := vm.Feeds{"x": feed([]int{2, 3}, 1, 2, 3, -1, 0.5, 0)}
	got := eval(t, g, store, feeds, first[0], first[1], second[0], second[1], third[0], third[1])
	assert.Equal(t, got[0], got[2], "the two calls give the same ∂/∂w")
	assert.Equal(t, got[0], got[4], "the three calls give the same ∂/∂w")
	assert.Equal(t, got[1], got[3], "the two calls give the same ∂/∂x")
}

// The VJP of a whole chain against a hand-written one through matmul and
// broadcasting: loss = Σ tanh(x·w + b), ∂/∂b_j = Σ_i (1 − h_ij²),
// ∂/∂w = xᵀ(1 − h²), ∂/∂x = (1 − h²)wᵀ.
func TestGradDense(t *testing.T) {
	xs := []float64{1, 2, 3, -1, 0.5, 0} // [2,3]
	ws := []float64{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}
	bs := []float64{0.05, -0.1}
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	w := g.Variable("w", graph.Shape{3, 2})
	b := g.Variable("b", graph.Shape{2})
	loss := nodes.Sum(nodes.Tanh(nodes.Add(nodes.MatMul(x, w), b)), false)
	grads, err := autodiff.Grad(loss, x, w, b)
	require.NoError(t, err)
	assert.Equal(t, graph.Shape{graph.Batch, 3}, grads[0].Shape())
	assert.Equal(t, graph.Shape{3, 2}, grads[1].Shape())
	assert.Equal(t, graph.Shape{2}, grads[2].Shape())

	store := vm.NewStore()
	require.NoError(t, store.SetFloat64s("w", graph.Shape{3, 2}, graph.Float64, ws))
	require.NoError(t, store.SetFloat64s("b", graph.Shape{2}, graph.Float64, bs))
	got := eval(t, g, store, vm.Feeds{"x": feed([]int{2, 3}, xs...)}, grads...)

	d := make([]float64, 4) // 1 − h², [2,2]
	for i := range 2 {
		for j := range 2 {
			z := bs[j]
			for k := range 3 {
				z += xs[i*3+k] * ws[k*2+j]
			}
			h := math.Tanh(z)
			d[i*2+j] = 1 - h*h
		}
	}
	gx := make([]float64, 6)
	gw := make([]float64, 6)
	gb := make([]float64, 2)
	for i := range 2 {
		for j := range 2 {
			gb[j] += d[i*2+j]
			for k := range 3 {
				gx[i*3+k] += d[i*2+j] * ws[k*2+j]
				gw[k*2+j] += xs[i*3+k] * d[i*2+j]
			}
		}
	}
	near(t, got[0], gx, gradTol, "Grad(x)")
	near(t, got[1], gw, gradTol, "Grad(w)")
	near(t, got[2], gb, gradTol, "Grad(b)")
}
