package nodes_test

import (
	"math"
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

func TestArgMaxForward(t *testing.T) {
	am := func(in []*graph.Node) *graph.Node { return nodes.ArgMax(in[0]) }
	nan, inf := math.NaN(), math.Inf(1)
	coreForward(t, "ArgMax", []coreCase{
		{"rows", []testutil.Value{coreVal("x", []int{3, 3}, 1, 5, 2, -1, -3, -2, 0, 0, 7)}, am, []int{3}, []float64{1, 0, 2}},
		// ties: the first index wins (numpy)
		{"ties", []testutil.Value{coreVal("x", []int{2, 4}, 3, 1, 3, 3, 2, 2, 2, 2)}, am, []int{2}, []float64{0, 0}},
		// NaN counts as the largest value: the first NaN wins (numpy)
		{"nan", []testutil.Value{coreVal("x", []int{3, 3}, 1, nan, 5, nan, 9, nan, 1, inf, nan)}, am, []int{3}, []float64{1, 0, 2}},
		// infinities are ordinary values
		{"inf", []testutil.Value{coreVal("x", []int{2, 3}, -inf, -inf, -inf, 0, inf, 1)}, am, []int{2}, []float64{0, 1}},
		// rank 1: a scalar index
		{"rank1", []testutil.Value{coreVal("x", []int{5}, 0, -1, 4, 4, 3)}, am, []int{}, []float64{2}},
		// rank 3: [2,2,3] → [2,2]
		{"rank3", []testutil.Value{coreVal("x", []int{2, 2, 3}, 0, 0, 1, 1, 0, 0, 0, 1, 0, 9, 8, 9)}, am, []int{2, 2}, []float64{2, 0, 1, 0}},
		// one column: always 0
		{"single", []testutil.Value{coreVal("x", []int{3, 1}, 5, nan, -inf)}, am, []int{3}, []float64{0, 0, 0}},
	})
}

// TestArgMaxLarge: indices beyond the first few and rows enough to split
// over the worker pool.
func TestArgMaxLarge(t *testing.T) {
	const rows, cols = 300, 1000
	x := make([]float64, rows*cols)
	want := make([]float64, rows)
	for r := range rows {
		k := (r * 7919) % cols
		x[r*cols+k] = 1
		want[r] = float64(k)
	}
	for _, dt := range coreDTypes {
		out, err := testutil.Run(dt, []testutil.Value{coreVal("x", []int{rows, cols}, x...)},
			func(_ *graph.Graph, in []*graph.Node) []*graph.Node { return []*graph.Node{nodes.ArgMax(in[0])} })
		require.NoError(t, err)
		coreExpect(t, "ArgMax(one-hot rows)", dt, out[0], []int{rows}, want)
	}
}

func TestArgMaxErrors(t *testing.T) {
	for _, tc := range []struct {
		shape graph.Shape
		want  string
	}{
		{graph.Shape{}, `graph: argmax "argmax": argmax needs an input of rank 1 or more (it works along the last axis), got a scalar (inputs f32[]; at argmax_test.go:`},
		{graph.Shape{3, 0}, `graph: argmax "argmax": argmax of [3,0]: the last axis is empty (inputs f32[3,0]; at argmax_test.go:`},
	} {
		g := graph.New(graph.Float32)
		var y *graph.Node
		require.NotPanics(t, func() { y = nodes.ArgMax(g.Input("x", tc.shape)) })
		assert.True(t, y.IsPoisoned(), "ArgMax(%v) = %v, want a poisoned node", tc.shape, y)
		coreErrPrefix(t, g.Err(), graph.ErrShape, tc.want)
	}
	assert.Nil(t, nodes.ArgMax(nil), "ArgMax(nil) has no graph: want nil")
}

// TestArgMaxOpenBatch: ArgMax of a [B] vector is a scalar; an empty batch
// is a run-time error, not a panic, and the machine runs again afterwards.
func TestArgMaxOpenBatch(t *testing.T) {
	g := graph.New(graph.Float64)
	y := nodes.ArgMax(g.Input("x", graph.Shape{coreB}))
	require.NoError(t, g.Err())
	assert.Equal(t, graph.Shape{}, y.Shape())
	p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
	require.NoError(t, err)
	m := vm.NewMachine(p, vm.NewStore())
	empty, err := vm.FromSlice([]float64{}, 0)
	require.NoError(t, err)
	require.NotPanics(t, func() { _, err = m.Exec(vm.Feeds{"x": empty}) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "argmax of [0]: the last axis is empty")
	res, err := m.Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{3}, []float64{1, 3, 2})})
	require.NoError(t, err)
	assert.Equal(t, []float64{1}, testutil.Float64s(res[0]))
}

// TestArgMaxNoGradient: autodiff refuses a path through ArgMax and quotes
// the reason.
func TestArgMaxNoGradient(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{coreB, 3})
	_, err := autodiff.Grad(nodes.Sum(nodes.ArgMax(x), false), x)
	require.Error(t, err)
	assert.ErrorIs(t, err, graph.ErrGradient)
	assert.Contains(t, err.Error(), "argmax returns indices")
}
