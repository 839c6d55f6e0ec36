package layers_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// bnLayerGolden reads the layer options for a golden case from its
// parameters. The convention's defaults are left to the layer (so the
// golden values check them); a parameter that differs from them is passed
// explicitly; one the layer cannot express fails the case.
func bnLayerGolden(c golden.Case) (opts layers.BNOptions, train bool, err error) {
	switch c.Op {
	case "batch_norm_train":
		train = true
	case "batch_norm_infer":
	default:
		return opts, false, fmt.Errorf("unknown op %q", c.Op)
	}
	momentum, eps, estimator := layers.KerasBNMomentum, nodes.KerasBNEpsilon, "biased"
	update := "moving = moving*momentum + batch*(1-momentum)"
	switch c.String("convention") {
	case "keras":
	case "pytorch":
		opts.Convention = layers.PyTorch
		momentum, eps, estimator = layers.TorchBNMomentum, nodes.TorchBNEpsilon, "unbiased"
		update = "moving = (1-momentum)*moving + momentum*batch"
	default:
		return opts, false, fmt.Errorf("unknown convention %v", c.Params["convention"])
	}
	for k, v := range c.Params {
		switch k {
		case "convention":
		case "training":
			if v != train {
				return opts, false, fmt.Errorf("training = %v for %s", v, c.Op)
			}
		case "axis":
			a, ok := v.(float64)
			if !ok || a != math.Trunc(a) || a == 0 {
				return opts, false, fmt.Errorf("axis %v", v)
			}
			opts.Axis = int(a)
		case "eps":
			if e, ok := v.(float64); !ok || e != eps {
				opts.Epsilon = e
			}
		case "momentum":
			if m, ok := v.(float64); !ok || m != momentum {
				opts.Momentum = m
			}
		case "moving_var_estimator":
			if v != estimator {
				return opts, false, fmt.Errorf("the %s convention averages the %s variance, the case wants %v", c.String("convention"), estimator, v)
			}
		case "moving_update":
			if v != update {
				return opts, false, fmt.Errorf("the %s convention updates %q, the case wants %q", c.String("convention"), update, v)
			}
		default:
			return opts, false, fmt.Errorf("unknown parameter %s = %v", k, v)
		}
	}
	return opts, train, nil
}

// TestBatchNormLayerGolden runs every case of batchnorm.json through the
// layer in a Sequential model, in float64 and float32: γ, β and the moving
// statistics are set in the store, x is fed with an open batch, and the
// output, the gradients for x, γ and β, and the store after the training
// program ran (its Updates fetched) are compared. Tolerances as in the
// nodes golden test: 1e-10·max(1, |want|) in float64; in float32 1e-5
// relative plus 1e-6·S absolute, S = max(1, max|want|), and for x̄ in
// training S also covers K = max|γ|/sqrt(σ²+ε)·max|ḡ|, the size of the
// terms the closed form cancels (float32 inputs move x̂ by ~6e-8·|x|/σ).
func TestBatchNormLayerGolden(t *testing.T) {
	f := golden.Load(t, "batchnorm.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			opts, train, err := bnLayerGolden(c)
			if err != nil {
				t.Fatalf("case %s (op %s, params %v): %v", c.Name, c.Op, c.Params, err)
			}
			for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
				t.Run(dt.String(), func(t *testing.T) { bnLayerGoldenRun(t, dt, c, opts, train) })
			}
		})
	}
}

