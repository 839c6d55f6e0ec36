package nodes

import (
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The loss family (SEMANTICS §7). Each numerically delicate loss is one op
// computing per-example (or per-element) values, with its own kernel and
// gradient rule; the reduction to a scalar is an ordinary Mean or Sum node
// on top, so that a training loop can reduce as it likes (mean, sum, none)
// and the compiler sees an ordinary graph.
//
//   - SoftmaxCrossEntropySparsePerExample (integer labels) and
//     SoftmaxCrossEntropyPerExample (probability targets): one op each, a
//     row kernel over the last (class) axis that subtracts the row maximum
//     before exponentiating, so logits of ±1000 give finite losses and
//     gradients. Their gradient with respect to the logits is one op too
//     (one sweep: ḡ·(softmax − onehot) or ḡ·(softmax·Σt − t)), whose own
//     gradient rule is written with graph ops, so second derivatives work.
//   - SigmoidCrossEntropyWithLogitsPerElement: one element-wise op,
//     max(z,0) − z·t + log1p(e^−|z|); its gradient rule, ḡ·(σ(z) − t), is
//     made of element-wise graph ops that the compiler fuses into a sweep.
//   - HuberError: one element-wise op with a gradient rule of graph ops.
//   - SquaredError, AbsoluteError and the losses from probabilities
//     (Keras's from_logits=False) are compositions of existing ops: they are
//     stable as written, or made so by clipping exactly as Keras does.
//
// Every builder that takes two values checks that their shapes fit (equal
// shapes, or labels shaped like the logits without the class axis) and
// records an error otherwise: broadcasting a [B] target against a [B,1]
// prediction, which would silently give a [B,B] loss, is refused.
//
// Kernels compute in float64 whatever the graph's dtype and round once.
// NaN in a row of logits makes that row's loss and gradient NaN; a logit
// of +∞ makes them NaN too (the max shift meets ∞ − ∞), as in PyTorch; a
// logit of −∞ is a class of probability 0.

// ProbabilityEpsilon is the clipping bound of the losses that take
// probabilities rather than logits: Keras's backend.epsilon(), 1e-7.
// Probabilities are clipped to [ProbabilityEpsilon, 1 − ProbabilityEpsilon]
// before their logarithm is taken.
const ProbabilityEpsilon = 1e-7

// HuberDelta is Keras's default δ of the Huber loss, 1.
const HuberDelta = 1.0

// ---- softmax cross-entropy with integer labels ----

// SoftmaxCrossEntropySparse returns the mean over the batch of
// SoftmaxCrossEntropySparsePerExample(logits, labels): a scalar, the
// training loss of a classifier with integer labels (PyTorch's
// CrossEntropyLoss, Keras's SparseCategoricalCrossentropy(from_logits=True)).
func SoftmaxCrossEntropySparse(logits, labels *graph.Node) *graph.Node {
	return Mean(SoftmaxCrossEntropySparsePerExample(logits, labels), false)
}

// SoftmaxCrossEntropySparsePerExample returns, for logits z of shape
// [..., C] and labels y of shape [...] holding class indices stored as
// floats, the per-example cross-entropy
//
//	ℓ = logsumexp(z) − z[y] = log Σⱼ exp(zⱼ − m) + (m − z[y]),  m = maxⱼ zⱼ,
//
// of shape [...]. The class axis C must be known (not the open batch
// dimension) and at least 1. A label that is not an integer in [0, C) (a
// fraction, a negative value, NaN) is found when the program runs: Run then
// returns an error naming the label and its position.
//
// Gradient: z̄ = ḡ·(softmax(z) − onehot(y)); the labels get none (they are
// indices, not quantities).
func SoftmaxCrossEntropySparsePerExample(logits, labels *graph.Node) *graph.Node {
	return add(sparseCEOp{}, logits, labels)
}

// classAxis checks the logits' shape of a softmax cross-entropy and returns
// the number of classes.
func classAxis(name string, z graph.Shape) (int, error) {
	if len(z) == 0 {
		return 0, graph.Errorf(graph.ErrShape, "%s needs logits of rank 1 or more (classes along the last axis), got a scalar", name)
	}
	c := z[len(z)-1]
	if c == graph.Batch {
		return 0, graph.Errorf(graph.ErrShape, "the class axis of logits %v is the open batch dimension: give the logits a class axis of known size", z)
	}
	if c < 1 {
		return 0, graph.Errorf(graph.ErrShape, "logits %v have no class (the last axis is empty)", z)
	}
	return c, nil
}

// exampleShape is z without its last (class) axis.
func exampleShape(z graph.Shape) graph.Shape {
	out := z[:len(z)-1].Clone()
	if out == nil {
		out = graph.Shape{}
	}
	return out
}

type sparseCEOp struct{}

func (sparseCEOp) Name() string { return "softmax_cross_entropy_sparse" }

// InferShape: logits [..., C] and labels [...] give [...].
func (op sparseCEOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 2); err != nil {
		return nil, err
	}
	return sparseShape(op.Name(), in[0], in[1])
}

