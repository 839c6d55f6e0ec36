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
	return compileWith(g, fetches, opts, opts.Verify || verifyEnv())
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
	prog, err := lower(f)
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

// verifyEnv reports whether TAPEGRAD_VERIFY is 1 or true, which turns
// Verify on for every compilation: .ci/run runs the whole test suite so
// (with OpenBLAS), checking every program any test compiles against its
// unfused twin, and the tests of this package (TestMain) set it unless it
// is set already. It is read at each Compile, so that a TestMain can set
// it.
func verifyEnv() bool {
	v := os.Getenv("TAPEGRAD_VERIFY")
	return v == "1" || v == "true"
}

// lower emits the program: a buffer per value (one per output for ops with
// several), an instruction per non-leaf value, and the assignments last.
// What the plan-memory pass marked (f.plan) becomes views, in-place and
// hoisted instructions; without its marks (the pass disabled) every
// reshape is a copy, nothing is hoisted or written in place, and the
// program asks the planner for a block of memory per buffer.
func lower(f *Func) (*vm.Program, error) {
	p := &vm.Program{DType: f.DType, NoMemoryReuse: f.plan == nil}
	marks := f.plan
	if marks == nil {
		marks = &planMarks{}
	}
	buf := map[*Value]int32{}
	extra := map[*Value][]int32{} // buffers of outputs 1.. of multi-output values
	newBuf := func(b vm.Buffer) int32 {
		p.Bufs = append(p.Bufs, b)
		return int32(len(p.Bufs) - 1)
	}
	var assigns []vm.Inst
	assigned := map[*Value]bool{}
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
		case graph.ConstantOp:
			buf[v] = newBuf(vm.Buffer{Kind: vm.BufConstant, Name: v.Name, Shape: v.Shape, Data: op.Data})
		case graph.OutputOp:
			parent := v.Args[0]
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
			if marks.view[v] {
				// a reshape of contiguous memory is a view: no copy
				buf[v] = newBuf(vm.Buffer{Kind: vm.BufTemp, Name: v.Name, Shape: v.Shape, View: true, ViewOf: buf[v.Args[0]]})
				continue
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
			inst.InPlace, inst.Hoist = marks.inPlace[v], marks.hoist[v]
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
	if f.plan != nil {
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
// sweep over the weights; a fused update with several outputs, such as
// Adam's, writes the parameter and each of its slots). Those instructions
// move to the end of the body, after everything that could fail or read
// the old value, so that a failed step still changes no variable. It
// returns the assignments still needed.
func assignInPlace(p *vm.Program, assigns []vm.Inst) []vm.Inst {
	type output struct{ inst, k int } // output k of instruction inst
	writer := map[int32]output{}      // temp buffer → the output writing it
	for i, in := range p.Insts {
		if in.Op == vm.OpCall {
			for k, d := range in.Dst {
				writer[d] = output{i, k}
			}
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
	// candidates: assignment index → the output computing its value
	cand := map[int]output{}
	target := map[output]int32{} // output → the variable it would write
	taken := map[int32]bool{}    // variables some output would write
	moved := map[int]int{}       // instruction → how many of its outputs write a variable
	for a, as := range assigns {
		s, v := as.Src[0], as.Dst[0]
		o, ok := writer[s]
		if !ok || p.Insts[o.inst].Hoist || p.Bufs[s].View || fetched[s] || taken[v] {
			continue
		}
		if !p.Insts[o.inst].InPlace && !(len(p.Insts[o.inst].Dst) == 1 && accumulatesOnto(p, p.Insts[o.inst], v)) {
			continue
		}
		if _, dup := target[o]; dup {
			continue // the value is assigned to two variables
		}
		cand[a], target[o], taken[v] = o, v, true
		moved[o.inst]++
	}
	drop := func(a int) {
		o := cand[a]
		delete(cand, a)
		delete(target, o)
		if moved[o.inst]--; moved[o.inst] == 0 {
			delete(moved, o.inst)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, a := range sortedKeys(cand) {
			o, ok := cand[a]
			if !ok {
				continue
			}
			in := p.Insts[o.inst]
			// every output of a moved instruction may only be read by
			// other moved instructions (which will read the variable, or
			// the temporary written earlier in the tail)
			bad := false
			for _, d := range in.Dst {
				for _, r := range readers[d] {
					if _, ok := moved[r]; !ok {
						bad = true
					}
				}
			}
			if bad {
				for _, b := range sortedKeys(cand) {
					if cand[b].inst == o.inst {
						drop(b)
					}
				}
				changed = true
				continue
			}
			// no later moved instruction may read the variable this one
			// overwrites (the instruction itself may: a fused kernel
			// reads each element before it writes it)
			for _, r := range readers[target[o]] {
				if _, ok := moved[r]; ok && r > o.inst {
					drop(a)
					changed = true
					break
				}
			}
		}
	}
	if len(cand) == 0 {
		return assigns
	}
	// rewrite: the moved instructions write the variables and their
	// readers read them
	newBuf := map[int32]int32{}
	for o, v := range target {
		s := p.Insts[o.inst].Dst[o.k]
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
		if _, ok := moved[i]; ok {
			in.Dst = slices.Clone(in.Dst)
			for k, d := range in.Dst {
				if v, ok := newBuf[d]; ok {
					in.Dst[k] = v
				}
			}
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

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
