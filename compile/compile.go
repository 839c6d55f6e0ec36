package compile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Options tunes the compiler. The zero value runs every pass.
type Options struct {
	// Disable names passes to skip (see Passes).
	Disable []string
	// Trace, when set, receives each pass's summary and the Func after it.
	Trace io.Writer
	// Verify compiles the graph a second time without the fusing passes
	// and checks, on random inputs and variables, that both programs give
	// the same fetches to round-off. The environment variable
	// TAPEGRAD_VERIFY=1 turns it on for every compilation.
	Verify bool
	// VerifyFeeds, when set, are the inputs Verify runs both programs on
	// (with an open batch dimension, any batch size); otherwise it draws
	// normal values, or small non-negative integers for programs that
	// reject those (class labels).
	VerifyFeeds vm.Feeds
	// MemoryLimit, when positive, caps in bytes the memory a machine
	// allocates to run the program at one batch size (the arena of its
	// plan: inputs, constants, temporaries; variables live in the store).
	// Compile plans the program for each of Batches (batch size 1 when
	// Batches is empty) and fails when one needs more, giving the plan's
	// size; the program keeps the limit (vm.Program.MemoryLimit), so a
	// machine refuses a larger batch size when it first meets it, with
	// vm.ErrMemoryLimit, before allocating anything.
	MemoryLimit int64
	// Batches are the batch sizes Compile checks against MemoryLimit.
	Batches []int
}

// Compile turns the part of g that fetches depend on into a program. It
// returns g's first builder error before anything else.
func Compile(g *graph.Graph, fetches []*graph.Node, opts Options) (*vm.Program, error) {
	return compileWith(g, fetches, opts, opts.Verify || verifyEnv)
}

