package nodes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// actBenchRows × actBenchCols is the benchmark's activation: a batch of 128
// rows of a 300-unit dense layer.
const (
	actBenchRows = 128
	actBenchCols = 300
)

var actBenchSink float64

// actBenchCases are the activations benchmarked; alpha, when true, adds a
// per-feature PReLU α input of shape [300] whose gradient is computed too.
var actBenchCases = []struct {
	name  string
	f     func(x, alpha *graph.Node) *graph.Node
	alpha bool
}{
	{name: "relu", f: func(x, _ *graph.Node) *graph.Node { return nodes.ReLU(x) }},
	{name: "relu6", f: func(x, _ *graph.Node) *graph.Node { return nodes.ReLU6(x) }},
	{name: "leaky_relu", f: func(x, _ *graph.Node) *graph.Node { return nodes.LeakyReLU(x, nodes.KerasLeakyReLUAlpha) }},
	{name: "hard_sigmoid", f: func(x, _ *graph.Node) *graph.Node { return nodes.HardSigmoid(x) }},
	{name: "elu", f: func(x, _ *graph.Node) *graph.Node { return nodes.ELU(x, nodes.ELUAlpha) }},
	{name: "selu", f: func(x, _ *graph.Node) *graph.Node { return nodes.SELU(x) }},
	{name: "gelu", f: func(x, _ *graph.Node) *graph.Node { return nodes.GELU(x) }},
	{name: "gelu_tanh", f: func(x, _ *graph.Node) *graph.Node { return nodes.GELUTanh(x) }},
	{name: "silu", f: func(x, _ *graph.Node) *graph.Node { return nodes.SiLU(x) }},
	{name: "softplus", f: func(x, _ *graph.Node) *graph.Node { return nodes.Softplus(x) }},
	{name: "exponential", f: func(x, _ *graph.Node) *graph.Node { return nodes.Exponential(x) }},
	{name: "rrelu_eval", f: func(x, _ *graph.Node) *graph.Node {
		return nodes.RReLU(x, nodes.RReLULower, nodes.RReLUUpper, false, 1, nil)
	}},
	{name: "rrelu_train", f: func(x, _ *graph.Node) *graph.Node {
		return nodes.RReLU(x, nodes.RReLULower, nodes.RReLUUpper, true, 1, x.Graph().Scalar(0))
	}},
	{name: "prelu", f: nodes.PReLU, alpha: true},
}

// BenchmarkActivation runs each activation forward and backward (the output
// and the gradient for x, and α for PReLU, from autodiff.GradWith with a
// random upstream) on a 128×300 float32 batch, through a compiled program
// and vm.Machine.Exec, which allocates nothing in steady state.
func BenchmarkActivation(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := actBenchRows * actBenchCols
	xs, ups := make([]float64, n), make([]float64, n)
	for i := range xs {
		xs[i] = 6*rng.Float64() - 3
		ups[i] = 2*rng.Float64() - 1
	}
	alphas := make([]float64, actBenchCols)
	for i := range alphas {
		alphas[i] = 0.25
	}
	for _, bc := range actBenchCases {
		b.Run(bc.name+"/f32", func(b *testing.B) {
			g := graph.New(graph.Float32)
			shape := graph.Shape{actBenchRows, actBenchCols}
			x, up := g.Input("x", shape), g.Input("up", shape)
			feeds := vm.Feeds{
				"x":  testutil.Tensor(graph.Float32, shape, xs),
				"up": testutil.Tensor(graph.Float32, shape, ups),
			}
			wrt := []*graph.Node{x}
			var alpha *graph.Node
			if bc.alpha {
				alpha = g.Input("alpha", graph.Shape{actBenchCols})
				feeds["alpha"] = testutil.Tensor(graph.Float32, []int{actBenchCols}, alphas)
				wrt = append(wrt, alpha)
			}
			y := bc.f(x, alpha)
			grads, err := autodiff.GradWith(y, wrt, autodiff.Options{Seed: up})
			if err != nil {
				b.Fatal(err)
			}
			p, err := compile.Compile(g, append([]*graph.Node{y}, grads...), compile.Options{})
			if err != nil {
				b.Fatal(err)
			}
			m := vm.NewMachine(p, vm.NewStore())
			if _, err := m.Exec(feeds); err != nil { // first run: binds the kernels
				b.Fatal(err)
			}
			b.SetBytes(int64(4 * n * 4)) // read x, write y; read x and ḡ, write x̄
			b.ReportAllocs()
			var r vm.Result
			for b.Loop() {
				r, err = m.Exec(feeds)
				if err != nil {
					b.Fatal(err)
				}
			}
			v := r.At(1).Float32s()[n-1]
			if math.IsNaN(float64(v)) {
				b.Fatalf("%s: x̄ is NaN", bc.name)
			}
			actBenchSink += float64(v)
		})
	}
}
