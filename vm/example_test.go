package vm_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// A machine runs a compiled dense layer for any batch size; its variables
// live in a store, where a change is seen by the next run.
func ExampleMachine() {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	w := g.Variable("w", graph.Shape{2, 2})
	b := g.Variable("b", graph.Shape{2})
	y := nodes.Tanh(nodes.Add(nodes.MatMul(x, w), b))
	prog, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}

	store := vm.NewStore()
	_ = store.SetFloat64s("w", graph.Shape{2, 2}, graph.Float32, []float64{1, 0, 0, -1})
	_ = store.SetFloat64s("b", graph.Shape{2}, graph.Float32, []float64{0, 0})
	m := vm.NewMachine(prog, store)

	one, _ := vm.FromSlice([]float32{0.5, 0.5}, 1, 2)
	out, err := m.Run(vm.Feeds{"x": one}) // Run returns copies
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v %.4f\n", out[0].Shape(), out[0].Float32s())

	three, _ := vm.FromSlice([]float32{0, 0, 1, 1, -1, 2}, 3, 2)
	_ = store.SetFloat64s("b", graph.Shape{2}, graph.Float32, []float64{1, 1})
	res, err := m.Exec(vm.Feeds{"x": three}) // Exec returns views, valid until the next run
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v %.4f\n", res.At(0).Shape(), res.At(0).Float32s())

	_, err = m.Run(vm.Feeds{"x": three, "y": one})
	fmt.Println(err)
	// Output:
	// (1, 2) [0.4621 -0.4621]
	// (3, 2) [0.7616 0.7616 0.9640 0.0000 0.0000 -0.7616]
	// vm: bad feed: unknown input "y" (inputs: [x])
}
