package layers_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// runNodes compiles and runs fetches on store (no feeds) and returns them.
func runNodes(t *testing.T, g *graph.Graph, store *vm.Store, fetches ...*graph.Node) [][]float64 {
	t.Helper()
	p, err := compile.Compile(g, fetches, compile.Options{})
	require.NoError(t, err)
	out, err := vm.NewMachine(p, store).Run(vm.Feeds{})
	require.NoError(t, err)
	res := make([][]float64, len(out))
	for i, o := range out {
		res[i] = testutil.Float64s(o)
	}
	return res
}

// The penalties on small hand-computed weights, w = [[1, −2], [3, 0.5]]:
// Σ|w| = 6.5, Σw² = 14.25, and their gradients l1·sign(w) + 2·l2·w.
func TestRegularizerPenalty(t *testing.T) {
	w := []float64{1, -2, 3, 0.5}
	tests := []struct {
		name string
		r    layers.L1L2
		want float64
	}{
		{"l2(0.01)", layers.L2(0.01), 0.01 * 14.25},
		{"l1(0.01)", layers.L1(0.01), 0.01 * 6.5},
		{"l1_l2(0.01, 0.02)", layers.L1L2{L1: 0.01, L2: 0.02}, 0.01*6.5 + 0.02*14.25},
		{"zero", layers.L1L2{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			wn := g.Variable("w", graph.Shape{2, 2})
			p := tc.r.Penalty(wn)
			require.Equal(t, 0, p.Shape().Rank())
			fetches := []*graph.Node{p}
			if tc.r != (layers.L1L2{}) {
				gs, err := autodiff.Grad(p, wn)
				require.NoError(t, err)
				fetches = append(fetches, gs[0])
			}
			store := vm.NewStore()
			require.NoError(t, store.SetFloat64s("w", graph.Shape{2, 2}, graph.Float64, w))
			out := runNodes(t, g, store, fetches...)
			// a few float64 roundings of values of order 1
			assert.InDelta(t, tc.want, out[0][0], 1e-15, "penalty")
			if len(out) > 1 {
				for i, v := range w {
					want := tc.r.L1*math.Copysign(1, v) + 2*tc.r.L2*v
					assert.InDelta(t, want, out[1][i], 1e-15, "gradient[%d]", i)
				}
			}
		})
	}
}

// Penalties sums the penalties declared through DenseOptions over the
// model's variables; Emit adds it in training mode only.
func TestSequentialPenalties(t *testing.T) {
	m := layers.NewSequential(layers.Input(2),
		layers.Dense(2, layers.DenseOptions{KernelRegularizer: layers.L2(0.01)}),
		layers.Dense(1, layers.DenseOptions{KernelRegularizer: layers.L1(0.1), BiasRegularizer: layers.L2(1)}),
		layers.Dense(1, layers.DenseOptions{}),
	)
	e, err := m.Emit(graph.Float64, layers.Training)
	require.NoError(t, err)
	require.NotNil(t, e.Penalty)
	store := vm.NewStore()
	require.NoError(t, store.Init(e.Graph, 1, nil))
	set := func(name string, shape graph.Shape, v ...float64) {
		require.NoError(t, store.SetFloat64s(name, shape, graph.Float64, v))
	}
	set("dense/kernel", graph.Shape{2, 2}, 1, -2, 3, 0.5) // Σw² = 14.25
	set("dense_1/kernel", graph.Shape{2, 1}, -0.5, 2)     // Σ|w| = 2.5
	set("dense_1/bias", graph.Shape{1}, 3)                // Σb² = 9
	set("dense_2/kernel", graph.Shape{1, 1}, 100)         // no penalty
	want := 0.01*14.25 + 0.1*2.5 + 1*9.0
	out := runNodes(t, e.Graph, store, e.Penalty)
	assert.InDelta(t, want, out[0][0], 1e-14)

	// the same through Penalties on the emitted context
	out = runNodes(t, e.Graph, store, m.Penalties(e.Context))
	assert.InDelta(t, want, out[0][0], 1e-14)

	inf, err := m.Emit(graph.Float64, layers.Inference)
	require.NoError(t, err)
	assert.Nil(t, inf.Penalty)
	none := layers.NewSequential(layers.Input(2), layers.Dense(1, layers.DenseOptions{}))
	assert.Nil(t, none.Penalties(&layers.Context{Graph: graph.New(graph.Float32)}))

	// on a fresh graph, Penalties creates the variables it needs
	g := graph.New(graph.Float32)
	p := m.Penalties(&layers.Context{Graph: g})
	require.NoError(t, g.Err())
	out = runNodes(t, g, storeF32(t, store), p)
	assert.InDelta(t, want, out[0][0], 1e-5) // float32: 1e-5 relative of values of order 10
}

