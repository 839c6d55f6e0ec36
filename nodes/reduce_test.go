package nodes_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
)

// x23 is [[1 2 3] [4 5 6]]; x223 is 1..12 in shape [2,2,3], so that
// x223[i,j,k] = 1 + 6i + 3j + k.
var (
	coreX23  = coreVal("x", []int{2, 3}, 1, 2, 3, 4, 5, 6)
	coreX223 = coreVal("x", []int{2, 2, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
)

type coreReducer func(x *graph.Node, keep bool, axes ...int) *graph.Node

func coreReduce(f coreReducer, keep bool, axes ...int) func(in []*graph.Node) *graph.Node {
	return func(in []*graph.Node) *graph.Node { return f(in[0], keep, axes...) }
}

func TestSumForward(t *testing.T) {
	in23, in223 := []testutil.Value{coreX23}, []testutil.Value{coreX223}
	coreForward(t, "Sum", []coreCase{
		{"all", in23, coreReduce(nodes.Sum, false), []int{}, []float64{21}},
		{"all-listed", in23, coreReduce(nodes.Sum, false, 0, 1), []int{}, []float64{21}},
		{"all-keep", in23, coreReduce(nodes.Sum, true), []int{1, 1}, []float64{21}},
		{"axis0", in23, coreReduce(nodes.Sum, false, 0), []int{3}, []float64{5, 7, 9}},
		{"axis1", in23, coreReduce(nodes.Sum, false, 1), []int{2}, []float64{6, 15}},
		{"axis-1", in23, coreReduce(nodes.Sum, false, -1), []int{2}, []float64{6, 15}},
		{"axis-2-keep", in23, coreReduce(nodes.Sum, true, -2), []int{1, 3}, []float64{5, 7, 9}},
		{"axis1-keep", in23, coreReduce(nodes.Sum, true, 1), []int{2, 1}, []float64{6, 15}},
		// Σ_j x[i,j,k]: [1+4 2+5 3+6], [7+10 8+11 9+12]
		{"rank3-middle", in223, coreReduce(nodes.Sum, false, 1), []int{2, 3}, []float64{5, 7, 9, 17, 19, 21}},
		// Σ_{i,k} x[i,j,k]: j=0: 6+24, j=1: 15+33
		{"rank3-outer", in223, coreReduce(nodes.Sum, false, 0, 2), []int{2}, []float64{30, 48}},
		{"rank3-outer-keep", in223, coreReduce(nodes.Sum, true, 2, 0), []int{1, 2, 1}, []float64{30, 48}},
		// Σ_i x[i,j,k]: 1+7 ... 6+12
		{"rank3-first", in223, coreReduce(nodes.Sum, false, 0), []int{2, 3}, []float64{8, 10, 12, 14, 16, 18}},
		{"scalar", []testutil.Value{coreVal("x", []int{}, 2.5)}, coreReduce(nodes.Sum, false), []int{}, []float64{2.5}},
		{"size-1-axis", []testutil.Value{coreVal("x", []int{1, 3}, 1, 2, 3)}, coreReduce(nodes.Sum, false, 0), []int{3}, []float64{1, 2, 3}},
		{"nan", []testutil.Value{coreVal("x", []int{3}, 1, math.NaN(), 3)}, coreReduce(nodes.Sum, false), []int{}, []float64{math.NaN()}},
	})
}

func TestMeanForward(t *testing.T) {
	in23, in223 := []testutil.Value{coreX23}, []testutil.Value{coreX223}
	coreForward(t, "Mean", []coreCase{
		{"all", in23, coreReduce(nodes.Mean, false), []int{}, []float64{3.5}},
		{"axis0", in23, coreReduce(nodes.Mean, false, 0), []int{3}, []float64{2.5, 3.5, 4.5}},
		{"axis-1-keep", in23, coreReduce(nodes.Mean, true, -1), []int{2, 1}, []float64{2, 5}},
		{"rank3-outer", in223, coreReduce(nodes.Mean, false, 0, 2), []int{2}, []float64{30.0 / 6, 48.0 / 6}},
		{"rank3-last", in223, coreReduce(nodes.Mean, false, 2), []int{2, 2}, []float64{2, 5, 8, 11}},
	})
}

func TestMaxForward(t *testing.T) {
	x := []testutil.Value{coreVal("x", []int{2, 3}, 1, 5, 3, 4, -2, 6)}
	coreForward(t, "Max", []coreCase{
		{"all", x, coreReduce(nodes.Max, false), []int{}, []float64{6}},
		{"axis0", x, coreReduce(nodes.Max, false, 0), []int{3}, []float64{4, 5, 6}},
		{"axis1", x, coreReduce(nodes.Max, false, 1), []int{2}, []float64{5, 6}},
		{"axis-1-keep", x, coreReduce(nodes.Max, true, -1), []int{2, 1}, []float64{5, 6}},
		{"rank3-outer", []testutil.Value{coreX223}, coreReduce(nodes.Max, false, 0, 2), []int{2}, []float64{9, 12}},
		{"negative", []testutil.Value{coreVal("x", []int{3}, -3, -1, -2)}, coreReduce(nodes.Max, false), []int{}, []float64{-1}},
		{"neg-inf", []testutil.Value{coreVal("x", []int{2}, math.Inf(-1), math.Inf(-1))}, coreReduce(nodes.Max, false), []int{}, []float64{math.Inf(-1)}},
		// NaN propagates wherever it stands
		{"nan-first", []testutil.Value{coreVal("x", []int{3}, math.NaN(), 1, 3)}, coreReduce(nodes.Max, false), []int{}, []float64{math.NaN()}},
		{"nan-middle", []testutil.Value{coreVal("x", []int{3}, 1, math.NaN(), 3)}, coreReduce(nodes.Max, false), []int{}, []float64{math.NaN()}},
		{"nan-column", []testutil.Value{coreVal("x", []int{2, 2}, 1, math.NaN(), 3, 0)}, coreReduce(nodes.Max, false, 0), []int{2}, []float64{3, math.NaN()}},
	})
}

// TestReduceVJP checks hand-derived gradients: Sum broadcasts ḡ back, Mean
// divides it by the count, Max sends it to the maxima, shared among ties.
func TestReduceVJP(t *testing.T) {
	tests := []struct {
		name  string
		x     testutil.Value
		build func(x *graph.Node) *graph.Node
		up    []float64
		want  []float64
	}{
		{"sum-all", coreX23, func(x *graph.Node) *graph.Node { return nodes.Sum(x, false) }, []float64{2}, []float64{2, 2, 2, 2, 2, 2}},
		{"sum-axis0", coreX23, func(x *graph.Node) *graph.Node { return nodes.Sum(x, false, 0) }, []float64{1, 2, 3}, []float64{1, 2, 3, 1, 2, 3}},
		{"sum-axis1-keep", coreX23, func(x *graph.Node) *graph.Node { return nodes.Sum(x, true, 1) }, []float64{1, 2}, []float64{1, 1, 1, 2, 2, 2}},
		{"mean-all", coreX23, func(x *graph.Node) *graph.Node { return nodes.Mean(x, false) }, []float64{3}, []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
		{"mean-axis1", coreX23, func(x *graph.Node) *graph.Node { return nodes.Mean(x, false, 1) }, []float64{3, 6}, []float64{1, 1, 1, 2, 2, 2}},
		{"max-unique", coreVal("x", []int{2, 3}, 1, 5, 3, 4, -2, 6), func(x *graph.Node) *graph.Node { return nodes.Max(x, false, 1) },
			[]float64{10, 20}, []float64{0, 10, 0, 0, 0, 20}},
		// ties share the gradient equally: ½ each of two, ⅓ each of three
		{"max-tie-2", coreVal("x", []int{3}, 3, 1, 3), func(x *graph.Node) *graph.Node { return nodes.Max(x, false) },
			[]float64{1}, []float64{0.5, 0, 0.5}},
		{"max-tie-3", coreVal("x", []int{2, 3}, 2, 2, 2, 0, 1, 0), func(x *graph.Node) *graph.Node { return nodes.Max(x, true, 1) },
			[]float64{3, 4}, []float64{1, 1, 1, 0, 4, 0}},
	}
	for _, tc := range tests {
		for _, dt := range coreDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				_, grads, err := testutil.RunVJP(dt, []testutil.Value{tc.x}, tc.up, func(_ *graph.Graph, in []*graph.Node) *graph.Node { return tc.build(in[0]) })
				require.NoError(t, err)
				coreExpect(t, fmt.Sprintf("%s VJP at %v with upstream %v", tc.name, tc.x.Data, tc.up), dt, grads[0], tc.x.Shape, tc.want)
			})
		}
	}
}

