package layers_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// summaryParams returns the Param # column of the Summary row of layer.
func summaryParams(t *testing.T, m *layers.Sequential, layer string) string {
	t.Helper()
	for _, line := range strings.Split(m.Summary(), "\n") {
		if strings.HasPrefix(line, layer+" (") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	t.Fatalf("no Summary row for %s in\n%s", layer, m.Summary())
	return ""
}

// PReLU's α: one per channel by default, Keras's one per element with
// PerElement (or an empty SharedAxes), and Keras's shared_axes (1-based,
// batch = axis 0) set to 1; Summary and Params count it as trainable.
func TestPReLUAlphaShape(t *testing.T) {
	tests := []struct {
		name  string
		input []int
		opts  layers.PReLUOptions
		want  graph.Shape
	}{
		{"features", []int{5}, layers.PReLUOptions{}, graph.Shape{5}},
		{"features per element", []int{5}, layers.PReLUOptions{PerElement: true}, graph.Shape{5}},
		{"sequence per channel", []int{4, 6}, layers.PReLUOptions{}, graph.Shape{1, 6}},
		{"image per channel", []int{3, 4, 6}, layers.PReLUOptions{}, graph.Shape{1, 1, 6}},
		{"image per element", []int{3, 4, 6}, layers.PReLUOptions{PerElement: true}, graph.Shape{3, 4, 6}},
		{"empty shared axes", []int{3, 4, 6}, layers.PReLUOptions{SharedAxes: []int{}}, graph.Shape{3, 4, 6}},
		{"keras shared_axes=[1, 2]", []int{3, 4, 6}, layers.PReLUOptions{SharedAxes: []int{1, 2}}, graph.Shape{1, 1, 6}},
		{"shared channel axis", []int{3, 4, 6}, layers.PReLUOptions{SharedAxes: []int{3}}, graph.Shape{3, 4, 1}},
		{"shared axis twice", []int{3, 4, 6}, layers.PReLUOptions{SharedAxes: []int{2, 2}}, graph.Shape{3, 1, 6}},
		{"all shared", []int{4, 6}, layers.PReLUOptions{SharedAxes: []int{1, 2}}, graph.Shape{1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := layers.PReLU(tc.opts)
			m := layers.NewSequential(layers.Input(tc.input...), l)
			require.NoError(t, m.Build())
			vs := l.Variables()
			require.Len(t, vs, 1)
			assert.Equal(t, "alpha", vs[0].Name)
			assert.True(t, vs[0].Trainable)
			assert.Equal(t, tc.want, vs[0].Shape, "α shape on input %v", tc.input)
			assert.Equal(t, append(graph.Shape{graph.Batch}, tc.input...), m.OutputShape())
			tr, nt, err := m.Params()
			require.NoError(t, err)
			assert.Equal(t, tc.want.Size(), tr, "trainable parameters")
			assert.Equal(t, 0, nt, "non-trainable parameters")
			assert.Equal(t, fmt.Sprint(tc.want.Size()), summaryParams(t, m, "p_re_lu"), "Summary's Param #")
			assert.Contains(t, m.Summary(), fmt.Sprintf("Trainable params: %d\n", tc.want.Size()))
			// the α shape broadcasts against a batch in the graph
			_, err = m.Emit(graph.Float32, layers.Training)
			require.NoError(t, err)
		})
	}
	// Géron's Fashion-MNIST MLP with PReLU after each hidden layer: one α
	// per unit, 300 + 100
	m := layers.NewSequential(layers.Input(28, 28), layers.Flatten(),
		layers.Dense(300, layers.DenseOptions{KernelInitializer: "he_normal"}), layers.PReLU(layers.PReLUOptions{}),
		layers.Dense(100, layers.DenseOptions{KernelInitializer: "he_normal"}), layers.PReLU(layers.PReLUOptions{}),
		layers.Dense(10, layers.DenseOptions{Activation: "softmax"}))
	assert.Equal(t, "300", summaryParams(t, m, "p_re_lu"))
	assert.Equal(t, "100", summaryParams(t, m, "p_re_lu_1"))
	assert.Contains(t, m.Summary(), "Total params: 267,010\n") // 266,610 + 400
}

// PReLU's initial α: Keras's zeros, PyTorch's 0.25, or the one asked for
// (by name or value, in either convention); the layer computes x for x > 0
// and α·x elsewhere with it.
func TestPReLUInit(t *testing.T) {
	tests := []struct {
		name  string
		opts  layers.PReLUOptions
		alpha float64
	}{
		{"keras", layers.PReLUOptions{}, 0},
		{"pytorch", layers.PReLUOptions{Convention: layers.PyTorch}, 0.25},
		{"keras by name", layers.PReLUOptions{AlphaInitializer: "ones"}, 1},
		{"pytorch by name", layers.PReLUOptions{Convention: layers.PyTorch, AlphaInitializer: "zeros"}, 0},
		{"by value", layers.PReLUOptions{AlphaInit: initializers.Constant{Value: 0.1}}, 0.1},
		{"pytorch by value", layers.PReLUOptions{Convention: layers.PyTorch, AlphaInit: initializers.Constant{Value: 0.5}}, 0.5},
	}
	x := []float64{-2, -0.5, 0, 1.5, 3, -4}
	for _, tc := range tests {
		for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				m := layers.NewSequential(layers.Input(3), layers.PReLU(tc.opts))
				store := vm.NewStore()
				got := runModel(t, m, dt, layers.Inference, store, []int{2, 3}, x)
				a := roundTo(dt, tc.alpha)
				assert.Equal(t, []float64{a, a, a}, storeValues(t, store, "p_re_lu/alpha")[0], "initial α")
				want := make([]float64, len(x))
				for i, v := range x {
					want[i] = v
					if v < 0 {
						want[i] = roundTo(dt, a*v)
					}
				}
				assert.Equal(t, want, got, "PReLU output")
			})
		}
	}
}