// compileWith is Compile, verifying the program when check is set.
func compileWith(g *graph.Graph, fetches []*graph.Node, opts Options, check bool) (*vm.Program, error) {
	if g == nil {
		return nil, errors.New("compile: nil graph")
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	if len(fetches) == 0 {
		return nil, errors.New("compile: nothing to fetch")
	}
	for i, n := range fetches {
		switch {
		case n == nil:
			return nil, fmt.Errorf("compile: fetch %d is nil", i)
		case n.Graph() != g:
			return nil, fmt.Errorf("compile: fetch %d (%q) belongs to another graph", i, n.Name())
		case n.IsPoisoned():
			return nil, fmt.Errorf("compile: fetch %d is the result of a failed builder call", i)
		}
	}
	if opts.MemoryLimit < 0 {
		return nil, fmt.Errorf("compile: Options.MemoryLimit is %d", opts.MemoryLimit)
	}
	for _, b := range opts.Batches {
		if b < 0 {
			return nil, fmt.Errorf("compile: Options.Batches has batch size %d", b)
		}
	}
	for _, d := range opts.Disable {
		if !slices.ContainsFunc(Passes, func(p Pass) bool { return p.Name == d }) {
			return nil, fmt.Errorf("compile: unknown pass %q in Options.Disable", d)
		}
	}
	f := fromGraph(g, fetches)
	var log []string
	for _, p := range Passes {
		if slices.Contains(opts.Disable, p.Name) {
			log = append(log, p.Name+": disabled")
			continue
		}
		summary, err := p.Run(f)
		if err != nil {
			return nil, fmt.Errorf("compile: pass %s: %w", p.Name, err)
		}
		log = append(log, p.Name+": "+summary)
		if opts.Trace != nil {
			fmt.Fprintf(opts.Trace, "== %s: %s\n%s", p.Name, summary, f)
		}
	}
	prog, err := lower(f, planOptions{disabled: slices.Contains(opts.Disable, "plan-memory")})
	if err != nil {
		return nil, err
	}
	prog.Passes = log
	for _, in := range g.Inputs() {
		prog.GraphInputs = append(prog.GraphInputs, in.Name())
	}
	if opts.MemoryLimit > 0 {
		prog.MemoryLimit = opts.MemoryLimit
		batches := opts.Batches
		if len(batches) == 0 {
			batches = []int{1}
		}
		m := vm.NewMachine(prog, nil)
		for _, b := range batches {
			if err := m.CheckBatch(b); err != nil {
				return nil, fmt.Errorf("compile: Options.MemoryLimit: %w", err)
			}
		}
	}
	if check {
		if err := verify(g, fetches, opts, prog); err != nil {
			return nil, err
		}
	}
	return prog, nil
}

// verifyEnv turns Verify on for every compilation when TAPEGRAD_VERIFY is
// set to 1 or true: .ci/run runs the whole test suite so (with OpenBLAS),
// checking every program any test compiles against its unfused twin.
var verifyEnv = func() bool {
	v := os.Getenv("TAPEGRAD_VERIFY")
	return v == "1" || v == "true"
}()

// planOptions carries the plan-memory pass's switch into lowering: the
// pass itself is the memory planner of package vm, which lays the buffers
// out when a machine first sees a batch size; lowering marks what it may
// do (views for reshapes, in-place element-wise instructions, hoisted
// instructions).
type planOptions struct{ disabled bool }

// lower emits the program: a buffer per value (one per output for ops with
// several), an instruction per non-leaf value, and the assignments last.
func lower(f *Func, views planOptions) (*vm.Program, error) {
	p := &vm.Program{DType: f.DType}
	buf := map[*Value]int32{}
	extra := map[*Value][]int32{} // buffers of outputs 1.. of multi-output values
	newBuf := func(b vm.Buffer) int32 {
		p.Bufs = append(p.Bufs, b)
		return int32(len(p.Bufs) - 1)
	}
	var assigns []vm.Inst
	assigned := map[*Value]bool{}
	// invariant values depend on variables and constants only: their
	// instructions are hoisted out of the run (recomputed when the store
	// changes)
	invariant := map[*Value]bool{}
	for _, v := range f.Values {
		for _, a := range v.Args {
			if assigned[a] {
				return nil, fmt.Errorf("compile: %s %q uses the result of assign %q: an assignment may be fetched but not used by another op", graph.OpString(v.Op), v.Name, a.Name)
			}
		}
		switch op := v.Op.(type) {
		case graph.InputOp:
			buf[v] = newBuf(vm.Buffer{Kind: vm.BufInput, Name: v.Name, Shape: v.Shape})
			p.Inputs = append(p.Inputs, buf[v])
		case graph.VariableOp:
			buf[v] = newBuf(vm.Buffer{Kind: vm.BufVariable, Name: v.Name, Shape: v.Shape})
			invariant[v] = true
		case graph.ConstantOp:
			buf[v] = newBuf(vm.Buffer{Kind: vm.BufConstant, Name: v.Name, Shape: v.Shape, Data: op.Data})
			invariant[v] = true
		case graph.OutputOp:
			parent := v.Args[0]
			invariant[v] = invariant[parent]
			if op.Index < 1 || op.Index > len(extra[parent]) {
				return nil, fmt.Errorf("compile: output %d of %q does not exist", op.Index, parent.Name)
			}
			buf[v] = extra[parent][op.Index-1]
			p.Bufs[buf[v]].Name = v.Name
		default:
			if nodes.IsAssign(v.Op) {
				target := v.Args[0]
				buf[v] = buf[target]
				assigns = append(assigns, vm.Inst{Op: vm.OpAssign, Dst: []int32{buf[target]}, Src: []int32{buf[v.Args[1]]}, Note: v.Name})
				assigned[v] = true
				continue
			}
			if nodes.IsReshape(v.Op) && !views.disabled {
				if src := buf[v.Args[0]]; p.Bufs[src].Kind != vm.BufVariable {
					// a reshape of contiguous memory is a view: no copy
					buf[v] = newBuf(vm.Buffer{Kind: vm.BufTemp, Name: v.Name, Shape: v.Shape, View: true, ViewOf: src})
					invariant[v] = invariant[v.Args[0]]
					continue
				}
			}
			k, ok := v.Op.(vm.Kernel)
			if !ok {
				return nil, fmt.Errorf("compile: %s %q: op has no kernel", graph.OpString(v.Op), v.Name)
			}
			buf[v] = newBuf(vm.Buffer{Kind: vm.BufTemp, Name: v.Name, Shape: v.Shape})
			inst := vm.Inst{Op: vm.OpCall, Dst: []int32{buf[v]}, Aux: int32(len(p.Kernels)), Note: v.Name}
			if len(v.From) > 1 {
				inst.Note = strings.Join(v.From, " + ")
			}
			inst.InPlace = nodes.InPlace(v.Op) && !views.disabled
			hoist := !isStateful(v.Op) && !views.disabled
			for _, a := range v.Args {
				hoist = hoist && invariant[a]
			}
			inst.Hoist = hoist
			invariant[v] = hoist
			if mo, ok := v.Op.(graph.MultiOp); ok {
				in := make([]graph.Shape, len(v.Args))
				for i, a := range v.Args {
					in[i] = a.Shape
				}
				shapes, err := mo.OutputShapes(in)
				if err != nil {
					return nil, fmt.Errorf("compile: %s %q: %w", graph.OpString(v.Op), v.Name, err)
				}
				for i := 1; i < len(shapes); i++ {
					b := newBuf(vm.Buffer{Kind: vm.BufTemp, Name: fmt.Sprintf("%s:%d", v.Name, i), Shape: shapes[i]})
					extra[v] = append(extra[v], b)
					inst.Dst = append(inst.Dst, b)
				}
			}
			for _, a := range v.Args {
				inst.Src = append(inst.Src, buf[a])
			}
			p.Kernels = append(p.Kernels, k)
			p.Insts = append(p.Insts, inst)
		}
	}
	for _, v := range f.Fetches {
		p.Fetches = append(p.Fetches, buf[v])
	}
	if !views.disabled {
		assigns = assignInPlace(p, assigns)
	}
	p.Insts = append(p.Insts, assigns...)
	return p, nil
}

// accumulatesOnto reports whether in is a kernel that accumulates onto its
// input holding the variable v (an SGD step folded into a GEMM), and may
// so write its result over v.
func accumulatesOnto(p *vm.Program, in vm.Inst, v int32) bool {
	if in.Op != vm.OpCall {
		return false
	}
	acc, ok := p.Kernels[in.Aux].(nodes.Accumulator)
	if !ok {
		return false
	}
	k := acc.AccumulatesInto()
	return k >= 0 && k < len(in.Src) && in.Src[k] == v
}

// assignInPlace lets the element-wise instruction that computes an
// assigned value write it straight into the variable, instead of into a
// temporary that the assignment then copies (an SGD update becomes one
// sweep over the weights). Those instructions move to the end of the body,
// after everything that could fail or read the old value, so that a failed
// step still changes no variable. It returns the assignments still needed.
func assignInPlace(p *vm.Program, assigns []vm.Inst) []vm.Inst {
	writer := map[int32]int{} // temp buffer → the instruction writing it
	for i, in := range p.Insts {
		if in.Op == vm.OpCall && len(in.Dst) == 1 {
			writer[in.Dst[0]] = i
		}
	}
	readers := map[int32][]int{} // buffer → instructions reading it
	for i, in := range p.Insts {
		for _, s := range in.Src {
			readers[s] = append(readers[s], i)
		}
	}
	fetched := map[int32]bool{}
	for _, f := range p.Fetches {
		fetched[f] = true
	}
	// candidates: assignment index → the instruction computing its value
	cand := map[int]int{}
	target := map[int]int32{} // instruction → the variable it would write
	for a, as := range assigns {
		s, v := as.Src[0], as.Dst[0]
		i, ok := writer[s]
		if !ok || p.Insts[i].Hoist || p.Bufs[s].View || fetched[s] {
			continue
		}
		if !p.Insts[i].InPlace && !accumulatesOnto(p, p.Insts[i], v) {
			continue
		}
		if _, taken := target[i]; taken {
			continue // the value is assigned to two variables
		}
		cand[a], target[i] = i, v
	}
	// a moved instruction's output may only be read by other moved
	// instructions (which will read the variable instead); drop the others
	// until nothing changes
	for changed := true; changed; {
		changed = false
		for a, i := range cand {
			for _, r := range readers[p.Insts[i].Dst[0]] {
				if _, moved := target[r]; !moved {
					delete(cand, a)
					delete(target, i)
					changed = true
					break
				}
			}
		}
	}
	// no moved instruction may read a variable that an earlier moved one
	// has already overwritten
	for changed := true; changed; {
		changed = false
		for a, i := range cand {
			v := target[i]
			for _, r := range readers[v] {
				if _, moved := target[r]; moved && r > i {
					delete(cand, a)
					delete(target, i)
					changed = true
					break
				}
			}
		}
	}
	if len(cand) == 0 {
		return assigns
	}
	// rewrite: the moved instructions write the variable and their readers
	// read it
	newBuf := map[int32]int32{}
	for i, v := range target {
		s := p.Insts[i].Dst[0]
		newBuf[s] = v
		// the temporary is no longer written: make it another binding of
		// the variable, so that the planner gives it no memory
		p.Bufs[s] = vm.Buffer{Kind: vm.BufVariable, Name: p.Bufs[v].Name, Shape: p.Bufs[v].Shape}
	}
	var body, tail []vm.Inst
	for i, in := range p.Insts {
		in.Src = slices.Clone(in.Src)
		for k, s := range in.Src {
			if v, ok := newBuf[s]; ok {
				in.Src[k] = v
			}
		}
		if v, ok := target[i]; ok {
			in.Dst = []int32{v}
			tail = append(tail, in)
			continue
		}
		body = append(body, in)
	}
	p.Insts = append(body, tail...)
	var left []vm.Inst
	for a, as := range assigns {
		if _, done := cand[a]; !done {
			left = append(left, as)
		}
	}
	return left
}

func tensorOf(dt graph.DType, shape graph.Shape, vals []float64) (*tensor.Dense, error) {
	if dt == graph.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return vm.FromSlice(f, shape...)
	}
	return vm.FromSlice(vals, shape...)
}

func floats(t *tensor.Dense) []float64 {
	switch t.Dtype() {
	case tensor.Float64:
		return t.Float64s()
	case tensor.Float32:
		d := t.Float32s()
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	return nil
}
