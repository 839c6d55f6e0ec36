package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The arithmetic family: Add, Sub, Mul, Div with numpy broadcasting, and Neg.
// Each binary op is a shape rule (broadcastShapes), a row kernel run by
// kernel.BindBinary over broadcast strides, and a VJP whose results are
// summed back to each operand's shape (SumTo).

// binaryShape is the shape rule of every broadcasting binary op.
func binaryShape(name string, in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(name, in, 2); err != nil {
		return nil, err
	}
	return broadcastShapes(in[0], in[1])
}

func bindBinary[T kernel.Float](a *kernel.Args[T], row kernel.BinaryRow[T]) func() {
	return kernel.BindBinary(a.Out[0], a.In[0], a.In[1], a.Dst[0], a.Src[0], a.Src[1], row)
}

// Add returns a + b, broadcasting.
func Add(a, b *graph.Node) *graph.Node { return add(addOp{}, a, b) }

type addOp struct{}

func (addOp) Name() string                                     { return "add" }
func (addOp) InferShape(in []graph.Shape) (graph.Shape, error) { return binaryShape("add", in) }
func (addOp) Bind32(a *kernel.Args[float32]) func()            { return bindBinary(a, addRow[float32]()) }
func (addOp) Bind64(a *kernel.Args[float64]) func()            { return bindBinary(a, addRow[float64]()) }

func (addOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{SumTo(gy, n.Input(0)), SumTo(gy, n.Input(1))}
}

// addRow returns the row kernel: kernel.AddRow, as a plain function of T.
func addRow[T kernel.Float]() kernel.BinaryRow[T] { return kernel.AddRowFunc[T]() }

// Sub returns a − b, broadcasting.
func Sub(a, b *graph.Node) *graph.Node { return add(subOp{}, a, b) }

type subOp struct{}

func (subOp) Name() string                                     { return "sub" }
func (subOp) InferShape(in []graph.Shape) (graph.Shape, error) { return binaryShape("sub", in) }
func (subOp) Bind32(a *kernel.Args[float32]) func()            { return bindBinary(a, subRow[float32]()) }
func (subOp) Bind64(a *kernel.Args[float64]) func()            { return bindBinary(a, subRow[float64]()) }

func (subOp) VJP(n, gy *graph.Node) []*graph.Node {
	return []*graph.Node{SumTo(gy, n.Input(0)), SumTo(Neg(gy), n.Input(1))}
}

// subRow returns the row kernel: kernel.SubRow, as a plain function of T.
func subRow[T kernel.Float]() kernel.BinaryRow[T] { return kernel.SubRowFunc[T]() }

// Mul returns a ⊙ b (element-wise), broadcasting.
func Mul(a, b *graph.Node) *graph.Node { return add(mulOp{}, a, b) }

type mulOp struct{}

func (mulOp) Name() string                                     { return "mul" }
func (mulOp) InferShape(in []graph.Shape) (graph.Shape, error) { return binaryShape("mul", in) }
func (mulOp) Bind32(a *kernel.Args[float32]) func()            { return bindBinary(a, mulRow[float32]()) }
func (mulOp) Bind64(a *kernel.Args[float64]) func()            { return bindBinary(a, mulRow[float64]()) }

func (mulOp) VJP(n, gy *graph.Node) []*graph.Node {
	a, b := n.Input(0), n.Input(1)
	return []*graph.Node{SumTo(Mul(gy, b), a), SumTo(Mul(gy, a), b)}
}

// mulRow returns the row kernel: kernel.MulRow, as a plain function of T.
func mulRow[T kernel.Float]() kernel.BinaryRow[T] { return kernel.MulRowFunc[T]() }

// Div returns a / b (element-wise), broadcasting. Division by zero follows
// IEEE 754 (±Inf or NaN).
func Div(a, b *graph.Node) *graph.Node { return add(divOp{}, a, b) }

type divOp struct{}

func (divOp) Name() string                                     { return "div" }
func (divOp) InferShape(in []graph.Shape) (graph.Shape, error) { return binaryShape("div", in) }
func (divOp) Bind32(a *kernel.Args[float32]) func()            { return bindBinary(a, divRow[float32]()) }
func (divOp) Bind64(a *kernel.Args[float64]) func()            { return bindBinary(a, divRow[float64]()) }

// VJP: ā = ḡ/b and b̄ = −ḡ·a/b², computed as −ā·y (y = a/b, the node
// itself) so that it stays finite wherever y is.
func (divOp) VJP(n, gy *graph.Node) []*graph.Node {
	a, b := n.Input(0), n.Input(1)
	ga := Div(gy, b)
	return []*graph.Node{SumTo(ga, a), SumTo(Neg(Mul(ga, n)), b)}
}

// divRow returns the row kernel: kernel.DivRow, as a plain function of T.
func divRow[T kernel.Float]() kernel.BinaryRow[T] { return kernel.DivRowFunc[T]() }

// Neg returns −x.
func Neg(x *graph.Node) *graph.Node { return add(negOp{}, x) }

type negOp struct{}

func (negOp) Name() string                                     { return "neg" }
func (negOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("neg", in) }
func (negOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, negRow[float32]()) }
func (negOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, negRow[float64]()) }
func (negOp) VJP(_, gy *graph.Node) []*graph.Node              { return []*graph.Node{Neg(gy)} }

// negRow returns the row kernel: kernel.NegRow, as a plain function of T.
func negRow[T kernel.Float]() kernel.UnaryRow[T] { return kernel.NegRowFunc[T]() }

func bindUnary[T kernel.Float](a *kernel.Args[T], row kernel.UnaryRow[T]) func() {
	return kernel.BindUnary(a.Dst[0], a.Src[0], row)
}
