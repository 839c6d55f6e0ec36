package refmodels

import (
	"fmt"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
)

// Config is one reference configuration.
type Config struct {
	Name      string // "A", "B", "C", "D"
	Desc      string
	Inputs    int
	Batches   []int // the batch sizes it is measured at
	Inference bool  // D: the inference program of B
	Model     func() *layers.Sequential
}

// Configs returns the four reference configurations.
func Configs() []Config {
	return []Config{
		{Name: "A", Desc: "784-300-100-10 SELU lecun_normal", Inputs: 784, Batches: []int{32, 128, 512}, Model: ModelA},
		{Name: "B", Desc: "784-300-BN-ELU-100-BN-ELU-10 he_normal", Inputs: 784, Batches: []int{32, 128, 512}, Model: ModelB},
		{Name: "C", Desc: "3072-(20×100 ELU he_normal)-10", Inputs: 3072, Batches: []int{128}, Model: ModelC},
		{Name: "D", Desc: "inference of B", Inputs: 784, Batches: []int{1, 256}, Inference: true, Model: ModelB},
	}
}

// ByName returns a configuration by name.
func ByName(name string) (Config, error) {
	for _, c := range Configs() {
		if c.Name == name {
			return c, nil
		}
	}
	return Config{}, fmt.Errorf("refmodels: no configuration %q (A, B, C or D)", name)
}

// ModelA is 784-300-100-10 with SELU and lecun_normal.
func ModelA() *layers.Sequential {
	return layers.NewSequential(layers.Input(784),
		layers.Dense(300, layers.DenseOptions{Activation: "selu", KernelInitializer: "lecun_normal"}),
		layers.Dense(100, layers.DenseOptions{Activation: "selu", KernelInitializer: "lecun_normal"}),
		layers.Dense(10, layers.DenseOptions{KernelInitializer: "lecun_normal"}),
	)
}

// ModelB is 784-300-BN-ELU-100-BN-ELU-10 with he_normal and no bias before
// BN (the chapter's advice).
func ModelB() *layers.Sequential {
	return layers.NewSequential(layers.Input(784),
		layers.Dense(300, layers.DenseOptions{UseBias: layers.False, KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Activation("elu"),
		layers.Dense(100, layers.DenseOptions{UseBias: layers.False, KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{}),
		layers.Activation("elu"),
		layers.Dense(10, layers.DenseOptions{KernelInitializer: "he_normal"}),
	)
}

// ModelC is 3072-(20 × 100 ELU, he_normal)-10.
func ModelC() *layers.Sequential {
	ls := []layers.Layer{layers.Input(3072)}
	for i := 0; i < 20; i++ {
		ls = append(ls, layers.Dense(100, layers.DenseOptions{Activation: "elu", KernelInitializer: "he_normal"}))
	}
	ls = append(ls, layers.Dense(10, layers.DenseOptions{KernelInitializer: "he_normal"}))
	return layers.NewSequential(ls...)
}

// Step is a built program's graph and what to fetch.
type Step struct {
	Model   *layers.Sequential
	Graph   *graph.Graph
	Fetches []*graph.Node // the loss first for a training step, the output for inference
}

// TrainStep emits m in training mode with a sparse softmax cross-entropy
// loss on an input "y" of integer labels, its gradients, an SGD update of
// every trainable variable with learning rate lr, and the layers' state
// updates. The loss is fetched first; the assignments follow.
func TrainStep(m *layers.Sequential, dt graph.DType, lr float64) (*Step, error) {
	e, err := m.Emit(dt, layers.Training)
	if err != nil {
		return nil, err
	}
	g := e.Graph
	y := g.Input("y", graph.Shape{graph.Batch})
	loss := nodes.SoftmaxCrossEntropySparse(e.Output, y)
	var params []*graph.Node
	for _, v := range g.Variables() {
		if v.Op().(graph.VariableOp).Trainable {
			params = append(params, v)
		}
	}
	grads, err := autodiff.Grad(loss, params...)
	if err != nil {
		return nil, err
	}
	fetches := []*graph.Node{loss}
	g.WithScope("sgd", func() {
		rate := g.Scalar(lr)
		for i, p := range params {
			fetches = append(fetches, nodes.Assign(p, nodes.Sub(p, nodes.Mul(rate, grads[i]))))
		}
	})
	fetches = append(fetches, e.Updates...)
	if err := g.Err(); err != nil {
		return nil, err
	}
	return &Step{Model: m, Graph: g, Fetches: fetches}, nil
}

// Inference emits m in inference mode; the output is the one fetch.
func Inference(m *layers.Sequential, dt graph.DType) (*Step, error) {
	e, err := m.Emit(dt, layers.Inference)
	if err != nil {
		return nil, err
	}
	return &Step{Model: m, Graph: e.Graph, Fetches: []*graph.Node{e.Output}}, nil
}

// Build returns the step of a configuration: TrainStep (lr 0.01) or, for D,
// Inference.
func (c Config) Build(dt graph.DType) (*Step, error) {
	m := c.Model()
	m.Seed(42)
	if c.Inference {
		return Inference(m, dt)
	}
	return TrainStep(m, dt, 0.01)
}
