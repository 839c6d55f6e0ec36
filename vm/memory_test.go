package vm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// A machine refuses a batch size whose memory plan exceeds the limit,
// before allocating, with the plan's size in the error; smaller batch sizes
// run, and the limit can be lifted.
func TestMemoryLimit(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 100})
	w := g.Variable("w", graph.Shape{100, 50})
	y := nodes.Tanh(nodes.MatMul(x, w))
	p := mustCompile(t, g, y)
	per, err := p.MemoryFor(1)
	require.NoError(t, err)
	at64, err := p.MemoryFor(64)
	require.NoError(t, err)
	require.Greater(t, at64, per)
	assert.EqualValues(t, 64*(100+50)*4, at64, "x and one temporary (tanh in place over the matmul), f32")

	s := vm.NewStore()
	set(t, s, "w", []int{100, 50}, make([]float32, 5000))
	m := vm.NewMachine(p, s)
	assert.Zero(t, m.MemoryLimit(), "no limit by default")
	m.SetMemoryLimit(at64)
	assert.Equal(t, at64, m.MemoryLimit())
	feeds := func(n int) vm.Feeds { return vm.Feeds{"x": f32([]int{n, 100}, make([]float32, n*100)...)} }
	for _, tc := range []struct {
		batch int
		ok    bool
	}{{1, true}, {64, true}, {65, false}, {1000, false}, {0, true}} {
		err := m.CheckBatch(tc.batch)
		_, runErr := m.Run(feeds(tc.batch))
		if tc.ok {
			assert.NoError(t, err, "CheckBatch(%d)", tc.batch)
			assert.NoError(t, runErr, "Run at batch %d", tc.batch)
			continue
		}
		for _, e := range []error{err, runErr} {
			require.ErrorIs(t, e, vm.ErrMemoryLimit, "batch %d", tc.batch)
			need, _ := p.MemoryFor(tc.batch)
			assert.Contains(t, e.Error(), "batch size")
			assert.Contains(t, e.Error(), "over the limit of")
			assert.Greater(t, need, at64)
		}
	}
	m.SetMemoryLimit(0)
	_, err = m.Run(feeds(65))
	assert.NoError(t, err, "without a limit")
	assert.Error(t, m.CheckBatch(-1))
}

// compile.Options.MemoryLimit checks the batch sizes asked about when
// compiling and gives the program its limit.
func TestCompileMemoryLimit(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 1024})
	y := nodes.Exp(nodes.Mul(x, x))
	for _, tc := range []struct {
		name    string
		opts    compile.Options
		wantErr bool
		tooBig  bool // the error is ErrMemoryLimit (else a bad option)
	}{
		// x·x is computed in place over nothing (x is an input): x and
		// one temporary of 1024 float64 per row (a multiple of the
		// planner's 16-element alignment), 16384 bytes
		{"batch 1 fits", compile.Options{MemoryLimit: 16384}, false, false},
		{"batch 1 does not fit", compile.Options{MemoryLimit: 16383}, true, true},
		{"batch 100 fits", compile.Options{MemoryLimit: 1638400, Batches: []int{1, 100}}, false, false},
		{"batch 101 does not", compile.Options{MemoryLimit: 1638400, Batches: []int{1, 101}}, true, true},
		{"negative limit", compile.Options{MemoryLimit: -1}, true, false},
		{"negative batch", compile.Options{MemoryLimit: 1, Batches: []int{-3}}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compile.Compile(g, []*graph.Node{y}, tc.opts)
			if tc.wantErr {
				require.Error(t, err)
				if tc.tooBig {
					assert.ErrorIs(t, err, vm.ErrMemoryLimit)
					assert.Contains(t, err.Error(), "the memory plan needs")
				} else {
					assert.NotErrorIs(t, err, vm.ErrMemoryLimit)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.opts.MemoryLimit, p.MemoryLimit)
			m := vm.NewMachine(p, vm.NewStore())
			assert.Equal(t, tc.opts.MemoryLimit, m.MemoryLimit(), "the machine takes the program's limit")
			assert.ErrorIs(t, m.CheckBatch(1000), vm.ErrMemoryLimit)
		})
	}
}

// Buffers too large to address are refused with an error: before, a size
// of 2⁶⁰ elements panicked in make ("len out of range") and one of 2⁷⁰
// wrapped around to 0 and ran on nothing.
func TestMemoryOverflow(t *testing.T) {
	for _, shape := range []graph.Shape{{1 << 20, 1 << 20, 1 << 20}, {1 << 20, 1 << 20, 1 << 20, 1 << 10}, {1 << 30, 1 << 30, 1 << 2}} {
		g := graph.New(graph.Float32)
		x := g.Input("x", graph.Shape{graph.Batch, 2})
		huge := g.Constant(shape, 1)
		p, err := compile.Compile(g, []*graph.Node{nodes.Add(nodes.Sum(huge, false), nodes.Sum(x, false))}, compile.Options{Disable: []string{"fold-constants"}})
		require.NoError(t, err, "shape %v", shape)
		_, err = vm.NewMachine(p, vm.NewStore()).Run(vm.Feeds{"x": f32([]int{1, 2}, 1, 2)})
		assert.ErrorIs(t, err, vm.ErrMemoryLimit, "shape %v", shape)
		_, err = p.MemoryFor(1)
		assert.ErrorIs(t, err, vm.ErrMemoryLimit, "shape %v", shape)
	}
}

// Every buffer of the arena starts on a 16-element boundary (64 bytes in
// float32): odd sizes are padded.
func TestPlanAlignment(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 7})
	y := nodes.Exp(nodes.Add(nodes.Sum(x, true, 1), nodes.Square(x)))
	p, err := compile.Compile(g, []*graph.Node{y, nodes.Neg(x)}, compile.Options{Disable: []string{"fuse-elementwise"}})
	require.NoError(t, err)
	_, plan, err := p.PlanFor(3)
	require.NoError(t, err)
	for i, off := range plan.Offset {
		if off >= 0 && off%16 != 0 {
			t.Errorf("buffer %d at offset %d, not a multiple of 16", i, off)
		}
	}
}
