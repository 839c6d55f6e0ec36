package diagnostics_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/diagnostics"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// batch returns a [rows, cols] tensor of dtype drawn from N(0, std²) and
// labels in [0, classes), both from seed.
func batch(t testing.TB, dt graph.DType, rows, cols, classes int, std float64, seed uint64) (x, y *tensor.Dense) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	xv := make([]float64, rows*cols)
	for i := range xv {
		xv[i] = std * rng.NormFloat64()
	}
	yv := make([]float64, rows)
	for i := range yv {
		yv[i] = float64(rng.IntN(classes))
	}
	return tensorOf(t, dt, xv, rows, cols), tensorOf(t, dt, yv, rows)
}

func tensorOf(t testing.TB, dt graph.DType, v []float64, shape ...int) *tensor.Dense {
	t.Helper()
	var data any = v
	if dt == graph.Float32 {
		f := make([]float32, len(v))
		for i, e := range v {
			f[i] = float32(e)
		}
		data = f
	}
	d, err := vm.FromSlice(data, shape...)
	require.NoError(t, err)
	return d
}

// A ReLU layer whose bias is −100 outputs 0 for every input of a standard
// scale: every unit is dead, every value is zero, and no gradient reaches
// its kernel.
func TestDeadReLU(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			seq := layers.NewSequential(layers.Input(20),
				layers.Dense(16, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal",
					BiasInit: initializers.Constant{Value: -100}}),
				layers.Dense(8, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
				layers.Dense(3, layers.DenseOptions{}),
			)
			seq.Seed(1)
			x, y := batch(t, dt, 64, 20, 3, 1, 1)
			rep, err := diagnostics.InspectSequential(seq, nil, x, y)
			require.NoError(t, err)
			require.Len(t, rep.Layers, 3)
			dead := rep.Layers[0]
			assert.Equal(t, "dense", dead.Name)
			assert.Equal(t, "relu", dead.Activation)
			assert.Equal(t, 16, dead.Units)
			assert.Equal(t, 16, dead.DeadUnits)
			assert.Equal(t, 1.0, dead.Dead)
			assert.Equal(t, 1.0, dead.Zeros)
			assert.Equal(t, 0.0, dead.Mean)
			assert.Equal(t, 0.0, dead.Std)
			assert.Equal(t, 0.0, dead.KernelGradNorm, "a dead layer's kernel gets no gradient")
			// Its successor sees only zeros: relu(0·W + 0) = 0, dead too.
			assert.Equal(t, 1.0, rep.Layers[1].Dead)
			// The logits are the bias, 0: not a nonlinearity, and not dead
			// in the sense of a unit that could have fired; still all zero.
			assert.Equal(t, "", rep.Layers[2].Activation)
			assert.True(t, rep.Grads)
			assert.InDelta(t, math.Log(3), rep.Loss, 1e-6, "uniform logits over 3 classes")
		})
	}
}

// A healthy ReLU layer has some zeros and (almost surely, with 256 rows)
// no dead unit.
func TestHealthyReLU(t *testing.T) {
	seq := layers.NewSequential(layers.Input(20),
		layers.Dense(32, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
		layers.Dense(3, layers.DenseOptions{}),
	)
	seq.Seed(2)
	x, y := batch(t, graph.Float64, 256, 20, 3, 1, 2)
	rep, err := diagnostics.InspectSequential(seq, nil, x, y)
	require.NoError(t, err)
	l := rep.Layers[0]
	assert.Equal(t, 0, l.DeadUnits)
	// A ReLU of a symmetric pre-activation is 0 half the time.
	assert.InDelta(t, 0.5, l.Zeros, 0.1)
	assert.Greater(t, l.GradNorm, 0.0)
	assert.Greater(t, l.KernelGradNorm, 0.0)
}

// A tanh (or sigmoid) net with huge weights saturates; with Glorot weights
// it does not.
func TestSaturation(t *testing.T) {
	glorot := initializers.GlorotUniform()
	for _, tc := range []struct {
		name   string
		act    string
		init   initializers.Initializer
		lo, hi float64 // bounds of the share of saturated values, every layer
	}{
		{"tanh/huge", "tanh", initializers.RandomNormal{Stddev: 10}, 0.9, 1},
		{"sigmoid/huge", "sigmoid", initializers.RandomNormal{Stddev: 10}, 0.9, 1},
		// Glorot on standardized inputs: z ~ N(0, about 1); |z| > 2.65
		// has probability 0.8%, |z| > 4.6 far less.
		{"tanh/glorot", "tanh", glorot, 0, 0.05},
		{"sigmoid/glorot", "sigmoid", glorot, 0, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := []layers.Layer{layers.Input(50)}
			for range 3 {
				ls = append(ls, layers.Dense(50, layers.DenseOptions{Activation: tc.act, KernelInit: tc.init}))
			}
			ls = append(ls, layers.Dense(4, layers.DenseOptions{}))
			seq := layers.NewSequential(ls...)
			seq.Seed(3)
			x, y := batch(t, graph.Float32, 128, 50, 4, 1, 3)
			rep, err := diagnostics.InspectSequential(seq, nil, x, y)
			require.NoError(t, err)
			for _, l := range rep.Layers[:3] {
				assert.True(t, l.Saturable())
				assert.GreaterOrEqual(t, l.Saturated, tc.lo, "%s", l.Name)
				assert.LessOrEqual(t, l.Saturated, tc.hi, "%s", l.Name)
			}
			assert.False(t, rep.Layers[3].Saturable())
			assert.Equal(t, 0.0, rep.Layers[3].Saturated)
		})
	}
}

