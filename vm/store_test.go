package vm_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

func TestStoreSetGet(t *testing.T) {
	s := vm.NewStore()
	src := f32([]int{2, 2}, 1, 2, 3, 4)
	require.NoError(t, s.Set("w", src))
	// Set copies: changing the source afterwards leaves the store alone
	float32s(t, src)[0] = 100
	got, err := s.Get("w")
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3, 4}, float32s(t, got))
	assert.Equal(t, tensor.Shape{2, 2}, got.Shape())
	// Get copies: changing the result leaves the store alone
	float32s(t, got)[1] = 200
	again, err := s.Get("w")
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3, 4}, float32s(t, again))

	// overwrite in place with the same shape and dtype
	require.NoError(t, s.Set("w", f32([]int{2, 2}, 5, 6, 7, 8)))
	f, err := s.Float64s("w")
	require.NoError(t, err)
	assert.Equal(t, []float64{5, 6, 7, 8}, f)

	shape, dt, ok := s.Shape("w")
	assert.True(t, ok)
	assert.Equal(t, graph.Shape{2, 2}, shape)
	assert.Equal(t, graph.Float32, dt)
	assert.True(t, s.Has("w"))
	assert.False(t, s.Has("v"))
	_, _, ok = s.Shape("v")
	assert.False(t, ok)
}

func TestStoreSetErrors(t *testing.T) {
	s := vm.NewStore()
	require.NoError(t, s.Set("w", f32([]int{2, 2}, 1, 2, 3, 4)))
	tests := []struct {
		name string
		set  func() error
	}{
		{"other shape", func() error { return s.Set("w", f32([]int{4}, 1, 2, 3, 4)) }},
		{"other dtype", func() error {
			return s.Set("w", tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4})))
		}},
		{"nil tensor", func() error { return s.Set("v", nil) }},
		{"int tensor", func() error { return s.Set("v", tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2}))) }},
		{"empty name", func() error { return s.Set("", f32([]int{1}, 1)) }},
		{"SetFloat64s count", func() error { return s.SetFloat64s("v", graph.Shape{3}, graph.Float32, []float64{1, 2}) }},
		{"SetFloat64s open shape", func() error { return s.SetFloat64s("v", graph.Shape{graph.Batch, 2}, graph.Float32, []float64{1, 2}) }},
		{"SetFloat64s dtype", func() error { return s.SetFloat64s("v", graph.Shape{1}, graph.DType(9), []float64{1}) }},
		{"SetFloat64s other shape", func() error { return s.SetFloat64s("w", graph.Shape{1, 4}, graph.Float32, []float64{1, 2, 3, 4}) }},
	}
	for _, tc := range tests {
		if err := tc.set(); err == nil {
			t.Errorf("%s: Set = nil error, want one", tc.name)
		}
	}
	// the failed calls changed nothing
	assert.Equal(t, []string{"w"}, s.Names())
	f, err := s.Float64s("w")
	require.NoError(t, err)
	assert.Equal(t, []float64{1, 2, 3, 4}, f)
	_, err = s.Get("nope")
	assert.Error(t, err)
	_, err = s.Float64s("nope")
	assert.Error(t, err)
}

func TestStoreSetFloat64s(t *testing.T) {
	s := vm.NewStore()
	vals := []float64{0.1, -2.5, 1e-40, 3}
	require.NoError(t, s.SetFloat64s("a", graph.Shape{2, 2}, graph.Float32, vals))
	require.NoError(t, s.SetFloat64s("b", graph.Shape{4}, graph.Float64, vals))
	a, err := s.Get("a")
	require.NoError(t, err)
	for i, v := range vals {
		if got := float32s(t, a)[i]; got != float32(v) {
			t.Errorf("SetFloat64s f32: element %d = %v, want float32(%v) = %v", i, got, v, float32(v))
		}
	}
	b, err := s.Get("b")
	require.NoError(t, err)
	assert.Equal(t, vals, b.Data())
	vals[0] = 99 // SetFloat64s copied
	b, err = s.Get("b")
	require.NoError(t, err)
	assert.Equal(t, 0.1, b.Data().([]float64)[0])
}

func TestStoreNamesDelete(t *testing.T) {
	s := vm.NewStore()
	for _, n := range []string{"c", "a", "dense/kernel", "b"} {
		require.NoError(t, s.SetFloat64s(n, graph.Shape{1}, graph.Float32, []float64{1}))
	}
	assert.Equal(t, []string{"a", "b", "c", "dense/kernel"}, s.Names())
	s.Delete("b")
	s.Delete("not there")
	assert.Equal(t, []string{"a", "c", "dense/kernel"}, s.Names())
}

// uniform fills with U(-1, 1) from the stream it is given; it counts calls.
type uniform struct{ calls *int }

func (u uniform) Initialize(dst []float64, _ []int, rng *rand.Rand) error {
	if u.calls != nil {
		*u.calls++
	}
	for i := range dst {
		dst[i] = rng.Float64()*2 - 1
	}
	return nil
}

// constInit fills with one value.
type constInit float64

func (c constInit) Initialize(dst []float64, _ []int, _ *rand.Rand) error {
	for i := range dst {
		dst[i] = float64(c)
	}
	return nil
}

