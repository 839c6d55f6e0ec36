package layers

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
)

// Convention picks between Keras's and PyTorch's defaults where they differ
// (LeakyReLU's slope, PReLU's initial α, BatchNormalization's momentum and
// epsilon). Keras is the zero value.
type Convention uint8

// The two conventions.
const (
	Keras Convention = iota
	PyTorch
)

func (c Convention) String() string {
	if c == PyTorch {
		return "pytorch"
	}
	return "keras"
}

// ActivationLayer applies an activation by Keras name.
type ActivationLayer struct {
	Base
	Activation string
	act        func(*graph.Node) *graph.Node
}

// Activation returns a layer applying the named activation ("relu", "elu",
// "selu", "tanh", ...).
func Activation(name string) *ActivationLayer { return &ActivationLayer{Activation: name} }

// Class returns "Activation".
func (l *ActivationLayer) Class() string { return "Activation" }

// Build checks the name.
func (l *ActivationLayer) Build(in graph.Shape) (graph.Shape, error) {
	act, err := nodes.LookupActivation(l.Activation)
	if err != nil {
		return nil, err
	}
	l.act = act
	return in, nil
}

// Call applies the activation.
func (l *ActivationLayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if l.act == nil {
		return notBuilt(ctx, l, x)
	}
	return l.act(x)
}

// Variables returns none.
func (l *ActivationLayer) Variables() []*Var { return nil }

// LeakyReLUOptions configures LeakyReLU. Alpha zero means the convention's
// default: 0.3 (Keras's layer) or 0.01 (PyTorch).
type LeakyReLUOptions struct {
	Alpha      float64
	Convention Convention
	Name       string
}

// LeakyReLULayer is z for z > 0 and α·z otherwise.
type LeakyReLULayer struct {
	Base
	Alpha float64
	built bool
}

// LeakyReLU returns a leaky ReLU layer.
func LeakyReLU(opts LeakyReLUOptions) *LeakyReLULayer {
	a := opts.Alpha
	if a == 0 {
		a = nodes.KerasLeakyReLUAlpha
		if opts.Convention == PyTorch {
			a = nodes.TorchLeakyReLUAlpha
		}
	}
	l := &LeakyReLULayer{Alpha: a}
	l.SetName(opts.Name)
	return l
}

// Class returns "LeakyReLU".
func (l *LeakyReLULayer) Class() string { return "LeakyReLU" }

// Build checks α.
func (l *LeakyReLULayer) Build(in graph.Shape) (graph.Shape, error) {
	l.built = false
	if !(l.Alpha >= 0) || math.IsInf(l.Alpha, 0) {
		return nil, fmt.Errorf("alpha %g: want a non-negative finite slope", l.Alpha)
	}
	l.built = true
	return in, nil
}

// Call applies the activation.
func (l *LeakyReLULayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	return nodes.LeakyReLU(x, l.Alpha)
}

// Variables returns none.
func (l *LeakyReLULayer) Variables() []*Var { return nil }

// ELULayer is z for z > 0 and α·(exp(z) − 1) otherwise.
type ELULayer struct {
	Base
	Alpha float64
	built bool
}

// ELU returns an ELU layer; alpha 0 means the default 1.
func ELU(alpha float64) *ELULayer {
	if alpha == 0 {
		alpha = 1
	}
	return &ELULayer{Alpha: alpha}
}

// Class returns "ELU".
func (l *ELULayer) Class() string { return "ELU" }

// Build checks α.
func (l *ELULayer) Build(in graph.Shape) (graph.Shape, error) {
	l.built = false
	if !(l.Alpha > 0) || math.IsInf(l.Alpha, 0) {
		return nil, fmt.Errorf("alpha %g: want a positive finite number", l.Alpha)
	}
	l.built = true
	return in, nil
}

// Call applies the activation.
func (l *ELULayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	return nodes.ELU(x, l.Alpha)
}

// Variables returns none.
func (l *ELULayer) Variables() []*Var { return nil }

// SELULayer is the scaled ELU of Klambauer et al.
type SELULayer struct {
	Base
	built bool
}

// SELU returns a SELU layer. It self-normalizes only with lecun_normal
// kernels, standardized inputs and a plain stack of dense layers.
func SELU() *SELULayer { return &SELULayer{} }

// Class returns "SELU".
func (l *SELULayer) Class() string { return "SELU" }

// Build returns the input shape.
func (l *SELULayer) Build(in graph.Shape) (graph.Shape, error) {
	l.built = true
	return in, nil
}

// Call applies the activation.
func (l *SELULayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	return nodes.SELU(x)
}

// Variables returns none.
func (l *SELULayer) Variables() []*Var { return nil }