func bnLayerGoldenRun(t *testing.T, dt graph.DType, c golden.Case, opts layers.BNOptions, train bool) {
	xs := c.Inputs["x"].Shape
	model := layers.NewSequential(layers.Input(xs[1:]...), layers.BatchNormalization(opts))
	mode := layers.Inference
	if train {
		mode = layers.Training
	}
	e, err := model.Emit(dt, mode)
	require.NoError(t, err)
	g := e.Graph
	store := vm.NewStore()
	vars := map[string]string{"gamma": "gamma", "beta": "beta", "moving_mean": "moving_mean", "moving_var": "moving_variance"}
	for k, name := range vars {
		v := c.Inputs[k]
		require.NoError(t, store.SetFloat64s("batch_normalization/"+name, v.Shape, dt, v.Data))
	}
	require.NoError(t, store.Init(g, 0, nil))
	for k := range c.Inputs {
		if _, ok := vars[k]; !ok && k != "x" {
			t.Fatalf("case %s: unknown input %s", c.Name, k)
		}
	}
	up := g.Input("up", e.Input.Shape())
	loss := nodes.Sum(nodes.Mul(e.Output, up), false)
	wrtByName := map[string]*graph.Node{"x": e.Input, "gamma": g.Node("batch_normalization/gamma"), "beta": g.Node("batch_normalization/beta")}
	var names []string
	for k := range c.Grads {
		names = append(names, k)
	}
	slices.Sort(names)
	var wrt []*graph.Node
	for _, k := range names {
		n := wrtByName[k]
		if n == nil {
			t.Fatalf("case %s: gradient for %s, which the layer does not differentiate", c.Name, k)
		}
		wrt = append(wrt, n)
	}
	grads, err := autodiff.Grad(loss, wrt...)
	require.NoError(t, err)
	if train {
		assert.Len(t, e.Updates, 2, "a training BN records two updates")
	} else {
		assert.Empty(t, e.Updates, "an inference BN updates nothing")
	}
	fetches := append(append([]*graph.Node{e.Output}, grads...), e.Updates...)
	p, err := compile.Compile(g, fetches, compile.Options{})
	require.NoError(t, err)
	res, err := vm.NewMachine(p, store).Run(vm.Feeds{
		"x":  testutil.Tensor(dt, xs, c.Inputs["x"].Data),
		"up": testutil.Tensor(dt, c.Upstream.Shape, c.Upstream.Data),
	})
	require.NoError(t, err)

	bnLayerCompare(t, dt, "BatchNormalization y", testutil.Float64s(res[0]), c.Outputs["y"], 0)
	for i, k := range names {
		scale := 0.0
		if k == "x" && train {
			scale = bnLayerCancelScale(c)
		}
		bnLayerCompare(t, dt, "BatchNormalization grad "+k, testutil.Float64s(res[1+i]), c.Grads[k], scale)
	}
	for k, name := range map[string]string{"moving_mean": "moving_mean", "moving_var": "moving_variance"} {
		got, err := store.Float64s("batch_normalization/" + name)
		require.NoError(t, err)
		want, ok := c.StateAfter[k]
		if !ok {
			// inference leaves the state as it was
			want = c.Inputs[k]
		}
		bnLayerCompare(t, dt, "BatchNormalization state "+name, got, want, 0)
	}
	for k := range c.StateAfter {
		if k != "moving_mean" && k != "moving_var" {
			t.Errorf("case %s: unknown state %s", c.Name, k)
		}
	}
}

func bnLayerCancelScale(c golden.Case) float64 {
	eps, _ := c.Float("eps")
	k, up := 0.0, 0.0
	for i, g := range c.Inputs["gamma"].Data {
		k = max(k, math.Abs(g)/math.Sqrt(c.Outputs["batch_var"].Data[i]+eps))
	}
	for _, u := range c.Upstream.Data {
		up = max(up, math.Abs(u))
	}
	return k * up
}

func bnLayerCompare(t *testing.T, dt graph.DType, what string, got []float64, want golden.Tensor, scale float64) {
	t.Helper()
	if dt == graph.Float64 {
		golden.Compare(t, what, got, want, 1e-10)
		return
	}
	require.Len(t, got, len(want.Data), what)
	scale = max(scale, 1)
	for _, w := range want.Data {
		scale = max(scale, math.Abs(w))
	}
	bad := 0
	for i := range got {
		if !golden.CloseRel(got[i], want.Data[i], 1e-5, 1e-6*scale) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.9g, want %.9g", what, i, got[i], want.Data[i])
			}
			bad++
		}
	}
}

