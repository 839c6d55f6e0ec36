package nodes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

func TestSoftmaxForward(t *testing.T) {
	ln3 := math.Log(3)
	nan := math.NaN()
	// e^0 : e^(ln 2) : e^(ln 3) = 1 : 2 : 3, so softmax is 1/6, 2/6, 3/6 and
	// log-softmax is −ln 6, −ln 3, −ln 2. Equal entries share equally;
	// e^(−2000) underflows to exactly 0; a single class gives 1 and 0. A
	// NaN spoils its row only.
	cases := []struct {
		name       string
		shape      []int
		x          []float64
		soft, logs []float64
	}{
		{"ratios", []int{3}, []float64{0, math.Ln2, ln3},
			[]float64{1.0 / 6, 1.0 / 3, 0.5}, []float64{-math.Log(6), -ln3, -math.Ln2}},
		{"plus1000", []int{1, 2}, []float64{1000, 1000},
			[]float64{0.5, 0.5}, []float64{-math.Ln2, -math.Ln2}},
		{"minus1000", []int{3}, []float64{-1000, -1000, -1000},
			[]float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, []float64{-ln3, -ln3, -ln3}},
		{"pm1000", []int{2}, []float64{1000, -1000},
			[]float64{1, 0}, []float64{0, -2000}},
		{"single", []int{3, 1}, []float64{5, -3, 1000},
			[]float64{1, 1, 1}, []float64{0, 0, 0}},
		{"rows", []int{2, 1, 3}, []float64{0, math.Ln2, ln3, 7, 7, 7},
			[]float64{1.0 / 6, 1.0 / 3, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3}, []float64{-math.Log(6), -ln3, -math.Ln2, -ln3, -ln3, -ln3}},
		{"nan", []int{2, 3}, []float64{1, nan, 2, 0, 0, 0},
			[]float64{nan, nan, nan, 1.0 / 3, 1.0 / 3, 1.0 / 3}, []float64{nan, nan, nan, -ln3, -ln3, -ln3}},
	}
	for _, tc := range cases {
		for _, dt := range mathDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				shape, got := mathForward(t, dt, nodes.Softmax, tc.shape, tc.x)
				assert.Equal(t, tc.shape, shape)
				for i, w := range tc.soft {
					if !mathClose(got[i], w, mathTol(dt)) {
						t.Errorf("Softmax(%v)[%d] = %.17g, want %.17g", tc.x, i, got[i], w)
					}
				}
				_, got = mathForward(t, dt, nodes.LogSoftmax, tc.shape, tc.x)
				for i, w := range tc.logs {
					if !mathClose(got[i], w, mathTol(dt)) {
						t.Errorf("LogSoftmax(%v)[%d] = %.17g, want %.17g", tc.x, i, got[i], w)
					}
				}
			})
		}
	}
}

// TestSoftmaxParallel runs enough rows for the kernel to split them over
// the worker pool (when there is more than one thread): every row must
// still come out right. Even rows are [0, ln 2, ln 3], odd rows [r, r, r].
func TestSoftmaxParallel(t *testing.T) {
	const rows = 5000
	x := make([]float64, 0, 3*rows)
	soft := make([]float64, 0, 3*rows)
	logs := make([]float64, 0, 3*rows)
	for r := range rows {
		if r%2 == 0 {
			x = append(x, 0, math.Ln2, math.Log(3))
			soft = append(soft, 1.0/6, 1.0/3, 0.5)
			logs = append(logs, -math.Log(6), -math.Log(3), -math.Ln2)
		} else {
			v := float64(r)
			x = append(x, v, v, v)
			soft = append(soft, 1.0/3, 1.0/3, 1.0/3)
			logs = append(logs, -math.Log(3), -math.Log(3), -math.Log(3))
		}
	}
	for _, dt := range mathDTypes {
		for _, op := range []struct {
			name string
			f    func(*graph.Node) *graph.Node
			want []float64
		}{{"Softmax", nodes.Softmax, soft}, {"LogSoftmax", nodes.LogSoftmax, logs}} {
			_, got := mathForward(t, dt, op.f, []int{rows, 3}, x)
			bad := 0
			for i, w := range op.want {
				if !mathClose(got[i], w, mathTol(dt)) && bad < 3 {
					bad++
					t.Errorf("%s/%s row %d [%d] = %v, want %v", op.name, dt, i/3, i%3, got[i], w)
				}
			}
		}
	}
}

