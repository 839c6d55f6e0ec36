package autodiff_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// The gradient of a least-squares loss, mean((x·w − y)²), with respect to
// the weights w: Grad adds the gradient nodes to the graph, and one program
// computes the loss and the gradient together.
func ExampleGrad() {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	y := g.Input("y", graph.Shape{graph.Batch, 1})
	w := g.Variable("w", graph.Shape{2, 1})
	loss := nodes.Mean(nodes.Square(nodes.Sub(nodes.MatMul(x, w), y)), false)
	grads, err := autodiff.Grad(loss, w)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(grads[0].Name(), grads[0].Shape())

	prog, err := compile.Compile(g, []*graph.Node{loss, grads[0]}, compile.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	store := vm.NewStore()
	if err := store.SetFloat64s("w", graph.Shape{2, 1}, graph.Float64, []float64{1, 1}); err != nil {
		fmt.Println(err)
		return
	}
	xs, _ := vm.FromSlice([]float64{1, 0, 0, 2}, 2, 2)
	ys, _ := vm.FromSlice([]float64{0, 0}, 2, 1)
	out, err := vm.NewMachine(prog, store).Run(vm.Feeds{"x": xs, "y": ys})
	if err != nil {
		fmt.Println(err)
		return
	}
	// x·w − y = [1 2]: loss (1+4)/2; gradient xᵀ·(x·w − y)·2/2 = [1 4]
	fmt.Println("loss", out[0].Float64s()[0])
	fmt.Println("dloss/dw", out[1].Float64s())
	// Output:
	// gradients/matmul_1 [2,1]
	// loss 2.5
	// dloss/dw [1 4]
}

// Check compares the gradients Grad builds with central finite differences.
func ExampleCheck() {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{3})
	w := g.Variable("w", graph.Shape{3})
	loss := nodes.Sum(nodes.Mul(nodes.Tanh(nodes.Mul(x, w)), x), false)
	store := vm.NewStore()
	if err := store.SetFloat64s("w", graph.Shape{3}, graph.Float64, []float64{0.5, -1, 2}); err != nil {
		fmt.Println(err)
		return
	}
	xs, _ := vm.FromSlice([]float64{0.3, 0.7, -1.1}, 3)
	rep, err := autodiff.Check(g, loss, []*graph.Node{w, x}, vm.Feeds{"x": xs}, store, autodiff.CheckOptions{})
	fmt.Println("checked", rep.Checked, "elements; error:", err)
	fmt.Println("worst below 1e-8:", rep.Worst.Error < 1e-8)
	// Output:
	// checked 6 elements; error: <nil>
	// worst below 1e-8: true
}
