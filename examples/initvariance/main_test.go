package main

import (
	"bytes"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
)

// tiny is a configuration small enough for a test and deep enough for the
// effects to show: 10 layers of 32 units on 128 rows.
func tiny(dir string) config {
	cfg := defaultConfig()
	cfg.Layers, cfg.Units, cfg.Batch, cfg.Dir = 10, 32, 128, dir
	return cfg
}

func find(t *testing.T, rs []result, init, act string) result {
	t.Helper()
	for _, r := range rs {
		if r.Init == init && r.Act == act {
			return r
		}
	}
	t.Fatalf("no result for %s + %s", init, act)
	return result{}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	cfg := tiny(dir)
	var out bytes.Buffer
	rs, err := run(&out, cfg)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if want := len(cfg.Inits) * len(cfg.Acts); len(rs) != want {
		t.Fatalf("run gave %d results, want %d", len(rs), want)
	}
	for _, want := range []string{
		"== glorot_uniform + sigmoid",
		"== lecun_normal + selu",
		"layer               1         10\n",
		"act mean", "act std", "grad std",
		"== summary: act std at layer 10 / grad std at layer 1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}

	for _, name := range []string{"initvariance.png", "initvariance_grad.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, format, err := image.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); format != "png" || b.Dx() < 200 || b.Dy() < 200 {
			t.Errorf("%s: a %s of %v, want a PNG of at least 200×200", name, format, b)
		}
	}

	// The physics, with bounds generous enough for 32 units (a layer's
	// gain on the signal's variance fluctuates by about √(2/32) ≈ 25%).
	last := cfg.Layers - 1
	for _, tc := range []struct {
		init, act string
		lo, hi    float64 // bounds of the activation std at the last layer
	}{
		{"lecun_normal", "selu", 0.5, 2},        // self-normalizing: stays near 1
		{"he_normal", "relu", 0.25, 4},          // the factor 2 keeps the variance
		{"glorot_uniform", "sigmoid", 0, 0.5},   // shrinks from 1, around 0.1–0.2
		{"glorot_uniform", "relu", 0, 0.2},      // halves the variance each layer: 2^-5
		{"he_normal", "selu", 1.5, math.Inf(1)}, // twice the variance SELU wants: grows
	} {
		r := find(t, rs, tc.init, tc.act)
		if s := r.ActStd[last]; !(s >= tc.lo && s <= tc.hi) {
			t.Errorf("%s + %s: act std at layer %d = %.4g, want within [%g, %g]", tc.init, tc.act, cfg.Layers, s, tc.lo, tc.hi)
		}
	}
	// Gradients: sigmoid's derivative is at most 1/4, so ∂L/∂z shrinks by
	// about 4 a layer on the way down (4^-9 ≈ 4e-6 over 9 layers); with
	// relu + he_normal it keeps its scale.
	if r := find(t, rs, "glorot_uniform", "sigmoid"); !(r.GradStd[0] < 1e-3*r.GradStd[last]) {
		t.Errorf("glorot_uniform + sigmoid: grad std %.3g at layer 1, %.3g at layer %d: want vanishing", r.GradStd[0], r.GradStd[last], cfg.Layers)
	}
	if r := find(t, rs, "he_normal", "relu"); !(r.GradStd[0] > 0.25*r.GradStd[last] && r.GradStd[0] < 4*r.GradStd[last]) {
		t.Errorf("he_normal + relu: grad std %.3g at layer 1, %.3g at layer %d: want the same scale", r.GradStd[0], r.GradStd[last], cfg.Layers)
	}
	// At the top ∂L/∂a = R, so ∂L/∂z = f'(z)·R: for selu about λ·√(E f'²/λ²) ≈ 1.
	if r := find(t, rs, "lecun_normal", "selu"); math.Abs(r.GradStd[last]-1) > 0.2 {
		t.Errorf("lecun_normal + selu: grad std at the top = %.4g, want about 1", r.GradStd[last])
	}
}

