package nodes_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
)

// coreIota returns 0, 1, ..., n-1.
func coreIota(n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = float64(i)
	}
	return d
}

func TestReshapeFlattenForward(t *testing.T) {
	x := []testutil.Value{coreVal("x", []int{2, 3}, 1, 2, 3, 4, 5, 6)}
	reshape := func(s graph.Shape) func(in []*graph.Node) *graph.Node {
		return func(in []*graph.Node) *graph.Node { return nodes.Reshape(in[0], s) }
	}
	coreForward(t, "Reshape", []coreCase{
		{"3x2", x, reshape(graph.Shape{3, 2}), []int{3, 2}, []float64{1, 2, 3, 4, 5, 6}},
		{"infer-last", x, reshape(graph.Shape{1, -1}), []int{1, 6}, []float64{1, 2, 3, 4, 5, 6}},
		{"infer-first", x, reshape(graph.Shape{-1, 2, 1}), []int{3, 2, 1}, []float64{1, 2, 3, 4, 5, 6}},
		{"flat", x, reshape(graph.Shape{-1}), []int{6}, []float64{1, 2, 3, 4, 5, 6}},
		{"to-scalar", []testutil.Value{coreVal("x", []int{1, 1}, 7)}, reshape(graph.Shape{}), []int{}, []float64{7}},
	})
	flatten := func(in []*graph.Node) *graph.Node { return nodes.Flatten(in[0]) }
	coreForward(t, "Flatten", []coreCase{
		{"rank3", []testutil.Value{coreVal("x", []int{2, 2, 3}, coreIota(12)...)}, flatten, []int{2, 6}, coreIota(12)},
		{"rank2", x, flatten, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}},
		{"rank1", []testutil.Value{coreVal("x", []int{3}, 1, 2, 3)}, flatten, []int{3, 1}, []float64{1, 2, 3}},
		{"scalar", []testutil.Value{coreVal("x", []int{}, 4)}, flatten, []int{1, 1}, []float64{4}},
	})
}

func TestReshapeShapes(t *testing.T) {
	tests := []struct {
		x, target, want graph.Shape
		kind            error
		msg             string
	}{
		{x: graph.Shape{coreB, 28, 28}, target: graph.Shape{-1, 784}, want: graph.Shape{coreB, 784}},
		{x: graph.Shape{coreB, 6}, target: graph.Shape{-1, 2, 3}, want: graph.Shape{coreB, 2, 3}},
		{x: graph.Shape{4, 6}, target: graph.Shape{3, -1}, want: graph.Shape{3, 8}},
		{x: graph.Shape{2, 3}, target: graph.Shape{4, 2}, kind: graph.ErrShape,
			msg: `graph: reshape "reshape": cannot reshape [2,3] (6 values) to [4,2] (8 values)`},
		{x: graph.Shape{2, 3}, target: graph.Shape{4, -1}, kind: graph.ErrShape,
			msg: `graph: reshape "reshape": cannot reshape [2,3] (6 values) to [4,-1]`},
		{x: graph.Shape{2, 3}, target: graph.Shape{-1, -1}, kind: graph.ErrArg,
			msg: `graph: reshape "reshape": more than one dimension to infer in [-1,-1]`},
		{x: graph.Shape{2, 3}, target: graph.Shape{-2, 3}, kind: graph.ErrArg,
			msg: `graph: reshape "reshape": negative dimension -2 in [-2,3]`},
		// the open batch dimension must map to the target's -1
		{x: graph.Shape{coreB, 6}, target: graph.Shape{6, -1}, kind: graph.ErrShape,
			msg: `graph: reshape "reshape": cannot reshape [B,6] to [6,-1]: the open batch dimension must map to the target's leading -1`},
		{x: graph.Shape{coreB, 6}, target: graph.Shape{2, 3}, kind: graph.ErrShape,
			msg: `graph: reshape "reshape": cannot reshape [B,6] to [2,3]: the open batch dimension must map to the target's leading -1`},
		{x: graph.Shape{coreB, 6}, target: graph.Shape{-1, 4}, kind: graph.ErrShape,
			msg: `graph: reshape "reshape": cannot reshape [B,6] to [-1,4]: the open batch dimension must map to the target's leading -1`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.x, tc.target), func(t *testing.T) {
			g := graph.New(graph.Float32)
			y := nodes.Reshape(g.Input("x", tc.x), tc.target)
			if tc.msg != "" {
				assert.True(t, y.IsPoisoned())
				coreErrPrefix(t, g.Err(), tc.kind, tc.msg)
				return
			}
			require.NoError(t, g.Err())
			assert.Equal(t, tc.want, y.Shape(), "Reshape(%v, %v) has shape %v, want %v", tc.x, tc.target, y.Shape(), tc.want)
		})
	}
	g := graph.New(graph.Float32)
	assert.Equal(t, graph.Shape{coreB, 784}, nodes.Flatten(g.Input("img", graph.Shape{coreB, 28, 28})).Shape())
	assert.Equal(t, graph.Shape{coreB, 1}, nodes.Flatten(g.Input("v", graph.Shape{coreB})).Shape())
	require.NoError(t, g.Err())
}

