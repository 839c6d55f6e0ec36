package initializers_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/vm"
)

// fromCase builds the initializer a golden init_stats case describes,
// dispatching on its params (framework, initializer, and for
// variance-scaling cases scale/mode/distribution).
func fromCase(t *testing.T, c golden.Case) initializers.Initializer {
	t.Helper()
	name := c.String("initializer")
	if c.String("framework") == "pytorch" {
		switch {
		case name == "torch_linear_default":
			return initializers.TorchLinearDefault{Layout: initializers.TorchLayout}
		case strings.HasPrefix(name, "torch_kaiming_"):
			rest := strings.TrimPrefix(name, "torch_kaiming_")
			dist, nl, _ := strings.Cut(rest, "_")
			k := initializers.KaimingNormal{Nonlinearity: nl, Layout: initializers.TorchLayout}
			if dist == "uniform" {
				return initializers.KaimingUniform(k)
			}
			return k
		case strings.HasPrefix(name, "torch_xavier_"):
			x := initializers.XavierNormal{Layout: initializers.TorchLayout}
			if strings.HasSuffix(name, "uniform") {
				return initializers.XavierUniform(x)
			}
			return x
		}
		t.Fatalf("unknown pytorch initializer %q", name)
	}
	if mode := c.String("mode"); mode != "" {
		scale, _ := c.Float("scale")
		return initializers.VarianceScaling{Scale: scale, Mode: initializers.Mode(mode), Distribution: initializers.Distribution(c.String("distribution"))}
	}
	switch name {
	case "constant":
		v, _ := c.Float("value")
		return initializers.Constant{Value: v}
	case "orthogonal":
		gain, _ := c.Float("gain")
		return initializers.Orthogonal{Gain: gain}
	}
	init, err := initializers.Lookup(name)
	require.NoError(t, err)
	return init
}

func caseShape(c golden.Case) []int {
	raw, _ := c.Params["shape"].([]any)
	shape := make([]int, len(raw))
	for i, v := range raw {
		shape[i] = int(v.(float64))
	}
	return shape
}

// draw fills at least n values of the case's shape. In float64 it calls
// Initialize repeatedly on one stream. With f32 it goes through the
// library's float32 path, the one a float32 model's variables take: float32
// graphs of variables of that shape, each with init, whose values
// vm.Store.Init draws (each variable from its own stream, derived from seed
// and its name) and stores as float32, read back as float64.
func draw(t *testing.T, init initializers.Initializer, shape []int, n int, f32 bool, seed uint64) []float64 {
	t.Helper()
	size := 1
	for _, d := range shape {
		size *= d
	}
	out := make([]float64, 0, n+size)
	if f32 {
		const perGraph = 4096 // variables per graph and store
		k := (n + size - 1) / size
		for start := 0; start < k; start += perGraph {
			g := graph.New(graph.Float32)
			var names []string
			for i := start; i < min(k, start+perGraph); i++ {
				names = append(names, g.Variable(fmt.Sprintf("v%d", i), shape, graph.WithInit(init)).Name())
			}
			store := vm.NewStore()
			require.NoError(t, store.Init(g, seed, nil))
			for _, name := range names {
				_, dt, ok := store.Shape(name)
				require.True(t, ok, name)
				require.Equal(t, graph.Float32, dt, name)
				v, err := store.Float64s(name)
				require.NoError(t, err)
				out = append(out, v...)
			}
		}
		return out
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	buf := make([]float64, size)
	for len(out) < n {
		require.NoError(t, init.Initialize(buf, shape, rng))
		out = append(out, buf...)
	}
	return out
}

// TestGoldenInitStats checks every init_stats case of initializers.json: it
// draws at least 10⁶ values and compares their sample statistics with the
// closed-form ones. Bounds are 6 standard errors for n samples (a seeded
// draw, so the test is deterministic; 6σ makes a false failure under a new
// seed less likely than 1e-8): mean 6σ/√n; mean |x| 6σ/√n (Var|x| ≤ σ²);
// std 6σ·sqrt((κ−1)/(4n)) with kurtosis κ ≤ 3 for every distribution here.
func TestGoldenInitStats(t *testing.T) {
	f := golden.Load(t, "initializers.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Op != "init_stats" {
				t.Fatalf("unknown op %q", c.Op)
			}
			init := fromCase(t, c)
			shape := caseShape(c)
			out := c.Outputs
			layout := initializers.KerasLayout
			if c.String("framework") == "pytorch" {
				layout = initializers.TorchLayout
			}
			if fi, ok := out["fan_in"]; ok {
				gotIn, gotOut, err := initializers.Fans(shape, layout)
				require.NoError(t, err)
				assert.Equal(t, fi.Scalar(), gotIn, "fan_in of %v", shape)
				assert.Equal(t, out["fan_out"].Scalar(), gotOut, "fan_out of %v", shape)
			}
			if vs, ok := init.(initializers.VarianceScaling); ok {
				v, err := vs.Variance(shape)
				require.NoError(t, err)
				if want, ok := out["expected_std"]; ok {
					assert.InDelta(t, want.Scalar(), math.Sqrt(v), 1e-12, "std from Variance")
				}
				if want, ok := out["sampler_stddev"]; ok && vs.Distribution == initializers.TruncatedNormalDist {
					assert.InDelta(t, want.Scalar(), math.Sqrt(v)/initializers.TruncatedStd, 1e-12, "sampler stddev")
				}
				if want, ok := out["uniform_limit"]; ok {
					assert.InDelta(t, want.Scalar(), math.Sqrt(3*v), 1e-12, "uniform limit")
				}
			}
			if _, ok := init.(initializers.Orthogonal); ok {
				checkOrthogonal(t, c, init, shape)
				return
			}
			for _, f32 := range []bool{false, true} {
				name := "f64"
				if f32 {
					name = "f32"
				}
				t.Run(name, func(t *testing.T) {
					checkStats(t, c, init, shape, f32)
				})
			}
		})
	}
}

