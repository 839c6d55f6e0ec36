package initializers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/vm"
)

// Orthogonal beyond the golden tall and square cases: wide kernels
// (W·Wᵀ = gain²·I), gains other than 1, rank-4 kernels flattened as Keras
// does ([∏shape[:-1], shape[-1]]), in float64 and through the float32 path
// (vm.Store.Init on a float32 graph).
//
// Tolerances: in float64 the Gram matrix of a Householder QR factor is
// the identity to a few ulps times the dimension, far below 1e-12·gain².
// In float32 each value is rounded once, w(1+δ) with |δ| ≤ 2⁻²⁴, which
// moves a Gram entry Σ wᵢwⱼ by at most 2·2⁻²⁴·Σ|wᵢ||wⱼ| ≤ 2⁻²³·gain²
// (Cauchy–Schwarz on orthogonal rows of norm gain), so 2⁻²³·gain² + 1e-12.
func TestOrthogonalShapes(t *testing.T) {
	tests := []struct {
		name       string
		shape      []int
		gain       float64
		rows, cols int // the Keras flattening
	}{
		{"wide", []int{3, 7}, 0, 3, 7},
		{"wide gain 2", []int{3, 7}, 2, 3, 7},
		{"tall gain 0.5", []int{9, 4}, 0.5, 9, 4},
		{"square gain 1.5", []int{5, 5}, 1.5, 5, 5},
		{"row", []int{1, 6}, 3, 1, 6},
		{"rank 4 tall", []int{3, 3, 4, 8}, 0, 36, 8},
		{"rank 4 wide gain 2", []int{1, 1, 2, 16}, 2, 2, 16},
		{"rank 3", []int{2, 5, 4}, 0.25, 10, 4},
	}
	for _, tc := range tests {
		for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				init := initializers.Orthogonal{Gain: tc.gain}
				w := orthogonalDraw(t, init, tc.shape, dt, 5)
				require.Len(t, w, tc.rows*tc.cols)
				gain := tc.gain
				if gain == 0 {
					gain = 1
				}
				tol := 1e-12 * gain * gain
				if dt == graph.Float32 {
					tol += math.Ldexp(1, -23) * gain * gain
				}
				checkGram(t, w, tc.rows, tc.cols, gain, tol)
				// rms = gain·sqrt(min/(rows·cols)) = gain/sqrt(max)
				var ss float64
				for _, v := range w {
					ss += v * v
				}
				assert.InDelta(t, gain/math.Sqrt(float64(max(tc.rows, tc.cols))), math.Sqrt(ss/float64(len(w))), tol, "rms")
			})
		}
	}
}

// orthogonalDraw draws one kernel: in float64 straight from Initialize, in
// float32 through a float32 graph's variable and vm.Store.Init.
func orthogonalDraw(t *testing.T, init initializers.Initializer, shape []int, dt graph.DType, seed uint64) []float64 {
	t.Helper()
	if dt == graph.Float64 {
		n := 1
		for _, d := range shape {
			n *= d
		}
		w := make([]float64, n)
		require.NoError(t, init.Initialize(w, shape, rand.New(rand.NewPCG(seed, 1))))
		return w
	}
	g := graph.New(dt)
	v := g.Variable("kernel", shape, graph.WithInit(init))
	s := vm.NewStore()
	require.NoError(t, s.Init(g, seed, nil))
	_, got, ok := s.Shape(v.Name())
	require.True(t, ok)
	require.Equal(t, dt, got)
	w, err := s.Float64s(v.Name())
	require.NoError(t, err)
	return w
}

// checkGram checks the Gram matrix over the smaller side of the row-major
// rows×cols matrix w: WᵀW (rows ≥ cols) or WWᵀ, against gain²·I.
func checkGram(t *testing.T, w []float64, rows, cols int, gain, tol float64) {
	t.Helper()
	k, inner := cols, rows
	at := func(a, i int) float64 { return w[i*cols+a] } // column a, row i
	if rows < cols {
		k, inner = rows, cols
		at = func(a, i int) float64 { return w[a*cols+i] } // row a, column i
	}
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			var s float64
			for i := 0; i < inner; i++ {
				s += at(a, i) * at(b, i)
			}
			want := 0.0
			if a == b {
				want = gain * gain
			}
			if math.Abs(s-want) > tol {
				t.Fatalf("gram[%d][%d] = %.17g, want %v ± %.3g (%d×%d, gain %v)", a, b, s, want, tol, rows, cols, gain)
			}
		}
	}
}

// The flattening is Keras's: a [2, 3, 4] kernel is a 6×4 matrix with
// orthogonal columns, not, say, 2×12 with orthogonal rows.
func TestOrthogonalFlattening(t *testing.T) {
	w := orthogonalDraw(t, initializers.Orthogonal{}, []int{2, 3, 4}, graph.Float64, 9)
	checkGram(t, w, 6, 4, 1, 1e-12)
	// read as 2×12, its Gram matrix has the trace Σw² = 4 (the trace of
	// the 4×4 identity), not 2: the rows are not orthonormal, whatever the
	// draw
	var ss float64
	for _, v := range w {
		ss += v * v
	}
	assert.InDelta(t, 4, ss, 1e-12, "Σw² of a 6×4 matrix with orthonormal columns")
}