func TestTransposeForward(t *testing.T) {
	tr := func(perm ...int) func(in []*graph.Node) *graph.Node {
		return func(in []*graph.Node) *graph.Node { return nodes.Transpose(in[0], perm...) }
	}
	x23 := []testutil.Value{coreVal("x", []int{2, 3}, 1, 2, 3, 4, 5, 6)}
	x222 := []testutil.Value{coreVal("x", []int{2, 2, 2}, coreIota(8)...)}
	coreForward(t, "Transpose", []coreCase{
		{"2d-default", x23, tr(), []int{3, 2}, []float64{1, 4, 2, 5, 3, 6}},
		{"2d-perm", x23, tr(1, 0), []int{3, 2}, []float64{1, 4, 2, 5, 3, 6}},
		{"2d-negative", x23, tr(-1, -2), []int{3, 2}, []float64{1, 4, 2, 5, 3, 6}},
		{"identity", x23, tr(0, 1), []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}},
		// out[a,b,c] = x[b,c,a] = 4b + 2c + a
		{"3d-201", x222, tr(2, 0, 1), []int{2, 2, 2}, []float64{0, 2, 4, 6, 1, 3, 5, 7}},
		// out[a,b,c] = x[a,c,b] = 4a + 2c + b
		{"3d-021", x222, tr(0, 2, 1), []int{2, 2, 2}, []float64{0, 2, 1, 3, 4, 6, 5, 7}},
		// reversed [2,1,3] → [3,1,2]: out[k,0,i] = x[i,0,k]
		{"3d-default", []testutil.Value{coreVal("x", []int{2, 1, 3}, 1, 2, 3, 4, 5, 6)}, tr(), []int{3, 1, 2}, []float64{1, 4, 2, 5, 3, 6}},
		{"vector", []testutil.Value{coreVal("x", []int{3}, 1, 2, 3)}, tr(), []int{3}, []float64{1, 2, 3}},
		{"scalar", []testutil.Value{coreVal("x", []int{}, 5)}, tr(), []int{}, []float64{5}},
	})
}

// TestTransposeLarge checks a transpose big enough to be split over the
// worker pool against indices computed here.
func TestTransposeLarge(t *testing.T) {
	coreParallel(t)
	const a, b, c = 30, 40, 50 // 60000 elements
	x := coreIota(a * b * c)
	for _, dt := range coreDTypes {
		out, err := testutil.Run(dt, []testutil.Value{coreVal("x", []int{a, b, c}, x...)}, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
			return []*graph.Node{nodes.Transpose(in[0], 2, 0, 1)}
		})
		require.NoError(t, err)
		require.Equal(t, []int{c, a, b}, out[0].Shape)
		for k := 0; k < c; k++ {
			for i := 0; i < a; i++ {
				for j := 0; j < b; j++ {
					if got, want := out[0].Data[(k*a+i)*b+j], x[(i*b+j)*c+k]; got != want {
						t.Fatalf("Transpose(x, 2, 0, 1)[%d,%d,%d] = %v, want %v", k, i, j, got, want)
					}
				}
			}
		}
	}
}

