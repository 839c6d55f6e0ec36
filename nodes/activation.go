package nodes

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The activation family (SEMANTICS §1): ReLU, ReLU6, LeakyReLU, HardSigmoid
// (relu.go), ELU, SELU (elu.go), GELU, GELUTanh (gelu.go), Softplus, SiLU
// (softplus.go), PReLU and LeakyReLUWithSlopes (prelu.go), RReLU
// (rrelu.go), and the lookup of an activation by its Keras name (here).
//
// Each element-wise activation is one op, actOp{kind}, with one forward
// kernel, and its gradient is one op too, actGradOp{kind} with inputs
// (x, ḡ), computing ḡ·f'(x) in a single sweep. Both kernels are row loops
// picked once per kind at bind time. The gradient op is differentiable in
// turn, so second derivatives work: it is linear in ḡ (its VJP for ḡ is
// the same op) and its VJP for x is ḡ·ḡ₂·f″(x), with f″ written with
// graph ops (zero for the piecewise-linear kinds).
//
// Kink rule: every piecewise activation takes its positive branch only when
// x > 0; at x = 0 and x = −0.0 its derivative is the negative branch's
// (relu'(0) = 0, leaky'(0) = α, elu'(0) = α, selu'(0) = λα), as PyTorch
// does. Transcendental kinds compute in float64 whatever the graph's dtype
// and round once. NaN inputs give NaN outputs.

// actKind names an element-wise activation that has its own kernels.
type actKind uint8

const (
	actReLU actKind = iota
	actReLU6
	actLeakyReLU
	actHardSigmoid
	actELU
	actSELU
	actGELU
	actGELUTanh
	actSiLU
	actSoftplus
)

var actNames = [...]string{
	actReLU:        "relu",
	actReLU6:       "relu6",
	actLeakyReLU:   "leaky_relu",
	actHardSigmoid: "hard_sigmoid",
	actELU:         "elu",
	actSELU:        "selu",
	actGELU:        "gelu",
	actGELUTanh:    "gelu_tanh",
	actSiLU:        "silu",
	actSoftplus:    "softplus",
}

// hasAlpha reports whether the kind takes the hyper-parameter alpha.
func (k actKind) hasAlpha() bool { return k == actLeakyReLU || k == actELU }

// transcendental reports whether the kind evaluates exp, erf or the like per
// element, which makes a smaller chunk worth handing to a worker.
func (k actKind) transcendental() bool { return k >= actELU }

// actOp is an element-wise activation y = f(x).
type actOp struct {
	kind  actKind
	alpha float64
	// fromY, on the gradient op only, says that its first input is the
	// activation's output y rather than its input x (see gradFromY).
	fromY bool
}

// gradFromY reports whether the kind's derivative is a function of its
// output: ReLU, ReLU6 and LeakyReLU (α ≥ 0) switch where y does; ELU and
// SELU have f'(x) = y + negScale for x ≤ 0. Their gradient then reads y,
// which the backward pass needs anyway, so the compiler need not keep x
// and the backward computes no exponential. The kink rule holds: y > 0
// exactly when x > 0.
func (k actKind) gradFromY() bool {
	switch k {
	case actReLU, actReLU6, actLeakyReLU, actELU, actSELU:
		return true
	}
	return false
}

func (op actOp) Name() string { return actNames[op.kind] }

func (op actOp) Attrs() string {
	a := ""
	if op.kind.hasAlpha() {
		a = "alpha=" + sprint(op.alpha)
	}
	if op.fromY {
		if a != "" {
			a += " "
		}
		a += "of_y"
	}
	return a
}

func (op actOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape(op.Name(), in) }
func (op actOp) Bind32(a *kernel.Args[float32]) func()            { return bindAct(op, a) }
func (op actOp) Bind64(a *kernel.Args[float64]) func()            { return bindAct(op, a) }

