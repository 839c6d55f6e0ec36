package nodes

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// Batch Normalization (SEMANTICS §4). Three ops:
//
//   - batch_norm_train normalizes with the statistics of the batch. It is a
//     graph.MultiOp: output 0 is y, the others are the batch statistics
//     (BatchNormStats) that the gradient and the moving averages need.
//   - batch_norm_grad is its closed-form VJP (§4.1): one instruction that
//     reads x, γ, ḡ and the saved statistics and writes x̄, γ̄ and β̄,
//     instead of the dozen small ops autodiff would chain through a mean
//     and a variance.
//   - batch_norm_infer normalizes with given (moving) statistics (§4.3); its
//     VJP is built from graph ops, so it can be differentiated again.
//
// The moving statistics are not updated here: an op has no side effects.
// The layer (layers.BatchNormalization) averages the batch statistics into
// its moving-mean and moving-variance variables with graph ops and
// nodes.Assign, which the training program runs after everything else.
//
// The input is viewed as [outer, C, inner] around the channel axis; every
// element of one channel is reduced over (m = outer·inner values). Sums are
// accumulated in float64 for both element types, channel by channel, so the
// result does not depend on how the channels are spread over threads.

// BNOptions configures BatchNormTrain and BatchNormInferWith. The zero value
// is Keras's default: channels last, ε = 1e-3, biased moving variance.
type BNOptions struct {
	// Axis is the channel axis, the one that keeps its own statistics:
	// 0 (the zero value) is the last axis, like Keras's axis=-1; a positive
	// value is that axis counting the batch as axis 0 (1 for channels-first
	// images, Keras's axis=1); a negative value counts from the end. Every
	// other axis is reduced over, so the batch axis 0 itself cannot be the
	// channel axis.
	Axis int
	// Epsilon is added to the variance before the square root; 0 means
	// Keras's 1e-3 (PyTorch uses 1e-5). It must not be negative.
	Epsilon float64
	// Unbiased makes the training op's moving-variance statistic
	// (BNStats.MovingVariance) the unbiased estimate σ²_B·m/(m−1) that
	// PyTorch averages into its running variance, instead of Keras's biased
	// σ²_B. That estimate needs at least two values per channel, so with
	// Unbiased a training input with one value per channel is an error,
	// as PyTorch's "Expected more than 1 value per channel when training":
	// when the graph is built if the shape is known, else when the program
	// is run with such a batch. The output y always uses the biased
	// variance, in both conventions.
	Unbiased bool
}

// KerasBNEpsilon and TorchBNEpsilon are the two frameworks' default ε
// (keras.layers.BatchNormalization(epsilon=1e-3), torch.nn.BatchNorm1d(eps=1e-5)).
const (
	KerasBNEpsilon = 1e-3
	TorchBNEpsilon = 1e-5
)

// bnResolve checks opts against an input of rank r and returns the channel
// axis in [1, r) and ε.
func bnResolve(opts BNOptions, r int) (axis int, eps float64, err error) {
	if r < 2 {
		return 0, 0, graph.Errorf(graph.ErrShape, "input of rank %d: batch normalization needs a batch axis and a channel axis (rank ≥ 2)", r)
	}
	axis = opts.Axis
	switch {
	case axis == 0:
		axis = r - 1
	case axis < 0:
		axis += r
	}
	if axis < 1 || axis >= r {
		return 0, 0, graph.Errorf(graph.ErrArg, "channel axis %d out of range for rank %d: want 1 … %d, or −1 … −%d from the end (0 means the last axis; the batch axis 0 cannot be the channel axis)", opts.Axis, r, r-1, r-1)
	}
	eps = opts.Epsilon
	if eps == 0 {
		eps = KerasBNEpsilon
	}
	if !(eps > 0) || math.IsInf(eps, 0) {
		return 0, 0, graph.Errorf(graph.ErrArg, "epsilon %g: want a positive finite number", opts.Epsilon)
	}
	return axis, eps, nil
}