func TestTransposeErrors(t *testing.T) {
	tests := []struct {
		x    graph.Shape
		perm []int
		kind error
		msg  string
	}{
		{graph.Shape{2, 3}, []int{0}, graph.ErrArg, `graph: transpose "transpose": perm [0] has 1 entries for rank 2`},
		{graph.Shape{2, 3}, []int{0, 0}, graph.ErrArg, `graph: transpose "transpose": perm [0 0] names axis 0 twice`},
		{graph.Shape{2, 3}, []int{1, -2, 0}, graph.ErrArg, `graph: transpose "transpose": perm [1 -2 0] has 3 entries for rank 2`},
		{graph.Shape{2, 3}, []int{0, 2}, graph.ErrArg, `graph: transpose "transpose": perm [0 2]: axis 2 out of range for rank 2`},
		{graph.Shape{coreB, 3}, nil, graph.ErrShape, `graph: transpose "transpose": perm [1 0] moves the open batch dimension away from axis 0`},
		{graph.Shape{coreB, 3, 4}, []int{1, 0, 2}, graph.ErrShape, `graph: transpose "transpose": perm [1 0 2] moves the open batch dimension away from axis 0`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.x, tc.perm), func(t *testing.T) {
			g := graph.New(graph.Float32)
			var y *graph.Node
			require.NotPanics(t, func() { y = nodes.Transpose(g.Input("x", tc.x), tc.perm...) })
			assert.True(t, y.IsPoisoned())
			coreErrPrefix(t, g.Err(), tc.kind, tc.msg)
		})
	}
	// keeping the batch in front is fine
	g := graph.New(graph.Float32)
	y := nodes.Transpose(g.Input("x", graph.Shape{coreB, 3, 4}), 0, 2, 1)
	require.NoError(t, g.Err())
	assert.Equal(t, graph.Shape{coreB, 4, 3}, y.Shape())
}

func TestSliceForward(t *testing.T) {
	sl := func(axis, begin, end int) func(in []*graph.Node) *graph.Node {
		return func(in []*graph.Node) *graph.Node { return nodes.Slice(in[0], axis, begin, end) }
	}
	// x[i,j] = 4i + j
	x := []testutil.Value{coreVal("x", []int{3, 4}, coreIota(12)...)}
	coreForward(t, "Slice", []coreCase{
		{"cols-1:3", x, sl(1, 1, 3), []int{3, 2}, []float64{1, 2, 5, 6, 9, 10}},
		{"cols-neg", x, sl(-1, -3, -1), []int{3, 2}, []float64{1, 2, 5, 6, 9, 10}},
		{"cols-to-end", x, sl(1, 2, 4), []int{3, 2}, []float64{2, 3, 6, 7, 10, 11}},
		{"rows-neg-begin", x, sl(0, -2, 3), []int{2, 4}, []float64{4, 5, 6, 7, 8, 9, 10, 11}},
		{"rows-neg-end", x, sl(0, 0, -1), []int{2, 4}, []float64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"one-col", x, sl(1, 3, 4), []int{3, 1}, []float64{3, 7, 11}},
		{"all", x, sl(0, 0, 3), []int{3, 4}, coreIota(12)},
		// x[i,j,k] = 6i + 3j + k; middle axis, index 1
		{"rank3-middle", []testutil.Value{coreVal("x", []int{2, 2, 3}, coreIota(12)...)}, sl(1, 1, 2), []int{2, 1, 3}, []float64{3, 4, 5, 9, 10, 11}},
		{"vector", []testutil.Value{coreVal("x", []int{5}, 1, 2, 3, 4, 5)}, sl(0, 1, -1), []int{3}, []float64{2, 3, 4}},
	})
}

