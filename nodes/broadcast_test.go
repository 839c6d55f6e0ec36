package nodes_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Helpers shared by the tests of the core ops (arith, reduce, compare,
// matmul, shape, onehot, broadcast, dense golden). Their names start with
// "core" so that they do not collide with the helpers of other test files
// of package nodes_test.

// Tolerances of the forward tables. float64: the expected values are
// derived by hand and are exact or one decimal rounding away from the
// computed ones, so 1e-14 relative (a few ulps) is generous. float32: the
// inputs and every intermediate are rounded to float32 (relative 6e-8); the
// project's float32 bound is 1e-5 relative, with 1e-6 absolute slack for
// results that cancel to about zero from operands of order 1.
const (
	coreTol64 = 1e-14
	coreTol32 = 1e-5
	coreAbs32 = 1e-6
)

var coreDTypes = []graph.DType{graph.Float32, graph.Float64}

// coreClose compares one value: equal values (±Inf included) and NaN
// against NaN match; otherwise the dtype's tolerance applies.
func coreClose(dt graph.DType, got, want float64) bool {
	if got == want || (math.IsNaN(got) && math.IsNaN(want)) {
		return true
	}
	if math.IsNaN(got) || math.IsNaN(want) || math.IsInf(want, 0) || math.IsInf(got, 0) {
		return false
	}
	if dt == graph.Float32 {
		return math.Abs(got-want) <= coreTol32*math.Abs(want)+coreAbs32
	}
	return math.Abs(got-want) <= coreTol64*math.Max(1, math.Abs(want))
}

// coreVal is a named input value.
func coreVal(name string, shape []int, data ...float64) testutil.Value {
	return testutil.Value{Name: name, Shape: shape, Data: data}
}

// coreArgs formats input values for failure messages: "[1 2 3], [10]".
func coreArgs(ins []testutil.Value) string {
	parts := make([]string, len(ins))
	for i, v := range ins {
		parts[i] = fmt.Sprint(v.Data)
	}
	return strings.Join(parts, ", ")
}

// coreExpect checks a result's shape and values.
func coreExpect(t *testing.T, what string, dt graph.DType, got testutil.Value, shape []int, want []float64) {
	t.Helper()
	if !graph.Shape(got.Shape).Equal(graph.Shape(shape)) {
		t.Errorf("%s has shape %v, want %v", what, graph.Shape(got.Shape), graph.Shape(shape))
		return
	}
	if len(got.Data) != len(want) {
		t.Errorf("%s = %v (%d values), want %v", what, got.Data, len(got.Data), want)
		return
	}
	for i := range want {
		if !coreClose(dt, got.Data[i], want[i]) {
			t.Errorf("%s = %v, want %v (first difference at %d)", what, got.Data, want, i)
			return
		}
	}
}

// coreCase is one row of a forward table: inputs, the graph built on them,
// and the hand-derived result.
type coreCase struct {
	name  string
	ins   []testutil.Value
	build func(in []*graph.Node) *graph.Node
	shape []int
	want  []float64
}

// coreForward runs every case in both dtypes.
func coreForward(t *testing.T, op string, cases []coreCase) {
	t.Helper()
	for _, tc := range cases {
		for _, dt := range coreDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				out, err := testutil.Run(dt, tc.ins, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
					return []*graph.Node{tc.build(in)}
				})
				require.NoError(t, err)
				coreExpect(t, fmt.Sprintf("%s(%s)", op, coreArgs(tc.ins)), dt, out[0], tc.shape, tc.want)
			})
		}
	}
}