// bnChannels is the common shape rule: x of rank > axis with a known
// channel dimension C, and each named [C] parameter.
func bnChannels(x graph.Shape, axis int, names []string, params []graph.Shape) (int, error) {
	if axis < 1 || axis >= len(x) {
		return 0, graph.Errorf(graph.ErrShape, "input %v has no channel axis %d", x, axis)
	}
	c := x[axis]
	if c < 0 {
		return 0, graph.Errorf(graph.ErrShape, "input %v: the channel dimension (axis %d) is open; it must be known", x, axis)
	}
	for i, p := range params {
		if len(p) != 1 || p[0] != c {
			return 0, graph.Errorf(graph.ErrShape, "%s has shape %v, want [%d]: one value per channel (axis %d of input %v)", names[i], p, c, axis, x)
		}
	}
	return c, nil
}

// bnCount is m, the number of values per channel of x: -1 while the batch
// is open (unless another dimension is 0).
func bnCount(x graph.Shape, axis int) int {
	m, open := 1, false
	for i, d := range x {
		switch {
		case i == axis:
		case d < 0:
			open = true
		default:
			m *= d
		}
	}
	if open && m != 0 {
		return -1
	}
	return m
}

// BatchNormTrain normalizes x with the statistics of the batch, per channel
// (SEMANTICS §4):
//
//	μ_B = mean(x), σ²_B = mean((x − μ_B)²) over all axes but the channel axis
//	y = γ·(x − μ_B)/sqrt(σ²_B + ε) + β
//
// gamma and beta are shaped [C], C the size of the channel axis. The result
// is y; its op has several outputs, and BatchNormStats returns the batch
// statistics (for the moving averages). A constant channel (σ²_B = 0) and a
// single value per channel (y = β) are legal unless opts.Unbiased; an empty
// batch is an error.
//
// The gradient for x, γ and β is the closed form of §4.1, computed by one
// batch_norm_grad instruction. That op has no gradient of its own:
// second-order derivatives through BatchNormTrain are not supported (those
// through BatchNormInfer are).
func BatchNormTrain(x, gamma, beta *graph.Node, opts BNOptions) *graph.Node {
	op := bnTrainOp{}
	in := []*graph.Node{x, gamma, beta}
	if x == nil || x.IsPoisoned() {
		return add(op, in...)
	}
	axis, eps, err := bnResolve(opts, x.Shape().Rank())
	if err != nil {
		return x.Graph().Fail(op, in, err)
	}
	op = bnTrainOp{axis: axis, eps: eps, unbiased: opts.Unbiased}
	return add(op, in...)
}

// BNStats are the batch statistics of a BatchNormTrain node, each shaped
// [C]. They are side outputs: autodiff does not differentiate through them.
type BNStats struct {
	// Mean is μ_B.
	Mean *graph.Node
	// Variance is the biased σ²_B, the one y is normalized with.
	Variance *graph.Node
	// InvStd is 1/sqrt(σ²_B + ε), as the gradient uses it.
	InvStd *graph.Node
	// MovingVariance is the variance to average into a moving variance:
	// Variance itself, or with BNOptions.Unbiased the unbiased estimate
	// σ²_B·m/(m−1).
	MovingVariance *graph.Node
}

// BatchNormStats returns the batch statistics of y, a node made by
// BatchNormTrain. Any other node is an error recorded on its graph.
func BatchNormStats(y *graph.Node) BNStats {
	if y == nil {
		return BNStats{}
	}
	op, ok := y.Op().(bnTrainOp)
	if !ok && !y.IsPoisoned() {
		p := fail(bnTrainOp{}, []*graph.Node{y}, graph.ErrArg, "%q is a %s, not the output of BatchNormTrain", y.Name(), y.Op().Name())
		return BNStats{p, p, p, p}
	}
	s := BNStats{Mean: graph.Output(y, 1), Variance: graph.Output(y, 2), InvStd: graph.Output(y, 3)}
	s.MovingVariance = s.Variance
	if op.unbiased {
		s.MovingVariance = graph.Output(y, 4)
	}
	return s
}

// bnTrainOp: inputs x, γ, β; outputs y, μ_B, σ²_B, 1/sqrt(σ²_B+ε) and, when
// unbiased, σ²_B·m/(m−1).
type bnTrainOp struct {
	axis     int // in [1, rank)
	eps      float64
	unbiased bool
}

func (bnTrainOp) Name() string { return "batch_norm_train" }

func (op bnTrainOp) Attrs() string {
	s := fmt.Sprintf("axis=%d eps=%g", op.axis, op.eps)
	if op.unbiased {
		s += " unbiased"
	}
	return s
}

