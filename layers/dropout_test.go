package layers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// stepRunner compiles a model emitted with opts into a program fetching the
// output, every dropout mask of the graph and the updates, on store (which
// it initializes), and returns a function running one step on x.
func stepRunner(t *testing.T, m *layers.Sequential, dt graph.DType, opts layers.EmitOptions, store *vm.Store, x testutil.Value) func() (y []float64, masks [][]float64) {
	t.Helper()
	e, err := m.EmitWith(dt, opts)
	require.NoError(t, err)
	require.NoError(t, store.Init(e.Graph, m.RandomSeed(), nil))
	var maskNodes []*graph.Node
	for _, n := range e.Graph.Nodes() {
		if n.Op().Name() == "dropout_mask" {
			maskNodes = append(maskNodes, n)
		}
	}
	fetches := append(append([]*graph.Node{e.Output}, maskNodes...), e.Updates...)
	p, err := compile.Compile(e.Graph, fetches, compile.Options{})
	require.NoError(t, err)
	mach := vm.NewMachine(p, store)
	feeds := vm.Feeds{"x": testutil.Tensor(dt, x.Shape, x.Data)}
	return func() ([]float64, [][]float64) {
		out, err := mach.Run(feeds)
		require.NoError(t, err)
		var masks [][]float64
		for _, o := range out[1 : 1+len(maskNodes)] {
			masks = append(masks, testutil.Float64s(o))
		}
		return testutil.Float64s(out[0]), masks
	}
}

func randValue(seed uint64, shape ...int) testutil.Value {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return testutil.Value{Name: "x", Shape: shape, Data: data}
}

// In inference mode dropout layers are the identity: the output node is
// the input node, no mask is drawn and no step counter is made.
func TestDropoutInferenceIdentity(t *testing.T) {
	m := layers.NewSequential(layers.Input(10), layers.Dropout(0.5, layers.DropoutOptions{}), layers.AlphaDropout(0.2, layers.DropoutOptions{}))
	e, err := m.Emit(graph.Float32, layers.Inference)
	require.NoError(t, err)
	assert.Same(t, e.Input, e.Output)
	assert.Nil(t, e.Graph.Node(layers.RNGCounterName))
	assert.Empty(t, e.Updates)

	// rate 0 is the identity in training too (Keras: "if training and rate > 0")
	m0 := layers.NewSequential(layers.Input(10), layers.Dropout(0, layers.DropoutOptions{}))
	e, err = m0.Emit(graph.Float32, layers.Training)
	require.NoError(t, err)
	assert.Same(t, e.Input, e.Output)
}

