package nodes_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
)

func TestCompareForward(t *testing.T) {
	nan := math.NaN()
	// a = [1 2 3 NaN], b = 2 (broadcast): NaN compares false except with !=
	ab := []testutil.Value{coreVal("a", []int{4}, 1, 2, 3, nan), coreVal("b", []int{}, 2)}
	// a column against a row: [2,1] vs [3] → [2,3]
	col := []testutil.Value{coreVal("a", []int{2, 1}, 1, 3), coreVal("b", []int{3}, 1, 2, 3)}
	ops := []struct {
		name      string
		build     func(a, b *graph.Node) *graph.Node
		scalar    []float64
		outer     []float64
		nanVsNaN  float64
		infVsInfs []float64 // +Inf against [−Inf, +Inf]
	}{
		{"Equal", nodes.Equal, []float64{0, 1, 0, 0}, []float64{1, 0, 0, 0, 0, 1}, 0, []float64{0, 1}},
		{"NotEqual", nodes.NotEqual, []float64{1, 0, 1, 1}, []float64{0, 1, 1, 1, 1, 0}, 1, []float64{1, 0}},
		{"Less", nodes.Less, []float64{1, 0, 0, 0}, []float64{0, 1, 1, 0, 0, 0}, 0, []float64{0, 0}},
		{"LessEqual", nodes.LessEqual, []float64{1, 1, 0, 0}, []float64{1, 1, 1, 0, 0, 1}, 0, []float64{0, 1}},
		{"Greater", nodes.Greater, []float64{0, 0, 1, 0}, []float64{0, 0, 0, 1, 1, 0}, 0, []float64{1, 0}},
		{"GreaterEqual", nodes.GreaterEqual, []float64{0, 1, 1, 0}, []float64{1, 0, 0, 1, 1, 1}, 0, []float64{1, 1}},
	}
	for _, op := range ops {
		coreForward(t, op.name, []coreCase{
			{"scalar", ab, coreBinary(op.build), []int{4}, op.scalar},
			{"outer", col, coreBinary(op.build), []int{2, 3}, op.outer},
			{"nan-nan", []testutil.Value{coreVal("a", []int{1}, nan), coreVal("b", []int{1}, nan)}, coreBinary(op.build), []int{1}, []float64{op.nanVsNaN}},
			{"inf", []testutil.Value{coreVal("a", []int{}, math.Inf(1)), coreVal("b", []int{2}, math.Inf(-1), math.Inf(1))}, coreBinary(op.build), []int{2}, op.infVsInfs},
		})
	}
}

func TestMaximumMinimumForward(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	a := coreVal("a", []int{5}, 1, 5, -2, nan, 0)
	b := coreVal("b", []int{5}, 3, 3, -2, 1, nan)
	coreForward(t, "Maximum", []coreCase{
		{"vec", []testutil.Value{a, b}, coreBinary(nodes.Maximum), []int{5}, []float64{3, 5, -2, nan, nan}},
		{"vec-swapped", []testutil.Value{b, a}, coreBinary(nodes.Maximum), []int{5}, []float64{3, 5, -2, nan, nan}},
		{"relu-like", []testutil.Value{coreVal("x", []int{2, 2}, -1, 2, -inf, inf), coreVal("z", []int{}, 0)}, coreBinary(nodes.Maximum), []int{2, 2}, []float64{0, 2, 0, inf}},
		{"outer", []testutil.Value{coreVal("a", []int{2, 1}, 1, 3), coreVal("b", []int{3}, 0, 2, 4)}, coreBinary(nodes.Maximum), []int{2, 3}, []float64{1, 2, 4, 3, 3, 4}},
	})
	coreForward(t, "Minimum", []coreCase{
		{"vec", []testutil.Value{a, b}, coreBinary(nodes.Minimum), []int{5}, []float64{1, 3, -2, nan, nan}},
		{"vec-swapped", []testutil.Value{b, a}, coreBinary(nodes.Minimum), []int{5}, []float64{1, 3, -2, nan, nan}},
		{"clip", []testutil.Value{coreVal("x", []int{3}, -inf, 0.5, 7), coreVal("c", []int{}, 1)}, coreBinary(nodes.Minimum), []int{3}, []float64{-inf, 0.5, 1}},
		{"outer", []testutil.Value{coreVal("a", []int{2, 1}, 1, 3), coreVal("b", []int{3}, 0, 2, 4)}, coreBinary(nodes.Minimum), []int{2, 3}, []float64{0, 1, 1, 0, 2, 3}},
	})
}