func initStore(t *testing.T, seed uint64, build func(g *graph.Graph)) *vm.Store {
	t.Helper()
	g := graph.New(graph.Float32)
	build(g)
	s := vm.NewStore()
	require.NoError(t, s.Init(g, seed, uniform{}))
	return s
}

func bits(t *testing.T, s *vm.Store, name string) []uint32 {
	t.Helper()
	d, err := s.Get(name)
	require.NoError(t, err)
	var out []uint32
	for _, v := range float32s(t, d) {
		out = append(out, math.Float32bits(v))
	}
	return out
}

func TestStoreInitDeterministic(t *testing.T) {
	two := func(g *graph.Graph) {
		g.Variable("a", graph.Shape{3, 4})
		g.Variable("b", graph.Shape{5})
	}
	s1, s2 := initStore(t, 42, two), initStore(t, 42, two)
	for _, n := range []string{"a", "b"} {
		assert.Equal(t, bits(t, s1, n), bits(t, s2, n), "variable %s under the same seed", n)
	}
	s3 := initStore(t, 43, two)
	assert.NotEqual(t, bits(t, s1, "a"), bits(t, s3, "a"), "variable a under seeds 42 and 43")
	assert.NotEqual(t, bits(t, s1, "a")[:5], bits(t, s1, "b"), "variables a and b draw from different streams")

	// adding a variable, even before the others, leaves their values alone
	three := func(g *graph.Graph) {
		g.Variable("new", graph.Shape{7})
		g.Variable("a", graph.Shape{3, 4})
		g.WithScope("dense", func() { g.Variable("kernel", graph.Shape{2}) })
		g.Variable("b", graph.Shape{5})
	}
	s4 := initStore(t, 42, three)
	for _, n := range []string{"a", "b"} {
		assert.Equal(t, bits(t, s1, n), bits(t, s4, n), "variable %s after adding others", n)
	}
	assert.True(t, s4.Has("dense/kernel"), "a scoped variable is stored under its full name")
}

func TestStoreInitKeepsExisting(t *testing.T) {
	g := graph.New(graph.Float32)
	g.Variable("a", graph.Shape{2})
	g.Variable("b", graph.Shape{2})
	s := vm.NewStore()
	require.NoError(t, s.SetFloat64s("a", graph.Shape{2}, graph.Float32, []float64{7, 8}))
	calls := 0
	require.NoError(t, s.Init(g, 1, uniform{calls: &calls}))
	f, err := s.Float64s("a")
	require.NoError(t, err)
	assert.Equal(t, []float64{7, 8}, f, "Init overwrote an existing variable")
	assert.Equal(t, 1, calls, "initializer calls: only b is new")
	before := bits(t, s, "b")
	require.NoError(t, s.Init(g, 2, uniform{calls: &calls}))
	assert.Equal(t, before, bits(t, s, "b"), "a second Init with another seed changed b")
	assert.Equal(t, 1, calls)
}

func TestStoreInitPerVariableInitializer(t *testing.T) {
	g := graph.New(graph.Float64)
	g.Variable("w", graph.Shape{3})
	g.Variable("bias", graph.Shape{3}, graph.WithInit(constInit(0.25)))
	s := vm.NewStore()
	require.NoError(t, s.Init(g, 1, uniform{}))
	f, err := s.Float64s("bias")
	require.NoError(t, err)
	assert.Equal(t, []float64{0.25, 0.25, 0.25}, f)
	_, dt, _ := s.Shape("w")
	assert.Equal(t, graph.Float64, dt, "Init stores the graph's dtype")
}

func TestStoreInitErrors(t *testing.T) {
	g := graph.New(graph.Float32)
	g.Variable("a", graph.Shape{2})
	t.Run("no initializer", func(t *testing.T) {
		assert.Error(t, vm.NewStore().Init(g, 1, nil))
	})
	t.Run("nil graph", func(t *testing.T) {
		assert.Error(t, vm.NewStore().Init(nil, 1, uniform{}))
	})
	t.Run("existing of another shape", func(t *testing.T) {
		s := vm.NewStore()
		require.NoError(t, s.SetFloat64s("a", graph.Shape{3}, graph.Float32, []float64{1, 2, 3}))
		assert.Error(t, s.Init(g, 1, uniform{}))
	})
	t.Run("existing of another dtype", func(t *testing.T) {
		s := vm.NewStore()
		require.NoError(t, s.SetFloat64s("a", graph.Shape{2}, graph.Float64, []float64{1, 2}))
		assert.Error(t, s.Init(g, 1, uniform{}))
	})
	t.Run("graph error", func(t *testing.T) {
		bad := graph.New(graph.Float32)
		bad.Variable("a", graph.Shape{-5})
		require.Error(t, bad.Err())
		assert.Equal(t, bad.Err(), vm.NewStore().Init(bad, 1, uniform{}))
	})
}

func TestStream(t *testing.T) {
	a1, a2, b := vm.Stream(1, "a"), vm.Stream(1, "a"), vm.Stream(1, "b")
	x1, x2, y := a1.Uint64(), a2.Uint64(), b.Uint64()
	if x1 != x2 {
		t.Errorf("Stream(1, a) gave %d then %d, want the same", x1, x2)
	}
	if x1 == y {
		t.Errorf("Stream(1, a) and Stream(1, b) both start with %d", x1)
	}
}
