package autodiff_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// squareOp computes x² element-wise with a gradient rule that is wrong on
// purpose when off is not zero: the gradient 2x·gy gets off added at the
// flat index at, or at every element when at is negative.
type squareOp struct {
	at  int
	off float64
}

func (squareOp) Name() string { return "test_square" }
func (squareOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if len(in) != 1 {
		return nil, graph.Errorf(graph.ErrArg, "one input, got %d", len(in))
	}
	return in[0], nil
}
func (squareOp) Bind32(a *kernel.Args[float32]) func() { return bindSquare(a) }
func (squareOp) Bind64(a *kernel.Args[float64]) func() { return bindSquare(a) }

func bindSquare[T kernel.Float](a *kernel.Args[T]) func() {
	x, y := a.Src[0], a.Dst[0]
	return func() {
		for i, v := range x {
			y[i] = v * v
		}
	}
}

func (op squareOp) VJP(n, gy *graph.Node) []*graph.Node {
	x := n.Input(0)
	g := n.Graph()
	gx := nodes.Mul(nodes.Mul(x, g.Scalar(2)), gy)
	if op.off == 0 {
		return []*graph.Node{gx}
	}
	if op.at < 0 {
		return []*graph.Node{nodes.Add(gx, g.Scalar(op.off))}
	}
	e := make([]float64, x.Shape().Size())
	e[op.at] = op.off
	return []*graph.Node{nodes.Add(gx, g.Constant(x.Shape(), e...))}
}

var (
	_ vm.Kernel            = squareOp{}
	_ graph.Differentiable = squareOp{}
)

func square(x *graph.Node, op squareOp) *graph.Node { return x.Graph().AddNode(op, "", x) }

var wVals = []float64{0.5, -1, 2, 1.5, -0.25, 0.75} // w, [2,3]

// newSquareGraph builds loss = Σ sq(w) + Σ x·w with the given square op,
// a variable w and an input x, both [2,3]: ∂loss/∂w = 2w + x, ∂loss/∂x = w.
func newSquareGraph(t *testing.T, dt graph.DType, op squareOp) (*graph.Graph, *graph.Node, []*graph.Node, vm.Feeds, *vm.Store) {
	t.Helper()
	g := graph.New(dt)
	w := g.Variable("w", graph.Shape{2, 3})
	x := g.Input("x", graph.Shape{2, 3})
	loss := nodes.Add(nodes.Sum(square(w, op), false), nodes.Sum(nodes.Mul(x, w), false))
	require.NoError(t, g.Err())
	store := vm.NewStore()
	require.NoError(t, store.SetFloat64s("w", graph.Shape{2, 3}, dt, wVals))
	feeds := vm.Feeds{"x": testutil.Tensor(dt, []int{2, 3}, []float64{0.1, 0.2, -0.3, 1, -1, 0.5})}
	return g, loss, []*graph.Node{w, x}, feeds, store
}

func TestCheckCorrectGradient(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			g, loss, wrt, feeds, store := newSquareGraph(t, dt, squareOp{})
			rep, err := autodiff.Check(g, loss, wrt, feeds, store, autodiff.CheckOptions{})
			require.NoError(t, err)
			assert.Equal(t, 12, rep.Checked, "Check(...).Checked")
			require.Len(t, rep.PerWrt, 2)
			assert.Equal(t, "w", rep.PerWrt[0].Node)
			assert.Equal(t, "x", rep.PerWrt[1].Node)
			// the loss is quadratic in each element, so the central
			// difference is exact up to round-off: ε·|loss|/h ≈ 1e-10 in
			// float64 (h = 1e-6), ≈ 1e-5 in float32 (h = 1e-2, ε = 6e-8)
			limit := 1e-8
			if dt == graph.Float32 {
				limit = 1e-3
			}
			assert.Less(t, rep.Worst.Error, limit, "worst element %v", rep.Worst)
			assert.GreaterOrEqual(t, rep.Worst.Error, 0.0)
		})
	}
}

