package compile

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// Pass is one step of the compiler: a named rewrite of a Func. Run returns
// a one-line summary of what it did (for Explain and Trace).
type Pass struct {
	Name string
	Run  func(f *Func) (string, error)
}

// Passes is the compiler's pipeline, in order. Options.Disable takes these
// names.
var Passes = []Pass{
	{"prune", prune},
	{"cse", cse},
	{"fold-constants", foldConstants},
	{"simplify", simplify},
	{"prune-dead", prune},
	{"fold-bn", foldBN},
	{"fuse-bn-act", fuseBNAct},
	{"fuse-dense-act", fuseDenseAct},
	{"fuse-gemm-update", fuseGemmUpdate},
	{"fuse-elementwise", fuseElementwise},
	{"plan-memory", planMemory},
}

// fusing names the passes that change how values are computed (and so
// their rounding); Verify compares programs with and without them.
var fusing = []string{"fold-bn", "fuse-bn-act", "fuse-dense-act", "fuse-gemm-update", "fuse-elementwise"}

// prune drops the values the fetches do not depend on.
func prune(f *Func) (string, error) {
	live := map[*Value]bool{}
	var mark func(v *Value)
	mark = func(v *Value) {
		if live[v] {
			return
		}
		live[v] = true
		for _, a := range v.Args {
			mark(a)
		}
	}
	for _, v := range f.Fetches {
		mark(v)
	}
	before := len(f.Values)
	kept := f.Values[:0]
	for _, v := range f.Values {
		if live[v] {
			kept = append(kept, v)
		}
	}
	f.Values = kept
	return fmt.Sprintf("values %d → %d", before, len(kept)), nil
}

// planMarks is what the plan-memory pass decides for lowering: the
// reshapes that become views of their input, the values whose instruction
// may write over an input that dies there, and the values that depend on
// variables and constants only, whose instructions are hoisted out of the
// run (a machine recomputes them when the store changes).
type planMarks struct {
	view, inPlace, hoist map[*Value]bool
}

// planMemory is the switch of memory planning: it marks views, in-place
// and hoisted values for lowering, which then lets the machine's planner
// (package vm) reuse buffers by liveness. Disabled, lowering makes a copy
// of every reshape, hoists nothing, writes nothing in place, and the
// program gets a block of memory per buffer (vm.Program.NoMemoryReuse).
func planMemory(f *Func) (string, error) {
	m := &planMarks{view: map[*Value]bool{}, inPlace: map[*Value]bool{}, hoist: map[*Value]bool{}}
	invariant := map[*Value]bool{}
	for _, v := range f.Values {
		switch v.Op.(type) {
		case graph.InputOp:
			continue
		case graph.VariableOp, graph.ConstantOp:
			invariant[v] = true
			continue
		case graph.OutputOp:
			invariant[v] = invariant[v.Args[0]]
			continue
		}
		if nodes.IsAssign(v.Op) {
			continue
		}
		if nodes.IsReshape(v.Op) && !isVariable(v.Args[0]) {
			// a reshape of a temporary, an input or a constant (memory of
			// the arena, contiguous); a variable's lives in the store
			m.view[v] = true
			invariant[v] = invariant[v.Args[0]]
			continue
		}
		m.inPlace[v] = nodes.InPlace(v.Op)
		hoist := !isStateful(v.Op)
		for _, a := range v.Args {
			hoist = hoist && invariant[a]
		}
		m.hoist[v], invariant[v] = hoist, hoist
	}
	f.plan = m
	count := func(set map[*Value]bool) int {
		n := 0
		for _, on := range set {
			if on {
				n++
			}
		}
		return n
	}
	return fmt.Sprintf("buffers reused by liveness; %d views, %d in-place candidates, %d hoisted", count(m.view), count(m.inPlace), count(m.hoist)), nil
}

func isVariable(v *Value) bool {
	_, ok := v.Op.(graph.VariableOp)
	return ok
}
