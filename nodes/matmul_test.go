package nodes_test

import (
	"fmt"
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

// A is 3×2, B is 2×3; At and Bt are their transposes, written out by hand.
// A·B = [[1·1+2·2, 1·0+2·1, 1·(−1)+2·0], [3+8, 4, −3], [5+12, 6, −5]].
var (
	coreA   = []float64{1, 2, 3, 4, 5, 6}
	coreAt  = []float64{1, 3, 5, 2, 4, 6}
	coreBm  = []float64{1, 0, -1, 2, 1, 0}
	coreBt  = []float64{1, 2, 0, 1, -1, 0}
	coreAB  = []float64{5, 2, -1, 11, 4, -3, 17, 6, -5}
	coreMMs = []struct {
		name           string
		transA, transB bool
		a, b           testutil.Value
	}{
		{"A·B", false, false, coreVal("a", []int{3, 2}, coreA...), coreVal("b", []int{2, 3}, coreBm...)},
		{"Aᵀ·B", true, false, coreVal("a", []int{2, 3}, coreAt...), coreVal("b", []int{2, 3}, coreBm...)},
		{"A·Bᵀ", false, true, coreVal("a", []int{3, 2}, coreA...), coreVal("b", []int{3, 2}, coreBt...)},
		{"Aᵀ·Bᵀ", true, true, coreVal("a", []int{2, 3}, coreAt...), coreVal("b", []int{3, 2}, coreBt...)},
	}
)

func TestMatMulForward(t *testing.T) {
	var cases []coreCase
	for _, v := range coreMMs {
		cases = append(cases, coreCase{v.name, []testutil.Value{v.a, v.b},
			func(in []*graph.Node) *graph.Node { return nodes.MatMulT(in[0], in[1], v.transA, v.transB) },
			[]int{3, 3}, coreAB})
	}
	cases = append(cases,
		coreCase{"plain", []testutil.Value{coreMMs[0].a, coreMMs[0].b}, coreBinary(nodes.MatMul), []int{3, 3}, coreAB},
		// B·A = [[1−5, 2−6], [2+3, 4+4]]
		coreCase{"B·A", []testutil.Value{coreVal("b", []int{2, 3}, coreBm...), coreVal("a", []int{3, 2}, coreA...)}, coreBinary(nodes.MatMul), []int{2, 2}, []float64{-4, -4, 5, 8}},
		coreCase{"dot", []testutil.Value{coreVal("a", []int{1, 3}, 1, 2, 3), coreVal("b", []int{3, 1}, 4, -5, 6)}, coreBinary(nodes.MatMul), []int{1, 1}, []float64{4 - 10 + 18}},
		coreCase{"outer", []testutil.Value{coreVal("a", []int{2, 1}, 1, 2), coreVal("b", []int{1, 3}, 4, -5, 6)}, coreBinary(nodes.MatMul), []int{2, 3}, []float64{4, -5, 6, 8, -10, 12}},
		// xᵀ·x of a 2×2: [[1+9, 2+12], [2+12, 4+16]]
		coreCase{"gram", []testutil.Value{coreVal("x", []int{2, 2}, 1, 2, 3, 4)}, func(in []*graph.Node) *graph.Node { return nodes.MatMulT(in[0], in[0], true, false) }, []int{2, 2}, []float64{10, 14, 14, 20}},
	)
	coreForward(t, "MatMul", cases)
}

// TestMatMulVJP: with upstream G = [[1 2 0] [0 0 0] [0 0 −1]],
// Ā = G·Bᵀ = [[1 4] [0 0] [1 0]] and B̄ = Aᵀ·G = [[1 2 −5] [2 4 −6]]; a
// transposed operand gets the transpose of its gradient.
func TestMatMulVJP(t *testing.T) {
	up := []float64{1, 2, 0, 0, 0, 0, 0, 0, -1}
	gA, gAt := []float64{1, 4, 0, 0, 1, 0}, []float64{1, 0, 1, 4, 0, 0}
	gB, gBt := []float64{1, 2, -5, 2, 4, -6}, []float64{1, 2, 2, 4, -5, -6}
	for _, v := range coreMMs {
		wantA, wantB := gA, gB
		if v.transA {
			wantA = gAt
		}
		if v.transB {
			wantB = gBt
		}
		for _, dt := range coreDTypes {
			t.Run(v.name+"/"+dt.String(), func(t *testing.T) {
				y, grads, err := testutil.RunVJP(dt, []testutil.Value{v.a, v.b}, up, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
					return nodes.MatMulT(in[0], in[1], v.transA, v.transB)
				})
				require.NoError(t, err)
				coreExpect(t, v.name, dt, y, []int{3, 3}, coreAB)
				coreExpect(t, v.name+" VJP for a", dt, grads[0], v.a.Shape, wantA)
				coreExpect(t, v.name+" VJP for b", dt, grads[1], v.b.Shape, wantB)
			})
		}
	}
}