func TestSliceErrors(t *testing.T) {
	tests := []struct {
		x                graph.Shape
		axis, begin, end int
		kind             error
		msg              string
	}{
		{graph.Shape{3, 4}, 1, 1, 5, graph.ErrArg, `graph: slice "slice": slice [1:5) out of range for axis 1 of size 4`},
		{graph.Shape{3, 4}, 1, -5, 2, graph.ErrArg, `graph: slice "slice": slice [-5:2) out of range for axis 1 of size 4`},
		{graph.Shape{3, 4}, 0, 2, 1, graph.ErrArg, `graph: slice "slice": slice [2:1) of axis 0 (size 3) is empty`},
		{graph.Shape{3, 4}, 0, 2, 2, graph.ErrArg, `graph: slice "slice": slice [2:2) of axis 0 (size 3) is empty`},
		{graph.Shape{3, 4}, 0, 1, -2, graph.ErrArg, `graph: slice "slice": slice [1:-2) of axis 0 (size 3) is empty`},
		{graph.Shape{3, 4}, 2, 0, 1, graph.ErrArg, `graph: slice "slice": axis 2 out of range for rank 2`},
		{graph.Shape{}, 0, 0, 1, graph.ErrArg, `graph: slice "slice": axis 0 out of range for rank 0`},
		{graph.Shape{coreB, 4}, 0, 1, -1, graph.ErrArg, `graph: slice "slice": slice [1:-1) of the open batch axis 0: begin and end must have the same sign, or the size would depend on the batch`},
		{graph.Shape{coreB, 4}, 0, 3, 1, graph.ErrArg, `graph: slice "slice": slice [3:1) of the open batch axis 0 is empty`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.x, tc.axis, tc.begin, tc.end), func(t *testing.T) {
			g := graph.New(graph.Float32)
			var y *graph.Node
			require.NotPanics(t, func() { y = nodes.Slice(g.Input("x", tc.x), tc.axis, tc.begin, tc.end) })
			assert.True(t, y.IsPoisoned())
			coreErrPrefix(t, g.Err(), tc.kind, tc.msg)
		})
	}
}

// TestSliceBatch: slicing the open batch axis with bounds of one sign gives
// a fixed size; a batch too small for the bounds is a run-time error.
func TestSliceBatch(t *testing.T) {
	tests := []struct {
		begin, end int
		shape      graph.Shape
		batch      int
		want       []float64 // x[i,j] = 2i + j
		err        string
	}{
		{1, 3, graph.Shape{2, 2}, 4, []float64{2, 3, 4, 5}, ""},
		{1, 3, graph.Shape{2, 2}, 3, []float64{2, 3, 4, 5}, ""},
		{-2, -1, graph.Shape{1, 2}, 4, []float64{4, 5}, ""},
		{-2, -1, graph.Shape{1, 2}, 2, []float64{0, 1}, ""},
		{1, 3, graph.Shape{2, 2}, 2, nil, "slice [1:3) out of range for axis 0 of size 2"},
		{-3, -1, graph.Shape{2, 2}, 2, nil, "slice [-3:-1) out of range for axis 0 of size 2"},
	}
	for _, tc := range tests {
		for _, dt := range coreDTypes {
			t.Run(fmt.Sprintf("[%d:%d)/batch=%d/%v", tc.begin, tc.end, tc.batch, dt), func(t *testing.T) {
				var shape graph.Shape
				build := func(in []*graph.Node) []*graph.Node {
					y := nodes.Slice(in[0], 0, tc.begin, tc.end)
					shape = y.Shape()
					return []*graph.Node{y}
				}
				var vals []testutil.Value
				var err error
				require.NotPanics(t, func() {
					vals, err = coreRunDecl(dt, []graph.Shape{{coreB, 2}}, []testutil.Value{coreVal("x", []int{tc.batch, 2}, coreIota(2*tc.batch)...)}, build)
				})
				assert.Equal(t, tc.shape, shape, "Slice of [B,2] on [%d:%d) has shape %v, want %v", tc.begin, tc.end, shape, tc.shape)
				if tc.err != "" {
					require.Error(t, err)
					assert.Contains(t, err.Error(), tc.err)
					return
				}
				require.NoError(t, err)
				coreExpect(t, fmt.Sprintf("Slice(x[%d,2], 0, %d, %d)", tc.batch, tc.begin, tc.end), dt, vals[0], []int(tc.shape), tc.want)
			})
		}
	}
}