// Training-mode Dropout: the fraction dropped is within statistical bounds
// of the rate, kept values are scaled by 1/(1−rate), each step draws a new
// mask, the step counter advances once per step however many dropout
// layers there are, two layers draw different masks, and the masks are
// reproducible from the model seed.
func TestDropoutTraining(t *testing.T) {
	const rows, cols, rate = 64, 500, 0.3
	n := rows * cols
	x := randValue(1, rows, cols)
	model := func(seed uint64) *layers.Sequential {
		m := layers.NewSequential(layers.Input(cols),
			layers.Dropout(rate, layers.DropoutOptions{}),
			layers.Dropout(rate, layers.DropoutOptions{}))
		m.Seed(seed)
		return m
	}
	m := model(3)
	e, err := m.Emit(graph.Float64, layers.Training)
	require.NoError(t, err)
	require.Len(t, e.Updates, 1, "one counter update per graph")
	assert.Equal(t, "assign", e.Updates[0].Op().Name())
	assert.Same(t, e.Graph.Node(layers.RNGCounterName), e.Updates[0].Input(0))

	store := vm.NewStore()
	run := stepRunner(t, m, graph.Float64, layers.EmitOptions{Mode: layers.Training}, store, x)
	c, err := store.Float64s(layers.RNGCounterName)
	require.NoError(t, err)
	assert.Equal(t, []float64{0}, c, "the counter starts at 0")
	y1, masks1 := run()
	y2, masks2 := run()
	require.Len(t, masks1, 2)
	c, err = store.Float64s(layers.RNGCounterName)
	require.NoError(t, err)
	assert.Equal(t, []float64{2}, c, "the counter after two steps")

	for step, masks := range [][][]float64{masks1, masks2} {
		y := [][]float64{y1, y2}[step]
		for k, mask := range masks {
			dropped := 0
			for _, v := range mask {
				if v == 0 {
					dropped++
				}
			}
			// Binomial(32000, 0.3): σ = √(n·p·(1−p)) ≈ 82; allow 5σ
			assert.InDelta(t, rate*float64(n), float64(dropped), 5*math.Sqrt(float64(n)*rate*(1-rate)), "layer %d step %d", k, step+1)
		}
		// two layers: y = x·m₁·m₂/(1−p)² (one rounding per layer)
		for i := range y {
			want := x.Data[i] * masks[0][i] / (1 - rate) * masks[1][i] / (1 - rate)
			require.InDelta(t, want, y[i], 1e-15*math.Abs(want), "y[%d]", i)
		}
	}
	assert.NotEqual(t, masks1[0], masks1[1], "two layers draw different masks")
	assert.NotEqual(t, masks1[0], masks2[0], "a new mask each step")

	// the same model seed on a new store draws the same masks; another
	// seed draws others
	_, again := stepRunner(t, model(3), graph.Float64, layers.EmitOptions{Mode: layers.Training}, vm.NewStore(), x)()
	assert.Equal(t, masks1, again)
	_, other := stepRunner(t, model(4), graph.Float64, layers.EmitOptions{Mode: layers.Training}, vm.NewStore(), x)()
	assert.NotEqual(t, masks1[0], other[0])

	// an explicit layer seed overrides the model seed
	pinned := func(modelSeed uint64) [][]float64 {
		m := layers.NewSequential(layers.Input(cols), layers.Dropout(rate, layers.DropoutOptions{Seed: 99}))
		m.Seed(modelSeed)
		_, masks := stepRunner(t, m, graph.Float64, layers.EmitOptions{Mode: layers.Training}, vm.NewStore(), x)()
		return masks
	}
	assert.Equal(t, pinned(1), pinned(2))
}

// AlphaDropout in training computes a·(x·mask + α'·(1−mask)) + b with the
// mask it drew.
func TestAlphaDropoutLayer(t *testing.T) {
	const rate = 0.2
	x := randValue(2, 32, 40)
	m := layers.NewSequential(layers.Input(40), layers.AlphaDropout(rate, layers.DropoutOptions{}))
	m.Seed(8)
	y, masks := stepRunner(t, m, graph.Float64, layers.EmitOptions{Mode: layers.Training}, vm.NewStore(), x)()
	require.Len(t, masks, 1)
	a, b := nodes.AlphaDropoutCoefficients(rate)
	for i := range y {
		k := masks[0][i]
		want := a*(x.Data[i]*k+nodes.AlphaDropoutAlpha*(1-k)) + b
		require.Equal(t, want, y[i], "y[%d] with mask %v", i, k)
	}
}

// NoiseShape shares one draw along the axes where it is 1.
func TestDropoutNoiseShape(t *testing.T) {
	const b, steps, f = 8, 5, 30
	x := randValue(4, b, steps, f)
	m := layers.NewSequential(layers.Input(steps, f), layers.Dropout(0.5, layers.DropoutOptions{NoiseShape: []int{graph.Batch, 1, f}}))
	m.Seed(2)
	y, masks := stepRunner(t, m, graph.Float64, layers.EmitOptions{Mode: layers.Training}, vm.NewStore(), x)()
	require.Len(t, masks[0], b*f, "the mask is [B,1,F]")
	for i := range b {
		for j := range steps {
			for k := range f {
				idx := (i*steps+j)*f + k
				require.Equal(t, x.Data[idx]*masks[0][i*f+k]*2, y[idx])
			}
		}
	}
}

