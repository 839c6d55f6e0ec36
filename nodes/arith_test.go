package nodes_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// binary wraps a two-input builder for a coreCase.
func coreBinary(f func(a, b *graph.Node) *graph.Node) func(in []*graph.Node) *graph.Node {
	return func(in []*graph.Node) *graph.Node { return f(in[0], in[1]) }
}

func TestAddForward(t *testing.T) {
	coreForward(t, "Add", []coreCase{
		{"same", []testutil.Value{coreVal("a", []int{3}, 1, 2, 3), coreVal("b", []int{3}, 0.5, -2, 10)},
			coreBinary(nodes.Add), []int{3}, []float64{1.5, 0, 13}},
		{"row-bias", []testutil.Value{coreVal("a", []int{2, 3}, 1, 2, 3, 4, 5, 6), coreVal("b", []int{3}, 10, 20, 30)},
			coreBinary(nodes.Add), []int{2, 3}, []float64{11, 22, 33, 14, 25, 36}},
		{"bias-left", []testutil.Value{coreVal("b", []int{3}, 10, 20, 30), coreVal("a", []int{2, 3}, 1, 2, 3, 4, 5, 6)},
			coreBinary(nodes.Add), []int{2, 3}, []float64{11, 22, 33, 14, 25, 36}},
		{"outer", []testutil.Value{coreVal("a", []int{2, 1}, 1, 2), coreVal("b", []int{1, 3}, 10, 20, 30)},
			coreBinary(nodes.Add), []int{2, 3}, []float64{11, 21, 31, 12, 22, 32}},
		{"scalar", []testutil.Value{coreVal("a", []int{}, 0.5), coreVal("b", []int{2, 2}, 1, 2, 3, 4)},
			coreBinary(nodes.Add), []int{2, 2}, []float64{1.5, 2.5, 3.5, 4.5}},
		{"scalars", []testutil.Value{coreVal("a", []int{}, 0.25), coreVal("b", []int{}, -1)},
			coreBinary(nodes.Add), []int{}, []float64{-0.75}},
		{"inf", []testutil.Value{coreVal("a", []int{3}, math.Inf(1), math.Inf(1), 1), coreVal("b", []int{3}, 1, math.Inf(-1), math.NaN())},
			coreBinary(nodes.Add), []int{3}, []float64{math.Inf(1), math.NaN(), math.NaN()}},
	})
}

func TestSubForward(t *testing.T) {
	coreForward(t, "Sub", []coreCase{
		{"same", []testutil.Value{coreVal("a", []int{3}, 1, 2, 3), coreVal("b", []int{3}, 0.5, -2, 10)},
			coreBinary(nodes.Sub), []int{3}, []float64{0.5, 4, -7}},
		{"vec-minus-matrix", []testutil.Value{coreVal("a", []int{3}, 1, 2, 3), coreVal("b", []int{2, 3}, 1, 1, 1, 3, 2, 1)},
			coreBinary(nodes.Sub), []int{2, 3}, []float64{0, 1, 2, -2, 0, 2}},
		{"matrix-minus-col", []testutil.Value{coreVal("a", []int{2, 2}, 5, 6, 7, 8), coreVal("b", []int{2, 1}, 1, 10)},
			coreBinary(nodes.Sub), []int{2, 2}, []float64{4, 5, -3, -2}},
		{"scalar-minus-vec", []testutil.Value{coreVal("a", []int{}, 1), coreVal("b", []int{2}, 0.25, 2)},
			coreBinary(nodes.Sub), []int{2}, []float64{0.75, -1}},
	})
}

