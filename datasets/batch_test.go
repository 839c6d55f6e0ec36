package datasets

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

// rowsSplit makes n rows of width values each, row i holding 1000i+j at
// column j, and labels i, so that a batch's rows say where they came from.
func rowsSplit(n, width int) Split {
	x := make([]float32, n*width)
	y := make([]float32, n)
	for i := range n {
		y[i] = float32(i)
		for j := range width {
			x[i*width+j] = float32(1000*i + j)
		}
	}
	return Split{X: newDense(x, n, width), Y: newDense(y, n)}
}

// visit runs one epoch and returns the rows seen, in order, checking on
// the way that each batch's X rows match its labels and that only the last
// batch is short.
func visit(t *testing.T, it *Iterator, width, size int) (seen []int, batches int) {
	t.Helper()
	short := false
	for b := range it.Epoch() {
		require.False(t, short, "a short batch before the last")
		m := b.Len()
		require.Equal(t, m, len(b.Labels()))
		require.LessOrEqual(t, m, size)
		short = m < size
		x := b.X.Data().([]float32)
		for k, lab := range b.Labels() {
			for j := range width {
				require.Equal(t, float32(1000*lab+j), x[k*width+j], "batch %d row %d column %d", batches, k, j)
			}
			seen = append(seen, lab)
		}
		batches++
	}
	return seen, batches
}

// TestBatchesCoverage: every epoch visits every row exactly once (all but
// the n mod size last ones with DropLast), in as many batches as Len says.
func TestBatchesCoverage(t *testing.T) {
	tests := []struct {
		name      string
		n, size   int
		opts      []BatchOption
		wantRows  int
		wantBatch int
	}{
		{"exact", 12, 4, nil, 12, 3},
		{"remainder", 10, 4, nil, 10, 3},
		{"remainder dropped", 10, 4, []BatchOption{DropLast()}, 8, 2},
		{"one batch", 5, 5, nil, 5, 1},
		{"batch larger than the split", 3, 100, nil, 3, 1},
		{"size one", 7, 1, nil, 7, 7},
		{"in order", 10, 3, []BatchOption{NoShuffle()}, 10, 4},
		{"in order, dropped", 10, 3, []BatchOption{NoShuffle(), DropLast()}, 9, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it, err := Batches(rowsSplit(tc.n, 3), tc.size, 42, tc.opts...)
			require.NoError(t, err)
			assert.Equal(t, tc.wantBatch, it.Len())
			for e := range 3 {
				seen, batches := visit(t, it, 3, min(tc.size, tc.n))
				assert.Equal(t, tc.wantBatch, batches, "epoch %d", e)
				assert.Len(t, seen, tc.wantRows)
				assert.Equal(t, it.Order(e)[:tc.wantRows], seen, "epoch %d follows Order", e)
				full := it.Order(e)
				slices.Sort(full)
				for i, v := range full {
					require.Equal(t, i, v, "epoch %d's order is a permutation", e)
				}
				if tc.wantRows == tc.n {
					slices.Sort(seen)
					assert.Equal(t, full, seen, "epoch %d covers every row once", e)
				}
			}
			assert.Equal(t, 3, it.Epochs())
		})
	}
}

// TestBatchesSeeded: the order depends on the seed and the epoch only.
func TestBatchesSeeded(t *testing.T) {
	s := rowsSplit(50, 2)
	a, err := Batches(s, 8, 7)
	require.NoError(t, err)
	b, err := Batches(s, 8, 7)
	require.NoError(t, err)
	c, err := Batches(s, 8, 8)
	require.NoError(t, err)

	var ea, eb [][]int
	for range 3 {
		sa, _ := visit(t, a, 2, 8)
		sb, _ := visit(t, b, 2, 8)
		ea, eb = append(ea, sa), append(eb, sb)
	}
	assert.Equal(t, ea, eb, "same seed, same orders")
	assert.NotEqual(t, ea[0], ea[1], "each epoch reshuffles")
	assert.NotEqual(t, ea[1], ea[2], "each epoch reshuffles")
	sc, _ := visit(t, c, 2, 8)
	assert.NotEqual(t, ea[0], sc, "another seed, another order")
	fresh, err := Batches(s, 8, 7)
	require.NoError(t, err)
	assert.Equal(t, ea[2], fresh.Order(2), "epoch 2's order without running epochs 0 and 1")
	identity := make([]int, 50)
	for i := range identity {
		identity[i] = i
	}
	assert.NotEqual(t, identity, ea[0], "shuffled")

	// Stopping an epoch early does not shift the next one.
	d, err := Batches(s, 8, 7)
	require.NoError(t, err)
	for range d.Epoch() {
		break
	}
	sd, _ := visit(t, d, 2, 8)
	assert.Equal(t, ea[1], sd)
}