// coreRunDecl builds a graph whose inputs are declared with decl (which may
// hold graph.Batch) and fed with ins, and runs it. It returns the graph's
// error, a compile error or a run error as is.
func coreRunDecl(dt graph.DType, decl []graph.Shape, ins []testutil.Value, build func(in []*graph.Node) []*graph.Node) ([]testutil.Value, error) {
	g := graph.New(dt)
	nodesIn := make([]*graph.Node, len(ins))
	feeds := vm.Feeds{}
	for i, v := range ins {
		nodesIn[i] = g.Input(v.Name, decl[i])
		feeds[v.Name] = testutil.Tensor(dt, v.Shape, v.Data)
	}
	outs := build(nodesIn)
	if err := g.Err(); err != nil {
		return nil, err
	}
	p, err := compile.Compile(g, outs, compile.Options{})
	if err != nil {
		return nil, err
	}
	res, err := vm.NewMachine(p, vm.NewStore()).Run(feeds)
	if err != nil {
		return nil, err
	}
	vals := make([]testutil.Value, len(res))
	for i, r := range res {
		vals[i] = testutil.Value{Name: outs[i].Name(), Shape: append([]int(nil), r.Shape()...), Data: testutil.Float64s(r)}
	}
	return vals, nil
}

// coreGen draws one input value.
type coreGen func(r *rand.Rand) float64

// coreUniform draws from [lo, hi).
func coreUniform(lo, hi float64) coreGen {
	return func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }
}

// coreAway draws from ±[lo, hi): values kept away from zero (divisors).
func coreAway(lo, hi float64) coreGen {
	return func(r *rand.Rand) float64 {
		v := lo + (hi-lo)*r.Float64()
		if r.IntN(2) == 0 {
			return -v
		}
		return v
	}
}

// coreGrad is one finite-difference gradient check: float64 inputs of the
// given shapes, drawn with gen (uniform in [-2, 2) where nil), and the graph
// built on them. The loss is Σ y ⊙ w for a fixed random w shaped like y, so
// every output element gets its own upstream weight. wrt lists the inputs
// to check (all when nil).
type coreGrad struct {
	name   string
	shapes [][]int
	gen    []coreGen
	wrt    []int
	build  func(in []*graph.Node) *graph.Node
}

// coreCheckGrads runs autodiff.Check on every case with its default
// float64 settings: central differences with h = 1e-6 have a truncation
// error O(h²) ≈ 1e-12 and a round-off error O(ε/h) ≈ 1e-10 on values of
// order 1, far below the default tolerance 1e-6.
func coreCheckGrads(t *testing.T, cases []coreGrad) {
	t.Helper()
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci)+1, 0x5eed))
			g := graph.New(graph.Float64)
			in := make([]*graph.Node, len(tc.shapes))
			feeds := vm.Feeds{}
			for i, s := range tc.shapes {
				name := fmt.Sprintf("x%d", i)
				in[i] = g.Input(name, s)
				gen := coreUniform(-2, 2)
				if i < len(tc.gen) && tc.gen[i] != nil {
					gen = tc.gen[i]
				}
				data := make([]float64, graph.Shape(s).Size())
				for j := range data {
					data[j] = gen(r)
				}
				feeds[name] = testutil.Tensor(graph.Float64, s, data)
			}
			y := tc.build(in)
			require.NoError(t, g.Err())
			w := make([]float64, y.Shape().Size())
			for j := range w {
				w[j] = coreUniform(-1, 1)(r)
			}
			loss := nodes.Sum(nodes.Mul(y, g.Constant(y.Shape(), w...)), false)
			wrt := in
			if tc.wrt != nil {
				wrt = nil
				for _, i := range tc.wrt {
					wrt = append(wrt, in[i])
				}
			}
			rep, err := autodiff.Check(g, loss, wrt, feeds, nil, autodiff.CheckOptions{})
			require.NoError(t, err)
			require.Positive(t, rep.Checked)
		})
	}
}

// coreErrPrefix checks that err is an *graph.OpError of the given kind
// whose message starts with want, followed by the caller (a test file).
func coreErrPrefix(t *testing.T, err error, kind error, want string) {
	t.Helper()
	require.Error(t, err)
	var oe *graph.OpError
	require.True(t, errors.As(err, &oe), "error %v is not an *graph.OpError", err)
	assert.ErrorIs(t, err, kind)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, want), "error\n  %s\ndoes not start with\n  %s", msg, want)
	assert.Contains(t, msg, "_test.go:", "error %q does not name the calling test file", msg)
}