// A gradient rule wrong at one element: Check reports that element, with
// the analytic and numeric values, and returns an error naming it.
func TestCheckWrongGradient(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			// w[1 2] = 0.75, x[1 2] = 0.5: the right gradient is
			// 2·0.75 + 0.5 = 2, the rule says 2.5
			g, loss, wrt, feeds, store := newSquareGraph(t, dt, squareOp{at: 5, off: 0.5})
			rep, err := autodiff.Check(g, loss, wrt, feeds, store, autodiff.CheckOptions{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "autodiff: check: gradient mismatch above")
			assert.Contains(t, err.Error(), "w[1 2]: analytic 2.5")
			assert.Equal(t, "w", rep.Worst.Node)
			assert.Equal(t, []int{1, 2}, rep.Worst.Index)
			// the analytic value is computed by the (wrong) rule in dt;
			// the numeric one has the round-off of TestCheckCorrectGradient
			tol := 1e-8
			if dt == graph.Float32 {
				tol = 1e-3
			}
			assert.InDelta(t, 2.5, rep.Worst.Analytic, tol)
			assert.InDelta(t, 2, rep.Worst.Numeric, tol)
			assert.InDelta(t, 0.5/2.5, rep.Worst.Error, tol, "error = |2.5 − 2| / max(1, 2.5, 2)")
			assert.Equal(t, 12, rep.Checked)
			require.Len(t, rep.PerWrt, 2)
			assert.Equal(t, rep.Worst, rep.PerWrt[0])
			assert.Less(t, rep.PerWrt[1].Error, tol, "x's gradient is right: %v", rep.PerWrt[1])
		})
	}
}

// The tolerance decides: an error of 0.2 passes a tolerance of 0.25 and
// fails one of 0.15.
func TestCheckTolerance(t *testing.T) {
	for _, tc := range []struct {
		tol  float64
		fail bool
	}{{0.25, false}, {0.15, true}} {
		g, loss, wrt, feeds, store := newSquareGraph(t, graph.Float64, squareOp{at: 5, off: 0.5})
		rep, err := autodiff.Check(g, loss, wrt, feeds, store, autodiff.CheckOptions{Tol: tc.tol})
		assert.Equal(t, tc.fail, err != nil, "Check(Tol: %g) = %v with worst error %.3g", tc.tol, err, rep.Worst.Error)
	}
}

// A wrong gradient for an input is found in the perturbed copy of the feeds.
func TestCheckWrongInputGradient(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{3, 2})
	loss := nodes.Mean(square(x, squareOp{at: 2, off: -1}), false)
	feeds := vm.Feeds{"x": feed([]int{3, 2}, 1, 2, 3, 4, 5, 6)}
	rep, err := autodiff.Check(g, loss, []*graph.Node{x}, feeds, nil, autodiff.CheckOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x[1 0]")
	assert.Equal(t, []int{1, 0}, rep.Worst.Index, "Check(...).Worst.Index for flat index 2 of [3,2]")
	// ∂mean(x²)/∂x = 2x/6 = 1 at x = 3; the rule says 1 − 1 = 0
	assert.InDelta(t, 1, rep.Worst.Numeric, 1e-8)
	assert.InDelta(t, 0, rep.Worst.Analytic, 1e-12)
}

func TestCheckMaxElements(t *testing.T) {
	build := func() (*graph.Graph, *graph.Node, []*graph.Node, vm.Feeds, *vm.Store) {
		g := graph.New(graph.Float64)
		w := g.Variable("w", graph.Shape{10, 10})
		b := g.Variable("b", graph.Shape{3})
		loss := nodes.Add(nodes.Sum(square(w, squareOp{at: -1, off: 0.5}), false), nodes.Sum(nodes.Exp(b), false))
		store := vm.NewStore()
		require.NoError(t, store.Init(g, 3, initializers.RandomUniform{Minval: -1, Maxval: 1}))
		return g, loss, []*graph.Node{w, b}, nil, store
	}
	tests := []struct {
		max, checked int
	}{
		{0, 103},     // everything
		{7, 7 + 3},   // 7 of w, all 3 of b
		{100, 103},   // as many as there are
		{1000, 103},  // more than there are
		{1, 1 + 1},   // one of each
		{3, 3 + 3},   // b exactly
		{50, 50 + 3}, // half of w
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			g, loss, wrt, feeds, store := build()
			rep, err := autodiff.Check(g, loss, wrt, feeds, store, autodiff.CheckOptions{MaxElements: tc.max, Seed: 9})
			require.Error(t, err, "every element of w is wrong by 0.5")
			assert.Equal(t, tc.checked, rep.Checked, "Check(MaxElements: %d).Checked", tc.max)
			require.Len(t, rep.PerWrt, 2)
			assert.Equal(t, "w", rep.Worst.Node)
			assert.Len(t, rep.Worst.Index, 2)
			assert.Less(t, rep.PerWrt[1].Error, 1e-8, "b's gradient is right: %v", rep.PerWrt[1])
		})
	}

	// the sample is drawn from Seed: the same seed checks the same
	// elements, and different seeds spread over w
	worst := func(seed uint64) autodiff.Mismatch {
		g, loss, wrt, feeds, store := build()
		rep, _ := autodiff.Check(g, loss, wrt[:1], feeds, store, autodiff.CheckOptions{MaxElements: 1, Seed: seed})
		require.Equal(t, 1, rep.Checked)
		return rep.Worst
	}
	assert.Equal(t, worst(4), worst(4), "Check with MaxElements 1 and the same seed")
	seen := map[string]bool{}
	for seed := range uint64(20) {
		seen[fmt.Sprint(worst(seed).Index)] = true
	}
	assert.Greater(t, len(seen), 5, "20 seeds drew only the elements %v", seen)
}

