package train_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// optRig is one parameter "dense/kernel" updated by an optimizer from a
// gradient fed as the input "grad", so that a test chooses the gradient
// of every step.
type optRig struct {
	t     *testing.T
	g     *graph.Graph
	store *vm.Store
	m     *vm.Machine
	n     int
	prog  *vm.Program
}

func newOptRig(t *testing.T, opt train.Optimizer, w0 []float64) *optRig {
	t.Helper()
	return newOptRigOf(t, graph.Float64, opt, w0)
}

func newOptRigOf(t *testing.T, dt graph.DType, opt train.Optimizer, w0 []float64) *optRig {
	t.Helper()
	g := graph.New(dt)
	n := len(w0)
	var w *graph.Node
	g.WithScope("dense", func() { w = g.Variable("kernel", graph.Shape{n}) })
	grad := g.Input("grad", graph.Shape{n})
	s, inc := train.NewStep(g, opt.InitialRate())
	ups, err := opt.Apply(s, []*graph.Node{w}, []*graph.Node{grad})
	require.NoError(t, err)
	prog, err := compile.Compile(g, append(ups, inc...), compile.Options{})
	require.NoError(t, err)
	store := vm.NewStore()
	require.NoError(t, store.Init(g, 1, initializers.Zeros{}))
	require.NoError(t, store.SetFloat64s("dense/kernel", graph.Shape{n}, dt, w0))
	return &optRig{t: t, g: g, store: store, m: vm.NewMachine(prog, store), n: n, prog: prog}
}

// step runs one update with gradient grad.
func (r *optRig) step(grad []float64) {
	r.t.Helper()
	_, err := r.m.Run(vm.Feeds{"grad": testutil.Tensor(r.g.DType(), []int{r.n}, grad)})
	require.NoError(r.t, err)
}

func (r *optRig) get(name string) []float64 {
	r.t.Helper()
	v, err := r.store.Float64s(name)
	require.NoError(r.t, err, "store variable %q", name)
	return v
}

func (r *optRig) setRate(lr float64) {
	r.t.Helper()
	require.NoError(r.t, r.store.SetFloat64s(train.LearningRateVar, graph.Shape{}, r.g.DType(), []float64{lr}))
}

// optClose compares slices element-wise with an absolute tolerance.
func optClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		if !(math.Abs(got[i]-want[i]) <= tol) {
			t.Errorf("%s[%d] = %.17g, want %.17g (tol %g)", what, i, got[i], want[i], tol)
		}
	}
}

// optTol: the graph and the references below evaluate the same formulas,
// sometimes in another order; on values of order 1 over three steps the
// round-off stays below 1e-15, so 1e-12 leaves a wide margin and still
// catches any wrong coefficient.
const optTol = 1e-12

// The gradients of the three steps of every hand-computed test: signs
// change and magnitudes differ so that momentum, moments and clipping all
// matter.
var optGrads = [][]float64{{0.5, -2}, {0.25, 1}, {-1, 0.5}}

func TestNewStep(t *testing.T) {
	g := graph.New(graph.Float64)
	g.WithScope("somewhere", func() {
		s, inc := train.NewStep(g, 0.25)
		require.NotNil(t, s)
		require.Len(t, inc, 1)
		assert.Equal(t, train.LearningRateVar, s.LearningRate.Name())
		require.NoError(t, g.Err())
		prog, err := compile.Compile(g, append([]*graph.Node{s.T, s.LearningRate}, inc...), compile.Options{})
		require.NoError(t, err)
		store := vm.NewStore()
		require.NoError(t, store.Init(g, 1, nil))
		m := vm.NewMachine(prog, store)
		for want := 1.0; want <= 3; want++ {
			out, err := m.Run(nil)
			require.NoError(t, err)
			assert.Equal(t, []float64{want}, testutil.Float64s(out[0]), "T of run %v", want)
			assert.Equal(t, []float64{0.25}, testutil.Float64s(out[1]), "learning rate")
			it, err := store.Float64s(train.IterationsVar)
			require.NoError(t, err)
			assert.Equal(t, []float64{want}, it, "iterations after run %v", want)
		}
		for _, n := range []string{train.LearningRateVar, train.IterationsVar} {
			op := g.Node(n).Op().(graph.VariableOp)
			assert.False(t, op.Trainable, "%s is trainable", n)
			assert.Equal(t, graph.Shape{}, op.Shape, "%s", n)
		}
	})
}

func TestNewStepInvalidRate(t *testing.T) {
	for _, lr := range []float64{-0.1, math.NaN(), math.Inf(1)} {
		g := graph.New(graph.Float64)
		train.NewStep(g, lr)
		err := g.Err()
		if assert.Error(t, err, "NewStep(%v)", lr) {
			assert.ErrorIs(t, err, graph.ErrArg)
			assert.Contains(t, err.Error(), "learning rate")
		}
	}
	s, inc := train.NewStep(nil, 0.1)
	assert.Nil(t, s)
	assert.Nil(t, inc)
}

