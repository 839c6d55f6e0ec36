package vm

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// Kernel is implemented by every op the VM can run: a graph op that can
// bind its forward kernel, for either element type, to concrete shapes and
// buffers. Package nodes implements it for the whole catalogue.
type Kernel interface {
	graph.Op
	Bind32(a *kernel.Args[float32]) func()
	Bind64(a *kernel.Args[float64]) func()
}

// BufKind says where a buffer's memory comes from.
type BufKind uint8

// Buffer kinds.
const (
	BufTemp     BufKind = iota // computed by an instruction, lives in the machine's arena
	BufInput                   // fed at run time, copied into the arena
	BufVariable                // bound to a variable of the store
	BufConstant                // filled once from the program's data
)

var bufKindNames = [...]string{BufTemp: "temp", BufInput: "input", BufVariable: "var", BufConstant: "const"}

func (k BufKind) String() string {
	if int(k) < len(bufKindNames) {
		return bufKindNames[k]
	}
	return fmt.Sprintf("bufkind(%d)", k)
}

// Buffer is one value of a program. Shapes may contain the open batch
// dimension; a machine makes them concrete when it sees the batch size.
type Buffer struct {
	Kind  BufKind
	Name  string      // the graph node's name (the store key of a variable, the feed name of an input)
	Shape graph.Shape // symbolic shape
	Data  []float64   // a constant's values (one value, filled, or Shape.Size())
	// View says the buffer shares the memory of buffer ViewOf (a reshape's
	// output is a view of its input); no instruction writes it.
	View   bool
	ViewOf int32
}

// Opcode is what an instruction does.
type Opcode uint8

// Opcodes.
const (
	OpCall   Opcode = iota // run the kernel of Kernels[Aux] over Src into Dst
	OpCopy                 // copy Src[0] into Dst[0]
	OpAssign               // copy Src[0] into the variable Dst[0], after everything else
)

var opcodeNames = [...]string{OpCall: "call", OpCopy: "copy", OpAssign: "assign"}

func (o Opcode) String() string {
	if int(o) < len(opcodeNames) {
		return opcodeNames[o]
	}
	return fmt.Sprintf("opcode(%d)", o)
}

// Inst is one instruction: an opcode and the buffers it reads and writes, by
// index into Program.Bufs. Aux indexes Program.Kernels for OpCall.
type Inst struct {
	Op   Opcode
	Dst  []int32
	Src  []int32
	Aux  int32
	Note string // what the instruction came from (a node name, a fused group)
	// InPlace says the kernel is element-wise and may write Dst[0] over an
	// input of the same size; the memory planner does so when that input
	// dies at this instruction.
	InPlace bool
	// Hoist says the instruction reads only variables, constants and other
	// hoisted values: a machine runs it only when the store has changed
	// since it last did (a BatchNorm folded into a dense kernel).
	Hoist bool
}

// Program is a compiled computation: buffers, instructions in execution
// order, and which buffers are fed and fetched. A program is immutable once
// built and may be shared by many machines (one per goroutine).
type Program struct {
	DType   graph.DType
	Bufs    []Buffer
	Insts   []Inst
	Kernels []Kernel
	Inputs  []int32 // buffers fed at run time, in graph order
	Fetches []int32 // buffers returned by Run, in the order asked for
	// GraphInputs names every input of the source graph, needed or not:
	// feeding one the program does not need is not an error.
	GraphInputs []string
	// Passes records what each compiler pass did, for Explain.
	Passes []string
	// MemoryLimit, when positive, is the most bytes a machine may allocate
	// for the program at one batch size (its arena: inputs, constants,
	// temporaries); a run at a batch size whose plan needs more fails
	// with ErrMemoryLimit before anything is allocated. Set by
	// compile.Options.MemoryLimit; Machine.SetMemoryLimit overrides it.
	MemoryLimit int64
	// NoMemoryReuse makes the memory planner give every buffer its own
	// block of the arena, for the whole run: no reuse by liveness and no
	// output written over an input (a view still shares its source's
	// memory). The compiler sets it when its plan-memory pass is disabled.
	NoMemoryReuse bool
}

// Inputs names of the program, in order.
func (p *Program) InputNames() []string {
	names := make([]string, len(p.Inputs))
	for i, b := range p.Inputs {
		names[i] = p.Bufs[b].Name
	}
	return names
}

// Variables returns the store names the program reads or writes, each
// once (a variable written in place may have two buffers).
func (p *Program) Variables() []string {
	var names []string
	for _, b := range p.Bufs {
		if b.Kind == BufVariable && !slices.Contains(names, b.Name) {
			names = append(names, b.Name)
		}
	}
	return names
}

