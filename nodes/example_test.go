package nodes_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// A two-layer perceptron, 3 → 4 → 2, with a tanh hidden layer and a
// softmax output, built from the catalogue's builders, compiled and run on
// a batch of two rows.
func Example_mlp() {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	w1 := g.Variable("w1", graph.Shape{3, 4})
	b1 := g.Variable("b1", graph.Shape{4})
	w2 := g.Variable("w2", graph.Shape{4, 2})
	b2 := g.Variable("b2", graph.Shape{2})
	h := nodes.Tanh(nodes.Add(nodes.MatMul(x, w1), b1)) // [B,4]
	probs := nodes.Softmax(nodes.Add(nodes.MatMul(h, w2), b2))
	if err := g.Err(); err != nil { // one check for every builder call
		fmt.Println(err)
		return
	}
	fmt.Println("probs:", probs.Shape())

	store := vm.NewStore()
	for _, v := range []struct {
		name  string
		shape graph.Shape
		vals  []float64
	}{
		{"w1", graph.Shape{3, 4}, []float64{0.5, -0.5, 0.25, 0, 0.1, 0.2, -0.3, 0.4, 1, 0, 0, -1}},
		{"b1", graph.Shape{4}, []float64{0, 0.1, 0, -0.1}},
		{"w2", graph.Shape{4, 2}, []float64{1, -1, 0.5, 0.5, -1, 1, 0, 2}},
		{"b2", graph.Shape{2}, []float64{0.1, -0.1}},
	} {
		if err := store.SetFloat64s(v.name, v.shape, graph.Float64, v.vals); err != nil {
			fmt.Println(err)
			return
		}
	}
	prog, err := compile.Compile(g, []*graph.Node{probs}, compile.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	xs, _ := vm.FromSlice([]float64{1, 2, 3, 0, 0, 0}, 2, 3)
	out, err := vm.NewMachine(prog, store).Run(vm.Feeds{"x": xs})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := out[0].Float64s()
	fmt.Printf("row 0: %.4f %.4f\n", p[0], p[1])
	fmt.Printf("row 1: %.4f %.4f\n", p[2], p[3])
	// Output:
	// probs: [B,2]
	// row 0: 0.9921 0.0079
	// row 1: 0.5985 0.4015
}

// A builder never returns an error: the first problem is recorded on the
// graph, with the op, the node and the input shapes, and later calls do
// nothing.
func Example_errors() {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	w := g.Variable("w", graph.Shape{300, 10})
	y := nodes.MatMul(x, w) // 784 and 300 differ
	z := nodes.Tanh(y)      // a no-op: the graph already has an error
	fmt.Println(z.IsPoisoned())
	fmt.Println(g.Err())
	// Output:
	// true
	// graph: matmul "matmul": inner dimensions 784 and 300 differ (inputs f32[B,784], f32[300,10]; at example_test.go:73)
}