// TestSGDMomentumByHand checks two steps worked out on paper:
// w₀ = 1, η = 0.1, μ = 0.9, g = 0.5 then 0.25:
// b₁ = 0.5, w₁ = 1 − 0.05 = 0.95; b₂ = 0.45 + 0.25 = 0.7, w₂ = 0.95 − 0.07 = 0.88.
// Nesterov: w₁ = 1 − 0.1·(0.5 + 0.45) = 0.905; w₂ = 0.905 − 0.1·(0.25 + 0.63) = 0.817.
func TestSGDMomentumByHand(t *testing.T) {
	for _, tc := range []struct {
		nesterov bool
		want     []float64
	}{{false, []float64{0.95, 0.88}}, {true, []float64{0.905, 0.817}}} {
		t.Run(fmt.Sprintf("nesterov=%v", tc.nesterov), func(t *testing.T) {
			r := newOptRig(t, train.SGD{LearningRate: 0.1, Momentum: 0.9, Nesterov: tc.nesterov}, []float64{1})
			for i, g := range []float64{0.5, 0.25} {
				r.step([]float64{g})
				optClose(t, fmt.Sprintf("w after step %d", i+1), r.get("dense/kernel"), []float64{tc.want[i]}, optTol)
			}
			optClose(t, "momentum slot", r.get("optimizer/dense/kernel/momentum"), []float64{0.7}, optTol)
		})
	}
}

// TestAdamFirstStepByHand: at t = 1 the bias-corrected moments are g and
// g², so w₁ = w₀ − η·g/(|g| + ε) whatever β₁ and β₂ are.
func TestAdamFirstStepByHand(t *testing.T) {
	r := newOptRig(t, train.Adam{LearningRate: 0.01}, []float64{1, -1})
	r.step([]float64{0.5, -2})
	optClose(t, "w", r.get("dense/kernel"), []float64{1 - 0.01*0.5/(0.5+1e-8), -1 + 0.01*2/(2+1e-8)}, optTol)
	optClose(t, "m", r.get("optimizer/dense/kernel/m"), []float64{0.1 * 0.5, 0.1 * -2}, optTol)
	optClose(t, "v", r.get("optimizer/dense/kernel/v"), []float64{0.001 * 0.25, 0.001 * 4}, optTol)
}

// optRef is a reference implementation of one optimizer on a parameter,
// written from the formulas of its doc comment: step applies gradient g
// at update number t with learning rate lr and returns the new parameter
// and the slots by name.
type optRef interface {
	step(t int, lr float64, w, g []float64) []float64
	slots() map[string][]float64
}

type refSGD struct {
	mu              float64
	nesterov, keras bool
	b               []float64
}

func (r *refSGD) step(_ int, lr float64, w, g []float64) []float64 {
	if r.b == nil {
		r.b = make([]float64, len(w))
	}
	out := make([]float64, len(w))
	for i := range w {
		if r.keras {
			r.b[i] = r.mu*r.b[i] - lr*g[i]
			out[i] = w[i] + r.b[i]
			if r.nesterov {
				out[i] = w[i] + r.mu*r.b[i] - lr*g[i]
			}
			continue
		}
		d := g[i]
		if r.mu > 0 {
			r.b[i] = r.mu*r.b[i] + g[i]
			d = r.b[i]
			if r.nesterov {
				d = g[i] + r.mu*r.b[i]
			}
		}
		out[i] = w[i] - lr*d
	}
	return out
}

func (r *refSGD) slots() map[string][]float64 {
	if r.mu == 0 {
		return nil
	}
	return map[string][]float64{"momentum": r.b}
}

type refAdagrad struct {
	acc0, eps, decay float64
	torch            bool
	a                []float64
}

func (r *refAdagrad) step(t int, lr float64, w, g []float64) []float64 {
	if r.a == nil {
		r.a = make([]float64, len(w))
		for i := range r.a {
			r.a[i] = r.acc0
		}
	}
	lr /= 1 + float64(t-1)*r.decay
	out := make([]float64, len(w))
	for i := range w {
		r.a[i] += g[i] * g[i]
		den := math.Sqrt(r.a[i] + r.eps)
		if r.torch {
			den = math.Sqrt(r.a[i]) + r.eps
		}
		out[i] = w[i] - lr*g[i]/den
	}
	return out
}

func (r *refAdagrad) slots() map[string][]float64 {
	return map[string][]float64{"accumulator": r.a}
}

type refRMSprop struct {
	rho, mu, eps    float64
	centered, torch bool
	v, avg, b       []float64
}

func (r *refRMSprop) step(_ int, lr float64, w, g []float64) []float64 {
	n := len(w)
	if r.v == nil {
		r.v, r.avg, r.b = make([]float64, n), make([]float64, n), make([]float64, n)
	}
	out := make([]float64, n)
	for i := range w {
		r.v[i] = r.rho*r.v[i] + (1-r.rho)*g[i]*g[i]
		d := r.v[i]
		if r.centered {
			r.avg[i] = r.rho*r.avg[i] + (1-r.rho)*g[i]
			d -= r.avg[i] * r.avg[i]
		}
		if r.torch {
			d = math.Sqrt(d) + r.eps
			if r.mu > 0 {
				r.b[i] = r.mu*r.b[i] + g[i]/d
				out[i] = w[i] - lr*r.b[i]
			} else {
				out[i] = w[i] - lr*g[i]/d
			}
			continue
		}
		s := lr * g[i] / math.Sqrt(d+r.eps)
		if r.mu > 0 {
			r.b[i] = r.mu*r.b[i] + s
			s = r.b[i]
		}
		out[i] = w[i] - s
	}
	return out
}