// String prints the program one buffer or instruction a line:
//
//	program f32: 1 input, 2 variables, 3 instructions
//	  %0 input x : f32[B,784]
//	  %1 var dense/kernel : f32[784,300]
//	  %2 = matmul %0 %1 : f32[B,300]   ; dense/matmul
//	fetch %2
func (p *Program) String() string {
	if p == nil {
		return "<nil program>\n"
	}
	if err := p.Validate(); err != nil {
		return fmt.Sprintf("<invalid program: %v>\n", err)
	}
	var b strings.Builder
	nIn, nVar := 0, 0
	for _, buf := range p.Bufs {
		switch buf.Kind {
		case BufInput:
			nIn++
		case BufVariable:
			nVar++
		}
	}
	fmt.Fprintf(&b, "program %v: %s, %s, %s\n", p.DType, plural(nIn, "input"), plural(nVar, "variable"), plural(len(p.Insts), "instruction"))
	for i, buf := range p.Bufs {
		switch buf.Kind {
		case BufInput, BufVariable:
			fmt.Fprintf(&b, "  %%%d %v %s : %v%v\n", i, buf.Kind, buf.Name, p.DType, buf.Shape)
		case BufConstant:
			fmt.Fprintf(&b, "  %%%d const %s : %v%v\n", i, constString(buf.Data), p.DType, buf.Shape)
		}
	}
	for _, in := range p.Insts {
		b.WriteString("  ")
		b.WriteString(p.InstString(in))
		b.WriteByte('\n')
	}
	b.WriteString("fetch")
	for _, f := range p.Fetches {
		fmt.Fprintf(&b, " %%%d", f)
	}
	b.WriteByte('\n')
	return b.String()
}

// InstString formats one instruction: `%5 = matmul %0 %1 : f32[B,300]   ; dense/matmul`.
func (p *Program) InstString(in Inst) string { return p.InstStringWith(in, nil) }

// InstStringWith is InstString with each output's type followed by what
// decorate returns for its buffer (Explain adds the buffer's place in the
// arena); decorate may be nil.
func (p *Program) InstStringWith(in Inst, decorate func(buf int32) string) string {
	var b strings.Builder
	for i, d := range in.Dst {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%%%d", d)
	}
	b.WriteString(" = ")
	switch {
	case in.Op == OpCall && in.Aux >= 0 && int(in.Aux) < len(p.Kernels):
		b.WriteString(graph.OpString(p.Kernels[in.Aux]))
	case in.Op == OpCall:
		fmt.Fprintf(&b, "kernel(%d)", in.Aux)
	default:
		b.WriteString(in.Op.String())
	}
	for _, s := range in.Src {
		fmt.Fprintf(&b, " %%%d", s)
	}
	b.WriteString(" :")
	for i, d := range in.Dst {
		if i > 0 {
			b.WriteByte(',')
		}
		var shape graph.Shape
		if d >= 0 && int(d) < len(p.Bufs) {
			shape = p.Bufs[d].Shape
		}
		fmt.Fprintf(&b, " %v%v", p.DType, shape)
		if decorate != nil {
			b.WriteString(decorate(d))
		}
	}
	if in.Note != "" {
		b.WriteString("   ; ")
		b.WriteString(in.Note)
	}
	return b.String()
}

func constString(d []float64) string {
	if len(d) == 1 {
		return fmt.Sprint(d[0])
	}
	if len(d) <= 4 {
		return fmt.Sprint(d)
	}
	return fmt.Sprintf("[%v %v ... %d values]", d[0], d[1], len(d))
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// Validate returns an error when the program refers to a buffer or a
// kernel it does not have, or has an instruction of the wrong form: what a
// program not made by compile.Compile could get wrong in a way that would
// otherwise make a machine panic. A machine validates its program before
// its first run, and Run returns the error.
func (p *Program) Validate() error {
	if p == nil {
		return errors.New("vm: nil program")
	}
	if !p.DType.Valid() {
		return fmt.Errorf("vm: program: dtype %v: want float32 or float64", p.DType)
	}
	buf := func(what string, i int, b int32) error {
		if b < 0 || int(b) >= len(p.Bufs) {
			return fmt.Errorf("vm: program: %s %d refers to buffer %%%d of %d", what, i, b, len(p.Bufs))
		}
		return nil
	}
	for i, b := range p.Bufs {
		if b.View {
			if err := buf("view", i, b.ViewOf); err != nil {
				return err
			}
		}
		if b.Kind == BufConstant && len(b.Data) != 1 && len(b.Data) != max(b.Shape.Size(), 0) {
			return fmt.Errorf("vm: program: constant %%%d has %d values for shape %v", i, len(b.Data), b.Shape)
		}
	}
	for i, in := range p.Insts {
		what := "instruction"
		for _, bs := range [][]int32{in.Src, in.Dst} {
			for _, b := range bs {
				if err := buf(what, i, b); err != nil {
					return err
				}
			}
		}
		switch in.Op {
		case OpCall:
			if in.Aux < 0 || int(in.Aux) >= len(p.Kernels) || p.Kernels[in.Aux] == nil {
				return fmt.Errorf("vm: program: %s %d calls kernel %d of %d", what, i, in.Aux, len(p.Kernels))
			}
			if len(in.Dst) == 0 {
				return fmt.Errorf("vm: program: %s %d writes no buffer", what, i)
			}
		case OpCopy, OpAssign:
			if len(in.Src) != 1 || len(in.Dst) != 1 {
				return fmt.Errorf("vm: program: %s %d (%v) has %d sources and %d destinations, want 1 and 1", what, i, in.Op, len(in.Src), len(in.Dst))
			}
			if in.Op == OpAssign && p.Bufs[in.Dst[0]].Kind != BufVariable {
				return fmt.Errorf("vm: program: %s %d assigns buffer %%%d, which is not a variable", what, i, in.Dst[0])
			}
		default:
			return fmt.Errorf("vm: program: %s %d has opcode %v", what, i, in.Op)
		}
	}
	for i, b := range p.Inputs {
		if err := buf("input", i, b); err != nil {
			return err
		}
	}
	for i, b := range p.Fetches {
		if err := buf("fetch", i, b); err != nil {
			return err
		}
	}
	return nil
}