func TestConcatForward(t *testing.T) {
	cat := func(axis int) func(in []*graph.Node) *graph.Node {
		return func(in []*graph.Node) *graph.Node { return nodes.Concat(axis, in...) }
	}
	a := coreVal("a", []int{2, 1}, 1, 2)
	b := coreVal("b", []int{2, 2}, 10, 11, 20, 21)
	c := coreVal("c", []int{2, 3}, 5, 6, 7, 8, 9, 10)
	coreForward(t, "Concat", []coreCase{
		{"axis1", []testutil.Value{a, b}, cat(1), []int{2, 3}, []float64{1, 10, 11, 2, 20, 21}},
		{"axis-1-three", []testutil.Value{b, a, coreVal("b2", []int{2, 2}, 10, 11, 20, 21)}, cat(-1), []int{2, 5}, []float64{10, 11, 1, 10, 11, 20, 21, 2, 20, 21}},
		{"axis0", []testutil.Value{c, coreVal("d", []int{1, 3}, -1, -2, -3)}, cat(0), []int{3, 3}, []float64{5, 6, 7, 8, 9, 10, -1, -2, -3}},
		{"single", []testutil.Value{c}, cat(0), []int{2, 3}, []float64{5, 6, 7, 8, 9, 10}},
		{"vectors", []testutil.Value{coreVal("u", []int{2}, 1, 2), coreVal("v", []int{1}, 3)}, cat(0), []int{3}, []float64{1, 2, 3}},
		// rank 3 on the middle axis: x[i] rows then y[i] rows, for each i
		{"rank3-middle", []testutil.Value{coreVal("x", []int{2, 1, 2}, 1, 2, 3, 4), coreVal("y", []int{2, 2, 2}, 5, 6, 7, 8, 9, 10, 11, 12)},
			cat(1), []int{2, 3, 2}, []float64{1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12}},
	})
}

func TestConcatShapes(t *testing.T) {
	tests := []struct {
		axis   int
		shapes []graph.Shape
		want   graph.Shape
		kind   error
		msg    string
	}{
		{axis: 1, shapes: []graph.Shape{{coreB, 2}, {coreB, 3}}, want: graph.Shape{coreB, 5}},
		{axis: -1, shapes: []graph.Shape{{coreB, 2, 1}, {coreB, 2, 4}}, want: graph.Shape{coreB, 2, 5}},
		{axis: 0, shapes: []graph.Shape{{coreB, 2}, {3, 2}}, kind: graph.ErrShape,
			msg: `graph: concat "concat": cannot concatenate along the open batch axis 0: the result would not have the batch size (inputs f32[B,2], f32[3,2]; at shape_test.go:`},
		{axis: 0, shapes: []graph.Shape{{coreB, 2}, {coreB, 2}}, kind: graph.ErrShape,
			msg: `graph: concat "concat": cannot concatenate along the open batch axis 0`},
		{axis: 1, shapes: []graph.Shape{{coreB, 2}, {3, 2}}, kind: graph.ErrShape,
			msg: `graph: concat "concat": input 1 has shape [3,2], input 0 has [B,2]: they may differ only on axis 1`},
		{axis: 0, shapes: []graph.Shape{{2, 3}, {2, 4}}, kind: graph.ErrShape,
			msg: `graph: concat "concat": input 1 has shape [2,4], input 0 has [2,3]: they may differ only on axis 0`},
		{axis: 0, shapes: []graph.Shape{{2, 3}, {3}}, kind: graph.ErrShape,
			msg: `graph: concat "concat": input 1 has rank 1, input 0 has rank 2`},
		{axis: 2, shapes: []graph.Shape{{2, 3}, {2, 3}}, kind: graph.ErrArg,
			msg: `graph: concat "concat": axis 2 out of range for rank 2`},
		{axis: 0, shapes: []graph.Shape{{}, {}}, kind: graph.ErrArg,
			msg: `graph: concat "concat": axis 0 out of range for rank 0`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.axis, tc.shapes), func(t *testing.T) {
			g := graph.New(graph.Float32)
			var xs []*graph.Node
			for i, s := range tc.shapes {
				xs = append(xs, g.Input(fmt.Sprint("x", i), s))
			}
			y := nodes.Concat(tc.axis, xs...)
			if tc.msg != "" {
				assert.True(t, y.IsPoisoned())
				coreErrPrefix(t, g.Err(), tc.kind, tc.msg)
				return
			}
			require.NoError(t, g.Err())
			assert.Equal(t, tc.want, y.Shape(), "Concat(%d, %v) has shape %v, want %v", tc.axis, tc.shapes, y.Shape(), tc.want)
		})
	}
	assert.Nil(t, nodes.Concat(0), "Concat of nothing has no graph: want nil")
}