func (r *refRMSprop) slots() map[string][]float64 {
	s := map[string][]float64{"velocity": r.v}
	if r.centered {
		s["average_gradient"] = r.avg
	}
	if r.mu > 0 {
		s["momentum"] = r.b
	}
	return s
}

type refAdam struct {
	b1, b2, eps, wd float64
	keras           bool
	m, v            []float64
}

func (r *refAdam) step(t int, lr float64, w, g []float64) []float64 {
	n := len(w)
	if r.m == nil {
		r.m, r.v = make([]float64, n), make([]float64, n)
	}
	bc1 := 1 - math.Pow(r.b1, float64(t))
	bc2 := 1 - math.Pow(r.b2, float64(t))
	out := make([]float64, n)
	for i := range w {
		r.m[i] = r.b1*r.m[i] + (1-r.b1)*g[i]
		r.v[i] = r.b2*r.v[i] + (1-r.b2)*g[i]*g[i]
		wi := w[i] * (1 - lr*r.wd)
		if r.keras {
			alpha := lr * math.Sqrt(bc2) / bc1
			out[i] = wi - alpha*r.m[i]/(math.Sqrt(r.v[i])+r.eps)
		} else {
			mhat, vhat := r.m[i]/bc1, r.v[i]/bc2
			out[i] = wi - lr*mhat/(math.Sqrt(vhat)+r.eps)
		}
	}
	return out
}

func (r *refAdam) slots() map[string][]float64 { return map[string][]float64{"m": r.m, "v": r.v} }

type refNadam struct {
	b1, b2, eps, psi float64
	m, v             []float64
	prod             float64
}

func (r *refNadam) step(t int, lr float64, w, g []float64) []float64 {
	n := len(w)
	if r.m == nil {
		r.m, r.v, r.prod = make([]float64, n), make([]float64, n), 1
	}
	mu := func(t int) float64 { return r.b1 * (1 - 0.5*math.Pow(0.96, float64(t)*r.psi)) }
	r.prod *= mu(t)
	next := r.prod * mu(t+1)
	out := make([]float64, n)
	for i := range w {
		r.m[i] = r.b1*r.m[i] + (1-r.b1)*g[i]
		r.v[i] = r.b2*r.v[i] + (1-r.b2)*g[i]*g[i]
		mhat := mu(t+1)*r.m[i]/(1-next) + (1-mu(t))*g[i]/(1-r.prod)
		vhat := r.v[i] / (1 - math.Pow(r.b2, float64(t)))
		out[i] = w[i] - lr*mhat/(math.Sqrt(vhat)+r.eps)
	}
	return out
}

func (r *refNadam) slots() map[string][]float64 { return map[string][]float64{"m": r.m, "v": r.v} }

// optCases are the optimizers of the hand-computed tests, with the
// reference that follows the same formulas. Learning rates are large so
// that every term moves the parameter visibly.
func optCases() []struct {
	name string
	opt  train.Optimizer
	ref  optRef
} {
	return []struct {
		name string
		opt  train.Optimizer
		ref  optRef
	}{
		{"sgd", train.SGD{LearningRate: 0.1}, &refSGD{}},
		{"sgd_momentum", train.SGD{LearningRate: 0.1, Momentum: 0.9}, &refSGD{mu: 0.9}},
		{"sgd_nesterov", train.SGD{LearningRate: 0.1, Momentum: 0.8, Nesterov: true}, &refSGD{mu: 0.8, nesterov: true}},
		{"sgd_keras_momentum", train.SGD{LearningRate: 0.1, Momentum: 0.9, Keras: true}, &refSGD{mu: 0.9, keras: true}},
		{"sgd_keras_nesterov", train.SGD{LearningRate: 0.1, Momentum: 0.8, Nesterov: true, Keras: true}, &refSGD{mu: 0.8, nesterov: true, keras: true}},
		{"adagrad_keras", train.Adagrad{LearningRate: 0.1}, &refAdagrad{acc0: 0.1, eps: 1e-7}},
		{"adagrad_torch", train.Adagrad{LearningRate: 0.1, Torch: true, LRDecay: 0.5}, &refAdagrad{eps: 1e-10, torch: true, decay: 0.5}},
		{"rmsprop_keras", train.RMSprop{LearningRate: 0.1}, &refRMSprop{rho: 0.9, eps: 1e-7}},
		{"rmsprop_keras_momentum_centered", train.RMSprop{LearningRate: 0.1, Momentum: 0.5, Centered: true, Epsilon: 1e-3}, &refRMSprop{rho: 0.9, mu: 0.5, eps: 1e-3, centered: true}},
		{"rmsprop_torch", train.RMSprop{LearningRate: 0.1, Torch: true}, &refRMSprop{rho: 0.99, eps: 1e-8, torch: true}},
		{"rmsprop_torch_momentum_centered", train.RMSprop{LearningRate: 0.1, Torch: true, Momentum: 0.5, Centered: true, Rho: 0.8}, &refRMSprop{rho: 0.8, mu: 0.5, eps: 1e-8, torch: true, centered: true}},
		{"adam", train.Adam{LearningRate: 0.1}, &refAdam{b1: 0.9, b2: 0.999, eps: 1e-8}},
		// ε large enough to matter, so that the two forms differ
		{"adam_eps", train.Adam{LearningRate: 0.1, Beta1: 0.5, Beta2: 0.75, Epsilon: 0.1}, &refAdam{b1: 0.5, b2: 0.75, eps: 0.1}},
		{"adam_keras_eps", train.Adam{LearningRate: 0.1, Beta1: 0.5, Beta2: 0.75, Epsilon: 0.1, Keras: true}, &refAdam{b1: 0.5, b2: 0.75, eps: 0.1, keras: true}},
		{"adamw", train.AdamW{LearningRate: 0.1}, &refAdam{b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01}},
		{"adamw_wd", train.AdamW{LearningRate: 0.1, WeightDecay: 0.5}, &refAdam{b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.5}},
		{"nadam", train.Nadam{LearningRate: 0.1}, &refNadam{b1: 0.9, b2: 0.999, eps: 1e-7, psi: 1}},
		{"nadam_torch", train.Nadam{LearningRate: 0.1, Torch: true}, &refNadam{b1: 0.9, b2: 0.999, eps: 1e-8, psi: 0.004}},
	}
}