func checkStats(t *testing.T, c golden.Case, init initializers.Initializer, shape []int, f32 bool) {
	out := c.Outputs
	if v, ok := out["value"]; ok {
		vals := draw(t, init, shape, 1, f32, 1)
		for i, x := range vals {
			if x != v.Scalar() {
				t.Fatalf("value[%d] = %v, want %v", i, x, v.Scalar())
			}
		}
		return
	}
	const n = 1_000_000
	vals := draw(t, init, shape, n, f32, 42)
	m := float64(len(vals))
	var sum, sumAbs float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		sum += v
		sumAbs += math.Abs(v)
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	mean := sum / m
	var ss float64
	for _, v := range vals {
		ss += (v - mean) * (v - mean)
	}
	std := math.Sqrt(ss / (m - 1))
	sigma := out["expected_std"].Scalar()
	if w, ok := out["expected_mean"]; ok {
		assert.InDelta(t, w.Scalar(), mean, 6*sigma/math.Sqrt(m), "sample mean")
	}
	assert.InDelta(t, sigma, std, 6*sigma*math.Sqrt(2/(4*m)), "sample std")
	if w, ok := out["expected_abs_mean"]; ok {
		assert.InDelta(t, w.Scalar(), sumAbs/m, 6*sigma/math.Sqrt(m), "sample mean |x|")
	}
	if w, ok := out["support_min"]; ok {
		// float32 rounding may move a value by half an ulp of the bound
		slack := 0.0
		if f32 {
			slack = math.Abs(w.Scalar()) * 6e-8
		}
		assert.GreaterOrEqual(t, lo, w.Scalar()-slack, "min below the support")
		assert.LessOrEqual(t, hi, out["support_max"].Scalar()+slack, "max above the support")
	}
	if w, ok := out["uniform_limit"]; ok {
		// a draw lands in the top (or bottom) limit·1e-4 of the support
		// [−limit, limit] with probability 1e-4/2 = 5e-5, so with m ≥ 10⁶
		// draws the largest (smallest) misses it with probability
		// (1 − 5e-5)^m ≤ e^(−5e-5·10⁶) = e^-50 per side
		assert.InDelta(t, w.Scalar(), hi, w.Scalar()*1e-4, "largest draw vs the limit")
		assert.InDelta(t, -w.Scalar(), lo, w.Scalar()*1e-4, "smallest draw vs the limit")
	}
}

