package nodes_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

func TestOneHotForward(t *testing.T) {
	oh := func(depth int) func(in []*graph.Node) *graph.Node {
		return func(in []*graph.Node) *graph.Node { return nodes.OneHot(in[0], depth) }
	}
	coreForward(t, "OneHot", []coreCase{
		{"vector", []testutil.Value{coreVal("labels", []int{3}, 0, 2, 1)}, oh(3), []int{3, 3},
			[]float64{1, 0, 0, 0, 0, 1, 0, 1, 0}},
		{"matrix", []testutil.Value{coreVal("labels", []int{2, 2}, 3, 0, 1, 1)}, oh(4), []int{2, 2, 4},
			[]float64{0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0}},
		{"scalar", []testutil.Value{coreVal("labels", []int{}, 2)}, oh(5), []int{5}, []float64{0, 0, 1, 0, 0}},
		{"depth-1", []testutil.Value{coreVal("labels", []int{2}, 0, 0)}, oh(1), []int{2, 1}, []float64{1, 1}},
		// −0 is the integer 0
		{"negative-zero", []testutil.Value{coreVal("labels", []int{1}, math.Copysign(0, -1))}, oh(2), []int{1, 2}, []float64{1, 0}},
	})
}

// TestOneHotBadLabels: a label that is not an integer in [0, depth) is an
// error from Run naming the node, its output shape and the label, not a
// panic; the machine runs again afterwards with good labels.
func TestOneHotBadLabels(t *testing.T) {
	tests := []struct {
		labels []float64
		want   string
	}{
		{[]float64{0, 3, 1}, "one_hot: label 3 at index 1 is not an integer in [0, 3)"},
		{[]float64{-1, 0, 1}, "one_hot: label -1 at index 0 is not an integer in [0, 3)"},
		{[]float64{0, 1, 1.5}, "one_hot: label 1.5 at index 2 is not an integer in [0, 3)"},
		{[]float64{math.NaN(), 0, 1}, "one_hot: label NaN at index 0 is not an integer in [0, 3)"},
		{[]float64{0, math.Inf(1), 1}, "one_hot: label +Inf at index 1 is not an integer in [0, 3)"},
		{[]float64{1e30, 0, 1}, "one_hot: label 1e+30 at index 0 is not an integer in [0, 3)"},
	}
	for _, dt := range coreDTypes {
		g := graph.New(dt)
		labels := g.Input("labels", graph.Shape{coreB})
		y := nodes.OneHot(labels, 3)
		require.NoError(t, g.Err())
		assert.Equal(t, graph.Shape{coreB, 3}, y.Shape())
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		require.NoError(t, err)
		m := vm.NewMachine(p, vm.NewStore())
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%v/%v", tc.labels, dt), func(t *testing.T) {
				var res []*tensor.Dense
				var err error
				require.NotPanics(t, func() {
					res, err = m.Run(vm.Feeds{"labels": testutil.Tensor(dt, []int{len(tc.labels)}, tc.labels)})
				})
				require.Error(t, err, "OneHot(%v, 3) ran without error", tc.labels)
				assert.Nil(t, res, "a failed run returns no values")
				assert.Equal(t, fmt.Sprintf(`vm: node "one_hot" (output %v[%d,3]): %s`, dt, len(tc.labels), tc.want), err.Error())

				// the status is cleared: good labels run fine afterwards
				res, err = m.Run(vm.Feeds{"labels": testutil.Tensor(dt, []int{2}, []float64{2, 0})})
				require.NoError(t, err)
				assert.Equal(t, []float64{0, 0, 1, 1, 0, 0}, testutil.Float64s(res[0]))
			})
		}
	}
}