// TestOptimizerStepsByHand runs three updates of each optimizer on a
// 2-element parameter and compares the parameter and every slot with the
// reference after each; the learning rate is changed in the store before
// the third update, as a schedule does.
func TestOptimizerStepsByHand(t *testing.T) {
	for _, tc := range optCases() {
		t.Run(tc.name, func(t *testing.T) {
			w0 := []float64{1, -0.5}
			r := newOptRig(t, tc.opt, w0)
			want := w0
			lr := tc.opt.InitialRate()
			for i, g := range optGrads {
				if i == 2 {
					lr /= 2
					r.setRate(lr)
				}
				r.step(g)
				want = tc.ref.step(i+1, lr, want, g)
				optClose(t, fmt.Sprintf("w after step %d", i+1), r.get("dense/kernel"), want, optTol)
				for name, slot := range tc.ref.slots() {
					optClose(t, fmt.Sprintf("slot %s after step %d", name, i+1), r.get("optimizer/dense/kernel/"+name), slot, optTol)
				}
			}
		})
	}
}

// TestOptimizerFloat32 runs the hand-computed steps in a float32 graph:
// the same updates, to float32 precision. The tolerance is 2⁻¹⁷ ≈ 8e-6,
// some 60 float32 roundings of values of order 1 (the gradient's square,
// roots, divisions and the moments' sums over three steps).
func TestOptimizerFloat32(t *testing.T) {
	for _, tc := range optCases() {
		t.Run(tc.name, func(t *testing.T) {
			w0 := []float64{1, -0.5}
			r := newOptRigOf(t, graph.Float32, tc.opt, w0)
			want := w0
			for i, g := range optGrads {
				r.step(g)
				want = tc.ref.step(i+1, tc.opt.InitialRate(), want, g)
			}
			optClose(t, "w after 3 steps", r.get("dense/kernel"), want, 0x1p-17)
		})
	}
}

// TestSGDFormsDiffer: PyTorch's and Keras's momentum give the same
// parameters while the learning rate is constant and differ once it
// changes (w₀ = 0, g = 1, μ = 0.5, η = 1 then 2):
// PyTorch b = 1, 1.5; w = −1, −1 − 2·1.5 = −4.
// Keras v = −1, −0.5 − 2 = −2.5; w = −1, −3.5.
func TestSGDFormsDiffer(t *testing.T) {
	for _, tc := range []struct {
		keras bool
		want  []float64
	}{{false, []float64{-1, -4}}, {true, []float64{-1, -3.5}}} {
		r := newOptRig(t, train.SGD{LearningRate: 1, Momentum: 0.5, Keras: tc.keras}, []float64{0})
		for i, lr := range []float64{1, 2} {
			r.setRate(lr)
			r.step([]float64{1})
			optClose(t, fmt.Sprintf("keras=%v: w after step %d", tc.keras, i+1), r.get("dense/kernel"), []float64{tc.want[i]}, 0)
		}
	}
}

// TestNadamProduct checks the shared running product of momentum factors
// against Keras's schedule: after two updates Π = μ₁·μ₂ with
// μₜ = 0.9·(1 − ½·0.96ᵗ).
func TestNadamProduct(t *testing.T) {
	r := newOptRig(t, train.Nadam{}, []float64{1})
	r.step([]float64{1})
	r.step([]float64{1})
	mu := func(t float64) float64 { return 0.9 * (1 - 0.5*math.Pow(0.96, t)) }
	optClose(t, "u_product", r.get("optimizer/u_product"), []float64{mu(1) * mu(2)}, optTol)
}

func TestOptimizerDefaults(t *testing.T) {
	for _, tc := range []struct {
		opt  train.Optimizer
		name string
		lr   float64
	}{
		{train.SGD{}, "sgd", 0.01},
		{train.Adagrad{}, "adagrad", 0.001},
		{train.Adagrad{Torch: true}, "adagrad", 0.01},
		{train.RMSprop{}, "rmsprop", 0.001},
		{train.RMSprop{Torch: true}, "rmsprop", 0.01},
		{train.Adam{}, "adam", 0.001},
		{train.AdamW{}, "adamw", 0.001},
		{train.Nadam{}, "nadam", 0.001},
		{train.Nadam{Torch: true}, "nadam", 0.002},
		{train.Adam{LearningRate: 0.5}, "adam", 0.5},
	} {
		if got := tc.opt.InitialRate(); got != tc.lr {
			t.Errorf("%#v.LearningRate() = %v, want %v", tc.opt, got, tc.lr)
		}
		if got := tc.opt.Name(); got != tc.name {
			t.Errorf("%#v.Name() = %q, want %q", tc.opt, got, tc.name)
		}
	}
}

