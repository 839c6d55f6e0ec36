package nodes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// Dropout and AlphaDropout (SEMANTICS §5, §6). The maths takes the keep-mask
// as an input (1 = keep, 0 = drop), as the golden cases do:
//
//	dropout:        y = x·mask/(1−p)                      x̄ = ḡ·mask/(1−p)
//	alpha_dropout:  y = a·(x·mask + α'·(1 − mask)) + b    x̄ = ḡ·a·mask
//
// with α' = −λα (SELU's negative saturation value) and a, b chosen so that
// a standardized input keeps mean 0 and variance 1. The mask gets no
// gradient; it broadcasts numpy-style to x's shape without enlarging it, so
// a mask shared along some axes (Keras's noise_shape) is a mask with 1 on
// those axes. DropoutMask draws such masks, Bernoulli(1−p), from the model's
// step counter (see random.go); the layers (layers.Dropout,
// layers.AlphaDropout) put the two together in training mode and emit the
// identity at inference.

// AlphaDropoutAlpha is α' = −λ·α = −1.7580993408473766, the value SELU
// tends to for large negative inputs: AlphaDropout sets dropped units to it
// (before the affine correction) rather than to 0.
const AlphaDropoutAlpha = -1.7580993408473766

// AlphaDropoutCoefficients returns the affine correction of AlphaDropout at
// drop rate p: a = ((1−p)·(1+p·α'²))^(−1/2) and b = −a·α'·p.
// For p = 0.1, a = 0.9212845161497115 and b = 0.16197097005757022.
//
// The rate must be in [0, 1). For any other rate (1, where a would be
// +Inf, a negative rate, where the formula gives plausible but meaningless
// finite values, ±Inf or NaN) both a and b are NaN, so that a caller that
// skipped validation cannot go on with numbers that look right.
// AlphaDropoutWithMask and layers.AlphaDropout check the rate first and
// report a bad one as an error.
func AlphaDropoutCoefficients(rate float64) (a, b float64) {
	if !(rate >= 0 && rate < 1) { // as checkRate
		return math.NaN(), math.NaN()
	}
	a = math.Pow((1-rate)*(1+rate*AlphaDropoutAlpha*AlphaDropoutAlpha), -0.5)
	return a, -a * AlphaDropoutAlpha * rate
}

// checkRate returns an error unless 0 ≤ rate < 1.
func checkRate(name string, rate float64) error {
	if !(rate >= 0 && rate < 1) {
		return graph.Errorf(graph.ErrArg, "%s: rate %v: want 0 ≤ rate < 1", name, rate)
	}
	return nil
}

// DropoutWithMask returns inverted dropout of x with the given keep-mask
// (1 = keep, 0 = drop): x·mask/(1−rate). mask broadcasts to x's shape
// without enlarging it; it is a constant for autodiff (x̄ = ḡ·mask/(1−rate),
// the mask gets none). rate must be in [0, 1), or an error is recorded.
func DropoutWithMask(x, mask *graph.Node, rate float64) *graph.Node {
	op := dropoutOp{rate: rate}
	if err := checkRate("dropout", rate); err != nil {
		return fail(op, []*graph.Node{x, mask}, graph.ErrArg, "%v", err)
	}
	return add(op, x, mask)
}

type dropoutOp struct{ rate float64 }

func (dropoutOp) Name() string { return "dropout" }

func (op dropoutOp) Attrs() string { return "rate=" + sprint(op.rate) }

func (dropoutOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return slopeShape("dropout", "mask", in, 2)
}

// VJP: dropout is linear in x with the same mask and scale, so x̄ is the
// dropout of ḡ.
func (op dropoutOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{DropoutWithMask(gy, n.Input(1), op.rate), nil}
}

func (op dropoutOp) Bind32(a *kernel.Args[float32]) func() { return bindMaskScale(a, 1/(1-op.rate)) }
func (op dropoutOp) Bind64(a *kernel.Args[float64]) func() { return bindMaskScale(a, 1/(1-op.rate)) }