// bnBatchStats computes the per-feature mean, biased and unbiased variance
// of rows of x ([n, f], row-major), for the expected values below.
func bnBatchStats(x []float64, n, f int) (mean, biased, unbiased []float64) {
	mean, biased, unbiased = make([]float64, f), make([]float64, f), make([]float64, f)
	for j := 0; j < f; j++ {
		for i := 0; i < n; i++ {
			mean[j] += x[i*f+j]
		}
		mean[j] /= float64(n)
		for i := 0; i < n; i++ {
			d := x[i*f+j] - mean[j]
			biased[j] += d * d
		}
		unbiased[j] = biased[j] / float64(n-1)
		biased[j] /= float64(n)
	}
	return mean, biased, unbiased
}

func storeValues(t *testing.T, s *vm.Store, names ...string) [][]float64 {
	t.Helper()
	var out [][]float64
	for _, n := range names {
		v, err := s.Float64s(n)
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

// State lives outside the programs: train three steps (the training program
// fetches the layer's Updates), then build the inference program, which
// must use the updated moving statistics; then rebuild the training
// program, which must keep them. In both conventions.
func TestBatchNormLayerState(t *testing.T) {
	const n, f = 4, 3
	x := []float64{0.5, -1, 2, 1.5, 0, 2, -0.5, 3, 2, 2.5, 1, 2} // feature 2 is constant
	mean, biased, unbiased := bnBatchStats(x, n, f)
	names := []string{"batch_normalization/moving_mean", "batch_normalization/moving_variance"}
	for _, tc := range []struct {
		conv layers.Convention
		keep float64   // weight of the old value per step
		vars []float64 // variance averaged in
		eps  float64
	}{
		{layers.Keras, 0.99, biased, 1e-3},
		{layers.PyTorch, 0.9, unbiased, 1e-5},
	} {
		t.Run(tc.conv.String(), func(t *testing.T) {
			// after k steps on the same batch from mm = 0, mv = 1:
			// mm = μ·(1 − keepᵏ), mv = keepᵏ + v·(1 − keepᵏ)
			expect := func(k int) [][]float64 {
				w := math.Pow(tc.keep, float64(k))
				mm, mv := make([]float64, f), make([]float64, f)
				for j := range mm {
					mm[j] = mean[j] * (1 - w)
					mv[j] = w + tc.vars[j]*(1-w)
				}
				return [][]float64{mm, mv}
			}
			model := layers.NewSequential(layers.Input(f), layers.BatchNormalization(layers.BNOptions{Convention: tc.conv}))
			model.Seed(5)
			store := vm.NewStore()
			feeds := vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{n, f}, x)}
			trainMachine := func() *vm.Machine {
				e, err := model.Emit(graph.Float64, layers.Training)
				require.NoError(t, err)
				require.NoError(t, store.Init(e.Graph, model.RandomSeed(), nil))
				p, err := compile.Compile(e.Graph, append([]*graph.Node{e.Output}, e.Updates...), compile.Options{})
				require.NoError(t, err)
				return vm.NewMachine(p, store)
			}
			m := trainMachine()
			assert.Equal(t, expect(0), storeValues(t, store, names...), "initial moving statistics")
			for step := 1; step <= 3; step++ {
				_, err := m.Run(feeds)
				require.NoError(t, err)
				bnAssertClose(t, expect(step), storeValues(t, store, names...), "moving statistics after step %d", step)
			}
			after3 := storeValues(t, store, names...)

			// inference: built and compiled without touching the state, and
			// normalizing with the moving statistics (γ = 1, β = 0)
			e, err := model.Emit(graph.Float64, layers.Inference)
			require.NoError(t, err)
			require.NoError(t, store.Init(e.Graph, model.RandomSeed(), nil))
			p, err := compile.Compile(e.Graph, []*graph.Node{e.Output}, compile.Options{})
			require.NoError(t, err)
			assert.Equal(t, after3, storeValues(t, store, names...), "building the inference program changed the state")
			xi := []float64{1, 2, 3}
			out, err := vm.NewMachine(p, store).Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{1, f}, xi)})
			require.NoError(t, err)
			got := testutil.Float64s(out[0])
			for j := range xi {
				want := (xi[j] - after3[0][j]) / math.Sqrt(after3[1][j]+tc.eps)
				assert.InDelta(t, want, got[j], 1e-14, "inference output %d", j)
			}
			assert.Equal(t, after3, storeValues(t, store, names...), "running the inference program changed the state")

			// the training program again: the state is kept, and a fourth
			// step continues from it
			m = trainMachine()
			assert.Equal(t, after3, storeValues(t, store, names...), "rebuilding the training program changed the state")
			_, err = m.Run(feeds)
			require.NoError(t, err)
			bnAssertClose(t, expect(4), storeValues(t, store, names...), "moving statistics after step 4")

			// a program that does not fetch the updates leaves the state alone
			e, err = model.Emit(graph.Float64, layers.Training)
			require.NoError(t, err)
			p, err = compile.Compile(e.Graph, []*graph.Node{e.Output}, compile.Options{})
			require.NoError(t, err)
			before := storeValues(t, store, names...)
			_, err = vm.NewMachine(p, store).Run(feeds)
			require.NoError(t, err)
			assert.Equal(t, before, storeValues(t, store, names...))
		})
	}
}