func TestOptimizerByName(t *testing.T) {
	for _, name := range train.OptimizerNames() {
		opt, err := train.OptimizerByName(strings.ToUpper(name))
		require.NoError(t, err, name)
		assert.Equal(t, name, opt.Name())
	}
	assert.Equal(t, []string{"adagrad", "adam", "adamw", "nadam", "rmsprop", "sgd"}, train.OptimizerNames())
	_, err := train.OptimizerByName("adamax")
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), "adam, adamw")
	}
}

// TestSlotNames checks the full names of the slots and that they are
// non-trainable and start at their initial values.
func TestSlotNames(t *testing.T) {
	for _, tc := range []struct {
		opt   train.Optimizer
		slots []string
	}{
		{train.SGD{}, nil},
		{train.SGD{Momentum: 0.9}, []string{"momentum"}},
		{train.Adagrad{}, []string{"accumulator"}},
		{train.RMSprop{Momentum: 0.9, Centered: true}, []string{"velocity", "average_gradient", "momentum"}},
		{train.Adam{}, []string{"m", "v"}},
		{train.AdamW{}, []string{"m", "v"}},
		{train.Nadam{}, []string{"m", "v"}},
	} {
		r := newOptRig(t, tc.opt, []float64{1, 2})
		var got []string
		for _, v := range r.g.Variables() {
			name := v.Name()
			if rest, ok := strings.CutPrefix(name, "optimizer/dense/kernel/"); ok {
				got = append(got, rest)
				assert.False(t, v.Op().(graph.VariableOp).Trainable, "%s is trainable", name)
			}
		}
		assert.ElementsMatch(t, tc.slots, got, "%s slots", tc.opt.Name())
	}
	r := newOptRig(t, train.Adagrad{}, []float64{1, 2})
	optClose(t, "initial accumulator", r.get("optimizer/dense/kernel/accumulator"), []float64{0.1, 0.1}, 0)
}

func TestOptimizerInvalid(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		opt  train.Optimizer
		want string
	}{
		{train.SGD{LearningRate: -1}, "learning rate -1"},
		{train.SGD{LearningRate: nan}, "learning rate NaN"},
		{train.SGD{Momentum: 1}, "momentum 1"},
		{train.SGD{Momentum: -0.1}, "momentum -0.1"},
		{train.Adagrad{Epsilon: -1}, "epsilon -1"},
		{train.Adagrad{InitialAccumulatorValue: -1}, "initial accumulator value -1"},
		{train.Adagrad{LRDecay: -1}, "learning-rate decay -1"},
		{train.RMSprop{Rho: 1.5}, "rho 1.5"},
		{train.RMSprop{Momentum: 1}, "momentum 1"},
		{train.RMSprop{Epsilon: -1e-7}, "epsilon -1e-07"},
		{train.Adam{Beta1: 1}, "beta1 1"},
		{train.Adam{Beta2: -0.5}, "beta2 -0.5"},
		{train.Adam{Epsilon: -1}, "epsilon -1"},
		{train.Adam{LearningRate: math.Inf(1)}, "learning rate +Inf"},
		{train.AdamW{WeightDecay: -0.1}, "weight decay -0.1"},
		{train.AdamW{Beta1: 2}, "beta1 2"},
		{train.Nadam{Beta2: 1}, "beta2 1"},
		{train.Nadam{MomentumDecay: -1}, "momentum decay -1"},
		{train.SGD{Clip: train.Clip{ClipValue: -1}}, "ClipValue -1"},
		{train.Adam{Clip: train.Clip{ClipNorm: 1, GlobalClipNorm: 1}}, "only one"},
		{train.Adam{Clip: train.Clip{ClipNorm: 1, ClipValue: 1}}, "only one"},
	} {
		g := graph.New(graph.Float64)
		w := g.Variable("w", graph.Shape{2})
		s, _ := train.NewStep(g, 0.1)
		_, err := tc.opt.Apply(s, []*graph.Node{w}, []*graph.Node{g.Input("g", graph.Shape{2})})
		if assert.Error(t, err, "%#v", tc.opt) {
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "train: "+tc.opt.Name()+": "), "error %q does not start with the optimizer", err)
		}
	}
}

