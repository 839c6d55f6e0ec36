package nodes_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Tolerances of the activation tests against hand-derived or mpmath values
// (60 significant digits, rounded to float64 once):
//   - float64: 2e-15 relative, about 9 ulps: a kernel evaluates one or two
//     library functions (exp, expm1, erfc, log1p), each within an ulp or
//     two, and a few products.
//   - float32: 4e-7 relative, about 3 float32 ulps (the float64 result
//     rounded once, or for the T-arithmetic kinds α rounded to float32 and
//     the product rounded again); plus an absolute 1e-37 for results that
//     fall below float32's normal range (GELU(−30) = −1.5e-196 is 0 in
//     float32). The test points are all exact in float32, so the input
//     adds no error.
const (
	actTol64    = 2e-15
	actTol32    = 4e-7
	actTiny32   = 1e-37
	actUpstream = 2 // a power of two: scaling by it is exact, so x̄/2 = f'(x) exactly
)

var actDTypes = []graph.DType{graph.Float64, graph.Float32}

func actClose(dt graph.DType, got, want float64) bool { return actCloseTol(dt, got, want, actTol64) }

// actCloseTol is actClose with the float64 tolerance tol64.
func actCloseTol(dt graph.DType, got, want, tol64 float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if dt == graph.Float32 {
		return math.Abs(got-want) <= actTol32*math.Abs(want)+actTiny32
	}
	return math.Abs(got-want) <= tol64*math.Abs(want)
}

// actRun runs build on a rank-1 input x of the given dtype with the upstream
// actUpstream and returns y and x̄.
func actRun(t *testing.T, dt graph.DType, build func(x *graph.Node) *graph.Node, x []float64) (y, dx []float64) {
	t.Helper()
	up := make([]float64, len(x))
	for i := range up {
		up[i] = actUpstream
	}
	yv, gs, err := testutil.RunVJP(dt, []testutil.Value{{Name: "x", Shape: []int{len(x)}, Data: x}}, up,
		func(_ *graph.Graph, in []*graph.Node) *graph.Node { return build(in[0]) })
	require.NoError(t, err)
	return yv.Data, gs[0].Data
}

// actPoints are the inputs of TestActivationValues: both zeros, the kinks'
// neighbourhood (±2⁻²⁷ ≈ ±7.45e-9, where eˣ − 1 would lose 8 digits), and
// large magnitudes. All are exact in float32.
var actPoints = []float64{-1e30, -30, -3, -1, -0.5, -0x1p-27, math.Copysign(0, -1), 0, 0x1p-27, 0.5, 1, 3, 30, 1e30}

// actCase is an activation with its expected values y and derivatives d at
// its points.
type actCase struct {
	name  string
	f     func(*graph.Node) *graph.Node
	x     []float64
	y, d  []float64
	exact bool    // y and d must match bit for bit (piecewise-linear kinds, float64)
	tol64 float64 // the float64 tolerance where it is not actTol64
	// dAbs is an absolute slack on the derivative for the kinds whose
	// gradient reads the output y (ELU, SELU: f' = y + negScale for x ≤ 0,
	// as TensorFlow's EluGrad computes it): the sum cancels, so its error
	// is a few ulp of negScale rather than of f'.
	dAbs float64
}