func TestMatMulGradCheck(t *testing.T) {
	var cases []coreGrad
	for _, v := range []struct {
		transA, transB bool
		a, b           []int
	}{
		{false, false, []int{3, 4}, []int{4, 2}},
		{true, false, []int{4, 3}, []int{4, 2}},
		{false, true, []int{3, 4}, []int{2, 4}},
		{true, true, []int{4, 3}, []int{2, 4}},
		{false, false, []int{1, 5}, []int{5, 1}},
		{true, false, []int{5, 1}, []int{5, 3}},
	} {
		cases = append(cases, coreGrad{
			name:   fmt.Sprintf("transA=%v,transB=%v,%v·%v", v.transA, v.transB, graph.Shape(v.a), graph.Shape(v.b)),
			shapes: [][]int{v.a, v.b},
			build:  func(in []*graph.Node) *graph.Node { return nodes.MatMulT(in[0], in[1], v.transA, v.transB) },
		})
	}
	cases = append(cases,
		coreGrad{name: "dense", shapes: [][]int{{4, 3}, {3, 5}, {5}},
			build: func(in []*graph.Node) *graph.Node { return nodes.Add(nodes.MatMul(in[0], in[1]), in[2]) }},
		coreGrad{name: "two-layers", shapes: [][]int{{4, 3}, {3, 5}, {5, 2}},
			build: func(in []*graph.Node) *graph.Node {
				return nodes.MatMul(nodes.Maximum(nodes.MatMul(in[0], in[1]), in[0].Graph().Scalar(0)), in[2])
			}},
		// second order: ∇ Σ (x·W)² is linear in each of x and W's products
		coreGrad{name: "second-order", shapes: [][]int{{3, 4}, {4, 2}},
			build: func(in []*graph.Node) *graph.Node {
				h := nodes.MatMul(in[0], in[1])
				return coreGradOf(t, nodes.Sum(nodes.Mul(h, h), false), in[0], in[1])
			}},
		coreGrad{name: "second-order-transposed", shapes: [][]int{{4, 3}, {2, 4}},
			build: func(in []*graph.Node) *graph.Node {
				h := nodes.MatMulT(in[0], in[1], true, true)
				return coreGradOf(t, nodes.Sum(nodes.Mul(h, h), false), in[0], in[1])
			}},
	)
	coreCheckGrads(t, cases)
}

