package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tapegrad runs the command in-process with args and returns its exit code,
// stdout and stderr.
func tapegrad(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		stdout    []string // substrings of stdout
		stderr    []string // substrings of stderr
		quietOut  bool     // stdout must be empty
		quietErrs bool     // stderr must be empty
	}{
		{"no args", nil, exitUsage, nil, []string{"Usage:", "tapegrad <command>"}, true, false},
		{"help", []string{"help"}, exitOK, []string{"Usage:", "study", "dot", "explain", "bench", "tapegrad help <command>"}, nil, false, true},
		{"-h", []string{"-h"}, exitOK, []string{"The commands are:"}, nil, false, true},
		{"--help", []string{"--help"}, exitOK, []string{"The commands are:"}, nil, false, true},
		{"help study", []string{"help", "study"}, exitOK, []string{"Usage: tapegrad study", "-quick", "-out string", "selfnorm"}, nil, false, true},
		{"help bench", []string{"help", "bench"}, exitOK, []string{"Usage: tapegrad bench", "-iters int"}, nil, false, true},
		{"help unknown", []string{"help", "train"}, exitUsage, nil, []string{`unknown command "train"`}, true, false},
		{"unknown command", []string{"train"}, exitUsage, nil, []string{`tapegrad: unknown command "train"`, "The commands are:"}, true, false},
		{"study -h", []string{"study", "-h"}, exitOK, []string{"Usage: tapegrad study", "-data string"}, nil, false, true},
		{"study --help after args", []string{"study", "variance", "--help"}, exitOK, []string{"Usage: tapegrad study"}, nil, false, true},
		{"dot --help", []string{"dot", "--help"}, exitOK, []string{"Usage: tapegrad dot", "-model string", "-mode string"}, nil, false, true},
		{"explain -h", []string{"explain", "-h"}, exitOK, []string{"Usage: tapegrad explain", "-batch int"}, nil, false, true},
		{"bad flag", []string{"study", "--bogus"}, exitUsage, nil, []string{"tapegrad study: flag provided but not defined: -bogus", "Usage: tapegrad study"}, true, false},
		{"bad value", []string{"study", "--epochs", "many"}, exitUsage, nil, []string{`invalid value "many" for flag -epochs`}, true, false},
		{"missing value", []string{"study", "--out"}, exitUsage, nil, []string{"flag needs an argument: -out"}, true, false},
		{"negative epochs", []string{"study", "--epochs", "-1"}, exitUsage, nil, []string{"--epochs -1"}, true, false},
		{"zero batch", []string{"study", "--batch", "0"}, exitUsage, nil, []string{"--batch 0"}, true, false},
		{"unknown experiment", []string{"study", "varience"}, exitUsage, nil, []string{`unknown experiment "varience"`, "Usage: tapegrad study"}, true, false},
		{"unknown data", []string{"study", "--data", "cifar"}, exitUsage, nil, []string{`--data "cifar": want mnist or fashion`}, true, false},
		{"empty out", []string{"study", "--out", ""}, exitUsage, nil, []string{"--out is empty"}, true, false},
		{"unknown model", []string{"dot", "--model", "Z"}, exitUsage, nil, []string{`--model "Z": want one of A, B, C, D, mlp`}, true, false},
		{"D in training", []string{"explain", "--model", "D", "--mode", "train"}, exitUsage, nil, []string{"inference program of B"}, true, false},
		{"unknown mode", []string{"dot", "--mode", "sideways"}, exitUsage, nil, []string{`--mode "sideways"`}, true, false},
		{"extra argument", []string{"dot", "A"}, exitUsage, nil, []string{`unexpected argument "A"`}, true, false},
		{"zero batch explain", []string{"explain", "--batch", "0"}, exitUsage, nil, []string{"--batch 0"}, true, false},
		{"zero iters", []string{"bench", "--iters", "0"}, exitUsage, nil, []string{"--iters 0"}, true, false},
		{"negative batch bench", []string{"bench", "--batch", "-2"}, exitUsage, nil, []string{"--batch -2"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := tapegrad(t, tc.args...)
			assert.Equal(t, tc.code, code, "exit code; stderr:\n%s", errOut)
			for _, s := range tc.stdout {
				assert.Contains(t, out, s)
			}
			for _, s := range tc.stderr {
				assert.Contains(t, errOut, s)
			}
			if tc.quietOut {
				assert.Empty(t, out)
			}
			if tc.quietErrs {
				assert.Empty(t, errOut)
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		pos   []string
		quick bool
		out   string
	}{
		{nil, nil, false, "d"},
		{[]string{"variance"}, []string{"variance"}, false, "d"},
		{[]string{"variance", "--quick", "selfnorm", "-out", "x"}, []string{"variance", "selfnorm"}, true, "x"},
		{[]string{"--out=y", "a", "b"}, []string{"a", "b"}, false, "y"},
		{[]string{"a", "--", "--quick", "b"}, []string{"a", "--quick", "b"}, false, "d"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		quick := fs.Bool("quick", false, "")
		out := fs.String("out", "d", "")
		pos, err := parseInterleaved(fs, tc.args)
		require.NoError(t, err)
		assert.Equal(t, tc.pos, pos, "parseInterleaved(%q)", tc.args)
		assert.Equal(t, tc.quick, *quick, "parseInterleaved(%q): quick", tc.args)
		assert.Equal(t, tc.out, *out, "parseInterleaved(%q): out", tc.args)
	}
}

// study runs end to end in-process: the quick variance experiment, with the
// flags after the argument.
func TestStudy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := tapegrad(t, "study", "variance", "--quick", "--out", dir)
	require.Equal(t, exitOK, code, "stderr:\n%s", errOut)
	assert.Contains(t, out, "== variance: act std at layer 10")
	assert.Contains(t, out, "wrote "+filepath.Join(dir, "report.md")+" and 2 plots")
	assert.Contains(t, errOut, "study [12/12]", "progress lines on stderr (not a terminal)")
	for _, f := range []string{"report.md", "variance_act.png", "variance_grad.png"} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err)
	}

	// The environment variable selects the quick configuration too;
	// --quiet silences the progress.
	t.Setenv(EnvQuick, "1")
	dir2 := t.TempDir()
	code, out, errOut = tapegrad(t, "study", "--quiet", "--out", dir2, "--epochs", "1", "activations")
	require.Equal(t, exitOK, code, "stderr:\n%s", errOut)
	assert.Empty(t, errOut)
	md, err := os.ReadFile(filepath.Join(dir2, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "MLP 784-32-16-10, 1 epochs")
	assert.Contains(t, out, "== activations")
}

// A data set that is missing fails the command (exit 1) and says where it
// looked.
func TestStudyMissingData(t *testing.T) {
	code, out, errOut := tapegrad(t, "study", "batchnorm", "--quick", "--quiet", "--data", "fashion",
		"--data-dir", t.TempDir(), "--out", t.TempDir())
	assert.Equal(t, exitError, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "tapegrad study: datasets: ")
	assert.Contains(t, errOut, "fashion-mnist")
	assert.Contains(t, errOut, "not found")
}

func TestDot(t *testing.T) {
	for _, tc := range []struct {
		model, mode string
		title       string
		has         string // a node the drawing must show
	}{
		{"A", "", "A: 784-300-100-10 SELU lecun_normal (training)", "sgd"},
		{"a", "infer", "A: 784-300-100-10 SELU lecun_normal (inference)", "selu"},
		{"B", "train", "(training)", "batch_norm"},
		{"C", "", "C: 3072", "elu"},
		{"D", "", "D: inference of B (inference)", "dense"},
		{"mlp", "inference", "mlp: 784-300-100-10 ReLU", "relu"},
	} {
		t.Run(tc.model+"/"+tc.mode, func(t *testing.T) {
			args := []string{"dot", "--model", tc.model}
			if tc.mode != "" {
				args = append(args, "--mode", tc.mode)
			}
			code, out, errOut := tapegrad(t, args...)
			require.Equal(t, exitOK, code, "stderr:\n%s", errOut)
			assert.True(t, strings.HasPrefix(out, "digraph"), "%.60q", out)
			assert.Contains(t, out, tc.title)
			assert.Contains(t, out, tc.has)
			if tc.mode == "infer" || tc.mode == "inference" || tc.model == "D" {
				assert.NotContains(t, out, "gradients", "an inference graph has no gradients")
			}
		})
	}

	// To a file, with an SVG beside it when Graphviz is installed.
	dir := t.TempDir()
	path := filepath.Join(dir, "b.dot")
	code, out, errOut := tapegrad(t, "dot", "--model", "B", "--out", path, "--collapse", "gradients,sgd")
	require.Equal(t, exitOK, code, "stderr:\n%s", errOut)
	dot, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(dot, []byte("digraph")))
	assert.Contains(t, out, "wrote "+path)
	svg := filepath.Join(dir, "b.svg")
	if _, err := exec.LookPath("dot"); err == nil {
		data, err := os.ReadFile(svg)
		require.NoError(t, err)
		assert.Contains(t, string(data), "<svg")
		assert.Contains(t, out, "wrote "+svg)
	} else {
		assert.Contains(t, errOut, "not on PATH")
		_, err := os.Stat(svg)
		assert.True(t, os.IsNotExist(err))
	}
	// Nothing but the two files (no temporary file left).
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(entries), 2)

	// A directory that does not exist is a failure, not a usage error.
	code, _, errOut = tapegrad(t, "dot", "--out", filepath.Join(dir, "no", "such", "x.dot"))
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut, "tapegrad dot:")
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"explain"}, []string{"# A: 784-300-100-10 SELU lecun_normal, training program", "instructions:", "dense"}},
		{[]string{"explain", "--model", "mlp", "--batch", "8"}, []string{"# mlp", "act=relu", "f32[B,784]"}},
		{[]string{"explain", "--model", "D", "--batch", "1"}, []string{"inference program", "program f32"}},
		{[]string{"explain", "--model", "B", "--mode", "infer"}, []string{"inference program"}},
	} {
		code, out, errOut := tapegrad(t, tc.args...)
		require.Equal(t, exitOK, code, "%q: stderr:\n%s", tc.args, errOut)
		for _, w := range tc.want {
			assert.Contains(t, out, w, "%q", tc.args)
		}
	}
}