func actCases() []actCase {
	P := actPoints
	return []actCase{
		// by hand: max(0, x); 1 where x > 0 else 0 (the kink rule at ±0)
		{name: "relu", f: nodes.ReLU, x: P, exact: true,
			y: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0x1p-27, 0.5, 1, 3, 30, 1e30},
			d: []float64{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}},
		// by hand: clip(x, 0, 6); 1 strictly inside (0, 6)
		{name: "relu6", f: nodes.ReLU6, x: []float64{-1, math.Copysign(0, -1), 0, 0x1p-27, 3, 5.5, 6, 7, 1e30}, exact: true,
			y: []float64{0, 0, 0, 0x1p-27, 3, 5.5, 6, 6, 6},
			d: []float64{0, 0, 0, 1, 1, 1, 0, 0, 0}},
		// by hand: 0.2·x on x ≤ 0 (0.2·-3 is the float64 product −0.6000000000000001)
		{name: "leaky_relu/0.2", f: func(x *graph.Node) *graph.Node { return nodes.LeakyReLU(x, 0.2) }, x: P,
			y: []float64{-2e29, -6, -0.6000000000000001, -0.2, -0.1, -0x1p-27 / 5, 0, 0, 0x1p-27, 0.5, 1, 3, 30, 1e30},
			d: []float64{0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 1, 1, 1, 1, 1, 1}},
		// by hand: (x+3)/6 clipped to [0, 1]; 1/6 strictly inside (−3, 3)
		{name: "hard_sigmoid", f: nodes.HardSigmoid, x: []float64{-1e30, -4, -3, -1.5, math.Copysign(0, -1), 0, 1.5, 2, 3, 4},
			y: []float64{0, 0, 0, 0.25, 0.5, 0.5, 0.75, 5.0 / 6, 1, 1},
			d: []float64{0, 0, 0, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 0, 0}},
		// mpmath: expm1 branch; derivative eˣ (α = 1 at ±0, the kink rule)
		{name: "elu/1", f: func(x *graph.Node) *graph.Node { return nodes.ELU(x, 1) }, x: P, dAbs: 1,
			y: []float64{-1, -0.9999999999999064, -0.950212931632136, -0.6321205588285577, -0.3934693402873666, -7.4505805691682525e-09, 0, 0, 0x1p-27, 0.5, 1, 3, 30, 1e30},
			d: []float64{0, 9.357622968840175e-14, 0.049787068367863944, 0.36787944117144233, 0.6065306597126334, 0.9999999925494194, 1, 1, 1, 1, 1, 1, 1, 1}},
		{name: "elu/0.5", f: func(x *graph.Node) *graph.Node { return nodes.ELU(x, 0.5) }, x: P, dAbs: 0.5,
			y: []float64{-0.5, -0.4999999999999532, -0.475106465816068, -0.31606027941427883, -0.1967346701436833, -3.7252902845841263e-09, 0, 0, 0x1p-27, 0.5, 1, 3, 30, 1e30},
			d: []float64{0, 4.6788114844200874e-14, 0.024893534183931972, 0.18393972058572117, 0.3032653298563167, 0.4999999962747097, 0.5, 0.5, 1, 1, 1, 1, 1, 1}},
		// mpmath with λ = 1.0507009873554805 and λα = 1.7580993408473766
		{name: "selu", f: nodes.SELU, x: P, dAbs: nodes.SELUScaleAlpha,
			y: []float64{-1.7580993408473766, -1.758099340847212, -1.6705687287671118, -1.1113307378125625, -0.6917581878028713, -1.3098860787584978e-08, 0, 0, 7.828332389559451e-09, 0.5253504936777402, 1.0507009873554805, 3.1521029620664414, 31.521029620664414, 1.0507009873554804e+30},
			d: []float64{0, 1.6451630773416182e-13, 0.08753061208026487, 0.646768603034814, 1.0663411530445053, 1.7580993277485157, 1.7580993408473766, 1.7580993408473766, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805}},
		// mpmath: x·Φ(x) and its derivative by mpmath.diff. Tolerance: in
		// the far left tail GELU has relative condition number ≈ x² (900 at
		// x = −30), so the rounding of the argument x/√2 of erfc alone
		// moves GELU(−30) ≈ −1.5e-196 by 3e-14 relative.
		{name: "gelu", f: nodes.GELU, x: P, tol64: 1e-13,
			y: []float64{0, -1.472014178144456e-196, -0.0040496940948902835, -0.15865525393145705, -0.15426876936299344, -3.725290276316169e-09, 0, 0, 3.725290320607659e-09, 0.34573123063700656, 0.8413447460685429, 2.99595030590511, 30, 1e30},
			d: []float64{0, -4.416031690708495e-195, -0.011945647204183927, -0.0833154705876863, 0.13250487534383715, 0.49999999405529677, 0.5, 0.5, 0.5000000059447032, 0.8674951246561629, 1.0833154705876864, 1.011945647204184, 1, 1}},
		// mpmath: ½x(1 + tanh(√(2/π)(x + 0.044715x³))), derivative by mpmath.diff
		{name: "gelu_tanh", f: nodes.GELUTanh, x: P,
			y: []float64{0, 0, -0.003637392081773019, -0.1588080093917233, -0.15428599017485609, -3.725290276316169e-09, 0, 0, 3.725290320607659e-09, 0.34571400982514394, 0.8411919906082767, 2.996362607918227, 30, 1e30},
			d: []float64{0, 0, -0.011584166630969726, -0.08296408384578255, 0.1326300964653577, 0.49999999405529677, 0.5, 0.5, 0.5000000059447032, 0.8673699035346423, 1.0829640838457826, 1.0115841666309697, 1, 1}},
		// mpmath: x/(1 + e⁻ˣ), derivative by mpmath.diff
		{name: "silu", f: nodes.SiLU, x: P,
			y: []float64{0, -2.8072868906517896e-12, -0.14227761953270035, -0.2689414213699951, -0.18877033439907273, -3.7252902845841263e-09, 0, 0, 3.725290312339702e-09, 0.3112296656009273, 0.7310585786300049, 2.8577223804672998, 29.999999999997193, 1e30},
			d: []float64{0, -2.713710660963134e-12, -0.08810410601516962, 0.07232948812851327, 0.2600388126973482, 0.4999999962747097, 0.5, 0.5, 0.5000000037252903, 0.7399611873026518, 0.9276705118714867, 1.0881041060151697, 1.0000000000027136, 1}},
		// mpmath: log(1 + eˣ), derivative by mpmath.diff (σ(x))
		{name: "softplus", f: nodes.Softplus, x: P,
			y: []float64{0, 9.357622968839737e-14, 0.04858735157374206, 0.3132616875182228, 0.4740769841801067, 0.693147176834655, 0.6931471805599453, 0.6931471805599453, 0.6931471842852356, 0.9740769841801067, 1.3132616875182228, 3.048587351573742, 30.000000000000092, 1e30},
			d: []float64{0, 9.357622968839299e-14, 0.04742587317756678, 0.2689414213699951, 0.37754066879814546, 0.49999999813735485, 0.5, 0.5, 0.5000000018626451, 0.6224593312018546, 0.7310585786300049, 0.9525741268224333, 0.9999999999999064, 1}},
	}
}

// TestActivationValues checks every element-wise activation's forward value
// and derivative (through autodiff, with upstream 2) at hand-derived or
// mpmath points, including both zeros and large magnitudes, in both dtypes.
func TestActivationValues(t *testing.T) {
	for _, tc := range actCases() {
		for _, dt := range actDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				y, dx := actRun(t, dt, tc.f, tc.x)
				tol := actTol64
				if tc.tol64 > 0 {
					tol = tc.tol64
				}
				for i, x := range tc.x {
					if tc.exact && dt == graph.Float64 {
						assert.Equal(t, tc.y[i], y[i], "%s(%v) = %v, want %v", tc.name, x, y[i], tc.y[i])
						assert.Equal(t, tc.d[i], dx[i]/actUpstream, "%s'(%v) = %v, want %v", tc.name, x, dx[i]/actUpstream, tc.d[i])
						continue
					}
					want := tc.y[i]
					if dt == graph.Float32 {
						want = float64(float32(want)) // what a float32 result can hold at best
					}
					assert.True(t, actCloseTol(dt, y[i], want, tol), "%s(%v) = %.17g, want %.17g", tc.name, x, y[i], tc.y[i])
					dAbs := 0.0
					if tc.dAbs > 0 {
						// 4 ulp of negScale in the dtype
						dAbs = 4 * tc.dAbs * 0x1p-52
						if dt == graph.Float32 {
							dAbs = 4 * tc.dAbs * 0x1p-23
						}
					}
					assert.True(t, math.Abs(dx[i]/actUpstream-tc.d[i]) <= dAbs || actCloseTol(dt, dx[i]/actUpstream, tc.d[i], tol), "%s'(%v) = %.17g, want %.17g", tc.name, x, dx[i]/actUpstream, tc.d[i])
				}
			})
		}
	}
}