// ---- broadcasting shape rules ----

var (
	coreBinaryOps = []struct {
		name  string
		build func(a, b *graph.Node) *graph.Node
	}{
		{"add", nodes.Add}, {"sub", nodes.Sub}, {"mul", nodes.Mul}, {"div", nodes.Div},
		{"maximum", nodes.Maximum}, {"minimum", nodes.Minimum},
		{"equal", nodes.Equal}, {"not_equal", nodes.NotEqual}, {"less", nodes.Less},
		{"less_equal", nodes.LessEqual}, {"greater", nodes.Greater}, {"greater_equal", nodes.GreaterEqual},
	}
	coreB = graph.Batch
)

func TestBroadcastShapes(t *testing.T) {
	tests := []struct {
		a, b, want graph.Shape
		msg        string // the error's message after `graph: op "op": `, when it fails
	}{
		{a: graph.Shape{coreB, 3}, b: graph.Shape{3}, want: graph.Shape{coreB, 3}},
		{a: graph.Shape{3}, b: graph.Shape{coreB, 3}, want: graph.Shape{coreB, 3}},
		{a: graph.Shape{coreB, 3}, b: graph.Shape{1, 3}, want: graph.Shape{coreB, 3}},
		{a: graph.Shape{coreB, 1}, b: graph.Shape{1, 4}, want: graph.Shape{coreB, 4}},
		{a: graph.Shape{coreB, 3}, b: graph.Shape{coreB, 3}, want: graph.Shape{coreB, 3}},
		{a: graph.Shape{coreB, 3}, b: graph.Shape{}, want: graph.Shape{coreB, 3}},
		{a: graph.Shape{4, 3}, b: graph.Shape{3}, want: graph.Shape{4, 3}},
		{a: graph.Shape{4, 1}, b: graph.Shape{1, 5}, want: graph.Shape{4, 5}},
		{a: graph.Shape{}, b: graph.Shape{2, 3}, want: graph.Shape{2, 3}},
		{a: graph.Shape{}, b: graph.Shape{}, want: graph.Shape{}},
		{a: graph.Shape{5, 1, 3}, b: graph.Shape{4, 1}, want: graph.Shape{5, 4, 3}},
		{a: graph.Shape{coreB, 3}, b: graph.Shape{2, 3}, msg: "shapes [B,3] and [2,3] do not broadcast: the open batch dimension meets 2 (inputs f32[B,3], f32[2,3]; at "},
		{a: graph.Shape{2, 3}, b: graph.Shape{coreB, 3}, msg: "shapes [2,3] and [B,3] do not broadcast: the open batch dimension meets 2 (inputs f32[2,3], f32[B,3]; at "},
		{a: graph.Shape{4, 3}, b: graph.Shape{2, 3}, msg: "shapes [4,3] and [2,3] do not broadcast: dimensions 4 and 2 differ (inputs f32[4,3], f32[2,3]; at "},
		{a: graph.Shape{3}, b: graph.Shape{4}, msg: "shapes [3] and [4] do not broadcast: dimensions 3 and 4 differ (inputs f32[3], f32[4]; at "},
		{a: graph.Shape{2, 3}, b: graph.Shape{2}, msg: "shapes [2,3] and [2] do not broadcast: dimensions 3 and 2 differ (inputs f32[2,3], f32[2]; at "},
	}
	for _, op := range coreBinaryOps {
		for _, tc := range tests {
			t.Run(op.name+tc.a.String()+tc.b.String(), func(t *testing.T) {
				g := graph.New(graph.Float32)
				y := op.build(g.Input("a", tc.a), g.Input("b", tc.b))
				if tc.msg != "" {
					coreErrPrefix(t, g.Err(), graph.ErrShape, fmt.Sprintf("graph: %s %q: %s", op.name, op.name, tc.msg))
					assert.True(t, y.IsPoisoned(), "%s(%v, %v) is not poisoned", op.name, tc.a, tc.b)
					return
				}
				require.NoError(t, g.Err())
				assert.Equal(t, tc.want, y.Shape(), "%s(%v, %v) has shape %v, want %v", op.name, tc.a, tc.b, y.Shape(), tc.want)
			})
		}
	}
}