func checkOrthogonal(t *testing.T, c golden.Case, init initializers.Initializer, shape []int) {
	rows, cols := int(c.Outputs["flat_rows"].Scalar()), int(c.Outputs["flat_cols"].Scalar())
	gain := c.Outputs["gain"].Scalar()
	w := draw(t, init, shape, 1, false, 3)
	require.Len(t, w, rows*cols)
	// Gram matrix over the smaller side: WᵀW (cols×cols) or WWᵀ
	k, inner := cols, rows
	at := func(a, i int) float64 { return w[i*cols+a] } // column a, row i
	if rows < cols {
		k, inner = rows, cols
		at = func(a, i int) float64 { return w[a*cols+i] }
	}
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			var s float64
			for i := 0; i < inner; i++ {
				s += at(a, i) * at(b, i)
			}
			want := 0.0
			if a == b {
				want = c.Outputs["expected_gram_diag"].Scalar()
			}
			if math.Abs(s-want) > 1e-10 {
				t.Fatalf("gram[%d][%d] = %v, want %v (gain %v)", a, b, s, want, gain)
			}
		}
	}
	var ss float64
	for _, v := range w {
		ss += v * v
	}
	assert.InDelta(t, c.Outputs["expected_rms"].Scalar(), math.Sqrt(ss/float64(len(w))), 1e-12, "rms")
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		shape []int
		gain  float64
		want  []float64
	}{
		{[]int{2, 2}, 0, []float64{1, 0, 0, 1}},
		{[]int{2, 3}, 2, []float64{2, 0, 0, 0, 2, 0}},
		{[]int{3, 2}, 1, []float64{1, 0, 0, 1, 0, 0}},
	}
	for _, tc := range tests {
		got := make([]float64, len(tc.want))
		require.NoError(t, initializers.Identity{Gain: tc.gain}.Initialize(got, tc.shape, nil))
		assert.Equal(t, tc.want, got, "Identity{%v} on %v", tc.gain, tc.shape)
	}
	err := initializers.Identity{}.Initialize(make([]float64, 8), []int{2, 2, 2}, nil)
	assert.ErrorContains(t, err, "want rank 2")
}

func TestFans(t *testing.T) {
	tests := []struct {
		shape   []int
		layout  initializers.Layout
		in, out float64
	}{
		{[]int{5}, initializers.KerasLayout, 5, 5},
		{[]int{784, 300}, initializers.KerasLayout, 784, 300},
		{[]int{3, 3, 16, 32}, initializers.KerasLayout, 144, 288},
		{[]int{300, 784}, initializers.TorchLayout, 784, 300},
		{[]int{64, 3, 3, 3}, initializers.TorchLayout, 27, 576},
	}
	for _, tc := range tests {
		in, out, err := initializers.Fans(tc.shape, tc.layout)
		require.NoError(t, err)
		if in != tc.in || out != tc.out {
			t.Errorf("Fans(%v, %v) = %v, %v, want %v, %v", tc.shape, tc.layout, in, out, tc.in, tc.out)
		}
	}
}

