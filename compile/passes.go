package compile

import (
	"fmt"
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
	{"plan-memory", func(*Func) (string, error) {
		return "views, in-place and hoisted instructions marked for the planner", nil
	}},
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