// TestSoftmaxEmpty: zero rows or zero classes run and give an empty
// result. (It reads shapes only: gorgonia's Dense.Data panics on an empty
// tensor, so testutil.Run cannot be used here.)
func TestSoftmaxEmpty(t *testing.T) {
	for _, shape := range [][]int{{0, 3}, {3, 0}, {0}} {
		for _, op := range []func(*graph.Node) *graph.Node{nodes.Softmax, nodes.LogSoftmax} {
			g := graph.New(graph.Float64)
			y := op(g.Input("x", shape))
			p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
			require.NoError(t, err)
			x, err := vm.FromSlice([]float64{}, shape...)
			require.NoError(t, err)
			var r vm.Result
			require.NotPanics(t, func() { r, err = vm.NewMachine(p, vm.NewStore()).Exec(vm.Feeds{"x": x}) })
			require.NoError(t, err)
			assert.Equal(t, shape, []int(r.At(0).Shape()), "%s of %v", y.Op().Name(), shape)
		}
	}
}

func TestSoftmaxVJP(t *testing.T) {
	ln3 := math.Log(3)
	x := []float64{0, math.Ln2, ln3} // softmax y = [1/6, 1/3, 1/2]
	cases := []struct {
		name string
		op   func(*graph.Node) *graph.Node
		up   []float64
		want []float64
	}{
		// x̄ = y ⊙ (ḡ − Σ ḡ⊙y): with ḡ = e₀ that is yⱼ(δ₀ⱼ − y₀), the first
		// row of the Jacobian: [1/6·5/6, −1/3·1/6, −1/2·1/6].
		{"Softmax/e0", nodes.Softmax, []float64{1, 0, 0}, []float64{5.0 / 36, -1.0 / 18, -1.0 / 12}},
		// shifting every input leaves softmax unchanged: ḡ = 1 gives 0.
		{"Softmax/ones", nodes.Softmax, []float64{1, 1, 1}, []float64{0, 0, 0}},
		// x̄ = ḡ − y·Σḡ: [1 − 1/6, −1/3, −1/2].
		{"LogSoftmax/e0", nodes.LogSoftmax, []float64{1, 0, 0}, []float64{5.0 / 6, -1.0 / 3, -0.5}},
		// ḡ = 1: 1 − 3y = [½, 0, −½].
		{"LogSoftmax/ones", nodes.LogSoftmax, []float64{1, 1, 1}, []float64{0.5, 0, -0.5}},
	}
	for _, tc := range cases {
		for _, dt := range mathDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				_, gx := mathVJP(t, dt, tc.op, []int{1, 3}, x, tc.up)
				for i, w := range tc.want {
					// the exact zeros come out of cancellations (1 − y·3
					// for y ≈ 1/3, ḡ − Σ ḡy with Σ y ≈ 1): allow the
					// round-off of the dtype in absolute terms there
					abs := 1e-15
					if dt == graph.Float32 {
						abs = 1e-6
					}
					if math.Abs(gx[i]-w) > mathTol(dt)*math.Abs(w)+abs {
						t.Errorf("%s VJP(%v, %v)[%d] = %.17g, want %.17g", tc.name, x, tc.up, i, gx[i], w)
					}
				}
			})
		}
	}
}

// TestSoftmaxSingleClassGradient: with one class the output is constant
// (1, or 0 for log-softmax), so the gradient is exactly zero.
func TestSoftmaxSingleClassGradient(t *testing.T) {
	for _, dt := range mathDTypes {
		for _, op := range []func(*graph.Node) *graph.Node{nodes.Softmax, nodes.LogSoftmax} {
			_, gx := mathVJP(t, dt, op, []int{3, 1}, []float64{5, -1000, 0.25}, []float64{2, -7, 0.5})
			assert.Equal(t, []float64{0, 0, 0}, gx)
		}
	}
}

func TestSoftmaxGradCheck(t *testing.T) {
	draw := func(rng *rand.Rand, n int) []float64 { return mathRand(rng, n, -3, 3, false) }
	for _, o := range []struct {
		name string
		op   func(*graph.Node) *graph.Node
	}{{"Softmax", nodes.Softmax}, {"LogSoftmax", nodes.LogSoftmax}} {
		for _, c := range mathGradShapes {
			t.Run(o.name+"/"+c.shape.String(), func(t *testing.T) {
				mathCheckGrad(t, o.op, c, draw)
			})
		}
	}
}

// TestSoftmaxExecAllocs: once bound, the kernels allocate nothing per run.
func TestSoftmaxExecAllocs(t *testing.T) {
	for _, op := range []func(*graph.Node) *graph.Node{nodes.Softmax, nodes.LogSoftmax, nodes.Sigmoid, nodes.Tanh, nodes.Exp} {
		g := graph.New(graph.Float32)
		y := op(g.Input("x", graph.Shape{graph.Batch, 5}))
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		require.NoError(t, err)
		m := vm.NewMachine(p, vm.NewStore())
		feeds := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{4, 5}, make([]float64, 20))}
		_, err = m.Exec(feeds)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := m.Exec(feeds); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%s: Exec allocates", y.Op().Name())
	}
}

func BenchmarkSoftmax(b *testing.B) {
	mathBenchForward(b, nodes.Softmax, func(v float64) bool { return v > 0 && v < 1 })
}
