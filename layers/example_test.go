package layers_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
)

// The chapter's Fashion-MNIST MLP, with Keras's names and parameter counts.
func ExampleSequential_Summary() {
	model := layers.NewSequential(
		layers.Input(28, 28),
		layers.Flatten(),
		layers.Dense(300, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
		layers.Dense(100, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
		layers.Dense(10, layers.DenseOptions{Activation: "softmax"}),
	)
	fmt.Print(model.Summary())
	// Output:
	// Model: "sequential"
	// _________________________________________________________________
	// Layer (type)                 Output Shape              Param #
	// =================================================================
	// flatten (Flatten)            (None, 784)               0
	// _________________________________________________________________
	// dense (Dense)                (None, 300)               235,500
	// _________________________________________________________________
	// dense_1 (Dense)              (None, 100)               30,100
	// _________________________________________________________________
	// dense_2 (Dense)              (None, 10)                1,010
	// =================================================================
	// Total params: 266,610
	// Trainable params: 266,610
	// Non-trainable params: 0
	// _________________________________________________________________
}

// A model emitted for training and for inference: the same variables, and
// in training mode the BatchNorm moving statistics as updates to run.
func ExampleSequential_Emit() {
	model := layers.NewSequential(layers.Input(4),
		layers.Dense(3, layers.DenseOptions{UseBias: layers.False}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Activation("elu"),
	)
	for _, mode := range []layers.Mode{layers.Training, layers.Inference} {
		e, err := model.Emit(graph.Float32, mode)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%v: output %v, %d variables, %d updates\n", mode, e.Output.Shape(), len(e.Graph.Variables()), len(e.Updates))
	}
	// Output:
	// training: output [B,3], 5 variables, 2 updates
	// inference: output [B,3], 5 variables, 0 updates
}
