package compile

import (
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
	for _, p := range fusing {
		if !slices.Contains(plainOpts.Disable, p) {
			plainOpts.Disable = append(slices.Clone(plainOpts.Disable), p)
		}
	}
	plain, err := Compile(g, fetches, plainOpts)
	if err != nil {
		return fmt.Errorf("compile: verify: %w", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	store := cloneable{vm.NewStore()}
	for _, v := range g.Variables() {
		vals := make([]float64, v.Shape().Size())
		for i := range vals {
			vals[i] = rng.NormFloat64() * 0.5
		}
		if err := store.SetFloat64s(v.Name(), v.Shape(), g.DType(), vals); err != nil {
			return err
		}
	}
	feeds := opts.VerifyFeeds
	if feeds == nil {
		// normal values, or, for programs that reject them (an input of
		// class labels), small non-negative integers
		for _, ints := range []bool{false, true} {
			feeds = vm.Feeds{}
			for _, in := range g.Inputs() {
				shape := in.Shape().WithBatch(3)
				vals := make([]float64, shape.Size())
				for i := range vals {
					if ints {
						vals[i] = float64(rng.IntN(2))
					} else {
						vals[i] = rng.NormFloat64()
					}
				}
				t, err := tensorOf(g.DType(), shape, vals)
				if err != nil {
					return err
				}
				feeds[in.Name()] = t
			}
			if _, err := vm.NewMachine(plain, store.clone()).Run(feeds); err == nil {
				break
			}
		}
	}
	// both programs update the same variables when they assign: give each
	// its own copy
	store2 := store.clone()
	want, err := vm.NewMachine(plain, store.clone()).Run(feeds)
	if err != nil {
		return fmt.Errorf("compile: verify: unfused program: %w", err)
	}
	got, err := vm.NewMachine(fused, store2).Run(feeds)
	_ = store2
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
			if math.IsNaN(a[j]) && math.IsNaN(b[j]) {
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