// TestShapeVJP: the gradients of Transpose, Slice and Concat, by hand.
func TestShapeVJP(t *testing.T) {
	tests := []struct {
		name  string
		ins   []testutil.Value
		build func(in []*graph.Node) *graph.Node
		up    []float64
		want  [][]float64
	}{
		// Transpose: the upstream transposed back
		{"transpose", []testutil.Value{coreVal("x", []int{2, 3}, coreIota(6)...)},
			func(in []*graph.Node) *graph.Node { return nodes.Transpose(in[0]) },
			[]float64{1, 2, 3, 4, 5, 6}, [][]float64{{1, 3, 5, 2, 4, 6}}},
		{"transpose-3d", []testutil.Value{coreVal("x", []int{2, 2, 2}, coreIota(8)...)},
			func(in []*graph.Node) *graph.Node { return nodes.Transpose(in[0], 2, 0, 1) },
			// ḡ[a,b,c] lands at x[b,c,a]
			[]float64{0, 2, 4, 6, 1, 3, 5, 7}, [][]float64{coreIota(8)}},
		// Slice: the upstream in the sliced columns, zeros elsewhere
		{"slice", []testutil.Value{coreVal("x", []int{2, 4}, coreIota(8)...)},
			func(in []*graph.Node) *graph.Node { return nodes.Slice(in[0], 1, 1, 3) },
			[]float64{1, 2, 3, 4}, [][]float64{{0, 1, 2, 0, 0, 3, 4, 0}}},
		{"slice-rows", []testutil.Value{coreVal("x", []int{3, 2}, coreIota(6)...)},
			func(in []*graph.Node) *graph.Node { return nodes.Slice(in[0], 0, -1, 3) },
			[]float64{7, 8}, [][]float64{{0, 0, 0, 0, 7, 8}}},
		// Concat: each input gets its part of the upstream
		{"concat", []testutil.Value{coreVal("a", []int{2, 1}, 0, 0), coreVal("b", []int{2, 2}, 0, 0, 0, 0)},
			func(in []*graph.Node) *graph.Node { return nodes.Concat(1, in...) },
			[]float64{1, 2, 3, 4, 5, 6}, [][]float64{{1, 4}, {2, 3, 5, 6}}},
		// one input twice: its two parts add up
		{"concat-twice", []testutil.Value{coreVal("a", []int{2}, 0, 0)},
			func(in []*graph.Node) *graph.Node { return nodes.Concat(0, in[0], in[0]) },
			[]float64{1, 2, 30, 40}, [][]float64{{31, 42}}},
		{"reshape", []testutil.Value{coreVal("x", []int{2, 3}, coreIota(6)...)},
			func(in []*graph.Node) *graph.Node { return nodes.Reshape(in[0], graph.Shape{3, 2}) },
			[]float64{1, 2, 3, 4, 5, 6}, [][]float64{{1, 2, 3, 4, 5, 6}}},
	}
	for _, tc := range tests {
		for _, dt := range coreDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				_, grads, err := testutil.RunVJP(dt, tc.ins, tc.up, func(_ *graph.Graph, in []*graph.Node) *graph.Node { return tc.build(in) })
				require.NoError(t, err)
				for i, g := range grads {
					coreExpect(t, fmt.Sprintf("%s VJP for %s with upstream %v", tc.name, tc.ins[i].Name, tc.up), dt, g, tc.ins[i].Shape, tc.want[i])
				}
			})
		}
	}
}

