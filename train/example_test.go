package train_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/train"
)

// twoBlobs returns n seeded points of two Gaussian blobs in the plane and
// their classes, 0 and 1.
func twoBlobs(n int, seed uint64) (x, y *tensor.Dense) {
	r := rand.New(rand.NewPCG(seed, 0))
	xs, ys := make([]float32, 2*n), make([]float32, n)
	for i := range n {
		c := float32(i % 2)
		ys[i] = c
		xs[2*i] = float32(r.NormFloat64()) + 4*c - 2
		xs[2*i+1] = float32(r.NormFloat64()) + 4*c - 2
	}
	return tensor.New(tensor.WithShape(n, 2), tensor.WithBacking(xs)),
		tensor.New(tensor.WithShape(n), tensor.WithBacking(ys))
}

// A classifier written, compiled, trained, evaluated and used the Keras way.
func Example() {
	x, y := twoBlobs(1000, 1)
	xTest, yTest := twoBlobs(200, 2)

	model := train.NewSequential(
		layers.Input(2),
		layers.Dense(16, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
		layers.Dense(2, layers.DenseOptions{}), // logits
	)
	model.Seed(42)
	err := model.Compile(train.Config{
		Loss:      train.SparseCategoricalCrossentropy{FromLogits: true},
		Optimizer: train.Adam{LearningRate: 0.01},
		Metrics:   []string{"accuracy"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	hist, err := model.Fit(context.Background(), x, y, train.FitOptions{
		Epochs:          10,
		BatchSize:       32,
		ValidationSplit: 0.2,
		Callbacks:       []train.Callback{&train.EarlyStopping{Patience: 3, RestoreBestWeights: true}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("epochs trained:", hist.Len() > 0)
	fmt.Println("loss fell:", hist.Loss[hist.Len()-1] < hist.Loss[0])

	eval, err := model.Evaluate(xTest, yTest)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("test accuracy above 97%:", eval.Metrics["accuracy"] > 0.97)

	points := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{-3, -2, 2, 3}))
	logits, err := model.Predict(points)
	if err != nil {
		fmt.Println(err)
		return
	}
	l := logits.Float32s()
	fmt.Println("predictions:", logits.Shape(), "classes:", argmax(l[0:2]), argmax(l[2:4]))
	// Output:
	// epochs trained: true
	// loss fell: true
	// test accuracy above 97%: true
	// predictions: (2, 2) classes: 0 1
}

func argmax(v []float32) int {
	if v[1] > v[0] {
		return 1
	}
	return 0
}
