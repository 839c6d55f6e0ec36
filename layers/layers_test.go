package layers_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/vm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

// The chapter's Fashion-MNIST MLP: Keras shows 235,500 / 30,100 / 1,010
// parameters (784·300+300, 300·100+100, 100·10+10).
func fashionMLP() *layers.Sequential {
	return layers.NewSequential(
		layers.Input(28, 28),
		layers.Flatten(),
		layers.Dense(300, layers.DenseOptions{Activation: "relu"}),
		layers.Dense(100, layers.DenseOptions{Activation: "relu"}),
		layers.Dense(10, layers.DenseOptions{Activation: "softmax"}),
	)
}

func TestSummaryFashionMLP(t *testing.T) {
	m := fashionMLP()
	s := m.Summary()
	for _, want := range []string{
		"flatten (Flatten)            (None, 784)               0",
		"dense (Dense)                (None, 300)               235,500",
		"dense_1 (Dense)              (None, 100)               30,100",
		"dense_2 (Dense)              (None, 10)                1,010",
		"Total params: 266,610",
		"Trainable params: 266,610",
		"Non-trainable params: 0",
	} {
		assert.Contains(t, s, want)
	}
	checkGolden(t, "summary_fashion_mlp.txt", s)
	tr, nt, err := m.Params()
	require.NoError(t, err)
	assert.Equal(t, 266610, tr)
	assert.Equal(t, 0, nt)
}

func TestKerasNames(t *testing.T) {
	m := layers.NewSequential(layers.Input(4),
		layers.Dense(3, layers.DenseOptions{}),
		layers.LeakyReLU(layers.LeakyReLUOptions{}),
		layers.Dense(3, layers.DenseOptions{Name: "dense_1"}),
		layers.Dense(3, layers.DenseOptions{}),
		layers.PReLU(layers.PReLUOptions{}),
		layers.Activation("tanh"),
		layers.ELU(0),
		layers.SELU(),
		layers.RReLU(layers.RReLUOptions{}),
	)
	require.NoError(t, m.Build())
	var names []string
	for _, l := range m.Layers() {
		names = append(names, l.Name())
	}
	// dense_1 is taken by the explicit name, so the third Dense is dense_2
	assert.Equal(t, []string{"dense", "leaky_re_lu", "dense_1", "dense_2", "p_re_lu", "activation", "elu", "selu", "r_re_lu"}, names)
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		model *layers.Sequential
		want  string
	}{
		{"zero units", layers.NewSequential(layers.Input(4), layers.Dense(0, layers.DenseOptions{})), "dense (Dense): units must be positive, got 0"},
		{"unknown activation", layers.NewSequential(layers.Input(4), layers.Dense(2, layers.DenseOptions{Activation: "relux"})), `unknown activation "relux"`},
		{"unknown initializer", layers.NewSequential(layers.Input(4), layers.Dense(2, layers.DenseOptions{KernelInitializer: "he_normall"})), `kernel_initializer: initializers: unknown initializer "he_normall"`},
		{"negative alpha", layers.NewSequential(layers.Input(4), layers.LeakyReLU(layers.LeakyReLUOptions{Alpha: -1})), "alpha -1: want a non-negative slope"},
		{"rrelu bounds", layers.NewSequential(layers.Input(4), layers.RReLU(layers.RReLUOptions{Lower: 0.5, Upper: 0.1})), "want 0 ≤ lower ≤ upper ≤ 1"},
		{"no input", layers.NewSequential(layers.Dense(2, layers.DenseOptions{})), "no input shape"},
		{"rank 3 into dense", layers.NewSequential(layers.Input(2, 3), layers.Dense(2, layers.DenseOptions{})), "add a Flatten layer first"},
		{"nil layer", layers.NewSequential(layers.Input(2), nil), "layer 0 is nil"},
		{"duplicate names", layers.NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{Name: "a"}), layers.Dense(2, layers.DenseOptions{Name: "a"})), `two layers are named "a"`},
		{"bad input", layers.NewSequential(layers.Input(0, 3), layers.Flatten()), "dimensions must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.model.Build()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, gerr := tc.model.Emit(graph.Float32, layers.Inference)
			assert.Error(t, gerr)
			assert.Contains(t, tc.model.Summary(), tc.want)
		})
	}
}