func TestApplyInvalidArguments(t *testing.T) {
	g := graph.New(graph.Float64)
	w := g.Variable("w", graph.Shape{2})
	w3 := g.Variable("w3", graph.Shape{3})
	grad := g.Input("g", graph.Shape{2})
	s, _ := train.NewStep(g, 0.1)
	other := graph.New(graph.Float64)
	ow := other.Variable("w", graph.Shape{2})
	for _, tc := range []struct {
		name          string
		s             *train.Step
		params, grads []*graph.Node
		want          string
	}{
		{"nil step", nil, []*graph.Node{w}, []*graph.Node{grad}, "nil step"},
		{"no learning rate", &train.Step{Graph: g, T: s.T}, []*graph.Node{w}, []*graph.Node{grad}, "no learning rate"},
		{"counts differ", s, []*graph.Node{w, w3}, []*graph.Node{grad}, "2 parameters and 1 gradients"},
		{"no parameters", s, nil, nil, "no parameters"},
		{"nil gradient", s, []*graph.Node{w}, []*graph.Node{nil}, `no gradient for parameter "w"`},
		{"shape", s, []*graph.Node{w3}, []*graph.Node{grad}, "shape [2], the parameter [3]"},
		{"foreign", s, []*graph.Node{ow}, []*graph.Node{grad}, "another graph"},
		{"twice", s, []*graph.Node{w, w}, []*graph.Node{grad, grad}, "listed twice"},
		{"not a variable", s, []*graph.Node{grad}, []*graph.Node{grad}, "not a variable"},
	} {
		_, err := train.Adam{}.Apply(tc.s, tc.params, tc.grads)
		if assert.Error(t, err, tc.name) {
			assert.Contains(t, err.Error(), tc.want, tc.name)
		}
	}
	require.NoError(t, g.Err(), "argument errors must not poison the graph")

	// a graph that already failed returns its error
	bad := graph.New(graph.Float64)
	bw := bad.Variable("w", graph.Shape{2})
	bs, _ := train.NewStep(bad, 0.1)
	nodes.Add(bw, bad.Input("x", graph.Shape{3}))
	_, err := train.SGD{}.Apply(bs, []*graph.Node{bw}, []*graph.Node{bw})
	assert.True(t, errors.Is(err, graph.ErrShape), "Apply on a failed graph = %v, want its shape error", err)
}

// optQuadratic is f(w) = Σ aᵢ(wᵢ − cᵢ)², condition number 10.
var optQuadratic = struct{ a, c []float64 }{a: []float64{1, 10}, c: []float64{3, -2}}

// TestOptimizerConverges trains w from 0 on the convex quadratic with the
// gradient from autodiff, everything in one compiled step, and checks that
// w ends near the minimum c. Each tolerance leaves a margin of 10 or more
// over what the method reaches in its steps: SGD, momentum and Adagrad
// converge linearly here; the methods that divide by a moving RMS of the
// gradient (RMSprop, Adam, AdamW, Nadam) keep moving by about the learning
// rate around the minimum, so they run with an exponentially decayed rate
// written into the store before each step (as Fit does with a schedule).
// AdamW's decay holds w short of c by about λ·|c| (≈1e-4 here).
func TestOptimizerConverges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opt   train.Optimizer
		steps int
		decay train.Schedule // nil: constant rate
		tol   float64
	}{
		{"sgd", train.SGD{LearningRate: 0.04}, 300, nil, 1e-9},
		{"sgd_momentum", train.SGD{LearningRate: 0.01, Momentum: 0.9}, 500, nil, 1e-8},
		{"sgd_nesterov", train.SGD{LearningRate: 0.01, Momentum: 0.9, Nesterov: true}, 300, nil, 1e-8},
		{"adagrad", train.Adagrad{LearningRate: 1}, 500, nil, 1e-12},
		{"rmsprop", train.RMSprop{}, 400, train.ExponentialDecay{InitialRate: 0.1, DecaySteps: 50, DecayRate: 0.5}, 1e-6},
		{"adam", train.Adam{}, 400, train.ExponentialDecay{InitialRate: 0.3, DecaySteps: 50, DecayRate: 0.5}, 1e-5},
		{"adamw", train.AdamW{WeightDecay: 1e-4}, 400, train.ExponentialDecay{InitialRate: 0.3, DecaySteps: 50, DecayRate: 0.5}, 2e-3},
		{"nadam", train.Nadam{}, 400, train.ExponentialDecay{InitialRate: 0.3, DecaySteps: 50, DecayRate: 0.5}, 1e-5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			w := g.Variable("w", graph.Shape{2})
			loss := nodes.Sum(nodes.Mul(g.Constant(graph.Shape{2}, optQuadratic.a...), nodes.Square(nodes.Sub(w, g.Constant(graph.Shape{2}, optQuadratic.c...)))), false)
			grads, err := autodiff.Grad(loss, w)
			require.NoError(t, err)
			s, inc := train.NewStep(g, tc.opt.InitialRate())
			ups, err := tc.opt.Apply(s, []*graph.Node{w}, grads)
			require.NoError(t, err)
			prog, err := compile.Compile(g, append(append([]*graph.Node{loss}, ups...), inc...), compile.Options{})
			require.NoError(t, err)
			store := vm.NewStore()
			require.NoError(t, store.Init(g, 1, initializers.Zeros{}))
			m := vm.NewMachine(prog, store)
			first := math.NaN()
			for i := 0; i < tc.steps; i++ {
				if tc.decay != nil {
					require.NoError(t, store.SetFloat64s(train.LearningRateVar, graph.Shape{}, graph.Float64, []float64{tc.decay.Rate(i)}))
				}
				out, err := m.Run(nil)
				require.NoError(t, err)
				if i == 0 {
					first = testutil.Float64s(out[0])[0]
				}
			}
			assert.Equal(t, 49.0, first, "initial loss 1·3² + 10·2²")
			got, err := store.Float64s("w")
			require.NoError(t, err)
			optClose(t, "w", got, optQuadratic.c, tc.tol)
		})
	}
}

