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
