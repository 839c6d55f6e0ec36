package layers

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
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
type Var struct {
	Name      string
	Shape     graph.Shape
	Init      initializers.Initializer
	Trainable bool
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
	// Updates collects the state updates layers emit in training mode
	// (nodes.Assign of BatchNorm's moving statistics); whoever compiles the
	// training program fetches them so that they run.
	Updates []*graph.Node
}

// AddUpdate records a state update (an Assign node) for the program to run.
func (c *Context) AddUpdate(n *graph.Node) { c.Updates = append(c.Updates, n) }

// Training reports whether the context is in training mode.
func (c *Context) Training() bool { return c.Mode == Training }

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
