package vm_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// planBatches are the batch sizes the planner is checked at.
var planBatches = []int{1, 7, 32, 128}

// alignElems is the planner's block alignment in elements (TestPlanAlignment).
const alignElems = 16

func alignUp(n int) int { return (n + alignElems - 1) / alignElems * alignElems }

// planned reports whether buffer b gets memory in the arena (variables
// live in the store).
func planned(p *vm.Program, b int) bool { return p.Bufs[b].Kind != vm.BufVariable }

// viewRoot follows a view to the buffer whose memory it shares.
func viewRoot(p *vm.Program, b int) int {
	for p.Bufs[b].View {
		b = int(p.Bufs[b].ViewOf)
	}
	return b
}

// lifetimes computes, independently of the planner, the instructions
// during which each buffer's value must stay in memory: from the first
// instruction writing it (its source's, for a view) to the last reading it;
// inputs, constants, values of hoisted instructions (kept from run to run)
// and temporaries no instruction writes live for the whole run, fetches to
// its end. -1 stands for "before the first instruction", len(p.Insts) for
// "after the last".
func lifetimes(p *vm.Program) (first, last []int) {
	n, end := len(p.Bufs), len(p.Insts)
	first, last = make([]int, n), make([]int, n)
	written := make([]bool, n)
	hoisted := make([]bool, n)
	for i := range first {
		first[i], last[i] = end, -1
	}
	for k, in := range p.Insts {
		for _, d := range in.Dst {
			first[d] = min(first[d], k)
			last[d] = max(last[d], k)
			written[d] = true
			hoisted[d] = hoisted[d] || in.Hoist
		}
		for _, s := range in.Src {
			last[s] = max(last[s], k)
		}
	}
	for _, f := range p.Fetches {
		last[f] = end
	}
	for i, b := range p.Bufs {
		switch {
		case b.View:
			r := viewRoot(p, i)
			if b := p.Bufs[r]; b.Kind == vm.BufTemp && written[r] && !hoisted[r] {
				first[i] = first[r]
			} else {
				first[i], last[i] = -1, end
			}
		case b.Kind != vm.BufTemp || hoisted[i] || !written[i]:
			first[i], last[i] = -1, end
		}
		last[i] = max(last[i], first[i]) // a value written and never read
	}
	return first, last
}

// checkPlan checks a plan of p against the sizes of its buffers: variables
// are not in the arena; every other buffer lies inside it; buffers of one
// group share their offset; and two buffers whose lifetimes overlap occupy
// disjoint ranges of the arena unless they share memory by construction:
// a view and its source, or an in-place instruction's output and an input
// of it that dies there (their lifetimes then meet at that instruction
// only).
func checkPlan(t *testing.T, name string, p *vm.Program, sizes []int, plan vm.Plan) {
	t.Helper()
	first, last := lifetimes(p)
	inPlacePair := func(a, b int) bool {
		if first[b] < first[a] {
			a, b = b, a
		}
		k := first[b] // b written over a at instruction k, where a dies
		if k != last[a] || k < 0 || k >= len(p.Insts) {
			return false
		}
		in := p.Insts[k]
		if !in.InPlace || int(in.Dst[0]) != b {
			return false
		}
		for _, s := range in.Src {
			if viewRoot(p, int(s)) == viewRoot(p, a) {
				return true
			}
		}
		return false
	}
	errs := 0
	for a := range p.Bufs {
		if !planned(p, a) {
			assert.Equal(t, -1, plan.Offset[a], "%s: variable %%%d has an offset", name, a)
			continue
		}
		if plan.Offset[a] < 0 || plan.Offset[a]+sizes[a] > plan.Arena {
			t.Errorf("%s: %%%d (%s, %d elements) at %d, outside the arena of %d", name, a, p.Bufs[a].Name, sizes[a], plan.Offset[a], plan.Arena)
		}
		for b := a + 1; b < len(p.Bufs) && errs < 10; b++ {
			if !planned(p, b) {
				continue
			}
			if plan.Group[a] == plan.Group[b] && plan.Offset[a] != plan.Offset[b] {
				t.Errorf("%s: %%%d and %%%d of group %d at offsets %d and %d", name, a, b, plan.Group[a], plan.Offset[a], plan.Offset[b])
			}
			disjointMem := plan.Offset[a]+sizes[a] <= plan.Offset[b] || plan.Offset[b]+sizes[b] <= plan.Offset[a] || sizes[a] == 0 || sizes[b] == 0
			disjointTime := last[a] < first[b] || last[b] < first[a]
			if disjointMem || disjointTime {
				continue
			}
			if viewRoot(p, a) == viewRoot(p, b) || inPlacePair(a, b) {
				continue
			}
			errs++
			t.Errorf("%s: %%%d (%s, live %d..%d, [%d,%d)) and %%%d (%s, live %d..%d, [%d,%d)) share memory while both live",
				name, a, p.Bufs[a].Name, first[a], last[a], plan.Offset[a], plan.Offset[a]+sizes[a],
				b, p.Bufs[b].Name, first[b], last[b], plan.Offset[b], plan.Offset[b]+sizes[b])
		}
	}
}

