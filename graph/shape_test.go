package graph_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tapegrad/tapegrad/graph"
)

func TestShape(t *testing.T) {
	B := graph.Batch
	for _, tc := range []struct {
		s      graph.Shape
		rank   int
		size   int
		open   bool
		str    string
		batch7 graph.Shape
	}{
		{nil, 0, 1, false, "[]", nil},
		{graph.Shape{}, 0, 1, false, "[]", graph.Shape{}},
		{graph.Shape{5}, 1, 5, false, "[5]", graph.Shape{5}},
		{graph.Shape{2, 3, 4}, 3, 24, false, "[2,3,4]", graph.Shape{2, 3, 4}},
		{graph.Shape{3, 0}, 2, 0, false, "[3,0]", graph.Shape{3, 0}},
		{graph.Shape{B}, 1, -1, true, "[B]", graph.Shape{7}},
		{graph.Shape{B, 784}, 2, -1, true, "[B,784]", graph.Shape{7, 784}},
		{graph.Shape{B, 28, 28, 1}, 4, -1, true, "[B,28,28,1]", graph.Shape{7, 28, 28, 1}},
		{graph.Shape{B, 0}, 2, -1, true, "[B,0]", graph.Shape{7, 0}},
		{graph.Shape{10, B}, 2, -1, true, "[10,B]", graph.Shape{10, 7}},
	} {
		if got := tc.s.Rank(); got != tc.rank {
			t.Errorf("%v.Rank() = %d, want %d", tc.s, got, tc.rank)
		}
		if got := tc.s.Size(); got != tc.size {
			t.Errorf("%v.Size() = %d, want %d", tc.s, got, tc.size)
		}
		if got := tc.s.IsOpen(); got != tc.open {
			t.Errorf("%v.IsOpen() = %v, want %v", tc.s, got, tc.open)
		}
		if got := tc.s.String(); got != tc.str {
			t.Errorf("Shape(%#v).String() = %q, want %q", []int(tc.s), got, tc.str)
		}
		got := tc.s.WithBatch(7)
		assert.Equal(t, tc.batch7, got, "%v.WithBatch(7)", tc.s)
		if len(tc.s) > 0 {
			got[0] = 12345
			assert.NotEqual(t, 12345, tc.s[0], "%v.WithBatch(7) shares memory", tc.s)
		}
		assert.False(t, tc.s.WithBatch(7).IsOpen(), "%v.WithBatch(7) is open", tc.s)
		assert.Equal(t, tc.s, tc.s.WithBatch(graph.Batch), "%v.WithBatch(Batch)", tc.s)
	}
}

func TestShapeEqual(t *testing.T) {
	B := graph.Batch
	for _, tc := range []struct {
		a, b graph.Shape
		want bool
	}{
		{nil, nil, true},
		{nil, graph.Shape{}, true},
		{graph.Shape{2, 3}, graph.Shape{2, 3}, true},
		{graph.Shape{B, 3}, graph.Shape{B, 3}, true},
		{graph.Shape{2, 3}, graph.Shape{3, 2}, false},
		{graph.Shape{2, 3}, graph.Shape{2, 3, 1}, false},
		{graph.Shape{1}, graph.Shape{}, false},
		{graph.Shape{B, 3}, graph.Shape{32, 3}, false},
	} {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%v.Equal(%v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Equal(tc.a); got != tc.want {
			t.Errorf("%v.Equal(%v) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestShapeClone(t *testing.T) {
	assert.Nil(t, graph.Shape(nil).Clone(), "nil.Clone()")
	empty := graph.Shape{}.Clone()
	assert.NotNil(t, empty, "Shape{}.Clone() is nil")
	assert.Empty(t, empty)

	s := graph.Shape{graph.Batch, 3, 4}
	c := s.Clone()
	assert.Equal(t, s, c)
	c[1] = 99
	assert.Equal(t, 3, s[1], "Clone shares memory")
	// a clone of a sub-slice does not write into the rest of the array
	head := s[:1].Clone()
	_ = append(head, 42)
	assert.Equal(t, 3, s[1], "append to a clone wrote into the original")
}

func TestDType(t *testing.T) {
	for _, tc := range []struct {
		d     graph.DType
		str   string
		size  int
		valid bool
	}{
		{graph.Float32, "f32", 4, true},
		{graph.Float64, "f64", 8, true},
		{0, "dtype(0)", 0, false},
		{graph.DType(3), "dtype(3)", 0, false},
		{graph.DType(255), "dtype(255)", 0, false},
	} {
		if got := tc.d.String(); got != tc.str {
			t.Errorf("DType(%d).String() = %q, want %q", uint8(tc.d), got, tc.str)
		}
		if got := tc.d.Size(); got != tc.size {
			t.Errorf("%v.Size() = %d, want %d", tc.d, got, tc.size)
		}
		if got := tc.d.Valid(); got != tc.valid {
			t.Errorf("%v.Valid() = %v, want %v", tc.d, got, tc.valid)
		}
	}
}
