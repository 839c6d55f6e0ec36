package graph

import "fmt"

// MultiOp is an op with several outputs. Its node holds output 0 (the shape
// InferShape returns); Output(n, i) makes a node for output i. The compiler
// gives the op's instruction one buffer per output.
type MultiOp interface {
	Op
	// OutputShapes returns the shapes of all outputs, output 0 first.
	OutputShapes(inputs []Shape) ([]Shape, error)
}

// OutputOp is the op of a node made by Output: output Index of its input, a
// node whose op is a MultiOp. It computes nothing; the compiler maps it to
// the producer's buffer.
type OutputOp struct {
	Index int
	Shape Shape
}

// Name returns "output".
func (OutputOp) Name() string { return "output" }

// Attrs returns the output index.
func (op OutputOp) Attrs() string { return fmt.Sprintf("%d", op.Index) }

// InferShape returns the declared shape (fixed when the node was made; with
// concrete shapes the compiler asks the producer instead).
func (op OutputOp) InferShape(in []Shape) (Shape, error) { return op.Shape, nil }

// NoGradient: secondary outputs are side results (BatchNorm's batch
// statistics), not differentiated.
func (OutputOp) NoGradient() string {
	return "secondary outputs of a multi-output op (such as batch statistics) are not differentiated"
}

// Output returns a node for output i of n, whose op must be a MultiOp;
// Output(n, 0) is n itself. Asking twice gives the same node.
func Output(n *Node, i int) *Node {
	if n == nil {
		return nil
	}
	g := n.g
	if g.err != nil {
		return g.poison
	}
	mo, ok := n.op.(MultiOp)
	if !ok {
		return g.fail(OutputOp{Index: i}, "", []*Node{n}, Errorf(ErrArg, "%s %q has a single output", n.op.Name(), n.name))
	}
	if i == 0 {
		return n
	}
	shapes := make([]Shape, len(n.inputs))
	for j, in := range n.inputs {
		shapes[j] = in.shape
	}
	outs, err := mo.OutputShapes(shapes)
	if err != nil {
		return g.fail(OutputOp{Index: i}, "", []*Node{n}, err)
	}
	if i < 0 || i >= len(outs) {
		return g.fail(OutputOp{Index: i}, "", []*Node{n}, Errorf(ErrArg, "%s %q has %d outputs, not %d", n.op.Name(), n.name, len(outs), i+1))
	}
	name := fmt.Sprintf("%s:%d", n.name, i)
	if m := g.names[name]; m != nil {
		return m
	}
	m := &Node{g: g, id: len(g.nodes), name: name, scope: n.scope, op: OutputOp{Index: i, Shape: outs[i]}, inputs: []*Node{n}, shape: outs[i]}
	g.nodes = append(g.nodes, m)
	g.names[name] = m
	return m
}