// sparseShape checks that labels y fit logits z and returns y's shape.
func sparseShape(name string, z, y graph.Shape) (graph.Shape, error) {
	if _, err := classAxis(name, z); err != nil {
		return nil, err
	}
	if want := exampleShape(z); !y.Equal(want) {
		return nil, graph.Errorf(graph.ErrShape, "labels %v do not fit logits %v: want labels %v (one class index per row of logits)", y, z, want)
	}
	return exampleShape(z), nil
}

func (op sparseCEOp) Bind32(a *kernel.Args[float32]) func() { return bindSparseCE(a) }
func (op sparseCEOp) Bind64(a *kernel.Args[float64]) func() { return bindSparseCE(a) }

// VJP: z̄ = ḡ·(softmax(z) − onehot(y)), one sparseCEGradOp; no gradient for
// the labels.
func (sparseCEOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{add(sparseCEGradOp{}, n.Input(0), n.Input(1), gy), nil}
}

// lossGrain is the least number of logits worth a chunk of the worker
// pool: each costs an exponential, like softmax.
const lossGrain = softmaxGrain

// checkLabels returns the first label of y that is not an integer in [0, c)
// after recording it on st, or -1 when every label is valid. It runs before
// the (parallel) row loop so that the error always names the first bad
// label.
func checkLabels[T kernel.Float](name string, st *kernel.Status, y []T, c int) int {
	for i, v := range y {
		f := float64(v)
		if !(f >= 0 && f < float64(c)) || f != math.Trunc(f) {
			st.Fail("%s: label %s at index %d is not an integer in [0, %d)", name, labelString(v), i, c)
			return i
		}
	}
	return -1
}

func bindSparseCE[T kernel.Float](a *kernel.Args[T]) func() {
	in := a.In[0]
	c := in[len(in)-1]
	d, z, y, st := a.Dst[0], a.Src[0], a.Src[1], a.Status
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			d[r] = T(sparseCERow(z[r*c:(r+1)*c], int(y[r])))
		}
	}
	grain := max(1, lossGrain/c)
	return func() {
		if checkLabels("softmax_cross_entropy_sparse", st, y, c) >= 0 {
			return
		}
		kernel.For(len(d), grain, body)
	}
}

// sparseCERow returns log Σ exp(zⱼ − m) + (m − z[k]) for one row; m − z[k]
// is computed first so that large logits (1000 and 999) lose nothing to
// cancellation.
func sparseCERow[T kernel.Float](z []T, k int) float64 {
	m := rowMax(z)
	sum := 0.0
	for _, v := range z {
		sum += math.Exp(float64(v) - m)
	}
	return math.Log(sum) + (m - float64(z[k]))
}

// sparseCEGradOp is the gradient of sparseCEOp with respect to the logits:
// inputs logits z [..., C], labels y [...] and upstream ḡ [...]; output
// ḡ·(softmax(z) − onehot(y)) of shape [..., C], in one sweep per row.
type sparseCEGradOp struct{}

func (sparseCEGradOp) Name() string { return "softmax_cross_entropy_sparse_grad" }

func (op sparseCEGradOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 3); err != nil {
		return nil, err
	}
	ex, err := sparseShape(op.Name(), in[0], in[1])
	if err != nil {
		return nil, err
	}
	if !in[2].Equal(ex) {
		return nil, graph.Errorf(graph.ErrShape, "upstream gradient %v, want %v", in[2], ex)
	}
	return in[0], nil
}