func TestBench(t *testing.T) {
	code, out, errOut := tapegrad(t, "bench", "--model", "A", "--iters", "2", "--batch", "16")
	require.Equal(t, exitOK, code, "stderr:\n%s", errOut)
	assert.Contains(t, out, "ms/step")
	assert.Contains(t, out, "allocs/step")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, "a header, the column names and one row:\n%s", out)
	fields := strings.Fields(lines[2])
	require.GreaterOrEqual(t, len(fields), 5)
	assert.Equal(t, []string{"A", "16"}, fields[:2])

	// Every configuration at its own batch sizes, briefly.
	code, out, errOut = tapegrad(t, "bench", "--iters", "1")
	require.Equal(t, exitOK, code, "stderr:\n%s", errOut)
	for _, row := range []string{"A  ", "B  ", "C  ", "D  "} {
		assert.Contains(t, out, row)
	}
}

// --full on MNIST where only the embedded subset is at hand (no
// $TAPEGRAD_DATA, an empty module cache) runs on the subset and says so
// on stderr, even with --quiet, and in the report.
func TestStudyFullFallback(t *testing.T) {
	t.Setenv("TAPEGRAD_DATA", "")
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOENV", "off")
	dir := t.TempDir()
	code, out, errOut := tapegrad(t, "study", "batchnorm", "--quick", "--quiet", "--full", "--epochs", "1", "--out", dir)
	require.Equal(t, exitOK, code, "stderr:\n%s", errOut)
	assert.Contains(t, out, "== batchnorm")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	require.Len(t, lines, 1, "one warning line on stderr, nothing else with --quiet: %q", errOut)
	assert.True(t, strings.HasPrefix(lines[0], "warning: the whole MNIST data set (Full, --full) is not installed, so embedded subset data/mnist-subset is used instead"),
		"got %q", lines[0])
	assert.Contains(t, lines[0], "6000 training and 1000 test images")
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "**Warning:** the whole MNIST data set")
	assert.Contains(t, string(md), "| data | mnist from embedded subset data/mnist-subset |")
}
