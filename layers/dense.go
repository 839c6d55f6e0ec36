package layers

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
)

// DenseOptions configures a Dense layer; the zero value is Keras's default:
// no activation, a bias, glorot_uniform kernel, zeros bias.
type DenseOptions struct {
	// Activation by Keras name ("relu", "selu", ...); "" is linear.
	Activation string
	// UseBias: Default and True add a bias, False drops it (before
	// BatchNormalization, whose β makes it redundant).
	UseBias Bool
	// KernelInitializer and BiasInitializer by Keras name; KernelInit and
	// BiasInit, when set, take precedence.
	KernelInitializer string
	BiasInitializer   string
	KernelInit        initializers.Initializer
	BiasInit          initializers.Initializer
	// KernelRegularizer and BiasRegularizer add a penalty on the kernel or
	// the bias to the training loss (Keras's kernel_regularizer:
	// layers.L2(0.01) is keras.regularizers.l2(0.01), 0.01·Σw²); see
	// Sequential.Penalties.
	KernelRegularizer Regularizer
	BiasRegularizer   Regularizer
	// KernelConstraint and BiasConstraint project the kernel or the bias
	// after every optimizer update (Keras's kernel_constraint:
	// layers.MaxNorm{} is keras.constraints.MaxNorm(max_value=2, axis=0),
	// one norm per unit); see Sequential.Constrain.
	KernelConstraint Constraint
	BiasConstraint   Constraint
	// Name overrides the Keras-style name the model gives the layer.
	Name string
}

// DenseLayer is a fully connected layer: y = activation(x·W + b), with the
// kernel W of shape [in, units] (Keras layout) and the bias b of [units].
type DenseLayer struct {
	Base
	Units  int
	Opts   DenseOptions
	Kernel *Var
	Bias   *Var // nil without a bias
	act    func(*graph.Node) *graph.Node
}

// Dense returns a fully connected layer of units outputs.
func Dense(units int, opts DenseOptions) *DenseLayer {
	l := &DenseLayer{Units: units, Opts: opts}
	l.SetName(opts.Name)
	return l
}

// Class returns "Dense".
func (l *DenseLayer) Class() string { return "Dense" }

// Build declares the kernel [in, units] and the bias [units].
func (l *DenseLayer) Build(in graph.Shape) (graph.Shape, error) {
	l.Kernel, l.Bias, l.act = nil, nil, nil
	if l.Units <= 0 {
		return nil, fmt.Errorf("units must be positive, got %d", l.Units)
	}
	if len(in) != 2 {
		return nil, fmt.Errorf("input shape %v: Dense takes [batch, features] (add a Flatten layer first)", in)
	}
	if in[1] <= 0 {
		return nil, fmt.Errorf("input shape %v: the feature dimension must be known and positive", in)
	}
	act, err := nodes.LookupActivation(l.Opts.Activation)
	if err != nil {
		return nil, err
	}
	l.act = act
	kinit, err := resolveInit("kernel_initializer", l.Opts.KernelInit, l.Opts.KernelInitializer, "glorot_uniform")
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		what string
		v    any
	}{
		{"kernel_regularizer", l.Opts.KernelRegularizer}, {"bias_regularizer", l.Opts.BiasRegularizer},
		{"kernel_constraint", l.Opts.KernelConstraint}, {"bias_constraint", l.Opts.BiasConstraint},
	} {
		if err := validate(c.what, c.v); err != nil {
			return nil, err
		}
	}
	l.Kernel = &Var{Name: "kernel", Shape: graph.Shape{in[1], l.Units}, Init: kinit, Trainable: true,
		Regularizer: l.Opts.KernelRegularizer, Constraint: l.Opts.KernelConstraint}
	if l.Opts.UseBias.Or(true) {
		binit, err := resolveInit("bias_initializer", l.Opts.BiasInit, l.Opts.BiasInitializer, "zeros")
		if err != nil {
			l.Kernel, l.act = nil, nil
			return nil, err
		}
		l.Bias = &Var{Name: "bias", Shape: graph.Shape{l.Units}, Init: binit, Trainable: true,
			Regularizer: l.Opts.BiasRegularizer, Constraint: l.Opts.BiasConstraint}
	}
	return graph.Shape{in[0], l.Units}, nil
}

// Call emits x·W (+ b) and the activation.
func (l *DenseLayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if l.Kernel == nil || l.act == nil {
		return notBuilt(ctx, l, x)
	}
	y := nodes.MatMul(x, ctx.Variable(l.Kernel))
	if l.Bias != nil {
		y = nodes.Add(y, ctx.Variable(l.Bias))
	}
	return l.act(y)
}

// Variables returns the kernel and, if any, the bias.
func (l *DenseLayer) Variables() []*Var {
	if l.Kernel == nil {
		return nil
	}
	if l.Bias == nil {
		return []*Var{l.Kernel}
	}
	return []*Var{l.Kernel, l.Bias}
}
