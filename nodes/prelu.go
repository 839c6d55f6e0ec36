package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The leaky ReLUs whose slopes are values of the graph: PReLU, with a
// learnable α broadcast against x, and LeakyReLUWithSlopes, with constant
// slopes (RReLU's draws, SEMANTICS §1.3, §1.4). Both are y = x where x > 0
// and slope·x elsewhere; the slope operand broadcasts numpy-style
// (trailing-aligned) to x's shape and may not enlarge it. Forward and
// gradient kernels walk the output in rows along which the slope is either
// one value or a contiguous vector.

// PReLU returns x where x > 0 and alpha·x elsewhere, alpha broadcast against
// x numpy-style (trailing-aligned): a scalar α, one per feature ([F] on
// [N,F]), one per channel shared over the spatial axes ([1,1,C] on
// [N,H,W,C]), or Keras's default of one per element but the batch ([T,F] on
// [N,T,F]). alpha's shape must broadcast to x's without enlarging it, or an
// error is recorded.
//
// Gradients: x̄ = ḡ where x > 0 and α·ḡ elsewhere (at x = 0 included, the
// kink rule: PReLU'(0) = α as in PyTorch; Keras computes relu(x) − α·relu(−x)
// and gets 0); ᾱ = Σ (x > 0 ? 0 : x·ḡ) summed over every axis along which α
// is broadcast, the batch axis included. α is not constrained: Keras
// initializes it to 0 (PReLU starts as ReLU), PyTorch to 0.25.
func PReLU(x, alpha *graph.Node) *graph.Node { return add(preluOp{}, x, alpha) }

// LeakyReLUWithSlopes returns x where x > 0 and slopes·x elsewhere, slopes
// broadcast against x as in PReLU. The slopes are constants for autodiff:
// x̄ = ḡ where x > 0 and slopes·ḡ elsewhere (at x = 0 included), and slopes
// get no gradient. RReLU in training mode feeds it the slopes it draws.
func LeakyReLUWithSlopes(x, slopes *graph.Node) *graph.Node {
	return add(preluOp{fixed: true}, x, slopes)
}

// preluOp is PReLU, or LeakyReLUWithSlopes when fixed (no gradient for the
// slopes).
type preluOp struct{ fixed bool }

func (op preluOp) Name() string {
	if op.fixed {
		return "leaky_relu_slopes"
	}
	return "prelu"
}

func (op preluOp) slopeName() string {
	if op.fixed {
		return "slopes"
	}
	return "alpha"
}

func (op preluOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return slopeShape(op.Name(), op.slopeName(), in, 2)
}

// slopeShape is the shape rule of the PReLU ops: n inputs, the second (the
// slopes) broadcasting to the first without enlarging it, the others of the
// first's shape. The output has the first's shape.
func slopeShape(name, slope string, in []graph.Shape, n int) (graph.Shape, error) {
	if err := checkInputs(name, in, n); err != nil {
		return nil, err
	}
	x, a := in[0], in[1]
	if b, err := broadcastShapes(x, a); err != nil || !b.Equal(x) {
		return nil, graph.Errorf(graph.ErrShape, "%s of shape %v does not broadcast to the input's shape %v", slope, a, x)
	}
	for _, s := range in[2:] {
		if !s.Equal(x) {
			return nil, graph.Errorf(graph.ErrShape, "%s needs the input and the gradient of one shape, got %s", name, shapesString(in))
		}
	}
	return x, nil
}

func (op preluOp) Bind32(a *kernel.Args[float32]) func() { return bindPReLU(a) }
func (op preluOp) Bind64(a *kernel.Args[float64]) func() { return bindPReLU(a) }

// VJP: x̄ by preluGradOp; ᾱ = SumTo(x > 0 ? 0 : x·ḡ, α), none for fixed
// slopes.
func (op preluOp) VJP(n, gy *graph.Node) []*graph.Node {
	x, a := n.Input(0), n.Input(1)
	gx := add(preluGradOp(op), x, a, gy)
	if op.fixed {
		return []*graph.Node{gx, nil}
	}
	return []*graph.Node{gx, SumTo(add(preluAlphaGradOp{}, x, gy), a)}
}

// bindSlopeRows binds a kernel over the elements of out (contiguous) that
// reads a slope operand of shape as broadcast to out: row(lo, hi, ao, vec)
// handles out[lo:hi], whose slopes start at offset ao and run along the row
// (vec) or stay at one value (!vec). Rows, or pieces of a single long row,
// are spread over the worker pool.
func bindSlopeRows(out, as []int, row func(lo, hi, ao int, vec bool)) func() {
	if kernel.Size(out) == 0 {
		return func() {}
	}
	l := kernel.NewLoop(out, out, as)
	inner, rows := l.Inner(), l.Rows()
	vec := l.InnerStride(1) == 1
	if rows == 1 {
		split := func(lo, hi int) {
			ao := 0
			if vec {
				ao = lo
			}
			row(lo, hi, ao, vec)
		}
		return func() { kernel.For(inner, kernel.ElementGrain, split) }
	}
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := l.Offsets(r)
			row(o[0], o[0]+inner, o[1], vec)
		}
	}
	grain := max(1, kernel.ElementGrain/max(1, inner))
	return func() { kernel.For(rows, grain, body) }
}