func (op bnTrainOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	out, err := op.OutputShapes(in)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// OutputShapes checks x, γ and β, and, once the number m of values per
// channel is known, that there is at least one (two when unbiased). The
// machine calls it with the concrete shapes before running anything, so a
// batch that is too small is refused before any instruction (in particular
// any moving-average Assign) has run.
func (op bnTrainOp) OutputShapes(in []graph.Shape) ([]graph.Shape, error) {
	if err := checkInputs("batch_norm_train", in, 3); err != nil {
		return nil, err
	}
	c, err := bnChannels(in[0], op.axis, []string{"gamma", "beta"}, in[1:])
	if err != nil {
		return nil, err
	}
	switch m := bnCount(in[0], op.axis); {
	case m == 0:
		return nil, graph.Errorf(graph.ErrShape, "input %v has no values per channel: batch statistics need at least one", in[0])
	case m == 1 && op.unbiased:
		return nil, graph.Errorf(graph.ErrShape, "expected more than 1 value per channel when training, got input shape %v (PyTorch convention: the unbiased running variance σ²·m/(m−1) needs m ≥ 2)", in[0])
	}
	ch := graph.Shape{c}
	out := []graph.Shape{in[0].Clone(), ch, ch.Clone(), ch.Clone()}
	if op.unbiased {
		out = append(out, ch.Clone())
	}
	return out, nil
}

func (op bnTrainOp) Bind32(a *kernel.Args[float32]) func() { return bindBNTrain(op, a) }
func (op bnTrainOp) Bind64(a *kernel.Args[float64]) func() { return bindBNTrain(op, a) }

// VJP returns x̄, γ̄ and β̄ of §4.1 from one batch_norm_grad node, which
// reuses the saved mean and inverse standard deviation.
func (op bnTrainOp) VJP(n, gy *graph.Node) []*graph.Node {
	g := add(bnGradOp{axis: op.axis}, n.Input(0), n.Input(1), gy, graph.Output(n, 1), graph.Output(n, 3))
	return []*graph.Node{g, graph.Output(g, 1), graph.Output(g, 2)}
}

// bnLayout views a shape as [outer, C, inner] around the channel axis.
type bnLayout struct{ outer, c, inner int }

func newBNLayout(shape []int, axis int) bnLayout {
	return bnLayout{outer: kernel.Size(shape[:axis]), c: shape[axis], inner: kernel.Size(shape[axis+1:])}
}

// m is the number of values per channel.
func (l bnLayout) m() int { return l.outer * l.inner }

// grain is the number of channels below which a loop doing passes sweeps
// over each channel's values stays on one goroutine.
func (l bnLayout) grain(passes int) int {
	return max(1, kernel.ElementGrain/max(1, passes*l.m()))
}

// channelSums adds into acc[c−c0], for every channel c in [c0, c1), the
// sum of the channel's values v of x, or, when mu is not nil, the sum of
// (v − mu[c−c0])². acc is not cleared first.
func channelSums[T kernel.Float](l bnLayout, x []T, c0, c1 int, acc, mu []float64) {
	if l.inner == 1 {
		// channels last: rows of x hold one value of every channel; four
		// rows at a time, so that acc is read and written once per four
		// values
		n := c1 - c0
		acc := acc[:n]
		o := 0
		for ; o+4 <= l.outer; o += 4 {
			r0 := x[o*l.c+c0:][:n]
			r1 := x[(o+1)*l.c+c0:][:n]
			r2 := x[(o+2)*l.c+c0:][:n]
			r3 := x[(o+3)*l.c+c0:][:n]
			if mu == nil {
				for j, v := range r0 {
					acc[j] += (float64(v) + float64(r1[j])) + (float64(r2[j]) + float64(r3[j]))
				}
				continue
			}
			mu := mu[:n]
			for j, v := range r0 {
				m := mu[j]
				d0, d1, d2, d3 := float64(v)-m, float64(r1[j])-m, float64(r2[j])-m, float64(r3[j])-m
				acc[j] += (d0*d0 + d1*d1) + (d2*d2 + d3*d3)
			}
		}
		for ; o < l.outer; o++ {
			row := x[o*l.c+c0:][:n]
			if mu == nil {
				for j, v := range row {
					acc[j] += float64(v)
				}
				continue
			}
			mu := mu[:n]
			for j, v := range row {
				d := float64(v) - mu[j]
				acc[j] += d * d
			}
		}
		return
	}
	for o := 0; o < l.outer; o++ {
		for c := c0; c < c1; c++ {
			off := (o*l.c + c) * l.inner
			seg := x[off : off+l.inner]
			var s float64
			if mu == nil {
				for _, v := range seg {
					s += float64(v)
				}
			} else {
				m := mu[c-c0]
				for _, v := range seg {
					d := float64(v) - m
					s += d * d
				}
			}
			acc[c-c0] += s
		}
	}
}

func bindBNTrain[T kernel.Float](op bnTrainOp, a *kernel.Args[T]) func() {
	l := newBNLayout(a.In[0], op.axis)
	m := l.m()
	if m == 0 || (op.unbiased && m < 2) {
		// OutputShapes refuses these shapes before binding; a program
		// built some other way still gets an error rather than NaNs
		status, shape := a.Status, a.In[0]
		return func() {
			status.Fail("nodes: batch_norm_train: %d values per channel in input %v: need at least %d", m, shape, 1+btoi(op.unbiased))
		}
	}
	x, gamma, beta := a.Src[0], a.Src[1], a.Src[2]
	y, mean, variance, inv := a.Dst[0], a.Dst[1], a.Dst[2], a.Dst[3]
	var unbiased []T
	if op.unbiased {
		unbiased = a.Dst[4]
	}
	eps, fm := op.eps, float64(m)
	mu := make([]float64, l.c)    // μ_B
	scale := make([]float64, l.c) // Σ(x−μ)², then γ/sqrt(σ²+ε)
	shift := make([]float64, l.c) // β
	body := func(c0, c1 int) {
		mu, scale, shift := mu[c0:c1], scale[c0:c1], shift[c0:c1]
		clear(mu)
		channelSums(l, x, c0, c1, mu, nil)
		for j := range mu {
			mu[j] /= fm
		}
		clear(scale)
		channelSums(l, x, c0, c1, scale, mu)
		for j := range mu {
			c := c0 + j
			v := scale[j] / fm
			is := 1 / math.Sqrt(v+eps)
			mean[c], variance[c], inv[c] = T(mu[j]), T(v), T(is)
			if unbiased != nil {
				unbiased[c] = T(scale[j] / (fm - 1))
			}
			scale[j] = float64(gamma[c]) * is
			shift[j] = float64(beta[c])
		}
		bnAffine(l, x, y, c0, c1, mu, scale, shift)
	}
	grain := l.grain(3)
	return func() { kernel.For(l.c, grain, body) }
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bnAffine writes y = (x − mu)·scale + shift for the channels [c0, c1)
// (mu, scale and shift indexed from c0).
func bnAffine[T kernel.Float](l bnLayout, x, y []T, c0, c1 int, mu, scale, shift []float64) {
	if l.inner == 1 {
		n := c1 - c0
		mu, scale, shift = mu[:n], scale[:n], shift[:n]
		for o := 0; o < l.outer; o++ {
			off := o*l.c + c0
			src := x[off : off+n]
			dst, mu, scale, shift := y[off:off+len(src)], mu[:len(src)], scale[:len(src)], shift[:len(src)]
			for j, v := range src {
				dst[j] = T((float64(v)-mu[j])*scale[j] + shift[j])
			}
		}
		return
	}
	for o := 0; o < l.outer; o++ {
		for c := c0; c < c1; c++ {
			off := (o*l.c + c) * l.inner
			src := x[off : off+l.inner]
			dst := y[off : off+len(src)]
			m, s, b := mu[c-c0], scale[c-c0], shift[c-c0]
			for i, v := range src {
				dst[i] = T((float64(v)-m)*s + b)
			}
		}
	}
}

// bnGradOp is the closed-form VJP of batch_norm_train (SEMANTICS §4.1):
// inputs x, γ, ḡ, μ_B, 1/sqrt(σ²_B+ε); outputs x̄, γ̄, β̄:
//
//	β̄ = Σ ḡ, γ̄ = Σ ḡ·x̂, x̄ = γ/sqrt(σ²_B+ε)·(ḡ − β̄/m − x̂·γ̄/m)
//
// with x̂ = (x − μ_B)/sqrt(σ²_B+ε), sums over each channel's m values.
type bnGradOp struct{ axis int }

func (bnGradOp) Name() string { return "batch_norm_grad" }

func (op bnGradOp) Attrs() string { return fmt.Sprintf("axis=%d", op.axis) }

func (op bnGradOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	out, err := op.OutputShapes(in)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func (op bnGradOp) OutputShapes(in []graph.Shape) ([]graph.Shape, error) {
	if err := checkInputs("batch_norm_grad", in, 5); err != nil {
		return nil, err
	}
	if !in[2].Equal(in[0]) {
		return nil, graph.Errorf(graph.ErrShape, "upstream gradient has shape %v, input %v", in[2], in[0])
	}
	c, err := bnChannels(in[0], op.axis, []string{"gamma", "mean", "inverse std"}, []graph.Shape{in[1], in[3], in[4]})
	if err != nil {
		return nil, err
	}
	ch := graph.Shape{c}
	return []graph.Shape{in[0].Clone(), ch, ch.Clone()}, nil
}

// VJP refuses: second-order derivatives through BatchNormTrain are not
// implemented. The refusal is an error recorded on the graph rather than a
// NoGradient, because autodiff skips an op without a gradient silently when
// another path reaches the same input, which would make a Hessian-vector
// product through BatchNorm quietly wrong.
func (op bnGradOp) VJP(n, _ *graph.Node) []*graph.Node {
	p := n.Graph().Fail(op, n.Inputs(), graph.Errorf(graph.ErrGradient, "second-order derivatives through BatchNormTrain are not supported: its closed-form gradient %q has no gradient of its own", n.Name()))
	return []*graph.Node{p, p, p, p, p}
}

func (op bnGradOp) Bind32(a *kernel.Args[float32]) func() { return bindBNGrad(op, a) }
func (op bnGradOp) Bind64(a *kernel.Args[float64]) func() { return bindBNGrad(op, a) }

func bindBNGrad[T kernel.Float](op bnGradOp, a *kernel.Args[T]) func() {
	l := newBNLayout(a.In[0], op.axis)
	x, gamma, gy, mean, inv := a.Src[0], a.Src[1], a.Src[2], a.Src[3], a.Src[4]
	gx, ggamma, gbeta := a.Dst[0], a.Dst[1], a.Dst[2]
	fm := float64(max(1, l.m()))
	mu := make([]float64, l.c)  // μ_B
	sd := make([]float64, l.c)  // Σ (x − μ̃)
	sg := make([]float64, l.c)  // Σ ḡ, then β̄/m
	sgx := make([]float64, l.c) // Σ ḡ·(x − μ̃), then γ̄/(m·sqrt(σ²+ε))
	k := make([]float64, l.c)   // γ/sqrt(σ²+ε)
	body := func(c0, c1 int) {
		n := c1 - c0
		mu, sd, sg, sgx, k := mu[c0:c1], sd[c0:c1], sg[c0:c1], sgx[c0:c1], k[c0:c1]
		// The saved mean μ̃ is μ_B rounded to T; in float32 that is off by
		// up to 6e-8·|μ_B|, a large error in x − μ when |μ_B| ≫ σ_B. The
		// first pass also sums x − μ̃ (exact in float64) to recover
		// μ_B = μ̃ + Σ(x − μ̃)/m, and corrects Σ ḡ·(x − μ̃) to Σ ḡ·(x − μ_B).
		for j := range mu {
			mu[j] = float64(mean[c0+j])
		}
		clear(sd)
		clear(sg)
		clear(sgx)
		if l.inner == 1 {
			// two rows at a time (see channelSums); equal lengths, so that
			// the loops have no bounds checks
			mu, sd, sg, sgx := mu[:n], sd[:n], sg[:n], sgx[:n]
			o := 0
			for ; o+2 <= l.outer; o += 2 {
				x0, g0 := x[o*l.c+c0:][:n], gy[o*l.c+c0:][:n]
				x1, g1 := x[(o+1)*l.c+c0:][:n], gy[(o+1)*l.c+c0:][:n]
				for j, g := range g0 {
					m := mu[j]
					f0, f1 := float64(g), float64(g1[j])
					d0, d1 := float64(x0[j])-m, float64(x1[j])-m
					sd[j] += d0 + d1
					sg[j] += f0 + f1
					sgx[j] += f0*d0 + f1*d1
				}
			}
			for ; o < l.outer; o++ {
				xs, gs := x[o*l.c+c0:][:n], gy[o*l.c+c0:][:n]
				for j, g := range gs {
					fg, d := float64(g), float64(xs[j])-mu[j]
					sd[j] += d
					sg[j] += fg
					sgx[j] += fg * d
				}
			}
		} else {
			for o := 0; o < l.outer; o++ {
				for c := c0; c < c1; c++ {
					off := (o*l.c + c) * l.inner
					gs := gy[off : off+l.inner]
					xs := x[off : off+len(gs)]
					m := mu[c-c0]
					var s, sx, sdx float64
					for i, g := range gs {
						fg, d := float64(g), float64(xs[i])-m
						sdx += d
						s += fg
						sx += fg * d
					}
					sd[c-c0] += sdx
					sg[c-c0] += s
					sgx[c-c0] += sx
				}
			}
		}
		for j := range mu {
			c := c0 + j
			delta := sd[j] / fm
			mu[j] += delta
			sgx[j] -= delta * sg[j]
			is := float64(inv[c])
			gbeta[c] = T(sg[j])
			ggamma[c] = T(sgx[j] * is)
			k[j] = float64(gamma[c]) * is
			sg[j] /= fm
			sgx[j] *= is * is / fm
		}
		// x̄ = k·(ḡ − β̄/m − (x − μ)·γ̄/(m·sqrt(σ²+ε)))
		if l.inner == 1 {
			for o := 0; o < l.outer; o++ {
				off := o*l.c + c0
				gs := gy[off : off+n]
				xs, ds, k, mu, sg, sgx := x[off:off+len(gs)], gx[off:off+len(gs)], k[:len(gs)], mu[:len(gs)], sg[:len(gs)], sgx[:len(gs)]
				for j, g := range gs {
					ds[j] = T(k[j] * (float64(g) - sg[j] - (float64(xs[j])-mu[j])*sgx[j]))
				}
			}
			return
		}
		for o := 0; o < l.outer; o++ {
			for c := c0; c < c1; c++ {
				off := (o*l.c + c) * l.inner
				gs := gy[off : off+l.inner]
				xs, ds := x[off:off+len(gs)], gx[off:off+len(gs)]
				j := c - c0
				kk, a, b, m := k[j], sg[j], sgx[j], mu[j]
				for i, g := range gs {
					ds[i] = T(kk * (float64(g) - a - (float64(xs[i])-m)*b))
				}
			}
		}
	}
	grain := l.grain(2)
	return func() { kernel.For(l.c, grain, body) }
}

// BatchNormInfer normalizes x with given statistics, the moving mean and
// variance at inference (SEMANTICS §4.3), along the last axis:
//
//	y = γ·(x − mean)/sqrt(variance + ε) + β
//
// gamma, beta, mean and variance are shaped [C]. eps is BNOptions.Epsilon
// (0 means 1e-3). Any batch size works, 1 included. It is
// BatchNormInferWith(x, gamma, beta, mean, variance, BNOptions{Epsilon: eps}).
func BatchNormInfer(x, gamma, beta, mean, variance *graph.Node, eps float64) *graph.Node {
	return BatchNormInferWith(x, gamma, beta, mean, variance, BNOptions{Epsilon: eps})
}

// BatchNormInferWith is BatchNormInfer with options: the channel axis and
// ε (opts.Unbiased does not apply and is ignored). It is differentiable for
// every input: x̄ = ḡ·γ/sqrt(v+ε), γ̄ = Σ ḡ·x̂, β̄ = Σ ḡ, and, although the
// moving statistics are constants to a training step, for the mean and the
// variance too. Its gradient is made of graph ops and can be differentiated
// again.
func BatchNormInferWith(x, gamma, beta, mean, variance *graph.Node, opts BNOptions) *graph.Node {
	op := bnInferOp{}
	in := []*graph.Node{x, gamma, beta, mean, variance}
	if x == nil || x.IsPoisoned() {
		return add(op, in...)
	}
	axis, eps, err := bnResolve(opts, x.Shape().Rank())
	if err != nil {
		return x.Graph().Fail(op, in, err)
	}
	return add(bnInferOp{axis: axis, eps: eps}, in...)
}

// bnInferOp: inputs x, γ, β, mean, variance; output y.
type bnInferOp struct {
	axis int
	eps  float64
}

func (bnInferOp) Name() string { return "batch_norm_infer" }

func (op bnInferOp) Attrs() string { return fmt.Sprintf("axis=%d eps=%g", op.axis, op.eps) }

func (op bnInferOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("batch_norm_infer", in, 5); err != nil {
		return nil, err
	}
	if _, err := bnChannels(in[0], op.axis, []string{"gamma", "beta", "moving mean", "moving variance"}, in[1:]); err != nil {
		return nil, err
	}
	return in[0].Clone(), nil
}

func (op bnInferOp) Bind32(a *kernel.Args[float32]) func() { return bindBNInfer(op, a) }
func (op bnInferOp) Bind64(a *kernel.Args[float64]) func() { return bindBNInfer(op, a) }

func bindBNInfer[T kernel.Float](op bnInferOp, a *kernel.Args[T]) func() {
	l := newBNLayout(a.In[0], op.axis)
	x, gamma, beta, mean, variance := a.Src[0], a.Src[1], a.Src[2], a.Src[3], a.Src[4]
	y := a.Dst[0]
	eps := op.eps
	mu := make([]float64, l.c)
	scale := make([]float64, l.c)
	shift := make([]float64, l.c)
	body := func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			mu[c] = float64(mean[c])
			scale[c] = float64(gamma[c]) / math.Sqrt(float64(variance[c])+eps)
			shift[c] = float64(beta[c])
		}
		bnAffine(l, x, y, c0, c1, mu[c0:c1], scale[c0:c1], shift[c0:c1])
	}
	grain := l.grain(1)
	return func() { kernel.For(l.c, grain, body) }
}

// VJP of y = γ·(x − μ)·s + β with s = 1/sqrt(v + ε) and x̂ = (x − μ)·s:
//
//	x̄ = ḡ·γ·s, γ̄ = Σ ḡ·x̂, β̄ = Σ ḡ, μ̄ = −β̄·γ·s, v̄ = −½·γ̄·γ·s²
func (op bnInferOp) VJP(n, gy *graph.Node) []*graph.Node {
	x, gamma, mean, variance := n.Input(0), n.Input(1), n.Input(3), n.Input(4)
	g := x.Graph()
	r := x.Shape().Rank()
	bc := func(v *graph.Node) *graph.Node { return bnBroadcast(v, op.axis, r) }
	var axes []int
	for i := 0; i < r; i++ {
		if i != op.axis {
			axes = append(axes, i)
		}
	}
	s := Reciprocal(Sqrt(Add(variance, g.Scalar(op.eps))))
	gs := Mul(gamma, s)
	xhat := Mul(Sub(x, bc(mean)), bc(s))
	gBeta := Sum(gy, false, axes...)
	gGamma := Sum(Mul(gy, xhat), false, axes...)
	gx := Mul(gy, bc(gs))
	gMean := Neg(Mul(gBeta, gs))
	gVar := Mul(Mul(gGamma, Mul(gs, s)), g.Scalar(-0.5))
	return []*graph.Node{gx, gGamma, gBeta, gMean, gVar}
}

// bnBroadcast reshapes a [C] vector so that it broadcasts along the channel
// axis of a rank-r value: [C, 1, …, 1] with r−1−axis trailing ones.
func bnBroadcast(v *graph.Node, axis, r int) *graph.Node {
	if axis == r-1 {
		return v
	}
	shape := graph.Shape{v.Shape()[0]}
	for i := axis + 1; i < r; i++ {
		shape = append(shape, 1)
	}
	return Reshape(v, shape)
}

// BatchNormInfo describes a batch-norm op for compiler passes (folding an
// inference BN into the preceding dense layer, fusing BN with an
// activation), which cannot see the ops' fields.
type BatchNormInfo struct {
	// Train is true for BatchNormTrain's op, false for BatchNormInfer's.
	Train bool
	// Axis is the channel axis, counted from 0; Epsilon is ε.
	Axis    int
	Epsilon float64
	// Unbiased is BNOptions.Unbiased (training op only).
	Unbiased bool
}

// BatchNormOf reports whether op is the op of a BatchNormTrain or
// BatchNormInfer node, and its settings.
func BatchNormOf(op graph.Op) (BatchNormInfo, bool) {
	switch op := op.(type) {
	case bnTrainOp:
		return BatchNormInfo{Train: true, Axis: op.axis, Epsilon: op.eps, Unbiased: op.unbiased}, true
	case bnInferOp:
		return BatchNormInfo{Axis: op.axis, Epsilon: op.eps}, true
	}
	return BatchNormInfo{}, false
}
