package compile_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Programs compiled from one graph share its variables through the store,
// whatever the batch size: a training step run at batch 32 updates the
// weights and the BN moving statistics, and the inference program, already
// run at batch sizes 1 and 7 (its folded kernel and bias hoisted and
// cached), then computes with the new values, as a fresh computation from
// the store does.
func TestBatchSizesShareVariables(t *testing.T) {
	const in, hidden, out, eps, lr = 5, 4, 2, 1e-3, 0.1
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, in})
	tgt := g.Input("t", graph.Shape{graph.Batch, out})
	w1 := g.Variable("w1", graph.Shape{in, hidden})
	gamma, beta := g.Variable("gamma", graph.Shape{hidden}), g.Variable("beta", graph.Shape{hidden})
	mean, variance := g.Variable("mean", graph.Shape{hidden}), g.Variable("var", graph.Shape{hidden})
	w2, b2 := g.Variable("w2", graph.Shape{hidden, out}), g.Variable("b2", graph.Shape{out})
	z := nodes.MatMul(x, w1)
	// training: batch statistics, SGD on every weight, moving statistics
	bn := nodes.BatchNormTrain(z, gamma, beta, nodes.BNOptions{Epsilon: eps})
	y := nodes.Add(nodes.MatMul(nodes.ELU(bn, 1), w2), b2)
	loss := nodes.Mean(nodes.Square(nodes.Sub(y, tgt)), false)
	params := []*graph.Node{w1, gamma, beta, w2, b2}
	grads, err := autodiff.Grad(loss, params...)
	require.NoError(t, err)
	step := []*graph.Node{loss}
	for i, p := range params {
		step = append(step, nodes.Assign(p, nodes.Sub(p, nodes.Mul(g.Scalar(lr), grads[i]))))
	}
	stats := nodes.BatchNormStats(bn)
	for _, mv := range [][2]*graph.Node{{mean, stats.Mean}, {variance, stats.MovingVariance}} {
		step = append(step, nodes.Assign(mv[0], nodes.Add(nodes.Mul(g.Scalar(0.9), mv[0]), nodes.Mul(g.Scalar(0.1), mv[1]))))
	}
	// inference: the moving statistics, folded into w1
	pred := nodes.Add(nodes.MatMul(nodes.ELU(nodes.BatchNormInfer(z, gamma, beta, mean, variance, eps), 1), w2), b2)
	require.NoError(t, g.Err())

	train, err := compile.Compile(g, step, compile.Options{})
	require.NoError(t, err)
	infer, err := compile.Compile(g, []*graph.Node{pred}, compile.Options{})
	require.NoError(t, err)
	require.Zero(t, kernelCounts(infer)["batch_norm_infer"], "BN not folded:\n%s", infer)

	rng := rand.New(rand.NewPCG(3, 4))
	normal := func(n int, mu, sd float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = mu + sd*rng.NormFloat64()
		}
		return v
	}
	st := vm.NewStore()
	for _, v := range []struct {
		name  string
		shape graph.Shape
		data  []float64
	}{
		{"w1", graph.Shape{in, hidden}, normal(in*hidden, 0, 0.5)},
		{"gamma", graph.Shape{hidden}, normal(hidden, 1, 0.2)},
		{"beta", graph.Shape{hidden}, normal(hidden, 0, 0.2)},
		{"mean", graph.Shape{hidden}, normal(hidden, 0, 0.5)},
		{"var", graph.Shape{hidden}, []float64{0.5, 1, 1.5, 2}},
		{"w2", graph.Shape{hidden, out}, normal(hidden*out, 0, 0.5)},
		{"b2", graph.Shape{out}, normal(out, 0, 0.2)},
	} {
		require.NoError(t, st.SetFloat64s(v.name, v.shape, graph.Float64, v.data))
	}
	get := func(name string) []float64 {
		v, err := st.Float64s(name)
		require.NoError(t, err)
		return v
	}
	// reference: the inference model computed from the store's values
	reference := func(xs []float64, rows int) []float64 {
		w1, ga, be, mu, va, w2, b2 := get("w1"), get("gamma"), get("beta"), get("mean"), get("var"), get("w2"), get("b2")
		res := make([]float64, rows*out)
		for r := 0; r < rows; r++ {
			a := make([]float64, hidden)
			for j := range a {
				s := 0.0
				for k := 0; k < in; k++ {
					s += xs[r*in+k] * w1[k*hidden+j]
				}
				h := ga[j]*(s-mu[j])/math.Sqrt(va[j]+eps) + be[j]
				if h < 0 {
					h = math.Expm1(h)
				}
				a[j] = h
			}
			for o := 0; o < out; o++ {
				s := b2[o]
				for j := range a {
					s += a[j] * w2[j*out+o]
				}
				res[r*out+o] = s
			}
		}
		return res
	}
	inputs := map[int][]float64{1: normal(in, 0, 1), 7: normal(7*in, 0, 1)}
	mi := vm.NewMachine(infer, st)
	predict := func(m *vm.Machine, rows int) []float64 {
		res, err := m.Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{rows, in}, inputs[rows])})
		require.NoError(t, err)
		return testutil.Float64s(res[0])
	}
	near := func(what string, got, want []float64) {
		t.Helper()
		require.Len(t, got, len(want), what)
		for i := range want {
			if d := math.Abs(got[i] - want[i]); !(d <= 1e-12*math.Max(1, math.Abs(want[i]))) {
				t.Errorf("%s [%d]: got %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	before := map[int][]float64{}
	for _, rows := range []int{1, 7} {
		before[rows] = predict(mi, rows)
		near(fmt.Sprintf("before training, batch %d", rows), before[rows], reference(inputs[rows], rows))
	}

	old := map[string][]float64{}
	for _, name := range []string{"w1", "gamma", "beta", "mean", "var", "w2", "b2"} {
		old[name] = get(name)
	}
	mt := vm.NewMachine(train, st)
	_, err = mt.Run(vm.Feeds{
		"x": testutil.Tensor(graph.Float64, []int{32, in}, normal(32*in, 0, 1)),
		"t": testutil.Tensor(graph.Float64, []int{32, out}, normal(32*out, 0, 1)),
	})
	require.NoError(t, err)
	for name, v := range old {
		assert.NotEqual(t, v, get(name), "the training step at batch 32 did not update %s", name)
	}

	fresh := vm.NewMachine(infer, st)
	for _, rows := range []int{1, 7} {
		what := fmt.Sprintf("after training, batch %d", rows)
		got := predict(mi, rows)
		near(what, got, reference(inputs[rows], rows))
		assert.NotEqual(t, before[rows], got, "%s: the prediction did not change", what)
		assert.Equal(t, predict(fresh, rows), got, "%s: a machine that ran before training and a new one differ", what)
	}
}
