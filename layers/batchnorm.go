package layers

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
)

// Default momentum of the moving averages. The two frameworks weight
// different terms with it (SEMANTICS §4.2): Keras keeps that fraction of the
// old value, moving = moving·0.99 + batch·0.01; PyTorch takes that fraction
// of the new one, running = 0.9·running + 0.1·batch.
const (
	KerasBNMomentum = 0.99
	TorchBNMomentum = 0.1
)

// BNOptions configures BatchNormalization. The zero value is Keras's
// default (keras.layers.BatchNormalization()): channels last, momentum
// 0.99, ε = 1e-3, with β and γ, γ = 1, β = 0, moving mean 0, moving
// variance 1, the biased batch variance averaged into the moving variance.
type BNOptions struct {
	// Axis is the channel axis, counting the batch as axis 0 as Keras does:
	// 0 (the zero value) is the last axis (Keras's axis=-1, channels last),
	// 1 is channels first (Keras's axis=1 after a channels_first Conv2D,
	// PyTorch's BatchNorm2d layout), a negative value counts from the end.
	// Every other axis is reduced over.
	Axis int
	// Momentum of the moving averages, in (0, 1], read the way Convention
	// reads it: the fraction of the old value kept (Keras) or of the batch
	// statistic taken (PyTorch). 0 means the convention's default, 0.99 or
	// 0.1. PyTorch's momentum=None (a cumulative average) is not offered.
	Momentum float64
	// Epsilon is added to the variance before the square root; 0 means the
	// convention's default, 1e-3 (Keras) or 1e-5 (PyTorch).
	Epsilon float64
	// Center adds the learned offset β and Scale the learned scale γ, both
	// by default. Keras notes that Scale can be dropped when the next layer
	// is linear (or a ReLU): that layer does the scaling. Without them β is
	// 0 and γ is 1.
	Center, Scale Bool
	// Initializers by Keras name ("ones", "zeros", "constant", ...), or as
	// values, which take precedence. Defaults: gamma ones, beta zeros,
	// moving_mean zeros, moving_variance ones.
	GammaInitializer, BetaInitializer                       string
	MovingMeanInitializer, MovingVarianceInitializer        string
	GammaInit, BetaInit, MovingMeanInit, MovingVarianceInit initializers.Initializer
	// Convention picks the framework whose defaults and rules apply:
	// Keras (momentum on the old value, ε = 1e-3, biased batch variance in
	// the moving variance, one value per channel allowed in training) or
	// PyTorch (momentum on the new value, ε = 1e-5, unbiased σ²·m/(m−1) in
	// the running variance, one value per channel in training an error).
	Convention Convention
	// Name overrides the Keras-style name the model gives the layer.
	Name string
}

// BatchNormLayer is Batch Normalization (Ioffe & Szegedy): in training it
// normalizes each channel with the statistics of the batch, then scales by
// γ and shifts by β, and averages the batch statistics into its moving mean
// and variance; at inference it normalizes with the moving statistics.
//
// γ and β are parameters; the moving mean and variance are state,
// non-trainable variables in the store that every program of the model
// shares. The training program updates them in place: Call records the
// two nodes.Assign updates with Context.AddUpdate, and whoever compiles the
// training program fetches them (Emitted.Updates). Building or compiling a
// program never resets them (vm.Store.Init leaves existing variables
// alone), and the inference program only reads them.
type BatchNormLayer struct {
	Base
	Opts BNOptions
	// Axis, Momentum and Epsilon are the settings in force, defaults
	// applied, once the layer is built; Axis counts from 0.
	Axis              int
	Momentum, Epsilon float64
	// Gamma and Beta are nil without Scale and Center.
	Gamma, Beta                *Var
	MovingMean, MovingVariance *Var
}

// BatchNormalization returns a Batch Normalization layer.
func BatchNormalization(opts BNOptions) *BatchNormLayer {
	l := &BatchNormLayer{Opts: opts}
	l.SetName(opts.Name)
	return l
}

// Class returns "BatchNormalization".
func (l *BatchNormLayer) Class() string { return "BatchNormalization" }