// Shapes without fans: an error, never 0, 0, nil from an overflowed product.
func TestFansErrors(t *testing.T) {
	big := math.MaxInt/2 + 1 // big·big·4 wraps to 0 in an int
	tests := []struct {
		shape  []int
		layout initializers.Layout
		want   string
	}{
		{[]int{}, initializers.KerasLayout, "fans of a scalar shape []"},
		{[]int{3, -1}, initializers.KerasLayout, "shape [3 -1] has a negative dimension"},
		{[]int{5}, initializers.TorchLayout, "fans of shape [5]: the PyTorch layout [out, in, k…] needs rank ≥ 2"},
		{[]int{big, big, 2, 2}, initializers.KerasLayout, "(keras layout) overflow an int"},
		{[]int{2, 2, big, big}, initializers.TorchLayout, "(torch layout) overflow an int"},
		{[]int{math.MaxInt / 2, 3, 1, 1}, initializers.KerasLayout, "overflow an int"},
	}
	for _, tc := range tests {
		in, out, err := initializers.Fans(tc.shape, tc.layout)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Fans(%v, %v) = %v, %v, %v: want an error containing %q", tc.shape, tc.layout, in, out, err, tc.want)
		}
	}
	// a zero dimension makes the fans it enters 0, however large the rest;
	// a fan it does not enter still overflows
	_, _, err := initializers.Fans([]int{big, big, 3, 0}, initializers.KerasLayout)
	require.Error(t, err, "fan_in = 3·big·big overflows even though fan_out is 0")
	in, out, err := initializers.Fans([]int{0, big, 3, 4}, initializers.KerasLayout)
	require.NoError(t, err)
	assert.Equal(t, [2]float64{0, 0}, [2]float64{in, out})
}