func TestReduceGradCheck(t *testing.T) {
	var cases []coreGrad
	reducers := []struct {
		name string
		f    coreReducer
	}{{"sum", nodes.Sum}, {"mean", nodes.Mean}, {"max", nodes.Max}}
	axesList := []struct {
		shape []int
		axes  []int
	}{
		{[]int{4, 3}, nil},
		{[]int{4, 3}, []int{0}},
		{[]int{4, 3}, []int{-1}},
		{[]int{2, 3, 4}, []int{0, 2}},
		{[]int{2, 3, 4}, []int{1}},
		{[]int{5}, []int{0}},
	}
	for _, r := range reducers {
		for _, a := range axesList {
			for _, keep := range []bool{false, true} {
				cases = append(cases, coreGrad{
					name:   fmt.Sprintf("%s%v%v/keep=%v", r.name, graph.Shape(a.shape), a.axes, keep),
					shapes: [][]int{a.shape},
					build:  coreReduce(r.f, keep, a.axes...),
				})
			}
		}
	}
	cases = append(cases,
		coreGrad{name: "sum_to[4,3]->[3]", shapes: [][]int{{4, 3}, {3}}, wrt: []int{0},
			build: func(in []*graph.Node) *graph.Node { return nodes.SumTo(in[0], in[1]) }},
		coreGrad{name: "sum_to[2,3,4]->[3,1]", shapes: [][]int{{2, 3, 4}, {3, 1}}, wrt: []int{0},
			build: func(in []*graph.Node) *graph.Node { return nodes.SumTo(in[0], in[1]) }},
		coreGrad{name: "broadcast[3]->[4,3]", shapes: [][]int{{3}, {4, 3}}, wrt: []int{0},
			build: func(in []*graph.Node) *graph.Node { return nodes.BroadcastLike(in[0], in[1]) }},
		coreGrad{name: "broadcast[]->[2,3]", shapes: [][]int{{}, {2, 3}}, wrt: []int{0},
			build: func(in []*graph.Node) *graph.Node { return nodes.BroadcastLike(in[0], in[1]) }},
		// second order through sum_to / broadcast / expand_mean / the max mask
		coreGrad{name: "second-order-mean", shapes: [][]int{{3, 4}}, build: func(in []*graph.Node) *graph.Node {
			x := in[0]
			m := nodes.Mean(nodes.Mul(x, x), true, 1)
			return coreGradOf(t, nodes.Sum(nodes.Mul(m, m), false), x)
		}},
		coreGrad{name: "second-order-max", shapes: [][]int{{3, 4}}, build: func(in []*graph.Node) *graph.Node {
			x := in[0]
			m := nodes.Max(nodes.Mul(x, x), false, 0)
			return coreGradOf(t, nodes.Sum(nodes.Mul(m, m), false), x)
		}},
	)
	coreCheckGrads(t, cases)
}

