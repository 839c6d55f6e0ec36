package vm_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

var nan32 = float32(math.NaN())

// fusions are the passes that merge instructions.
var fusions = []string{"fold-bn", "fuse-bn-act", "fuse-dense-act", "fuse-elementwise"}

// The guard stops a run at the first instruction whose output holds a NaN
// or an infinity, and names the instruction, its node, its layer and the
// ranges of what it read. Off, the same runs succeed and return the
// non-finite values.
func TestGuard(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name  string
		fused bool // compiled with the fusing passes (else without)
		build func(g *graph.Graph, x *graph.Node) *graph.Node
		x     []float32 // a [2, 2] feed
		node  string    // the node the guard names
		layer string
		value float64 // NaN is matched by IsNaN
		in    []vm.Range
	}{
		{
			name: "log of a negative",
			build: func(g *graph.Graph, x *graph.Node) *graph.Node {
				var y *graph.Node
				g.WithScope("dense_1", func() { y = nodes.Mul(nodes.Log(x), g.Scalar(2)) })
				return nodes.Tanh(y)
			},
			x: []float32{1, 2, -1, 4}, node: "dense_1/log", layer: "dense_1", value: math.NaN(),
			in: []vm.Range{{Name: "x", Size: 4, Min: -1, Max: 4}},
		},
		{
			// fused, the chain is one instruction named after its nodes
			name: "log of a negative, fused", fused: true,
			build: func(g *graph.Graph, x *graph.Node) *graph.Node {
				var y *graph.Node
				g.WithScope("dense_1", func() { y = nodes.Mul(nodes.Log(x), g.Scalar(2)) })
				return nodes.Tanh(y)
			},
			x: []float32{1, 2, -1, 4}, node: "dense_1/log + dense_1/mul + tanh", layer: "dense_1", value: math.NaN(),
			in: []vm.Range{{Name: "x", Size: 4, Min: -1, Max: 4}, {Size: 1, Min: 2, Max: 2}},
		},
		{
			name: "division by zero",
			build: func(g *graph.Graph, x *graph.Node) *graph.Node {
				var y *graph.Node
				g.WithScope("block", func() {
					g.WithScope("ratio", func() { y = nodes.Div(g.Scalar(1), x) })
				})
				return y
			},
			x: []float32{1, 0, 2, 3}, node: "block/ratio/div", layer: "block/ratio", value: inf,
			in: []vm.Range{{Size: 1, Min: 1, Max: 1}, {Name: "x", Size: 4, Min: 0, Max: 3}},
		},
		{
			name:  "a NaN fed in",
			build: func(g *graph.Graph, x *graph.Node) *graph.Node { return nodes.Tanh(x) },
			x:     []float32{1, nan32, 2, 3}, node: "tanh", layer: "", value: math.NaN(),
			in: []vm.Range{{Name: "x", Size: 4, Min: 1, Max: 3, NaN: 1}},
		},
		{
			// exp overwrites its input in place (x·2 dies there): the
			// guard reports the input as it was before exp ran
			name: "overflow in place",
			build: func(g *graph.Graph, x *graph.Node) *graph.Node {
				return nodes.Exp(nodes.MatMul(x, g.Constant(graph.Shape{2, 2}, 50, 0, 0, 50)))
			},
			x: []float32{1, 2, 0, 1}, node: "exp", value: inf,
			in: []vm.Range{{Name: "matmul", Size: 4, Min: 0, Max: 100}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			x := g.Input("x", graph.Shape{graph.Batch, 2})
			var opts compile.Options
			if !tc.fused {
				opts.Disable = fusions
			}
			y := tc.build(g, x)
			require.NoError(t, g.Err())
			p, err := compile.Compile(g, []*graph.Node{y}, opts)
			require.NoError(t, err)
			feeds := vm.Feeds{"x": f32([]int{2, 2}, tc.x...)}

			m := vm.NewMachine(p, vm.NewStore())
			out, err := m.Run(feeds)
			require.NoError(t, err, "without the guard")

			assert.True(t, hasNonFinite(float32s(t, out[0])), "without the guard the output is not finite: %v", out[0])

			m.SetGuard(true)
			assert.True(t, m.Guard())
			_, err = m.Run(feeds)
			require.Error(t, err)
			assert.ErrorIs(t, err, vm.ErrNonFinite)
			var ge *vm.GuardError
			require.True(t, errors.As(err, &ge), "error %v is not a *GuardError", err)
			assert.Equal(t, tc.node, ge.Node)
			assert.Equal(t, tc.layer, ge.Layer)
			assert.Equal(t, 2, ge.Batch)
			assert.Equal(t, p.InstString(p.Insts[ge.Inst]), ge.Instruction)
			assert.Equal(t, tc.node, p.Insts[ge.Inst].Note)
			if math.IsNaN(tc.value) {
				assert.True(t, math.IsNaN(ge.Value), "value %v, want NaN", ge.Value)
			} else {
				assert.Equal(t, tc.value, ge.Value)
			}
			require.Len(t, ge.Inputs, len(tc.in))
			for i, want := range tc.in {
				got := ge.Inputs[i]
				assert.Equal(t, p.Insts[ge.Inst].Src[i], got.Buf, "input %d", i)
				if want.Name != "" {
					assert.Equal(t, want.Name, got.Name, "input %d", i)
				}
				got.Buf, want.Buf = 0, 0
				got.Name, want.Name = "", ""
				assert.Equal(t, want, got, "input %d", i)
			}
			msg := err.Error()
			for _, part := range []string{"vm: guard:", ge.Instruction, "node " + tc.node, "batch size 2"} {
				assert.Contains(t, msg, part)
			}
			if tc.layer != "" {
				assert.Contains(t, msg, "layer "+tc.layer)
			}

			// the machine recovers: a finite feed runs, guard on
			_, err = m.Run(vm.Feeds{"x": f32([]int{2, 2}, 1, 1, 1, 1)})
			assert.NoError(t, err, "a good run after the guard stopped one")
		})
	}
}

