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
// per element from U(lower, upper) on every run: since the gradient reads
// the same slopes node, the backward pass uses exactly the slopes the
// forward pass drew.
//
// Where the random state lives: in the bound kernel of the rrelu_slopes op,
// that is in the vm.Machine that runs it (one bound instance per batch size
// the machine has seen). The draws of a run are a function of the op's seed
// and of how many times that instance has run before, nothing else: two
// machines built from the same program give the same slopes on their n-th
// runs, whatever the number of threads. Give each RReLU of a model its own
// seed (layers derive one from the model seed and the layer's name), or two
// of the same shape draw the same slopes.

// PyTorch's defaults for the bounds of RReLU's slopes
// (torch.nn.RReLU(lower=1/8, upper=1/3)); Keras has no RReLU. The slope at
// inference is then (1/8 + 1/3)/2 = 0.22916666666666666.
const (
	RReLULower = 1.0 / 8
	RReLUUpper = 1.0 / 3
)

// RReLU returns the randomized leaky ReLU of x with slopes in
// [lower, upper]. With training false it is LeakyReLU(x, (lower+upper)/2),
// deterministic. With training true it is
// LeakyReLUWithSlopes(x, RReLUSlopes(x, lower, upper, seed)): a slope per
// element drawn from U(lower, upper), fresh on every run of the program,
// from a stream determined by seed and the run count (see RReLUSlopes); the
// gradient uses the slopes drawn in the same run and gives them none. The
// bounds must satisfy 0 ≤ lower ≤ upper ≤ 1, or an error is recorded.
// RReLULower and RReLUUpper are PyTorch's defaults.
func RReLU(x *graph.Node, lower, upper float64, training bool, seed uint64) *graph.Node {
	if err := checkRReLU(lower, upper); err != nil {
		return fail(failOp("rrelu"), []*graph.Node{x}, graph.ErrArg, "%v", err)
	}
	if !training {
		return LeakyReLU(x, (lower+upper)/2)
	}
	return LeakyReLUWithSlopes(x, RReLUSlopes(x, lower, upper, seed))
}

// RReLUSlopes returns, shaped like x, slopes drawn independently from the
// uniform distribution on [lower, upper): new ones each time the program
// runs. Only x's shape is used. The draws of a run depend only on seed and
// on how many times the machine's bound kernel has run before (the kernel
// keeps that count: the random state lives in the vm.Machine, one count per
// batch size it has seen); the elements are drawn in fixed blocks of 4096,
// each from its own PCG stream, so the bits do not depend on the number of
// threads. The slopes are constants for autodiff. The bounds must satisfy
// 0 ≤ lower ≤ upper ≤ 1, or an error is recorded.
func RReLUSlopes(x *graph.Node, lower, upper float64, seed uint64) *graph.Node {
	op := rreluSlopesOp{lower: lower, upper: upper, seed: seed}
	if err := checkRReLU(lower, upper); err != nil {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "%v", err)
	}
	return add(op, x)
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
	return sameShape("rrelu_slopes", in)
}

// NoGradient says that the slopes are constants for autodiff.
func (rreluSlopesOp) NoGradient() string {
	return "RReLU's slopes are random draws, constants for autodiff"
}

// Stateful reports that the op's bound kernel keeps state from run to run
// (its run count), so that its value changes between runs with the same
// inputs: a compiler pass must not fold it into a constant.
func (rreluSlopesOp) Stateful() bool { return true }

func (op rreluSlopesOp) Bind32(a *kernel.Args[float32]) func() { return bindRReLUSlopes(op, a) }
func (op rreluSlopesOp) Bind64(a *kernel.Args[float64]) func() { return bindRReLUSlopes(op, a) }

// rreluBlock is the number of slopes drawn from one PCG stream: the unit of
// work handed to the pool, fixed so that the bits do not depend on the
// thread count.
const rreluBlock = 4096

func bindRReLUSlopes[T kernel.Float](op rreluSlopesOp, a *kernel.Args[T]) func() {
	d := a.Dst[0]
	n := len(d)
	blocks := (n + rreluBlock - 1) / rreluBlock
	streams := make([]rand.PCG, blocks)
	lower, upper := op.lower, op.upper
	width := upper - lower
	seedKey := splitMix64(op.seed)
	var runs uint64 // how many times this kernel has run: its state
	var key uint64  // the current run's stream key
	body := func(lo, hi int) {
		for b := lo; b < hi; b++ {
			p := &streams[b]
			p.Seed(key, splitMix64(uint64(b)+1))
			blk := d[b*rreluBlock : min(n, (b+1)*rreluBlock)]
			for i := range blk {
				s := lower + width*(float64(p.Uint64()>>11)*0x1p-53)
				if s > upper { // rounding of lower + width·u
					s = upper
				}
				blk[i] = T(s)
			}
		}
	}
	return func() {
		key = splitMix64(seedKey ^ runs)
		runs++
		kernel.For(blocks, 1, body)
	}
}

// splitMix64 is the finalizer of the SplitMix64 generator: a bijection of
// uint64 that scatters nearby inputs, used to derive the stream keys.
func splitMix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
