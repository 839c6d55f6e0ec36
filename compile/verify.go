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
// 3 for open inputs); every fetched value must agree within a tolerance
// that allows for the different rounding of fused kernels: 1e-9 relative
// (float64) or 1e-3 (float32), with an absolute floor of the same size.
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
	if err != nil {
		return fmt.Errorf("compile: verify: unfused program: %w", err)
	}
	got, err := machine(fused, store.clone()).Run(feeds)
	if err != nil {
		return fmt.Errorf("compile: verify: fused program: %w", err)
	}
	tol := 1e-9
	if g.DType() == graph.Float32 {
		tol = 1e-3
	}
	for i := range want {
		a, b := floats(got[i]), floats(want[i])
		for j := range b {
			if a[j] == b[j] || math.IsNaN(a[j]) && math.IsNaN(b[j]) { // equal infinities too
				continue
			}
			if d := math.Abs(a[j] - b[j]); !(d <= tol*math.Max(1, math.Abs(b[j]))) {
				return fmt.Errorf("compile: verify: fetch %d (%q) element %d: fused %v, unfused %v", i, fetches[i].Name(), j, a[j], b[j])
			}
		}
	}
	return nil
}

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
