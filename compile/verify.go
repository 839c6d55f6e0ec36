package compile

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// verify compiles g again without the fusing passes and runs both programs
// on the same random inputs and variables (in a private store, batch size
// 3 for open inputs); every fetched value must agree within verifyTol
// (relative, with an absolute floor of the same size below 1).
func verify(g *graph.Graph, fetches []*graph.Node, opts Options, fused *vm.Program) error {
	plainOpts := opts
	plainOpts.Verify = false
	plainOpts.Trace = nil
	plainOpts.MemoryLimit = 0
	for _, p := range fusing {
		if !slices.Contains(plainOpts.Disable, p) {
			plainOpts.Disable = append(slices.Clone(plainOpts.Disable), p)
		}
	}
	plain, err := compileWith(g, fetches, plainOpts, false)
	if err != nil {
		return fmt.Errorf("compile: verify: %w", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	store := cloneable{vm.NewStore()}
	// variables from their own initializers (realistic magnitudes for a
	// deep model), N(0, 0.5²) for those without one
	if err := store.Init(g, 1, normalInit{0.5}); err != nil {
		return fmt.Errorf("compile: verify: %w", err)
	}
	feeds := opts.VerifyFeeds
	if feeds == nil {
		// normal values, or, for programs that reject them (an input of
		// class labels), small non-negative integers, or zeros
		for _, kind := range []int{0, 1, 2} {
			feeds = vm.Feeds{}
			for _, in := range g.Inputs() {
				shape := in.Shape().WithBatch(3)
				vals := make([]float64, shape.Size())
				for i := range vals {
					switch kind {
					case 0:
						vals[i] = rng.NormFloat64()
					case 1:
						vals[i] = float64(rng.IntN(2))
					}
				}
				t, err := tensorOf(g.DType(), shape, vals)
				if err != nil {
					return err
				}
				feeds[in.Name()] = t
			}
			if _, err := machine(plain, store.clone()).Run(feeds); err == nil {
				break
			}
		}
	}
	// both programs update the same variables when they assign: give each
	// its own copy
	want, err := machine(plain, store.clone()).Run(feeds)
	if errors.Is(err, vm.ErrMemoryLimit) {
		return nil // too large to run here: nothing to compare
	}
	got, ferr := machine(fused, store.clone()).Run(feeds)
	switch {
	case err != nil && ferr != nil:
		// no input tried runs either program (a kernel refuses what the
		// graph computes from them: a one_hot of a non-integer value):
		// nothing to compare, and nothing wrong with the compilation
		return nil
	case err != nil:
		return fmt.Errorf("compile: verify: unfused program: %w (the fused program runs)", err)
	case ferr != nil:
		return fmt.Errorf("compile: verify: fused program: %w (the unfused program runs)", ferr)
	}
	tol := verifyTol[g.DType()]
	for i := range want {
		a, b := floats(got[i]), floats(want[i])
		for j := range b {
			if a[j] == b[j] || math.IsNaN(a[j]) && math.IsNaN(b[j]) { // equal infinities too
				continue
			}
			if d := math.Abs(a[j] - b[j]); !(d <= tol*math.Max(1, math.Abs(b[j]))) {
				return fmt.Errorf("compile: verify: fetch %d (%q) element %d: fused %v, unfused %v; the fused program computes it by %s",
					i, fetches[i].Name(), j, a[j], b[j], writer(fused, fused.Fetches[i]))
			}
		}
	}
	return nil
}

// verifyTol is Verify's tolerance per dtype. The fusing passes round
// differently from the ops they replace, never more than a few times per
// value: a fused dense layer adds its bias before the GEMM's sum instead of
// after (one rounding), a folded BatchNorm scales the kernel before the
// GEMM instead of its result (a product rounded before a sum of up to the
// layer's width: an error relative to the sum of |terms|, not to the sum),
// an SGD step folded into a GEMM rounds −c·Σ once. A training-mode
// BatchNorm after such a layer divides the difference by the batch's
// standard deviation (3 rows here), and a deep model carries it through
// every layer. Measured on the programs of this package's tests and of the
// reference models (up to 22 layers, BN over 3 rows), the largest
// difference is about 25 units in the last place in float32 (1.4e-6) and 2
// in float64 (2.2e-16). 1e-4 in float32 (about 1700 ulps) and 1e-12 in
// float64 (about 9000 ulps, the bound TestGoldenBNFoldDense holds a folded
// BatchNorm to) leave two orders of magnitude for deeper models and
// unlucky batches, while a wrong operand, constant or kernel, which
// changes a value in its first digits, is caught.
var verifyTol = map[graph.DType]float64{graph.Float32: 1e-4, graph.Float64: 1e-12}

type cloneable struct{ *vm.Store }

func (s cloneable) clone() *vm.Store {
	c := vm.NewStore()
	for _, name := range s.Names() {
		t, _ := s.Get(name)
		_ = c.Set(name, t)
	}
	return c
}

// normalInit draws N(0, sd²).
type normalInit struct{ sd float64 }

func (n normalInit) Initialize(dst []float64, _ []int, rng *rand.Rand) error {
	for i := range dst {
		dst[i] = n.sd * rng.NormFloat64()
	}
	return nil
}

// machine returns a machine for p without the program's memory limit: the
// check runs at batch size 3, whatever the limit was set for.
func machine(p *vm.Program, s *vm.Store) *vm.Machine {
	m := vm.NewMachine(p, s)
	m.SetMemoryLimit(0)
	return m
}

// writer describes the instruction of p that computes buffer b (the last
// one writing it, or its source's for a view), for Verify's errors.
func writer(p *vm.Program, b int32) string {
	for p.Bufs[b].View {
		b = p.Bufs[b].ViewOf
	}
	for i := len(p.Insts) - 1; i >= 0; i-- {
		if slices.Contains(p.Insts[i].Dst, b) {
			return fmt.Sprintf("instruction %d: %s", i, p.InstString(p.Insts[i]))
		}
	}
	return fmt.Sprintf("no instruction (%v %q)", p.Bufs[b].Kind, p.Bufs[b].Name)
}