// bindMaskScale binds y = x·mask·scale, mask broadcast to x.
func bindMaskScale[T kernel.Float](a *kernel.Args[T], scale float64) func() {
	s := T(scale)
	return bindBinary(a, func(m kernel.Mode, d, x, k []T) {
		switch m {
		case kernel.VV:
			x, k = x[:len(d)], k[:len(d)]
			for i := range d {
				d[i] = x[i] * k[i] * s
			}
		case kernel.VS:
			ks := k[0] * s
			for i, v := range x[:len(d)] {
				d[i] = v * ks
			}
		case kernel.SV:
			v := x[0]
			for i, kv := range k[:len(d)] {
				d[i] = v * kv * s
			}
		}
	})
}

// AlphaDropoutWithMask returns alpha dropout of x with the given keep-mask
// (1 = keep): a·(x·mask + α'·(1 − mask)) + b with α' = AlphaDropoutAlpha
// and a, b = AlphaDropoutCoefficients(rate). mask broadcasts to x's shape
// without enlarging it and is a constant for autodiff: x̄ = ḡ·a·mask. rate
// must be in [0, 1), or an error is recorded.
func AlphaDropoutWithMask(x, mask *graph.Node, rate float64) *graph.Node {
	op := alphaDropoutOp{rate: rate}
	if err := checkRate("alpha_dropout", rate); err != nil {
		return fail(op, []*graph.Node{x, mask}, graph.ErrArg, "%v", err)
	}
	return add(op, x, mask)
}

type alphaDropoutOp struct{ rate float64 }

func (alphaDropoutOp) Name() string { return "alpha_dropout" }

func (op alphaDropoutOp) Attrs() string { return "rate=" + sprint(op.rate) }

func (alphaDropoutOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return slopeShape("alpha_dropout", "mask", in, 2)
}

// VJP: x̄ = ḡ·a·mask, a masked scaling.
func (op alphaDropoutOp) VJP(n, gy *graph.Node) []*graph.Node {
	a, _ := AlphaDropoutCoefficients(op.rate)
	return []*graph.Node{add(maskScaleOp{scale: a}, gy, n.Input(1)), nil}
}

func (op alphaDropoutOp) Bind32(a *kernel.Args[float32]) func() { return bindAlphaDropout(a, op.rate) }
func (op alphaDropoutOp) Bind64(a *kernel.Args[float64]) func() { return bindAlphaDropout(a, op.rate) }

func bindAlphaDropout[T kernel.Float](args *kernel.Args[T], rate float64) func() {
	a64, b64 := AlphaDropoutCoefficients(rate)
	a, b, ap := T(a64), T(b64), T(AlphaDropoutAlpha)
	return bindBinary(args, func(m kernel.Mode, d, x, k []T) {
		switch m {
		case kernel.VV:
			x, k = x[:len(d)], k[:len(d)]
			for i := range d {
				d[i] = a*(x[i]*k[i]+ap*(1-k[i])) + b
			}
		case kernel.VS:
			kv := k[0]
			c := ap * (1 - kv)
			for i, v := range x[:len(d)] {
				d[i] = a*(v*kv+c) + b
			}
		case kernel.SV:
			v := x[0]
			for i, kv := range k[:len(d)] {
				d[i] = a*(v*kv+ap*(1-kv)) + b
			}
		}
	})
}

// maskScaleOp is y = x·mask·scale, mask a constant broadcast to x: the
// gradient of AlphaDropoutWithMask (and its own, being linear in x).
type maskScaleOp struct{ scale float64 }

func (maskScaleOp) Name() string { return "mask_scale" }

func (op maskScaleOp) Attrs() string { return "scale=" + sprint(op.scale) }

func (maskScaleOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return slopeShape("mask_scale", "mask", in, 2)
}

func (op maskScaleOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{add(op, gy, n.Input(1)), nil}
}

func (op maskScaleOp) Bind32(a *kernel.Args[float32]) func() { return bindMaskScale(a, op.scale) }
func (op maskScaleOp) Bind64(a *kernel.Args[float64]) func() { return bindMaskScale(a, op.scale) }

