package layers_test

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
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
		{"negative alpha", layers.NewSequential(layers.Input(4), layers.LeakyReLU(layers.LeakyReLUOptions{Alpha: -1})), "alpha -1: want a non-negative finite slope"},
		{"rrelu bounds", layers.NewSequential(layers.Input(4), layers.RReLU(layers.RReLUOptions{Lower: 0.5, Upper: 0.1})), "want 0 ≤ lower ≤ upper ≤ 1"},
		{"no input", layers.NewSequential(layers.Dense(2, layers.DenseOptions{})), "no input shape"},
		{"rank 3 into dense", layers.NewSequential(layers.Input(2, 3), layers.Dense(2, layers.DenseOptions{})), "add a Flatten layer first"},
		{"nil layer", layers.NewSequential(layers.Input(2), nil), "layer 0 is nil"},
		{"duplicate names", layers.NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{Name: "a"}), layers.Dense(2, layers.DenseOptions{Name: "a"})), `two layers are named "a"`},
		{"bad input", layers.NewSequential(layers.Input(0, 3), layers.Flatten()), "dimensions must be positive"},
		{"negative units", layers.NewSequential(layers.Input(4), layers.Dense(-3, layers.DenseOptions{})), "units must be positive, got -3"},
		{"unknown bias initializer", layers.NewSequential(layers.Input(4), layers.Dense(2, layers.DenseOptions{BiasInitializer: "zeroz"})), `dense (Dense): bias_initializer: initializers: unknown initializer "zeroz"`},
		{"unknown activation layer", layers.NewSequential(layers.Input(4), layers.Activation("tanhh")), `activation (Activation): nodes: invalid argument: unknown activation "tanhh"`},
		{"infinite leaky alpha", layers.NewSequential(layers.Input(4), layers.LeakyReLU(layers.LeakyReLUOptions{Alpha: math.Inf(1)})), "leaky_re_lu (LeakyReLU): alpha +Inf: want a non-negative finite slope"},
		{"nan leaky alpha", layers.NewSequential(layers.Input(4), layers.LeakyReLU(layers.LeakyReLUOptions{Alpha: math.NaN()})), "alpha NaN: want a non-negative finite slope"},
		{"elu negative alpha", layers.NewSequential(layers.Input(4), layers.ELU(-0.5)), "elu (ELU): alpha -0.5: want a positive finite number"},
		{"elu infinite alpha", layers.NewSequential(layers.Input(4), layers.ELU(math.Inf(1))), "alpha +Inf: want a positive finite number"},
		{"elu nan alpha", layers.NewSequential(layers.Input(4), layers.ELU(math.NaN())), "alpha NaN: want a positive finite number"},
		{"rrelu upper above 1", layers.NewSequential(layers.Input(4), layers.RReLU(layers.RReLUOptions{Lower: 0.5, Upper: 1.5})), "r_re_lu (RReLU): bounds [0.5, 1.5]: want 0 ≤ lower ≤ upper ≤ 1"},
		{"rrelu negative lower", layers.NewSequential(layers.Input(4), layers.RReLU(layers.RReLUOptions{Lower: -0.1, Upper: 0.3})), "bounds [-0.1, 0.3]"},
		{"rrelu nan", layers.NewSequential(layers.Input(4), layers.RReLU(layers.RReLUOptions{Lower: math.NaN(), Upper: 0.3})), "bounds [NaN, 0.3]"},
		{"prelu shared axis 0", layers.NewSequential(layers.Input(3, 4), layers.PReLU(layers.PReLUOptions{SharedAxes: []int{0}})), "p_re_lu (PReLU): shared axis 0 out of range [1, 2]"},
		{"prelu shared axis too large", layers.NewSequential(layers.Input(3, 4), layers.PReLU(layers.PReLUOptions{SharedAxes: []int{1, 3}})), "shared axis 3 out of range [1, 2]"},
		{"prelu negative shared axis", layers.NewSequential(layers.Input(3, 4), layers.PReLU(layers.PReLUOptions{SharedAxes: []int{-1}})), "shared axis -1 out of range [1, 2]"},
		{"prelu unknown alpha initializer", layers.NewSequential(layers.Input(4), layers.PReLU(layers.PReLUOptions{AlphaInitializer: "quarter"})), `p_re_lu (PReLU): alpha_initializer: initializers: unknown initializer "quarter"`},
		{"prelu on rank 1", layers.NewSequential(layers.Input(), layers.PReLU(layers.PReLUOptions{})), "input shape [B]: PReLU needs [batch, ...] of rank ≥ 2"},
		{"dropout rate 1", layers.NewSequential(layers.Input(4), layers.Dropout(1, layers.DropoutOptions{})), "dropout (Dropout): rate 1: want 0 ≤ rate < 1"},
		{"dropout negative rate", layers.NewSequential(layers.Input(4), layers.Dropout(-0.1, layers.DropoutOptions{})), "rate -0.1: want 0 ≤ rate < 1"},
		{"dropout nan rate", layers.NewSequential(layers.Input(4), layers.Dropout(math.NaN(), layers.DropoutOptions{})), "rate NaN: want 0 ≤ rate < 1"},
		{"alpha dropout rate", layers.NewSequential(layers.Input(4), layers.AlphaDropout(1.5, layers.DropoutOptions{})), "alpha_dropout (AlphaDropout): rate 1.5: want 0 ≤ rate < 1"},
		{"noise shape length", layers.NewSequential(layers.Input(4), layers.Dropout(0.5, layers.DropoutOptions{NoiseShape: []int{1}})), "noise_shape [1]: want 2 entries"},
		{"noise shape entry", layers.NewSequential(layers.Input(4), layers.Dropout(0.5, layers.DropoutOptions{NoiseShape: []int{0, 3}})), "noise_shape [0 3]: entry 1 is 3"},
		{"no layers", layers.NewSequential(layers.Input(4)), "sequential: no layers"},
		{"input not first", layers.NewSequential(layers.Dense(2, layers.DenseOptions{}), layers.Input(4)), "Input must be the first layer"},
		{"layer name with slash", layers.NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{Name: "a/b"})), `layer name "a/b" may not contain '/'`},
		{"set input shape twice", withInputShape(layers.NewSequential(layers.Dense(2, layers.DenseOptions{})), []int{4}, []int{5}), "SetInputShape[5]: the model already has the input shape (None, 4)"},
		{"set input shape after Input", withInputShape(layers.NewSequential(layers.Input(4), layers.Dense(2, layers.DenseOptions{})), []int{4}), "SetInputShape[4]: the model already has the input shape (None, 4)"},
		{"set input shape zero", withInputShape(layers.NewSequential(layers.Dense(2, layers.DenseOptions{})), []int{3, 0}), "input shape [3 0]: dimensions must be positive"},
		{"set input shape negative", withInputShape(layers.NewSequential(layers.Dense(2, layers.DenseOptions{})), []int{-1}), "input shape [-1]: dimensions must be positive"},
		{"empty model name", withName(layers.NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{})), ""), `layers: sequential: model name "" may not be empty`},
		{"model name with newline", withName(layers.NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{})), "a\nb"), `model name "a\nb" may not be empty nor contain`},
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