// storeF32 returns a float32 copy of a float64 store.
func storeF32(t *testing.T, s *vm.Store) *vm.Store {
	t.Helper()
	out := vm.NewStore()
	for _, name := range s.Names() {
		shape, _, _ := s.Shape(name)
		v, err := s.Float64s(name)
		require.NoError(t, err)
		require.NoError(t, out.SetFloat64s(name, shape, graph.Float32, v))
	}
	return out
}

// maxNormWant is Keras's MaxNorm by hand on a row-major [r, c] matrix,
// norms over axis.
func maxNormWant(w []float64, r, c int, maxValue float64, axis int) []float64 {
	out := make([]float64, len(w))
	if axis == 0 {
		for j := range c {
			var s float64
			for i := range r {
				s += w[i*c+j] * w[i*c+j]
			}
			n := math.Sqrt(s)
			for i := range r {
				out[i*c+j] = w[i*c+j] * (math.Min(n, maxValue) / (1e-7 + n))
			}
		}
		return out
	}
	for i := range r {
		var s float64
		for j := range c {
			s += w[i*c+j] * w[i*c+j]
		}
		n := math.Sqrt(s)
		for j := range c {
			out[i*c+j] = w[i*c+j] * (math.Min(n, maxValue) / (1e-7 + n))
		}
	}
	return out
}

// MaxNorm clips the columns (axis 0: the weights into each unit) whose
// norm exceeds the cap to the cap, and leaves the others (within ε/‖w‖).
func TestMaxNorm(t *testing.T) {
	// columns: (3, 4, 0) has norm 5, (0.1, 0.2, 0.2) norm 0.3; rows have
	// norms √9.01, √16.04, √0.04 = 0.2
	w := []float64{3, 0.1, 4, 0.2, 0, 0.2}
	tests := []struct {
		name  string
		c     layers.MaxNorm
		max   float64
		axis  int
		norms []float64 // the norms along axis after the projection
	}{
		{"keras default", layers.MaxNorm{}, 2, 0, []float64{2, 0.3}},
		{"max 1 axis 1", layers.MaxNorm{MaxValue: 1, Axes: []int{1}}, 1, 1, []float64{1, 1, 0.2}},
		{"max 1 axis -1", layers.MaxNorm{MaxValue: 1, Axes: []int{-1}}, 1, 1, []float64{1, 1, 0.2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			wn := g.Variable("w", graph.Shape{3, 2})
			store := vm.NewStore()
			require.NoError(t, store.SetFloat64s("w", graph.Shape{3, 2}, graph.Float64, w))
			got := runNodes(t, g, store, tc.c.Apply(wn))[0]
			want := maxNormWant(w, 3, 2, tc.max, tc.axis)
			for i := range want {
				assert.InDelta(t, want[i], got[i], 1e-15, "w[%d]", i)
			}
			// the norms after: the cap (less ε·cap/‖w‖ ≤ 4e-8) or unchanged
			// (less ε = 1e-7 relative)
			for k, n := range tc.norms {
				var s float64
				if tc.axis == 0 {
					for i := range 3 {
						s += got[i*2+k] * got[i*2+k]
					}
				} else {
					for j := range 2 {
						s += got[k*2+j] * got[k*2+j]
					}
				}
				assert.InEpsilon(t, n, math.Sqrt(s), 1e-6, "norm %d", k)
			}
		})
	}
}