func (op sparseCEGradOp) Bind32(a *kernel.Args[float32]) func() { return bindSparseCEGrad(a) }
func (op sparseCEGradOp) Bind64(a *kernel.Args[float64]) func() { return bindSparseCEGrad(a) }

func bindSparseCEGrad[T kernel.Float](a *kernel.Args[T]) func() {
	in := a.In[0]
	c := in[len(in)-1]
	d, z, y, g, st := a.Dst[0], a.Src[0], a.Src[1], a.Src[2], a.Status
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			sparseCEGradRow(d[r*c:(r+1)*c], z[r*c:(r+1)*c], int(y[r]), float64(g[r]))
		}
	}
	grain := max(1, lossGrain/c)
	return func() {
		if checkLabels("softmax_cross_entropy_sparse", st, y, c) >= 0 {
			return
		}
		kernel.For(len(y), grain, body)
	}
}

// sparseCEGradRow writes g·(softmax(z) − onehot(k)) for one row. The entry
// of the label, g·(s[k] − 1), is computed as −g·Σ_{j≠k} eⱼ / Σ eⱼ, which
// keeps its relative precision when s[k] is close to 1.
func sparseCEGradRow[T kernel.Float](d, z []T, k int, g float64) {
	z = z[:len(d)]
	m := rowMax(z)
	sum, others := 0.0, 0.0
	for j, v := range z {
		e := math.Exp(float64(v) - m)
		d[j] = T(e)
		sum += e
		if j != k {
			others += e
		}
	}
	scale := g / sum
	for j, v := range d {
		d[j] = T(float64(v) * scale)
	}
	d[k] = T(-others * scale)
}

// VJP of x̄ = ḡ·(s − onehot(y)) with upstream G, s = softmax(z):
//
//	z̄ = s ⊙ (H − Σ H⊙s),  H = ḡ·G   (softmax's rule applied to ḡ·G)
//	ḡ̄ = Σ G ⊙ (s − onehot(y))        (sums along the class axis)
//
// and nothing for the labels.
func (sparseCEGradOp) VJP(n, gg *graph.Node) []*graph.Node {
	z, y, gy := n.Input(0), n.Input(1), n.Input(2)
	s := Softmax(z)
	h := Mul(gg, column(gy))
	dz := Mul(s, Sub(h, Sum(Mul(h, s), true, -1)))
	c := z.Shape()[z.Shape().Rank()-1]
	dgy := Sum(Mul(gg, Sub(s, OneHot(y, c))), false, -1)
	return []*graph.Node{dz, nil, dgy}
}

// column reshapes per-example values of shape [...] to [..., 1], so that
// they broadcast along the class axis.
func column(x *graph.Node) *graph.Node {
	s := x.Shape()
	target := make(graph.Shape, 0, len(s)+1)
	for _, d := range s {
		if d == graph.Batch {
			d = -1
		}
		target = append(target, d)
	}
	return Reshape(x, append(target, 1))
}

// ---- softmax cross-entropy with probability targets ----

// SoftmaxCrossEntropy returns the mean over the batch of
// SoftmaxCrossEntropyPerExample(logits, targets): a scalar.
func SoftmaxCrossEntropy(logits, targets *graph.Node) *graph.Node {
	return Mean(SoftmaxCrossEntropyPerExample(logits, targets), false)
}

// SoftmaxCrossEntropyPerExample returns, for logits z and targets t of one
// shape [..., C] (one-hot rows or class probabilities), the per-example
// cross-entropy
//
//	ℓ = −Σⱼ tⱼ·log_softmax(z)ⱼ = Σⱼ tⱼ·((m − zⱼ) + log Σₖ exp(zₖ − m))
//
// of shape [...]. Terms with tⱼ = 0 are skipped, so a logit of −∞ in a
// class the target does not want costs nothing (0·log 0 = 0) rather than
// NaN. Targets need not sum to 1.
//
// Gradients: z̄ = ḡ·(softmax(z)·Σⱼtⱼ − t) (= softmax − t when rows sum to
// 1) and t̄ = −ḡ·log_softmax(z), so the loss is differentiable in both.
func SoftmaxCrossEntropyPerExample(logits, targets *graph.Node) *graph.Node {
	return add(denseCEOp{}, logits, targets)
}