// TestAgainstPlainGo recomputes, with loops over the store's kernels, the
// forward and backward pass the compiled program ran, in float64, for each
// activation.
func TestAgainstPlainGo(t *testing.T) {
	cfg := tiny(t.TempDir())
	cfg.Layers, cfg.Units, cfg.Batch, cfg.DType = 4, 8, 16, graph.Float64
	x, err := standardNormalBatch(cfg, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	up, err := standardNormalBatch(cfg, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, act := range []string{"sigmoid", "tanh", "relu", "selu"} {
		t.Run(act, func(t *testing.T) {
			got, err := measure(cfg, "he_normal", act, x, up)
			if err != nil {
				t.Fatal(err)
			}
			n, err := buildNet(cfg, "he_normal", act)
			if err != nil {
				t.Fatal(err)
			}
			vars, err := n.model.Variables()
			if err != nil {
				t.Fatal(err)
			}
			var kernels [][]float64
			for _, v := range vars {
				k, err := n.store.Float64s(v.Name)
				if err != nil {
					t.Fatal(err)
				}
				kernels = append(kernels, k)
			}
			want := reference(cfg, act, x.Data().([]float64), up.Data().([]float64), kernels)
			// Both sides are float64 sums of at most 8 products in
			// another order: agreement to 1e-9 relative is round-off.
			for i := range cfg.Layers {
				for _, c := range []struct {
					what      string
					got, want float64
				}{
					{"act mean", got.ActMean[i], want.ActMean[i]},
					{"act std", got.ActStd[i], want.ActStd[i]},
					{"grad std", got.GradStd[i], want.GradStd[i]},
				} {
					if math.Abs(c.got-c.want) > 1e-9*math.Max(1e-6, math.Abs(c.want)) {
						t.Errorf("layer %d %s = %.12g, plain Go says %.12g", i+1, c.what, c.got, c.want)
					}
				}
			}
		})
	}
}

// reference is the forward pass a_i = f(a_(i−1)·W_i) and the backward pass
// ∂L/∂z_i = (∂L/∂a_i)·f'(z_i), ∂L/∂a_(i−1) = ∂L/∂z_i·W_iᵀ, from ∂L/∂a_n = R.
func reference(cfg config, act string, x, r []float64, kernels [][]float64) result {
	const lambda, alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
	f := map[string]func(float64) float64{
		"sigmoid": func(z float64) float64 { return 1 / (1 + math.Exp(-z)) },
		"tanh":    math.Tanh,
		"relu":    func(z float64) float64 { return math.Max(z, 0) },
		"selu": func(z float64) float64 {
			if z > 0 {
				return lambda * z
			}
			return lambda * alpha * (math.Exp(z) - 1)
		},
	}[act]
	df := map[string]func(float64) float64{
		"sigmoid": func(z float64) float64 { s := 1 / (1 + math.Exp(-z)); return s * (1 - s) },
		"tanh":    func(z float64) float64 { t := math.Tanh(z); return 1 - t*t },
		"relu": func(z float64) float64 {
			if z > 0 {
				return 1
			}
			return 0
		},
		"selu": func(z float64) float64 {
			if z > 0 {
				return lambda
			}
			return lambda * alpha * math.Exp(z)
		},
	}[act]
	b, u := cfg.Batch, cfg.Units
	stats := func(v []float64) (mean, std float64) {
		for _, e := range v {
			mean += e
		}
		mean /= float64(len(v))
		for _, e := range v {
			std += (e - mean) * (e - mean)
		}
		return mean, math.Sqrt(std / float64(len(v)))
	}
	var zs [][]float64
	res := result{Init: "he_normal", Act: act}
	a := x
	for _, w := range kernels {
		z := make([]float64, b*u)
		next := make([]float64, b*u)
		for i := range b {
			for j := range u {
				var s float64
				for k := range u {
					s += a[i*u+k] * w[k*u+j]
				}
				z[i*u+j] = s
				next[i*u+j] = f(s)
			}
		}
		zs = append(zs, z)
		m, s := stats(next)
		res.ActMean = append(res.ActMean, m)
		res.ActStd = append(res.ActStd, s)
		a = next
	}
	res.GradStd = make([]float64, len(kernels))
	ga := r
	for l := len(kernels) - 1; l >= 0; l-- {
		gz := make([]float64, b*u)
		for i := range gz {
			gz[i] = ga[i] * df(zs[l][i])
		}
		_, res.GradStd[l] = stats(gz)
		w := kernels[l]
		prev := make([]float64, b*u)
		for i := range b {
			for k := range u {
				var s float64
				for j := range u {
					s += gz[i*u+j] * w[k*u+j]
				}
				prev[i*u+k] = s
			}
		}
		ga = prev
	}
	return res
}

func TestSeeds(t *testing.T) {
	cfg := tiny(t.TempDir())
	cfg.Layers, cfg.Inits, cfg.Acts = 3, []string{"he_normal"}, []string{"relu", "tanh"}
	var sink bytes.Buffer
	a, err := run(&sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(&sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs with seed %d differ:\n%v\n%v", cfg.Seed, a, b)
	}
	cfg.Seed++
	c, err := run(&sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds %d and %d give the same numbers", cfg.Seed-1, cfg.Seed)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config)
		want string
	}{
		{"no layers", func(c *config) { c.Layers = 0 }, "-layers 0"},
		{"no units", func(c *config) { c.Units = -1 }, "-units -1"},
		{"one row", func(c *config) { c.Batch = 1 }, "-batch 1"},
		{"no dtype", func(c *config) { c.DType = 0 }, "dtype"},
		{"no inits", func(c *config) { c.Inits = nil }, "no initializer"},
		{"unknown init", func(c *config) { c.Inits = []string{"glorot"} }, "glorot + sigmoid"},
		{"unknown act", func(c *config) { c.Acts = []string{"relu7"} }, "relu7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tiny(t.TempDir())
			cfg.Layers = 2
			tc.edit(&cfg)
			var sink bytes.Buffer
			_, err := run(&sink, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%s) = %v, want an error mentioning %q", tc.name, err, tc.want)
			}
		})
	}
}