// bnAssertClose compares with 1e-14 absolute: a handful of float64
// operations on values of order 1.
func bnAssertClose(t *testing.T, want, got [][]float64, msg string, args ...any) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		assert.InDeltaSlice(t, want[i], got[i], 1e-14, fmt.Sprintf(msg, args...))
	}
}

// One value per channel in training: Keras computes it (y = β), PyTorch's
// convention refuses it when run; inference with a batch of 1 works in
// both.
func TestBatchNormLayerOneValue(t *testing.T) {
	for _, conv := range []layers.Convention{layers.Keras, layers.PyTorch} {
		t.Run(conv.String(), func(t *testing.T) {
			model := layers.NewSequential(layers.Input(2, 2, 3), layers.BatchNormalization(layers.BNOptions{Convention: conv, Axis: 1}))
			store := vm.NewStore()
			one := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{1, 2, 2, 3}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})}
			for _, mode := range []layers.Mode{layers.Training, layers.Inference} {
				e, err := model.Emit(graph.Float32, mode)
				require.NoError(t, err)
				require.NoError(t, store.Init(e.Graph, 1, nil))
				p, err := compile.Compile(e.Graph, append([]*graph.Node{e.Output}, e.Updates...), compile.Options{})
				require.NoError(t, err)
				out, err := vm.NewMachine(p, store).Run(one)
				// axis 1 of [1, 2, 2, 3] has 2 channels of 1·2·3 = 6
				// values each: fine in both conventions
				require.NoError(t, err, "%v", mode)
				require.Len(t, testutil.Float64s(out[0]), 12)
			}
			// channels last on [1, 4]: one value per channel
			model = layers.NewSequential(layers.Input(4), layers.BatchNormalization(layers.BNOptions{Convention: conv, BetaInit: initializers.Constant{Value: 0.5}}))
			one = vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{1, 4}, []float64{1, -2, 3, 4})}
			store = vm.NewStore()
			e, err := model.Emit(graph.Float32, layers.Training)
			require.NoError(t, err)
			require.NoError(t, store.Init(e.Graph, 1, nil))
			p, err := compile.Compile(e.Graph, append([]*graph.Node{e.Output}, e.Updates...), compile.Options{})
			require.NoError(t, err)
			out, err := vm.NewMachine(p, store).Run(one)
			if conv == layers.PyTorch {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "expected more than 1 value per channel when training")
				mv := storeValues(t, store, "batch_normalization/moving_variance")[0]
				assert.Equal(t, []float64{1, 1, 1, 1}, mv, "a refused step changed the moving variance")
			} else {
				require.NoError(t, err)
				assert.Equal(t, []float64{0.5, 0.5, 0.5, 0.5}, testutil.Float64s(out[0]), "y = β")
			}
			e, err = model.Emit(graph.Float32, layers.Inference)
			require.NoError(t, err)
			p, err = compile.Compile(e.Graph, []*graph.Node{e.Output}, compile.Options{})
			require.NoError(t, err)
			_, err = vm.NewMachine(p, store).Run(one)
			require.NoError(t, err, "inference with a batch of 1")
		})
	}
}

