package vm_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// mlp builds the benchmark model, 784-300-100-10 with biases and tanh, in
// float32, and returns a machine for its forward pass (train false) or for
// its loss and the gradients of every parameter (train true), with feeds of
// the given batch size.
func mlp(t testing.TB, batch int, train bool) (*vm.Machine, vm.Feeds) {
	t.Helper()
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	h := x
	var params []*graph.Node
	sizes := []int{784, 300, 100, 10}
	for i := 1; i < len(sizes); i++ {
		g.WithScope(fmt.Sprintf("dense_%d", i), func() {
			w := g.Variable("kernel", graph.Shape{sizes[i-1], sizes[i]}, graph.WithInit(initializers.Get("glorot_uniform")))
			b := g.Variable("bias", graph.Shape{sizes[i]}, graph.WithInit(initializers.Get("zeros")))
			h = nodes.Add(nodes.MatMul(h, w), b)
			if i < len(sizes)-1 {
				h = nodes.Tanh(h)
			}
			params = append(params, w, b)
		})
	}
	fetches := []*graph.Node{h}
	feeds := vm.Feeds{"x": f32([]int{batch, 784}, randoms(1, batch*784)...)}
	if train {
		y := g.Input("y", graph.Shape{graph.Batch, 10})
		loss := nodes.Mean(nodes.Square(nodes.Sub(h, y)), false)
		grads, err := autodiff.Grad(loss, params...)
		if err != nil {
			t.Fatalf("Grad: %v", err)
		}
		fetches = append([]*graph.Node{loss}, grads...)
		feeds["y"] = f32([]int{batch, 10}, randoms(2, batch*10)...)
	}
	p := mustCompile(t, g, fetches...)
	s := vm.NewStore()
	if err := s.Init(g, 42, nil); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return vm.NewMachine(p, s), feeds
}

// randoms returns n seeded values in [-1, 1).
func randoms(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

// Exec of a compiled program allocates nothing once the machine has seen the
// batch size: not the feed check, not the kernels, not the GEMM (whatever
// the backend), not the worker pool, whatever the thread count.
func TestExecAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, train := range []bool{false, true} {
		for _, procs := range []int{1, 2, 4} {
			name := fmt.Sprintf("forward/procs%d", procs)
			if train {
				name = fmt.Sprintf("train/procs%d", procs)
			}
			t.Run(name, func(t *testing.T) {
				old := runtime.GOMAXPROCS(procs)
				defer runtime.GOMAXPROCS(old)
				m, feeds := mlp(t, 128, train)
				if _, err := m.Exec(feeds); err != nil { // warm-up: binds the batch size
					t.Fatalf("Exec: %v", err)
				}
				var err error
				allocs := testing.AllocsPerRun(10, func() { _, err = m.Exec(feeds) })
				if err != nil {
					t.Fatalf("Exec: %v", err)
				}
				if allocs != 0 {
					t.Errorf("Exec of the 784-300-100-10 MLP (%s, batch 128, f32, gemm %s) allocates %v times per run, want 0",
						name, kernel.GemmBackend(), allocs)
				}
			})
		}
	}
}
