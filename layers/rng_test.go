package layers_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// The step counter is one scalar non-trainable variable per graph,
// zero-initialized, advanced once per graph in training whatever the number
// of contexts and random layers, and not advanced at inference.
func TestRNGCounter(t *testing.T) {
	g := graph.New(graph.Float32)
	ctx := &layers.Context{Graph: g, Mode: layers.Training}
	var c *graph.Node
	g.WithScope("dense", func() { c = ctx.RNGCounter() }) // the layer's scope does not matter
	require.NoError(t, g.Err())
	assert.Equal(t, layers.RNGCounterName, c.Name())
	op, ok := c.Op().(graph.VariableOp)
	require.True(t, ok)
	assert.False(t, op.Trainable)
	assert.Equal(t, graph.Shape{}, op.Shape)
	assert.Same(t, c, ctx.RNGCounter())
	require.Len(t, ctx.Updates, 1)
	u := ctx.Updates[0]
	assert.True(t, nodes.IsAssign(u.Op()))
	assert.Same(t, c, u.Input(0))
	assert.Equal(t, "next_count", u.Input(1).Op().Name())

	// a second context on the same graph finds the counter and its update
	ctx2 := &layers.Context{Graph: g, Mode: layers.Training}
	assert.Same(t, c, ctx2.RNGCounter())
	assert.Empty(t, ctx2.Updates)

	store := vm.NewStore()
	store2 := vm.NewStore()
	require.NoError(t, store.Init(g, 1, nil))
	require.NoError(t, store2.Init(g, 2, nil))
	v, err := store.Float64s(layers.RNGCounterName)
	require.NoError(t, err)
	assert.Equal(t, []float64{0}, v, "zero-initialized")

	// inference: the counter, no update
	gi := graph.New(graph.Float32)
	ci := &layers.Context{Graph: gi, Mode: layers.Inference}
	ci.RNGCounter()
	require.NoError(t, gi.Err())
	assert.Empty(t, ci.Updates)

	// a node of that name that is not a scalar variable is an error
	gb := graph.New(graph.Float32)
	gb.WithScope("rng", func() { gb.Variable("counter", graph.Shape{2}) })
	bad := &layers.Context{Graph: gb, Mode: layers.Training}
	assert.True(t, bad.RNGCounter().IsPoisoned())
	require.Error(t, gb.Err())
	assert.True(t, errors.Is(gb.Err(), graph.ErrArg))
	assert.Contains(t, gb.Err().Error(), `"rng/counter" is a variable of shape [2], not the scalar step counter`)
}

// copyStore returns a new store with a copy of every variable of s: what a
// checkpoint saved and restored holds.
func copyStore(t *testing.T, s *vm.Store) *vm.Store {
	t.Helper()
	out := vm.NewStore()
	for _, name := range s.Names() {
		v, err := s.Get(name)
		require.NoError(t, err)
		require.NoError(t, out.Set(name, v))
	}
	return out
}

// A run resumed from a copy of the store taken after step 1 (a new
// program, a new machine, the state restored) computes bit for bit what
// the uninterrupted run computes at steps 2 and 3: RReLU's slopes and the
// dropout masks follow the restored step counter.
func TestResumeBitIdentical(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			model := func() *layers.Sequential {
				m := layers.NewSequential(layers.Input(12),
					layers.Dense(32, layers.DenseOptions{}),
					layers.RReLU(layers.RReLUOptions{}),
					layers.BatchNormalization(layers.BNOptions{}),
					layers.Dropout(0.4, layers.DropoutOptions{}),
					layers.Dense(8, layers.DenseOptions{Activation: "selu"}),
					layers.AlphaDropout(0.1, layers.DropoutOptions{}),
				)
				m.Seed(17)
				return m
			}
			x := randValue(9, 64, 12)
			train := layers.EmitOptions{Mode: layers.Training}
			store := vm.NewStore()
			run := stepRunner(t, model(), dt, train, store, x)
			y1, _ := run()
			saved := copyStore(t, store)
			y2, _ := run()
			y3, _ := run()
			assert.NotEqual(t, y1, y2, "fresh draws each step")

			resumed := stepRunner(t, model(), dt, train, saved, x)
			r2, _ := resumed()
			r3, _ := resumed()
			assert.Equal(t, y2, r2, "step 2 resumed")
			assert.Equal(t, y3, r3, "step 3 resumed")
			assert.Equal(t, storeSnapshot(t, store), storeSnapshot(t, saved), "the state after step 3")
		})
	}
}

func storeSnapshot(t *testing.T, s *vm.Store) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, name := range s.Names() {
		v, err := s.Float64s(name)
		require.NoError(t, err)
		out[name] = v
	}
	return out
}