func TestShapeGradCheck(t *testing.T) {
	coreCheckGrads(t, []coreGrad{
		{name: "reshape", shapes: [][]int{{2, 6}}, build: func(in []*graph.Node) *graph.Node { return nodes.Reshape(in[0], graph.Shape{3, -1, 2}) }},
		{name: "flatten", shapes: [][]int{{2, 2, 3}}, build: func(in []*graph.Node) *graph.Node { return nodes.Flatten(in[0]) }},
		{name: "transpose-2d", shapes: [][]int{{3, 4}}, build: func(in []*graph.Node) *graph.Node { return nodes.Transpose(in[0]) }},
		{name: "transpose-3d", shapes: [][]int{{2, 3, 4}}, build: func(in []*graph.Node) *graph.Node { return nodes.Transpose(in[0], 1, 2, 0) }},
		{name: "slice-cols", shapes: [][]int{{3, 5}}, build: func(in []*graph.Node) *graph.Node { return nodes.Slice(in[0], 1, 1, -1) }},
		{name: "slice-rows", shapes: [][]int{{4, 2}}, build: func(in []*graph.Node) *graph.Node { return nodes.Slice(in[0], 0, 0, 2) }},
		{name: "slice-middle", shapes: [][]int{{2, 4, 3}}, build: func(in []*graph.Node) *graph.Node { return nodes.Slice(in[0], 1, -3, -1) }},
		{name: "concat", shapes: [][]int{{2, 3}, {2, 1}, {2, 2}}, build: func(in []*graph.Node) *graph.Node { return nodes.Concat(1, in...) }},
		{name: "concat-axis0", shapes: [][]int{{1, 3}, {2, 3}}, build: func(in []*graph.Node) *graph.Node { return nodes.Concat(0, in...) }},
		// slices of a concat recover the parts, multiplied so each path matters
		{name: "concat-slice", shapes: [][]int{{2, 3}, {2, 2}}, build: func(in []*graph.Node) *graph.Node {
			c := nodes.Concat(1, in[0], in[1])
			return nodes.Mul(nodes.Slice(c, 1, 0, 2), nodes.Slice(c, 1, 3, 5))
		}},
		// second order: the gradients of Slice (slice_scatter) and of
		// Transpose are themselves differentiated
		{name: "second-order", shapes: [][]int{{3, 4}}, build: func(in []*graph.Node) *graph.Node {
			x := in[0]
			s := nodes.Slice(nodes.Transpose(nodes.Mul(x, x)), 0, 1, 3)
			c := nodes.Concat(1, s, nodes.Slice(x, 0, 0, 2))
			return coreGradOf(t, nodes.Sum(nodes.Mul(c, c), false), x)
		}},
	})
}

func TestStopGradient(t *testing.T) {
	coreForward(t, "StopGradient", []coreCase{
		{"vec", []testutil.Value{coreVal("x", []int{3}, 1, -2, 3)}, func(in []*graph.Node) *graph.Node { return nodes.StopGradient(in[0]) }, []int{3}, []float64{1, -2, 3}},
	})
	// x ⊙ StopGradient(x) has the gradient x (not 2x): the second factor is
	// a constant for autodiff
	for _, dt := range coreDTypes {
		_, grads, err := testutil.RunVJP(dt, []testutil.Value{coreVal("x", []int{3}, 1, -2, 3)}, []float64{1, 1, 2}, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
			return nodes.Mul(in[0], nodes.StopGradient(in[0]))
		})
		require.NoError(t, err)
		coreExpect(t, "VJP of x⊙StopGradient(x) at [1 -2 3]", dt, grads[0], []int{3}, []float64{1, -2, 6})
	}
	// a path only through StopGradient gives no gradient: an error,
	// recorded on the graph
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{2})
	_, err := autodiff.Grad(nodes.Sum(nodes.StopGradient(x), false), x)
	require.Error(t, err)
	assert.ErrorIs(t, err, graph.ErrGradient)
	assert.Contains(t, err.Error(), `"sum" depends on "x" only through ops without a gradient: stop_gradient "stop_gradient"`)
	assert.True(t, err == g.Err(), "Grad returned %v, want the graph's error %v", err, g.Err())
	// or zeros with AllowUnused
	g = graph.New(graph.Float64)
	x = g.Input("x", graph.Shape{2})
	gs, err := autodiff.GradWith(nodes.Sum(nodes.StopGradient(x), false), []*graph.Node{x}, autodiff.Options{AllowUnused: true})
	require.NoError(t, err)
	assert.Equal(t, graph.Shape{2}, gs[0].Shape())
}

