package autodiff_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Learning smoke tests: nothing but graph ops, Grad, the compiler and the
// VM. Each training step is one program whose gradient-descent updates are
// nodes.Assign nodes (run after everything else, so the fetched loss is the
// one before the step).

// sgdStep adds w ← w − lr·∂loss/∂w for every variable and returns the
// assignments.
func sgdStep(t *testing.T, loss *graph.Node, lr float64, vars ...*graph.Node) []*graph.Node {
	t.Helper()
	grads, err := autodiff.Grad(loss, vars...)
	require.NoError(t, err)
	g := loss.Graph()
	rate := g.Scalar(lr)
	steps := make([]*graph.Node, len(vars))
	for i, v := range vars {
		steps[i] = nodes.Assign(v, nodes.Sub(v, nodes.Mul(rate, grads[i])))
	}
	require.NoError(t, g.Err())
	return steps
}

// Linear regression y = X·w + b + noise recovers the least-squares
// coefficients, computed independently with gonum, and those are close to
// the true ones.
func TestLearnLinearRegression(t *testing.T) {
	const n, p = 64, 3
	wTrue := []float64{2, -3, 0.5}
	const bTrue, noise = 1.5, 0.01

	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, n*p)
	ys := make([]float64, n)
	for i := range n {
		ys[i] = bTrue + noise*rng.NormFloat64()
		for j := range p {
			xs[i*p+j] = 2*rng.Float64() - 1
			ys[i] += xs[i*p+j] * wTrue[j]
		}
	}

	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, p})
	y := g.Input("y", graph.Shape{graph.Batch, 1})
	w := g.Variable("w", graph.Shape{p, 1})
	b := g.Variable("b", graph.Shape{1})
	loss := nodes.Mean(nodes.Square(nodes.Sub(nodes.Add(nodes.MatMul(x, w), b), y)), false)
	steps := sgdStep(t, loss, 0.5, w, b)
	prog, err := compile.Compile(g, append([]*graph.Node{loss}, steps...), compile.Options{})
	require.NoError(t, err)

	store := vm.NewStore()
	require.NoError(t, store.Init(g, 7, initializers.Zeros{}))
	m := vm.NewMachine(prog, store)
	feeds := vm.Feeds{"x": feed([]int{n, p}, xs...), "y": feed([]int{n, 1}, ys...)}
	// X entries are uniform on [−1, 1], so the Hessian of the loss is about
	// 2·diag(1/3, 1/3, 1/3, 1): with a rate of 0.5 each step multiplies the
	// error by |1 − 0.5·λ| ≲ 0.67, and 200 steps reach round-off
	var first, last float64
	for step := range 200 {
		r, err := m.Exec(feeds)
		require.NoError(t, err)
		last = r.At(0).Float64s()[0]
		if step == 0 {
			first = last
		}
	}
	gotW, err := store.Float64s("w")
	require.NoError(t, err)
	gotB, err := store.Float64s("b")
	require.NoError(t, err)

	// the least-squares solution of [X 1]·β = y
	a := mat.NewDense(n, p+1, nil)
	for i := range n {
		for j := range p {
			a.Set(i, j, xs[i*p+j])
		}
		a.Set(i, p, 1)
	}
	var beta mat.VecDense
	require.NoError(t, beta.SolveVec(a, mat.NewVecDense(n, ys)))
	ols := beta.RawVector().Data

	// gradient descent converges to the least-squares solution (to 1e-9,
	// far inside what 200 contracting steps reach) ...
	near(t, append(gotW, gotB...), ols, 1e-9, "w, b after gradient descent")
	// ... which is the truth up to the noise: σ/√n ≈ 1.3e-3 per coefficient,
	// 0.01 is more than seven of those
	near(t, ols, append(wTrue, bTrue), 0.01, "least-squares w, b")
	// the loss falls from Σy²/n to the noise variance σ²(1 − (p+1)/n)
	assert.Greater(t, first, 1.0, "loss before training")
	assert.Less(t, last, 2*noise*noise, "loss after training")
}

// A 2-4-1 tanh/sigmoid network learns XOR with full-batch gradient descent
// on the cross-entropy from a seeded Glorot initialization.
func TestLearnXOR(t *testing.T) {
	xs := []float64{0, 0, 0, 1, 1, 0, 1, 1}
	ys := []float64{0, 1, 1, 0}

	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	y := g.Input("y", graph.Shape{graph.Batch, 1})
	w1 := g.Variable("w1", graph.Shape{2, 4})
	b1 := g.Variable("b1", graph.Shape{4}, graph.WithInit(initializers.Zeros{}))
	w2 := g.Variable("w2", graph.Shape{4, 1})
	b2 := g.Variable("b2", graph.Shape{1}, graph.WithInit(initializers.Zeros{}))
	h := nodes.Tanh(nodes.Add(nodes.MatMul(x, w1), b1))
	p := nodes.Sigmoid(nodes.Add(nodes.MatMul(h, w2), b2))
	// binary cross-entropy −mean(y·log p + (1 − y)·log(1 − p))
	one := g.Scalar(1)
	ll := nodes.Add(nodes.Mul(y, nodes.Log(p)), nodes.Mul(nodes.Sub(one, y), nodes.Log(nodes.Sub(one, p))))
	loss := nodes.Neg(nodes.Mean(ll, false))
	steps := sgdStep(t, loss, 1, w1, b1, w2, b2)
	train, err := compile.Compile(g, append([]*graph.Node{loss}, steps...), compile.Options{})
	require.NoError(t, err)
	predict, err := compile.Compile(g, []*graph.Node{p}, compile.Options{})
	require.NoError(t, err)

	store := vm.NewStore()
	require.NoError(t, store.Init(g, 42, initializers.GlorotUniform()))
	feeds := vm.Feeds{"x": feed([]int{4, 2}, xs...), "y": feed([]int{4, 1}, ys...)}
	m := vm.NewMachine(train, store)
	var first, last float64
	for step := range 2000 {
		r, err := m.Exec(feeds)
		require.NoError(t, err)
		last = r.At(0).Float64s()[0]
		if step == 0 {
			first = last
		}
	}
	out, err := vm.NewMachine(predict, store).Run(vm.Feeds{"x": feeds["x"]})
	require.NoError(t, err)
	pred := out[0].Float64s()
	for i, want := range ys {
		if (pred[i] > 0.5) != (want == 1) {
			t.Errorf("XOR(%v, %v) = %.3f, want %v", xs[2*i], xs[2*i+1], pred[i], want)
		}
	}
	// log 2 ≈ 0.69 is the loss of a constant guess of 1/2
	assert.Greater(t, first, 0.5, "loss before training")
	assert.Less(t, last, 0.1, "loss after training")
	assert.False(t, math.IsNaN(last))
}