// TestBatchesMemory: unshuffled batches are views of the split; shuffled
// ones are gathered into buffers that the iterator reuses.
func TestBatchesMemory(t *testing.T) {
	s := rowsSplit(6, 2)
	it, err := Batches(s, 4, 1, NoShuffle())
	require.NoError(t, err)
	for b := range it.Epoch() {
		b.X.Data().([]float32)[0] = -1
	}
	x := s.X.Data().([]float32)
	assert.Equal(t, float32(-1), x[0], "first batch is a view")
	assert.Equal(t, float32(-1), x[8], "second batch is a view")

	s = rowsSplit(6, 2)
	it, err = Batches(s, 4, 1)
	require.NoError(t, err)
	var firsts []*float32
	for range 2 {
		for b := range it.Epoch() {
			d := b.X.Data().([]float32)
			firsts = append(firsts, &d[0])
			d[0] = -1
		}
	}
	for i, v := range s.X.Data().([]float32) {
		require.NotEqual(t, float32(-1), v, "element %d: shuffled batches are copies", i)
	}
	for _, p := range firsts[1:] {
		assert.Same(t, firsts[0], p, "one buffer for all batches")
	}
}

func TestBatchesFloat64NoLabels(t *testing.T) {
	s := split64(5, 1, 0, 1, 2, 3, 4)
	s.Y = nil
	it, err := Batches(s, 2, 3)
	require.NoError(t, err)
	var seen []float64
	for b := range it.Epoch() {
		assert.Nil(t, b.Y)
		seen = append(seen, b.X.Data().([]float64)...)
	}
	slices.Sort(seen)
	assert.Equal(t, []float64{0, 1, 2, 3, 4}, seen)
}

func TestBatchesErrors(t *testing.T) {
	s := rowsSplit(4, 2)
	tests := []struct {
		name  string
		split Split
		size  int
		msg   string
	}{
		{"size zero", s, 0, "datasets: Batches: batch size 0; want at least 1"},
		{"negative size", s, -3, "datasets: Batches: batch size -3; want at least 1"},
		{"no rows", Split{X: newDense([]float32{}, 0, 2)}, 2, "datasets: Batches: the split has no rows"},
		{"nil X", Split{}, 2, "datasets: split.X is nil"},
		{"rows differ", Split{X: s.X, Y: newDense([]float32{1, 2}, 2)}, 2, "datasets: split.X has 4 rows but split.Y has 2"},
		{"dtypes differ", Split{X: s.X, Y: newDense([]float64{1, 2, 3, 4}, 4)}, 2, "datasets: split.X is float32 but split.Y is float64"},
		{"not float", Split{X: tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2}))}, 2, "datasets: split.X has dtype int; want float32 or float64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it, err := Batches(tc.split, tc.size, 1)
			assert.Nil(t, it)
			assert.EqualError(t, err, tc.msg)
		})
	}
}

// Order takes an epoch number from its caller: a negative one has no
// order (nil); any other, however large, a permutation of the rows.
func TestOrderBadEpoch(t *testing.T) {
	it, err := Batches(rowsSplit(10, 1), 3, 1)
	require.NoError(t, err)
	for _, e := range []int{-1, -1 << 40} {
		assert.Nil(t, it.Order(e), "Order(%d)", e)
	}
	for _, e := range []int{0, 1, 1 << 40} {
		o := it.Order(e)
		assert.ElementsMatch(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, o, "Order(%d) is a permutation", e)
	}
	nt, err := Batches(rowsSplit(10, 1), 3, 1, NoShuffle())
	require.NoError(t, err)
	assert.Nil(t, nt.Order(-1), "Order(-1) without shuffling")
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, nt.Order(5))
}