type denseCEOp struct{}

func (denseCEOp) Name() string { return "softmax_cross_entropy" }

func (op denseCEOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 2); err != nil {
		return nil, err
	}
	return denseShape(op.Name(), in[0], in[1])
}

// denseShape checks that targets t fit logits z and returns the shape of
// the per-example values.
func denseShape(name string, z, t graph.Shape) (graph.Shape, error) {
	if _, err := classAxis(name, z); err != nil {
		return nil, err
	}
	if !t.Equal(z) {
		return nil, graph.Errorf(graph.ErrShape, "targets %v do not fit logits %v: want one shape", t, z)
	}
	return exampleShape(z), nil
}

func (op denseCEOp) Bind32(a *kernel.Args[float32]) func() { return bindDenseCE(a) }
func (op denseCEOp) Bind64(a *kernel.Args[float64]) func() { return bindDenseCE(a) }

// VJP: z̄ is one denseCEGradOp; t̄ = −ḡ·log_softmax(z).
func (denseCEOp) VJP(n, gy *graph.Node) []*graph.Node {
	z, t := n.Input(0), n.Input(1)
	return []*graph.Node{
		add(denseCEGradOp{}, z, t, gy),
		Neg(Mul(column(gy), LogSoftmax(z))),
	}
}

func bindDenseCE[T kernel.Float](a *kernel.Args[T]) func() {
	in := a.In[0]
	c := in[len(in)-1]
	d, z, t := a.Dst[0], a.Src[0], a.Src[1]
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			d[r] = T(denseCERow(z[r*c:(r+1)*c], t[r*c:(r+1)*c]))
		}
	}
	grain := max(1, lossGrain/c)
	return func() { kernel.For(len(d), grain, body) }
}

// denseCERow returns Σⱼ tⱼ·((m − zⱼ) + log Σₖ exp(zₖ − m)) over tⱼ ≠ 0.
func denseCERow[T kernel.Float](z, t []T) float64 {
	t = t[:len(z)]
	m := rowMax(z)
	sum := 0.0
	for _, v := range z {
		sum += math.Exp(float64(v) - m)
	}
	ls := math.Log(sum)
	loss := 0.0
	for j, v := range t {
		if v != 0 {
			loss += float64(v) * ((m - float64(z[j])) + ls)
		}
	}
	return loss
}

// denseCEGradOp is the gradient of denseCEOp with respect to the logits:
// inputs z [..., C], t [..., C], ḡ [...]; output ḡ·(softmax(z)·Σt − t).
type denseCEGradOp struct{}

func (denseCEGradOp) Name() string { return "softmax_cross_entropy_grad" }

func (op denseCEGradOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(op.Name(), in, 3); err != nil {
		return nil, err
	}
	ex, err := denseShape(op.Name(), in[0], in[1])
	if err != nil {
		return nil, err
	}
	if !in[2].Equal(ex) {
		return nil, graph.Errorf(graph.ErrShape, "upstream gradient %v, want %v", in[2], ex)
	}
	return in[0], nil
}

func (op denseCEGradOp) Bind32(a *kernel.Args[float32]) func() { return bindDenseCEGrad(a) }
func (op denseCEGradOp) Bind64(a *kernel.Args[float64]) func() { return bindDenseCEGrad(a) }

func bindDenseCEGrad[T kernel.Float](a *kernel.Args[T]) func() {
	in := a.In[0]
	c := in[len(in)-1]
	d, z, t, g := a.Dst[0], a.Src[0], a.Src[1], a.Src[2]
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			denseCEGradRow(d[r*c:(r+1)*c], z[r*c:(r+1)*c], t[r*c:(r+1)*c], float64(g[r]))
		}
	}
	grain := max(1, lossGrain/c)
	return func() { kernel.For(len(g), grain, body) }
}