// Check perturbs copies of the feeds and the store's values, and leaves
// both as they were, whether the check passes or fails.
func TestCheckRestores(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		for _, op := range []squareOp{{}, {at: 5, off: 0.5}} {
			t.Run(fmt.Sprintf("%v/off=%g", dt, op.off), func(t *testing.T) {
				g, loss, wrt, feeds, store := newSquareGraph(t, dt, op)
				x := feeds["x"]
				xData := slices.Clone(testutil.Float64s(x))
				wBefore, err := store.Float64s("w")
				require.NoError(t, err)

				_, err = autodiff.Check(g, loss, wrt, feeds, store, autodiff.CheckOptions{})
				assert.Equal(t, op.off != 0, err != nil, "Check(...) = %v", err)

				wAfter, err := store.Float64s("w")
				require.NoError(t, err)
				assert.Equal(t, wBefore, wAfter, "the store's w after Check")
				assert.Same(t, x, feeds["x"], "the feed map's tensor after Check")
				assert.Equal(t, xData, testutil.Float64s(x), "the fed x after Check")
				assert.Equal(t, []string{"w"}, store.Names(), "Check adds nothing to the store")

				// and a machine bound to the store sees the original values
				got := eval(t, g, store, feeds, loss)[0]
				assert.InDelta(t, lossOf(wVals, xData), got[0], 1e-5)
			})
		}
	}
}

// lossOf is Σ w² + Σ x·w, the loss of newSquareGraph.
func lossOf(w, x []float64) float64 {
	s := 0.0
	for i := range w {
		s += w[i]*w[i] + x[i]*w[i]
	}
	return s
}

// Check in float32 with its defaults passes a correct gradient through
// several ops and catches a wrong one.
func TestCheckFloat32(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	w := g.Variable("w", graph.Shape{3, 2})
	b := g.Variable("b", graph.Shape{2})
	loss := nodes.Mean(nodes.Square(nodes.Sigmoid(nodes.Add(nodes.MatMul(x, w), b))), false)
	store := vm.NewStore()
	require.NoError(t, store.Init(g, 1, initializers.GlorotUniform()))
	feeds := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{4, 3}, []float64{0.1, -0.5, 1, 2, 0.3, -1, 0, 0.7, 0.2, -0.4, 0.9, 1.5})}
	rep, err := autodiff.Check(g, loss, []*graph.Node{x, w, b}, feeds, store, autodiff.CheckOptions{})
	require.NoError(t, err, "worst %v", rep.Worst)
	assert.Equal(t, 12+6+2, rep.Checked)
	assert.Equal(t, tensor.Float32, feeds["x"].Dtype())

	g2, loss2, wrt2, feeds2, store2 := newSquareGraph(t, graph.Float32, squareOp{at: 0, off: 0.1})
	rep, err = autodiff.Check(g2, loss2, wrt2, feeds2, store2, autodiff.CheckOptions{})
	require.Error(t, err, "an error of 0.1/1.1 is above float32's default tolerance 1e-2")
	assert.Equal(t, []int{0, 0}, rep.Worst.Index)
}

