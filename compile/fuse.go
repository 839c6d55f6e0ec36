package compile

import (
	"fmt"
	"slices"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// consumers returns, for each value, the values that read it (once per
// reading value).
func (f *Func) consumers() map[*Value][]*Value {
	c := map[*Value][]*Value{}
	for _, v := range f.Values {
		seen := map[*Value]bool{}
		for _, a := range v.Args {
			if !seen[a] {
				seen[a] = true
				c[a] = append(c[a], v)
			}
		}
	}
	return c
}

// fuseDenseAct turns MatMul (+ a bias broadcast over rows) (+ an
// activation) into one FusedDense value. The matmul and the bias add must
// have no other consumer and not be fetched; the pre-activation may have
// others (an activation gradient reads it), in which case the fused op
// keeps it as a second output.
func fuseDenseAct(f *Func) (string, error) {
	cons := f.consumers()
	fetched := f.fetched()
	single := func(v *Value) *Value {
		if fetched[v] || len(cons[v]) != 1 {
			return nil
		}
		return cons[v][0]
	}
	repl := map[*Value]*Value{}
	var places []placement
	count := 0
	for _, mm := range f.Values {
		ta, tb, ok := nodes.MatMulTransposes(mm.Op)
		if !ok || repl[mm] != nil {
			continue
		}
		op := &nodes.FusedDense{TransA: ta, TransB: tb}
		args := []*Value{mm.Args[0], mm.Args[1]}
		from := []string{mm.Name}
		z := mm // the pre-activation value
		if c := single(mm); c != nil && c.Op.Name() == "add" && c.Shape.Equal(mm.Shape) {
			other := c.Args[1]
			if other == mm {
				other = c.Args[0]
			}
			if other != mm && len(other.Shape) == 1 && len(mm.Shape) == 2 && other.Shape[0] == mm.Shape[1] {
				op.Bias = true
				args = append(args, other)
				from = append(from, c.Name)
				z = c
			}
		}
		var act *Value
		for _, c := range cons[z] {
			if len(c.Args) == 1 && nodes.IsDenseActivation(c.Op) && c.Shape.Equal(z.Shape) {
				act = c
				break
			}
		}
		if act != nil {
			op.Act = act.Op
			from = append(from, act.Name)
			op.KeepZ = fetched[z] || len(cons[z]) > 1
		}
		if !op.Bias && act == nil {
			continue
		}
		op.From = from
		out := act
		if out == nil {
			out = z
		}
		fused := f.NewValue(op, out.Name, out.Shape, args...)
		fused.From = from
		fused.Node = out.Node
		repl[out] = fused
		if out != z {
			if op.KeepZ {
				zv := f.NewValue(graph.OutputOp{Index: 1, Shape: z.Shape}, z.Name, z.Shape, fused)
				zv.Node = z.Node
				repl[z] = zv
			} else {
				repl[z] = fused // no one else reads it; dropped below
			}
		}
		if z != mm {
			repl[mm] = fused
		}
		places = append(places, placement{z, fused})
		count++
	}
	if count == 0 {
		return "0 fused", nil
	}
	f.insertReplacing(repl, places)
	return fmt.Sprintf("%d fused", count), nil
}

// placement puts a new value just before anchor, a replaced value that
// comes after all of the new value's arguments and before every reader of
// the values it replaces.
type placement struct{ anchor, value *Value }

// insertReplacing inserts the new values (placements in order; each new
// value's Output values, if they are replacements, right after it), rewires
// uses and drops the replaced values.
func (f *Func) insertReplacing(repl map[*Value]*Value, places []placement) {
	at := map[*Value][]*Value{}
	for _, p := range places {
		at[p.anchor] = append(at[p.anchor], p.value)
	}
	outputsOf := map[*Value][]*Value{}
	for _, r := range repl {
		if _, ok := r.Op.(graph.OutputOp); ok && !slices.Contains(outputsOf[r.Args[0]], r) {
			outputsOf[r.Args[0]] = append(outputsOf[r.Args[0]], r)
		}
	}
	for _, outs := range outputsOf {
		slices.SortFunc(outs, func(a, b *Value) int { return a.Op.(graph.OutputOp).Index - b.Op.(graph.OutputOp).Index })
	}
	var out []*Value
	for _, v := range f.Values {
		for _, n := range at[v] {
			out = append(out, n)
			out = append(out, outputsOf[n]...)
		}
		out = append(out, v)
	}
	f.Values = out
	f.replaceUses(repl)
}

// fuseElementwise merges chains of element-wise values of one shape into
// FusedElementwise values that compute them in one sweep. A value joins a
// chain when every reader of it is in the chain and it is not fetched; the
// chain's inputs have its shape or hold a single value.
//
// A chain whose root (its result) is read both by a later chain of the same
// shape and by other values is then merged into that later chain, which
// gets several outputs: an optimizer's update of a parameter reads the new
// values of the parameter's slots, which their assignments read too, and
// the whole update (m, v and w for Adam) becomes one sweep writing three
// outputs. The merged value takes the place of the later chain's root, so
// a merge needs every other reader of the outputs to come after that root;
// assignments are exempt (they run after everything else, and are moved
// after the merged value).
func fuseElementwise(f *Func) (string, error) {
	cons := f.consumers()
	fetched := f.fetched()
	pos := map[*Value]int{}
	for i, v := range f.Values {
		pos[v] = i
	}
	eligible := func(v *Value, shape graph.Shape) bool {
		ar, same := nodes.ElementwiseArity(v.Op)
		if ar == 0 || isStateful(v.Op) || !v.Shape.Equal(shape) || shape.Size() == 1 {
			return false
		}
		full := 0
		for _, a := range v.Args {
			switch {
			case a.Shape.Equal(shape):
				full++
			case a.Shape.IsOpen() || a.Shape.Size() != 1:
				return false
			}
		}
		return full == len(v.Args) || (!same && ar == 2 && full == 1)
	}
	// chains, from the last root to the first
	type chain struct {
		root    *Value
		members map[*Value]bool
		outputs []*Value // the members read outside the chain
		merged  bool     // merged into a later chain
	}
	var chains []*chain
	chainOf := map[*Value]*chain{} // by root
	grouped := map[*Value]bool{}
	for i := len(f.Values) - 1; i >= 0; i-- {
		root := f.Values[i]
		if grouped[root] || !eligible(root, root.Shape) {
			continue
		}
		members := map[*Value]bool{root: true}
		for changed := true; changed; {
			changed = false
			for m := range members {
				for _, a := range m.Args {
					if members[a] || grouped[a] || fetched[a] || !eligible(a, root.Shape) {
						continue
					}
					all := true
					for _, c := range cons[a] {
						if !members[c] {
							all = false
							break
						}
					}
					if all {
						members[a] = true
						changed = true
					}
				}
			}
		}
		for m := range members {
			grouped[m] = true
		}
		c := &chain{root: root, members: members, outputs: []*Value{root}}
		chains = append(chains, c)
		chainOf[root] = c
	}
	// mergeable reports whether chain h may be merged into chain c: every
	// reader of h's outputs is in c or h, an assignment, or after c's root
	mergeable := func(c, h *chain) bool {
		for _, o := range h.outputs {
			for _, r := range cons[o] {
				if !c.members[r] && !h.members[r] && !nodes.IsAssign(r.Op) && pos[r] <= pos[c.root] {
					return false
				}
			}
		}
		return true
	}
	for _, c := range chains {
		if c.merged {
			continue
		}
		for changed := true; changed; {
			changed = false
			order := sortedMembers(c.members, pos)
			for _, m := range order {
				for _, a := range m.Args {
					h := chainOf[a]
					if h == nil || h == c || h.merged || c.members[a] || !a.Shape.Equal(c.root.Shape) || !mergeable(c, h) {
						continue
					}
					for v := range h.members {
						c.members[v] = true
					}
					c.outputs = append(c.outputs, h.outputs...)
					h.merged = true
					changed = true
				}
			}
		}
	}
	repl := map[*Value]*Value{}
	var places []placement
	groups, multi := 0, 0
	for _, c := range chains {
		if c.merged || len(c.members) < 2 {
			continue
		}
		order := sortedMembers(c.members, pos)
		// a merged chain's root that only the merged chain reads (the
		// scaled gradient of Keras's Nesterov step) is no longer an output
		isOutput := map[*Value]bool{c.root: true}
		for _, o := range c.outputs {
			if fetched[o] || slices.ContainsFunc(cons[o], func(r *Value) bool { return !c.members[r] }) {
				isOutput[o] = true
			}
		}
		stepOf := map[*Value]int{}
		var inputs []*Value
		inputOf := map[*Value]int{}
		var steps []nodes.FusedStep
		var from []string
		var outs []int
		var outVals []*Value
		for i, m := range order {
			st := nodes.FusedStep{Op: m.Op}
			for _, a := range m.Args {
				if s, ok := stepOf[a]; ok {
					st.Args = append(st.Args, s)
					continue
				}
				k, ok := inputOf[a]
				if !ok {
					k = len(inputs)
					inputOf[a] = k
					inputs = append(inputs, a)
				}
				st.Args = append(st.Args, -k-1)
			}
			stepOf[m] = i
			steps = append(steps, st)
			from = append(from, m.Name)
			if isOutput[m] {
				outs = append(outs, i)
				outVals = append(outVals, m)
			}
		}
		op, err := nodes.NewFusedElementwiseMulti(steps, outs, from)
		if err != nil {
			return "", fmt.Errorf("fusing %v: %w", from, err)
		}
		// output 0 is the fused value itself, the others Output values
		first := outVals[0]
		fused := f.NewValue(op, first.Name, first.Shape, inputs...)
		fused.From = from
		fused.Node = first.Node
		for m := range c.members {
			repl[m] = fused
		}
		for k, o := range outVals[1:] {
			ov := f.NewValue(graph.OutputOp{Index: k + 1, Shape: o.Shape}, o.Name, o.Shape, fused)
			ov.Node = o.Node
			repl[o] = ov
		}
		places = append(places, placement{c.root, fused})
		groups++
		if len(outVals) > 1 {
			multi++
		}
	}
	if groups == 0 {
		return "0 fused", nil
	}
	f.insertReplacing(repl, places)
	if multi == 0 {
		return fmt.Sprintf("%d chains fused", groups), nil
	}
	f.sinkAssigns()
	return fmt.Sprintf("%d chains fused, %d with several outputs", groups, multi), nil
}

// sinkAssigns moves each assignment that comes before one of its arguments
// (an output of a value a pass placed later) to just after that argument.
// Assignments run after everything else whatever their place, and nothing
// reads them, so the move changes no result.
func (f *Func) sinkAssigns() {
	pos := map[*Value]int{}
	for i, v := range f.Values {
		pos[v] = i
	}
	after := map[*Value][]*Value{}
	out := make([]*Value, 0, len(f.Values))
	for i, v := range f.Values {
		if nodes.IsAssign(v.Op) {
			var last *Value
			for _, a := range v.Args {
				if pos[a] > i && (last == nil || pos[a] > pos[last]) {
					last = a
				}
			}
			if last != nil {
				after[last] = append(after[last], v)
				continue
			}
		}
		out = append(out, v)
		out = append(out, after[v]...)
	}
	f.Values = out
}

func sortedMembers(members map[*Value]bool, pos map[*Value]int) []*Value {
	order := make([]*Value, 0, len(members))
	for m := range members {
		order = append(order, m)
	}
	sortByPos(order, pos)
	return order
}

func sortByPos(vs []*Value, pos map[*Value]int) {
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && pos[vs[j]] < pos[vs[j-1]]; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}

// fuseGemmUpdate folds an SGD step into the GEMM of its gradient:
// Assign(w, w − c·MatMul(a, b)), with c a single value and the product and
// the intermediate values read by nothing else, becomes one FusedGemmUpdate
// (alpha = −c, beta = 1 onto w). Lowering then lets it write w in place.
func fuseGemmUpdate(f *Func) (string, error) {
	cons := f.consumers()
	fetched := f.fetched()
	only := func(v, reader *Value) bool { return !fetched[v] && len(cons[v]) == 1 && cons[v][0] == reader }
	repl := map[*Value]*Value{}
	var places []placement
	count := 0
	for _, as := range f.Values {
		if !nodes.IsAssign(as.Op) {
			continue
		}
		w, u := as.Args[0], as.Args[1]
		if u.Op.Name() != "sub" || u.Args[0] != w || !only(u, as) {
			continue
		}
		m := u.Args[1]
		if m.Op.Name() != "mul" || !only(m, u) {
			continue
		}
		g, c := m.Args[0], m.Args[1]
		if !isMatMul(g) {
			g, c = c, g
		}
		if !isMatMul(g) || !only(g, m) || !g.Shape.Equal(w.Shape) || c.Shape.IsOpen() || c.Shape.Size() != 1 {
			continue
		}
		ta, tb, _ := nodes.MatMulTransposes(g.Op)
		op := &nodes.FusedGemmUpdate{TransA: ta, TransB: tb, From: []string{g.Name, m.Name, u.Name}}
		fused := f.NewValue(op, u.Name, u.Shape, g.Args[0], g.Args[1], c, w)
		fused.From, fused.Node = op.From, u.Node
		repl[u], repl[m], repl[g] = fused, fused, fused
		places = append(places, placement{u, fused})
		count++
	}
	if count > 0 {
		f.insertReplacing(repl, places)
	}
	return fmt.Sprintf("%d fused", count), nil
}