// Constrain projects the optimizer's updated value of constrained
// variables and leaves the other updates alone; ConstraintUpdates projects
// the current values in a program of their own.
func TestConstrain(t *testing.T) {
	m := layers.NewSequential(layers.Input(3),
		layers.Dense(2, layers.DenseOptions{KernelConstraint: layers.MaxNorm{MaxValue: 1}}))
	e, err := m.Emit(graph.Float64, layers.Training)
	require.NoError(t, err)
	g := e.Graph
	store := vm.NewStore()
	require.NoError(t, store.Init(g, 1, nil))
	w := []float64{3, 0.1, 4, 0.2, 0, 0.2}
	require.NoError(t, store.SetFloat64s("dense/kernel", graph.Shape{3, 2}, graph.Float64, w))
	require.NoError(t, store.SetFloat64s("dense/bias", graph.Shape{2}, graph.Float64, []float64{5, 6}))

	// a stand-in optimizer: every parameter doubles
	kernel, bias := g.Node("dense/kernel"), g.Node("dense/bias")
	two := g.Scalar(2)
	updates := []*graph.Node{nodes.Assign(kernel, nodes.Mul(kernel, two)), nodes.Assign(bias, nodes.Mul(bias, two))}
	cons := m.Constrain(e.Context, updates)
	require.NoError(t, g.Err())
	require.Len(t, cons, 2)
	assert.NotSame(t, updates[0], cons[0], "the kernel's update is projected")
	assert.Same(t, updates[1], cons[1], "the bias has no constraint")
	runNodes(t, g, store, cons...)

	doubled := make([]float64, len(w))
	for i, v := range w {
		doubled[i] = 2 * v
	}
	want := maxNormWant(doubled, 3, 2, 1, 0)
	got, err := store.Float64s("dense/kernel")
	require.NoError(t, err)
	for i := range want {
		assert.InDelta(t, want[i], got[i], 1e-15, "kernel[%d]", i)
	}
	b, err := store.Float64s("dense/bias")
	require.NoError(t, err)
	assert.Equal(t, []float64{10, 12}, b)

	// the separate projection program
	require.NoError(t, store.SetFloat64s("dense/kernel", graph.Shape{3, 2}, graph.Float64, w))
	g2 := graph.New(graph.Float64)
	proj := m.ConstraintUpdates(&layers.Context{Graph: g2})
	require.Len(t, proj, 1)
	runNodes(t, g2, store, proj...)
	got, err = store.Float64s("dense/kernel")
	require.NoError(t, err)
	want = maxNormWant(w, 3, 2, 1, 0)
	for i := range want {
		assert.InDelta(t, want[i], got[i], 1e-15, "kernel[%d]", i)
	}

	unconstrained := layers.NewSequential(layers.Input(3), layers.Dense(2, layers.DenseOptions{}))
	assert.Equal(t, updates, unconstrained.Constrain(e.Context, updates))
	assert.Empty(t, unconstrained.ConstraintUpdates(&layers.Context{Graph: graph.New(graph.Float64)}))
}

func TestRegularizerErrors(t *testing.T) {
	tests := []struct {
		name string
		opts layers.DenseOptions
		want string
	}{
		{"negative l2", layers.DenseOptions{KernelRegularizer: layers.L2(-1)}, "kernel_regularizer: regularizer l2 factor -1: want a finite value ≥ 0"},
		{"NaN l1", layers.DenseOptions{BiasRegularizer: layers.L1(math.NaN())}, "bias_regularizer: regularizer l1 factor NaN"},
		{"infinite l1", layers.DenseOptions{KernelRegularizer: layers.L1(math.Inf(1))}, "l1 factor +Inf"},
		{"negative max norm", layers.DenseOptions{KernelConstraint: layers.MaxNorm{MaxValue: -2}}, "kernel_constraint: max_norm: max_value -2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := layers.NewSequential(layers.Input(3), layers.Dense(2, tc.opts)).Build()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// used directly, a bad setting is a graph error, not a panic
	g := graph.New(graph.Float64)
	w := g.Variable("w", graph.Shape{2})
	assert.True(t, layers.L2(-1).Penalty(w).IsPoisoned())
	assert.Contains(t, g.Err().Error(), "l2 factor -1")
	g = graph.New(graph.Float64)
	w = g.Variable("w", graph.Shape{2})
	assert.True(t, layers.MaxNorm{Axes: []int{3}}.Apply(w).IsPoisoned())
	assert.Error(t, g.Err())
}
