package layers

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
)

// Layer is one step of a model. A layer is built once, when the model knows
// its input shape, and then called any number of times: once per graph the
// model is emitted into (a training graph, an inference graph, a graph for
// another batch size). Its variables are the same in every graph: they are
// named after the layer and live in the store under those names.
//
// Custom layers embed Base (for the name) and implement the rest.
type Layer interface {
	// Class is the layer's type as Summary shows it: "Dense".
	Class() string
	// Name is the layer's name ("dense_1"); the model sets it when empty.
	Name() string
	// SetName sets the name; models call it before Build.
	SetName(name string)
	// Build receives the input shape (the batch dimension open) and returns
	// the output shape; it declares the layer's variables. An invalid
	// configuration or an input the layer cannot take is an error here.
	Build(in graph.Shape) (graph.Shape, error)
	// Call emits the layer's nodes for input x into ctx's graph and returns
	// the output node. Errors go to the graph (sticky).
	Call(ctx *Context, x *graph.Node) *graph.Node
	// Variables lists the variables Build declared, in a fixed order.
	Variables() []*Var
}

// Base holds a layer's name; embed it in a custom layer.
type Base struct{ name string }

// Name returns the layer's name.
func (b *Base) Name() string { return b.name }

// SetName sets the layer's name.
func (b *Base) SetName(name string) { b.name = name }

// Var declares one variable of a layer: its name within the layer
// ("kernel"), shape, initializer and whether optimizers train it. Its store
// name is "<layer>/<name>".
//
// Regularizer, when set, adds a penalty on the variable to the training
// loss (Keras's kernel_regularizer; see Sequential.Penalties). Constraint,
// when set, projects the variable after every optimizer update (Keras's
// kernel_constraint; see Sequential.Constrain).
type Var struct {
	Name        string
	Shape       graph.Shape
	Init        initializers.Initializer
	Trainable   bool
	Regularizer Regularizer
	Constraint  Constraint
}

// Size is the number of values of the variable.
func (v *Var) Size() int { return v.Shape.Size() }

// Mode says which behaviour a layer emits: RReLU draws its slopes,
// BatchNormalization uses batch statistics (and updates its moving ones),
// and Dropout drops, only in Training.
type Mode uint8

// The two modes.
const (
	Inference Mode = iota
	Training
)

func (m Mode) String() string {
	if m == Training {
		return "training"
	}
	return "inference"
}

// Context is what a layer's Call emits into: the graph, the mode, and the
// model seed (for layers that draw random numbers, combined with the layer's
// name so that each layer has its own stream).
type Context struct {
	Graph *graph.Graph
	Mode  Mode
	Seed  uint64
	// MCDropout keeps Dropout and AlphaDropout dropping in Inference mode
	// (Monte Carlo dropout, Gal & Ghahramani 2016): every run of the
	// inference program draws new masks, and averaging the predictions of
	// N runs estimates the model's predictive mean (their spread, its
	// uncertainty). The masks come from the step counter like training
	// masks (RNGCounter), so Updates then holds the counter's update, and
	// the program must run it for each run to draw a new mask. Other layers
	// (BatchNormalization, RReLU) keep their inference behaviour.
	MCDropout bool
	// Updates collects the state updates layers emit in training mode
	// (nodes.Assign of BatchNorm's moving statistics, the step counter's
	// advance); whoever compiles the training program fetches them so that
	// they run.
	Updates []*graph.Node

	rng *graph.Node // the step counter, once asked for
}

// RNGCounterName is the store name of the step counter that random layers
// draw from (see Context.RNGCounter).
const RNGCounterName = "rng/counter"