// TestActivationKinks checks the kink rule bit for bit: at x = 0 and −0.0
// (and the other kinks of relu6 and hard_sigmoid) the derivative is the
// negative branch's, in the dtype's own rounding of the constants.
func TestActivationKinks(t *testing.T) {
	negZero := math.Copysign(0, -1)
	cases := []struct {
		name string
		f    func(*graph.Node) *graph.Node
		x    float64
		want float64 // f'(x) by the kink rule (SEMANTICS §0)
	}{
		{"relu", nodes.ReLU, 0, 0},
		{"relu", nodes.ReLU, negZero, 0},
		{"relu6", nodes.ReLU6, 0, 0},
		{"relu6", nodes.ReLU6, 6, 0},
		{"leaky_relu/0.01", func(x *graph.Node) *graph.Node { return nodes.LeakyReLU(x, 0.01) }, 0, 0.01},
		{"leaky_relu/0.3", func(x *graph.Node) *graph.Node { return nodes.LeakyReLU(x, 0.3) }, negZero, 0.3},
		{"leaky_relu/0", func(x *graph.Node) *graph.Node { return nodes.LeakyReLU(x, 0) }, 0, 0},
		{"elu/1", func(x *graph.Node) *graph.Node { return nodes.ELU(x, 1) }, 0, 1},
		{"elu/0.5", func(x *graph.Node) *graph.Node { return nodes.ELU(x, 0.5) }, negZero, 0.5},
		{"elu/2", func(x *graph.Node) *graph.Node { return nodes.ELU(x, 2) }, 0, 2},
		{"selu", nodes.SELU, 0, 1.7580993408473766},
		{"selu", nodes.SELU, negZero, 1.7580993408473766},
		{"hard_sigmoid", nodes.HardSigmoid, -3, 0},
		{"hard_sigmoid", nodes.HardSigmoid, 3, 0},
		{"hard_sigmoid", nodes.HardSigmoid, 0, 1.0 / 6},
		{"rrelu/eval", func(x *graph.Node) *graph.Node {
			return nodes.RReLU(x, nodes.RReLULower, nodes.RReLUUpper, false, 1, nil)
		}, 0, 11.0 / 48}, // (1/8 + 1/3)/2 = 11/48
		{"prelu/0.25", func(x *graph.Node) *graph.Node { return nodes.PReLU(x, x.Graph().Scalar(0.25)) }, negZero, 0.25},
		{"slopes/0.15", func(x *graph.Node) *graph.Node {
			return nodes.LeakyReLUWithSlopes(x, x.Graph().Constant(graph.Shape{1}, 0.15))
		}, 0, 0.15},
	}
	for _, tc := range cases {
		for _, dt := range actDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				_, dx := actRun(t, dt, tc.f, []float64{tc.x})
				want := tc.want * actUpstream
				if dt == graph.Float32 {
					// the kernel multiplies by the slope rounded to float32
					want = float64(float32(tc.want)) * actUpstream
				}
				assert.Equal(t, want, dx[0], "%s'(%v)·%v = %v, want %v", tc.name, tc.x, actUpstream, dx[0], want)
			})
		}
	}
}

// TestSELUConstants checks that SELUScaleAlpha is the float64 product of
// the two constants (not the exact λα, one ulp away) and the digits of
// SEMANTICS §1.6.
func TestSELUConstants(t *testing.T) {
	lambda, alpha := nodes.SELUScale, nodes.SELUAlpha // variables: a float64 product, not a constant one
	assert.Equal(t, lambda*alpha, float64(nodes.SELUScaleAlpha), "SELUScale·SELUAlpha")
	assert.Equal(t, 1.0507009873554805, float64(nodes.SELUScale))
	assert.Equal(t, 1.6732632423543772, float64(nodes.SELUAlpha))
	assert.Equal(t, 1.7580993408473766, float64(nodes.SELUScaleAlpha))
	assert.Equal(t, 0.22916666666666666, (nodes.RReLULower+nodes.RReLUUpper)/2, "RReLU's inference slope")
}