func TestWhereForward(t *testing.T) {
	where := func(in []*graph.Node) *graph.Node { return nodes.Where(in[0], in[1], in[2]) }
	coreForward(t, "Where", []coreCase{
		// any non-zero condition selects a, NaN included (NaN != 0)
		{"same", []testutil.Value{coreVal("c", []int{5}, 1, 0, 2, 0, math.NaN()), coreVal("a", []int{5}, 1, 2, 3, 4, 5), coreVal("b", []int{5}, 10, 20, 30, 40, 50)},
			where, []int{5}, []float64{1, 20, 3, 40, 5}},
		// c [2,1] selects rows; a [3] and b scalar broadcast
		{"broadcast", []testutil.Value{coreVal("c", []int{2, 1}, 0, 1), coreVal("a", []int{3}, 1, 2, 3), coreVal("b", []int{}, -1)},
			where, []int{2, 3}, []float64{-1, -1, -1, 1, 2, 3}},
		// a row condition over a column of values
		{"row-cond", []testutil.Value{coreVal("c", []int{3}, 1, 0, 1), coreVal("a", []int{2, 1}, 5, 6), coreVal("b", []int{2, 3}, 0, 0, 0, 9, 9, 9)},
			where, []int{2, 3}, []float64{5, 0, 5, 6, 9, 6}},
	})
}

// TestCompareVJP: ties of Maximum/Minimum split the gradient ½ each;
// Where's three operands must broadcast together: the error names the op
// and all three shapes, and says which dimensions clash.
func TestWhereShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		cond, a, b graph.Shape
		msg        string
	}{
		// cond and a clash
		{cond: graph.Shape{2, 3}, a: graph.Shape{4, 3}, b: graph.Shape{3},
			msg: `graph: where "where": shapes [2,3] and [4,3] and [3] do not broadcast: dimensions 2 and 4 differ (inputs f64[2,3], f64[4,3], f64[3]; at compare_test.go:`},
		// cond and a broadcast to [2,3]; b does not fit that
		{cond: graph.Shape{2, 1}, a: graph.Shape{1, 3}, b: graph.Shape{4},
			msg: `graph: where "where": shapes [2,1] and [1,3] and [4] do not broadcast: dimensions 3 and 4 differ (inputs f64[2,1], f64[1,3], f64[4]; at compare_test.go:`},
		// the open batch dimension against a fixed one
		{cond: graph.Shape{coreB, 3}, a: graph.Shape{3}, b: graph.Shape{2, 3},
			msg: `graph: where "where": shapes [B,3] and [3] and [2,3] do not broadcast: the open batch dimension meets 2 (inputs f64[B,3], f64[3], f64[2,3]; at compare_test.go:`},
	} {
		t.Run(fmt.Sprint(tc.cond, tc.a, tc.b), func(t *testing.T) {
			g := graph.New(graph.Float64)
			y := nodes.Where(g.Input("cond", tc.cond), g.Input("a", tc.a), g.Input("b", tc.b))
			assert.True(t, y.IsPoisoned(), "Where(%v, %v, %v) is not poisoned", tc.cond, tc.a, tc.b)
			coreErrPrefix(t, g.Err(), graph.ErrShape, tc.msg)
		})
	}
}

