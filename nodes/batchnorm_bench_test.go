package nodes_test

import (
	"fmt"
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

var bnSink float64

// BenchmarkBatchNormReLU times one training step of ReLU(BN(x)): forward,
// then the gradients for x, γ and β, with the upstream gradient fed. The
// variants are the batch_norm_train / batch_norm_grad pair ("closed") and
// the same maths written with small graph ops that autodiff chains through
// ("composite", the baseline the closed form replaces).
//
//	go test ./nodes -run '^$' -bench BatchNormReLU -benchmem
func BenchmarkBatchNormReLU(b *testing.B) {
	for _, size := range [][2]int{{128, 300}, {512, 100}} {
		for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
			for _, variant := range []string{"closed", "composite"} {
				name := fmt.Sprintf("b%dx%d/%v/%s", size[0], size[1], dt, variant)
				b.Run(name, func(b *testing.B) { benchBNReLU(b, dt, size[0], size[1], variant == "composite") })
			}
		}
	}
}

func benchBNReLU(b *testing.B, dt graph.DType, n, f int, composite bool) {
	g := graph.New(dt)
	x := g.Input("x", graph.Shape{graph.Batch, f})
	up := g.Input("up", graph.Shape{graph.Batch, f})
	gamma := g.Variable("gamma", graph.Shape{f})
	beta := g.Variable("beta", graph.Shape{f})
	var bn *graph.Node
	if composite {
		mean := nodes.Mean(x, true, 0)
		d := nodes.Sub(x, mean)
		variance := nodes.Mean(nodes.Mul(d, d), true, 0)
		inv := nodes.Reciprocal(nodes.Sqrt(nodes.Add(variance, g.Scalar(1e-3))))
		bn = nodes.Add(nodes.Mul(nodes.Mul(d, inv), gamma), beta)
	} else {
		bn = nodes.BatchNormTrain(x, gamma, beta, nodes.BNOptions{})
	}
	y := nodes.ReLU(bn)
	grads, err := autodiff.GradWith(y, []*graph.Node{x, gamma, beta}, autodiff.Options{Seed: up})
	if err != nil {
		b.Fatal(err)
	}
	p, err := compile.Compile(g, append([]*graph.Node{y}, grads...), compile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	store := vm.NewStore()
	rng := rand.New(rand.NewPCG(1, 2))
	if err := store.SetFloat64s("gamma", graph.Shape{f}, dt, bnRand(rng, f, 0.5, 2)); err != nil {
		b.Fatal(err)
	}
	if err := store.SetFloat64s("beta", graph.Shape{f}, dt, bnRand(rng, f, -0.5, 0.5)); err != nil {
		b.Fatal(err)
	}
	feeds := vm.Feeds{
		"x":  testutil.Tensor(dt, []int{n, f}, bnRand(rng, n*f, -2, 3)),
		"up": testutil.Tensor(dt, []int{n, f}, bnRand(rng, n*f, -1, 1)),
	}
	m := vm.NewMachine(p, store)
	if _, err := m.Exec(feeds); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(n * f * dt.Size()))
	var r vm.Result
	for b.Loop() {
		if r, err = m.Exec(feeds); err != nil {
			b.Fatal(err)
		}
	}
	// read the last result outside the timed loop (a copy allocates)
	for _, v := range testutil.Float64s(r.At(1)) {
		bnSink += v
	}
	if math.IsNaN(bnSink) || math.IsInf(bnSink, 0) {
		b.Fatalf("x̄ is not finite: %v", bnSink)
	}
}