func withInputShape(m *layers.Sequential, shapes ...[]int) *layers.Sequential {
	for _, s := range shapes {
		m.SetInputShape(s...)
	}
	return m
}

func withName(m *layers.Sequential, name string) *layers.Sequential {
	m.SetName(name)
	return m
}

// SetInputShape works before or after the layers are added; SetName takes
// a good name.
func TestSetInputShapeAndName(t *testing.T) {
	after := layers.NewSequential(layers.Dense(2, layers.DenseOptions{}))
	after.SetInputShape(4)
	before := layers.NewSequential()
	before.SetInputShape(4)
	before.Add(layers.Dense(2, layers.DenseOptions{}))
	for _, m := range []*layers.Sequential{after, before} {
		require.NoError(t, m.Build())
		assert.Equal(t, graph.Shape{graph.Batch, 4}, m.InputShape())
		assert.Equal(t, graph.Shape{graph.Batch, 2}, m.OutputShape())
	}
	m := withName(layers.NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{})), "mlp")
	require.NoError(t, m.Build())
	assert.Equal(t, "mlp", m.Name())
	assert.True(t, strings.HasPrefix(m.Summary(), `Model: "mlp"`))
	// a bad name is refused and the old one kept
	m = withName(layers.NewSequential(layers.Input(2), layers.Dense(2, layers.DenseOptions{})), "a/b")
	assert.Equal(t, "sequential", m.Name())
	assert.ErrorContains(t, m.Err(), `model name "a/b" may not be empty nor contain '/'`)
}

