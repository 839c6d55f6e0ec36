package compile

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// replaceUses points every use of a value (arguments and fetches) at its
// replacement and drops the replaced values from f.Values.
func (f *Func) replaceUses(repl map[*Value]*Value) {
	if len(repl) == 0 {
		return
	}
	resolve := func(v *Value) *Value {
		for {
			r, ok := repl[v]
			if !ok {
				return v
			}
			v = r
		}
	}
	kept := f.Values[:0]
	for _, v := range f.Values {
		if _, gone := repl[v]; gone {
			continue
		}
		for i, a := range v.Args {
			v.Args[i] = resolve(a)
		}
		kept = append(kept, v)
	}
	f.Values = kept
	for i, v := range f.Fetches {
		f.Fetches[i] = resolve(v)
	}
}

// fetched reports the values that are fetched.
func (f *Func) fetched() map[*Value]bool {
	m := map[*Value]bool{}
	for _, v := range f.Fetches {
		m[v] = true
	}
	return m
}

// Stateful is implemented by ops whose kernel keeps state between runs or
// draws random numbers (RReLU's slopes, dropout masks): the compiler never
// merges, folds or removes them.
type Stateful interface {
	Stateful() bool
}

func isStateful(op graph.Op) bool {
	s, ok := op.(Stateful)
	return (ok && s.Stateful()) || nodes.IsAssign(op)
}

// cse merges values that compute the same thing: the same op with the same
// attributes (compared structurally, field by field through their %#v
// formatting — exact text equality, not a hash) on the same arguments.
func cse(f *Func) (string, error) {
	seen := map[string]*Value{}
	repl := map[*Value]*Value{}
	for _, v := range f.Values {
		switch v.Op.(type) {
		case graph.InputOp, graph.VariableOp:
			continue
		}
		if isStateful(v.Op) {
			continue
		}
		key := fmt.Sprintf("%#v", v.Op)
		for _, a := range v.Args {
			if r, ok := repl[a]; ok {
				a = r
			}
			key += fmt.Sprintf("|%d", a.ID)
		}
		if prev, ok := seen[key]; ok {
			repl[v] = prev
			continue
		}
		seen[key] = v
	}
	before := len(f.Values)
	f.replaceUses(repl)
	return fmt.Sprintf("values %d → %d", before, len(f.Values)), nil
}

// foldLimit is the largest value (in elements) constant folding computes.
const foldLimit = 1 << 16

// foldConstants evaluates, at compile time and in the graph's dtype, every
// value whose arguments are all constants.
func foldConstants(f *Func) (string, error) {
	folded := 0
	for _, v := range f.Values {
		if len(v.Args) == 0 || isStateful(v.Op) || v.Shape.IsOpen() || v.Shape.Size() > foldLimit {
			continue
		}
		if _, multi := v.Op.(graph.MultiOp); multi {
			continue
		}
		k, ok := v.Op.(vm.Kernel)
		if !ok {
			continue
		}
		all := true
		for _, a := range v.Args {
			if _, c := a.Op.(graph.ConstantOp); !c {
				all = false
			}
		}
		if !all {
			continue
		}
		data, err := evalConst(f.DType, k, v)
		if err != nil {
			continue // leave it to run time, where the error is reported
		}
		c := f.NewValue(graph.ConstantOp{Shape: v.Shape, Data: data}, v.Name, v.Shape)
		c.From = []string{v.Name}
		*v = Value{ID: v.ID, Op: c.Op, Shape: v.Shape, Name: v.Name, Node: v.Node, From: c.From}
		folded++
	}
	return fmt.Sprintf("%d folded", folded), nil
}

// evalConst runs one kernel over constant arguments.
func evalConst(dt graph.DType, k vm.Kernel, v *Value) ([]float64, error) {
	p := &vm.Program{DType: dt}
	inst := vm.Inst{Op: vm.OpCall, Aux: 0}
	for _, a := range v.Args {
		c := a.Op.(graph.ConstantOp)
		inst.Src = append(inst.Src, int32(len(p.Bufs)))
		p.Bufs = append(p.Bufs, vm.Buffer{Kind: vm.BufConstant, Name: a.Name, Shape: c.Shape, Data: c.Data})
	}
	inst.Dst = []int32{int32(len(p.Bufs))}
	p.Bufs = append(p.Bufs, vm.Buffer{Kind: vm.BufTemp, Name: v.Name, Shape: v.Shape})
	p.Insts = []vm.Inst{inst}
	p.Kernels = []vm.Kernel{k}
	p.Fetches = inst.Dst
	out, err := vm.NewMachine(p, vm.NewStore()).Run(vm.Feeds{})
	if err != nil {
		return nil, err
	}
	// Float64s/Float32s, not Data: gorgonia's Data panics on a value with
	// no elements (a [2,0] constant), and returns a bare number for a scalar
	if dt == graph.Float64 {
		return out[0].Float64s(), nil
	}
	d := out[0].Float32s()
	r := make([]float64, len(d))
	for i, x := range d {
		r[i] = float64(x)
	}
	return r, nil
}

// constValue returns the value of a constant that holds one value repeated.
func constValue(v *Value) (float64, bool) {
	c, ok := v.Op.(graph.ConstantOp)
	if !ok {
		return 0, false
	}
	if x, ok := c.Scalar(); ok {
		return x, true
	}
	for _, d := range c.Data[1:] {
		if d != c.Data[0] {
			return 0, false
		}
	}
	return c.Data[0], len(c.Data) > 0
}

// simplify applies algebraic identities that keep the result's shape and
// value: x+0, 0+x, x−0, x·1, 1·x, x/1, −(−x) (x+0 is x except that
// −0+0 = +0, a difference no comparison sees), reshape to the same shape,
// reshape of a reshape, stop_gradient (which only matters to autodiff).
// A fetched value is never replaced by a leaf, so that a fetch of w+0 does
// not see w after an assignment.
func simplify(f *Func) (string, error) {
	fetched := f.fetched()
	repl := map[*Value]*Value{}
	rewrites := 0
	for _, v := range f.Values {
		args := v.Args
		for i, a := range args {
			if r, ok := repl[a]; ok {
				args[i] = r
			}
		}
		var to *Value
		is := func(a *Value, c float64) bool {
			x, ok := constValue(a)
			return ok && x == c
		}
		same := func(a *Value) bool { return a.Shape.Equal(v.Shape) }
		switch v.Op.Name() {
		case "add":
			if is(args[1], 0) && same(args[0]) {
				to = args[0]
			} else if is(args[0], 0) && same(args[1]) {
				to = args[1]
			}
		case "sub":
			if is(args[1], 0) && same(args[0]) {
				to = args[0]
			}
		case "mul":
			if is(args[1], 1) && same(args[0]) {
				to = args[0]
			} else if is(args[0], 1) && same(args[1]) {
				to = args[1]
			}
		case "div":
			if is(args[1], 1) && same(args[0]) {
				to = args[0]
			}
		case "neg":
			if args[0].Op.Name() == "neg" {
				to = args[0].Args[0]
			}
		case "stop_gradient":
			to = args[0]
		case "reshape":
			if same(args[0]) {
				to = args[0]
			} else if args[0].Op.Name() == "reshape" {
				v.Args = []*Value{args[0].Args[0]}
				rewrites++
			}
		}
		if to == nil {
			continue
		}
		if fetched[v] && isLeaf(to) {
			continue
		}
		repl[v] = to
		rewrites++
	}
	f.replaceUses(repl)
	if _, err := prune(f); err != nil { // drop what the rewrites made dead
		return "", err
	}
	return fmt.Sprintf("%d rewrites", rewrites), nil
}