// actRand draws n values uniform in [lo, hi) at least 0.1 away from every
// kink: finite differences with step 1e-6 then never straddle one.
func actRand(rng *rand.Rand, n int, lo, hi float64, kinks ...float64) []float64 {
	out := make([]float64, 0, n)
	for len(out) < n {
		v := lo + (hi-lo)*rng.Float64()
		ok := true
		for _, k := range kinks {
			if math.Abs(v-k) < 0.1 {
				ok = false
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

// actGradCase is an activation checked by finite differences, with the
// kinks its random inputs avoid.
type actGradCase struct {
	name  string
	f     func(*graph.Node) *graph.Node
	kinks []float64
}

var actGradCases = []actGradCase{
	{"relu", nodes.ReLU, []float64{0}},
	{"relu6", nodes.ReLU6, []float64{0, 6}},
	{"leaky_relu", func(x *graph.Node) *graph.Node { return nodes.LeakyReLU(x, 0.3) }, []float64{0}},
	{"hard_sigmoid", nodes.HardSigmoid, []float64{-3, 3}},
	{"elu", func(x *graph.Node) *graph.Node { return nodes.ELU(x, 0.7) }, []float64{0}},
	{"selu", nodes.SELU, []float64{0}},
	{"gelu", nodes.GELU, nil},
	{"gelu_tanh", nodes.GELUTanh, nil},
	{"silu", nodes.SiLU, nil},
	{"softplus", nodes.Softplus, nil},
	{"exponential", nodes.Exponential, nil},
	{"rrelu_eval", func(x *graph.Node) *graph.Node { return nodes.RReLU(x, 0.1, 0.3, false, 0, nil) }, []float64{0}},
}

var actGradShapes = [][]int{{7}, {3, 4}, {2, 3, 4}}

// actInputs adds an input per value to g.
func actInputs(g *graph.Graph, vals ...testutil.Value) []*graph.Node {
	in := make([]*graph.Node, len(vals))
	for i, v := range vals {
		in[i] = g.Input(v.Name, v.Shape)
	}
	return in
}

// actFeeds makes feeds of dtype dt from values.
func actFeeds(dt graph.DType, vals ...testutil.Value) vm.Feeds {
	feeds := vm.Feeds{}
	for _, v := range vals {
		feeds[v.Name] = testutil.Tensor(dt, v.Shape, v.Data)
	}
	return feeds
}

// actCheck runs autodiff.Check (float64, its default step 1e-6 and
// tolerance 1e-6, which central differences meet on these smooth pieces by
// orders of magnitude) of loss with respect to wrt.
func actCheck(t *testing.T, g *graph.Graph, loss *graph.Node, wrt []*graph.Node, vals []testutil.Value) {
	t.Helper()
	require.NoError(t, g.Err())
	rep, err := autodiff.Check(g, loss, wrt, actFeeds(graph.Float64, vals...), nil, autodiff.CheckOptions{})
	require.NoError(t, err, "worst %v", rep.Worst)
	require.Positive(t, rep.Checked)
}

// TestActivationGradCheck compares the gradient of Σ w⊙f(x) with central
// differences for every activation, on random x away from the kinks and
// random weights w, in three shapes.
func TestActivationGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tc := range actGradCases {
		for _, shape := range actGradShapes {
			t.Run(tc.name+"/"+graph.Shape(shape).String(), func(t *testing.T) {
				n := graph.Shape(shape).Size()
				vals := []testutil.Value{
					{Name: "x", Shape: shape, Data: actRand(rng, n, -4, 4, tc.kinks...)},
					{Name: "w", Shape: shape, Data: actRand(rng, n, -1, 1)},
				}
				g := graph.New(graph.Float64)
				in := actInputs(g, vals...)
				loss := nodes.Sum(nodes.Mul(tc.f(in[0]), in[1]), false)
				actCheck(t, g, loss, in[:1], vals)
			})
		}
	}
}

// TestActivationSecondOrder checks the gradient of the gradient: for
// x̄ = ∂(Σ w⊙f(x))/∂x = w⊙f'(x), the gradient of Σ v⊙x̄ with respect to x
// (v⊙w⊙f″(x), zero for the piecewise-linear kinds) and to w (v⊙f'(x)),
// by finite differences of the first gradient.
func TestActivationSecondOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	for _, tc := range actGradCases {
		t.Run(tc.name, func(t *testing.T) {
			shape := []int{3, 4}
			vals := []testutil.Value{
				{Name: "x", Shape: shape, Data: actRand(rng, 12, -4, 4, tc.kinks...)},
				{Name: "w", Shape: shape, Data: actRand(rng, 12, -1, 1)},
				{Name: "v", Shape: shape, Data: actRand(rng, 12, -1, 1)},
			}
			g := graph.New(graph.Float64)
			in := actInputs(g, vals...)
			gx, err := autodiff.GradWith(tc.f(in[0]), []*graph.Node{in[0]}, autodiff.Options{Seed: in[1]})
			require.NoError(t, err)
			loss := nodes.Sum(nodes.Mul(gx[0], in[2]), false)
			actCheck(t, g, loss, in[:2], vals)
		})
	}
}

// TestPReLUByHand checks PReLU's value and both gradients on a case worked
// out by hand, with a zero input (the kink: x̄ = α·ḡ there, ᾱ gets 0·ḡ).
func TestPReLUByHand(t *testing.T) {
	for _, dt := range actDTypes {
		t.Run(dt.String(), func(t *testing.T) {
			ins := []testutil.Value{
				{Name: "x", Shape: []int{2, 2}, Data: []float64{1, -2, -3, 0}},
				{Name: "alpha", Shape: []int{2}, Data: []float64{0.5, 0.25}},
			}
			up := []float64{1, 2, 3, 4}
			y, gs, err := testutil.RunVJP(dt, ins, up, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
				return nodes.PReLU(in[0], in[1])
			})
			require.NoError(t, err)
			// y = [1, 0.25·−2, 0.5·−3, 0.25·0]
			assert.Equal(t, []float64{1, -0.5, -1.5, 0}, y.Data, "PReLU(x, α)")
			// x̄ = [ḡ, α₁ḡ, α₀ḡ, α₁ḡ (x = 0: the negative side)]
			assert.Equal(t, []float64{1, 0.5, 1.5, 1}, gs[0].Data, "PReLU x̄")
			// ᾱ₀ = −3·3 (x=1 is positive), ᾱ₁ = −2·2 + 0·4
			assert.Equal(t, []float64{-9, -4}, gs[1].Data, "PReLU ᾱ")
		})
	}
}

// TestPReLUGradCheck checks both gradients of PReLU by finite differences
// for every broadcast variant of SEMANTICS §1.4, with the batch dimension
// open where Keras leaves it open, and the second-order gradients.
func TestPReLUGradCheck(t *testing.T) {
	variants := []struct {
		name       string
		xDecl, x   []int // declared (maybe open) and fed shapes of x
		alphaShape []int
	}{
		{"scalar", []int{4, 5}, []int{4, 5}, []int{}},
		{"per_feature", []int{graph.Batch, 5}, []int{4, 5}, []int{5}},
		{"channels_shared_hw", []int{graph.Batch, 3, 2, 3}, []int{2, 3, 2, 3}, []int{1, 1, 3}},
		{"keras_default_full", []int{graph.Batch, 3, 4}, []int{2, 3, 4}, []int{3, 4}},
		{"same_shape", []int{3, 4}, []int{3, 4}, []int{3, 4}},
	}
	rng := rand.New(rand.NewPCG(19, 23))
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			n, na := graph.Shape(v.x).Size(), graph.Shape(v.alphaShape).Size()
			vals := []testutil.Value{
				{Name: "x", Shape: v.x, Data: actRand(rng, n, -3, 3, 0)},
				{Name: "alpha", Shape: v.alphaShape, Data: actRand(rng, na, -0.5, 0.5)},
				{Name: "w", Shape: v.x, Data: actRand(rng, n, -1, 1)},
				{Name: "v", Shape: v.x, Data: actRand(rng, n, -1, 1)},
				{Name: "u", Shape: v.alphaShape, Data: actRand(rng, na, -1, 1)},
			}
			g := graph.New(graph.Float64)
			x := g.Input("x", v.xDecl)
			alpha := g.Input("alpha", v.alphaShape)
			w := g.Input("w", v.xDecl)
			y := nodes.PReLU(x, alpha)
			require.Equal(t, graph.Shape(v.xDecl), y.Shape())
			// first order: Σ w⊙PReLU(x, α) with respect to x and α
			actCheck(t, g, nodes.Sum(nodes.Mul(y, w), false), []*graph.Node{x, alpha}, vals[:3])

			// second order: Σ v⊙x̄ + Σ u⊙ᾱ with respect to x, α and w
			g2 := graph.New(graph.Float64)
			x2, a2 := g2.Input("x", v.xDecl), g2.Input("alpha", v.alphaShape)
			w2, v2, u2 := g2.Input("w", v.xDecl), g2.Input("v", v.xDecl), g2.Input("u", v.alphaShape)
			gs, err := autodiff.GradWith(nodes.PReLU(x2, a2), []*graph.Node{x2, a2}, autodiff.Options{Seed: w2})
			require.NoError(t, err)
			loss := nodes.Add(nodes.Sum(nodes.Mul(gs[0], v2), false), nodes.Sum(nodes.Mul(gs[1], u2), false))
			actCheck(t, g2, loss, []*graph.Node{x2, a2, w2}, vals)
		})
	}
}