// EmitWith refuses a dtype or a mode it does not know.
func TestEmitBadArguments(t *testing.T) {
	m := layers.NewSequential(layers.Input(3), layers.Dense(2, layers.DenseOptions{}))
	tests := []struct {
		name  string
		dtype graph.DType
		mode  layers.Mode
		want  string
	}{
		{"dtype", graph.DType(99), layers.Inference, "unsupported dtype"},
		{"mode", graph.Float32, layers.Mode(2), "layers: sequential: unknown mode 2: want layers.Inference or layers.Training"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := m.EmitWith(tc.dtype, layers.EmitOptions{Mode: tc.mode})
			assert.Nil(t, e)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	// the model itself is fine
	_, err := m.EmitWith(graph.Float32, layers.EmitOptions{Mode: layers.Training})
	require.NoError(t, err)
}

// A model emitted for inference and for training, at different batch
// sizes, shares the same variables in the store: the second graph finds
// them there (Init does not draw them again) and computes the same rows.
func TestVariablesShared(t *testing.T) {
	m := fashionMLP()
	m.Seed(7)
	store := vm.NewStore()
	names := []string{"dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel", "dense_2/bias", "dense_2/kernel"}
	var outs, values [][]float64
	for _, run := range []struct {
		mode  layers.Mode
		batch int
	}{{layers.Inference, 3}, {layers.Training, 5}, {layers.Inference, 1}} {
		e, err := m.Emit(graph.Float64, run.mode)
		require.NoError(t, err)
		g, y := e.Graph, e.Output
		require.NoError(t, store.Init(g, m.RandomSeed(), nil))
		// every graph reads the same store variables
		var vars []string
		for _, v := range g.Variables() {
			vars = append(vars, v.Name())
		}
		slices.Sort(vars)
		assert.Equal(t, names, vars, "variables of the %v graph", run.mode)
		assert.Equal(t, names, store.Names())
		now := storeValues(t, store, names...)
		if values == nil {
			values = now
		}
		assert.Equal(t, values, now, "emitting for %v with batch %d changed the variables", run.mode, run.batch)
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		require.NoError(t, err)
		// row r is the same in every batch
		data := make([]float64, run.batch*28*28)
		for i := range data {
			data[i] = float64(i%17) / 17
		}
		res, err := vm.NewMachine(p, store).Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{run.batch, 28, 28}, data)})
		require.NoError(t, err)
		out := testutil.Float64s(res[0])
		require.Len(t, out, run.batch*10)
		outs = append(outs, out)
	}
	// the rows common to two batches agree; a batch of another size may
	// sum a row's products in another order (the GEMM blocks by rows), so
	// within 1e-12, rounding for sums of a few hundred terms of order 1
	for i, out := range outs[1:] {
		n := min(len(out), len(outs[0]))
		assert.InDeltaSlice(t, outs[0][:n], out[:n], 1e-12, "graph %d computed other rows from the same variables", i+1)
	}
	// softmax rows sum to 1
	for r := 0; r < 3; r++ {
		var s float64
		for _, v := range outs[0][r*10 : r*10+10] {
			s += v
		}
		assert.InDelta(t, 1, s, 1e-12)
	}
}

// Appending a layer leaves the initial values of the others unchanged: each
// variable draws from its own stream (the model seed and its name).
func TestAppendLayerKeepsInit(t *testing.T) {
	build := func(extra bool) *layers.Sequential {
		ls := []layers.Layer{
			layers.Input(6),
			layers.Dense(5, layers.DenseOptions{Activation: "relu", BiasInitializer: "random_normal"}),
			layers.Dense(4, layers.DenseOptions{KernelInitializer: "he_normal", BiasInitializer: "random_uniform"}),
		}
		if extra {
			ls = append(ls, layers.Dense(3, layers.DenseOptions{BiasInitializer: "random_normal"}))
		}
		m := layers.NewSequential(ls...)
		m.Seed(11)
		return m
	}
	names := []string{"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			init := func(m *layers.Sequential) *vm.Store {
				e, err := m.Emit(dt, layers.Inference)
				require.NoError(t, err)
				s := vm.NewStore()
				require.NoError(t, s.Init(e.Graph, m.RandomSeed(), nil))
				return s
			}
			two, three := init(build(false)), init(build(true))
			assert.True(t, three.Has("dense_2/kernel"))
			want := storeValues(t, two, names...)
			assert.Equal(t, want, storeValues(t, three, names...), "appending a layer changed the others' initial values")
			// the values are random draws, not something every seed gives
			for i, v := range want {
				assert.NotEqual(t, make([]float64, len(v)), v, "%s is all zeros", names[i])
			}
			m := build(false)
			m.Seed(12)
			assert.NotEqual(t, want[0], storeValues(t, init(m), names[0])[0], "another seed gave the same kernel")
		})
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

