package vm

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The NaN/Inf guard. With Machine.SetGuard(true) a run checks the outputs of
// every instruction as soon as it has run, and stops at the first value that
// is NaN or infinite: the instructions after it do not run, nor do the
// assignments (the same path as a kernel's data-dependent failure, through
// the instance's kernel.Status), so the store keeps the values it had before
// the run. Off, the run loop is the same loop as without a guard: the choice
// is made once per run, not per instruction or per element.

// ErrNonFinite is matched (errors.Is) by the error of a run that the guard
// stopped; errors.As gives the *GuardError.
var ErrNonFinite = errors.New("non-finite value")

// GuardError describes where the guard stopped a run: the first instruction
// that wrote a NaN or an infinity, the graph node it computes, the layer
// that node belongs to, and what the instruction read.
type GuardError struct {
	Batch       int     // the batch size of the run
	Inst        int     // the instruction's index in Program.Insts
	Instruction string  // the instruction as Program.InstString prints it
	Node        string  // the graph node(s) it computes (Inst.Note)
	Layer       string  // the node's name scope ("dense_1", "gradients/dense_1"); "" at the top level
	Output      int     // which output of the instruction (0 for most)
	Index       int     // the first non-finite element of that output
	Value       float64 // its value: NaN, +Inf or -Inf
	Inputs      []Range // what the instruction read, one per input, in order
}

// Range summarizes the values of a buffer: the smallest and largest finite
// values (NaN when there are none) and how many values are NaN or infinite.
type Range struct {
	Buf      int32  // the buffer's index in Program.Bufs
	Name     string // the buffer's name
	Size     int    // the number of values
	Min, Max float64
	NaN, Inf int
}

func (r Range) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%%%d", r.Buf)
	if r.Name != "" {
		fmt.Fprintf(&b, " %s", r.Name)
	}
	switch {
	case r.Size == 0:
		b.WriteString(" [empty]")
	case r.NaN+r.Inf == r.Size:
		b.WriteString(" [no finite value")
	default:
		fmt.Fprintf(&b, " [min %.6g, max %.6g", r.Min, r.Max)
	}
	if r.Size > 0 {
		if r.NaN > 0 {
			fmt.Fprintf(&b, ", %d NaN", r.NaN)
		}
		if r.Inf > 0 {
			fmt.Fprintf(&b, ", %d Inf", r.Inf)
		}
		b.WriteByte(']')
	}
	return b.String()
}

// Error reads
//
//	vm: guard: NaN in output 0 element 3 of `%7 = div %5 %6 : f32[B,10]   ; dense_1/div`
//	(node dense_1/div, layer dense_1), batch size 32; inputs: %5 [min -1.5, max 2.25], %6 [min 0, max 0]
func (e *GuardError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vm: guard: %v in output %d element %d of `%s` (node %s", e.Value, e.Output, e.Index, e.Instruction, orNone(e.Node))
	if e.Layer != "" {
		fmt.Fprintf(&b, ", layer %s", e.Layer)
	} else {
		b.WriteString(", top level")
	}
	fmt.Fprintf(&b, "), batch size %d; inputs:", e.Batch)
	if len(e.Inputs) == 0 {
		b.WriteString(" none")
	}
	for i, r := range e.Inputs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(r.String())
	}
	return b.String()
}

// Is makes the error match ErrNonFinite.
func (e *GuardError) Is(target error) bool { return target == ErrNonFinite }

func orNone(s string) string {
	if s == "" {
		return "unnamed"
	}
	return s
}

// layerOf returns the name scope of the node(s) an instruction's note names:
// "dense_1" for "dense_1/matmul"; for a fused instruction ("a/x + b/y") the
// distinct scopes in order, comma-separated.
func layerOf(note string) string {
	var scopes []string
	for part := range strings.SplitSeq(note, " + ") {
		i := strings.LastIndexByte(part, '/')
		if i < 0 {
			continue
		}
		s := part[:i]
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return strings.Join(scopes, ", ")
}

// SetGuard turns the NaN/Inf guard on or off for the machine's next runs
// (off for a new machine). With the guard on, a run checks every
// instruction's outputs right after the instruction and stops at the first
// NaN or infinity with an error matching ErrNonFinite, a *GuardError that
// names the instruction, its graph node and layer, and the ranges of its
// inputs. The run then fetches nothing and applies none of its assignments:
// the store keeps its values. The guard costs one extra pass over each
// output (BenchmarkGuard measures it); off, it costs nothing.
func (m *Machine) SetGuard(on bool) {
	if m != nil {
		m.guard = on
	}
}

// Guard reports whether the NaN/Inf guard is on.
func (m *Machine) Guard() bool { return m != nil && m.guard }

// firstNonFinite returns the index of the first NaN or infinity of v, or -1.
// The common case, every value finite, is one branch-free pass: x·0 is 0 for
// a finite x and NaN otherwise, so the sums stay 0 unless one is not.
func firstNonFinite[T float32 | float64](v []T) int {
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a0 += v[i] * 0
		a1 += v[i+1] * 0
		a2 += v[i+2] * 0
		a3 += v[i+3] * 0
	}
	for ; i < len(v); i++ {
		a0 += v[i] * 0
	}
	if s := a0 + a1 + a2 + a3; s == s {
		return -1
	}
	for i, x := range v {
		if x-x != 0 { // NaN for NaN and ±Inf
			return i
		}
	}
	return -1
}

