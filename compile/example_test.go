package compile_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// Compile keeps only what the fetches need and prints as a program: one line
// per input, variable and constant, then one per instruction. Here the
// second layer and its input are pruned away, and the first layer's matmul,
// bias and activation become one dense instruction.
func ExampleCompile() {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	var h *graph.Node
	g.WithScope("dense", func() {
		w := g.Variable("kernel", graph.Shape{784, 300})
		b := g.Variable("bias", graph.Shape{300})
		h = nodes.Tanh(nodes.Add(nodes.MatMul(x, w), b))
	})
	g.WithScope("unused", func() {
		w := g.Variable("kernel", graph.Shape{300, 10})
		nodes.MatMul(h, w)
	})
	prog, err := compile.Compile(g, []*graph.Node{h}, compile.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(prog)
	// Output:
	// program f32: 1 input, 2 variables, 1 instruction
	//   %0 input x : f32[B,784]
	//   %1 var dense/kernel : f32[784,300]
	//   %2 var dense/bias : f32[300]
	//   %3 = dense[bias act=tanh] %0 %1 %2 : f32[B,300]   ; dense/matmul + dense/add + dense/tanh
	// fetch %3
}
