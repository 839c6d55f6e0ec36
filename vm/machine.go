package vm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// MultiOutput is implemented by kernels with more than one output; the
// machine asks it for the concrete shapes of all outputs.
type MultiOutput interface {
	OutputShapes(inputs []graph.Shape) ([]graph.Shape, error)
}

// ErrFeed is matched (errors.Is) by every error about a feed: a missing or
// unknown input, a wrong shape or dtype.
var ErrFeed = errors.New("bad feed")

// Machine runs one program against one store. It keeps, per batch size, the
// concrete buffers and bound kernels it built the first time it saw that
// batch size, so that later runs allocate nothing. A machine is used by one
// goroutine at a time; make one machine per goroutine to run a program
// concurrently.
type Machine struct {
	prog  *Program
	store *Store
	cache map[int]runner
	guard bool  // the NaN/Inf guard (SetGuard)
	limit int64 // the arena limit in bytes (SetMemoryLimit); 0: none
	// checked: the program's buffer and kernel references are valid
	checked bool
}

// runner is an instance of the program for one batch size.
type runner interface {
	load(feeds Feeds) error
	exec(guard bool) error
	fetch(i int) *tensor.Dense
	fetchCopy(i int) *tensor.Dense
	concrete() []graph.Shape
}

// NewMachine returns a machine for prog whose variables live in store.
// Nothing is checked until the first run: a missing variable is reported by
// Run.
func NewMachine(prog *Program, store *Store) *Machine {
	m := &Machine{prog: prog, store: store, cache: map[int]runner{}}
	if prog != nil {
		m.limit = prog.MemoryLimit
	}
	return m
}

// Program returns the machine's program.
func (m *Machine) Program() *Program { return m.prog }

// Store returns the store the machine's variables live in.
func (m *Machine) Store() *Store { return m.store }

// Run feeds the program, runs it and returns copies of the fetched values,
// in the order the program was compiled with. A missing, unknown or
// misshapen feed, a variable missing from the store, or a data-dependent
// kernel error (a label out of range) returns an error and nothing else; a
// kernel error names the node the failing instruction computes and the
// concrete shape of its output, and wraps what the kernel reported.
func (m *Machine) Run(feeds Feeds) ([]*tensor.Dense, error) {
	r, err := m.Exec(feeds)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Dense, len(m.prog.Fetches))
	for i := range out {
		out[i] = r.r.fetchCopy(i)
	}
	return out, nil
}

// Exec feeds and runs the program without copying the results out, and
// returns a Result whose tensors share the machine's memory: they stay valid
// until the next run of the machine. In steady state (a batch size seen
// before) Exec allocates nothing.
func (m *Machine) Exec(feeds Feeds) (Result, error) {
	if m == nil || m.prog == nil {
		return Result{}, errors.New("vm: nil machine or program")
	}
	if !m.checked {
		if err := m.prog.Validate(); err != nil {
			return Result{}, err
		}
		m.checked = true
	}
	if m.store == nil {
		return Result{}, errors.New("vm: machine has no store")
	}
	batch, err := m.batchOf(feeds)
	if err != nil {
		return Result{}, err
	}
	r, ok := m.cache[batch]
	if !ok {
		if m.prog.DType == graph.Float32 {
			r, err = newInstance[float32](m.prog, m.store, batch, m.limit)
		} else {
			r, err = newInstance[float64](m.prog, m.store, batch, m.limit)
		}
		if err != nil {
			return Result{}, err
		}
		m.cache[batch] = r
	}
	if err := r.load(feeds); err != nil {
		return Result{}, err
	}
	if err := r.exec(m.guard); err != nil {
		return Result{}, err
	}
	return Result{r: r, n: len(m.prog.Fetches)}, nil
}

// Shapes returns the concrete shape of every buffer of the program for a
// batch size the machine has run, or nil.
func (m *Machine) Shapes(batch int) []graph.Shape {
	if r, ok := m.cache[batch]; ok {
		return r.concrete()
	}
	return nil
}

// Result gives access to the fetched values of the last run of a machine.
type Result struct {
	r runner
	n int
}

// Len is the number of fetched values.
func (r Result) Len() int { return r.n }

// At returns fetched value i as a tensor sharing the machine's memory, valid
// until the machine runs again; nil when i is out of range.
func (r Result) At(i int) *tensor.Dense {
	if r.r == nil || i < 0 || i >= r.n {
		return nil
	}
	return r.r.fetch(i)
}

