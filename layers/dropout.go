package layers

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// DropoutOptions configures Dropout and AlphaDropout (Keras's noise_shape
// and seed; the rate is a required argument, as in Keras).
type DropoutOptions struct {
	// NoiseShape is Keras's noise_shape: the mask's shape, one entry per
	// axis of the input, the batch axis included. An entry of 1 shares one
	// draw along that axis (with noise_shape (batch, 1, features) on
	// [batch, timesteps, features], a feature is dropped for every time
	// step at once); 0, graph.Batch (Keras's None) or the input's own
	// dimension draw along it. nil draws one value per element.
	NoiseShape []int
	// Seed of the layer's masks; 0 derives one from the model seed and the
	// layer's name (Context.LayerSeed), which is what keeps two dropout
	// layers apart.
	Seed uint64
	// Name overrides the Keras-style name the model gives the layer.
	Name string
}

// dropoutCore is what Dropout and AlphaDropout share: the rate, the options
// and the axes the mask is shared along.
type dropoutCore struct {
	Base
	Rate   float64
	Opts   DropoutOptions
	shared []int
	built  bool
}

// build checks the rate and the noise shape against the input shape.
func (l *dropoutCore) build(in graph.Shape) (graph.Shape, error) {
	l.built = false
	if !(l.Rate >= 0 && l.Rate < 1) {
		return nil, fmt.Errorf("rate %v: want 0 ≤ rate < 1", l.Rate)
	}
	l.shared = nil
	if ns := l.Opts.NoiseShape; ns != nil {
		if len(ns) != len(in) {
			return nil, fmt.Errorf("noise_shape %v: want %d entries, one per axis of the input %v (batch included)", ns, len(in), in)
		}
		for a, d := range ns {
			switch {
			case d == 0 || d == graph.Batch || d == in[a]:
			case d == 1:
				l.shared = append(l.shared, a)
			default:
				return nil, fmt.Errorf("noise_shape %v: entry %d is %d: want 1 (shared), 0 or None (drawn) or the input's dimension %d", ns, a, d, in[a])
			}
		}
	}
	l.built = true
	return in, nil
}

// mask draws the layer's keep-mask for x, or returns nil when the layer
// passes x through (Inference mode without MCDropout, or rate 0).
func (l *dropoutCore) mask(ctx *Context, x *graph.Node) *graph.Node {
	if !ctx.Dropping() || l.Rate == 0 {
		return nil
	}
	seed := l.Opts.Seed
	if seed == 0 {
		seed = ctx.LayerSeed(l.Name())
	}
	return nodes.DropoutMask(x, l.Rate, seed, ctx.RNGCounter(), l.shared...)
}

// DropoutLayer is inverted dropout (Srivastava et al. 2014): in training
// each unit is zeroed with probability Rate and the kept ones are scaled by
// 1/(1−Rate), so the expected output is the input; at inference it is the
// identity. The mask is drawn from the layer's seed and the model's step
// counter (Context.RNGCounter), fresh at every step and reproducible from
// a checkpoint. With Context.MCDropout it keeps dropping at inference.
type DropoutLayer struct {
	dropoutCore
}

// Dropout returns a dropout layer that drops a fraction rate of its inputs
// in training (keras.layers.Dropout(rate)); rate must be in [0, 1).
func Dropout(rate float64, opts DropoutOptions) *DropoutLayer {
	l := &DropoutLayer{dropoutCore{Rate: rate, Opts: opts}}
	l.SetName(opts.Name)
	return l
}

// Class returns "Dropout".
func (l *DropoutLayer) Class() string { return "Dropout" }

// Build checks the rate and the noise shape.
func (l *DropoutLayer) Build(in graph.Shape) (graph.Shape, error) { return l.build(in) }

// Call emits x·mask/(1−rate) when the context drops, and x otherwise.
func (l *DropoutLayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	m := l.mask(ctx, x)
	if m == nil {
		return x
	}
	return nodes.DropoutWithMask(x, m, l.Rate)
}

// Variables returns none: the random state is the model's step counter.
func (l *DropoutLayer) Variables() []*Var { return nil }

// AlphaDropoutLayer is the dropout of self-normalizing networks
// (Klambauer et al. 2017), for use with SELU and lecun_normal: in training
// a dropped unit is set to SELU's negative saturation value α' = −λα
// rather than 0, and an affine correction a·x + b keeps a standardized
// input at mean 0 and variance 1 (SEMANTICS §6); at inference it is the
// identity. Masks as for DropoutLayer.
type AlphaDropoutLayer struct {
	dropoutCore
}

// AlphaDropout returns an alpha dropout layer
// (keras.layers.AlphaDropout(rate)); rate must be in [0, 1).
func AlphaDropout(rate float64, opts DropoutOptions) *AlphaDropoutLayer {
	l := &AlphaDropoutLayer{dropoutCore{Rate: rate, Opts: opts}}
	l.SetName(opts.Name)
	return l
}

// Class returns "AlphaDropout".
func (l *AlphaDropoutLayer) Class() string { return "AlphaDropout" }

// Build checks the rate and the noise shape.
func (l *AlphaDropoutLayer) Build(in graph.Shape) (graph.Shape, error) { return l.build(in) }

// Call emits a·(x·mask + α'·(1 − mask)) + b when the context drops, and x
// otherwise.
func (l *AlphaDropoutLayer) Call(ctx *Context, x *graph.Node) *graph.Node {
	if !l.built {
		return notBuilt(ctx, l, x)
	}
	m := l.mask(ctx, x)
	if m == nil {
		return x
	}
	return nodes.AlphaDropoutWithMask(x, m, l.Rate)
}

// Variables returns none: the random state is the model's step counter.
func (l *AlphaDropoutLayer) Variables() []*Var { return nil }