func TestMulForward(t *testing.T) {
	coreForward(t, "Mul", []coreCase{
		{"same", []testutil.Value{coreVal("a", []int{3}, 1, -2, 3), coreVal("b", []int{3}, 0.5, -2, 0)},
			coreBinary(nodes.Mul), []int{3}, []float64{0.5, 4, 0}},
		{"col", []testutil.Value{coreVal("a", []int{2, 3}, 1, 2, 3, 4, 5, 6), coreVal("b", []int{2, 1}, 2, -1)},
			coreBinary(nodes.Mul), []int{2, 3}, []float64{2, 4, 6, -4, -5, -6}},
		// a[i,0,k]·b[j,0]: i=0 → [1 2]·1, [1 2]·2, [1 2]·3; i=1 → [3 4]·1, ...
		{"rank3", []testutil.Value{coreVal("a", []int{2, 1, 2}, 1, 2, 3, 4), coreVal("b", []int{3, 1}, 1, 2, 3)},
			coreBinary(nodes.Mul), []int{2, 3, 2}, []float64{1, 2, 2, 4, 3, 6, 3, 4, 6, 8, 9, 12}},
		{"scalar-right", []testutil.Value{coreVal("a", []int{2}, 3, -4), coreVal("b", []int{}, 0.5)},
			coreBinary(nodes.Mul), []int{2}, []float64{1.5, -2}},
		{"inf-times-zero", []testutil.Value{coreVal("a", []int{1}, math.Inf(1)), coreVal("b", []int{1}, 0)},
			coreBinary(nodes.Mul), []int{1}, []float64{math.NaN()}},
	})
}

func TestDivForward(t *testing.T) {
	coreForward(t, "Div", []coreCase{
		{"by-scalar", []testutil.Value{coreVal("a", []int{4}, 1, 2, 3, 4), coreVal("b", []int{}, 2)},
			coreBinary(nodes.Div), []int{4}, []float64{0.5, 1, 1.5, 2}},
		{"col", []testutil.Value{coreVal("a", []int{2}, 6, -6), coreVal("b", []int{2, 1}, 2, 3)},
			coreBinary(nodes.Div), []int{2, 2}, []float64{3, -3, 2, -2}},
		{"scalar-over-vec", []testutil.Value{coreVal("a", []int{}, 1), coreVal("b", []int{3}, 4, -8, 3)},
			coreBinary(nodes.Div), []int{3}, []float64{0.25, -0.125, 1.0 / 3}},
		// IEEE 754: ±Inf for x/±0, NaN for 0/0
		{"by-zero", []testutil.Value{coreVal("a", []int{3}, 1, 1, 0), coreVal("b", []int{3}, 0, math.Copysign(0, -1), 0)},
			coreBinary(nodes.Div), []int{3}, []float64{math.Inf(1), math.Inf(-1), math.NaN()}},
	})
}

func TestNegForward(t *testing.T) {
	coreForward(t, "Neg", []coreCase{
		{"vec", []testutil.Value{coreVal("x", []int{4}, 1, -2, 0, math.Inf(1))},
			func(in []*graph.Node) *graph.Node { return nodes.Neg(in[0]) }, []int{4}, []float64{-1, 2, 0, math.Inf(-1)}},
		{"scalar", []testutil.Value{coreVal("x", []int{}, 2.5)},
			func(in []*graph.Node) *graph.Node { return nodes.Neg(in[0]) }, []int{}, []float64{-2.5}},
	})
	// -0 is the negation of +0 (its sign bit is set)
	out, err := testutil.Run(graph.Float64, []testutil.Value{coreVal("x", []int{1}, 0)}, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
		return []*graph.Node{nodes.Neg(in[0])}
	})
	require.NoError(t, err)
	if !math.Signbit(out[0].Data[0]) {
		t.Errorf("Neg(0) = %v, want -0", out[0].Data[0])
	}
}