func TestSumToBroadcastLike(t *testing.T) {
	like := func(shape []int) testutil.Value {
		return coreVal("like", shape, make([]float64, graph.Shape(shape).Size())...)
	}
	sumTo := func(in []*graph.Node) *graph.Node { return nodes.SumTo(in[0], in[1]) }
	coreForward(t, "SumTo", []coreCase{
		{"to-row", []testutil.Value{coreX23, like([]int{3})}, sumTo, []int{3}, []float64{5, 7, 9}},
		{"to-col", []testutil.Value{coreX23, like([]int{2, 1})}, sumTo, []int{2, 1}, []float64{6, 15}},
		{"to-1x3", []testutil.Value{coreX23, like([]int{1, 3})}, sumTo, []int{1, 3}, []float64{5, 7, 9}},
		{"to-scalar", []testutil.Value{coreX23, like([]int{})}, sumTo, []int{}, []float64{21}},
		{"same", []testutil.Value{coreX23, like([]int{2, 3})}, sumTo, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}},
		{"rank3-to-col", []testutil.Value{coreX223, like([]int{2, 1})}, sumTo, []int{2, 1}, []float64{30, 48}},
	})
	bcast := func(in []*graph.Node) *graph.Node { return nodes.BroadcastLike(in[0], in[1]) }
	coreForward(t, "BroadcastLike", []coreCase{
		{"row", []testutil.Value{coreVal("x", []int{3}, 1, 2, 3), like([]int{2, 3})}, bcast, []int{2, 3}, []float64{1, 2, 3, 1, 2, 3}},
		{"col", []testutil.Value{coreVal("x", []int{2, 1}, 1, 2), like([]int{2, 3})}, bcast, []int{2, 3}, []float64{1, 1, 1, 2, 2, 2}},
		{"scalar", []testutil.Value{coreVal("x", []int{}, 7), like([]int{2, 2})}, bcast, []int{2, 2}, []float64{7, 7, 7, 7}},
		{"middle", []testutil.Value{coreVal("x", []int{2, 1, 2}, 1, 2, 3, 4), like([]int{2, 2, 2})}, bcast, []int{2, 2, 2}, []float64{1, 2, 1, 2, 3, 4, 3, 4}},
	})
}