// Variance is Scale/fan for a good kernel and an error for a bad kernel or
// configuration.
func TestVarianceScalingVariance(t *testing.T) {
	v, err := initializers.HeNormal().Variance([]int{784, 300})
	require.NoError(t, err)
	assert.Equal(t, 2.0/784, v)
	v, err = initializers.VarianceScaling{Scale: 3, Mode: initializers.FanAvg}.Variance([]int{3, 3, 16, 32})
	require.NoError(t, err)
	assert.Equal(t, 3/((144.0+288)/2), v)
	// a zero fan divides by 1, as Keras's max(1, fan)
	v, err = initializers.GlorotUniform().Variance([]int{0, 5})
	require.NoError(t, err)
	assert.Equal(t, 1/2.5, v)

	tests := []struct {
		name  string
		vs    initializers.VarianceScaling
		shape []int
		want  string
	}{
		{"scalar shape", initializers.HeNormal(), []int{}, "fans of a scalar shape"},
		{"negative dimension", initializers.HeNormal(), []int{4, -2}, "has a negative dimension"},
		{"torch rank 1", initializers.VarianceScaling{Layout: initializers.TorchLayout}, []int{4}, "needs rank ≥ 2"},
		{"overflow", initializers.GlorotNormal(), []int{math.MaxInt / 2, 3, 2, 1}, "overflow an int"},
		{"negative scale", initializers.VarianceScaling{Scale: -2}, []int{2, 2}, "scale -2: want a positive number"},
		{"nan scale", initializers.VarianceScaling{Scale: math.NaN()}, []int{2, 2}, "scale NaN"},
		{"infinite scale", initializers.VarianceScaling{Scale: math.Inf(1)}, []int{2, 2}, "scale +Inf"},
		{"bad mode", initializers.VarianceScaling{Mode: "fan_both"}, []int{2, 2}, `unknown mode "fan_both"`},
		{"bad distribution", initializers.VarianceScaling{Distribution: "laplace"}, []int{2, 2}, `unknown distribution "laplace"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.vs.Variance(tc.shape)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Variance(%v) = %v, %v: want an error containing %q", tc.shape, v, err, tc.want)
			}
		})
	}
}

// Constant takes ±Inf (a running max starts at −Inf) but not NaN.
func TestConstantInf(t *testing.T) {
	for _, v := range []float64{math.Inf(-1), math.Inf(1), -3.5} {
		dst := make([]float64, 3)
		require.NoError(t, initializers.Constant{Value: v}.Initialize(dst, []int{3}, nil))
		assert.Equal(t, []float64{v, v, v}, dst)
	}
}

func TestErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]float64, 6)
	tests := []struct {
		name  string
		init  initializers.Initializer
		shape []int
		want  string
	}{
		{"negative scale", initializers.VarianceScaling{Scale: -1}, []int{2, 3}, "scale -1: want a positive number"},
		{"bad mode", initializers.VarianceScaling{Mode: "fan_sideways"}, []int{2, 3}, `unknown mode "fan_sideways"`},
		{"bad distribution", initializers.VarianceScaling{Distribution: "cauchy"}, []int{2, 3}, `unknown distribution "cauchy"`},
		{"rank 0", initializers.HeNormal(), []int{}, "fans of a scalar shape"},
		{"torch rank 1", initializers.KaimingNormal{Layout: initializers.TorchLayout}, []int{6}, "needs rank ≥ 2"},
		{"bad nonlinearity", initializers.KaimingNormal{Nonlinearity: "swish"}, []int{2, 3}, `unknown nonlinearity "swish"`},
		{"length", initializers.GlorotUniform(), []int{4, 4}, "6 values for shape [4 4]"},
		{"orthogonal rank 1", initializers.Orthogonal{}, []int{6}, "want rank ≥ 2"},
		{"uniform bounds", initializers.RandomUniform{Minval: 1, Maxval: -1}, []int{6}, "random_uniform: minval 1, maxval -1: want minval < maxval"},
		{"uniform equal bounds", initializers.RandomUniform{Minval: 1, Maxval: 1}, []int{6}, "want minval < maxval"},
		{"uniform infinite max", initializers.RandomUniform{Minval: 0, Maxval: math.Inf(1)}, []int{6}, "minval 0, maxval +Inf: want finite bounds"},
		{"uniform infinite min", initializers.RandomUniform{Minval: math.Inf(-1), Maxval: 1}, []int{6}, "minval -Inf, maxval 1: want finite bounds"},
		{"uniform nan", initializers.RandomUniform{Minval: math.NaN(), Maxval: 1}, []int{6}, "minval NaN, maxval 1: want finite bounds"},
		{"uniform width overflows", initializers.RandomUniform{Minval: -1e308, Maxval: 1e308}, []int{6}, "the width of the range overflows a float64"},
		{"negative stddev", initializers.RandomNormal{Stddev: -1}, []int{6}, "random_normal: stddev -1, mean 0: want a finite stddev > 0 and a finite mean"},
		{"infinite stddev", initializers.RandomNormal{Stddev: math.Inf(1)}, []int{6}, "random_normal: stddev +Inf"},
		{"nan stddev", initializers.RandomNormal{Stddev: math.NaN()}, []int{6}, "random_normal: stddev NaN"},
		{"infinite mean", initializers.RandomNormal{Mean: math.Inf(-1)}, []int{6}, "random_normal: stddev 0, mean -Inf: want a finite stddev > 0 and a finite mean"},
		{"nan mean", initializers.RandomNormal{Mean: math.NaN(), Stddev: 1}, []int{6}, "mean NaN"},
		{"truncated negative stddev", initializers.TruncatedNormal{Stddev: -0.1}, []int{6}, "truncated_normal: stddev -0.1"},
		{"truncated infinite stddev", initializers.TruncatedNormal{Stddev: math.Inf(1)}, []int{6}, "truncated_normal: stddev +Inf"},
		{"truncated nan stddev", initializers.TruncatedNormal{Stddev: math.NaN()}, []int{6}, "truncated_normal: stddev NaN"},
		{"truncated infinite mean", initializers.TruncatedNormal{Mean: math.Inf(1)}, []int{6}, "truncated_normal: stddev 0, mean +Inf"},
		{"constant nan", initializers.Constant{Value: math.NaN()}, []int{6}, "constant: value NaN: want a number"},
		{"identity negative gain", initializers.Identity{Gain: -1}, []int{2, 3}, "identity: gain -1: want a positive finite number (0 means 1)"},
		{"identity nan gain", initializers.Identity{Gain: math.NaN()}, []int{2, 3}, "identity: gain NaN"},
		{"identity infinite gain", initializers.Identity{Gain: math.Inf(1)}, []int{2, 3}, "identity: gain +Inf"},
		{"orthogonal negative gain", initializers.Orthogonal{Gain: -2}, []int{2, 3}, "orthogonal: gain -2: want a positive finite number (0 means 1)"},
		{"orthogonal nan gain", initializers.Orthogonal{Gain: math.NaN()}, []int{2, 3}, "orthogonal: gain NaN"},
		{"orthogonal infinite gain", initializers.Orthogonal{Gain: math.Inf(-1)}, []int{2, 3}, "orthogonal: gain -Inf"},
		{"xavier negative gain", initializers.XavierNormal{Gain: -1}, []int{2, 3}, "xavier: gain -1"},
		{"xavier nan gain", initializers.XavierUniform{Gain: math.NaN()}, []int{2, 3}, "xavier: gain NaN"},
		{"fans overflow", initializers.HeNormal(), []int{2, math.MaxInt / 3, 4, 0}, "fans of shape [2 3074457345618258602 4 0] (keras layout) overflow an int"},
		{"size overflow", initializers.Identity{}, []int{math.MaxInt / 2, math.MaxInt / 2}, "has more values than an int can count"},
		{"size overflow to 0", initializers.Zeros{}, []int{math.MaxInt/2 + 1, math.MaxInt/2 + 1}, "has more values than an int can count"},
		{"negative dimension", initializers.Ones{}, []int{-2, -3}, "shape [-2 -3] has a negative dimension"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := buf
			if n, ok := size(tc.shape); !ok {
				dst = nil // the product overflows (to 0 for 2³²·2³²)
			} else if n != 6 && tc.name != "length" {
				dst = make([]float64, n)
			}
			err := tc.init.Initialize(dst, tc.shape, rng)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Initialize(%v) error = %v, want one containing %q", tc.shape, err, tc.want)
			}
		})
	}
}

// size is the number of values of shape, false when that is negative or
// overflows an int.
func size(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func TestLookup(t *testing.T) {
	for _, name := range initializers.Names() {
		init, err := initializers.Lookup(name)
		require.NoError(t, err, name)
		require.NotNil(t, init, name)
	}
	for name, want := range map[string]initializers.Initializer{
		"HeNormal":       initializers.HeNormal(),
		"glorot_uniform": initializers.GlorotUniform(),
		"Glorot_Normal":  initializers.GlorotNormal(),
		"lecun_normal":   initializers.LeCunNormal(),
		"xavier_uniform": initializers.GlorotUniform(),
	} {
		got, err := initializers.Lookup(name)
		require.NoError(t, err)
		assert.Equal(t, want, got, "Lookup(%q)", name)
	}
	_, err := initializers.Lookup("he_normall")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown initializer "he_normall"`)
	assert.Contains(t, err.Error(), "he_normal, he_uniform")
	bad := initializers.Get("nope")
	assert.Error(t, initializers.Err(bad))
	assert.Error(t, bad.Initialize(make([]float64, 1), []int{1}, nil))
	assert.NoError(t, initializers.Err(initializers.Get("zeros")))
}

func TestCalculateGain(t *testing.T) {
	tests := []struct {
		nl    string
		param float64
		want  float64
	}{
		{"linear", math.NaN(), 1},
		{"sigmoid", math.NaN(), 1},
		{"tanh", math.NaN(), 5.0 / 3},
		{"relu", math.NaN(), math.Sqrt2},
		{"leaky_relu", math.NaN(), math.Sqrt(2 / (1 + 0.01*0.01))},
		{"leaky_relu", 0.2, math.Sqrt(2 / 1.04)},
		{"selu", math.NaN(), 0.75},
	}
	for _, tc := range tests {
		got, err := initializers.CalculateGain(tc.nl, tc.param)
		require.NoError(t, err)
		if math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("CalculateGain(%q, %v) = %v, want %v", tc.nl, tc.param, got, tc.want)
		}
	}
	// a slope whose square overflows still gives a positive gain, √2/|a|
	got, err := initializers.CalculateGain("leaky_relu", 1e200)
	require.NoError(t, err)
	assert.InEpsilon(t, math.Sqrt2/1e200, got, 1e-15)
	// found by FuzzInitializerName: an infinite slope gave a gain of 0
	// (and weights of 0) without an error
	for _, bad := range []float64{math.Inf(1), math.Inf(-1)} {
		_, err := initializers.CalculateGain("leaky_relu", bad)
		assert.Error(t, err, "slope %v", bad)
		err = initializers.KaimingNormal{A: bad}.Initialize(make([]float64, 4), []int{2, 2}, nil)
		assert.Error(t, err, "KaimingNormal{A: %v}", bad)
	}
	_, err = initializers.CalculateGain("no_such", 0)
	assert.ErrorContains(t, err, `unknown nonlinearity "no_such"`)
}