// planFor returns the sizes and the plan of p at a batch size.
func planFor(t *testing.T, p *vm.Program, batch int) ([]int, vm.Plan) {
	t.Helper()
	shapes, plan, err := p.PlanFor(batch)
	require.NoError(t, err)
	sizes := make([]int, len(shapes))
	for i, s := range shapes {
		sizes[i] = s.Size()
	}
	return sizes, plan
}

// alignedTotal is the arena a block per buffer takes (a view shares its
// source's block).
func alignedTotal(p *vm.Program, sizes []int) int {
	n := 0
	for i, b := range p.Bufs {
		if planned(p, i) && !b.View {
			n += alignUp(sizes[i])
		}
	}
	return n
}

// withoutReuse is p with memory reuse turned off.
func withoutReuse(p *vm.Program) *vm.Program {
	q := *p
	q.NoMemoryReuse = true
	return &q
}

// planPrograms are the programs the planner is checked on: the reference
// training steps A, B and C and the inference program D, float32, and a
// small graph with views and in-place chains (fused element-wise chains
// off, so that every op is its own instruction).
func planPrograms(t *testing.T) map[string]*vm.Program {
	t.Helper()
	progs := map[string]*vm.Program{}
	for _, c := range refmodels.Configs() {
		step, err := c.Build(graph.Float32)
		require.NoError(t, err)
		p, err := compile.Compile(step.Graph, step.Fetches, compile.Options{})
		require.NoError(t, err, c.Name)
		progs["ref "+c.Name] = p
	}
	g, fetches := viewsGraph()
	p, err := compile.Compile(g, fetches, compile.Options{Disable: []string{"fuse-elementwise"}})
	require.NoError(t, err)
	progs["views"] = p
	return progs
}

// viewsGraph reshapes temporaries (views) between element-wise ops (in
// place) and dense layers: x [B,6] → exp → reshape [B,2,3] → sum over the
// last axis [B,2] → ·w [2,6] → tanh → neg, fetched with the reshape of the
// sum.
func viewsGraph() (*graph.Graph, []*graph.Node) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 6})
	w := g.Variable("w", graph.Shape{2, 6})
	a := nodes.Exp(x)
	r := nodes.Reshape(a, graph.Shape{graph.Batch, 2, 3})
	s := nodes.Sum(r, false, 2)
	c := nodes.Neg(nodes.Tanh(nodes.MatMul(s, w)))
	return g, []*graph.Node{c, nodes.Reshape(s, graph.Shape{graph.Batch, 1, 2})}
}

// The plan of every program at every batch size keeps buffers that are
// live at the same time apart, and needs no more than a block per buffer;
// the same program without reuse gets exactly a block per buffer, none
// shared (views excepted).
func TestPlanLiveBuffersDisjoint(t *testing.T) {
	for name, p := range planPrograms(t) {
		for _, batch := range planBatches {
			what := fmt.Sprintf("%s, batch %d", name, batch)
			sizes, plan := planFor(t, p, batch)
			checkPlan(t, what, p, sizes, plan)

			q := withoutReuse(p)
			_, flat := planFor(t, q, batch)
			checkPlan(t, what+" without reuse", q, sizes, flat)
			assert.Equal(t, alignedTotal(p, sizes), flat.Arena, "%s without reuse: the arena is not a block per buffer", what)
			assert.Equal(t, flat.Arena, plan.Unplanned, "%s: Unplanned is not the arena without reuse", what)
			assert.LessOrEqual(t, plan.Arena, flat.Arena, "%s: the plan takes more than a block per buffer", what)
			// without reuse, no two blocks overlap at all
			for a := range q.Bufs {
				for b := a + 1; b < len(q.Bufs); b++ {
					if !planned(q, a) || !planned(q, b) || viewRoot(q, a) == viewRoot(q, b) || sizes[a] == 0 || sizes[b] == 0 {
						continue
					}
					if flat.Offset[a] < flat.Offset[b]+sizes[b] && flat.Offset[b] < flat.Offset[a]+sizes[a] {
						t.Errorf("%s without reuse: %%%d and %%%d overlap", what, a, b)
					}
				}
			}
		}
	}
}