// TestLeakyReLUWithSlopes checks the given-slopes form by finite
// differences (slopes fixed) and that the slopes get no gradient.
func TestLeakyReLUWithSlopes(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 31))
	vals := []testutil.Value{
		{Name: "x", Shape: []int{4, 5}, Data: actRand(rng, 20, -3, 3, 0)},
		{Name: "slopes", Shape: []int{4, 5}, Data: actRand(rng, 20, 0.125, 1.0/3)},
		{Name: "w", Shape: []int{4, 5}, Data: actRand(rng, 20, -1, 1)},
	}
	g := graph.New(graph.Float64)
	in := actInputs(g, vals...)
	y := nodes.LeakyReLUWithSlopes(in[0], in[1])
	loss := nodes.Sum(nodes.Mul(y, in[2]), false)
	actCheck(t, g, loss, in[:1], vals)

	_, err := autodiff.Grad(loss, in[1])
	require.Error(t, err, "the slopes are constants: no gradient")
	assert.Contains(t, err.Error(), "leaky_relu_slopes")
}

// rreluStep is one training step of RReLU: the slopes drawn, the output
// and the gradient for x.
type rreluStep struct{ slopes, y, gx []float64 }

// rreluStore returns a store holding the step counter "step" of dtype dt at
// the given value (as a checkpoint would restore it).
func rreluStore(t *testing.T, dt graph.DType, step float64) *vm.Store {
	t.Helper()
	s := vm.NewStore()
	require.NoError(t, s.SetFloat64s("step", graph.Shape{}, dt, []float64{step}))
	return s
}

// rreluMachine compiles a training-mode RReLU in [lower, upper) with the
// given seed on a [Batch, cols] input, its slopes drawn from the scalar
// variable "step", which the program advances (Assign of NextCount) after
// each step as a model's training program does, and returns a function
// that runs one step on store with input x.
func rreluMachine(t *testing.T, dt graph.DType, lower, upper float64, seed uint64, cols int, x []float64, store *vm.Store) func() rreluStep {
	t.Helper()
	g := graph.New(dt)
	xn := g.Input("x", graph.Shape{graph.Batch, cols})
	step := g.Variable("step", graph.Shape{}, graph.NonTrainable())
	y := nodes.RReLU(xn, lower, upper, true, seed, step)
	require.Equal(t, "leaky_relu_slopes", y.Op().Name())
	slopes := y.Input(1)
	require.Equal(t, "rrelu_slopes", slopes.Op().Name())
	gx, err := autodiff.GradWith(y, []*graph.Node{xn}, autodiff.Options{Seed: nodes.BroadcastLike(g.Scalar(actUpstream), y)})
	require.NoError(t, err)
	next := nodes.Assign(step, nodes.NextCount(step))
	p, err := compile.Compile(g, []*graph.Node{slopes, y, gx[0], next}, compile.Options{})
	require.NoError(t, err)
	m := vm.NewMachine(p, store)
	feeds := actFeeds(dt, testutil.Value{Name: "x", Shape: []int{len(x) / cols, cols}, Data: x})
	return func() rreluStep {
		out, err := m.Run(feeds)
		require.NoError(t, err)
		return rreluStep{testutil.Float64s(out[0]), testutil.Float64s(out[1]), testutil.Float64s(out[2])}
	}
}

