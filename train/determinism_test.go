package train

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/layers"
)

// fusions are the compiler passes that fuse (and may round differently).
var fusions = []string{"fold-bn", "fuse-bn-act", "fuse-dense-act", "fuse-elementwise"}

// randomModel is 64-256-BN-RReLU-Dropout-128(relu)-4 (no bias before BN,
// whose gradient would be zero up to round-off), seeded and compiled
// with Adam: every source of randomness tapegrad has (initializers, RReLU
// slopes, dropout masks, shuffling) and every kernel that splits its work
// over threads (the element-wise sweeps, BN's statistics, the GEMM) at
// sizes above the splitting grain (a batch of 128 × 256 values is 32768,
// twice kernel.ElementGrain).
func randomModel(t testing.TB, opts compile.Options) *Model {
	t.Helper()
	m := NewSequential(
		layers.Input(64),
		layers.Dense(256, layers.DenseOptions{UseBias: layers.False}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.RReLU(layers.RReLUOptions{}),
		layers.Dropout(0.3, layers.DropoutOptions{}),
		layers.Dense(128, layers.DenseOptions{Activation: "relu"}),
		layers.Dense(4, layers.DenseOptions{}),
	)
	m.Seed(11)
	require.NoError(t, m.Compile(Config{
		Loss:           SparseCategoricalCrossentropy{FromLogits: true},
		Optimizer:      Adam{LearningRate: 0.01},
		Metrics:        []string{"accuracy"},
		CompileOptions: opts,
	}))
	return m
}

// randomData returns n seeded rows of 64 features and labels 0..3 that
// depend on them.
func randomData(n int) (x, y *tensor.Dense) {
	r := rand.New(rand.NewPCG(3, 4))
	xs := make([]float32, n*64)
	ys := make([]float32, n)
	for i := range n {
		var s float64
		for j := range 64 {
			v := r.NormFloat64()
			xs[i*64+j] = float32(v)
			s += v * float64(j%5-2)
		}
		ys[i] = float32(int(math.Abs(s)) % 4)
	}
	return tensor.New(tensor.WithShape(n, 64), tensor.WithBacking(xs)), tensor.New(tensor.WithShape(n), tensor.WithBacking(ys))
}

// trainedCheckpoint trains randomModel for 2 epochs at GOMAXPROCS procs and
// returns the bytes of its checkpoint (every variable: weights, BN
// statistics, Adam's slots, the RNG counter).
func trainedCheckpoint(t *testing.T, procs int, opts compile.Options) ([]byte, *Model) {
	t.Helper()
	old := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(old)
	x, y := randomData(512)
	m := randomModel(t, opts)
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 128, Seed: 5, ValidationSplit: 0.25})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	require.NoError(t, m.Save(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b, m
}

// The same seed gives bit-identical weights whatever the number of
// threads, with and without the fusing passes: parallel kernels split
// their work into disjoint chunks whose results do not depend on how many
// threads run them, and random draws come in fixed blocks of their own.
func TestFitBitIdenticalAcrossThreads(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts compile.Options
	}{
		{"every pass", compile.Options{}},
		{"no fusion", compile.Options{Disable: fusions}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			one, m1 := trainedCheckpoint(t, 1, tc.opts)
			two, m2 := trainedCheckpoint(t, 2, tc.opts)
			if !bytes.Equal(one, two) {
				t.Errorf("the checkpoints after training at GOMAXPROCS 1 and 2 differ")
				v1, v2 := storeValues(t, m1), storeValues(t, m2)
				for _, name := range m1.Store().Names() {
					if d := maxRelDiff(v1[name], v2[name]); d != 0 {
						t.Errorf("variable %q differs by up to %.3g (relative)", name, d)
					}
				}
			}
		})
	}
}

// maxRelDiff is the largest |a−b| / max(1, |a|, |b|) over the elements;
// +Inf when the lengths differ or one value is NaN and the other not.
func maxRelDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var worst float64
	for i := range a {
		if a[i] == b[i] || a[i] != a[i] && b[i] != b[i] {
			continue
		}
		d := math.Abs(a[i]-b[i]) / max(1, math.Abs(a[i]), math.Abs(b[i]))
		if d != d {
			d = math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

// Fusion changes how a step computes, not what, except for rounding where
// a fused kernel orders its arithmetic differently. fuse-bn-act and
// fuse-elementwise run the same row kernels on the same values in the
// model's dtype, so training without them gives the same bits; fold-bn
// rewrites only inference programs, so a checkpoint does not see it.
// fuse-dense-act copies the bias into the output rows and lets the GEMM
// accumulate onto it: each pre-activation is b + Σ rather than Σ + b, and
// may round to a neighbouring float32. After the 6 steps of
// trainedCheckpoint the weights differ by about one float32 ulp relative
// (1.2e-7 measured); the bound allows 8 ulps (2⁻²³·8 ≈ 9.5e-7) of growth.
// (A bias before BN, whose gradient is zero up to round-off, is another
// matter: Adam divides that noise by its own size and turns it into steps
// of up to the learning rate, so such a bias drifts apart by about the
// learning rate per step. randomModel has none.)
func TestFitFusionRounding(t *testing.T) {
	all, mAll := trainedCheckpoint(t, 2, compile.Options{})
	vAll := storeValues(t, mAll)
	for _, pass := range fusions {
		t.Run(pass, func(t *testing.T) {
			b, m := trainedCheckpoint(t, 2, compile.Options{Disable: []string{pass}})
			if pass != "fuse-dense-act" {
				if !bytes.Equal(all, b) {
					t.Errorf("training without %s changes the checkpoint's bits", pass)
				}
				return
			}
			v := storeValues(t, m)
			var worst float64
			for _, name := range mAll.Store().Names() {
				d := maxRelDiff(vAll[name], v[name])
				if d > 8*0x1p-23 {
					t.Errorf("variable %q: fused and unfused training differ by %.3g (relative), more than 8 float32 ulps", name, d)
				}
				worst = max(worst, d)
			}
			if worst == 0 {
				t.Logf("fused and unfused dense gave the same bits this time")
			}
		})
	}
}