// The PReLU kernels pick the slope or 1 with an index computed by a
// conditional move rather than a branch on the sign of x (see relu.go).

func bindPReLU[T kernel.Float](a *kernel.Args[T]) func() {
	d, x, al := a.Dst[0], a.Src[0], a.Src[1]
	return bindSlopeRows(a.Out[0], a.In[1], func(lo, hi, ao int, vec bool) {
		dd, xx := d[lo:hi], x[lo:hi]
		xx = xx[:len(dd)]
		if vec {
			aa := al[ao : ao+len(dd)]
			for i, v := range xx {
				k := 0
				if v > 0 {
					k = 1
				}
				slope := [2]T{aa[i], 1}
				dd[i] = v * slope[k]
			}
			return
		}
		slope := [2]T{al[ao], 1}
		for i, v := range xx {
			k := 0
			if v > 0 {
				k = 1
			}
			dd[i] = v * slope[k]
		}
	})
}

// preluGradOp is the x-gradient of preluOp: inputs x, α, ḡ; output
// ḡ where x > 0 and α·ḡ elsewhere.
type preluGradOp preluOp

func (op preluGradOp) Name() string { return preluOp(op).Name() + "_grad" }

func (op preluGradOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return slopeShape(op.Name(), preluOp(op).slopeName(), in, 3)
}

func (op preluGradOp) Bind32(a *kernel.Args[float32]) func() { return bindPReLUGrad(a) }
func (op preluGradOp) Bind64(a *kernel.Args[float64]) func() { return bindPReLUGrad(a) }

// VJP with upstream ḡ₂: zero for x (almost everywhere); ḡ₂·[x ≤ 0]·ḡ
// summed to α's shape for α (none for fixed slopes); the same op for ḡ.
func (op preluGradOp) VJP(n, g2 *graph.Node) []*graph.Node {
	x, a, gy := n.Input(0), n.Input(1), n.Input(2)
	dgy := add(op, x, a, g2)
	var da *graph.Node
	if !op.fixed {
		da = SumTo(nonPositivePart(x, Mul(gy, g2)), a)
	}
	return []*graph.Node{ZerosLike(x), da, dgy}
}

// nonPositivePart returns v where x ≤ 0 (or NaN) and 0 where x > 0.
func nonPositivePart(x, v *graph.Node) *graph.Node {
	zero := x.Graph().Scalar(0)
	return Where(Greater(x, zero), zero, v)
}

func bindPReLUGrad[T kernel.Float](a *kernel.Args[T]) func() {
	d, x, al, g := a.Dst[0], a.Src[0], a.Src[1], a.Src[2]
	return bindSlopeRows(a.Out[0], a.In[1], func(lo, hi, ao int, vec bool) {
		dd, xx, gg := d[lo:hi], x[lo:hi], g[lo:hi]
		xx, gg = xx[:len(dd)], gg[:len(dd)]
		if vec {
			aa := al[ao : ao+len(dd)]
			for i, v := range xx {
				k := 0
				if v > 0 {
					k = 1
				}
				slope := [2]T{aa[i], 1}
				dd[i] = gg[i] * slope[k]
			}
			return
		}
		slope := [2]T{al[ao], 1}
		for i, v := range xx {
			k := 0
			if v > 0 {
				k = 1
			}
			dd[i] = gg[i] * slope[k]
		}
	})
}

// preluAlphaGradOp is the element-wise part of PReLU's α-gradient: inputs
// x and ḡ, output 0 where x > 0 and x·ḡ elsewhere, shaped like x (SumTo
// then reduces it to α's shape).
type preluAlphaGradOp struct{}

func (preluAlphaGradOp) Name() string { return "prelu_alpha_grad" }

func (op preluAlphaGradOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	return sameShapes(op.Name(), in, 2)
}

func (preluAlphaGradOp) Bind32(a *kernel.Args[float32]) func() { return bindPReLUAlphaGrad(a) }
func (preluAlphaGradOp) Bind64(a *kernel.Args[float64]) func() { return bindPReLUAlphaGrad(a) }

// VJP with upstream ḡ₂: ḡ₂·ḡ where x ≤ 0 for x (almost everywhere); the
// same op for ḡ.
func (op preluAlphaGradOp) VJP(n, g2 *graph.Node) []*graph.Node {
	x, gy := n.Input(0), n.Input(1)
	return []*graph.Node{nonPositivePart(x, Mul(gy, g2)), add(op, x, g2)}
}

func bindPReLUAlphaGrad[T kernel.Float](a *kernel.Args[T]) func() {
	d, x, g := a.Dst[0], a.Src[0], a.Src[1]
	body := func(lo, hi int) {
		dd, xx, gg := d[lo:hi], x[lo:hi], g[lo:hi]
		xx, gg = xx[:len(dd)], gg[:len(dd)]
		for i, v := range xx {
			k := 0
			if v > 0 {
				k = 1
			}
			pick := [2]T{v * gg[i], 0}
			dd[i] = pick[k]
		}
	}
	n := len(d)
	return func() { kernel.For(n, kernel.ElementGrain, body) }
}