// BN before or after the activation, after a Dense without bias, and on
// channels-first images: the whole model's gradients (kernels, γ, β, the
// input) pass the finite-difference check in training and inference mode,
// and a bias before BN gets a zero gradient (SEMANTICS §4.1).
func TestBatchNormLayerPlacement(t *testing.T) {
	tests := []struct {
		name  string
		model func() *layers.Sequential
		batch []int
	}{
		{"dense_nobias_bn_elu", func() *layers.Sequential {
			return layers.NewSequential(layers.Input(6),
				layers.Dense(5, layers.DenseOptions{UseBias: layers.False}),
				layers.BatchNormalization(layers.BNOptions{}),
				layers.Activation("elu"))
		}, []int{7, 6}},
		{"dense_tanh_bn", func() *layers.Sequential {
			return layers.NewSequential(layers.Input(6),
				layers.Dense(5, layers.DenseOptions{Activation: "tanh"}),
				layers.BatchNormalization(layers.BNOptions{Convention: layers.PyTorch}),
				layers.Dense(2, layers.DenseOptions{}))
		}, []int{5, 6}},
		{"channels_first", func() *layers.Sequential {
			return layers.NewSequential(layers.Input(3, 2, 2),
				layers.BatchNormalization(layers.BNOptions{Axis: 1, Scale: layers.False}),
				layers.Flatten(),
				layers.Dense(2, layers.DenseOptions{Activation: "sigmoid"}))
		}, []int{2, 3, 2, 2}},
	}
	for ti, tc := range tests {
		for _, mode := range []layers.Mode{layers.Training, layers.Inference} {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(31, uint64(ti)))
				model := tc.model()
				model.Seed(uint64(ti))
				e, err := model.Emit(graph.Float64, mode)
				require.NoError(t, err)
				g := e.Graph
				store := vm.NewStore()
				require.NoError(t, store.Init(g, model.RandomSeed(), nil))
				// non-trivial γ, β and moving statistics
				for _, v := range g.Variables() {
					name, size := v.Name(), v.Shape().Size()
					switch {
					case hasSuffix(name, "gamma"), hasSuffix(name, "moving_variance"):
						require.NoError(t, store.SetFloat64s(name, v.Shape(), graph.Float64, randIn(rng, size, 0.5, 2)))
					case hasSuffix(name, "beta"), hasSuffix(name, "moving_mean"), hasSuffix(name, "bias"):
						require.NoError(t, store.SetFloat64s(name, v.Shape(), graph.Float64, randIn(rng, size, -0.5, 0.5)))
					}
				}
				outShape := model.OutputShape()
				w := g.Input("w", outShape)
				loss := nodes.Sum(nodes.Mul(e.Output, w), false)
				wrt := []*graph.Node{e.Input}
				for _, v := range g.Variables() {
					if v.Op().(graph.VariableOp).Trainable {
						wrt = append(wrt, v)
					}
				}
				feeds := vm.Feeds{
					"x": testutil.Tensor(graph.Float64, tc.batch, randIn(rng, graph.Shape(tc.batch).Size(), -2, 2)),
					"w": testutil.Tensor(graph.Float64, outShape.WithBatch(tc.batch[0]), randIn(rng, outShape.WithBatch(tc.batch[0]).Size(), -1, 1)),
				}
				rep, err := autodiff.Check(g, loss, wrt, feeds, store, autodiff.CheckOptions{})
				require.NoError(t, err, "worst %v", rep.Worst)

				// the training step itself runs, updates included
				p, err := compile.Compile(g, append([]*graph.Node{loss}, e.Updates...), compile.Options{})
				require.NoError(t, err)
				_, err = vm.NewMachine(p, store).Run(feeds)
				require.NoError(t, err)
			})
		}
	}

	// a bias right before BN has a zero gradient in training: Σ x̄ = 0
	model := layers.NewSequential(layers.Input(4), layers.Dense(3, layers.DenseOptions{}), layers.BatchNormalization(layers.BNOptions{}), layers.Activation("elu"))
	e, err := model.Emit(graph.Float64, layers.Training)
	require.NoError(t, err)
	store := vm.NewStore()
	require.NoError(t, store.Init(e.Graph, 3, nil))
	bias := e.Graph.Node("dense/bias")
	gb, err := autodiff.Grad(nodes.Sum(nodes.Mul(e.Output, e.Output), false), bias)
	require.NoError(t, err)
	p, err := compile.Compile(e.Graph, gb, compile.Options{})
	require.NoError(t, err)
	out, err := vm.NewMachine(p, store).Run(vm.Feeds{"x": testutil.Tensor(graph.Float64, []int{5, 4}, randIn(rand.New(rand.NewPCG(1, 1)), 20, -2, 2))})
	require.NoError(t, err)
	// sums of 5 terms of order 1: rounding 1e-15
	assert.InDeltaSlice(t, []float64{0, 0, 0}, testutil.Float64s(out[0]), 1e-14, "gradient of the bias before BN")
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