// Check refuses what it cannot check. Its own refusals leave the graph
// usable; the arguments Grad refuses are recorded on the graph, as Grad
// records them.
func TestCheckErrors(t *testing.T) {
	type env struct {
		g                 *graph.Graph
		x, w, h, loss, ox *graph.Node
	}
	// a fresh graph for every case: loss = Σ tanh(x·w), and a node ox of
	// another graph
	newEnv := func() env {
		g := graph.New(graph.Float64)
		x := g.Input("x", graph.Shape{3})
		w := g.Variable("w", graph.Shape{3})
		h := nodes.Tanh(nodes.Mul(x, w))
		return env{g: g, x: x, w: w, h: h, loss: nodes.Sum(h, false), ox: graph.New(graph.Float64).Input("x", graph.Shape{3})}
	}
	store := vm.NewStore()
	require.NoError(t, store.SetFloat64s("w", graph.Shape{3}, graph.Float64, []float64{1, 2, 3}))
	feeds := vm.Feeds{"x": feed([]int{3}, 1, 2, 3)}
	wrtOf := func(n ...*graph.Node) []*graph.Node { return n }

	tests := []struct {
		name     string
		args     func(e env) (*graph.Graph, *graph.Node, []*graph.Node)
		feeds    vm.Feeds
		store    *vm.Store
		msg      string
		kind     error // when set, errors.Is(err, kind)
		recorded bool  // refused by Grad and recorded on the graph
	}{
		{"nil graph", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return nil, e.loss, wrtOf(e.x) },
			feeds, store, "the loss must be a node of the graph", nil, false},
		{"nil loss", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, nil, wrtOf(e.x) },
			feeds, store, "the loss must be a node of the graph", nil, false},
		{"loss of another graph", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.ox.Graph(), e.loss, wrtOf(e.x) },
			feeds, store, "the loss must be a node of the graph", nil, false},
		{"no wrt", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, e.loss, nil },
			feeds, store, "nothing to check", nil, false},
		{"nil wrt", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, e.loss, wrtOf(nil) },
			feeds, store, "wrt 0 is nil", graph.ErrNil, true},
		{"wrt of another graph", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, e.loss, wrtOf(e.ox) },
			feeds, store, "belongs to another graph", graph.ErrForeign, true},
		{"non-scalar loss", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, e.h, wrtOf(e.x) },
			feeds, store, "Grad needs a scalar", graph.ErrShape, true},
		{"intermediate wrt", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, e.loss, wrtOf(e.h) },
			feeds, store, `wrt "tanh" is a tanh: only inputs and variables can be perturbed`, nil, false},
		{"unused wrt", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, nodes.Sum(e.x, false), wrtOf(e.w) },
			feeds, store, `does not depend on "w"`, graph.ErrGradient, true},
		{"input not fed", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, e.loss, wrtOf(e.x) },
			vm.Feeds{}, store, `"x"`, vm.ErrFeed, false},
		{"variable not in the store", func(e env) (*graph.Graph, *graph.Node, []*graph.Node) { return e.g, e.loss, wrtOf(e.w) },
			feeds, nil, `variable "w" is not in the store`, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			g, loss, wrt := tc.args(e)
			var err error
			require.NotPanics(t, func() {
				_, err = autodiff.Check(g, loss, wrt, tc.feeds, tc.store, autodiff.CheckOptions{})
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			if tc.kind != nil {
				assert.ErrorIs(t, err, tc.kind)
			}
			if tc.recorded {
				assert.True(t, err == e.g.Err(), "Check returned %v, want the graph's error %v", err, e.g.Err())
			} else {
				assert.NoError(t, e.g.Err(), "Check's own refusals leave the graph usable")
			}
			assert.NoError(t, e.ox.Graph().Err(), "the other graph is left alone")
		})
	}
}

// A 20-layer tanh MLP, width 6, Glorot-initialized: the gradient of every
// variable passes the check in float64.
func TestCheckDeepTanhMLP(t *testing.T) {
	const depth, width, batch = 20, 6, 4
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, width})
	y := g.Input("y", graph.Shape{graph.Batch, width})
	h := x
	for range depth {
		g.WithScope(g.UniqueName("dense"), func() {
			w := g.Variable("kernel", graph.Shape{width, width})
			b := g.Variable("bias", graph.Shape{width}, graph.WithInit(initializers.RandomNormal{Mean: 0, Stddev: 0.1}))
			h = nodes.Tanh(nodes.Add(nodes.MatMul(h, w), b))
		})
	}
	loss := nodes.Mean(nodes.Square(nodes.Sub(h, y)), false)
	vars := g.Variables()
	require.Len(t, vars, 2*depth)
	assert.Equal(t, "dense_19/bias", vars[len(vars)-1].Name())

	store := vm.NewStore()
	require.NoError(t, store.Init(g, 42, initializers.GlorotUniform()))
	xs := make([]float64, batch*width)
	ys := make([]float64, batch*width)
	for i := range xs {
		xs[i] = math.Sin(float64(i))
		ys[i] = math.Cos(float64(3 * i))
	}
	feeds := vm.Feeds{"x": feed([]int{batch, width}, xs...), "y": feed([]int{batch, width}, ys...)}

	// the check means something only where the gradient does not vanish:
	// the first kernel's must be well above the tolerance
	grads, err := autodiff.Grad(loss, vars[0])
	require.NoError(t, err)
	g0 := eval(t, g, store, feeds, grads[0])[0]
	big := 0.0
	for _, v := range g0 {
		big = max(big, math.Abs(v))
	}
	assert.Greater(t, big, 1e-3, "largest |∂loss/∂dense/kernel|")

	const sample = 8
	rep, err := autodiff.Check(g, loss, vars, feeds, store, autodiff.CheckOptions{MaxElements: sample, Seed: 1})
	require.NoError(t, err, "worst %v", rep.Worst)
	assert.Equal(t, depth*(sample+width), rep.Checked, "8 of each kernel, every bias")
	require.Len(t, rep.PerWrt, 2*depth)
	for i, m := range rep.PerWrt {
		assert.Equal(t, vars[i].Name(), m.Node)
	}
}
