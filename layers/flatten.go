package layers

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// InputLayer declares the shape of a model's input, without the batch
// dimension. It is not shown by Summary, as in Keras's Sequential.
type InputLayer struct {
	Base
	Shape graph.Shape // without the batch dimension
	built bool
}

// Input declares a model's input shape, without the batch dimension:
// Input(28, 28) takes batches of 28×28 images.
func Input(shape ...int) *InputLayer {
	l := &InputLayer{Shape: append(graph.Shape(nil), shape...)}
	return l
}

// Class returns "InputLayer".
func (l *InputLayer) Class() string { return "InputLayer" }

// Build returns [batch, shape...].
func (l *InputLayer) Build(in graph.Shape) (graph.Shape, error) {
	l.built = false
	for _, d := range l.Shape {
		if d <= 0 {
			return nil, fmt.Errorf("input shape %v: dimensions must be positive", []int(l.Shape))
		}
	}
	l.built = true
	return append(graph.Shape{graph.Batch}, l.Shape...), nil
}

// Call returns x.
func (l *InputLayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	return x
}

// Variables returns none.
func (l *InputLayer) Variables() []*Var { return nil }

// FlattenLayer reshapes [batch, d1, d2, ...] to [batch, d1·d2·...].
type FlattenLayer struct {
	Base
	built bool
}

// Flatten returns a layer that flattens everything but the batch dimension.
func Flatten() *FlattenLayer { return &FlattenLayer{} }

// Class returns "Flatten".
func (l *FlattenLayer) Class() string { return "Flatten" }

// Build returns [batch, product of the other dimensions].
func (l *FlattenLayer) Build(in graph.Shape) (graph.Shape, error) {
	l.built = false
	if len(in) < 1 {
		return nil, fmt.Errorf("input shape %v: Flatten needs a batch dimension", in)
	}
	n := 1
	for _, d := range in[1:] {
		n *= d
	}
	l.built = true
	return graph.Shape{in[0], n}, nil
}

// Call emits the reshape (nothing when the input is already flat).
func (l *FlattenLayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	if x != nil && x.Shape().Rank() == 2 {
		return x
	}
	return nodes.Flatten(x)
}

// Variables returns none.
func (l *FlattenLayer) Variables() []*Var { return nil }
