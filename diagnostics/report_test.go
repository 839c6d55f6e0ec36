package diagnostics_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/diagnostics"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
)

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

var errWrite = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errWrite
	}
	w.n -= len(p)
	return len(p), nil
}

// Report.Layer and Report.WriteTable on what a caller may pass: names that
// are not a layer's, a zero Report, a nil or failing writer.
func TestReportBadInput(t *testing.T) {
	seq := layers.NewSequential(layers.Input(4),
		layers.Dense(3, layers.DenseOptions{Activation: "relu"}),
		layers.Dense(2, layers.DenseOptions{}),
	)
	x, y := batch(t, graph.Float32, 5, 4, 2, 1, 9)
	rep, err := diagnostics.InspectSequential(seq, nil, x, y)
	require.NoError(t, err)
	require.Len(t, rep.Layers, 2)

	for _, name := range []string{"", "nope", "Dense_1", "DENSE", "dense_1 ", " dense", "dense/kernel", "dense_2", "1", "sequential"} {
		l, ok := rep.Layer(name)
		assert.False(t, ok, "Layer(%q)", name)
		assert.Equal(t, diagnostics.LayerStats{}, l, "Layer(%q) returns the zero LayerStats", name)
	}
	for i, name := range []string{"dense", "dense_1"} {
		l, ok := rep.Layer(name)
		assert.True(t, ok, "Layer(%q)", name)
		assert.Equal(t, i, l.Index, "Layer(%q).Index", name)
		assert.Equal(t, name, l.Name)
	}
	_, ok := diagnostics.Report{}.Layer("dense")
	assert.False(t, ok, "a zero Report has no layer")

	assert.EqualError(t, rep.WriteTable(nil), "diagnostics: Report.WriteTable: nil writer")
	assert.EqualError(t, diagnostics.Report{}.WriteTable(nil), "diagnostics: Report.WriteTable: nil writer")
	for _, n := range []int{0, 10, 200} {
		err := rep.WriteTable(&failingWriter{n: n})
		assert.ErrorIs(t, err, errWrite, "a writer that fails after %d bytes", n)
	}

	// A zero Report writes its header line and the column names.
	var b strings.Builder
	require.NoError(t, diagnostics.Report{}.WriteTable(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2, "%q", b.String())
	assert.Equal(t, "0 rows, inference mode", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "layer  class  act"), "%q", lines[1])
}