// The statistics and gradient norms agree with a forward and backward pass
// written out in plain Go, in float64, on a net with one dead unit forced.
func TestAgainstPlainGo(t *testing.T) {
	const rows, in, hid, out = 9, 4, 5, 3
	seq := layers.NewSequential(layers.Input(in),
		layers.Dense(hid, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
		layers.Dense(out, layers.DenseOptions{}),
	)
	seq.Seed(4)
	x, y := batch(t, graph.Float64, rows, in, out, 1, 4)
	store := vm.NewStore()
	// A first run creates the variables; then unit 0 is killed and the
	// other biases set to something that is not zero.
	_, err := diagnostics.InspectSequential(seq, store, x, nil)
	require.NoError(t, err)
	b1 := []float64{-100, 0.3, -0.2, 0.1, 0}
	require.NoError(t, store.SetFloat64s("dense/bias", graph.Shape{hid}, graph.Float64, b1))
	b2 := []float64{0.5, -0.5, 0.25}
	require.NoError(t, store.SetFloat64s("dense_1/bias", graph.Shape{out}, graph.Float64, b2))
	w1, err := store.Float64s("dense/kernel")
	require.NoError(t, err)
	w2, err := store.Float64s("dense_1/kernel")
	require.NoError(t, err)

	rep, err := diagnostics.InspectSequential(seq, store, x, y)
	require.NoError(t, err)

	xs, ys := x.Data().([]float64), y.Data().([]float64)
	// forward
	z1 := make([]float64, rows*hid)
	h1 := make([]float64, rows*hid)
	for i := range rows {
		for j := range hid {
			s := b1[j]
			for k := range in {
				s += xs[i*in+k] * w1[k*hid+j]
			}
			z1[i*hid+j] = s
			h1[i*hid+j] = math.Max(s, 0)
		}
	}
	z2 := make([]float64, rows*out)
	for i := range rows {
		for j := range out {
			s := b2[j]
			for k := range hid {
				s += h1[i*hid+k] * w2[k*out+j]
			}
			z2[i*out+j] = s
		}
	}
	// backward of the mean cross-entropy: dz2 = (softmax − onehot)/rows
	var loss float64
	dz2 := make([]float64, rows*out)
	for i := range rows {
		m := math.Inf(-1)
		for j := range out {
			m = math.Max(m, z2[i*out+j])
		}
		var sum float64
		for j := range out {
			sum += math.Exp(z2[i*out+j] - m)
		}
		label := int(ys[i])
		loss += (m + math.Log(sum) - z2[i*out+label]) / rows
		for j := range out {
			p := math.Exp(z2[i*out+j]-m) / sum
			if j == label {
				p--
			}
			dz2[i*out+j] = p / rows
		}
	}
	dh1 := make([]float64, rows*hid)
	dw2 := make([]float64, hid*out)
	for i := range rows {
		for k := range hid {
			for j := range out {
				dh1[i*hid+k] += dz2[i*out+j] * w2[k*out+j]
				dw2[k*out+j] += h1[i*hid+k] * dz2[i*out+j]
			}
		}
	}
	dw1 := make([]float64, in*hid)
	for i := range rows {
		for j := range hid {
			if z1[i*hid+j] <= 0 {
				continue
			}
			for k := range in {
				dw1[k*hid+j] += xs[i*in+k] * dh1[i*hid+j]
			}
		}
	}
	stats := func(v []float64) (mean, std, nrm float64) {
		for _, e := range v {
			mean += e
			nrm += e * e
		}
		mean /= float64(len(v))
		for _, e := range v {
			std += (e - mean) * (e - mean)
		}
		return mean, math.Sqrt(std / float64(len(v))), math.Sqrt(nrm)
	}
	zerosDead := func(v []float64, units int) (zeros float64, dead int) {
		for u := range units {
			alive := false
			for i := range len(v) / units {
				if v[i*units+u] == 0 {
					zeros++
				} else {
					alive = true
				}
			}
			if !alive {
				dead++
			}
		}
		return zeros / float64(len(v)), dead
	}

	// Both sides sum at most a few products in float64 in different
	// orders: 1e-12 relative is round-off.
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %.15g, plain Go says %.15g", what, got, want)
		}
	}
	near("loss", rep.Loss, loss)
	for _, tc := range []struct {
		layer       int
		out, grad   []float64
		kernel, kgr []float64
		units       int
	}{
		{0, h1, dh1, w1, dw1, hid},
		{1, z2, dz2, w2, dw2, out},
	} {
		l := rep.Layers[tc.layer]
		mean, std, _ := stats(tc.out)
		near(l.Name+" mean", l.Mean, mean)
		near(l.Name+" std", l.Std, std)
		zeros, dead := zerosDead(tc.out, tc.units)
		near(l.Name+" zeros", l.Zeros, zeros)
		assert.Equal(t, dead, l.DeadUnits, l.Name+" dead units")
		near(l.Name+" dead", l.Dead, float64(dead)/float64(tc.units))
		_, gstd, gnorm := stats(tc.grad)
		near(l.Name+" grad std", l.GradStd, gstd)
		near(l.Name+" grad norm", l.GradNorm, gnorm)
		_, _, knorm := stats(tc.kernel)
		near(l.Name+" kernel norm", l.KernelNorm, knorm)
		_, _, kgnorm := stats(tc.kgr)
		near(l.Name+" kernel grad norm", l.KernelGradNorm, kgnorm)
		assert.True(t, l.HasKernel)
	}
	assert.Equal(t, 1, rep.Layers[0].DeadUnits, "the unit with bias −100")
}

