package nodes

import (
	"math"
	"math/rand/v2"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// Random draws (RReLU's slopes, dropout masks) and where their state lives.
//
// A random op holds no state of its own. It takes, besides the value whose
// shape it draws for, a scalar counter node: in a model, the non-trainable
// variable "rng/counter" that layers create once per graph and that the
// training program advances by one (NextCount) after each step. A run's
// draws are a pure function of the op's seed, its kind, the counter's value
// and the position of the element, so
//
//   - every step draws fresh values (the counter has moved on);
//   - a program rebuilt, or a run resumed from a checkpoint (which holds the
//     counter, being a store variable), draws exactly what the original run
//     would have drawn;
//   - the values are drawn in fixed blocks of randomBlock elements, each
//     from its own PCG stream keyed by (seed, kind, counter, block index),
//     so the bits do not depend on the number of threads, and a float32 and
//     a float64 program draw the same numbers (rounded to their dtype).
//
// The ops still say they are Stateful, so that the compiler never merges
// two of them or hoists one: their meaning is "a draw", and two draws with
// the same seed are a modelling mistake rather than a common subexpression.

// randomBlock is the number of values drawn from one PCG stream: the unit of
// work handed to the worker pool, fixed so that the bits do not depend on
// the thread count.
const randomBlock = 4096

// Salts that keep the streams of different kinds of random op apart when
// they are given the same seed.
const (
	saltRReLU   = 0x5252654c55 // "RReLU"
	saltDropout = 0x44726f70   // "Drop"
)

// bindDraws binds a kernel that fills d block by block: fill receives the
// stream of block b (already seeded for this run) and the block's slice.
// counter is the one-element buffer of the counter node, read at each run.
func bindDraws[T kernel.Float](d, counter []T, seed, salt uint64, fill func(p *rand.PCG, blk []T)) func() {
	n := len(d)
	blocks := (n + randomBlock - 1) / randomBlock
	streams := make([]rand.PCG, blocks)
	seedKey := splitMix64(seed ^ splitMix64(salt))
	var key uint64 // the current run's stream key
	body := func(lo, hi int) {
		for b := lo; b < hi; b++ {
			p := &streams[b]
			p.Seed(key, splitMix64(uint64(b)+1))
			fill(p, d[b*randomBlock:min(n, (b+1)*randomBlock)])
		}
	}
	return func() {
		key = splitMix64(seedKey ^ splitMix64(math.Float64bits(float64(counter[0]))))
		kernel.For(blocks, 1, body)
	}
}

// uniform53 returns a uniform draw from [0, 1) with 53 random bits.
func uniform53(p *rand.PCG) float64 { return float64(p.Uint64()>>11) * 0x1p-53 }

// splitMix64 is the finalizer of the SplitMix64 generator: a bijection of
// uint64 that scatters nearby inputs, used to derive the stream keys.
func splitMix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// checkCounter records nothing but returns an error unless counter is a
// usable scalar node.
func checkCounter(name string, in []graph.Shape) error {
	if len(in) != 2 {
		return graph.Errorf(graph.ErrArg, "%s takes 2 inputs, got %d", name, len(in))
	}
	if in[1].Rank() != 0 {
		return graph.Errorf(graph.ErrShape, "%s: the counter must be a scalar, got shape %v", name, in[1])
	}
	return nil
}

// Counting limits of NextCount: the largest integers below which every
// integer is exact, 2²⁴ in float32 and 2⁵³ in float64.
const (
	countLimit32 = 1 << 24
	countLimit64 = 1 << 53
)

// NextCount returns c + 1 for a scalar counter c, wrapping to 0 where the
// dtype stops counting exactly: after 2²⁴ − 1 in float32 (16,777,215 steps)
// and after 2⁵³ − 1 in float64. A value that is negative, NaN or not below
// the limit also gives 0. It is the update of the random-number counter of
// a model ("rng/counter", see layers.Context.RNGCounter): with a plain
// counter + 1, a float32 counter would stop at 2²⁴ and every later step
// would draw the same dropout masks; with the wrap the streams repeat after
// 2²⁴ steps instead. It has no gradient.
func NextCount(c *graph.Node) *graph.Node { return add(nextCountOp{}, c) }

type nextCountOp struct{}

func (nextCountOp) Name() string { return "next_count" }

func (nextCountOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("next_count", in, 1); err != nil {
		return nil, err
	}
	if in[0].Rank() != 0 {
		return nil, graph.Errorf(graph.ErrShape, "next_count: the counter must be a scalar, got shape %v", in[0])
	}
	return in[0], nil
}

// NoGradient: a counter is a step number, not a function to differentiate.
func (nextCountOp) NoGradient() string { return "a counter is a step number, not differentiable" }

func (nextCountOp) Bind32(a *kernel.Args[float32]) func() { return bindNextCount(a, countLimit32) }
func (nextCountOp) Bind64(a *kernel.Args[float64]) func() { return bindNextCount(a, countLimit64) }

func bindNextCount[T kernel.Float](a *kernel.Args[T], limit float64) func() {
	d, c := a.Dst[0], a.Src[0]
	return func() {
		n := float64(c[0]) + 1
		if !(n >= 1 && n < limit) {
			n = 0
		}
		d[0] = T(n)
	}
}
