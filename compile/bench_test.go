package compile_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// The benchmark model: an MLP 784-300-100-10 (MNIST-sized), dense layers
// with biases and tanh between them, the loss the mean squared error
// against a target. Weights are glorot_uniform under seed 42, biases zero.

var mlpSizes = []int{784, 300, 100, 10}

// benchMLP builds the model and returns a machine for its forward pass
// (train false: fetch the output) or its training step (train true: fetch
// the loss and the gradient of every parameter), with feeds for batch rows.
func benchMLP(b *testing.B, dt graph.DType, batch int, train bool) (*vm.Machine, vm.Feeds) {
	b.Helper()
	g := graph.New(dt)
	x := g.Input("x", graph.Shape{graph.Batch, mlpSizes[0]})
	h := x
	var params []*graph.Node
	for i := 1; i < len(mlpSizes); i++ {
		g.WithScope(fmt.Sprintf("dense_%d", i), func() {
			w := g.Variable("kernel", graph.Shape{mlpSizes[i-1], mlpSizes[i]})
			bias := g.Variable("bias", graph.Shape{mlpSizes[i]}, graph.WithInit(initializers.Get("zeros")))
			h = nodes.Add(nodes.MatMul(h, w), bias)
			if i < len(mlpSizes)-1 {
				h = nodes.Tanh(h)
			}
			params = append(params, w, bias)
		})
	}
	rng := rand.New(rand.NewPCG(7, 0))
	feeds := vm.Feeds{"x": randTensor(dt, rng, batch, mlpSizes[0])}
	fetches := []*graph.Node{h}
	if train {
		y := g.Input("y", graph.Shape{graph.Batch, mlpSizes[len(mlpSizes)-1]})
		loss := nodes.Mean(nodes.Square(nodes.Sub(h, y)), false)
		grads, err := autodiff.Grad(loss, params...)
		if err != nil {
			b.Fatal(err)
		}
		fetches = append([]*graph.Node{loss}, grads...)
		feeds["y"] = randTensor(dt, rng, batch, mlpSizes[len(mlpSizes)-1])
	}
	p, err := compile.Compile(g, fetches, compile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := vm.NewStore()
	if err := s.Init(g, 42, initializers.Get("glorot_uniform")); err != nil {
		b.Fatal(err)
	}
	return vm.NewMachine(p, s), feeds
}

func randTensor(dt graph.DType, rng *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if dt == graph.Float64 {
		d := make([]float64, n)
		for i := range d {
			d[i] = rng.Float64()
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = rng.Float32()
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// sink keeps the last result alive and checked.
var sink float64

func benchRun(b *testing.B, dt graph.DType, batch int, train bool) {
	m, feeds := benchMLP(b, dt, batch, train)
	if _, err := m.Exec(feeds); err != nil { // bind the batch size outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	var r vm.Result
	var err error
	for b.Loop() {
		r, err = m.Exec(feeds)
		if err != nil {
			b.Fatal(err)
		}
	}
	v := float64s(r.At(0))[0]
	if math.IsNaN(v) || math.IsInf(v, 0) {
		b.Fatalf("first fetched value %v", v)
	}
	sink = v
	// throughput in examples per second reads better than ns/op for a model
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "examples/s")
}

var benchConfigs = []struct {
	batch int
	dt    graph.DType
}{
	{1, graph.Float32},
	{32, graph.Float32},
	{128, graph.Float32},
	{128, graph.Float64},
}

// BenchmarkForwardMLP runs the forward pass of the 784-300-100-10 MLP.
func BenchmarkForwardMLP(b *testing.B) {
	for _, c := range benchConfigs {
		b.Run(fmt.Sprintf("b%d/%v", c.batch, c.dt), func(b *testing.B) { benchRun(b, c.dt, c.batch, false) })
	}
}

// BenchmarkTrainStepMLP runs forward and backward (the loss and the
// gradients of all six parameters, no update) of the same MLP.
func BenchmarkTrainStepMLP(b *testing.B) {
	for _, c := range benchConfigs {
		b.Run(fmt.Sprintf("b%d/%v", c.batch, c.dt), func(b *testing.B) { benchRun(b, c.dt, c.batch, true) })
	}
}