// TestRReLUTraining checks training-mode RReLU: slopes in [lower, upper)
// with the moments of the uniform distribution, used by the backward pass
// of the same step, fresh on every step, and a function of the seed and the
// step counter in the store only: another program, another machine, one
// thread or several, a run resumed from a restored counter, all draw the
// same slopes for the same counter value, and float32 draws the float64
// slopes rounded.
func TestRReLUTraining(t *testing.T) {
	const lower, upper = 0.1, 0.3
	const rows, cols = 40, 250 // 10000 elements: three blocks of draws
	n := rows * cols
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i%7) - 4 // −4 … 2: negatives, zeros and positives
	}
	first := map[graph.DType][]float64{} // the slopes of step 1, per dtype
	for _, dt := range actDTypes {
		t.Run(dt.String(), func(t *testing.T) {
			lo, hi := lower, upper
			if dt == graph.Float32 {
				lo, hi = float64(float32(lower)), float64(float32(upper))
			}
			storeA := rreluStore(t, dt, 0)
			runA := rreluMachine(t, dt, lower, upper, 42, cols, x, storeA)
			a1, a2 := runA(), runA()
			first[dt] = a1.slopes
			for _, r := range []rreluStep{a1, a2} {
				sum, sq := 0.0, 0.0
				for i, s := range r.slopes {
					require.True(t, s >= lo && s <= hi, "slope[%d] = %v outside [%v, %v]", i, s, lo, hi)
					sum += s
					sq += s * s
					if x[i] > 0 {
						require.Equal(t, x[i], r.y[i], "RReLU(%v)", x[i])
						require.Equal(t, float64(actUpstream), r.gx[i], "RReLU'(%v)", x[i])
					} else {
						// the slope drawn in this step, for the value and the gradient (x = 0 included)
						want := float64(float32(s * x[i]))
						if dt == graph.Float64 {
							want = s * x[i]
						}
						require.Equal(t, want, r.y[i], "RReLU(%v) with slope %v", x[i], s)
						require.Equal(t, s*actUpstream, r.gx[i], "RReLU'(%v) with slope %v", x[i], s)
					}
				}
				// U(0.1, 0.3): mean 0.2, variance 0.2²/12; the sample mean of
				// 10000 draws has σ = 0.2/√12/100 ≈ 5.8e-4: allow 5σ
				mean := sum / float64(n)
				assert.InDelta(t, 0.2, mean, 5*0.2/math.Sqrt(12)/100, "mean slope")
				assert.InDelta(t, 0.04/12, sq/float64(n)-mean*mean, 0.04/12*0.1, "slope variance")
			}
			differ := 0
			for i := range a1.slopes {
				if a1.slopes[i] != a2.slopes[i] {
					differ++
				}
			}
			assert.Greater(t, differ, n*99/100, "two steps draw fresh slopes")
			step, err := storeA.Float64s("step")
			require.NoError(t, err)
			assert.Equal(t, []float64{2}, step, "the counter after two steps")

			// the same seed and counter give the same slopes in another
			// program on another machine and store
			runB := rreluMachine(t, dt, lower, upper, 42, cols, x, rreluStore(t, dt, 0))
			assert.Equal(t, a1.slopes, runB().slopes, "step 1 of a second program")
			assert.Equal(t, a2.slopes, runB().slopes, "step 2 of a second program")

			// resuming from a checkpoint taken after step 1 (the counter
			// restored to 1) in a new program on one thread draws step 2
			func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				runC := rreluMachine(t, dt, lower, upper, 42, cols, x, rreluStore(t, dt, 1))
				assert.Equal(t, a2.slopes, runC().slopes, "step 2 resumed in a new program on one thread")
			}()

			// the machine keeps no state: the counter set back gives the
			// slopes of that step again
			require.NoError(t, storeA.SetFloat64s("step", graph.Shape{}, dt, []float64{0}))
			assert.Equal(t, a1.slopes, runA().slopes, "step 1 again after resetting the counter")

			d1 := rreluMachine(t, dt, lower, upper, 43, cols, x, rreluStore(t, dt, 0))()
			same := 0
			for i := range d1.slopes {
				if d1.slopes[i] == a1.slopes[i] {
					same++
				}
			}
			assert.Less(t, same, n/100, "another seed draws other slopes")
		})
	}
	// both dtypes draw the same numbers, rounded once to their own
	if s64, s32 := first[graph.Float64], first[graph.Float32]; len(s64) == n && len(s32) == n {
		for i := range s64 {
			if float64(float32(s64[i])) != s32[i] {
				t.Fatalf("slope[%d]: float32 %v, float64 %v rounded %v", i, s32[i], s64[i], float32(s64[i]))
			}
		}
	}
}