// Every layer of the package called before Build (a custom model that
// skips Sequential.Build) records an error on the graph instead of
// panicking or emitting an unchecked configuration; once built, the same
// layer emits without error.
func TestCallBeforeBuild(t *testing.T) {
	tests := []struct {
		layer layers.Layer
		class string
	}{
		{layers.Input(4), "InputLayer"},
		{layers.Flatten(), "Flatten"},
		{layers.Dense(3, layers.DenseOptions{}), "Dense"},
		{layers.Activation("relu"), "Activation"},
		{layers.LeakyReLU(layers.LeakyReLUOptions{}), "LeakyReLU"},
		{layers.ELU(0), "ELU"},
		{layers.SELU(), "SELU"},
		{layers.PReLU(layers.PReLUOptions{}), "PReLU"},
		{layers.RReLU(layers.RReLUOptions{}), "RReLU"},
		{layers.BatchNormalization(layers.BNOptions{}), "BatchNormalization"},
		{layers.Dropout(0.5, layers.DropoutOptions{}), "Dropout"},
		{layers.AlphaDropout(0.5, layers.DropoutOptions{}), "AlphaDropout"},
	}
	for _, tc := range tests {
		t.Run(tc.class, func(t *testing.T) {
			require.Equal(t, tc.class, tc.layer.Class())
			tc.layer.SetName("l")
			for _, mode := range []layers.Mode{layers.Inference, layers.Training} {
				g := graph.New(graph.Float32)
				x := g.Input("x", graph.Shape{graph.Batch, 4})
				y := tc.layer.Call(&layers.Context{Graph: g, Mode: mode}, x)
				require.Error(t, g.Err(), "%v mode", mode)
				assert.Contains(t, g.Err().Error(), `layer "l" (`+tc.class+`) called before Build`)
				assert.True(t, y.IsPoisoned(), "%v mode", mode)
			}
			_, err := tc.layer.Build(graph.Shape{graph.Batch, 4})
			require.NoError(t, err)
			for _, mode := range []layers.Mode{layers.Inference, layers.Training} {
				g := graph.New(graph.Float32)
				x := g.Input("x", graph.Shape{graph.Batch, 4})
				tc.layer.Call(&layers.Context{Graph: g, Mode: mode}, x)
				require.NoError(t, g.Err(), "built, %v mode", mode)
			}
		})
	}

	// a Build that fails leaves the layer unbuilt, even one built before
	for _, l := range []layers.Layer{
		layers.PReLU(layers.PReLUOptions{SharedAxes: []int{2}}),
		layers.Dense(3, layers.DenseOptions{}),
		layers.BatchNormalization(layers.BNOptions{Axis: 2}),
	} {
		t.Run("rebuild "+l.Class(), func(t *testing.T) {
			_, err := l.Build(graph.Shape{graph.Batch, 4, 2})
			if l.Class() == "Dense" {
				require.Error(t, err) // Dense takes rank 2 only
				_, err = l.Build(graph.Shape{graph.Batch, 4})
			}
			require.NoError(t, err)
			_, err = l.Build(graph.Shape{graph.Batch, 4})
			if l.Class() == "Dense" {
				_, err = l.Build(graph.Shape{graph.Batch, 4, 2})
			}
			require.Error(t, err)
			assert.Empty(t, l.Variables())
			g := graph.New(graph.Float32)
			l.Call(&layers.Context{Graph: g}, g.Input("x", graph.Shape{graph.Batch, 4}))
			assert.ErrorContains(t, g.Err(), "called before Build")
		})
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