// Without targets only the forward statistics are computed.
func TestForwardOnly(t *testing.T) {
	m := train.NewSequential(layers.Input(6),
		layers.Dense(4, layers.DenseOptions{Activation: "tanh"}),
		layers.Dense(2, layers.DenseOptions{}),
	)
	m.Seed(5)
	x, _ := batch(t, graph.Float32, 10, 6, 2, 1, 5)
	rep, err := diagnostics.Inspect(m, x, nil)
	require.NoError(t, err)
	assert.False(t, rep.Grads)
	assert.True(t, math.IsNaN(rep.Loss))
	for _, l := range rep.Layers {
		assert.Equal(t, 0.0, l.GradNorm)
		assert.Equal(t, 0.0, l.KernelGradNorm)
		assert.Greater(t, l.KernelNorm, 0.0)
		assert.Greater(t, l.Std, 0.0)
	}
	// The store now holds the model's variables, as Compile would make
	// them: compiling keeps them.
	k, err := m.Store().Float64s("dense/kernel")
	require.NoError(t, err)
	require.NoError(t, m.Compile(train.Config{Loss: train.SparseCategoricalCrossentropy{FromLogits: true}}))
	k2, err := m.Store().Float64s("dense/kernel")
	require.NoError(t, err)
	assert.Equal(t, k, k2)
}