func TestMatMulShapes(t *testing.T) {
	tests := []struct {
		a, b           graph.Shape
		transA, transB bool
		want           graph.Shape
		msg            string
	}{
		{a: graph.Shape{coreB, 3}, b: graph.Shape{3, 4}, want: graph.Shape{coreB, 4}},
		// the weight gradient xᵀ·g contracts the batch
		{a: graph.Shape{coreB, 3}, b: graph.Shape{coreB, 4}, transA: true, want: graph.Shape{3, 4}},
		// the input gradient g·Wᵀ
		{a: graph.Shape{coreB, 4}, b: graph.Shape{3, 4}, transB: true, want: graph.Shape{coreB, 3}},
		{a: graph.Shape{3, 2}, b: graph.Shape{4, 3}, transA: true, transB: true, want: graph.Shape{2, 4}},
		{a: graph.Shape{coreB, 784}, b: graph.Shape{300, 10},
			msg: `graph: matmul "matmul": inner dimensions 784 and 300 differ (inputs f32[B,784], f32[300,10]; at matmul_test.go:`},
		{a: graph.Shape{2, 3}, b: graph.Shape{2, 3},
			msg: `graph: matmul "matmul": inner dimensions 3 and 2 differ (inputs f32[2,3], f32[2,3]; at matmul_test.go:`},
		{a: graph.Shape{2, 3}, b: graph.Shape{2, 3}, transA: true, transB: true,
			msg: `graph: matmul "matmul": inner dimensions 2 and 3 differ (inputs f32[2,3], f32[2,3]; at matmul_test.go:`},
		{a: graph.Shape{coreB, 3}, b: graph.Shape{5, 4}, transA: true,
			msg: `graph: matmul "matmul": inner dimensions [B] and [5] differ: the open batch dimension meets a fixed one (inputs f32[B,3], f32[5,4]; at matmul_test.go:`},
		{a: graph.Shape{3}, b: graph.Shape{3, 2},
			msg: `graph: matmul "matmul": operands must have rank 2, have [3] and [3,2] (inputs f32[3], f32[3,2]; at matmul_test.go:`},
		{a: graph.Shape{2, 2, 2}, b: graph.Shape{2, 2},
			msg: `graph: matmul "matmul": operands must have rank 2, have [2,2,2] and [2,2] (inputs f32[2,2,2], f32[2,2]; at matmul_test.go:`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v·%v/%v,%v", tc.a, tc.b, tc.transA, tc.transB), func(t *testing.T) {
			g := graph.New(graph.Float32)
			y := nodes.MatMulT(g.Input("a", tc.a), g.Input("b", tc.b), tc.transA, tc.transB)
			if tc.msg != "" {
				assert.True(t, y.IsPoisoned())
				coreErrPrefix(t, g.Err(), graph.ErrShape, tc.msg)
				return
			}
			require.NoError(t, g.Err())
			assert.Equal(t, tc.want, y.Shape(), "MatMulT(%v, %v, %v, %v) has shape %v, want %v", tc.a, tc.b, tc.transA, tc.transB, y.Shape(), tc.want)
		})
	}
}

// TestMatMulBatch runs x[B,2]·W[2,3] at batch sizes 1 and 3.
func TestMatMulBatch(t *testing.T) {
	for _, dt := range coreDTypes {
		for _, tc := range []struct {
			x, want []float64
		}{
			{[]float64{1, 2}, []float64{5, 2, -1}},
			{[]float64{1, 2, 3, 4, 5, 6}, coreAB},
		} {
			n := len(tc.x) / 2
			vals, err := coreRunDecl(dt, []graph.Shape{{coreB, 2}, {2, 3}},
				[]testutil.Value{coreVal("x", []int{n, 2}, tc.x...), coreVal("w", []int{2, 3}, coreBm...)},
				func(in []*graph.Node) []*graph.Node { return []*graph.Node{nodes.MatMul(in[0], in[1])} })
			require.NoError(t, err)
			coreExpect(t, fmt.Sprintf("MatMul(%v, %v)", tc.x, coreBm), dt, vals[0], []int{n, 3}, tc.want)
		}
	}
}