// PReLUOptions configures PReLU.
type PReLUOptions struct {
	// AlphaInitializer by Keras name, or AlphaInit as a value; the default
	// is the convention's: zeros (Keras: PReLU starts as ReLU) or the
	// constant 0.25 (PyTorch).
	AlphaInitializer string
	AlphaInit        initializers.Initializer
	Convention       Convention
	// SharedAxes lists input axes (1-based, the batch being axis 0) along
	// which one α is shared, as Keras's shared_axes. When nil, α is shared
	// along every axis but the last: one α per channel. PerElement gives
	// Keras's default instead: one α per element of input_shape[1:].
	SharedAxes []int
	PerElement bool
	Name       string
}

// PReLULayer is a leaky ReLU whose slope α is learned.
type PReLULayer struct {
	Base
	Opts  PReLUOptions
	Alpha *Var
}

// PReLU returns a parametric leaky ReLU layer.
func PReLU(opts PReLUOptions) *PReLULayer {
	l := &PReLULayer{Opts: opts}
	l.SetName(opts.Name)
	return l
}

// Class returns "PReLU".
func (l *PReLULayer) Class() string { return "PReLU" }

// Build declares α of shape input_shape[1:] with the shared axes set to 1.
func (l *PReLULayer) Build(in graph.Shape) (graph.Shape, error) {
	l.Alpha = nil
	if len(in) < 2 {
		return nil, fmt.Errorf("input shape %v: PReLU needs [batch, ...] of rank ≥ 2", in)
	}
	shape := in[1:].Clone()
	switch {
	case l.Opts.SharedAxes != nil:
		for _, a := range l.Opts.SharedAxes {
			if a < 1 || a >= len(in) {
				return nil, fmt.Errorf("shared axis %d out of range [1, %d]", a, len(in)-1)
			}
			shape[a-1] = 1
		}
	case !l.Opts.PerElement:
		for i := 0; i < len(shape)-1; i++ {
			shape[i] = 1
		}
	}
	var init initializers.Initializer
	if l.Opts.AlphaInit == nil && l.Opts.AlphaInitializer == "" && l.Opts.Convention == PyTorch {
		init = initializers.Constant{Value: 0.25}
	}
	if init == nil {
		var err error
		init, err = resolveInit("alpha_initializer", l.Opts.AlphaInit, l.Opts.AlphaInitializer, "zeros")
		if err != nil {
			return nil, err
		}
	}
	l.Alpha = &Var{Name: "alpha", Shape: shape, Init: init, Trainable: true}
	return in, nil
}

// Call applies the activation with the learned α.
func (l *PReLULayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if l.Alpha == nil {
		return notBuilt(ctx, l, x)
	}
	return nodes.PReLU(x, ctx.Variable(l.Alpha))
}

// Variables returns α.
func (l *PReLULayer) Variables() []*Var {
	if l.Alpha == nil {
		return nil
	}
	return []*Var{l.Alpha}
}

// RReLUOptions configures RReLU; zero bounds mean PyTorch's defaults 1/8 and
// 1/3.
type RReLUOptions struct {
	Lower, Upper float64
	Name         string
}

// RReLULayer is the randomized leaky ReLU: in training, a slope drawn per
// element from U(Lower, Upper) at every step; at inference the fixed slope
// (Lower+Upper)/2.
type RReLULayer struct {
	Base
	Lower, Upper float64
	built        bool
}

// RReLU returns a randomized leaky ReLU layer.
func RReLU(opts RReLUOptions) *RReLULayer {
	lo, hi := opts.Lower, opts.Upper
	if lo == 0 && hi == 0 {
		lo, hi = 1.0/8, 1.0/3
	}
	l := &RReLULayer{Lower: lo, Upper: hi}
	l.SetName(opts.Name)
	return l
}

// Class returns "RReLU".
func (l *RReLULayer) Class() string { return "RReLU" }

// Build checks the bounds.
func (l *RReLULayer) Build(in graph.Shape) (graph.Shape, error) {
	l.built = false
	if !(0 <= l.Lower && l.Lower <= l.Upper && l.Upper <= 1) {
		return nil, fmt.Errorf("bounds [%g, %g]: want 0 ≤ lower ≤ upper ≤ 1", l.Lower, l.Upper)
	}
	l.built = true
	return in, nil
}

// Call applies the activation for the context's mode; training draws from
// the layer's own seed and the model's step counter (Context.RNGCounter).
func (l *RReLULayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	if !ctx.Training() {
		return nodes.RReLU(x, l.Lower, l.Upper, false, 0, nil)
	}
	return nodes.RReLU(x, l.Lower, l.Upper, true, ctx.LayerSeed(l.Name()), ctx.RNGCounter())
}

// Variables returns none.
func (l *RReLULayer) Variables() []*Var { return nil }