func hasNonFinite(v []float32) bool {
	for _, x := range v {
		if x-x != 0 {
			return true
		}
	}
	return false
}

// A run the guard stops applies none of its assignments: the store keeps
// the values it had; the same run without the guard writes the NaN.
func TestGuardSkipsAssignments(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{2})
	w := g.Variable("w", graph.Shape{2})
	counter := g.Variable("counter", graph.Shape{})
	loss := nodes.Sum(nodes.Log(nodes.Mul(x, w)), false)
	p := mustCompile(t, g, loss,
		nodes.Assign(w, nodes.Sub(w, nodes.Log(x))), // NaN for x < 0
		nodes.Assign(counter, nodes.Add(counter, g.Scalar(1))))
	for _, guard := range []bool{true, false} {
		s := vm.NewStore()
		set(t, s, "w", []int{2}, []float32{1, 2})
		set(t, s, "counter", []int{}, []float32{0})
		m := vm.NewMachine(p, s)
		m.SetGuard(guard)
		_, err := m.Run(vm.Feeds{"x": f32([]int{2}, 1, 1)})
		require.NoError(t, err)
		gen := s.Generation()
		_, err = m.Run(vm.Feeds{"x": f32([]int{2}, 1, -1)})
		wv, _ := s.Float64s("w")
		cv, _ := s.Float64s("counter")
		if guard {
			assert.ErrorIs(t, err, vm.ErrNonFinite)
			assert.Equal(t, []float64{1, 2}, wv, "w after the guard stopped the run")
			assert.Equal(t, []float64{1}, cv, "counter after the guard stopped the run")
			assert.Equal(t, gen, s.Generation(), "the store was not written")
		} else {
			assert.NoError(t, err)
			assert.True(t, math.IsNaN(wv[1]), "w = %v without the guard", wv)
			assert.Equal(t, []float64{2}, cv)
		}
	}
}