// TestMatMulLarge compares the GEMM with a naive triple loop in float64 for
// every transpose variant. The float32 tolerance is the standard error
// bound of a dot product of length k: |fl(a·b) − a·b| ≤ γ_k Σ|a_i b_i| with
// γ_k ≈ k·u, u = 2⁻²⁴, plus the rounding of the inputs (2u per product);
// float64 uses the same bound with u = 2⁻⁵³.
func TestMatMulLarge(t *testing.T) {
	coreParallel(t)
	const m, k, n = 64, 100, 70
	r := rand.New(rand.NewPCG(11, 11))
	a, b := make([]float64, m*k), make([]float64, k*n)
	for i := range a {
		a[i] = coreUniform(-1, 1)(r)
	}
	for i := range b {
		b[i] = coreUniform(-1, 1)(r)
	}
	// at, bt: the transposes
	at, bt := make([]float64, k*m), make([]float64, n*k)
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			at[j*m+i] = a[i*k+j]
		}
	}
	for i := 0; i < k; i++ {
		for j := 0; j < n; j++ {
			bt[j*k+i] = b[i*n+j]
		}
	}
	want, mag := make([]float64, m*n), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				want[i*n+j] += a[i*k+p] * b[p*n+j]
				mag[i*n+j] += math.Abs(a[i*k+p] * b[p*n+j])
			}
		}
	}
	for _, v := range []struct {
		transA, transB bool
	}{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, dt := range coreDTypes {
			t.Run(fmt.Sprintf("%v,%v/%v", v.transA, v.transB, dt), func(t *testing.T) {
				av, bv := coreVal("a", []int{m, k}, a...), coreVal("b", []int{k, n}, b...)
				if v.transA {
					av = coreVal("a", []int{k, m}, at...)
				}
				if v.transB {
					bv = coreVal("b", []int{n, k}, bt...)
				}
				out, err := testutil.Run(dt, []testutil.Value{av, bv}, func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
					return []*graph.Node{nodes.MatMulT(in[0], in[1], v.transA, v.transB)}
				})
				require.NoError(t, err)
				u := 0x1p-53
				if dt == graph.Float32 {
					u = 0x1p-24
				}
				got := out[0].Data
				require.Len(t, got, m*n)
				for i := range want {
					if tol := float64(k+2) * u * mag[i]; math.Abs(got[i]-want[i]) > tol {
						t.Fatalf("MatMulT(a, b, %v, %v)[%d,%d] = %v, want %v ± %g", v.transA, v.transB, i/n, i%n, got[i], want[i], tol)
					}
				}
			})
		}
	}
}

var coreSink float64

// BenchmarkMatMul times one compiled 128×784 · 784×300 product through
// Machine.Exec (which must not allocate).
func BenchmarkMatMul(b *testing.B) {
	const batch, in, out = 128, 784, 300
	b.Run(fmt.Sprintf("%dx%dx%d/f32", batch, in, out), func(b *testing.B) {
		g := graph.New(graph.Float32)
		x := g.Input("x", graph.Shape{coreB, in})
		w := g.Variable("w", graph.Shape{in, out})
		y := nodes.MatMul(x, w)
		p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
		if err != nil {
			b.Fatal(err)
		}
		store := vm.NewStore()
		r := rand.New(rand.NewPCG(1, 1))
		wd := make([]float64, in*out)
		for i := range wd {
			wd[i] = r.NormFloat64() * 0.05
		}
		if err := store.SetFloat64s("w", graph.Shape{in, out}, graph.Float32, wd); err != nil {
			b.Fatal(err)
		}
		xd := make([]float64, batch*in)
		for i := range xd {
			xd[i] = r.Float64()
		}
		feeds := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{batch, in}, xd)}
		m := vm.NewMachine(p, store)
		if _, err := m.Exec(feeds); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(4 * (batch*in + in*out + batch*out)))
		b.ResetTimer()
		var res vm.Result
		for b.Loop() {
			if res, err = m.Exec(feeds); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(2*batch*in*out*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		// y[0,0] = Σ_k x[0,k]·w[k,0], in float64 here; the float32 GEMM
		// is within (k+2)·2⁻²⁴·Σ|terms| of it
		var want, mag float64
		for k := 0; k < in; k++ {
			p := float64(float32(xd[k])) * float64(float32(wd[k*out]))
			want += p
			mag += math.Abs(p)
		}
		got := float64(res.At(0).Float32s()[0])
		if math.Abs(got-want) > (in+2)*0x1p-24*mag {
			b.Fatalf("y[0,0] = %v, want %v", got, want)
		}
		coreSink += got
	})
}