// Build resolves the settings and declares γ and β (trainable) and the
// moving mean and variance (non-trainable), each of shape [C], C the size
// of the channel axis.
func (l *BatchNormLayer) Build(in graph.Shape) (graph.Shape, error) {
	o := l.Opts
	l.Gamma, l.Beta, l.MovingMean, l.MovingVariance = nil, nil, nil, nil
	r := len(in)
	if r < 2 {
		return nil, fmt.Errorf("input shape %v: BatchNormalization needs a batch axis and a channel axis", in)
	}
	axis := o.Axis
	switch {
	case axis == 0:
		axis = r - 1
	case axis < 0:
		axis += r
	}
	if axis < 1 || axis >= r {
		return nil, fmt.Errorf("axis %d out of range for input shape %v: want 1 … %d, or −1 … −%d from the end (0 means the last axis; the batch axis 0 cannot be the channel axis)", o.Axis, kerasShape(in), r-1, r-1)
	}
	c := in[axis]
	if c <= 0 {
		return nil, fmt.Errorf("input shape %v: the channel axis %d must have a known, positive size", kerasShape(in), axis)
	}
	pytorch := o.Convention == PyTorch
	momentum, eps := KerasBNMomentum, nodes.KerasBNEpsilon
	if pytorch {
		momentum, eps = TorchBNMomentum, nodes.TorchBNEpsilon
	}
	if o.Momentum != 0 {
		momentum = o.Momentum
	}
	if !(momentum > 0 && momentum <= 1) {
		return nil, fmt.Errorf("momentum %g: want a number in (0, 1]", o.Momentum)
	}
	if o.Epsilon != 0 {
		eps = o.Epsilon
	}
	if !(eps > 0) || math.IsInf(eps, 0) {
		return nil, fmt.Errorf("epsilon %g: want a positive finite number", o.Epsilon)
	}
	shape := graph.Shape{c}
	declare := func(name, what string, value initializers.Initializer, byName, def string, trainable bool) (*Var, error) {
		init, err := resolveInit(what, value, byName, def)
		if err != nil {
			return nil, err
		}
		return &Var{Name: name, Shape: shape.Clone(), Init: init, Trainable: trainable}, nil
	}
	var gamma, beta, mm, mv *Var
	var err error
	if o.Scale.Or(true) {
		if gamma, err = declare("gamma", "gamma_initializer", o.GammaInit, o.GammaInitializer, "ones", true); err != nil {
			return nil, err
		}
	}
	if o.Center.Or(true) {
		if beta, err = declare("beta", "beta_initializer", o.BetaInit, o.BetaInitializer, "zeros", true); err != nil {
			return nil, err
		}
	}
	if mm, err = declare("moving_mean", "moving_mean_initializer", o.MovingMeanInit, o.MovingMeanInitializer, "zeros", false); err != nil {
		return nil, err
	}
	if mv, err = declare("moving_variance", "moving_variance_initializer", o.MovingVarianceInit, o.MovingVarianceInitializer, "ones", false); err != nil {
		return nil, err
	}
	l.Axis, l.Momentum, l.Epsilon = axis, momentum, eps
	l.Gamma, l.Beta, l.MovingMean, l.MovingVariance = gamma, beta, mm, mv
	return in, nil
}

// Call emits, in training mode, nodes.BatchNormTrain and the updates of the
// moving statistics (recorded with ctx.AddUpdate):
//
//	Keras:   moving = moving·momentum + batch·(1 − momentum)
//	PyTorch: moving = (1 − momentum)·moving + momentum·batch
//
// where batch is μ_B for the mean, and σ²_B (Keras) or σ²_B·m/(m−1)
// (PyTorch) for the variance; in inference mode nodes.BatchNormInferWith
// with the moving statistics.
func (l *BatchNormLayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	g := ctx.Graph
	if l.MovingMean == nil {
		return notBuilt(ctx, l, x)
	}
	shape := l.MovingMean.Shape
	gamma, beta := g.Constant(shape, 1), g.Constant(shape, 0)
	if l.Gamma != nil {
		gamma = ctx.Variable(l.Gamma)
	}
	if l.Beta != nil {
		beta = ctx.Variable(l.Beta)
	}
	mm, mv := ctx.Variable(l.MovingMean), ctx.Variable(l.MovingVariance)
	pytorch := l.Opts.Convention == PyTorch
	opts := nodes.BNOptions{Axis: l.Axis, Epsilon: l.Epsilon, Unbiased: pytorch}
	if !ctx.Training() {
		return nodes.BatchNormInferWith(x, gamma, beta, mm, mv, opts)
	}
	y := nodes.BatchNormTrain(x, gamma, beta, opts)
	st := nodes.BatchNormStats(y)
	keepOld, takeNew := l.Momentum, 1-l.Momentum
	if pytorch {
		keepOld, takeNew = 1-l.Momentum, l.Momentum
	}
	average := func(moving, batch *graph.Node) *graph.Node {
		return nodes.Add(nodes.Mul(moving, g.Scalar(keepOld)), nodes.Mul(batch, g.Scalar(takeNew)))
	}
	ctx.AddUpdate(nodes.Assign(mm, average(mm, st.Mean)))
	ctx.AddUpdate(nodes.Assign(mv, average(mv, st.MovingVariance)))
	return y
}

// Variables returns γ and β (those the layer has), then the moving mean and
// variance: Keras's order.
func (l *BatchNormLayer) Variables() []*Var {
	var vs []*Var
	for _, v := range []*Var{l.Gamma, l.Beta, l.MovingMean, l.MovingVariance} {
		if v != nil {
			vs = append(vs, v)
		}
	}
	return vs
}
