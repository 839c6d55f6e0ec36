package nodes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/nodes"
)

// opOf returns the op of a node built on fresh inputs of shape [2].
func opOf(build func(a, b *graph.Node) *graph.Node) graph.Op {
	g := graph.New(graph.Float64)
	return build(g.Input("a", graph.Shape{2}), g.Input("b", graph.Shape{2})).Op()
}

var (
	fAdd  = opOf(func(a, b *graph.Node) *graph.Node { return nodes.Add(a, b) })
	fMul  = opOf(func(a, b *graph.Node) *graph.Node { return nodes.Mul(a, b) })
	fSub  = opOf(func(a, b *graph.Node) *graph.Node { return nodes.Sub(a, b) })
	fSqrt = opOf(func(a, _ *graph.Node) *graph.Node { return nodes.Sqrt(a) })
	fSum  = opOf(func(a, _ *graph.Node) *graph.Node { return nodes.Sum(a, false) })
)

// momentumSteps is b′ = b·μ + g, w′ = w − η·sqrt(b′ + b) over inputs
// 0 b, 1 μ, 2 g, 3 w, 4 η: outputs b′ (step 1) and w′ (step 5). Step 2
// reads the old b after step 1 has computed b′, so a kernel writing b′
// over b must not do so before the block's last step.
var momentumSteps = []nodes.FusedStep{
	{Op: fMul, Args: []int{-1, -2}}, // 0: b·μ
	{Op: fAdd, Args: []int{0, -3}},  // 1: b′ = b·μ + g
	{Op: fAdd, Args: []int{1, -1}},  // 2: b′ + b
	{Op: fSqrt, Args: []int{2}},     // 3: sqrt(b′ + b)
	{Op: fMul, Args: []int{-5, 3}},  // 4: η·sqrt(…)
	{Op: fSub, Args: []int{-4, 4}},  // 5: w′ = w − …
}

func TestNewFusedElementwiseMulti(t *testing.T) {
	for _, tc := range []struct {
		name    string
		steps   []nodes.FusedStep
		outputs []int
		want    string // error substring; "" for none
		attrs   string
	}{
		{"single", momentumSteps, nil, "", "mul,add,add,sqrt,mul,sub"},
		{"last only", momentumSteps, []int{5}, "", "mul,add,add,sqrt,mul,sub"},
		{"two", momentumSteps, []int{1, 5}, "", "mul,add,add,sqrt,mul,sub out=1,5"},
		{"three", momentumSteps, []int{0, 3, 5}, "", "mul,add,add,sqrt,mul,sub out=0,3,5"},
		{"no steps", nil, nil, "no steps", ""},
		{"not element-wise", []nodes.FusedStep{{Op: fSum, Args: []int{-1}}}, nil, "not an element-wise op", ""},
		{"forward reference", []nodes.FusedStep{{Op: fSqrt, Args: []int{0}}}, nil, "reads step 0", ""},
		{"out of range", momentumSteps, []int{1, 6}, "output 1 is step 6 of 6", ""},
		{"negative", momentumSteps, []int{-1, 5}, "output 0 is step -1", ""},
		{"decreasing", momentumSteps, []int{3, 1, 5}, "not in increasing order", ""},
		{"repeated", momentumSteps, []int{1, 1, 5}, "not in increasing order", ""},
		{"last step unused", momentumSteps, []int{1, 4}, "leave the last step 5 unused", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := nodes.NewFusedElementwiseMulti(tc.steps, tc.outputs, nil)
			if tc.want != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.attrs, op.Attrs())
			shapes, err := op.OutputShapes([]graph.Shape{{2, 3}, {}, {2, 3}, {2, 3}, {1}})
			require.NoError(t, err)
			n := max(1, len(tc.outputs))
			want := make([]graph.Shape, n)
			for i := range want {
				want[i] = graph.Shape{2, 3}
			}
			assert.Equal(t, want, shapes)
		})
	}
	op, err := nodes.NewFusedElementwiseMulti(momentumSteps, []int{1, 5}, nil)
	require.NoError(t, err)
	_, err = op.OutputShapes([]graph.Shape{{2, 3}, {}, {3, 2}, {2, 3}, {1}})
	require.Error(t, err, "inputs of two shapes")
}

// TestFusedMultiKernel runs the two-output kernel with its outputs over its
// inputs b and w (as the compiler has it write an optimizer's slot and
// parameter in place) and apart, in both dtypes, on sizes around the block
// and the parallel chunks, and checks every element against the formula,
// bit for bit: each step is one rounded operation, in the same order.
func TestFusedMultiKernel(t *testing.T) {
	op, err := nodes.NewFusedElementwiseMulti(momentumSteps, []int{1, 5}, nil)
	require.NoError(t, err)
	for _, n := range []int{1, 7, 256, 257, 1000, 3*kernel.ElementGrain + 5} {
		for _, inPlace := range []bool{false, true} {
			checkFusedMulti[float64](t, op, n, inPlace)
			checkFusedMulti[float32](t, op, n, inPlace)
		}
	}
}

func checkFusedMulti[T kernel.Float](t *testing.T, op *nodes.FusedElementwise, n int, inPlace bool) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 1))
	vec := func() []T {
		v := make([]T, n)
		for i := range v {
			v[i] = T(r.Float64())
		}
		return v
	}
	b, g, w := vec(), vec(), vec()
	mu, eta := []T{0.9}, []T{0.01}
	wantB, wantW := make([]T, n), make([]T, n)
	for i := range n { // each operation rounded (T(…) forbids fused multiply-adds)
		wantB[i] = T(b[i]*mu[0]) + g[i]
		s := T(math.Sqrt(float64(wantB[i] + b[i])))
		wantW[i] = w[i] - T(eta[0]*s)
	}
	db, dw := make([]T, n), make([]T, n)
	if inPlace {
		db, dw = b, w
	}
	shape := []int{n}
	a := &kernel.Args[T]{
		In:     [][]int{shape, {}, shape, shape, {}},
		Out:    [][]int{shape, shape},
		Src:    [][]T{b, mu, g, w, eta},
		Dst:    [][]T{db, dw},
		Status: &kernel.Status{},
	}
	var run func()
	switch a := any(a).(type) {
	case *kernel.Args[float32]:
		run = op.Bind32(a)
	case *kernel.Args[float64]:
		run = op.Bind64(a)
	}
	run()
	for i := range n {
		if db[i] != wantB[i] || dw[i] != wantW[i] {
			t.Fatalf("%T n=%d in place=%v: element %d: got b′ %v w′ %v, want %v %v", b, n, inPlace, i, db[i], dw[i], wantB[i], wantW[i])
		}
	}
	if !inPlace {
		allocs := testing.AllocsPerRun(5, run)
		assert.Zero(t, allocs, "%T n=%d: allocations per run", b, n)
	}
}