// In training mode BatchNormalization normalizes with the batch's
// statistics: its output has mean 0 and std 1 whatever comes in; in
// inference mode at initialization (moving mean 0, variance 1) it passes
// its input through, scaled by 1/sqrt(1 + ε).
func TestModes(t *testing.T) {
	seq := layers.NewSequential(layers.Input(8),
		layers.Dense(16, layers.DenseOptions{KernelInit: initializers.RandomNormal{Mean: 1, Stddev: 3}, UseBias: layers.False}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Activation("relu"),
		layers.Dense(2, layers.DenseOptions{}),
	)
	seq.Seed(6)
	store := vm.NewStore()
	x, y := batch(t, graph.Float64, 200, 8, 2, 1, 6)
	tr, err := diagnostics.InspectSequential(seq, store, x, y)
	require.NoError(t, err)
	inf, err := diagnostics.InspectSequential(seq, store, x, y, diagnostics.Options{Inference: true})
	require.NoError(t, err)
	assert.Equal(t, layers.Training, tr.Mode)
	assert.Equal(t, layers.Inference, inf.Mode)
	dense, bn := tr.Layers[0], tr.Layers[1]
	assert.Greater(t, dense.Std, 3.0)
	assert.InDelta(t, 0, bn.Mean, 1e-9)
	// σ²/(σ² + ε) with σ² ≈ 8·9 and ε = 1e-3: std 1 to 1e-4.
	assert.InDelta(t, 1, bn.Std, 1e-4)
	ibn := inf.Layers[1]
	assert.InDelta(t, dense.Mean/math.Sqrt(1+1e-3), ibn.Mean, 1e-9)
	assert.InDelta(t, dense.Std/math.Sqrt(1+1e-3), ibn.Std, 1e-9)
	// Inspecting wrote nothing: the moving statistics are still 0 and 1.
	mm, err := store.Float64s("batch_normalization/moving_mean")
	require.NoError(t, err)
	for _, v := range mm {
		assert.Equal(t, 0.0, v)
	}
}

func TestErrors(t *testing.T) {
	seq := layers.NewSequential(layers.Input(3), layers.Dense(2, layers.DenseOptions{}))
	x32, y32 := batch(t, graph.Float32, 4, 3, 2, 1, 8)
	x64, _ := batch(t, graph.Float64, 4, 3, 2, 1, 8)
	wide, _ := batch(t, graph.Float32, 4, 5, 2, 1, 8)
	ints := tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(make([]int, 12)))
	in, err := diagnostics.NewInspector(seq, vm.NewStore(), graph.Float32, diagnostics.Options{})
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"nil model", func() error { _, err := diagnostics.Inspect(nil, x32, y32); return err }, "nil model"},
		{"nil sequential", func() error { _, err := diagnostics.InspectSequential(nil, nil, x32, y32); return err }, "nil model"},
		{"nil x", func() error { _, err := diagnostics.InspectSequential(seq, nil, nil, y32); return err }, "nil input"},
		{"ints", func() error { _, err := diagnostics.InspectSequential(seq, nil, ints, nil); return err }, "want float32 or float64"},
		{"two options", func() error {
			_, err := diagnostics.InspectSequential(seq, nil, x32, y32, diagnostics.Options{}, diagnostics.Options{})
			return err
		}, "at most one"},
		{"dtype mismatch", func() error { _, err := in.Inspect(x64, nil); return err }, "f64 batch for a f32 inspector"},
		{"wrong width", func() error { _, err := in.Inspect(wide, y32); return err }, "diagnostics: inspect"},
		{"no layers", func() error {
			_, err := diagnostics.InspectSequential(layers.NewSequential(layers.Input(3)), nil, x32, nil)
			return err
		}, "no layers"},
		{"bad layer", func() error {
			_, err := diagnostics.InspectSequential(layers.NewSequential(layers.Input(3), layers.Activation("nope")), nil, x32, nil)
			return err
		}, "nope"},
		{"bad dtype", func() error {
			_, err := diagnostics.NewInspector(seq, vm.NewStore(), 0, diagnostics.Options{})
			return err
		}, "dtype"},
		{"nil store", func() error {
			_, err := diagnostics.NewInspector(seq, nil, graph.Float32, diagnostics.Options{})
			return err
		}, "nil store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestReportTable(t *testing.T) {
	seq := layers.NewSequential(layers.Input(4),
		layers.Dense(3, layers.DenseOptions{Activation: "sigmoid"}),
		layers.Dense(2, layers.DenseOptions{}),
	)
	x, y := batch(t, graph.Float32, 5, 4, 2, 1, 9)
	rep, err := diagnostics.InspectSequential(seq, nil, x, y)
	require.NoError(t, err)
	s := rep.String()
	for _, want := range []string{"5 rows, training mode, loss ", "layer", "kernel grad", "dense_1", "sigmoid", "Dense"} {
		assert.Contains(t, s, want)
	}
	l, ok := rep.Layer("dense_1")
	assert.True(t, ok)
	assert.Equal(t, 1, l.Index)
	_, ok = rep.Layer("nope")
	assert.False(t, ok)
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {0.5, "0.5000"}, {1.5e-8, "1.5e-08"}, {math.NaN(), "NaN"}, {12345, "1.23e+04"}} {
		assert.Equal(t, tc.want, diagnostics.Num(tc.v))
	}
	assert.Equal(t, "12.5%", diagnostics.Percent(0.125))
}

