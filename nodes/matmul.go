package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// MatMul returns the matrix product a·b of two rank-2 values.
func MatMul(a, b *graph.Node) *graph.Node { return MatMulT(a, b, false, false) }

// MatMulT returns op(a)·op(b), where op transposes its operand when the flag
// is set: MatMulT(x, w, false, true) is x·wᵀ. The transposes cost nothing;
// they are passed to the GEMM.
func MatMulT(a, b *graph.Node, transA, transB bool) *graph.Node {
	return add(matMulOp{transA: transA, transB: transB}, a, b)
}

type matMulOp struct{ transA, transB bool }

func (matMulOp) Name() string { return "matmul" }

func (op matMulOp) Attrs() string {
	switch {
	case op.transA && op.transB:
		return "Aᵀ,Bᵀ"
	case op.transA:
		return "Aᵀ"
	case op.transB:
		return "Bᵀ"
	}
	return ""
}

// dims returns the rows and columns of op(x).
func dims(s graph.Shape, trans bool) (int, int) {
	if trans {
		return s[1], s[0]
	}
	return s[0], s[1]
}

func (op matMulOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("matmul", in, 2); err != nil {
		return nil, err
	}
	if len(in[0]) != 2 || len(in[1]) != 2 {
		return nil, graph.Errorf(graph.ErrShape, "operands must have rank 2, have %v and %v", in[0], in[1])
	}
	m, k1 := dims(in[0], op.transA)
	k2, n := dims(in[1], op.transB)
	if k1 != k2 {
		if k1 == graph.Batch || k2 == graph.Batch {
			return nil, graph.Errorf(graph.ErrShape, "inner dimensions %v and %v differ: the open batch dimension meets a fixed one", graph.Shape{k1}, graph.Shape{k2})
		}
		return nil, graph.Errorf(graph.ErrShape, "inner dimensions %d and %d differ", k1, k2)
	}
	return graph.Shape{m, n}, nil
}

func (op matMulOp) Bind32(a *kernel.Args[float32]) func() { return bindMatMul(op, a) }
func (op matMulOp) Bind64(a *kernel.Args[float64]) func() { return bindMatMul(op, a) }

func bindMatMul[T kernel.Float](op matMulOp, a *kernel.Args[T]) func() {
	gemm := kernel.Gemm[T]()
	m, k := dims(a.In[0], op.transA)
	_, n := dims(a.In[1], op.transB)
	lda, ldb := a.In[0][1], a.In[1][1]
	x, w, c := a.Src[0], a.Src[1], a.Dst[0]
	ta, tb := op.transA, op.transB
	return func() { gemm(ta, tb, m, n, k, 1, x, lda, w, ldb, 0, c, n) }
}

// VJP for C = op(A)·op(B) with upstream G:
//
//	A·B:   Ā = G·Bᵀ   B̄ = Aᵀ·G
//	Aᵀ·B:  Ā = B·Gᵀ   B̄ = A·G
//	A·Bᵀ:  Ā = G·B    B̄ = Gᵀ·A
//	Aᵀ·Bᵀ: Ā = Bᵀ·Gᵀ  B̄ = Gᵀ·Aᵀ
func (op matMulOp) VJP(n, g *graph.Node) []*graph.Node {
	a, b := n.Input(0), n.Input(1)
	switch {
	case !op.transA && !op.transB:
		return []*graph.Node{MatMulT(g, b, false, true), MatMulT(a, g, true, false)}
	case op.transA && !op.transB:
		return []*graph.Node{MatMulT(b, g, false, true), MatMulT(a, g, false, false)}
	case !op.transA && op.transB:
		return []*graph.Node{MatMulT(g, b, false, false), MatMulT(g, a, true, false)}
	default:
		return []*graph.Node{MatMulT(b, g, true, true), MatMulT(g, a, true, true)}
	}
}
