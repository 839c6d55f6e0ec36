package experiment_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/experiment"
)

// The variance experiment for one activation and three initializers: the
// standard deviation of a ReLU net's activations after 20 layers, at
// initialization. Only He's factor 2 makes up for the half of its inputs
// that ReLU zeroes; with Glorot or LeCun the variance halves at every
// layer (2⁻²⁰ ≈ 1e-6, a std of about 1e-3).
func ExampleMeasureVariance() {
	const layers, units, rows = 20, 64, 256
	x, _ := experiment.StandardNormalBatch(rows, units, 42, 1, true)  // the inputs, standardized
	r, _ := experiment.StandardNormalBatch(rows, units, 42, 2, false) // the upstream gradient
	for _, init := range []string{"glorot_uniform", "he_normal", "lecun_normal"} {
		res, err := experiment.MeasureVariance(layers, units, init, "relu", 42, x, r)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-15s act std at layer %d: %.1g\n", init, layers, res.ActStd[layers-1])
	}
	// Output:
	// glorot_uniform  act std at layer 20: 0.0009
	// he_normal       act std at layer 20: 1
	// lecun_normal    act std at layer 20: 0.001
}