// fitModel returns a model with every layer that keeps state or draws
// random numbers (BatchNormalization, RReLU, Dropout), compiled.
func fitModel(t *testing.T) *train.Model {
	t.Helper()
	m := train.NewSequential(layers.Input(10),
		layers.Dense(16, layers.DenseOptions{UseBias: layers.False, KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.RReLU(layers.RReLUOptions{}),
		layers.Dropout(0.2, layers.DropoutOptions{}),
		layers.Dense(3, layers.DenseOptions{}),
	)
	m.Seed(11)
	require.NoError(t, m.Compile(train.Config{
		Loss:      train.SparseCategoricalCrossentropy{FromLogits: true},
		Optimizer: train.SGD{LearningRate: 0.05, Momentum: 0.9},
		Metrics:   []string{"accuracy"},
	}))
	return m
}

func TestCallback(t *testing.T) {
	x, y := batch(t, graph.Float32, 96, 10, 3, 1, 10)
	xb, yb := batch(t, graph.Float32, 32, 10, 3, 1, 11)
	for _, tc := range []struct {
		name    string
		every   int
		initial bool
		epochs  int
		want    []int
	}{
		{"every epoch", 0, true, 3, []int{-1, 0, 1, 2}},
		{"every 2, last", 2, false, 5, []int{1, 3, 4}},
		{"every 10", 10, true, 3, []int{-1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fitModel(t)
			diag := &diagnostics.Callback{Every: tc.every, Initial: tc.initial, Batch: train.Data{X: xb, Y: yb}}
			_, err := m.Fit(context.Background(), x, y, train.FitOptions{Epochs: tc.epochs, Callbacks: []train.Callback{diag}})
			require.NoError(t, err)
			var got []int
			for _, r := range diag.Reports {
				got = append(got, r.Epoch)
				assert.Len(t, r.Layers, 5)
				assert.True(t, r.Grads)
				assert.Equal(t, 32, r.Rows)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// Inspecting during training changes nothing: the weights, the moving
// statistics, the optimizer's slots and the random layers' step counter end
// the same, bit for bit, with and without the callback.
func TestCallbackLeavesTrainingAlone(t *testing.T) {
	x, y := batch(t, graph.Float32, 96, 10, 3, 1, 12)
	xb, yb := batch(t, graph.Float32, 32, 10, 3, 1, 13)
	plain := fitModel(t)
	h1, err := plain.Fit(context.Background(), x, y, train.FitOptions{Epochs: 3, Seed: 1})
	require.NoError(t, err)
	watched := fitModel(t)
	diag := &diagnostics.Callback{Initial: true, Batch: train.Data{X: xb, Y: yb}}
	h2, err := watched.Fit(context.Background(), x, y, train.FitOptions{Epochs: 3, Seed: 1, Callbacks: []train.Callback{diag}})
	require.NoError(t, err)
	require.Len(t, diag.Reports, 4)
	assert.Equal(t, h1.Loss, h2.Loss)
	names := plain.Store().Names()
	require.Equal(t, names, watched.Store().Names())
	for _, name := range names {
		a, err := plain.Store().Float64s(name)
		require.NoError(t, err)
		b, err := watched.Store().Float64s(name)
		require.NoError(t, err)
		assert.Equal(t, a, b, name)
	}
	// And the training did change the weights the reports look at.
	assert.NotEqual(t, diag.Reports[0].Layers[0].KernelNorm, diag.Reports[3].Layers[0].KernelNorm)
}

func TestCallbackErrors(t *testing.T) {
	x, y := batch(t, graph.Float32, 16, 10, 3, 1, 14)
	for _, tc := range []struct {
		name string
		cb   *diagnostics.Callback
		want string
	}{
		{"no batch", &diagnostics.Callback{}, "Batch.X is nil"},
		{"negative every", &diagnostics.Callback{Every: -1, Batch: train.Data{X: x}}, "Every -1"},
		{"float64 batch for float32", &diagnostics.Callback{Initial: true, Batch: train.Data{X: tensorOf(t, graph.Float64, make([]float64, 40), 4, 10)}}, "f64 batch for a f32 model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fitModel(t)
			_, err := m.Fit(context.Background(), x, y, train.FitOptions{Callbacks: []train.Callback{tc.cb}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Fit = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