// TestBroadcastBatchRun runs [B,3] + [3] at two batch sizes with one
// machine (a program per batch size).
func TestBroadcastBatchRun(t *testing.T) {
	for _, dt := range coreDTypes {
		g := graph.New(dt)
		x := g.Input("x", graph.Shape{coreB, 3})
		b := g.Input("b", graph.Shape{3})
		y := nodes.Add(x, b)
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		require.NoError(t, err)
		m := vm.NewMachine(p, vm.NewStore())
		for _, tc := range []struct {
			x, want []float64
			batch   int
		}{
			{x: []float64{1, 2, 3}, batch: 1, want: []float64{11, 22, 33}},
			{x: []float64{1, 2, 3, 4, 5, 6}, batch: 2, want: []float64{11, 22, 33, 14, 25, 36}},
		} {
			out, err := m.Run(vm.Feeds{"x": testutil.Tensor(dt, []int{tc.batch, 3}, tc.x), "b": testutil.Tensor(dt, []int{3}, []float64{10, 20, 30})})
			require.NoError(t, err)
			got := testutil.Value{Shape: out[0].Shape(), Data: testutil.Float64s(out[0])}
			coreExpect(t, fmt.Sprintf("Add(%v, [10 20 30])", tc.x), dt, got, []int{tc.batch, 3}, tc.want)
		}
	}
}

// ---- nil inputs and nodes of another graph ----

// coreBuilders calls every builder of the core ops with the given inputs
// (n of them used by each); they must record an error or return nil, never
// panic.
var coreBuilders = []struct {
	name  string
	build func(a, b, c *graph.Node) *graph.Node
}{
	{"Add", func(a, b, _ *graph.Node) *graph.Node { return nodes.Add(a, b) }},
	{"Sub", func(a, b, _ *graph.Node) *graph.Node { return nodes.Sub(a, b) }},
	{"Mul", func(a, b, _ *graph.Node) *graph.Node { return nodes.Mul(a, b) }},
	{"Div", func(a, b, _ *graph.Node) *graph.Node { return nodes.Div(a, b) }},
	{"Maximum", func(a, b, _ *graph.Node) *graph.Node { return nodes.Maximum(a, b) }},
	{"Minimum", func(a, b, _ *graph.Node) *graph.Node { return nodes.Minimum(a, b) }},
	{"Equal", func(a, b, _ *graph.Node) *graph.Node { return nodes.Equal(a, b) }},
	{"NotEqual", func(a, b, _ *graph.Node) *graph.Node { return nodes.NotEqual(a, b) }},
	{"Less", func(a, b, _ *graph.Node) *graph.Node { return nodes.Less(a, b) }},
	{"LessEqual", func(a, b, _ *graph.Node) *graph.Node { return nodes.LessEqual(a, b) }},
	{"Greater", func(a, b, _ *graph.Node) *graph.Node { return nodes.Greater(a, b) }},
	{"GreaterEqual", func(a, b, _ *graph.Node) *graph.Node { return nodes.GreaterEqual(a, b) }},
	{"MatMul", func(a, b, _ *graph.Node) *graph.Node { return nodes.MatMul(a, b) }},
	{"MatMulT", func(a, b, _ *graph.Node) *graph.Node { return nodes.MatMulT(a, b, true, true) }},
	{"SumTo", func(a, b, _ *graph.Node) *graph.Node { return nodes.SumTo(a, b) }},
	{"BroadcastLike", func(a, b, _ *graph.Node) *graph.Node { return nodes.BroadcastLike(a, b) }},
	{"Where", nodes.Where},
	{"Concat", func(a, b, c *graph.Node) *graph.Node { return nodes.Concat(0, a, b, c) }},
	{"Neg", func(a, _, _ *graph.Node) *graph.Node { return nodes.Neg(a) }},
	{"Sum", func(a, _, _ *graph.Node) *graph.Node { return nodes.Sum(a, false) }},
	{"Mean", func(a, _, _ *graph.Node) *graph.Node { return nodes.Mean(a, true, 0) }},
	{"Max", func(a, _, _ *graph.Node) *graph.Node { return nodes.Max(a, false, -1) }},
	{"Reshape", func(a, _, _ *graph.Node) *graph.Node { return nodes.Reshape(a, graph.Shape{-1}) }},
	{"Flatten", func(a, _, _ *graph.Node) *graph.Node { return nodes.Flatten(a) }},
	{"Transpose", func(a, _, _ *graph.Node) *graph.Node { return nodes.Transpose(a) }},
	{"Slice", func(a, _, _ *graph.Node) *graph.Node { return nodes.Slice(a, 0, 0, 1) }},
	{"OneHot", func(a, _, _ *graph.Node) *graph.Node { return nodes.OneHot(a, 3) }},
	{"StopGradient", func(a, _, _ *graph.Node) *graph.Node { return nodes.StopGradient(a) }},
	{"ZerosLike", func(a, _, _ *graph.Node) *graph.Node { return nodes.ZerosLike(a) }},
	{"OnesLike", func(a, _, _ *graph.Node) *graph.Node { return nodes.OnesLike(a) }},
}