// denseCEGradRow writes g·(softmax(z)·Σt − t) for one row.
func denseCEGradRow[T kernel.Float](d, z, t []T, g float64) {
	z, t = z[:len(d)], t[:len(d)]
	m := rowMax(z)
	sum, total := 0.0, 0.0
	for j, v := range z {
		e := math.Exp(float64(v) - m)
		d[j] = T(e)
		sum += e
		total += float64(t[j])
	}
	scale := g * total / sum
	for j, v := range d {
		d[j] = T(float64(v)*scale - g*float64(t[j]))
	}
}

// VJP of x̄ = ḡ·(s·T − t) with upstream G, s = softmax(z), T = Σt (sums
// along the class axis):
//
//	z̄ = s ⊙ (H − Σ H⊙s),  H = ḡ·T·G
//	t̄ = ḡ·(Σ G⊙s − G)
//	ḡ̄ = Σ G ⊙ (s·T − t)
func (denseCEGradOp) VJP(n, gg *graph.Node) []*graph.Node {
	z, t, gy := n.Input(0), n.Input(1), n.Input(2)
	s := Softmax(z)
	total := Sum(t, true, -1)
	gcol := column(gy)
	h := Mul(Mul(gg, gcol), total)
	dz := Mul(s, Sub(h, Sum(Mul(h, s), true, -1)))
	dt := Mul(gcol, Sub(Sum(Mul(gg, s), true, -1), gg))
	dgy := Sum(Mul(gg, Sub(Mul(s, total), t)), false, -1)
	return []*graph.Node{dz, dt, dgy}
}

// ---- sigmoid cross-entropy with logits ----

// SigmoidCrossEntropyWithLogits returns the mean over all elements of
// SigmoidCrossEntropyWithLogitsPerElement(logits, targets): a scalar
// (PyTorch's BCEWithLogitsLoss, Keras's BinaryCrossentropy(from_logits=True)
// for rectangular batches).
func SigmoidCrossEntropyWithLogits(logits, targets *graph.Node) *graph.Node {
	return Mean(SigmoidCrossEntropyWithLogitsPerElement(logits, targets), false)
}

// SigmoidCrossEntropyWithLogitsPerElement returns, for logits z and targets
// t of one shape, the binary cross-entropy of σ(z) against t element-wise:
//
//	ℓ = −t·log σ(z) − (1 − t)·log(1 − σ(z)) = max(z, 0) − z·t + log1p(e^−|z|)
//
// The second form is what is computed: it never overflows and stays exact
// for |z| = 800 (ℓ = 0 or |z|). Targets may be soft (any value in [0, 1]).
//
// Gradients: z̄ = ḡ·(σ(z) − t), t̄ = −ḡ·z.
func SigmoidCrossEntropyWithLogitsPerElement(logits, targets *graph.Node) *graph.Node {
	return add(sigmoidCEOp{}, logits, targets)
}

type sigmoidCEOp struct{}

func (sigmoidCEOp) Name() string { return "sigmoid_cross_entropy_with_logits" }

func (op sigmoidCEOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return sameShapes(op.Name(), in, 2)
}

func (sigmoidCEOp) Bind32(a *kernel.Args[float32]) func() { return bindSigmoidCE(a) }
func (sigmoidCEOp) Bind64(a *kernel.Args[float64]) func() { return bindSigmoidCE(a) }

func bindSigmoidCE[T kernel.Float](a *kernel.Args[T]) func() {
	d, z, t := a.Dst[0], a.Src[0], a.Src[1]
	body := func(lo, hi int) {
		zz, tt := z[lo:hi], t[lo:hi]
		for i, v := range zz {
			x := float64(v)
			d[lo+i] = T(max(x, 0) - x*float64(tt[i]) + math.Log1p(math.Exp(-math.Abs(x))))
		}
	}
	return func() { kernel.For(len(d), kernel.ElementGrain/8, body) }
}

// VJP: z̄ = ḡ·(σ(z) − t), t̄ = −ḡ·z, written with element-wise ops that the
// compiler fuses into one sweep (and that differentiate again).
func (sigmoidCEOp) VJP(n, gy *graph.Node) []*graph.Node {
	z, t := n.Input(0), n.Input(1)
	return []*graph.Node{Mul(gy, Sub(Sigmoid(z), t)), Neg(Mul(gy, z))}
}

// ---- regression losses ----