func TestZerosOnesLike(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*graph.Node) *graph.Node
		v    float64
	}{{"ZerosLike", nodes.ZerosLike, 0}, {"OnesLike", nodes.OnesLike, 1}} {
		coreForward(t, tc.name, []coreCase{
			{"matrix", []testutil.Value{coreVal("x", []int{2, 3}, 1, 2, 3, 4, 5, 6)}, func(in []*graph.Node) *graph.Node { return tc.f(in[0]) }, []int{2, 3}, []float64{tc.v, tc.v, tc.v, tc.v, tc.v, tc.v}},
			{"scalar", []testutil.Value{coreVal("x", []int{}, 9)}, func(in []*graph.Node) *graph.Node { return tc.f(in[0]) }, []int{}, []float64{tc.v}},
		})
		// with the open batch dimension the result follows the batch size
		for _, n := range []int{1, 3} {
			vals, err := coreRunDecl(graph.Float32, []graph.Shape{{coreB, 2}}, []testutil.Value{coreVal("x", []int{n, 2}, coreIota(2*n)...)}, func(in []*graph.Node) []*graph.Node {
				y := tc.f(in[0])
				assert.Equal(t, graph.Shape{coreB, 2}, y.Shape())
				return []*graph.Node{y}
			})
			require.NoError(t, err)
			want := make([]float64, 2*n)
			for i := range want {
				want[i] = tc.v
			}
			coreExpect(t, fmt.Sprintf("%s(x[%d,2])", tc.name, n), graph.Float32, vals[0], []int{n, 2}, want)
		}
	}
}

// TestShapeAttrs: the printed form of the new ops carries their parameters.
func TestShapeAttrs(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{coreB, 3, 4})
	for _, tc := range []struct {
		n    *graph.Node
		want string
	}{
		{nodes.Transpose(x, 0, 2, 1), "transpose[perm=[0,2,1]]"},
		{nodes.Slice(x, -1, 1, -1), "slice[axis=2 range=[1:-1)]"},
		{nodes.Concat(-1, x, x), "concat[axis=2]"},
		{nodes.OneHot(nodes.Sum(x, false, 1, 2), 5), "one_hot[depth=5]"},
	} {
		require.NoError(t, g.Err())
		assert.True(t, strings.Contains(tc.n.String(), tc.want), "%s does not contain %s", tc.n, tc.want)
	}
}

// TestSliceConcatLarge: a slice, its gradient (slice_scatter) and a concat
// big enough to be split over the worker pool, against indices computed
// here.
func TestSliceConcatLarge(t *testing.T) {
	coreParallel(t)
	const rows, cols = 2000, 40 // 80000 elements, 2000 blocks of 40
	x := coreIota(rows * cols)
	for _, dt := range coreDTypes {
		_, grads, err := testutil.RunVJP(dt, []testutil.Value{coreVal("x", []int{rows, cols}, x...)}, coreIota(rows*(cols-5)),
			func(_ *graph.Graph, in []*graph.Node) *graph.Node {
				s := nodes.Slice(in[0], 1, 5, cols) // [rows, cols−5]
				return nodes.Slice(nodes.Concat(1, in[0], s), 1, cols, 2*cols-5)
			})
		require.NoError(t, err)
		// the upstream u[i,j] = i·(cols−5) + j reaches x[i, j+5]
		gx := grads[0].Data
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				want := 0.0
				if j >= 5 {
					want = float64(i*(cols-5) + j - 5)
				}
				if gx[i*cols+j] != want {
					t.Fatalf("%v: gradient of Slice(Concat(x, x[:,5:]))[%d,%d] = %v, want %v", dt, i, j, gx[i*cols+j], want)
				}
			}
		}
		out, err := testutil.Run(dt, []testutil.Value{coreVal("x", []int{rows, cols}, x...)}, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
			return []*graph.Node{nodes.Concat(1, nodes.Slice(in[0], 1, 30, cols), in[0])}
		})
		require.NoError(t, err)
		w := cols - 30 + cols
		for i := 0; i < rows; i++ {
			for j := 0; j < w; j++ {
				var want float64
				if j < cols-30 {
					want = x[i*cols+30+j] // from x[:,30:]
				} else {
					want = x[i*cols+j-(cols-30)] // from x
				}
				if got := out[0].Data[i*w+j]; got != want {
					t.Fatalf("%v: Concat(x[:,30:], x)[%d,%d] = %v, want %v", dt, i, j, got, want)
				}
			}
		}
	}
}