// TestReduceOverBatch: reducing the open batch axis gives a concrete shape;
// the mean divides by the batch size of each run.
func TestReduceOverBatch(t *testing.T) {
	for _, dt := range coreDTypes {
		decl := []graph.Shape{{coreB, 2}}
		build := func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{nodes.Sum(in[0], false, 0), nodes.Mean(in[0], false, 0), nodes.Max(in[0], false, 0), nodes.Sum(in[0], false, 1)}
		}
		g := graph.New(dt)
		out := build([]*graph.Node{g.Input("x", decl[0])})
		assert.Equal(t, graph.Shape{2}, out[0].Shape())
		assert.Equal(t, graph.Shape{2}, out[1].Shape())
		assert.Equal(t, graph.Shape{coreB}, out[3].Shape())
		for _, tc := range []struct {
			x                    []float64
			sum, mean, max, rows []float64
		}{
			{[]float64{1, 2, 3, 4}, []float64{4, 6}, []float64{2, 3}, []float64{3, 4}, []float64{3, 7}},
			{[]float64{1, 2, 3, 4, 5, 6, 7, 8}, []float64{16, 20}, []float64{4, 5}, []float64{7, 8}, []float64{3, 7, 11, 15}},
		} {
			n := len(tc.x) / 2
			vals, err := coreRunDecl(dt, decl, []testutil.Value{coreVal("x", []int{n, 2}, tc.x...)}, build)
			require.NoError(t, err)
			what := fmt.Sprintf("over batch of %v", tc.x)
			coreExpect(t, "Sum "+what, dt, vals[0], []int{2}, tc.sum)
			coreExpect(t, "Mean "+what, dt, vals[1], []int{2}, tc.mean)
			coreExpect(t, "Max "+what, dt, vals[2], []int{2}, tc.max)
			coreExpect(t, "Sum rows "+what, dt, vals[3], []int{n}, tc.rows)
		}
	}
}

func TestReduceErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(x, y *graph.Node) *graph.Node
		kind  error
		want  string
	}{
		{"axis-range", func(x, _ *graph.Node) *graph.Node { return nodes.Sum(x, false, 2) }, graph.ErrArg,
			`graph: sum "sum": axis 2 out of range for rank 2 (inputs f64[2,3]; at reduce_test.go:`},
		{"negative-axis-range", func(x, _ *graph.Node) *graph.Node { return nodes.Mean(x, true, -3) }, graph.ErrArg,
			`graph: mean "mean": axis -3 out of range for rank 2 (inputs f64[2,3]; at reduce_test.go:`},
		{"axis-twice", func(x, _ *graph.Node) *graph.Node { return nodes.Max(x, false, 1, -1) }, graph.ErrArg,
			`graph: max "max": axis -1 given twice (inputs f64[2,3]; at reduce_test.go:`},
		{"sum-to", func(x, y *graph.Node) *graph.Node { return nodes.SumTo(x, y) }, graph.ErrShape,
			`graph: sum_to "sum_to": cannot sum [2,3] down to [2] (inputs f64[2,3], f64[2]; at reduce_test.go:`},
		{"broadcast", func(x, y *graph.Node) *graph.Node { return nodes.BroadcastLike(y, x) }, graph.ErrShape,
			`graph: broadcast "broadcast": cannot broadcast [2] to [2,3] (inputs f64[2], f64[2,3]; at reduce_test.go:`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{2, 3})
			y := g.Input("y", graph.Shape{2})
			var n *graph.Node
			require.NotPanics(t, func() { n = tc.build(x, y) })
			assert.True(t, n.IsPoisoned())
			coreErrPrefix(t, g.Err(), tc.kind, tc.want)
		})
	}
}
