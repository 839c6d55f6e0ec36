package nodes

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The randomized leaky ReLU (SEMANTICS §1.3). At inference it is a leaky
// ReLU with the fixed slope (lower+upper)/2. In training it is
// LeakyReLUWithSlopes fed by an op, RReLUSlopes, that draws a fresh slope
// per element from U(lower, upper) on every step: since the gradient reads
// the same slopes node, the backward pass uses exactly the slopes the
// forward pass drew.
//
// Where the random state lives: in the store, not in the op. RReLUSlopes
// takes a scalar counter node (a model's "rng/counter" variable, which the
// training program advances after every step) and derives its draws from
// its seed, the counter's value and the element's block (see random.go).
// A rebuilt program or a run resumed from a checkpoint therefore draws the
// same slopes as the original run, whatever the number of threads. Give
// each RReLU of a model its own seed (layers derive one from the model seed
// and the layer's name), or two of the same shape draw the same slopes.

// PyTorch's defaults for the bounds of RReLU's slopes
// (torch.nn.RReLU(lower=1/8, upper=1/3)); Keras has no RReLU. The slope at
// inference is then (1/8 + 1/3)/2 = 0.22916666666666666.
const (
	RReLULower = 1.0 / 8
	RReLUUpper = 1.0 / 3
)

// RReLU returns the randomized leaky ReLU of x with slopes in
// [lower, upper]. With training false it is LeakyReLU(x, (lower+upper)/2),
// deterministic; seed and counter are not used and counter may be nil.
// With training true it is
// LeakyReLUWithSlopes(x, RReLUSlopes(x, lower, upper, seed, counter)): a
// slope per element drawn from U(lower, upper), fresh for every value of the
// scalar counter (see RReLUSlopes); the gradient uses the slopes drawn in
// the same run and gives them none. The bounds must satisfy
// 0 ≤ lower ≤ upper ≤ 1, or an error is recorded. RReLULower and RReLUUpper
// are PyTorch's defaults.
func RReLU(x *graph.Node, lower, upper float64, training bool, seed uint64, counter *graph.Node) *graph.Node {
	if err := checkRReLU(lower, upper); err != nil {
		return fail(failOp("rrelu"), []*graph.Node{x}, graph.ErrArg, "%v", err)
	}
	if !training {
		return LeakyReLU(x, (lower+upper)/2)
	}
	return LeakyReLUWithSlopes(x, RReLUSlopes(x, lower, upper, seed, counter))
}

// RReLUSlopes returns, shaped like x, slopes drawn independently from the
// uniform distribution on [lower, upper). Only x's shape is used. counter is
// a scalar node, in a model the variable "rng/counter" that the training
// program advances after each step: the draws of a run are a function of
// seed and of the counter's value, nothing else (no state is kept in the
// machine), so each step draws new slopes and a program rebuilt or resumed
// from a checkpoint draws the same ones as the original. The elements are
// drawn in fixed blocks of 4096, each from its own PCG stream, so the bits
// do not depend on the number of threads. The slopes are constants for
// autodiff. The bounds must satisfy 0 ≤ lower ≤ upper ≤ 1, and counter must
// be a scalar of x's graph, or an error is recorded.
func RReLUSlopes(x *graph.Node, lower, upper float64, seed uint64, counter *graph.Node) *graph.Node {
	op := rreluSlopesOp{lower: lower, upper: upper, seed: seed}
	if err := checkRReLU(lower, upper); err != nil {
		return fail(op, []*graph.Node{x, counter}, graph.ErrArg, "%v", err)
	}
	if counter == nil {
		return fail(op, []*graph.Node{x}, graph.ErrNil, "rrelu_slopes: nil counter: training draws need the step counter (layers.Context.RNGCounter)")
	}
	return add(op, x, counter)
}

func checkRReLU(lower, upper float64) error {
	switch {
	case math.IsNaN(lower) || math.IsNaN(upper):
		return graph.Errorf(graph.ErrArg, "rrelu: bounds lower=%v upper=%v: NaN", lower, upper)
	case lower < 0 || upper > 1:
		return graph.Errorf(graph.ErrArg, "rrelu: bounds lower=%v upper=%v: want 0 ≤ lower ≤ upper ≤ 1", lower, upper)
	case lower > upper:
		return graph.Errorf(graph.ErrArg, "rrelu: lower bound %v above upper bound %v", lower, upper)
	}
	return nil
}

type rreluSlopesOp struct {
	lower, upper float64
	seed         uint64
}

func (rreluSlopesOp) Name() string { return "rrelu_slopes" }

func (op rreluSlopesOp) Attrs() string {
	return fmt.Sprintf("lower=%g upper=%g seed=%d", op.lower, op.upper, op.seed)
}

func (rreluSlopesOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkCounter("rrelu_slopes", in); err != nil {
		return nil, err
	}
	return in[0], nil
}

// NoGradient says that the slopes are constants for autodiff.
func (rreluSlopesOp) NoGradient() string {
	return "RReLU's slopes are random draws, constants for autodiff"
}

// Stateful reports that the op draws random numbers: a compiler pass must
// not merge, fold or hoist it.
func (rreluSlopesOp) Stateful() bool { return true }

func (op rreluSlopesOp) Bind32(a *kernel.Args[float32]) func() { return bindRReLUSlopes(op, a) }
func (op rreluSlopesOp) Bind64(a *kernel.Args[float64]) func() { return bindRReLUSlopes(op, a) }

func bindRReLUSlopes[T kernel.Float](op rreluSlopesOp, a *kernel.Args[T]) func() {
	lower, upper := op.lower, op.upper
	width := upper - lower
	return bindDraws(a.Dst[0], a.Src[1], op.seed, saltRReLU, func(p *rand.PCG, blk []T) {
		for i := range blk {
			s := lower + width*uniform53(p)
			if s > upper { // rounding of lower + width·u
				s = upper
			}
			blk[i] = T(s)
		}
	})
}