// An inference MLP reuses memory: the output of a layer takes the place of
// a layer's output that is no longer read.
func TestPlanInferenceReuses(t *testing.T) {
	c, err := refmodels.ByName("D")
	require.NoError(t, err)
	step, err := c.Build(graph.Float32)
	require.NoError(t, err)
	d, err := compile.Compile(step.Graph, step.Fetches, compile.Options{})
	require.NoError(t, err)

	g := graph.New(graph.Float64)
	h := g.Input("x", graph.Shape{graph.Batch, 20})
	for i, units := range []int{16, 32, 16, 4} {
		w := g.Variable(fmt.Sprintf("w%d", i), graph.Shape{h.Shape()[1], units})
		h = nodes.ReLU(nodes.MatMul(h, w))
	}
	mlp, err := compile.Compile(g, []*graph.Node{h}, compile.Options{})
	require.NoError(t, err)

	for name, p := range map[string]*vm.Program{"D": d, "mlp": mlp} {
		for _, batch := range planBatches {
			sizes, plan := planFor(t, p, batch)
			_, flat := planFor(t, withoutReuse(p), batch)
			assert.Less(t, plan.Arena, flat.Arena, "%s, batch %d: no buffer reused", name, batch)
			assert.Less(t, plan.Arena, alignedTotal(p, sizes), "%s, batch %d", name, batch)
		}
	}
}

// A reshape's view lives as long as its readers, no longer: once the view
// and its source are dead, a later value takes their memory. In viewsGraph
// exp's output (and its view) die at the sum; the dense layer after the
// sum (matmul and tanh), of the same size, takes its block.
func TestPlanViewsFreed(t *testing.T) {
	g, fetches := viewsGraph()
	p, err := compile.Compile(g, fetches, compile.Options{Disable: []string{"fuse-elementwise"}})
	require.NoError(t, err)
	find := func(op string) int32 {
		for _, in := range p.Insts {
			if in.Op == vm.OpCall && p.Kernels[in.Aux].Name() == op {
				return in.Dst[0]
			}
		}
		t.Fatalf("no %s instruction:\n%s", op, p)
		return -1
	}
	exp, mm := find("exp"), find("dense")
	views := 0
	for _, b := range p.Bufs {
		if b.View {
			views++
		}
	}
	require.Equal(t, 2, views, "both reshapes should be views:\n%s", p)
	for _, batch := range planBatches {
		sizes, plan := planFor(t, p, batch)
		checkPlan(t, fmt.Sprintf("batch %d", batch), p, sizes, plan)
		assert.Equal(t, plan.Offset[exp], plan.Offset[mm], "batch %d: the dense layer does not reuse exp's block, freed with its view:\n%s", batch, compile.ExplainBatch(p, batch))
	}
}

// With plan-memory disabled, the program asks for a block per buffer: no
// views, nothing in place or hoisted, and an arena that is the sum of the
// aligned sizes of its buffers, each at its own offset.
func TestPlanMemoryDisabled(t *testing.T) {
	progs := planPrograms(t)
	for _, c := range refmodels.Configs() {
		step, err := c.Build(graph.Float32)
		require.NoError(t, err)
		p, err := compile.Compile(step.Graph, step.Fetches, compile.Options{Disable: []string{"plan-memory"}})
		require.NoError(t, err)
		require.True(t, p.NoMemoryReuse, "%s: plan-memory disabled but the program reuses memory", c.Name)
		assert.False(t, progs["ref "+c.Name].NoMemoryReuse, "%s: plan-memory on but the program does not reuse memory", c.Name)
		for _, b := range p.Bufs {
			assert.False(t, b.View, "%s: view %s without plan-memory", c.Name, b.Name)
		}
		for _, in := range p.Insts {
			assert.False(t, in.InPlace || in.Hoist, "%s: %s marked in place or hoisted without plan-memory", c.Name, p.InstString(in))
		}
		for _, batch := range planBatches {
			sizes, plan := planFor(t, p, batch)
			checkPlan(t, fmt.Sprintf("%s, batch %d", c.Name, batch), p, sizes, plan)
			assert.Equal(t, alignedTotal(p, sizes), plan.Arena, "%s, batch %d: arena", c.Name, batch)
			n := 0
			offsets := map[int]bool{}
			for i := range p.Bufs {
				if planned(p, i) {
					n++
					offsets[plan.Offset[i]] = true
				}
			}
			assert.Equal(t, n, plan.Blocks, "%s, batch %d: blocks", c.Name, batch)
			assert.Len(t, offsets, n, "%s, batch %d: two buffers at one offset", c.Name, batch)
			if c.Inference {
				_, reused := planFor(t, progs["ref "+c.Name], batch)
				assert.Less(t, reused.Arena, plan.Arena, "%s, batch %d: plan-memory saves nothing", c.Name, batch)
			}
		}
	}
}
