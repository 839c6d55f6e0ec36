package nodes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

func TestLogisticForward(t *testing.T) {
	ln3 := math.Log(3)
	cases := []struct {
		name string
		op   func(*graph.Node) *graph.Node
		x    []float64
		want []float64
	}{
		// σ(0) = ½; σ(ln 3) = 1/(1+⅓) = ¾ and σ(−ln 3) = ¼; σ(−50) is
		// the value SEMANTICS §1.7 fixes; σ(50) = 1 − 1.9e-22 rounds to 1;
		// σ(±1000) saturates without overflow; σ(x) = ½ + x/4 − x³/48 + …
		// near 0; σ(−30) = 1/(1+e³⁰), a formula the kernel does not use.
		{"Sigmoid", nodes.Sigmoid,
			[]float64{0, ln3, -ln3, -50, 50, 1000, -1000, 1e-8, -30, math.NaN()},
			[]float64{0.5, 0.75, 0.25, 1.928749847963918e-22, 1, 1, 0, 0.5 + 2.5e-9, 1 / (1 + math.Exp(30)), math.NaN()}},
		// tanh(ln a) = (a² − 1)/(a² + 1): 0.6 for a = 2, 0.8 for a = 3;
		// tanh(x) = x − x³/3 + … near 0; ±1 for large |x|.
		{"Tanh", nodes.Tanh,
			[]float64{0, math.Ln2, -math.Ln2, ln3, 50, -50, 1000, 1e-8, math.NaN()},
			[]float64{0, 0.6, -0.6, 0.8, 1, -1, 1, 1e-8, math.NaN()}},
	}
	for _, tc := range cases {
		for _, dt := range mathDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				_, got := mathForward(t, dt, tc.op, []int{len(tc.x)}, tc.x)
				for i, w := range tc.want {
					if !mathClose(got[i], w, mathTol(dt)) {
						t.Errorf("%s(%v) = %.17g, want %.17g", tc.name, tc.x[i], got[i], w)
					}
				}
			})
		}
	}
}

// TestSigmoidExact pins float64 values bit for bit. σ(−50) is the value
// SEMANTICS §1.7 and the golden file give (PyTorch's 1/(1+e⁵⁰); the
// correctly rounded value is 1 ulp below, 1.9287498479639178e-22, which
// e⁻⁵⁰/(1+e⁻⁵⁰) would give). Far out, 1 + eᶻ rounds to 1, so σ(z) = eᶻ
// exactly in float64, subnormal results included (e⁻⁷⁴⁰ ≈ 4e-322).
func TestSigmoidExact(t *testing.T) {
	x := []float64{-50, -720, -740, -800}
	want := []float64{1.928749847963918e-22, math.Exp(-720), math.Exp(-740), 0}
	_, got := mathForward(t, graph.Float64, nodes.Sigmoid, []int{len(x)}, x)
	for i := range x {
		if got[i] != want[i] {
			t.Errorf("Sigmoid(%v) = %.17g, want %.17g", x[i], got[i], want[i])
		}
	}
	if got[2] == 0 {
		t.Errorf("Sigmoid(-740) = 0, want the subnormal e^-740")
	}
}

func TestLogisticVJP(t *testing.T) {
	ln3 := math.Log(3)
	cases := []struct {
		name string
		op   func(*graph.Node) *graph.Node
		x    []float64
		want []float64 // derivative at x
	}{
		// σ' = σ(1−σ): ¼ at 0, ¾·¼ at ln 3, σ(−50)(1 − σ(−50)) which is
		// σ(−50) to 22 digits.
		{"Sigmoid", nodes.Sigmoid, []float64{0, ln3, -ln3, -50}, []float64{0.25, 0.1875, 0.1875, 1.928749847963918e-22}},
		// tanh' = 1 − tanh²: 1 at 0, 1 − 0.36 at ln 2, 1 − 0.64 at ln 3,
		// 0 where tanh rounds to ±1.
		{"Tanh", nodes.Tanh, []float64{0, math.Ln2, -ln3, 50}, []float64{1, 0.64, 0.36, 0}},
	}
	for _, tc := range cases {
		for _, dt := range mathDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				up := make([]float64, len(tc.x))
				for i := range up {
					up[i] = -3
				}
				_, gx := mathVJP(t, dt, tc.op, []int{len(tc.x)}, tc.x, up)
				// float64: 1 − y² and y(1 − y) cancel, so the result
				// carries the absolute error of y (≈1e-16) relative to
				// values of order 0.1: 1e-14 still holds.
				for i, w := range tc.want {
					if want := -3 * w; !mathClose(gx[i], want, mathTol(dt)) {
						t.Errorf("%s'(%v)·(-3) = %.17g, want %.17g", tc.name, tc.x[i], gx[i], want)
					}
				}
			})
		}
	}
}

func TestLogisticGradCheck(t *testing.T) {
	draw := func(rng *rand.Rand, n int) []float64 { return mathRand(rng, n, -4, 4, false) }
	for _, o := range []struct {
		name string
		op   func(*graph.Node) *graph.Node
	}{{"Sigmoid", nodes.Sigmoid}, {"Tanh", nodes.Tanh}} {
		for _, c := range mathGradShapes {
			t.Run(o.name+"/"+c.shape.String(), func(t *testing.T) {
				mathCheckGrad(t, o.op, c, draw)
			})
		}
	}
}

// mathBenchForward measures op's forward pass on a 128×300 float32 input
// run by a compiled program through Machine.Exec, which should allocate
// nothing in steady state.
func mathBenchForward(b *testing.B, op func(*graph.Node) *graph.Node, check func(v float64) bool) {
	b.Run("128x300/f32", func(b *testing.B) {
		const rows, cols = 128, 300
		g := graph.New(graph.Float32)
		x := g.Input("x", graph.Shape{graph.Batch, cols})
		y := op(x)
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		require.NoError(b, err)
		m := vm.NewMachine(p, vm.NewStore())
		rng := rand.New(rand.NewPCG(1, 2))
		feeds := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{rows, cols}, mathRand(rng, rows*cols, -5, 5, false))}
		if _, err := m.Exec(feeds); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(rows * cols * 4)
		b.ResetTimer()
		var res vm.Result
		for b.Loop() {
			r, err := m.Exec(feeds)
			if err != nil {
				b.Fatal(err)
			}
			res = r
		}
		b.StopTimer()
		// read the result after the loop: gorgonia's Dense.Data allocates
		sink := res.At(0).Data().([]float32)[cols+7]
		if !check(float64(sink)) {
			b.Fatalf("result %v out of range", sink)
		}
	})
}

func BenchmarkSigmoid(b *testing.B) {
	mathBenchForward(b, nodes.Sigmoid, func(v float64) bool { return v > 0 && v < 1 })
}

func BenchmarkTanh(b *testing.B) {
	mathBenchForward(b, nodes.Tanh, func(v float64) bool { return v > -1 && v < 1 })
}
