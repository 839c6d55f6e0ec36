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
	store := vm.NewStore()
	for _, v := range g.Variables() {
		vals := make([]float64, v.Shape().Size())
		for i := range vals {
			vals[i] = rng.NormFloat64() * 0.5
		}
		if err := store.SetFloat64s(v.Name(), v.Shape(), g.DType(), vals); err != nil {
			return err
		}
	}
	feeds := vm.Feeds{}
	for _, in := range g.Inputs() {
		shape := in.Shape().WithBatch(3)
		vals := make([]float64, shape.Size())
		for i := range vals {
			vals[i] = rng.NormFloat64()
		}
		t, err := tensorOf(g.DType(), shape, vals)
		if err != nil {
			return err
		}
		feeds[in.Name()] = t
	}
	// both programs update the same variables when they assign: give each
	// its own copy
	store2 := vm.NewStore()
	for _, name := range store.Names() {
		t, _ := store.Get(name)
		if err := store2.Set(name, t); err != nil {
			return err
		}
	}
	want, err := vm.NewMachine(plain, store).Run(feeds)
	if err != nil {
		return fmt.Errorf("compile: verify: unfused program: %w", err)
	}
	got, err := vm.NewMachine(fused, store2).Run(feeds)
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