// RNGCounter returns the model's step counter in ctx's graph: the scalar
// non-trainable variable "rng/counter", zero-initialized, created on first
// use. Layers that draw random numbers (RReLU's slopes and the dropout masks
// in training) pass it to their random op, which derives its draws from the
// layer's seed and the counter's value. When the context draws (Training
// mode, or MCDropout), the first call also records the counter's advance,
// Assign(counter, NextCount(counter)), in Updates — once per graph, however
// many random layers and contexts use it; the program runs it after
// everything else, so that all draws of a step see the same value.
//
// Because the counter lives in the store, the random state is part of a
// checkpoint: a run resumed from one, or a program rebuilt for another
// batch size, draws exactly what the original run would have drawn. It has
// the model's dtype; in float32 it counts exactly up to 2²⁴ − 1 and then
// wraps to 0 (nodes.NextCount), so the random streams of a float32 model
// repeat after 16,777,216 steps.
func (c *Context) RNGCounter() *graph.Node {
	if c.rng != nil && c.rng.Graph() == c.Graph {
		return c.rng
	}
	g := c.Graph
	restore := g.EnterScope("")
	defer restore()
	n := g.Node(RNGCounterName)
	if n == nil {
		g.WithScope("rng", func() {
			n = g.Variable("counter", graph.Shape{}, graph.NonTrainable(), graph.WithInit(initializers.Zeros{}))
		})
	} else if op, ok := n.Op().(graph.VariableOp); !ok || op.Shape.Rank() != 0 {
		return g.Fail(counterOp{}, []*graph.Node{n}, graph.Errorf(graph.ErrArg, "layers: %q is a %s of shape %v, not the scalar step counter", RNGCounterName, n.Op().Name(), n.Shape()))
	}
	if n.IsPoisoned() {
		return n
	}
	c.rng = n
	if c.Training() || c.MCDropout {
		advanced := false
		for _, m := range g.Nodes() {
			if nodes.IsAssign(m.Op()) && m.Input(0) == n {
				advanced = true
				break
			}
		}
		if !advanced {
			g.WithScope("rng", func() { c.AddUpdate(nodes.Assign(n, nodes.NextCount(n))) })
		}
	}
	return n
}

// counterOp names the step counter in graph errors.
type counterOp struct{}

func (counterOp) Name() string { return "rng_counter" }
func (counterOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, graph.Errorf(graph.ErrArg, "not an op")
}

// AddUpdate records a state update (an Assign node) for the program to run.
func (c *Context) AddUpdate(n *graph.Node) { c.Updates = append(c.Updates, n) }

// Training reports whether the context is in training mode.
func (c *Context) Training() bool { return c.Mode == Training }

// Dropping reports whether dropout layers drop: in Training mode, or in
// Inference mode with MCDropout.
func (c *Context) Dropping() bool { return c.Mode == Training || c.MCDropout }

// Variable returns the graph node of v in the current name scope (the
// layer's), creating it on first use in this graph.
func (c *Context) Variable(v *Var) *graph.Node {
	g := c.Graph
	full := v.Name
	if s := g.Scope(); s != "" {
		full = s + "/" + v.Name
	}
	if n := g.Node(full); n != nil {
		return n
	}
	opts := []graph.VarOption{}
	if v.Init != nil {
		opts = append(opts, graph.WithInit(v.Init))
	}
	if !v.Trainable {
		opts = append(opts, graph.NonTrainable())
	}
	return g.Variable(v.Name, v.Shape, opts...)
}

// LayerSeed derives a layer's seed from the model seed and the layer's
// name (FNV-1a), for layers that draw random numbers.
func (c *Context) LayerSeed(layer string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(layer); i++ {
		h ^= uint64(layer[i])
		h *= 1099511628211
	}
	return h ^ (c.Seed * 0x9e3779b97f4a7c15)
}

// Bool is a setting that defaults to something when left zero: Default,
// True or False. DenseOptions{UseBias: layers.False} drops the bias.
type Bool uint8

// The three values of a Bool.
const (
	Default Bool = iota
	True
	False
)

// Or returns the setting, or def when it is Default.
func (b Bool) Or(def bool) bool {
	switch b {
	case True:
		return true
	case False:
		return false
	}
	return def
}

// resolveInit picks an initializer: an explicit value, else a Keras name,
// else the default name.
func resolveInit(what string, value initializers.Initializer, name, def string) (initializers.Initializer, error) {
	if value != nil {
		return value, nil
	}
	if name == "" {
		name = def
	}
	init, err := initializers.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return init, nil
}

// notBuilt records on ctx's graph that a layer was called before Build (a
// custom model that skips Sequential.Build), and returns the poisoned node.
func notBuilt(ctx *Context, l Layer, x *graph.Node) *graph.Node {
	return ctx.Graph.Fail(layerOp{l}, []*graph.Node{x}, graph.Errorf(graph.ErrArg, "layer %q (%s) called before Build", l.Name(), l.Class()))
}

// layerOp names a layer in graph errors.
type layerOp struct{ l Layer }

func (op layerOp) Name() string { return op.l.Class() }
func (op layerOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, graph.Errorf(graph.ErrArg, "not an op")
}
