package compile

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// Options tunes the compiler. The zero value runs every pass.
type Options struct {
	// Disable names passes to skip (see Passes).
	Disable []string
	// Trace, when set, receives each pass's summary and the Func after it.
	Trace io.Writer
}

// Compile turns the part of g that fetches depend on into a program. It
// returns g's first builder error before anything else.
func Compile(g *graph.Graph, fetches []*graph.Node, opts Options) (*vm.Program, error) {
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
	return prog, nil
}

// lower emits the program: a buffer per value, an instruction per
// non-leaf value.
func lower(f *Func) (*vm.Program, error) {
	p := &vm.Program{DType: f.DType}
	buf := map[*Value]int32{}
	for _, v := range f.Values {
		id := int32(len(p.Bufs))
		buf[v] = id
		switch op := v.Op.(type) {
		case graph.InputOp:
			p.Bufs = append(p.Bufs, vm.Buffer{Kind: vm.BufInput, Name: v.Name, Shape: v.Shape})
			p.Inputs = append(p.Inputs, id)
		case graph.VariableOp:
			p.Bufs = append(p.Bufs, vm.Buffer{Kind: vm.BufVariable, Name: v.Name, Shape: v.Shape})
		case graph.ConstantOp:
			p.Bufs = append(p.Bufs, vm.Buffer{Kind: vm.BufConstant, Name: v.Name, Shape: v.Shape, Data: op.Data})
		default:
			k, ok := v.Op.(vm.Kernel)
			if !ok {
				return nil, fmt.Errorf("compile: %s %q: op has no kernel", graph.OpString(v.Op), v.Name)
			}
			p.Bufs = append(p.Bufs, vm.Buffer{Kind: vm.BufTemp, Name: v.Name, Shape: v.Shape})
			inst := vm.Inst{Op: vm.OpCall, Dst: []int32{id}, Aux: int32(len(p.Kernels)), Note: v.Name}
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
	return p, nil
}