// TestArithVJP checks hand-derived gradients with a given upstream,
// including the sums over broadcast axes.
func TestArithVJP(t *testing.T) {
	tests := []struct {
		name  string
		ins   []testutil.Value
		build func(g *graph.Graph, in []*graph.Node) *graph.Node
		up    []float64
		want  [][]float64
	}{
		// ā = ḡ, b̄ = Σ_rows ḡ
		{"add-bias", []testutil.Value{coreVal("a", []int{2, 3}, 1, 2, 3, 4, 5, 6), coreVal("b", []int{3}, 1, 1, 1)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Add(in[0], in[1]) },
			[]float64{1, 2, 3, 4, 5, 6}, [][]float64{{1, 2, 3, 4, 5, 6}, {5, 7, 9}}},
		// ā = ḡ summed over the broadcast column, b̄ = −ḡ summed over rows
		{"sub-outer", []testutil.Value{coreVal("a", []int{2, 1}, 0, 0), coreVal("b", []int{1, 3}, 0, 0, 0)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Sub(in[0], in[1]) },
			[]float64{1, 2, 3, 4, 5, 6}, [][]float64{{6, 15}, {-5, -7, -9}}},
		// ā = ḡ·b, b̄ = Σ ḡ·a over everything (b is a scalar)
		{"mul-scalar", []testutil.Value{coreVal("a", []int{2, 2}, 1, 2, 3, 4), coreVal("b", []int{}, 3)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Mul(in[0], in[1]) },
			[]float64{1, 0, -1, 2}, [][]float64{{3, 0, -3, 6}, {1*1 + 0*2 - 1*3 + 2*4}}},
		// ā = ḡ/b, b̄ = −ḡ·a/b²
		{"div", []testutil.Value{coreVal("a", []int{2}, 3, -1), coreVal("b", []int{2}, 2, 4)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Div(in[0], in[1]) },
			[]float64{1, 2}, [][]float64{{0.5, 0.5}, {-3.0 / 4, 2.0 / 16}}},
		// broadcast divisor: b̄ = −Σ_j ḡ_j·a_j/b²
		{"div-by-scalar", []testutil.Value{coreVal("a", []int{3}, 1, 2, 3), coreVal("b", []int{}, 2)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Div(in[0], in[1]) },
			[]float64{1, 1, 2}, [][]float64{{0.5, 0.5, 1}, {-(1 + 2 + 6) / 4.0}}},
		{"neg", []testutil.Value{coreVal("x", []int{3}, 5, 6, 7)},
			func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Neg(in[0]) },
			[]float64{1, -2, 0.5}, [][]float64{{-1, 2, -0.5}}},
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

func TestArithGradCheck(t *testing.T) {
	var cases []coreGrad
	shapes := [][2][]int{
		{{4, 3}, {4, 3}},
		{{4, 3}, {3}},
		{{3}, {4, 3}},
		{{4, 1}, {1, 5}},
		{{}, {2, 3}},
		{{2, 3}, {}},
		{{2, 1, 3}, {4, 1}},
	}
	ops := []struct {
		name  string
		build func(a, b *graph.Node) *graph.Node
		gen   []coreGen
	}{
		{"add", nodes.Add, nil},
		{"sub", nodes.Sub, nil},
		{"mul", nodes.Mul, nil},
		// divisors kept away from 0, where the quotient blows up
		{"div", nodes.Div, []coreGen{nil, coreAway(0.5, 2)}},
	}
	for _, op := range ops {
		for _, s := range shapes {
			cases = append(cases, coreGrad{
				name:   fmt.Sprintf("%s%v%v", op.name, graph.Shape(s[0]), graph.Shape(s[1])),
				shapes: [][]int{s[0], s[1]},
				gen:    op.gen,
				build:  coreBinary(op.build),
			})
		}
	}
	cases = append(cases,
		coreGrad{name: "neg", shapes: [][]int{{2, 3}}, build: func(in []*graph.Node) *graph.Node { return nodes.Neg(in[0]) }},
		// one input used twice: the two paths' gradients add up
		coreGrad{name: "x*x-x/y", shapes: [][]int{{3, 2}, {2}}, gen: []coreGen{nil, coreAway(0.5, 2)},
			build: func(in []*graph.Node) *graph.Node {
				return nodes.Sub(nodes.Mul(in[0], in[0]), nodes.Div(in[0], in[1]))
			}},
		// second order: the gradient of Σ x²·y/z is itself differentiated
		coreGrad{name: "second-order", shapes: [][]int{{2, 3}, {3}, {2, 1}}, gen: []coreGen{nil, nil, coreAway(0.5, 2)},
			build: func(in []*graph.Node) *graph.Node {
				x, y, z := in[0], in[1], in[2]
				f := nodes.Sum(nodes.Div(nodes.Mul(nodes.Mul(x, x), y), z), false)
				return coreGradOf(t, f, x, y, z)
			}},
	)
	coreCheckGrads(t, cases)
}

// coreGradOf returns the gradients of the scalar f with respect to wrt,
// concatenated (flattened) into one vector, so that a gradient check can
// differentiate them once more.
func coreGradOf(t *testing.T, f *graph.Node, wrt ...*graph.Node) *graph.Node {
	t.Helper()
	gs, err := autodiff.Grad(f, wrt...)
	require.NoError(t, err)
	flat := make([]*graph.Node, len(gs))
	for i, g := range gs {
		flat[i] = nodes.Reshape(g, graph.Shape{-1})
	}
	return nodes.Concat(0, flat...)
}

func TestArithShapeErrors(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{coreB, 784})
	b := g.Input("b", graph.Shape{300})
	nodes.Add(x, b)
	coreErrPrefix(t, g.Err(), graph.ErrShape,
		`graph: add "add": shapes [B,784] and [300] do not broadcast: dimensions 784 and 300 differ (inputs f64[B,784], f64[300]; at arith_test.go:`)

	// the node name carries the scope
	g = graph.New(graph.Float32)
	x = g.Input("x", graph.Shape{2, 3})
	y := g.Input("y", graph.Shape{3, 2})
	g.WithScope("dense_1", func() { nodes.Mul(x, y) })
	coreErrPrefix(t, g.Err(), graph.ErrShape,
		`graph: mul "dense_1/mul": shapes [2,3] and [3,2] do not broadcast: dimensions 2 and 3 differ (inputs f32[2,3], f32[3,2]; at arith_test.go:`)
}