// TestAdamUpdateFused compiles an Adam step of one parameter and checks
// what the compiler makes of it: the whole update — the two moments and
// the parameter, which reads the new moments — is one fused element-wise
// instruction with three outputs, written straight into the three
// variables (no assignment left but the step counter's).
func TestAdamUpdateFused(t *testing.T) {
	g := graph.New(graph.Float64)
	var w *graph.Node
	g.WithScope("dense", func() { w = g.Variable("kernel", graph.Shape{64}) })
	grad := g.Input("grad", graph.Shape{64})
	s, inc := train.NewStep(g, 1e-3)
	ups, err := train.Adam{}.Apply(s, []*graph.Node{w}, []*graph.Node{grad})
	require.NoError(t, err)
	prog, err := compile.Compile(g, append(ups, inc...), compile.Options{Verify: true})
	require.NoError(t, err)
	text := compile.Explain(prog)
	var update []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "f64[64]") && strings.Contains(line, " = ") {
			update = append(update, strings.TrimSpace(strings.SplitN(line, "   ;", 2)[0]))
		}
	}
	// m ← β₁·m + (1−β₁)·g (steps 0–2), v ← β₂·v + (1−β₂)·g² (3–6),
	// w ← w − step·m/(sqrt(v)/sqrt(bc₂) + ε) (7–12)
	want := fmt.Sprintf("%s, %s, %s = fused[mul,mul,add,mul,square,mul,add,sqrt,div,add,div,mul,sub out=2,6,12]",
		bufOf(t, prog, "optimizer/dense/kernel/m"), bufOf(t, prog, "optimizer/dense/kernel/v"), bufOf(t, prog, "dense/kernel"))
	require.Len(t, update, 1, "instructions of the update:\n%s", text)
	assert.True(t, strings.HasPrefix(update[0], want), "got %s, want %s …\n%s", update[0], want, text)
}

// bufOf returns "%N", the buffer of the variable name in prog.
func bufOf(t *testing.T, prog *vm.Program, name string) string {
	t.Helper()
	for i, b := range prog.Bufs {
		if b.Kind == vm.BufVariable && b.Name == name {
			return fmt.Sprintf("%%%d", i)
		}
	}
	t.Fatalf("no variable %q in the program", name)
	return ""
}

// fusedUpdateOptimizers are the optimizer configurations whose update
// TestOptimizerUpdateFused checks: every one with slots, in each of its
// forms, and plain SGD.
var fusedUpdateOptimizers = []struct {
	name string
	opt  train.Optimizer
}{
	{"sgd", train.SGD{}},
	{"sgd_momentum", train.SGD{Momentum: 0.9}},
	{"sgd_nesterov", train.SGD{Momentum: 0.9, Nesterov: true}},
	{"sgd_momentum_keras", train.SGD{Momentum: 0.9, Keras: true}},
	{"sgd_nesterov_keras", train.SGD{Momentum: 0.9, Nesterov: true, Keras: true}},
	{"adagrad", train.Adagrad{}},
	{"adagrad_torch_decay", train.Adagrad{Torch: true, LRDecay: 0.01}},
	{"rmsprop", train.RMSprop{}},
	{"rmsprop_centered_momentum", train.RMSprop{Centered: true, Momentum: 0.9}},
	{"rmsprop_torch", train.RMSprop{Torch: true}},
	{"rmsprop_torch_centered_momentum", train.RMSprop{Torch: true, Centered: true, Momentum: 0.9}},
	{"adam", train.Adam{}},
	{"adam_keras", train.Adam{Keras: true}},
	{"adam_clipnorm", train.Adam{Clip: train.Clip{ClipNorm: 1}}},
	{"adamw", train.AdamW{}},
	{"adamw_keras", train.AdamW{Keras: true}},
	{"nadam", train.Nadam{}},
	{"nadam_torch", train.Nadam{Torch: true}},
}