// TestRReLUInference checks that inference-mode RReLU is the leaky ReLU
// with slope (lower+upper)/2, the same on every run.
func TestRReLUInference(t *testing.T) {
	x := []float64{-4, -1, math.Copysign(0, -1), 0, 0.5, 2}
	for _, dt := range actDTypes {
		t.Run(dt.String(), func(t *testing.T) {
			build := func(x *graph.Node) *graph.Node {
				y := nodes.RReLU(x, nodes.RReLULower, nodes.RReLUUpper, false, 5, nil)
				require.Equal(t, "leaky_relu[alpha=0.22916666666666666]", graph.OpString(y.Op()))
				return y
			}
			y1, d1 := actRun(t, dt, build, x)
			y2, d2 := actRun(t, dt, build, x)
			assert.Equal(t, y1, y2, "two runs")
			assert.Equal(t, d1, d2, "two runs")
			a := 11.0 / 48 // (1/8 + 1/3)/2
			if dt == graph.Float32 {
				a = float64(float32(a))
			}
			want := []float64{-4 * a, -a, 0, 0, 0.5, 2}
			wantD := []float64{a, a, a, a, 1, 1}
			for i := range x {
				assert.True(t, actClose(dt, y1[i], want[i]), "RReLU(%v) = %v, want %v", x[i], y1[i], want[i])
				assert.True(t, actClose(dt, d1[i]/actUpstream, wantD[i]), "RReLU'(%v) = %v, want %v", x[i], d1[i]/actUpstream, wantD[i])
			}
		})
	}
}

// TestActivationLookup checks every Keras name: the op it builds, the
// Keras defaults it applies, and the error for an unknown name.
func TestActivationLookup(t *testing.T) {
	want := map[string]string{ // name → the op printed in dumps
		"linear":       "input",
		"relu":         "relu",
		"relu6":        "relu6",
		"leaky_relu":   "leaky_relu[alpha=0.2]",
		"elu":          "elu[alpha=1]",
		"selu":         "selu",
		"gelu":         "gelu",
		"silu":         "silu",
		"swish":        "silu",
		"softplus":     "softplus",
		"sigmoid":      "sigmoid",
		"tanh":         "tanh",
		"softmax":      "softmax",
		"log_softmax":  "log_softmax",
		"hard_sigmoid": "hard_sigmoid",
		"exponential":  "exp",
	}
	names := nodes.ActivationNames()
	assert.Equal(t, []string{"elu", "exponential", "gelu", "hard_sigmoid", "leaky_relu", "linear", "log_softmax",
		"relu", "relu6", "selu", "sigmoid", "silu", "softmax", "softplus", "swish", "tanh"}, names)
	for _, name := range append(names, "") {
		t.Run("name="+name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			x := g.Input("x", graph.Shape{graph.Batch, 3})
			y := nodes.Activation(name, x)
			require.NoError(t, g.Err())
			op := want[name]
			if name == "" {
				op = "input"
			}
			assert.Equal(t, op, graph.OpString(y.Op()))
			assert.Equal(t, x.Shape(), y.Shape())
			f, err := nodes.LookupActivation(name)
			require.NoError(t, err)
			assert.Equal(t, op, graph.OpString(f(x).Op()))
		})
	}

	// "leaky_relu" by name uses Keras 3's function default 0.2, computed
	y, _ := actRun(t, graph.Float64, func(x *graph.Node) *graph.Node { return nodes.Activation("leaky_relu", x) }, []float64{-1, 2})
	assert.Equal(t, []float64{-0.2, 2}, y)

	const valid = "(valid: elu, exponential, gelu, hard_sigmoid, leaky_relu, linear, log_softmax, relu, relu6, selu, sigmoid, silu, softmax, softplus, swish, tanh)"
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{2})
	y2 := nodes.Activation("rleu", x)
	assert.True(t, y2.IsPoisoned())
	err := g.Err()
	require.Error(t, err)
	assert.ErrorIs(t, err, graph.ErrArg)
	assert.Contains(t, err.Error(), `graph: activation "activation": unknown activation "rleu" `+valid)
	_, err = nodes.LookupActivation("ReLU")
	require.ErrorIs(t, err, graph.ErrArg)
	assert.Equal(t, `nodes: invalid argument: unknown activation "ReLU" `+valid, err.Error())
	assert.Nil(t, nodes.Activation("relu", nil), "no graph to record on")
}