// BenchmarkAdd times a compiled bias add [128,300] + [300] through
// Machine.Exec (which must not allocate).
func BenchmarkAdd(b *testing.B) {
	const batch, width = 128, 300
	b.Run(fmt.Sprintf("bias/b%dx%d/f32", batch, width), func(b *testing.B) {
		g := graph.New(graph.Float32)
		x := g.Input("x", graph.Shape{coreB, width})
		bias := g.Variable("bias", graph.Shape{width})
		y := nodes.Add(x, bias)
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		if err != nil {
			b.Fatal(err)
		}
		store := vm.NewStore()
		bd := make([]float64, width)
		for i := range bd {
			bd[i] = float64(i) / width
		}
		if err := store.SetFloat64s("bias", graph.Shape{width}, graph.Float32, bd); err != nil {
			b.Fatal(err)
		}
		xd := make([]float64, batch*width)
		for i := range xd {
			xd[i] = float64(i % 7)
		}
		feeds := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{batch, width}, xd)}
		m := vm.NewMachine(p, store)
		if _, err := m.Exec(feeds); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(4 * (2*batch*width + width)))
		b.ResetTimer()
		var res vm.Result
		for b.Loop() {
			if res, err = m.Exec(feeds); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		// y[0, width−1] = x[0, width−1] + bias[width−1] = (width−1)%7 + (width−1)/width
		got := res.At(0).Float32s()[width-1]
		if want := float32((width-1)%7) + float32(width-1)/width; got != want {
			b.Fatalf("y[0,%d] = %v, want %v", width-1, got, want)
		}
		coreSink += float64(got)
	})
}
