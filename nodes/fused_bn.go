package nodes

import (
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// FusedBNAct is BatchNormTrain followed by an element-wise activation, as
// one instruction. Its outputs are the activation's output, then
// BatchNormTrain's outputs 1.. (the batch statistics, in the same order),
// then, with KeepZ, the normalized value z before the activation (which an
// activation gradient reads).
type FusedBNAct struct {
	BN    graph.Op // BatchNormTrain's op
	Act   graph.Op // a unary element-wise op
	KeepZ bool
	From  []string
}

// Name returns "batch_norm_act".
func (op *FusedBNAct) Name() string { return "batch_norm_act" }

// Attrs shows the BN settings and the activation.
func (op *FusedBNAct) Attrs() string {
	s := []string{graph.OpString(op.BN), "act=" + graph.OpString(op.Act)}
	if op.KeepZ {
		s = append(s, "keep_z")
	}
	return strings.Join(s, " ")
}

// InferShape is BatchNormTrain's.
func (op *FusedBNAct) InferShape(in []graph.Shape) (graph.Shape, error) {
	return op.BN.InferShape(in)
}

// OutputShapes are BatchNormTrain's, plus z with KeepZ.
func (op *FusedBNAct) OutputShapes(in []graph.Shape) ([]graph.Shape, error) {
	out, err := op.BN.(graph.MultiOp).OutputShapes(in)
	if err != nil {
		return nil, err
	}
	if op.KeepZ {
		out = append(out, out[0].Clone())
	}
	return out, nil
}

// NoGradient: fused ops are made after autodiff.
func (op *FusedBNAct) NoGradient() string {
	return "fused ops are made by the compiler, after autodiff"
}

// Bind32 binds the kernel.
func (op *FusedBNAct) Bind32(a *kernel.Args[float32]) func() { return bindBNAct(op, a) }

// Bind64 binds the kernel.
func (op *FusedBNAct) Bind64(a *kernel.Args[float64]) func() { return bindBNAct(op, a) }

func bindBNAct[T kernel.Float](op *FusedBNAct, a *kernel.Args[T]) func() {
	y := a.Dst[0]
	z := y
	nbn := len(a.Dst)
	if op.KeepZ {
		nbn--
		z = a.Dst[nbn]
	}
	bnArgs := &kernel.Args[T]{In: a.In, Out: a.Out[:nbn], Src: a.Src, Dst: append([][]T{z}, a.Dst[1:nbn]...), Status: a.Status}
	bn := bindBNTrain(op.BN.(bnTrainOp), bnArgs)
	act := unaryRow[T](op.Act)
	n := len(y)
	sweep := func(lo, hi int) { act(y[lo:hi], z[lo:hi]) }
	return func() {
		bn()
		kernel.For(n, kernel.ElementGrain/4, sweep)
	}
}

// FusedBNActGrad is an activation's gradient followed by BatchNormTrain's
// closed-form gradient, as one instruction: inputs x, γ, z (the
// activation's input), ḡ (the upstream gradient of the activation's
// output), μ_B and 1/sqrt(σ²_B+ε); outputs x̄, γ̄, β̄.
type FusedBNActGrad struct {
	BNGrad  graph.Op // batch_norm_grad's op
	ActGrad graph.Op // the activation's gradient op (inputs z, ḡ)
	From    []string
}

// Name returns "batch_norm_act_grad".
func (op *FusedBNActGrad) Name() string { return "batch_norm_act_grad" }

// Attrs shows the activation gradient.
func (op *FusedBNActGrad) Attrs() string { return "act=" + graph.OpString(op.ActGrad) }

// InferShape is batch_norm_grad's, with z and ḡ of x's shape.
func (op *FusedBNActGrad) InferShape(in []graph.Shape) (graph.Shape, error) {
	out, err := op.OutputShapes(in)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// OutputShapes are batch_norm_grad's.
func (op *FusedBNActGrad) OutputShapes(in []graph.Shape) ([]graph.Shape, error) {
	if len(in) != 6 {
		return nil, graph.Errorf(graph.ErrArg, "batch_norm_act_grad takes 6 inputs, got %d", len(in))
	}
	if !in[2].Equal(in[0]) {
		return nil, graph.Errorf(graph.ErrShape, "z has shape %v, x %v", in[2], in[0])
	}
	return op.BNGrad.(graph.MultiOp).OutputShapes([]graph.Shape{in[0], in[1], in[3], in[4], in[5]})
}

// NoGradient: fused ops are made after autodiff.
func (op *FusedBNActGrad) NoGradient() string {
	return "fused ops are made by the compiler, after autodiff"
}

// Bind32 binds the kernel.
func (op *FusedBNActGrad) Bind32(a *kernel.Args[float32]) func() { return bindBNActGrad(op, a) }

// Bind64 binds the kernel.
func (op *FusedBNActGrad) Bind64(a *kernel.Args[float64]) func() { return bindBNActGrad(op, a) }

func bindBNActGrad[T kernel.Float](op *FusedBNActGrad, a *kernel.Args[T]) func() {
	z, gy := a.Src[2], a.Src[3]
	g := make([]T, len(z)) // the activation's gradient, the BN gradient's upstream
	bnArgs := &kernel.Args[T]{
		In:     [][]int{a.In[0], a.In[1], a.In[0], a.In[4], a.In[5]},
		Out:    a.Out,
		Src:    [][]T{a.Src[0], a.Src[1], g, a.Src[4], a.Src[5]},
		Dst:    a.Dst,
		Status: a.Status,
	}
	bn := bindBNGrad(op.BNGrad.(bnGradOp), bnArgs)
	act := actGradRowOf[T](op.ActGrad.(actGradOp))
	n := len(g)
	sweep := func(lo, hi int) { act(g[lo:hi], z[lo:hi], gy[lo:hi]) }
	return func() {
		kernel.For(n, kernel.ElementGrain/4, sweep)
		bn()
	}
}

// IsBatchNormGrad reports whether op is BatchNormTrain's gradient op.
func IsBatchNormGrad(op graph.Op) bool {
	_, ok := op.(bnGradOp)
	return ok
}

// IsActivationGrad reports whether op is the gradient op of an element-wise
// activation (inputs z and ḡ), which FusedBNActGrad can run.
func IsActivationGrad(op graph.Op) bool {
	_, ok := op.(actGradOp)
	return ok
}