// MCDropout keeps dropout on at inference: each run of the inference
// program draws a new mask (the program advances the counter), while
// RReLU and BatchNormalization keep their inference behaviour; without
// MCDropout the same program is deterministic.
func TestMCDropout(t *testing.T) {
	x := randValue(5, 16, 20)
	m := layers.NewSequential(layers.Input(20),
		layers.Dense(20, layers.DenseOptions{}),
		layers.RReLU(layers.RReLUOptions{}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Dropout(0.5, layers.DropoutOptions{}))
	m.Seed(6)
	store := vm.NewStore()
	e, err := m.EmitWith(graph.Float64, layers.EmitOptions{Mode: layers.Inference, MCDropout: true})
	require.NoError(t, err)
	require.Len(t, e.Updates, 1, "only the counter's advance")
	assert.Same(t, e.Graph.Node(layers.RNGCounterName), e.Updates[0].Input(0))
	for _, n := range e.Graph.Nodes() {
		assert.NotEqual(t, "rrelu_slopes", n.Op().Name(), "RReLU draws at inference")
		assert.NotEqual(t, "batch_norm_train", n.Op().Name(), "BatchNorm uses batch statistics at inference")
	}

	run := stepRunner(t, m, graph.Float64, layers.EmitOptions{Mode: layers.Inference, MCDropout: true}, store, x)
	y1, m1 := run()
	y2, m2 := run()
	assert.NotEqual(t, m1, m2, "a new mask per pass")
	assert.NotEqual(t, y1, y2)

	det := stepRunner(t, m, graph.Float64, layers.EmitOptions{Mode: layers.Inference}, store, x)
	d1, dm := det()
	d2, _ := det()
	assert.Empty(t, dm)
	assert.Equal(t, d1, d2, "plain inference is deterministic")
	// a kept unit of the MC pass is the deterministic output doubled
	for i, k := range m1[0] {
		require.Equal(t, d1[i]*k*2, y1[i])
	}
}

func TestDropoutBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		layer layers.Layer
		want  string
	}{
		{"rate 1", layers.Dropout(1, layers.DropoutOptions{}), "dropout (Dropout): rate 1: want 0 ≤ rate < 1"},
		{"rate negative", layers.Dropout(-0.1, layers.DropoutOptions{}), "rate -0.1: want 0 ≤ rate < 1"},
		{"rate NaN", layers.AlphaDropout(math.NaN(), layers.DropoutOptions{}), "alpha_dropout (AlphaDropout): rate NaN"},
		{"noise shape length", layers.Dropout(0.5, layers.DropoutOptions{NoiseShape: []int{0, 1}}), "noise_shape [0 1]: want 3 entries"},
		{"noise shape entry", layers.Dropout(0.5, layers.DropoutOptions{NoiseShape: []int{0, 2, 4}}), "entry 1 is 2: want 1 (shared)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := layers.NewSequential(layers.Input(3, 4), tc.layer)
			err := m.Build()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// Dropout layers have no variables and show in the summary as Keras does.
func TestDropoutSummary(t *testing.T) {
	m := layers.NewSequential(layers.Input(4), layers.Dense(3, layers.DenseOptions{}), layers.Dropout(0.5, layers.DropoutOptions{}), layers.AlphaDropout(0.1, layers.DropoutOptions{}))
	s := m.Summary()
	assert.Contains(t, s, "dropout (Dropout)            (None, 3)                 0")
	assert.Contains(t, s, "alpha_dropout (AlphaDropout)")
	tr, nt, err := m.Params()
	require.NoError(t, err)
	assert.Equal(t, 15, tr)
	assert.Equal(t, 0, nt, "the step counter is the model's, not a layer's")
}