// VJP: x̄ = ḡ·f'(x), one actGradOp, reading y = n where the derivative is
// a function of it (gradFromY), else x.
func (op actOp) VJP(n, gy *graph.Node) []*graph.Node {
	if op.kind.gradFromY() {
		g := op
		g.fromY = true
		return []*graph.Node{add(actGradOp(g), n, gy)}
	}
	return []*graph.Node{add(actGradOp(op), n.Input(0), gy)}
}

// grain is the least number of elements worth a chunk of the worker pool.
func (op actOp) grain() int {
	if op.kind.transcendental() {
		return kernel.ElementGrain / 8
	}
	return kernel.ElementGrain
}

// second returns f″(x) built with graph ops, or nil where it is zero
// almost everywhere (the piecewise-linear kinds).
func (op actOp) second(x *graph.Node) *graph.Node {
	switch op.kind {
	case actELU:
		return eluSecond(x, op.alpha)
	case actSELU:
		return eluSecond(x, SELUScaleAlpha)
	case actGELU:
		return geluSecond(x)
	case actGELUTanh:
		return geluTanhSecond(x)
	case actSiLU:
		return siluSecond(x)
	case actSoftplus:
		return softplusSecond(x)
	}
	return nil
}

// bindAct binds the forward kernel; actRow (fused.go, shared with the
// fused dense kernel) picks the row loop of the kind.
func bindAct[T kernel.Float](op actOp, a *kernel.Args[T]) func() {
	d, x := a.Dst[0], a.Src[0]
	row := actRow[T](op)
	n, grain := len(d), op.grain()
	body := func(lo, hi int) { row(d[lo:hi], x[lo:hi]) }
	return func() { kernel.For(n, grain, body) }
}

// actGradRow computes one contiguous run of an activation's gradient:
// d[i] = g[i]·f'(x[i]).
type actGradRow[T kernel.Float] func(d, x, g []T)

// actGradOp is the gradient of actOp: inputs x and ḡ (same shape), output
// ḡ·f'(x).
type actGradOp actOp

func (op actGradOp) Name() string  { return actNames[op.kind] + "_grad" }
func (op actGradOp) Attrs() string { return actOp(op).Attrs() }

func (op actGradOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return sameShapes(op.Name(), in, 2)
}

func (op actGradOp) Bind32(a *kernel.Args[float32]) func() { return bindActGrad(op, a) }
func (op actGradOp) Bind64(a *kernel.Args[float64]) func() { return bindActGrad(op, a) }

// VJP of x̄ = ḡ·f'(x) with upstream ḡ₂: for ḡ it is ḡ₂·f'(x), the same op;
// for x it is ḡ₂·ḡ·f″(x). When the op reads y instead (fromY), f' as a
// function of y has derivative 0 for the piecewise-linear kinds and [y ≤ 0]
// for ELU and SELU (f' = y + negScale there); autodiff carries it on
// through y to x.
func (op actGradOp) VJP(n, g2 *graph.Node) []*graph.Node {
	x, gy := n.Input(0), n.Input(1)
	dgy := add(op, x, g2)
	if op.fromY {
		if op.kind != actELU && op.kind != actSELU {
			return []*graph.Node{ZerosLike(x), dgy}
		}
		zero := x.Graph().Scalar(0)
		return []*graph.Node{Where(Greater(x, zero), zero, Mul(g2, gy)), dgy}
	}
	var dx *graph.Node
	if f2 := actOp(op).second(x); f2 != nil {
		dx = Mul(Mul(g2, gy), f2)
	} else {
		dx = ZerosLike(x)
	}
	return []*graph.Node{dx, dgy}
}

// bindActGrad binds the gradient kernel; actGradRowOf (fused.go) picks
// the row loop of the kind.
func bindActGrad[T kernel.Float](op actGradOp, a *kernel.Args[T]) func() {
	d, x, g := a.Dst[0], a.Src[0], a.Src[1]
	row := actGradRowOf[T](op)
	n, grain := len(d), actOp(op).grain()
	body := func(lo, hi int) { row(d[lo:hi], x[lo:hi], g[lo:hi]) }
	return func() { kernel.For(n, grain, body) }
}