// A model emitted for inference and for training, at different batch
// sizes, shares the same variables in the store.
func TestVariablesShared(t *testing.T) {
	m := fashionMLP()
	m.Seed(7)
	store := vm.NewStore()
	var outs [][]float64
	for _, mode := range []layers.Mode{layers.Inference, layers.Training} {
		e, err := m.Emit(graph.Float64, mode)
		require.NoError(t, err)
		g, y := e.Graph, e.Output
		require.NoError(t, store.Init(g, m.RandomSeed(), nil))
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		require.NoError(t, err)
		data := make([]float64, 3*28*28)
		for i := range data {
			data[i] = float64(i%17) / 17
		}
		res, err := vm.NewMachine(p, store).Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{3, 28, 28}, data)})
		require.NoError(t, err)
		outs = append(outs, testutil.Float64s(res[0]))
	}
	assert.Equal(t, []string{"dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel", "dense_2/bias", "dense_2/kernel"}, store.Names())
	assert.Equal(t, outs[0], outs[1], "the two graphs computed different outputs from the same variables")
	// softmax rows sum to 1
	for r := 0; r < 3; r++ {
		var s float64
		for _, v := range outs[0][r*10 : r*10+10] {
			s += v
		}
		assert.InDelta(t, 1, s, 1e-12)
	}
}

// Dense layers draw their kernel from their own initializer.
func TestDenseInitializers(t *testing.T) {
	m := layers.NewSequential(layers.Input(400),
		layers.Dense(300, layers.DenseOptions{KernelInitializer: "he_uniform", BiasInit: initializers.Constant{Value: 0.5}}),
		layers.Dense(10, layers.DenseOptions{UseBias: layers.False}),
	)
	e, err := m.Emit(graph.Float64, layers.Inference)
	require.NoError(t, err)
	g := e.Graph
	store := vm.NewStore()
	require.NoError(t, store.Init(g, 1, nil))
	k, err := store.Float64s("dense/kernel")
	require.NoError(t, err)
	limit := 0.0
	for _, v := range k {
		limit = max(limit, v, -v)
	}
	// he_uniform limit sqrt(6/400) = 0.1225; the max of 120,000 uniform
	// draws lies within 1e-3 of it
	assert.InDelta(t, 0.12247, limit, 1e-3)
	b, err := store.Float64s("dense/bias")
	require.NoError(t, err)
	assert.Equal(t, 0.5, b[0])
	assert.False(t, store.Has("dense_1/bias"), "UseBias False still made a bias")
}

func TestSnakeCaseViaNames(t *testing.T) {
	m := layers.NewSequential(layers.Input(2), layers.Flatten(), layers.Flatten())
	require.NoError(t, m.Build())
	assert.Equal(t, "flatten_1", m.Layers()[1].Name())
	assert.True(t, strings.HasPrefix(m.Summary(), `Model: "sequential"`))
}

// A layer called before Build records an error instead of emitting nothing.
func TestCallBeforeBuild(t *testing.T) {
	for _, l := range []layers.Layer{layers.Dense(3, layers.DenseOptions{}), layers.Activation("relu")} {
		g := graph.New(graph.Float32)
		x := g.Input("x", graph.Shape{graph.Batch, 4})
		l.Call(&layers.Context{Graph: g}, x)
		require.Error(t, g.Err())
		assert.Contains(t, g.Err().Error(), "called before Build")
	}
}

// CallEach returns each layer's output, the last one being the model's.
func TestCallEach(t *testing.T) {
	m := fashionMLP()
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 28, 28})
	y, outs := m.CallEach(&layers.Context{Graph: g}, x)
	require.NoError(t, g.Err())
	require.Len(t, outs, 4)
	assert.Equal(t, y, outs[3])
	assert.Equal(t, graph.Shape{graph.Batch, 784}, outs[0].Shape())
	assert.Equal(t, graph.Shape{graph.Batch, 300}, outs[1].Shape())
	assert.Equal(t, "dense_1", outs[2].Scope())
}