// checkPair records an error for the loss name unless pred and target
// have one shape, and returns the poisoned node then (nil when the shapes
// fit, or when a nil or foreign input leaves the check to the ops that
// follow).
func checkPair(name string, pred, target *graph.Node) *graph.Node {
	if pred == nil || target == nil || pred.Graph() != target.Graph() || pred.Shape().Equal(target.Shape()) {
		return nil
	}
	return pred.Graph().Fail(failOp(name), []*graph.Node{pred, target},
		graph.Errorf(graph.ErrShape, "predictions %v and targets %v differ in shape", pred.Shape(), target.Shape()))
}

// MSE returns the mean squared error mean((pred − target)²) over all
// elements: a scalar. pred and target must have one shape (no
// broadcasting). Gradients: p̄ = ḡ·2(p − t)/n, t̄ = −p̄.
func MSE(pred, target *graph.Node) *graph.Node {
	return Mean(squaredError("mse", pred, target), false)
}

// SquaredError returns (pred − target)² element-wise; pred and target
// must have one shape.
func SquaredError(pred, target *graph.Node) *graph.Node {
	return squaredError("squared_error", pred, target)
}

func squaredError(name string, pred, target *graph.Node) *graph.Node {
	if bad := checkPair(name, pred, target); bad != nil {
		return bad
	}
	return Square(Sub(pred, target))
}

// MAE returns the mean absolute error mean(|pred − target|) over all
// elements: a scalar. Where pred = target the gradient is 0 (the
// subgradient Abs picks).
func MAE(pred, target *graph.Node) *graph.Node {
	return Mean(absoluteError("mae", pred, target), false)
}

// AbsoluteError returns |pred − target| element-wise; pred and target must
// have one shape.
func AbsoluteError(pred, target *graph.Node) *graph.Node {
	return absoluteError("absolute_error", pred, target)
}

func absoluteError(name string, pred, target *graph.Node) *graph.Node {
	if bad := checkPair(name, pred, target); bad != nil {
		return bad
	}
	return Abs(Sub(pred, target))
}

// Huber returns the mean over all elements of HuberError(pred, target,
// delta): a scalar.
func Huber(pred, target *graph.Node, delta float64) *graph.Node {
	return Mean(HuberError(pred, target, delta), false)
}

// HuberError returns the Huber loss of e = pred − target element-wise, as
// Keras defines it:
//
//	ℓ = ½e²            if |e| ≤ δ
//	ℓ = δ·(|e| − ½δ)   otherwise
//
// δ (Keras's default is HuberDelta = 1) must be positive and finite. The
// gradient is p̄ = ḡ·clip(e, −δ, δ), t̄ = −p̄; it is continuous, so the
// switch |e| = δ needs no rule (the second derivative there is ½, the
// tie rule of Maximum and Minimum).
func HuberError(pred, target *graph.Node, delta float64) *graph.Node {
	op := huberOp{delta: delta}
	if !(delta > 0) || math.IsInf(delta, 0) {
		return fail(op, []*graph.Node{pred, target}, graph.ErrArg, "delta %v: want a positive finite value", delta)
	}
	return add(op, pred, target)
}

type huberOp struct{ delta float64 }

func (huberOp) Name() string     { return "huber" }
func (op huberOp) Attrs() string { return "delta=" + sprint(op.delta) }

func (op huberOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return sameShapes(op.Name(), in, 2)
}

func (op huberOp) Bind32(a *kernel.Args[float32]) func() { return bindHuber(op.delta, a) }
func (op huberOp) Bind64(a *kernel.Args[float64]) func() { return bindHuber(op.delta, a) }

func bindHuber[T kernel.Float](delta float64, a *kernel.Args[T]) func() {
	d, p, t := a.Dst[0], a.Src[0], a.Src[1]
	half := 0.5 * delta
	body := func(lo, hi int) {
		pp, tt := p[lo:hi], t[lo:hi]
		for i, v := range pp {
			e := float64(v) - float64(tt[i])
			if ae := math.Abs(e); ae <= delta {
				d[lo+i] = T(0.5 * e * e)
			} else {
				d[lo+i] = T(delta * (ae - half))
			}
		}
	}
	return func() { kernel.For(len(d), kernel.ElementGrain, body) }
}