// Where routes ḡ to the selected side and sums over broadcast axes.
func TestCompareVJP(t *testing.T) {
	tests := []struct {
		name  string
		ins   []testutil.Value
		build func(g *graph.Graph, in []*graph.Node) *graph.Node
		up    []float64
		want  [][]float64
	}{
		{"maximum", []testutil.Value{coreVal("a", []int{3}, 1, 5, -2), coreVal("b", []int{3}, 3, 3, -2)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Maximum(in[0], in[1]) },
			[]float64{1, 2, 3}, [][]float64{{0, 2, 1.5}, {1, 0, 1.5}}},
		{"minimum", []testutil.Value{coreVal("a", []int{3}, 1, 5, -2), coreVal("b", []int{3}, 3, 3, -2)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Minimum(in[0], in[1]) },
			[]float64{1, 2, 3}, [][]float64{{1, 0, 1.5}, {0, 2, 1.5}}},
		// ReLU as Maximum(x, 0): the scalar 0 collects the rest, ties at 0 give ½
		{"maximum-scalar", []testutil.Value{coreVal("x", []int{2, 2}, -1, 2, 0, 3), coreVal("z", []int{}, 0)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Maximum(in[0], in[1]) },
			[]float64{1, 2, 4, 8}, [][]float64{{0, 2, 2, 8}, {1 + 2}}},
		{"where", []testutil.Value{coreVal("c", []int{2, 1}, 0, 1), coreVal("a", []int{3}, 1, 2, 3), coreVal("b", []int{}, -1)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Where(in[0], in[1], in[2]) },
			[]float64{1, 2, 3, 4, 5, 6}, [][]float64{{0, 0}, {4, 5, 6}, {1 + 2 + 3}}},
	}
	for _, tc := range tests {
		for _, dt := range coreDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				_, grads, err := testutil.RunVJP(dt, tc.ins, tc.up, tc.build)
				require.NoError(t, err)
				for i, g := range grads {
					coreExpect(t, fmt.Sprintf("%s VJP for %s with upstream %v", tc.name, tc.ins[i].Name, tc.up), dt, g, tc.ins[i].Shape, tc.want[i])
				}
			})
		}
	}
}

func TestCompareGradCheck(t *testing.T) {
	var cases []coreGrad
	shapes := [][2][]int{{{4, 3}, {4, 3}}, {{4, 3}, {3}}, {{4, 1}, {1, 5}}, {{}, {2, 3}}}
	for _, op := range []struct {
		name  string
		build func(a, b *graph.Node) *graph.Node
	}{{"maximum", nodes.Maximum}, {"minimum", nodes.Minimum}} {
		for _, s := range shapes {
			// random continuous inputs: a tie (a kink) has probability 0,
			// and the nearest one is far beyond the 1e-6 step
			cases = append(cases, coreGrad{
				name:   fmt.Sprintf("%s%v%v", op.name, graph.Shape(s[0]), graph.Shape(s[1])),
				shapes: [][]int{s[0], s[1]},
				build:  coreBinary(op.build),
			})
		}
	}
	cases = append(cases,
		// the condition is a constant for autodiff: only a and b are checked
		coreGrad{name: "where[4,3]", shapes: [][]int{{4, 3}, {4, 3}, {4, 3}}, wrt: []int{1, 2},
			build: func(in []*graph.Node) *graph.Node { return nodes.Where(nodes.Greater(in[0], in[1]), in[1], in[2]) }},
		coreGrad{name: "where-broadcast", shapes: [][]int{{4, 1}, {3}, {}}, wrt: []int{1, 2},
			build: func(in []*graph.Node) *graph.Node { return nodes.Where(in[0], in[1], in[2]) }},
		coreGrad{name: "second-order-maximum", shapes: [][]int{{2, 3}, {3}},
			build: func(in []*graph.Node) *graph.Node {
				x, y := in[0], in[1]
				f := nodes.Sum(nodes.Mul(nodes.Maximum(x, y), nodes.Minimum(nodes.Mul(x, x), y)), false)
				return coreGradOf(t, f, x, y)
			}},
	)
	coreCheckGrads(t, cases)
}

// TestCompareNoGradient: comparisons block gradients with a reason; a path
// around them still works.
func TestCompareNoGradient(t *testing.T) {
	for _, op := range coreBinaryOps[6:] {
		t.Run(op.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{3})
			y := nodes.Sum(op.build(x, g.Scalar(0)), false)
			_, err := autodiff.Grad(y, x)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "comparisons give 0/1 masks")
			assert.Contains(t, err.Error(), op.name)
		})
	}
	// Where: the condition gets no gradient, the values do: |x| written as
	// Where(x > 0, x, −x) has the gradient sign(x)
	for _, dt := range coreDTypes {
		_, grads, err := testutil.RunVJP(dt, []testutil.Value{coreVal("x", []int{3}, -2, 3, -0.5)}, []float64{1}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			x := in[0]
			return nodes.Sum(nodes.Where(nodes.Greater(x, g.Scalar(0)), x, nodes.Neg(x)), false)
		})
		require.NoError(t, err)
		coreExpect(t, "∇ Σ|x| at [-2 3 -0.5]", dt, grads[0], []int{3}, []float64{-1, 1, -1})
	}
}