// batchOf checks the feeds against the program's inputs and returns the
// batch size they agree on (0 when no input has an open dimension).
func (m *Machine) batchOf(feeds Feeds) (int, error) {
	p := m.prog
	batch, batchFrom := -1, ""
	for _, b := range p.Inputs {
		buf := p.Bufs[b]
		t, ok := feeds[buf.Name]
		if !ok || t == nil {
			return 0, fmt.Errorf("vm: %w: input %q is not fed (want %v%v)", ErrFeed, buf.Name, p.DType, buf.Shape)
		}
		if dt := dtypeOf(t); dt != p.DType {
			return 0, fmt.Errorf("vm: %w: input %q: dtype %v, want %v", ErrFeed, buf.Name, t.Dtype(), p.DType)
		}
		shape := t.Shape()
		if len(shape) != len(buf.Shape) {
			return 0, fmt.Errorf("vm: %w: input %q: shape %v, want %v%v", ErrFeed, buf.Name, graph.Shape(shape), p.DType, buf.Shape)
		}
		for i, d := range buf.Shape {
			if d == graph.Batch {
				if batch >= 0 && shape[i] != batch {
					return 0, fmt.Errorf("vm: %w: input %q has batch size %d, input %q has %d", ErrFeed, buf.Name, shape[i], batchFrom, batch)
				}
				batch, batchFrom = shape[i], buf.Name
				continue
			}
			if shape[i] != d {
				return 0, fmt.Errorf("vm: %w: input %q: shape %v, want %v%v", ErrFeed, buf.Name, graph.Shape(shape), p.DType, buf.Shape)
			}
		}
	}
	for name := range feeds {
		if !slices.ContainsFunc(p.Inputs, func(b int32) bool { return p.Bufs[b].Name == name }) && !p.knows(name) {
			return 0, fmt.Errorf("vm: %w: unknown input %q (inputs: %v)", ErrFeed, name, p.InputNames())
		}
	}
	if batch < 0 {
		batch = 0
	}
	return batch, nil
}

// knows reports whether name is an input of the graph the program was
// compiled from, even if the program does not need it.
func (p *Program) knows(name string) bool { return slices.Contains(p.GraphInputs, name) }

type instance[T float32 | float64] struct {
	prog    *Program
	store   *Store
	batch   int
	shapes  []graph.Shape
	bufs    [][]T
	hoisted []func() // instructions that read only variables and constants
	body    []func() // the other instructions, in order
	// update: the instructions from the first that writes straight into a
	// variable on (the compiler moves the updates that overwrite their
	// variable in place to the end of the program); they run after the
	// status check, with the assignments, so that a failed run leaves the
	// store as it was
	update  []func()
	assigns []func() // writes into variables, run last
	gen     uint64   // store generation the hoisted values were computed at
	status  kernel.Status
	fetches []*tensor.Dense
	plan    Plan
	// for the guard: the instruction behind each of hoisted and body, and
	// copies of the inputs an in-place instruction overwrites
	hoistedAt []guardInfo
	bodyAt    []guardInfo
	updateAt  []guardInfo
	saved     [][]T
	scan      []T              // the buffer nonFinite checks in parallel
	scanBad   atomic.Bool      // a chunk of scan is not finite
	scanChunk func(lo, hi int) // checks a chunk of scan; made on first use
}