// VJP: p̄ = ḡ·clip(p − t, −δ, δ), t̄ = −p̄ (element-wise ops, fused by the
// compiler).
func (op huberOp) VJP(n, gy *graph.Node) []*graph.Node {
	p, t := n.Input(0), n.Input(1)
	g := gy.Graph()
	e := Minimum(Maximum(Sub(p, t), g.Scalar(-op.delta)), g.Scalar(op.delta))
	gp := Mul(gy, e)
	return []*graph.Node{gp, Neg(gp)}
}

// ---- losses from probabilities (Keras's from_logits=False) ----

// clipProbabilities clips p to [ProbabilityEpsilon, 1 − ProbabilityEpsilon]
// (Keras's clip_by_value). Where p sits exactly on a bound, half the
// gradient passes (the tie rule of Maximum and Minimum; TensorFlow passes
// all of it); elsewhere outside the bounds none does.
func clipProbabilities(p *graph.Node) *graph.Node {
	if p == nil {
		return nil
	}
	g := p.Graph()
	return Minimum(Maximum(p, g.Scalar(ProbabilityEpsilon)), g.Scalar(1-ProbabilityEpsilon))
}

// CategoricalCrossEntropyFromProbsPerExample returns the per-example
// cross-entropy of probabilities p (say, a softmax output) against targets
// t of the same shape [..., C], as Keras's categorical_crossentropy with
// from_logits=False computes it:
//
//	q = p / Σⱼ pⱼ                                  (rows rescaled to sum 1)
//	q = clip(q, ProbabilityEpsilon, 1 − ProbabilityEpsilon)
//	ℓ = −Σⱼ tⱼ·log qⱼ
//
// in that order (the clipped rows are not renormalized). A row of p that
// sums to 0 gives NaN. Prefer SoftmaxCrossEntropyPerExample on the logits:
// it is exact where the clipping bounds the loss at −log 1e-7 ≈ 16.1 and
// stops the gradient.
func CategoricalCrossEntropyFromProbsPerExample(probs, targets *graph.Node) *graph.Node {
	if bad := checkPair("categorical_crossentropy", probs, targets); bad != nil {
		return bad
	}
	q := clipProbabilities(Div(probs, Sum(probs, true, -1)))
	return Neg(Sum(Mul(targets, Log(q)), false, -1))
}

// SparseCategoricalCrossEntropyFromProbsPerExample returns the
// per-example cross-entropy of probabilities p of shape [..., C] against
// integer labels y of shape [...], as Keras's
// sparse_categorical_crossentropy with from_logits=False computes it: p is
// clipped to [ProbabilityEpsilon, 1 − ProbabilityEpsilon] and its logarithm
// is taken as logits of SoftmaxCrossEntropySparsePerExample, so
//
//	ℓ = log Σⱼ clip(pⱼ) − log clip(p[y])
//
// which renormalizes the clipped row. Invalid labels are reported by Run
// as for SoftmaxCrossEntropySparsePerExample.
func SparseCategoricalCrossEntropyFromProbsPerExample(probs, labels *graph.Node) *graph.Node {
	return SoftmaxCrossEntropySparsePerExample(Log(clipProbabilities(probs)), labels)
}

// BinaryCrossEntropyFromProbsPerElement returns the binary cross-entropy of
// probabilities p against targets t of the same shape, element-wise, as
// Keras's binary_crossentropy with from_logits=False computes it:
//
//	q = clip(p, ProbabilityEpsilon, 1 − ProbabilityEpsilon)
//	ℓ = −(t·log q + (1 − t)·log(1 − q))
//
// Prefer SigmoidCrossEntropyWithLogitsPerElement on the logits.
func BinaryCrossEntropyFromProbsPerElement(probs, targets *graph.Node) *graph.Node {
	if bad := checkPair("binary_crossentropy", probs, targets); bad != nil {
		return bad
	}
	g := graphOf(probs, targets)
	if g == nil {
		return nil
	}
	q := clipProbabilities(probs)
	one := g.Scalar(1)
	return Neg(Add(Mul(targets, Log(q)), Mul(Sub(one, targets), Log(Sub(one, q)))))
}