// TestDeterminism: the same seed gives the same bits; variables get
// independent streams by name; adding a variable leaves the others alone;
// float32 stores the float64 draw rounded once.
func TestDeterminism(t *testing.T) {
	build := func(dt graph.DType, extra bool) *graph.Graph {
		g := graph.New(dt)
		g.WithScope("dense", func() { g.Variable("kernel", graph.Shape{20, 30}) })
		if extra {
			g.WithScope("dense_0", func() { g.Variable("kernel", graph.Shape{5, 5}) })
		}
		g.WithScope("dense_1", func() {
			g.Variable("kernel", graph.Shape{30, 10}, graph.WithInit(initializers.HeNormal()))
		})
		return g
	}
	values := func(dt graph.DType, extra bool, seed uint64) map[string][]float64 {
		s := vm.NewStore()
		require.NoError(t, s.Init(build(dt, extra), seed, initializers.GlorotUniform()))
		out := map[string][]float64{}
		for _, n := range s.Names() {
			v, err := s.Float64s(n)
			require.NoError(t, err)
			out[n] = v
		}
		return out
	}
	a, b := values(graph.Float64, false, 42), values(graph.Float64, false, 42)
	assert.Equal(t, a, b, "same seed, same bits")
	c := values(graph.Float64, true, 42)
	assert.Equal(t, a["dense/kernel"], c["dense/kernel"], "adding a variable changed another")
	assert.Equal(t, a["dense_1/kernel"], c["dense_1/kernel"], "adding a variable changed another")
	d := values(graph.Float64, false, 43)
	assert.NotEqual(t, a["dense/kernel"], d["dense/kernel"], "another seed gave the same values")
	// different names, different streams: the same initializer on the same
	// shape under two names draws two different kernels
	twins := func(seed uint64) (x, y []float64) {
		g := graph.New(graph.Float64)
		for _, scope := range []string{"left", "right"} {
			g.WithScope(scope, func() { g.Variable("kernel", graph.Shape{20, 30}, graph.WithInit(initializers.GlorotUniform())) })
		}
		s := vm.NewStore()
		require.NoError(t, s.Init(g, seed, nil))
		x, err := s.Float64s("left/kernel")
		require.NoError(t, err)
		y, err = s.Float64s("right/kernel")
		require.NoError(t, err)
		return x, y
	}
	l, r := twins(42)
	require.Len(t, l, 600)
	for i := range l {
		if l[i] == r[i] {
			t.Fatalf("left/kernel and right/kernel agree at %d (%v): two names share a stream", i, l[i])
		}
	}
	l2, _ := twins(42)
	assert.Equal(t, l, l2, "the same name and seed gave other values")
	f := values(graph.Float32, false, 42)
	for i, v := range a["dense/kernel"] {
		if f["dense/kernel"][i] != float64(float32(v)) {
			t.Fatalf("float32 value %d = %v, want float32(%v)", i, f["dense/kernel"][i], v)
		}
	}
	// he_normal from WithInit: std sqrt(2/30) ≈ 0.26, far from glorot's
	// limit sqrt(6/40) ≈ 0.39 uniform: a value beyond that limit proves the
	// per-variable initializer was used
	limit := math.Sqrt(6.0 / 40)
	beyond := false
	for _, v := range a["dense_1/kernel"] {
		if math.Abs(v) > limit {
			beyond = true
		}
	}
	assert.True(t, beyond, "dense_1/kernel was not drawn from its own he_normal initializer")
}