// TestActivationErrors checks that bad hyper-parameters and shapes are
// recorded on the graph with a clear message, and nothing panics.
func TestActivationErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name  string
		build func(x, a *graph.Node) *graph.Node
		kind  error
		msg   string
	}{
		{"leaky negative", func(x, _ *graph.Node) *graph.Node { return nodes.LeakyReLU(x, -0.1) }, graph.ErrArg, "leaky_relu: alpha -0.1: want a finite value ≥ 0"},
		{"leaky NaN", func(x, _ *graph.Node) *graph.Node { return nodes.LeakyReLU(x, nan) }, graph.ErrArg, "alpha NaN"},
		{"leaky Inf", func(x, _ *graph.Node) *graph.Node { return nodes.LeakyReLU(x, inf) }, graph.ErrArg, "alpha +Inf"},
		{"elu negative", func(x, _ *graph.Node) *graph.Node { return nodes.ELU(x, -1) }, graph.ErrArg, "elu: alpha -1: want a finite value ≥ 0"},
		{"rrelu lower above upper", func(x, _ *graph.Node) *graph.Node { return nodes.RReLU(x, 0.5, 0.2, true, 1, x.Graph().Scalar(0)) }, graph.ErrArg, "rrelu: lower bound 0.5 above upper bound 0.2"},
		{"rrelu eval lower above upper", func(x, _ *graph.Node) *graph.Node { return nodes.RReLU(x, 0.5, 0.2, false, 1, nil) }, graph.ErrArg, `graph: rrelu "rrelu": rrelu: lower bound 0.5 above upper bound 0.2`},
		{"rrelu negative", func(x, _ *graph.Node) *graph.Node { return nodes.RReLU(x, -0.1, 0.2, true, 1, x.Graph().Scalar(0)) }, graph.ErrArg, "want 0 ≤ lower ≤ upper ≤ 1"},
		{"rrelu above 1", func(x, _ *graph.Node) *graph.Node { return nodes.RReLU(x, 0.1, 1.5, false, 1, nil) }, graph.ErrArg, "want 0 ≤ lower ≤ upper ≤ 1"},
		{"rrelu NaN", func(x, _ *graph.Node) *graph.Node { return nodes.RReLUSlopes(x, nan, 0.2, 1, x.Graph().Scalar(0)) }, graph.ErrArg, "NaN"},
		{"rrelu nil counter", func(x, _ *graph.Node) *graph.Node { return nodes.RReLU(x, 0.1, 0.2, true, 1, nil) }, graph.ErrNil, "rrelu_slopes: nil counter"},
		{"rrelu counter not scalar", func(x, a *graph.Node) *graph.Node { return nodes.RReLUSlopes(x, 0.1, 0.2, 1, a) }, graph.ErrShape, "rrelu_slopes: the counter must be a scalar, got shape [4]"},
		{"prelu alpha too long", func(x, a *graph.Node) *graph.Node { return nodes.PReLU(x, a) }, graph.ErrShape, "alpha of shape [4] does not broadcast to the input's shape [B,5]"},
		{"prelu alpha enlarges x", func(x, _ *graph.Node) *graph.Node {
			return nodes.PReLU(x, x.Graph().Constant(graph.Shape{2, 1, 5}, 0.1))
		}, graph.ErrShape, "alpha of shape [2,1,5] does not broadcast"},
		{"slopes mismatch", func(x, a *graph.Node) *graph.Node { return nodes.LeakyReLUWithSlopes(x, a) }, graph.ErrShape, "slopes of shape [4] does not broadcast"},
		{"prelu nil alpha", func(x, _ *graph.Node) *graph.Node { return nodes.PReLU(x, nil) }, graph.ErrNil, "input 1 is nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{graph.Batch, 5})
			a := g.Input("a", graph.Shape{4})
			var y *graph.Node
			require.NotPanics(t, func() { y = tc.build(x, a) })
			assert.True(t, y.IsPoisoned())
			err := g.Err()
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.kind), "error %v is not %v", err, tc.kind)
			assert.Contains(t, err.Error(), tc.msg)
			// sticky: later builders do nothing
			assert.True(t, nodes.ReLU(x).IsPoisoned())
			assert.Equal(t, err, g.Err())
		})
	}
}

// TestActivationShapes checks the shape rules with the open batch dimension
// and that a compiled program runs at two batch sizes.
func TestActivationShapes(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 2, 3})
	for _, name := range nodes.ActivationNames() {
		y := nodes.Activation(name, x)
		assert.Equal(t, graph.Shape{graph.Batch, 2, 3}, y.Shape(), name)
	}
	assert.Equal(t, graph.Shape{graph.Batch, 2, 3}, nodes.PReLU(x, g.Input("a", graph.Shape{2, 1})).Shape())
	assert.Equal(t, graph.Shape{graph.Batch, 2, 3}, nodes.RReLU(x, 0.1, 0.2, true, 0, g.Scalar(0)).Shape())
	require.NoError(t, g.Err())
	assert.Same(t, x, nodes.Linear(x))
	assert.Nil(t, nodes.ReLU(nil))

	for _, batch := range []int{1, 3} {
		data := make([]float64, batch*6)
		for i := range data {
			data[i] = float64(i) - 5 // −5 … 12
		}
		out, err := testutil.Run(graph.Float64, []testutil.Value{{Name: "x", Shape: []int{batch, 6}, Data: data}},
			func(_ *graph.Graph, in []*graph.Node) []*graph.Node { return []*graph.Node{nodes.ReLU6(in[0])} })
		require.NoError(t, err)
		for i, v := range data {
			assert.Equal(t, math.Min(math.Max(v, 0), 6), out[0].Data[i], "ReLU6(%v)", v)
		}
	}
}

// TestActivationAttrs checks the names and attributes printed in dumps.
func TestActivationAttrs(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{3})
	assert.Equal(t, "elu[alpha=0.5]", graph.OpString(nodes.ELU(x, 0.5).Op()))
	assert.Equal(t, "leaky_relu[alpha=0.01]", graph.OpString(nodes.LeakyReLU(x, nodes.TorchLeakyReLUAlpha).Op()))
	assert.Equal(t, "leaky_relu[alpha=0.3]", graph.OpString(nodes.LeakyReLU(x, nodes.KerasLeakyReLUAlpha).Op()))
	assert.Equal(t, "rrelu_slopes[lower=0.125 upper=0.3333333333333333 seed=9]",
		graph.OpString(nodes.RReLUSlopes(x, nodes.RReLULower, nodes.RReLUUpper, 9, g.Scalar(0)).Op()))
	gs, err := autodiff.GradWith(nodes.ELU(x, 0.5), []*graph.Node{x}, autodiff.Options{Seed: x})
	require.NoError(t, err)
	assert.Equal(t, "elu_grad[alpha=0.5 of_y]", graph.OpString(gs[0].Op()), "the gradient is one op")
	require.NoError(t, g.Err())
}

// TestActivationNaN checks that a NaN input gives a NaN output (ReLU does
// not hide it as 0), so that a NaN guard downstream sees it.
func TestActivationNaN(t *testing.T) {
	nan := math.NaN()
	for _, tc := range actCases() {
		t.Run(tc.name, func(t *testing.T) {
			y, _ := actRun(t, graph.Float64, tc.f, []float64{nan})
			assert.True(t, math.IsNaN(y[0]), "%s(NaN) = %v, want NaN", tc.name, y[0])
		})
	}
}