// DropoutMask returns a keep-mask for dropout at the given rate: 1 with
// probability 1−rate and 0 otherwise, independently per element, shaped
// like like except along sharedAxes (negative values count from the end),
// where it has size 1 so that one draw is shared along that axis (Keras's
// noise_shape: with like of shape [B,T,F] and sharedAxes 1, a unit is
// dropped for every time step at once). Only like's shape is used.
//
// counter is a scalar node, in a model the variable "rng/counter" that
// the training program advances after each step: the mask of a run is a
// function of seed and the counter's value only, so each step draws a new
// mask and a resumed run draws the same masks as the original. The draws
// do not depend on the number of threads. The mask is a constant for
// autodiff. rate must be in [0, 1), the axes in range and distinct, and
// counter a scalar, or an error is recorded.
func DropoutMask(like *graph.Node, rate float64, seed uint64, counter *graph.Node, sharedAxes ...int) *graph.Node {
	op := dropoutMaskOp{rate: rate, seed: seed}
	ins := []*graph.Node{like, counter}
	if err := checkRate("dropout_mask", rate); err != nil {
		return fail(op, ins, graph.ErrArg, "%v", err)
	}
	if counter == nil {
		return fail(op, []*graph.Node{like}, graph.ErrNil, "dropout_mask: nil counter: dropout needs the step counter (layers.Context.RNGCounter)")
	}
	if like != nil && !like.IsPoisoned() {
		r := like.Shape().Rank()
		for _, ax := range sharedAxes {
			a, err := normAxis(ax, r)
			if err != nil {
				return fail(op, ins, graph.ErrArg, "dropout_mask: shared %v", err)
			}
			if op.shared&(1<<a) != 0 {
				return fail(op, ins, graph.ErrArg, "dropout_mask: shared axis %d given twice", ax)
			}
			op.shared |= 1 << a
		}
	}
	return add(op, like, counter)
}

// dropoutMaskOp draws Bernoulli(1−rate) keep-masks; shared is a bit set of
// the axes along which the mask has size 1.
type dropoutMaskOp struct {
	rate   float64
	seed   uint64
	shared uint64
}

func (dropoutMaskOp) Name() string { return "dropout_mask" }

func (op dropoutMaskOp) Attrs() string {
	s := fmt.Sprintf("rate=%g seed=%d", op.rate, op.seed)
	if op.shared != 0 {
		var axes []string
		for a := range 64 {
			if op.shared&(1<<a) != 0 {
				axes = append(axes, strconv.Itoa(a))
			}
		}
		s += " shared=" + strings.Join(axes, ",")
	}
	return s
}

func (op dropoutMaskOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkCounter("dropout_mask", in); err != nil {
		return nil, err
	}
	out := in[0].Clone()
	for a := len(out); a < 64; a++ {
		if op.shared&(1<<a) != 0 {
			return nil, graph.Errorf(graph.ErrArg, "dropout_mask: shared axis %d out of range for rank %d", a, len(out))
		}
	}
	for a := range out {
		if op.shared&(1<<a) != 0 {
			out[a] = 1
		}
	}
	return out, nil
}

// NoGradient says that the mask is a constant for autodiff.
func (dropoutMaskOp) NoGradient() string {
	return "a dropout mask is a random draw, a constant for autodiff"
}

// Stateful reports that the op draws random numbers: a compiler pass must
// not merge, fold or hoist it.
func (dropoutMaskOp) Stateful() bool { return true }

func (op dropoutMaskOp) Bind32(a *kernel.Args[float32]) func() { return bindDropoutMask(op, a) }
func (op dropoutMaskOp) Bind64(a *kernel.Args[float64]) func() { return bindDropoutMask(op, a) }

func bindDropoutMask[T kernel.Float](op dropoutMaskOp, a *kernel.Args[T]) func() {
	rate := op.rate
	return bindDraws(a.Dst[0], a.Src[1], op.seed, saltDropout, func(p *rand.PCG, blk []T) {
		for i := range blk {
			if uniform53(p) >= rate {
				blk[i] = 1
			} else {
				blk[i] = 0
			}
		}
	})
}