func randIn(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

// Settings, defaults and variables.
func TestBatchNormLayerBuild(t *testing.T) {
	tests := []struct {
		name              string
		opts              layers.BNOptions
		input             []int
		axis              int
		momentum, epsilon float64
		vars              []string // name:trainable
	}{
		{"keras defaults", layers.BNOptions{}, []int{5}, 1, 0.99, 1e-3,
			[]string{"gamma:true", "beta:true", "moving_mean:false", "moving_variance:false"}},
		{"pytorch defaults", layers.BNOptions{Convention: layers.PyTorch}, []int{5}, 1, 0.1, 1e-5,
			[]string{"gamma:true", "beta:true", "moving_mean:false", "moving_variance:false"}},
		{"explicit", layers.BNOptions{Momentum: 0.9, Epsilon: 1e-4, Axis: -3}, []int{3, 8, 8}, 1, 0.9, 1e-4,
			[]string{"gamma:true", "beta:true", "moving_mean:false", "moving_variance:false"}},
		{"no scale", layers.BNOptions{Scale: layers.False, Axis: 2}, []int{3, 8, 8}, 2, 0.99, 1e-3,
			[]string{"beta:true", "moving_mean:false", "moving_variance:false"}},
		{"no center no scale", layers.BNOptions{Scale: layers.False, Center: layers.False}, []int{2, 7}, 2, 0.99, 1e-3,
			[]string{"moving_mean:false", "moving_variance:false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := layers.BatchNormalization(tc.opts)
			model := layers.NewSequential(layers.Input(tc.input...), l)
			require.NoError(t, model.Build())
			assert.Equal(t, "batch_normalization", l.Name())
			assert.Equal(t, "BatchNormalization", l.Class())
			assert.Equal(t, tc.axis, l.Axis, "axis")
			assert.Equal(t, tc.momentum, l.Momentum, "momentum")
			assert.Equal(t, tc.epsilon, l.Epsilon, "epsilon")
			var vars []string
			for _, v := range l.Variables() {
				vars = append(vars, fmt.Sprintf("%s:%v", v.Name, v.Trainable))
				assert.Equal(t, graph.Shape{tc.input[tc.axis-1]}, v.Shape, v.Name)
			}
			assert.Equal(t, tc.vars, vars)
		})
	}

	// initial values: Keras's, or as configured by name or value
	model := layers.NewSequential(layers.Input(3),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.BatchNormalization(layers.BNOptions{GammaInitializer: "zeros", BetaInit: initializers.Constant{Value: 2},
			MovingMeanInitializer: "ones", MovingVarianceInit: initializers.Constant{Value: 3}}))
	e, err := model.Emit(graph.Float32, layers.Inference)
	require.NoError(t, err)
	store := vm.NewStore()
	require.NoError(t, store.Init(e.Graph, 9, nil))
	assert.Equal(t, [][]float64{{1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, {0, 0, 0}, {2, 2, 2}, {1, 1, 1}, {3, 3, 3}},
		storeValues(t, store,
			"batch_normalization/gamma", "batch_normalization/beta", "batch_normalization/moving_mean", "batch_normalization/moving_variance",
			"batch_normalization_1/gamma", "batch_normalization_1/beta", "batch_normalization_1/moving_mean", "batch_normalization_1/moving_variance"))
}

func TestBatchNormLayerErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []int
		opts  layers.BNOptions
		want  string
	}{
		{"axis out of range", []int{4}, layers.BNOptions{Axis: 2}, "batch_normalization (BatchNormalization): axis 2 out of range for input shape (None, 4)"},
		{"batch axis", []int{4}, layers.BNOptions{Axis: -2}, "axis -2 out of range"},
		{"momentum above 1", []int{4}, layers.BNOptions{Momentum: 1.5}, "momentum 1.5: want a number in (0, 1]"},
		{"negative momentum", []int{4}, layers.BNOptions{Momentum: -0.1}, "momentum -0.1"},
		{"negative epsilon", []int{4}, layers.BNOptions{Epsilon: -1}, "epsilon -1: want a positive finite number"},
		{"unknown initializer", []int{4}, layers.BNOptions{GammaInitializer: "onez"}, `gamma_initializer: initializers: unknown initializer "onez"`},
		{"unknown moving initializer", []int{4}, layers.BNOptions{MovingVarianceInitializer: "onez"}, `moving_variance_initializer: initializers: unknown initializer "onez"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			model := layers.NewSequential(layers.Input(tc.input...), layers.BatchNormalization(tc.opts))
			err := model.Build()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = model.Emit(graph.Float32, layers.Training)
			assert.Error(t, err)
		})
	}

	// a γ of the wrong shape in the store is refused, not read past
	model := layers.NewSequential(layers.Input(4), layers.BatchNormalization(layers.BNOptions{}))
	e, err := model.Emit(graph.Float32, layers.Training)
	require.NoError(t, err)
	store := vm.NewStore()
	require.NoError(t, store.SetFloat64s("batch_normalization/gamma", graph.Shape{3}, graph.Float32, []float64{1, 1, 1}))
	err = store.Init(e.Graph, 1, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `variable "batch_normalization/gamma": the store has f32[3], the graph wants f32[4]`)
	p, err := compile.Compile(e.Graph, []*graph.Node{e.Output}, compile.Options{})
	require.NoError(t, err)
	_, err = vm.NewMachine(p, store).Run(vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{2, 4}, make([]float64, 8))})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "batch_normalization/gamma")
}

// Summary counts γ and β as trainable and the moving statistics as not, as
// Keras does: 4·784 = 3,136 parameters of which 1,568 are non-trainable.
func TestBatchNormLayerSummary(t *testing.T) {
	m := layers.NewSequential(layers.Input(784), layers.BatchNormalization(layers.BNOptions{}))
	s := m.Summary()
	for _, want := range []string{"(None, 784)", "3,136", "Total params: 3,136", "Trainable params: 1,568", "Non-trainable params: 1,568"} {
		assert.Contains(t, s, want)
	}
	checkGolden(t, "summary_batchnorm_784.txt", s)
	tr, nt, err := m.Params()
	require.NoError(t, err)
	assert.Equal(t, 1568, tr)
	assert.Equal(t, 1568, nt)

	// Géron's chapter 11 Fashion-MNIST model with BN after the input and
	// each hidden layer: Keras reports 271,346 parameters, 268,978
	// trainable, 2,368 non-trainable (BN layers of 3,136, 1,200 and 400).
	m = layers.NewSequential(layers.Input(28, 28),
		layers.Flatten(),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Dense(300, layers.DenseOptions{Activation: "elu", KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Dense(100, layers.DenseOptions{Activation: "elu", KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Dense(10, layers.DenseOptions{Activation: "softmax"}),
	)
	s = m.Summary()
	for _, want := range []string{"Total params: 271,346", "Trainable params: 268,978", "Non-trainable params: 2,368"} {
		assert.Contains(t, s, want)
	}
	checkGolden(t, "summary_batchnorm_mlp.txt", s)
}
