package vm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

func TestProgramString(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	var h *graph.Node
	g.WithScope("dense", func() {
		w := g.Variable("kernel", graph.Shape{3, 2})
		b := g.Variable("bias", graph.Shape{2})
		h = nodes.Add(nodes.MatMul(x, w), b)
	})
	y := nodes.Mul(h, g.Scalar(0.5))
	z := nodes.MatMulT(y, g.Constant(graph.Shape{4, 2}, 1, 2, 3, 4, 5, 6, 7, 8), false, true)
	// every pass disabled: this tests the printing, not the compiler
	var none []string
	for _, ps := range compile.Passes {
		none = append(none, ps.Name)
	}
	p, err := compile.Compile(g, []*graph.Node{z, h}, compile.Options{Disable: none})
	if err != nil {
		t.Fatal(err)
	}
	const want = `program f32: 1 input, 2 variables, 4 instructions
  %0 input x : f32[B,3]
  %1 var dense/kernel : f32[3,2]
  %2 var dense/bias : f32[2]
  %5 const 0.5 : f32[]
  %7 const [1 2 ... 8 values] : f32[4,2]
  %3 = matmul %0 %1 : f32[B,2]   ; dense/matmul
  %4 = add %3 %2 : f32[B,2]   ; dense/add
  %6 = mul %4 %5 : f32[B,2]   ; mul
  %8 = matmul[Bᵀ] %6 %7 : f32[B,4]   ; matmul
fetch %8 %4
`
	assert.Equal(t, want, p.String())
	assert.Equal(t, []string{"x"}, p.InputNames())
	assert.Equal(t, []string{"dense/kernel", "dense/bias"}, p.Variables())
}

func TestOpcodeBufKindString(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{vm.OpCall.String(), "call"},
		{vm.OpCopy.String(), "copy"},
		{vm.Opcode(42).String(), "opcode(42)"},
		{vm.BufTemp.String(), "temp"},
		{vm.BufInput.String(), "input"},
		{vm.BufVariable.String(), "var"},
		{vm.BufConstant.String(), "const"},
		{vm.BufKind(9).String(), "bufkind(9)"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("String() = %q, want %q", tc.got, tc.want)
		}
	}
}

// A program is data: one made by hand that refers to buffers or kernels it
// does not have, or has instructions of the wrong form, is an error from
// Validate, Run, PlanFor and MemoryFor, and prints without panicking
// (before, nine of these cases made Run panic with an index out of range or
// a nil dereference, and String two of them).
func TestProgramInvalid(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	good := func() *vm.Program {
		p, err := compile.Compile(g, []*graph.Node{nodes.Tanh(nodes.Neg(x))}, compile.Options{Disable: []string{"fuse-elementwise"}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		break_ func(p *vm.Program)
	}{
		{"source out of range", func(p *vm.Program) { p.Insts[0].Src[0] = 99 }},
		{"negative destination", func(p *vm.Program) { p.Insts[1].Dst[0] = -1 }},
		{"no destination", func(p *vm.Program) { p.Insts[1].Dst = nil }},
		{"kernel out of range", func(p *vm.Program) { p.Insts[0].Aux = 7 }},
		{"nil kernel", func(p *vm.Program) { p.Kernels[0] = nil }},
		{"unknown opcode", func(p *vm.Program) { p.Insts[0].Op = 42 }},
		{"copy of two", func(p *vm.Program) { p.Insts[0].Op = vm.OpCopy; p.Insts[0].Src = append(p.Insts[0].Src, 0) }},
		{"assign to a temporary", func(p *vm.Program) { p.Insts[1].Op = vm.OpAssign }},
		{"fetch out of range", func(p *vm.Program) { p.Fetches[0] = 12 }},
		{"input out of range", func(p *vm.Program) { p.Inputs[0] = -3 }},
		{"view of nothing", func(p *vm.Program) { p.Bufs[1].View, p.Bufs[1].ViewOf = true, 50 }},
		{"constant of the wrong size", func(p *vm.Program) {
			p.Bufs = append(p.Bufs, vm.Buffer{Kind: vm.BufConstant, Shape: graph.Shape{3}, Data: []float64{1, 2}})
		}},
		{"dtype", func(p *vm.Program) { p.DType = 9 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good()
			assert.NoError(t, p.Validate())
			tc.break_(p)
			assert.Error(t, p.Validate())
			_, err := vm.NewMachine(p, vm.NewStore()).Run(vm.Feeds{"x": f32([]int{1, 2}, 1, 2)})
			assert.ErrorContains(t, err, "vm: program: ")
			_, _, err = p.PlanFor(4)
			assert.Error(t, err)
			_, err = p.MemoryFor(4)
			assert.Error(t, err)
			assert.Contains(t, p.String(), "<invalid program: vm: program: ")
			for _, in := range p.Insts {
				_ = p.InstString(in)
			}
			assert.Contains(t, compile.Explain(p), "<invalid program: ")
		})
	}
	p := good()
	_, _, err := p.PlanFor(-1)
	assert.ErrorContains(t, err, "batch size -1 is negative")
	assert.Error(t, vm.NewMachine(p, nil).CheckBatch(-2))
	assert.NotPanics(t, func() { _ = compile.ExplainBatch(p, -5) })
	var nilProg *vm.Program
	assert.Equal(t, "<nil program>\n", nilProg.String())
	var nilMachine *vm.Machine
	assert.NotPanics(t, func() {
		nilMachine.SetGuard(true)
		nilMachine.SetMemoryLimit(1)
	})
	assert.False(t, nilMachine.Guard())
	assert.Zero(t, nilMachine.MemoryLimit())
	assert.Error(t, nilMachine.CheckBatch(1))
}