// roundTo rounds v to the precision of dt.
func roundTo(dt graph.DType, v float64) float64 {
	if dt == graph.Float32 {
		return float64(float32(v))
	}
	return v
}

// runModel emits m for mode, initializes store from the model seed, runs
// the output (not the updates) on x and returns it.
func runModel(t *testing.T, m *layers.Sequential, dt graph.DType, mode layers.Mode, store *vm.Store, shape []int, x []float64) []float64 {
	t.Helper()
	e, err := m.Emit(dt, mode)
	require.NoError(t, err)
	require.NoError(t, store.Init(e.Graph, m.RandomSeed(), nil))
	return runOnX(t, e.Graph, e.Output, store, shape, x)
}

// runOnX compiles and runs out of g on the input "x".
func runOnX(t *testing.T, g *graph.Graph, out *graph.Node, store *vm.Store, shape []int, x []float64) []float64 {
	t.Helper()
	p, err := compile.Compile(g, []*graph.Node{out}, compile.Options{})
	require.NoError(t, err)
	res, err := vm.NewMachine(p, store).Run(vm.Feeds{"x": testutil.Tensor(g.DType(), shape, x)})
	require.NoError(t, err)
	return testutil.Float64s(res[0])
}

// LeakyReLU's default slope: Keras's layer 0.3, PyTorch's 0.01; an explicit
// α wins in either convention. The layer computes nodes.LeakyReLU with it.
func TestLeakyReLUDefaults(t *testing.T) {
	tests := []struct {
		name  string
		opts  layers.LeakyReLUOptions
		alpha float64
	}{
		{"keras", layers.LeakyReLUOptions{}, 0.3},
		{"pytorch", layers.LeakyReLUOptions{Convention: layers.PyTorch}, 0.01},
		{"explicit", layers.LeakyReLUOptions{Alpha: 0.2}, 0.2},
		{"pytorch explicit", layers.LeakyReLUOptions{Alpha: 0.2, Convention: layers.PyTorch}, 0.2},
	}
	x := []float64{-2, -0.5, 0, 1.5, 3, -4}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := layers.LeakyReLU(tc.opts)
			assert.Equal(t, tc.alpha, l.Alpha)
			m := layers.NewSequential(layers.Input(3), l)
			got := runModel(t, m, graph.Float64, layers.Inference, vm.NewStore(), []int{2, 3}, x)
			want := make([]float64, len(x))
			for i, v := range x {
				want[i] = v
				if v < 0 {
					want[i] = tc.alpha * v
				}
			}
			assert.Equal(t, want, got)
		})
	}
	assert.Equal(t, nodes.KerasLeakyReLUAlpha, layers.LeakyReLU(layers.LeakyReLUOptions{}).Alpha)
	assert.Equal(t, nodes.TorchLeakyReLUAlpha, layers.LeakyReLU(layers.LeakyReLUOptions{Convention: layers.PyTorch}).Alpha)
}