// Hoisted instructions (reading variables only) are checked too, and when
// one fails the body does not run.
func TestGuardHoisted(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	w := g.Variable("w", graph.Shape{2})
	var y *graph.Node
	g.WithScope("scale", func() { y = nodes.Mul(x, nodes.Sqrt(w)) })
	p := mustCompile(t, g, y)
	var hoisted int
	for _, in := range p.Insts {
		if in.Hoist {
			hoisted++
		}
	}
	require.Equal(t, 1, hoisted, "sqrt(w) is hoisted in\n%v", p)
	s := vm.NewStore()
	require.NoError(t, s.SetFloat64s("w", graph.Shape{2}, graph.Float64, []float64{4, -1}))
	m := vm.NewMachine(p, s)
	m.SetGuard(true)
	feeds := vm.Feeds{"x": f64([]int{1, 2}, 1, 1)}
	_, err := m.Run(feeds)
	var ge *vm.GuardError
	require.True(t, errors.As(err, &ge), "Run: %v", err)
	assert.Equal(t, "scale/sqrt", ge.Node)
	assert.Equal(t, "scale", ge.Layer)
	assert.Equal(t, []vm.Range{{Buf: ge.Inputs[0].Buf, Name: "w", Size: 2, Min: -1, Max: 4}}, ge.Inputs)
	// fixing the variable makes the hoisted value be computed again
	require.NoError(t, s.SetFloat64s("w", graph.Shape{2}, graph.Float64, []float64{4, 9}))
	out, err := m.Run(feeds)
	require.NoError(t, err)
	assert.Equal(t, []float64{2, 3}, out[0].Float64s())
}

// With the guard on, a kernel's own failure (a label out of range) is
// reported as such, not as a non-finite value.
func TestGuardKernelFailure(t *testing.T) {
	g := graph.New(graph.Float32)
	labels := g.Input("labels", graph.Shape{graph.Batch})
	p := mustCompile(t, g, nodes.Log(nodes.OneHot(labels, 3)))
	m := vm.NewMachine(p, vm.NewStore())
	m.SetGuard(true)
	_, err := m.Run(vm.Feeds{"labels": f32([]int{2}, 1, 7)})
	require.Error(t, err)
	assert.NotErrorIs(t, err, vm.ErrNonFinite, "OneHot's label error: %v", err)
	_, err = m.Run(vm.Feeds{"labels": f32([]int{2}, 1, 2)})
	assert.ErrorIs(t, err, vm.ErrNonFinite, "log(0) of the one-hot zeros: %v", err)
}

// Range prints what the guard saw of an input.
func TestGuardRangeString(t *testing.T) {
	for _, tc := range []struct {
		r    vm.Range
		want string
	}{
		{vm.Range{Buf: 3, Name: "x", Size: 4, Min: -1, Max: 2}, "%3 x [min -1, max 2]"},
		{vm.Range{Buf: 1, Size: 4, Min: 0, Max: 0.5, NaN: 1, Inf: 2}, "%1 [min 0, max 0.5, 1 NaN, 2 Inf]"},
		{vm.Range{Buf: 2, Name: "y", Size: 2, Min: math.NaN(), Max: math.NaN(), NaN: 2}, "%2 y [no finite value, 2 NaN]"},
		{vm.Range{Buf: 0, Name: "e"}, "%0 e [empty]"},
	} {
		assert.Equal(t, tc.want, tc.r.String())
	}
	e := &vm.GuardError{Instruction: "%2 = log %1 : f32[B]", Node: "a/log", Layer: "a", Value: math.Inf(-1), Batch: 4}
	assert.Equal(t, "vm: guard: -Inf in output 0 element 0 of `%2 = log %1 : f32[B]` (node a/log, layer a), batch size 4; inputs: none", e.Error())
	assert.True(t, strings.Contains((&vm.GuardError{}).Error(), "node unnamed, top level"))
}

// The guard allocates nothing while every value is finite.
func TestGuardAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, train := range []bool{false, true} {
		m, feeds := mlp(t, 32, train)
		m.SetGuard(true)
		if _, err := m.Exec(feeds); err != nil {
			t.Fatal(err)
		}
		var err error
		allocs := testing.AllocsPerRun(10, func() { _, err = m.Exec(feeds) })
		require.NoError(t, err)
		if allocs != 0 {
			t.Errorf("Exec with the guard (train %v) allocates %v times per run, want 0", train, allocs)
		}
	}
}

// f64 wraps values as a float64 tensor of the given shape.
func f64(shape []int, vals ...float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
}