// checkGrain is the smallest chunk of a buffer that the guard checks on a
// worker of its own: below two of them, one pass on the caller is cheaper.
const checkGrain = 1 << 15

// nonFinite is firstNonFinite, spread over the worker pool for a large
// buffer (one pass to tell whether any value is bad, in parallel, and a
// serial one to find the first only when one is).
func (in *instance[T]) nonFinite(v []T) int {
	if len(v) < 2*checkGrain || kernel.Threads() < 2 {
		return firstNonFinite(v)
	}
	if in.scanChunk == nil {
		in.scanChunk = func(lo, hi int) {
			if firstNonFinite(in.scan[lo:hi]) >= 0 {
				in.scanBad.Store(true)
			}
		}
	}
	in.scan = v
	in.scanBad.Store(false)
	kernel.For(len(v), checkGrain, in.scanChunk)
	in.scan = nil
	if !in.scanBad.Load() {
		return -1
	}
	return firstNonFinite(v)
}

// rangeOf summarizes v.
func rangeOf[T float32 | float64](v []T) Range {
	r := Range{Size: len(v), Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range v {
		f := float64(x)
		switch {
		case f != f:
			r.NaN++
		case math.IsInf(f, 0):
			r.Inf++
		default:
			r.Min, r.Max = min(r.Min, f), max(r.Max, f)
		}
	}
	if r.NaN+r.Inf == r.Size {
		r.Min, r.Max = math.NaN(), math.NaN()
	}
	return r
}

// guardInfo is what the guard needs about one instruction of an instance:
// its index, and which of its inputs it overwrites.
type guardInfo struct {
	inst    int32
	aliased []int // inputs (by position) whose memory the instruction overwrites
}

// guarded runs the instructions fs (at[k] is fs[k]'s guardInfo) one at a
// time, checking each one's outputs. It returns false when it stopped: a
// kernel failed, or an output is not finite (recorded in the status).
func (in *instance[T]) guarded(fs []func(), at []guardInfo) bool {
	for k, f := range fs {
		gi := &at[k]
		inst := &in.prog.Insts[gi.inst]
		// an input the instruction writes over (in place) is copied aside
		// before it runs, for the error's ranges: afterwards its values are
		// gone (a copy is much cheaper than summarizing every time)
		for _, j := range gi.aliased {
			src := in.bufs[inst.Src[j]]
			if cap(in.saved[j]) < len(src) {
				in.saved[j] = make([]T, len(src)) // once per size, on the first guarded run
			}
			in.saved[j] = in.saved[j][:len(src)]
			copy(in.saved[j], src)
		}
		f()
		if err := in.status.Err(); err != nil {
			in.status.Fail("%w", err) // put it back for exec to return
			return false
		}
		for o, d := range inst.Dst {
			if i := in.nonFinite(in.bufs[d]); i >= 0 {
				in.status.Fail("%w", in.guardError(gi, o, i))
				return false
			}
		}
	}
	return true
}

// guardError builds the error for output o, element i of an instruction.
func (in *instance[T]) guardError(gi *guardInfo, o, i int) *GuardError {
	p := in.prog
	inst := p.Insts[gi.inst]
	e := &GuardError{
		Batch:       in.batch,
		Inst:        int(gi.inst),
		Instruction: p.InstString(inst),
		Node:        inst.Note,
		Layer:       layerOf(inst.Note),
		Output:      o,
		Index:       i,
		Value:       float64(in.bufs[inst.Dst[o]][i]),
	}
	for j, s := range inst.Src {
		var r Range
		if slices.Contains(gi.aliased, j) {
			r = rangeOf(in.saved[j])
		} else {
			r = rangeOf(in.bufs[s])
		}
		r.Buf, r.Name = s, p.Bufs[s].Name
		e.Inputs = append(e.Inputs, r)
	}
	return e
}

// aliasedInputs returns the inputs of inst whose memory overlaps one of its
// outputs in the plan (an element-wise instruction writing in place).
func aliasedInputs(inst Inst, plan Plan, sizes []int) []int {
	var out []int
	for j, s := range inst.Src {
		if plan.Offset[s] < 0 || sizes[s] == 0 {
			continue
		}
		for _, d := range inst.Dst {
			if plan.Offset[d] < 0 || sizes[d] == 0 {
				continue
			}
			if plan.Offset[s] < plan.Offset[d]+sizes[d] && plan.Offset[d] < plan.Offset[s]+sizes[s] {
				out = append(out, j)
				break
			}
		}
	}
	return out
}