// TestOptimizerUpdateFused compiles a training step of a two-layer dense
// model (kernels and biases: gradients from GEMMs and from reductions) with
// each optimizer, and checks that each parameter's update is one
// instruction that writes the parameter and all its slots in place, with
// no assignment left for them. The instruction is a fused element-wise one
// with an output per variable, except for plain SGD's kernels: there the
// fuse-gemm-update pass folds w ← w − η·Xᵀ·dY into the GEMM that computes
// the gradient (a gemm_update writing w), which costs no sweep at all.
// (With momentum the update reads the velocity, not the product, so no
// GEMM takes it.) Verify checks each program against the unfused one.
func TestOptimizerUpdateFused(t *testing.T) {
	for _, tc := range fusedUpdateOptimizers {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{graph.Batch, 6})
			y := g.Input("y", graph.Shape{graph.Batch, 3})
			h := x
			var params []*graph.Node
			for i, units := range []int{5, 3} {
				g.WithScope(fmt.Sprintf("dense_%d", i), func() {
					w := g.Variable("kernel", graph.Shape{h.Shape()[1], units})
					b := g.Variable("bias", graph.Shape{units})
					h = nodes.Add(nodes.MatMul(h, w), b)
					if i == 0 {
						h = nodes.Tanh(h)
					}
					params = append(params, w, b)
				})
			}
			loss := nodes.Mean(nodes.Square(nodes.Sub(h, y)), false)
			grads, err := autodiff.Grad(loss, params...)
			require.NoError(t, err)
			s, inc := train.NewStep(g, tc.opt.InitialRate())
			ups, err := tc.opt.Apply(s, params, grads)
			require.NoError(t, err)
			prog, err := compile.Compile(g, append(append([]*graph.Node{loss}, ups...), inc...), compile.Options{Verify: true})
			require.NoError(t, err)
			text := compile.Explain(prog)
			for _, p := range params {
				want := []string{p.Name()}
				for _, v := range g.Variables() {
					if strings.HasPrefix(v.Name(), "optimizer/"+p.Name()+"/") {
						want = append(want, v.Name())
					}
				}
				if tc.name != "sgd" {
					require.Greater(t, len(want), 1, "%s has no slots", p.Name())
				}
				var writers []vm.Inst
				for _, in := range prog.Insts {
					for _, d := range in.Dst {
						if prog.Bufs[d].Kind == vm.BufVariable && slices.Contains(want, prog.Bufs[d].Name) {
							writers = append(writers, in)
							break
						}
					}
				}
				require.Len(t, writers, 1, "instructions writing %v:\n%s", want, text)
				in := writers[0]
				assert.Equal(t, vm.OpCall, in.Op, "%s is updated by %s, want a kernel", p.Name(), prog.InstString(in))
				var got []string
				for _, d := range in.Dst {
					got = append(got, prog.Bufs[d].Name)
				}
				assert.ElementsMatch(t, want, got, "variables written by %s", prog.InstString(in))
				switch prog.Kernels[in.Aux].(type) {
				case *nodes.FusedElementwise:
				case *nodes.FusedGemmUpdate:
					assert.True(t, tc.name == "sgd" && strings.HasSuffix(p.Name(), "/kernel"), "%s: gemm_update for %s", tc.name, p.Name())
				default:
					t.Errorf("%s is updated by %s, want a fused kernel", p.Name(), prog.InstString(in))
				}
			}
		})
	}
}

// BenchmarkAdamStep runs one compiled training step of the 784-300-100-10
// MLP (reference model A) with Adam at batch size 128: forward, backward
// and the update of the six parameters and their twelve moments.
func BenchmarkAdamStep(b *testing.B) {
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		b.Run(fmt.Sprintf("A/b128/%v", dt), func(b *testing.B) {
			const n = 128
			model := refmodels.ModelA()
			model.Seed(42)
			e, err := model.Emit(dt, layers.Training)
			require.NoError(b, err)
			g := e.Graph
			y := g.Input("y", graph.Shape{graph.Batch})
			loss := nodes.SoftmaxCrossEntropySparse(e.Output, y)
			var params []*graph.Node
			for _, v := range g.Variables() {
				if v.Op().(graph.VariableOp).Trainable {
					params = append(params, v)
				}
			}
			grads, err := autodiff.Grad(loss, params...)
			require.NoError(b, err)
			s, inc := train.NewStep(g, 1e-3)
			ups, err := train.Adam{}.Apply(s, params, grads)
			require.NoError(b, err)
			prog, err := compile.Compile(g, append(append([]*graph.Node{loss}, ups...), inc...), compile.Options{})
			require.NoError(b, err)
			store := vm.NewStore()
			require.NoError(b, store.Init(g, 42, nil))
			r := rand.New(rand.NewPCG(1, 2))
			xs, ys := make([]float64, n*784), make([]float64, n)
			for i := range xs {
				xs[i] = r.NormFloat64()
			}
			for i := range ys {
				ys[i] = float64(r.IntN(10))
			}
			feeds := vm.Feeds{"x": benchTensor(b, dt, xs, n, 784), "y": benchTensor(b, dt, ys, n)}
			m := vm.NewMachine(prog, store)
			if _, err := m.Exec(feeds); err != nil { // warm-up: the instance of this batch size
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

// BenchmarkAdamUpdate runs the Adam update alone of the six parameters of
// the 784-300-100-10 MLP (266,610 values), the gradients fed as inputs:
// the part of a training step that multi-output fusion changes.
func BenchmarkAdamUpdate(b *testing.B) {
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		b.Run(fmt.Sprintf("A/%v", dt), func(b *testing.B) {
			g := graph.New(dt)
			var params, grads []*graph.Node
			feeds := vm.Feeds{}
			r := rand.New(rand.NewPCG(1, 2))
			for i, shape := range []graph.Shape{{784, 300}, {300}, {300, 100}, {100}, {100, 10}, {10}} {
				params = append(params, g.Variable(fmt.Sprintf("p%d", i), shape))
				grads = append(grads, g.Input(fmt.Sprintf("g%d", i), shape))
				v := make([]float64, shape.Size())
				for j := range v {
					v[j] = r.NormFloat64()
				}
				feeds[fmt.Sprintf("g%d", i)] = benchTensor(b, dt, v, shape...)
			}
			s, inc := train.NewStep(g, 1e-3)
			ups, err := train.Adam{}.Apply(s, params, grads)
			require.NoError(b, err)
			prog, err := compile.Compile(g, append(ups, inc...), compile.Options{})
			require.NoError(b, err)
			store := vm.NewStore()
			require.NoError(b, store.Init(g, 42, initializers.RandomNormal{Stddev: 0.1}))
			m := vm.NewMachine(prog, store)
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

func benchTensor(tb testing.TB, dt graph.DType, v []float64, shape ...int) *tensor.Dense {
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
	require.NoError(tb, err)
	return t
}