// coreUnary names the builders of coreBuilders that take one node.
var coreUnary = map[string]bool{
	"Neg": true, "Sum": true, "Mean": true, "Max": true, "Reshape": true, "Flatten": true, "Transpose": true,
	"Slice": true, "OneHot": true, "StopGradient": true, "ZerosLike": true, "OnesLike": true,
}

func TestCoreNilInputs(t *testing.T) {
	for _, b := range coreBuilders {
		t.Run(b.name, func(t *testing.T) {
			// all nil: there is no graph to record on, the result is nil
			var y *graph.Node
			require.NotPanics(t, func() { y = b.build(nil, nil, nil) })
			assert.Nil(t, y, "%s(nil, ...) = %v, want nil", b.name, y)

			// a real node first, then nil: the graph records ErrNil
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{2, 2})
			if coreUnary[b.name] {
				return // one input: nil is covered above
			}
			require.NotPanics(t, func() { y = b.build(x, nil, x) })
			assert.True(t, y.IsPoisoned(), "%s(x, nil) is not poisoned", b.name)
			assert.ErrorIs(t, g.Err(), graph.ErrNil, "%s(x, nil)", b.name)
			assert.Contains(t, g.Err().Error(), "input 1 is nil")
			// compiling the poisoned result reports the same error
			_, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
			assert.ErrorIs(t, err, graph.ErrNil)
		})
	}
}

func TestCoreForeignInputs(t *testing.T) {
	for _, b := range coreBuilders {
		if coreUnary[b.name] {
			continue // one input: it brings its own graph
		}
		t.Run(b.name, func(t *testing.T) {
			g1, g2 := graph.New(graph.Float64), graph.New(graph.Float64)
			x1 := g1.Input("x", graph.Shape{2, 2})
			x2 := g2.Input("x", graph.Shape{2, 2})
			var y *graph.Node
			require.NotPanics(t, func() { y = b.build(x1, x2, x2) })
			assert.True(t, y.IsPoisoned(), "%s with a node of another graph is not poisoned", b.name)
			assert.ErrorIs(t, g1.Err(), graph.ErrForeign, "%s", b.name)
			if g1.Err() != nil {
				assert.Contains(t, g1.Err().Error(), `input 1 ("x") belongs to another graph`)
			}
			assert.NoError(t, g2.Err(), "the other graph must stay clean")
		})
	}
}

