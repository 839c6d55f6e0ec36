package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
)

// Optimizers as graph nodes
//
// An optimizer does not run anything: Apply adds, for every parameter, the
// nodes of its update to the training graph, ending in nodes.Assign (one
// for the parameter, one for each slot). The caller compiles them with the
// loss and the gradients, so forward, backward and update are one program,
// and the compiler fuses each element-wise update chain into one sweep.
//
// The state an optimizer keeps between steps lives in non-trainable
// variables, in the store with the parameters, so that it is saved with
// them and survives recompilation:
//
//	optimizer/learning_rate        the learning rate (a scalar, see NewStep)
//	optimizer/iterations           the number of updates done (a scalar)
//	optimizer/<param>/<slot>       per-parameter slots ("optimizer/dense/kernel/m")
//	optimizer/u_product            Nadam's running product of momentum factors
//
// Every slot starts at zero (Adagrad's accumulator at its initial value),
// so a freshly initialized store (vm.Store.Init) is the state before the
// first update.

// NewStep creates, in scope "optimizer", the scalar non-trainable variables
// "optimizer/learning_rate" (initialized to lr) and "optimizer/iterations"
// (initialized to 0), and returns the Step optimizers build on — its T is
// iterations + 1, the number of the update being made — together with the
// Assign node that advances iterations to T. The caller fetches that node
// with the optimizer's updates, so every run of the program is one step.
//
// Learning-rate schedules change the rate between steps by writing the
// variable in the store (vm.Store.SetFloat64s("optimizer/learning_rate",
// graph.Shape{}, dtype, []float64{rate})): the program reads it when it
// runs, so nothing is recompiled. Likewise a checkpoint restores
// iterations, and with it Adam's bias corrections.
//
// Call it once per graph (the variables' names are fixed). In a float32
// graph the step count is exact up to 2²⁴ (16,777,216) updates. A negative
// or non-finite lr is recorded as the graph's error. A nil graph gives a
// nil Step.
func NewStep(g *graph.Graph, lr float64) (*Step, []*graph.Node) {
	if g == nil {
		return nil, nil
	}
	if !(lr >= 0) || math.IsInf(lr, 0) {
		p := g.Fail(optStepOp{}, nil, graph.Errorf(graph.ErrArg, "learning rate %g: want a finite number ≥ 0", lr))
		return &Step{Graph: g, LearningRate: p, T: p}, []*graph.Node{p}
	}
	restore := g.EnterScope(optimizerScope)
	defer restore()
	rate := g.Variable("learning_rate", graph.Shape{}, graph.NonTrainable(), graph.WithInit(initializers.Constant{Value: lr}))
	iter := g.Variable("iterations", graph.Shape{}, graph.NonTrainable(), graph.WithInit(initializers.Zeros{}))
	t := nodes.Add(iter, g.Scalar(1))
	return &Step{Graph: g, LearningRate: rate, T: t}, []*graph.Node{nodes.Assign(iter, t)}
}

// optimizerScope is the scope of every variable an optimizer creates.
const optimizerScope = "optimizer"

// Names of the step's variables in the store.
const (
	// LearningRateVar is the store name of the learning-rate variable.
	LearningRateVar = optimizerScope + "/learning_rate"
	// IterationsVar is the store name of the update counter.
	IterationsVar = optimizerScope + "/iterations"
)

// optStepOp names the optimizer in errors recorded on the graph.
type optStepOp struct{}

func (optStepOp) Name() string { return "optimizer" }

func (optStepOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, errors.New("optimizer: not an op")
}

// optUpdate builds one parameter's update: p the parameter, grad its (clipped)
// gradient. Slots are made with u.slot; the result is the Assign nodes.
type optUpdate func(u *optUpdater, p, grad *graph.Node) []*graph.Node

// optUpdater carries what a parameter's update is built from.
type optUpdater struct {
	s *Step
	g *graph.Graph
}

// slot creates the non-trainable variable "optimizer/<p's name>/<name>",
// shaped like p, filled with init (zeros when nil). It must be called
// inside the parameter's scope, which optApply opens.
func (u *optUpdater) slot(p *graph.Node, name string, init graph.Initializer) *graph.Node {
	if init == nil {
		init = initializers.Zeros{}
	}
	return u.g.Variable(name, p.Shape(), graph.NonTrainable(), graph.WithInit(init))
}

// scalar is a scalar constant.
func (u *optUpdater) scalar(v float64) *graph.Node { return u.g.Scalar(v) }