// ELU, SELU and RReLU as layers compute exactly what the nodes-level op
// computes on the same input: in both modes, and for RReLU in training
// with the layer's seed (Context.LayerSeed) and the model's step counter.
func TestActivationLayersMatchNodes(t *testing.T) {
	const seed = 5
	shape := []int{4, 6}
	x := randValue(3, shape...).Data
	x[0], x[1] = 0, -1e-3 // the kink and a small negative
	tests := []struct {
		name  string
		layer func() layers.Layer
		// ref emits the nodes-level op on x in ctx's graph
		ref func(ctx *layers.Context, x *graph.Node) *graph.Node
	}{
		{"elu default", func() layers.Layer { return layers.ELU(0) },
			func(_ *layers.Context, x *graph.Node) *graph.Node { return nodes.ELU(x, 1) }},
		{"elu 0.5", func() layers.Layer { return layers.ELU(0.5) },
			func(_ *layers.Context, x *graph.Node) *graph.Node { return nodes.ELU(x, 0.5) }},
		{"selu", func() layers.Layer { return layers.SELU() },
			func(_ *layers.Context, x *graph.Node) *graph.Node { return nodes.SELU(x) }},
		{"rrelu default", func() layers.Layer { return layers.RReLU(layers.RReLUOptions{}) },
			func(ctx *layers.Context, x *graph.Node) *graph.Node {
				return nodes.RReLU(x, nodes.RReLULower, nodes.RReLUUpper, ctx.Training(), ctx.LayerSeed("r_re_lu"), ctx.RNGCounter())
			}},
		{"rrelu bounds", func() layers.Layer { return layers.RReLU(layers.RReLUOptions{Lower: 0.1, Upper: 0.6}) },
			func(ctx *layers.Context, x *graph.Node) *graph.Node {
				return nodes.RReLU(x, 0.1, 0.6, ctx.Training(), ctx.LayerSeed("r_re_lu"), ctx.RNGCounter())
			}},
	}
	for _, tc := range tests {
		for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
			for _, mode := range []layers.Mode{layers.Inference, layers.Training} {
				t.Run(fmt.Sprintf("%s/%v/%v", tc.name, dt, mode), func(t *testing.T) {
					m := layers.NewSequential(layers.Input(shape[1:]...), tc.layer())
					m.Seed(seed)
					store := vm.NewStore()
					got := runModel(t, m, dt, mode, store, shape, x)

					g := graph.New(dt)
					ctx := &layers.Context{Graph: g, Mode: mode, Seed: seed}
					xn := g.Input("x", graph.Shape{graph.Batch, shape[1]})
					want := runOnX(t, g, tc.ref(ctx, xn), store, shape, x)
					require.NoError(t, g.Err())
					assert.Equal(t, want, got, "the layer differs from the nodes op")
				})
			}
		}
	}
}

// RReLU draws its slopes in training only: each in [lower, upper), not all
// the same, and a fixed (lower+upper)/2 at inference.
func TestRReLULayerModes(t *testing.T) {
	const lo, hi = 0.1, 0.6
	shape := []int{8, 16}
	x := make([]float64, 8*16)
	for i := range x {
		x[i] = -1 - float64(i%5) // all negative: y = slope·x
	}
	m := layers.NewSequential(layers.Input(16), layers.RReLU(layers.RReLUOptions{Lower: lo, Upper: hi}))
	m.Seed(1)
	store := vm.NewStore()
	inf := runModel(t, m, graph.Float64, layers.Inference, store, shape, x)
	for i, y := range inf {
		assert.InDelta(t, (lo+hi)/2, y/x[i], 1e-15, "inference slope %d", i)
	}
	tr := runModel(t, m, graph.Float64, layers.Training, store, shape, x)
	minS, maxS := math.Inf(1), math.Inf(-1)
	for i, y := range tr {
		s := y / x[i]
		minS, maxS = min(minS, s), max(maxS, s)
	}
	assert.GreaterOrEqual(t, minS, lo*(1-1e-15), "smallest slope")
	assert.Less(t, maxS, hi*(1+1e-15), "largest slope")
	// 128 draws from U(0.1, 0.6): all within 0.1 of the mean with
	// probability 0.4¹²⁸
	assert.Greater(t, maxS-minS, 0.2, "the training slopes are not spread over [lower, upper)")
}