// TestCoreSticky: after the first error, builders return the poisoned node
// and the first error is kept.
func TestCoreSticky(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{coreB, 784})
	w := g.Input("w", graph.Shape{300, 10})
	y := nodes.MatMul(x, w)
	first := g.Err()
	require.Error(t, first)
	z := nodes.Add(nodes.Sum(y, false), nodes.Transpose(x, 5))
	assert.True(t, z.IsPoisoned())
	assert.Same(t, first, g.Err(), "the first error must be kept")
}

// ---- large inputs: the parallel path of BindBinary / BindUnary ----

// coreParallel raises GOMAXPROCS to at least 4 for the test, so that
// kernel.For splits loops into several chunks even on a small machine.
func coreParallel(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	if old < 4 {
		runtime.GOMAXPROCS(4)
		t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	}
}

// TestCoreLargeElementwise compares big element-wise ops (well above
// 2·kernel.ElementGrain elements, so they run in several chunks) with
// plain serial loops written here. The serial loop does the same single
// rounding in the same dtype, so the results must match exactly.
func TestCoreLargeElementwise(t *testing.T) {
	coreParallel(t)
	const rows, cols = 400, 300 // 120000 elements
	require.Greater(t, rows*cols, 2*kernel.ElementGrain)
	r := rand.New(rand.NewPCG(7, 7))
	fill := func(n int) []float64 {
		d := make([]float64, n)
		for i := range d {
			d[i] = coreAway(0.25, 4)(r)
		}
		return d
	}
	xs, ys, row, col := fill(rows*cols), fill(rows*cols), fill(cols), fill(rows)
	type binop struct {
		name  string
		build func(a, b *graph.Node) *graph.Node
		f32   func(a, b float32) float32
		f64   func(a, b float64) float64
	}
	ops := []binop{
		{"add", nodes.Add, func(a, b float32) float32 { return a + b }, func(a, b float64) float64 { return a + b }},
		{"sub", nodes.Sub, func(a, b float32) float32 { return a - b }, func(a, b float64) float64 { return a - b }},
		{"mul", nodes.Mul, func(a, b float32) float32 { return a * b }, func(a, b float64) float64 { return a * b }},
		{"div", nodes.Div, func(a, b float32) float32 { return a / b }, func(a, b float64) float64 { return a / b }},
		{"maximum", nodes.Maximum, func(a, b float32) float32 { return max(a, b) }, func(a, b float64) float64 { return max(a, b) }},
		{"less", nodes.Less, func(a, b float32) float32 { return b2f32(a < b) }, func(a, b float64) float64 { return b2f64(a < b) }},
	}
	// operand layouts: same shape (one long row), a row vector, a column,
	// a scalar on the left
	layouts := []struct {
		name   string
		bShape []int
		b      []float64
		bAt    func(i, j int) float64
		swap   bool
	}{
		{"same", []int{rows, cols}, ys, func(i, j int) float64 { return ys[i*cols+j] }, false},
		{"row", []int{cols}, row, func(_, j int) float64 { return row[j] }, false},
		{"col", []int{rows, 1}, col, func(i, _ int) float64 { return col[i] }, false},
		{"scalar-left", []int{}, []float64{1.5}, func(_, _ int) float64 { return 1.5 }, true},
	}
	for _, op := range ops {
		for _, lay := range layouts {
			for _, dt := range coreDTypes {
				t.Run(op.name+"/"+lay.name+"/"+dt.String(), func(t *testing.T) {
					ins := []testutil.Value{coreVal("x", []int{rows, cols}, xs...), coreVal("y", lay.bShape, lay.b...)}
					out, err := testutil.Run(dt, ins, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
						if lay.swap {
							return []*graph.Node{op.build(in[1], in[0])}
						}
						return []*graph.Node{op.build(in[0], in[1])}
					})
					require.NoError(t, err)
					got := out[0].Data
					require.Len(t, got, rows*cols)
					for i := 0; i < rows; i++ {
						for j := 0; j < cols; j++ {
							a, b := xs[i*cols+j], lay.bAt(i, j)
							if lay.swap {
								a, b = b, a
							}
							var want float64
							if dt == graph.Float32 {
								want = float64(op.f32(float32(a), float32(b)))
							} else {
								want = op.f64(a, b)
							}
							if got[i*cols+j] != want {
								t.Fatalf("%s(%v, %v) at [%d,%d] = %v, want %v", op.name, a, b, i, j, got[i*cols+j], want)
							}
						}
					}
				})
			}
		}
	}
	for _, dt := range coreDTypes {
		t.Run("neg/"+dt.String(), func(t *testing.T) {
			out, err := testutil.Run(dt, []testutil.Value{coreVal("x", []int{rows, cols}, xs...)}, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
				return []*graph.Node{nodes.Neg(in[0])}
			})
			require.NoError(t, err)
			for i, v := range out[0].Data {
				want := -xs[i]
				if dt == graph.Float32 {
					want = float64(-float32(xs[i]))
				}
				if v != want {
					t.Fatalf("Neg(%v) at %d = %v, want %v", xs[i], i, v, want)
				}
			}
		})
	}
}

