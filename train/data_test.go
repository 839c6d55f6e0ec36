package train

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
)

func TestDataViews(t *testing.T) {
	// a sliced tensor (a view into a larger backing array) is read as the
	// rows it shows, not as its backing array
	x, y := blobs(40, 40)
	m := blobModel(t, 1, nil)
	v, err := x.Slice(tensor.S(10, 20))
	require.NoError(t, err)
	view := v.(*tensor.Dense)
	got, err := m.Predict(view)
	require.NoError(t, err)
	want, err := m.Predict(rowsOf(x, 10, 20))
	require.NoError(t, err)
	assert.Equal(t, want.Float32s(), got.Float32s())

	yv, err := y.Slice(tensor.S(10, 20))
	require.NoError(t, err)
	h, err := m.Fit(context.Background(), view, yv.(*tensor.Dense), FitOptions{BatchSize: 4})
	require.NoError(t, err)
	assert.Equal(t, 1, h.Len())
	assert.Equal(t, 3, iterations(t, m), "10 rows: 3 batches")
}

func TestSameRow(t *testing.T) {
	for _, tc := range []struct {
		have, want graph.Shape
		ok         bool
	}{
		{graph.Shape{}, graph.Shape{}, true},
		{graph.Shape{1}, graph.Shape{}, true},
		{graph.Shape{}, graph.Shape{1}, true},
		{graph.Shape{2}, graph.Shape{}, false},
		{graph.Shape{3, 4}, graph.Shape{3, 4}, true},
		{graph.Shape{4, 3}, graph.Shape{3, 4}, false},
	} {
		assert.Equal(t, tc.ok, sameRow(tc.have, tc.want), "sameRow(%v, %v)", tc.have, tc.want)
	}
}
