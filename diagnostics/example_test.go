package diagnostics_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/tapegrad/tapegrad/diagnostics"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// Two classic failures, seen on a batch at initialization: a tanh layer
// with weights far too large saturates, and a ReLU layer whose bias pushes
// every pre-activation below zero is dead.
func Example() {
	model := train.NewSequential(layers.Input(20),
		layers.Dense(50, layers.DenseOptions{Activation: "tanh", KernelInit: initializers.RandomNormal{Stddev: 10}}),
		layers.Dense(30, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal",
			BiasInit: initializers.Constant{Value: -100}}),
		layers.Dense(10, layers.DenseOptions{}),
	)
	model.Seed(42)

	rng := rand.New(rand.NewPCG(1, 2))
	xs, ys := make([]float64, 64*20), make([]float64, 64)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	for i := range ys {
		ys[i] = float64(rng.IntN(10))
	}
	x, _ := vm.FromSlice(xs, 64, 20)
	y, _ := vm.FromSlice(ys, 64)

	rep, err := diagnostics.Inspect(model, x, y)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range rep.Layers[:2] {
		fmt.Printf("%-8s %-5s dead %-6s saturated %s\n", l.Name, l.Activation, diagnostics.Percent(l.Dead), diagnostics.Percent(l.Saturated))
	}
	fmt.Printf("kernel gradient of the dead layer: %v\n", rep.Layers[1].KernelGradNorm)
	// Output:
	// dense    tanh  dead 0.0%   saturated 95.3%
	// dense_1  relu  dead 100.0% saturated 0.0%
	// kernel gradient of the dead layer: 0
}