func b2f32(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

func b2f64(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestCoreExecAllocs: a compiled program of every core op, run through
// Machine.Exec, allocates nothing once the batch size has been seen (the
// kernels bind their closures at bind time).
func TestCoreExecAllocs(t *testing.T) {
	for _, dt := range coreDTypes {
		t.Run(dt.String(), func(t *testing.T) {
			g := graph.New(dt)
			x := g.Input("x", graph.Shape{coreB, 6})
			w := g.Input("w", graph.Shape{6, 4})
			lab := g.Input("labels", graph.Shape{coreB})
			h := nodes.Add(nodes.MatMul(x, w), g.Constant(graph.Shape{4}, 1, 2, 3, 4))
			h = nodes.Maximum(h, nodes.Div(nodes.Mul(h, g.Scalar(0.5)), nodes.Sub(g.Scalar(3), nodes.Neg(h))))
			h = nodes.Where(nodes.Greater(h, g.Scalar(0)), h, nodes.Minimum(h, g.Scalar(-1)))
			h = nodes.Concat(1, h, nodes.Flatten(nodes.Slice(nodes.Transpose(nodes.Reshape(x, graph.Shape{-1, 3, 2}), 0, 2, 1), 2, 0, 1)))
			oh := nodes.OneHot(lab, 7)
			y := nodes.Sum(nodes.Mul(nodes.Flatten(nodes.Concat(1, h, oh)), nodes.StopGradient(g.Scalar(2))), false)
			y = nodes.Add(y, nodes.Sum(nodes.Mean(x, false, 0), true))
			y = nodes.Add(y, nodes.Sum(nodes.Max(x, true, 1), false))
			grads, err := autodiff.Grad(y, x, w)
			require.NoError(t, err)
			p, err := compile.Compile(g, append([]*graph.Node{y}, grads...), compile.Options{})
			require.NoError(t, err)
			m := vm.NewMachine(p, vm.NewStore())
			r := rand.New(rand.NewPCG(3, 3))
			data := func(n int) []float64 {
				d := make([]float64, n)
				for i := range d {
					d[i] = coreUniform(-2, 2)(r)
				}
				return d
			}
			feeds := vm.Feeds{
				"x":      testutil.Tensor(dt, []int{5, 6}, data(30)),
				"w":      testutil.Tensor(dt, []int{6, 4}, data(24)),
				"labels": testutil.Tensor(dt, []int{5}, []float64{0, 6, 3, 3, 1}),
			}
			_, err = m.Exec(feeds)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := m.Exec(feeds); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs, "Machine.Exec allocated %v times per run", allocs)
		})
	}
}
