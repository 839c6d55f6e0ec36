package train

import (
	"github.com/tapegrad/tapegrad/graph"
)

// Loss builds a model's training objective as graph nodes.
type Loss interface {
	// Name is the Keras name ("sparse_categorical_crossentropy").
	Name() string
	// TargetShape is the shape of the target input for a model output of
	// shape out (both with the open batch dimension): [B] for integer
	// labels, out itself for dense targets.
	TargetShape(out graph.Shape) graph.Shape
	// Build returns the loss node for predictions pred and targets
	// target: a scalar for the mean and sum reductions, per-example values
	// for ReductionNone. Errors go to the graph.
	Build(pred, target *graph.Node) *graph.Node
}

// Reduction says how per-example losses are combined. The zero value is
// the mean over the batch (Keras's "sum_over_batch_size"); for losses
// defined per element (MSE, MAE, binary cross-entropy) the mean is over all
// elements, which is the same for rectangular batches.
type Reduction uint8

// The reductions.
const (
	ReductionMean Reduction = iota
	ReductionSum
	ReductionNone
)

// Optimizer emits the update of a model's parameters as graph nodes, so that
// forward, backward and update are one compiled program and the compiler
// fuses each parameter's update into one sweep.
type Optimizer interface {
	// Name is the Keras name ("adam").
	Name() string
	// InitialRate is the initial learning rate: the config's LearningRate,
	// or the optimizer's default when it is zero.
	InitialRate() float64
	// Apply returns the Assign nodes that update every parameter, and any
	// slot variables (velocity, moments) it needs, given the gradients.
	// Slots are non-trainable variables created in the graph under
	// "optimizer/..." so they live in the store, are saved in checkpoints
	// and survive recompilation.
	Apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error)
}

// Step is what an optimizer's Apply builds on: the graph, the learning rate
// as a scalar variable (schedules change it between steps without
// recompiling), and the step count t (1 for the first update) as a scalar
// node.
type Step struct {
	Graph        *graph.Graph
	LearningRate *graph.Node // scalar variable "optimizer/learning_rate"
	T            *graph.Node // scalar: the number of this update, from 1
}