// ConcreteShapes returns the shape of every buffer of p for a batch size:
// leaves from their declarations, the rest from the kernels' shape rules.
func (p *Program) ConcreteShapes(batch int) ([]graph.Shape, error) {
	if batch < 0 {
		return nil, fmt.Errorf("vm: batch size %d is negative", batch)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	shapes := make([]graph.Shape, len(p.Bufs))
	for i, b := range p.Bufs {
		if b.Kind != BufTemp {
			shapes[i] = b.Shape.WithBatch(batch)
		}
	}
	for i, b := range p.Bufs {
		if b.View {
			shapes[i] = b.Shape.WithBatch(batch)
			if src := shapes[b.ViewOf]; src != nil && src.Size() != shapes[i].Size() {
				return nil, fmt.Errorf("vm: batch size %d: view %q of %v has shape %v", batch, b.Name, src, shapes[i])
			}
		}
	}
	for _, inst := range p.Insts {
		srcShapes := make([]graph.Shape, len(inst.Src))
		for j, sb := range inst.Src {
			srcShapes[j] = shapes[sb]
		}
		switch inst.Op {
		case OpCopy, OpAssign:
			shapes[inst.Dst[0]] = srcShapes[0]
		case OpCall:
			k := p.Kernels[inst.Aux]
			if mo, ok := k.(MultiOutput); ok {
				outs, err := mo.OutputShapes(srcShapes)
				if err != nil {
					return nil, fmt.Errorf("vm: batch size %d: %s: %w", batch, p.InstString(inst), err)
				}
				if len(outs) != len(inst.Dst) {
					return nil, fmt.Errorf("vm: %s: %d outputs for %d buffers", p.InstString(inst), len(outs), len(inst.Dst))
				}
				for j, d := range inst.Dst {
					shapes[d] = outs[j]
				}
			} else {
				out, err := k.InferShape(srcShapes)
				if err != nil {
					return nil, fmt.Errorf("vm: batch size %d: %s: %w", batch, p.InstString(inst), err)
				}
				shapes[inst.Dst[0]] = out
			}
		}
		for _, d := range inst.Dst {
			// views of this instruction's outputs get their shapes now
			for i, b := range p.Bufs {
				if b.View && b.ViewOf == d && shapes[i] == nil {
					shapes[i] = b.Shape.WithBatch(batch)
				}
			}
		}
	}
	for i, sh := range shapes {
		if sh == nil {
			shapes[i] = p.Bufs[i].Shape.WithBatch(batch)
		}
	}
	return shapes, nil
}

// PlanFor returns the concrete shapes and the memory plan of p for a batch
// size (Explain prints them).
func (p *Program) PlanFor(batch int) ([]graph.Shape, Plan, error) {
	shapes, sizes, err := p.concreteSizes(batch)
	if err != nil {
		return nil, Plan{}, err
	}
	return shapes, planMemory(p, sizes), nil
}

func newInstance[T float32 | float64](p *Program, s *Store, batch int, limit int64) (*instance[T], error) {
	shapes, sizes, err := p.concreteSizes(batch)
	if err != nil {
		return nil, err
	}
	plan := planMemory(p, sizes)
	if err := p.checkMemory(batch, plan, limit); err != nil {
		return nil, err
	}
	in := &instance[T]{prog: p, store: s, batch: batch, shapes: shapes, bufs: make([][]T, len(p.Bufs)), plan: plan}
	arena := make([]T, plan.Arena)
	for i, b := range p.Bufs {
		n := shapes[i].Size()
		if b.Kind == BufVariable {
			d, err := bindVar[T](s, b.Name, shapes[i], p.DType)
			if err != nil {
				return nil, err
			}
			in.bufs[i] = d
			continue
		}
		off := plan.Offset[i]
		in.bufs[i] = arena[off : off+n : off+n]
		if b.Kind == BufConstant {
			if len(b.Data) == 1 {
				for j := range in.bufs[i] {
					in.bufs[i][j] = T(b.Data[0])
				}
			} else {
				for j, v := range b.Data {
					in.bufs[i][j] = T(v)
				}
			}
		}
	}
	// bind kernels
	maxSrc := 0
	for i, inst := range p.Insts {
		maxSrc = max(maxSrc, len(inst.Src))
		a := &kernel.Args[T]{Status: &in.status}
		for _, sb := range inst.Src {
			a.In = append(a.In, in.shapes[sb])
			a.Src = append(a.Src, in.bufs[sb])
		}
		for _, db := range inst.Dst {
			a.Out = append(a.Out, in.shapes[db])
			a.Dst = append(a.Dst, in.bufs[db])
		}
		var f func()
		switch inst.Op {
		case OpCopy, OpAssign:
			d, src := a.Dst[0], a.Src[0]
			f = func() { copy(d, src) }
		case OpCall:
			f = bindKernel(p.Kernels[inst.Aux], a)
		default:
			return nil, fmt.Errorf("vm: unknown opcode %v", inst.Op)
		}
		gi := guardInfo{inst: int32(i), aliased: aliasedInputs(inst, plan, sizes)}
		switch {
		case inst.Op == OpAssign:
			in.assigns = append(in.assigns, f)
		case inst.Hoist:
			in.hoisted = append(in.hoisted, f)
			in.hoistedAt = append(in.hoistedAt, gi)
		case len(in.update) > 0 || writesVariable(p, inst):
			in.update = append(in.update, f)
			in.updateAt = append(in.updateAt, gi)
		default:
			in.body = append(in.body, f)
			in.bodyAt = append(in.bodyAt, gi)
		}
	}
	in.saved = make([][]T, maxSrc)
	for _, f := range p.Fetches {
		in.fetches = append(in.fetches, newDense(in.shapes[f], in.bufs[f]))
	}
	return in, nil
}

// writesVariable reports whether inst writes straight into a variable.
func writesVariable(p *Program, inst Inst) bool {
	for _, d := range inst.Dst {
		if p.Bufs[d].Kind == BufVariable {
			return true
		}
	}
	return false
}

func bindKernel[T float32 | float64](k Kernel, a *kernel.Args[T]) func() {
	switch a := any(a).(type) {
	case *kernel.Args[float32]:
		return k.Bind32(a)
	case *kernel.Args[float64]:
		return k.Bind64(a)
	}
	panic("vm: unreachable")
}

func (in *instance[T]) load(feeds Feeds) error {
	for _, b := range in.prog.Inputs {
		copy(in.bufs[b], dataOf[T](feeds[in.prog.Bufs[b].Name]))
	}
	return nil
}

// exec runs the instructions: the hoisted ones when the store has changed,
// the body, then, unless a kernel failed or the guard stopped the run, the
// assignments. With guard, each instruction's outputs are checked as it
// runs (guarded); without, the loops below are all there is.
func (in *instance[T]) exec(guard bool) error {
	ok := true
	if len(in.hoisted) > 0 {
		if g := in.store.Generation(); g != in.gen || g == 0 {
			if guard {
				ok = in.guarded(in.hoisted, in.hoistedAt)
			} else {
				for _, f := range in.hoisted {
					f()
				}
			}
			in.gen = g
		}
	}
	switch {
	case !ok:
	case guard:
		in.guarded(in.body, in.bodyAt)
	default:
		for _, f := range in.body {
			f()
		}
	}
	if err := in.status.Err(); err != nil {
		in.gen = 0 // recompute the hoisted values next time
		if ge, ok := errors.AsType[*GuardError](err); ok {
			return ge // it says "vm: guard: ..." itself
		}
		return in.kernelError(err)
	}
	if len(in.update) == 0 && len(in.assigns) == 0 {
		return nil
	}
	// from here on the run changes the store: every machine on it
	// recomputes its hoisted values
	defer in.store.touch()
	if guard {
		if !in.guarded(in.update, in.updateAt) {
			in.gen = 0
			err := in.status.Err()
			if ge, ok := errors.AsType[*GuardError](err); ok {
				return ge
			}
			return fmt.Errorf("vm: %w", err)
		}
	} else {
		for _, f := range in.update {
			f()
		}
	}
	for _, f := range in.assigns {
		f()
	}
	return nil
}

// kernelError wraps the data-dependent error a kernel reported in the last
// run (a label out of range) with the node its instruction computes and
// the concrete shape of its outputs, as in
//
//	vm: node "loss/one_hot" (output f32[32,10]): one_hot: label 12 at index 3 is not an integer in [0, 10)
//
// The run does not track which instruction is running, so that it costs
// nothing when no kernel fails; locate finds it afterwards.
func (in *instance[T]) kernelError(err error) error {
	i := in.locate()
	if i < 0 {
		return fmt.Errorf("vm: %w", err)
	}
	inst := &in.prog.Insts[i]
	var b strings.Builder
	if inst.Note != "" {
		fmt.Fprintf(&b, "node %q", inst.Note)
	} else {
		fmt.Fprintf(&b, "instruction %d `%s`", i, in.prog.InstString(*inst))
	}
	b.WriteString(" (output")
	if len(inst.Dst) > 1 {
		b.WriteByte('s')
	}
	for j, d := range inst.Dst {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %v%v", in.prog.DType, in.shapes[d])
	}
	b.WriteByte(')')
	return fmt.Errorf("vm: %s: %w", b.String(), err)
}

// locate finds the instruction behind a kernel error of the last run: it
// runs the hoisted instructions and the body again, from the start and in
// order, checking the status after each, and returns the index in
// Program.Insts of the first that fails (-1 if none does; the status is
// left clear). Running them again gives the same values: inputs, constants
// and hoisted values live for the whole run (the memory plan never writes
// over them), variables are as they were (the assignments did not run),
// and every kernel is a deterministic function of those, random draws
// included (they are keyed by the step counter, a variable).
func (in *instance[T]) locate() int {
	for k, f := range in.hoisted {
		f()
		if in.status.Err() != nil {
			return int(in.hoistedAt[k].inst)
		}
	}
	for k, f := range in.body {
		f()
		if in.status.Err() != nil {
			return int(in.bodyAt[k].inst)
		}
	}
	return -1
}

func (in *instance[T]) fetch(i int) *tensor.Dense { return in.fetches[i] }

func (in *instance[T]) fetchCopy(i int) *tensor.Dense {
	f := in.prog.Fetches[i]
	return newDense(in.shapes[f], slices.Clone(in.bufs[f]))
}

func (in *instance[T]) concrete() []graph.Shape { return in.shapes }
