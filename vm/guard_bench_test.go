package vm_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/vm"
)

// BenchmarkGuard measures what the NaN/Inf guard costs on a reference
// training step: configuration B (784-300-BN-ELU-100-BN-ELU-10, forward,
// backward, SGD update, BN statistics) in float32, with the guard off and
// on. Compare the two with benchstat; the difference is one pass over
// every instruction's outputs.
//
//	go test ./vm -run XXX -bench Guard -count 10 | benchstat -col /guard -
func BenchmarkGuard(b *testing.B) {
	c, err := refmodels.ByName("B")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{32, 128} {
		for _, guard := range []bool{false, true} {
			b.Run(fmt.Sprintf("B/b%d/f32/guard=%v", n, guard), func(b *testing.B) {
				m, feeds := refStep(b, c, n)
				m.SetGuard(guard)
				if _, err := m.Exec(feeds); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var res vm.Result
				for b.Loop() {
					if res, err = m.Exec(feeds); err != nil {
						b.Fatal(err)
					}
				}
				if loss := res.At(0).Float32s()[0]; loss != loss {
					b.Fatalf("loss %v", loss)
				}
			})
		}
	}
}

// refStep returns a machine for the training step of a reference
// configuration at batch size n, and seeded feeds (valid labels).
func refStep(tb testing.TB, c refmodels.Config, n int) (*vm.Machine, vm.Feeds) {
	tb.Helper()
	step, err := c.Build(graph.Float32)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := compile.Compile(step.Graph, step.Fetches, compile.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	store := vm.NewStore()
	if err := store.Init(step.Graph, 42, nil); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*c.Inputs)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(rng.IntN(10))
	}
	return vm.NewMachine(p, store), vm.Feeds{"x": f32([]int{n, c.Inputs}, x...), "y": f32([]int{n}, y...)}
}
