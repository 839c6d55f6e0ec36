package experiment_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/datasets"
	"github.com/tapegrad/tapegrad/experiment"
)

// The whole study on the quick configuration: every experiment runs, every
// plot is a PNG, and the report has every section and its tables.
func TestRunQuick(t *testing.T) {
	cfg := experiment.Quick()
	cfg.Dir = t.TempDir()
	var log, prog bytes.Buffer
	cfg.Log = &log
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
	sections := []string{"## Configuration", "## 1. Variance through depth (`variance`)", "## 2. Self-normalization (`selfnorm`)",
		"## 3. Nonsaturating activations (`activations`)", "## 4. Batch Normalization (`batchnorm`)"}
	for i, s := range sections {
		start := strings.Index(md, s)
		require.GreaterOrEqual(t, start, 0, "the report lacks %q", s)
		end := len(md)
		if i+1 < len(sections) {
			end = strings.Index(md, sections[i+1])
			require.Greater(t, end, start, "sections out of order")
		}
		body := md[start:end]
		assert.Contains(t, body, "| --- |", "%s has no table", s)
		// Every table row has as many cells as its header.
		for _, tbl := range strings.Split(body, "\n\n") {
			lines := strings.Split(strings.TrimSpace(tbl), "\n")
			if len(lines) < 2 || !strings.HasPrefix(lines[1], "| --- |") {
				continue
			}
			n := strings.Count(lines[0], " |")
			for _, l := range lines[2:] {
				assert.Equal(t, n, strings.Count(l, " |"), "%s: row %q", s, l)
			}
		}
	}
	// Each plot is shown in the report, and each image the report shows
	// was written.
	shown := regexp.MustCompile(`!\[[^]]*\]\(([^)]+)\)`).FindAllStringSubmatch(md, -1)
	var names []string
	for _, m := range shown {
		names = append(names, m[1])
	}
	assert.ElementsMatch(t, wantFiles[1:], names)
	for _, want := range []string{"glorot_uniform + sigmoid", "lecun_normal + selu", "SELU + lecun_normal, standardized",
		"| leaky_relu |", "| prelu |", "| relu, learning_rate=0.04 |", "BN before the activation, no bias", "mnist from embedded", "seed | 42"} {
		assert.Contains(t, md, want)
	}
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