// sameShapes is the shape rule of an element-wise op with n inputs of one
// shape.
func sameShapes(name string, in []graph.Shape, n int) (graph.Shape, error) {
	if err := checkInputs(name, in, n); err != nil {
		return nil, err
	}
	for i := 1; i < n; i++ {
		if !in[i].Equal(in[0]) {
			return nil, graph.Errorf(graph.ErrShape, "%s needs inputs of one shape, got %s", name, shapesString(in))
		}
	}
	return in[0], nil
}

// checkAlpha returns an error unless alpha is finite and not negative.
func checkAlpha(name string, alpha float64) error {
	if math.IsNaN(alpha) || math.IsInf(alpha, 0) || alpha < 0 {
		return graph.Errorf(graph.ErrArg, "%s: alpha %v: want a finite value ≥ 0", name, alpha)
	}
	return nil
}

// Linear returns x itself: the identity activation (Keras "linear", also
// what an empty activation name means).
func Linear(x *graph.Node) *graph.Node { return x }

// Exponential returns eˣ element-wise: Keras's "exponential" activation,
// which is the exp op (see Exp).
func Exponential(x *graph.Node) *graph.Node { return Exp(x) }

// activations maps the Keras activation names to their builders. Names and
// defaults follow Keras 3's keras.activations.get.
var activations = map[string]func(*graph.Node) *graph.Node{
	"linear":       Linear,
	"relu":         ReLU,
	"relu6":        ReLU6,
	"leaky_relu":   func(x *graph.Node) *graph.Node { return LeakyReLU(x, KerasLeakyReLUActivationAlpha) },
	"elu":          func(x *graph.Node) *graph.Node { return ELU(x, ELUAlpha) },
	"selu":         SELU,
	"gelu":         GELU,
	"silu":         SiLU,
	"swish":        Swish,
	"softplus":     Softplus,
	"sigmoid":      Sigmoid,
	"tanh":         Tanh,
	"softmax":      Softmax,
	"log_softmax":  LogSoftmax,
	"hard_sigmoid": HardSigmoid,
	"exponential":  Exponential,
}

// ActivationNames returns the names Activation accepts, sorted. The empty
// name, which means "linear", is not listed.
func ActivationNames() []string {
	names := make([]string, 0, len(activations))
	for name := range activations {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// LookupActivation returns the builder of the activation with the given
// Keras name ("" means "linear"), or an error (matching graph.ErrArg) that
// lists the valid names. Layers use it to check a name before they have a
// node to apply it to.
func LookupActivation(name string) (func(*graph.Node) *graph.Node, error) {
	if name == "" {
		return Linear, nil
	}
	if f, ok := activations[name]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("nodes: %w: %s", graph.ErrArg, unknownActivation(name))
}

func unknownActivation(name string) string {
	return fmt.Sprintf("unknown activation %q (valid: %s)", name, strings.Join(ActivationNames(), ", "))
}

// Activation applies the activation with the given Keras name to x, with
// Keras 3's defaults: "linear" (and ""), "relu", "relu6", "leaky_relu"
// (slope KerasLeakyReLUActivationAlpha = 0.2, the default of
// keras.activations.leaky_relu; the LeakyReLU layer's default is 0.3), "elu"
// (α = 1), "selu", "gelu" (exact erf form, Keras's approximate=False),
// "silu" and its alias "swish", "softplus", "sigmoid", "tanh", "softmax" and
// "log_softmax" (last axis), "hard_sigmoid" (Keras 3's relu6(x+3)/6) and
// "exponential". An unknown name records an error on x's graph listing the
// valid names.
func Activation(name string, x *graph.Node) *graph.Node {
	f, err := LookupActivation(name)
	if err != nil {
		return fail(failOp("activation"), []*graph.Node{x}, graph.ErrArg, "%s", unknownActivation(name))
	}
	return f(x)
}

// failOp names a builder that has no op of its own (Activation, RReLU at
// inference) in the errors it records.
type failOp string

func (op failOp) Name() string { return string(op) }

func (op failOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, graph.Errorf(graph.ErrArg, "%s is not an op", string(op))
}
