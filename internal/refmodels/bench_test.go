package refmodels_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/vm"
)

// Bench returns a machine ready to run configuration c at batch size n and
// its feeds (seeded random inputs, valid labels).
func bench(tb testing.TB, c refmodels.Config, n int, dt graph.DType) (*vm.Machine, vm.Feeds) {
	tb.Helper()
	step, err := c.Build(dt)
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
	x := make([]float64, n*c.Inputs)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	feeds := vm.Feeds{"x": tensorOf(tb, dt, x, n, c.Inputs)}
	if !c.Inference {
		y := make([]float64, n)
		for i := range y {
			y[i] = float64(rng.IntN(10))
		}
		feeds["y"] = tensorOf(tb, dt, y, n)
	}
	return vm.NewMachine(p, store), feeds
}

func tensorOf(tb testing.TB, dt graph.DType, v []float64, shape ...int) *tensor.Dense {
	tb.Helper()
	var data any = v
	if dt == graph.Float32 {
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		data = f
	}
	t, err := vm.FromSlice(data, shape...)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// BenchmarkRef measures one step of each reference configuration: a
// training step (forward, backward, SGD update, BN statistics) for A, B and
// C, the inference program for D.
func BenchmarkRef(b *testing.B) {
	for _, c := range refmodels.Configs() {
		for _, n := range c.Batches {
			b.Run(fmt.Sprintf("%s/b%d/f32", c.Name, n), func(b *testing.B) {
				m, feeds := bench(b, c, n, graph.Float32)
				if _, err := m.Exec(feeds); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := m.Exec(feeds); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// A training step of every reference configuration allocates nothing once
// the machine has seen the batch size.
func TestRefStepZeroAlloc(t *testing.T) {
	for _, c := range refmodels.Configs() {
		n := c.Batches[0]
		m, feeds := bench(t, c, n, graph.Float32)
		if _, err := m.Exec(feeds); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := m.Exec(feeds); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s at batch %d: %v allocations per step, want 0", c.Name, n, allocs)
		}
	}
}