// TestOneHotBadLabelsWhich: with two one_hot nodes in a program, the
// run-time error names the one whose labels are bad, with its output
// shape, with and without the guard; when both are bad, the first in
// program order.
func TestOneHotBadLabelsWhich(t *testing.T) {
	g := graph.New(graph.Float64)
	a, b := g.Input("a", graph.Shape{coreB}), g.Input("b", graph.Shape{coreB})
	var ya, yb *graph.Node
	g.WithScope("targets", func() { ya = nodes.OneHot(a, 3) })
	g.WithScope("tokens", func() { yb = nodes.OneHot(b, 5) })
	require.NoError(t, g.Err())
	p, err := compile.Compile(g, []*graph.Node{ya, yb}, compile.Options{})
	require.NoError(t, err)
	feed := func(v ...float64) *tensor.Dense { return testutil.Tensor(graph.Float64, []int{len(v)}, v) }
	const (
		badA = `vm: node "targets/one_hot" (output f64[2,3]): one_hot: label 3 at index 1 is not an integer in [0, 3)`
		badB = `vm: node "tokens/one_hot" (output f64[2,5]): one_hot: label 7 at index 0 is not an integer in [0, 5)`
	)
	for _, guard := range []bool{false, true} {
		m := vm.NewMachine(p, vm.NewStore())
		m.SetGuard(guard)
		for _, tc := range []struct {
			name string
			a, b *tensor.Dense
			want string
		}{
			{"a bad", feed(0, 3), feed(4, 4), badA},
			{"b bad", feed(0, 2), feed(7, 4), badB},
			{"both bad", feed(0, 3), feed(7, 4), badA},
		} {
			_, err := m.Run(vm.Feeds{"a": tc.a, "b": tc.b})
			if assert.Error(t, err, "%s (guard %v)", tc.name, guard) {
				assert.Equal(t, tc.want, err.Error(), "%s (guard %v)", tc.name, guard)
			}
		}
		res, err := m.Run(vm.Feeds{"a": feed(2, 0), "b": feed(4, 1)})
		require.NoError(t, err, "good labels after bad ones (guard %v)", guard)
		assert.Equal(t, []float64{0, 0, 1, 1, 0, 0}, testutil.Float64s(res[0]))
		assert.Equal(t, []float64{0, 0, 0, 0, 1, 0, 1, 0, 0, 0}, testutil.Float64s(res[1]))
	}
}

func TestOneHotArgs(t *testing.T) {
	for _, depth := range []int{0, -3} {
		g := graph.New(graph.Float32)
		var y *graph.Node
		require.NotPanics(t, func() { y = nodes.OneHot(g.Input("labels", graph.Shape{4}), depth) })
		assert.True(t, y.IsPoisoned())
		coreErrPrefix(t, g.Err(), graph.ErrArg, fmt.Sprintf(`graph: one_hot "one_hot": depth %d: want at least 1 (inputs f32[4]; at onehot_test.go:`, depth))
	}
	assert.Nil(t, nodes.OneHot(nil, 3), "OneHot(nil) has no graph: want nil")
	assert.Nil(t, nodes.OneHot(nil, 0), "OneHot(nil, 0) has no graph: want nil")
}

// TestOneHotNoGradient: the labels get no gradient, with a reason; a loss
// that uses the encoding as a constant still differentiates w.r.t. the
// logits.
func TestOneHotNoGradient(t *testing.T) {
	g := graph.New(graph.Float64)
	labels := g.Input("labels", graph.Shape{coreB})
	logits := g.Input("logits", graph.Shape{coreB, 3})
	y := nodes.Sum(nodes.Mul(nodes.OneHot(labels, 3), logits), false)
	_, err := autodiff.Grad(y, labels)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "one_hot takes integer class labels")

	// ∂/∂logits Σ onehot⊙logits = onehot
	_, grads, err := testutil.RunVJP(graph.Float64,
		[]testutil.Value{coreVal("labels", []int{2}, 2, 0), coreVal("logits", []int{2, 3}, 1, 2, 3, 4, 5, 6)}, []float64{1},
		func(_ *graph.Graph, in []*graph.Node) *graph.Node {
			return nodes.Sum(nodes.Mul(nodes.OneHot(in[0], 3), in[1]), false)
		})
	require.NoError(t, err)
	coreExpect(t, "∇logits Σ OneHot([2 0], 3)⊙logits", graph.Float64, grads[1], []int{2, 3}, []float64{0, 0, 1, 1, 0, 0})
}