// power returns the scalar node βᵗ computed as exp(t·ln β), t a scalar
// node; β = 0 gives 0 for t > 0 (ln 0 = −Inf).
func (u *optUpdater) power(beta float64, t *graph.Node) *graph.Node {
	return nodes.Exp(nodes.Mul(t, u.scalar(math.Log(beta))))
}

// optApply checks the step, the parameters and the gradients, clips the
// gradients, then builds each parameter's update in its own scope
// "optimizer/<param name>" (so that slots get their full names) and
// returns every Assign node, the graph's first error or an argument error.
// pre, when not nil, runs once before the parameters, in scope
// "optimizer", and returns Assigns of the optimizer's own state.
func optApply(name string, s *Step, params, grads []*graph.Node, clip Clip, pre func(u *optUpdater) []*graph.Node, up optUpdate) ([]*graph.Node, error) {
	if s == nil || s.Graph == nil {
		return nil, fmt.Errorf("train: %s: nil step (use NewStep)", name)
	}
	g := s.Graph
	if err := g.Err(); err != nil {
		return nil, err
	}
	for what, n := range map[string]*graph.Node{"learning rate": s.LearningRate, "step count": s.T} {
		switch {
		case n == nil:
			return nil, fmt.Errorf("train: %s: the step has no %s node (use NewStep)", name, what)
		case n.Graph() != g:
			return nil, fmt.Errorf("train: %s: the step's %s belongs to another graph", name, what)
		case n.Shape().IsOpen() || n.Shape().Size() != 1:
			return nil, fmt.Errorf("train: %s: the step's %s has shape %v, want a scalar", name, what, n.Shape())
		}
	}
	if len(params) != len(grads) {
		return nil, fmt.Errorf("train: %s: %d parameters and %d gradients", name, len(params), len(grads))
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("train: %s: no parameters to update", name)
	}
	seen := map[*graph.Node]bool{}
	for i, p := range params {
		gr := grads[i]
		switch {
		case p == nil:
			return nil, fmt.Errorf("train: %s: parameter %d is nil", name, i)
		case p.Graph() != g:
			return nil, fmt.Errorf("train: %s: parameter %q belongs to another graph", name, p.Name())
		case seen[p]:
			return nil, fmt.Errorf("train: %s: parameter %q is listed twice", name, p.Name())
		case gr == nil:
			return nil, fmt.Errorf("train: %s: no gradient for parameter %q", name, p.Name())
		case gr.Graph() != g:
			return nil, fmt.Errorf("train: %s: the gradient of %q belongs to another graph", name, p.Name())
		case !gr.Shape().Equal(p.Shape()):
			return nil, fmt.Errorf("train: %s: the gradient of %q has shape %v, the parameter %v", name, p.Name(), gr.Shape(), p.Shape())
		}
		if _, ok := p.Op().(graph.VariableOp); !ok {
			return nil, fmt.Errorf("train: %s: parameter %q is a %s, not a variable", name, p.Name(), p.Op().Name())
		}
		seen[p] = true
	}
	clipped, err := clip.clipGrads(g, grads)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", name, err)
	}
	u := &optUpdater{s: s, g: g}
	var out []*graph.Node
	if pre != nil {
		restore := g.EnterScope(optimizerScope)
		out = append(out, pre(u)...)
		restore()
	}
	for i, p := range params {
		restore := g.EnterScope(optimizerScope + "/" + p.Name())
		out = append(out, up(u, p, clipped[i])...)
		restore()
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// optOrDefault returns v, or def when v is zero.
func optOrDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// optCheckRate rejects a negative or non-finite learning rate.
func optCheckRate(name string, lr float64) error {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("train: %s: learning rate %g: want a finite number ≥ 0", name, lr)
	}
	return nil
}

// optCheckUnit rejects a coefficient outside [0, 1) (momentum, β, ρ).
func optCheckUnit(name, what string, v float64) error {
	if !(v >= 0 && v < 1) {
		return fmt.Errorf("train: %s: %s %g: want a number in [0, 1)", name, what, v)
	}
	return nil
}

// optCheckEpsilon rejects ε ≤ 0 (or not finite).
func optCheckEpsilon(name string, eps float64) error {
	if !(eps > 0) || math.IsInf(eps, 0) {
		return fmt.Errorf("train: %s: epsilon %g: want a finite number > 0", name, eps)
	}
	return nil
}
