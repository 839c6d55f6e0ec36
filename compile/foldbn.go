package compile

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// emit builds new values with the op builders of package nodes: build
// receives a scratch graph whose inputs stand for args and returns the node
// to emit; its nodes are copied into values (constants become constant
// values, the inputs map back onto args). It returns the value of the
// returned node and every new value in order.
func (f *Func) emit(build func(g *graph.Graph, in []*graph.Node) *graph.Node, args ...*Value) (*Value, []*Value, error) {
	g := graph.New(f.DType)
	ins := make([]*graph.Node, len(args))
	for i, a := range args {
		ins[i] = g.Input(fmt.Sprintf("a%d", i), a.Shape)
	}
	out := build(g, ins)
	if err := g.Err(); err != nil {
		return nil, nil, err
	}
	val := map[*graph.Node]*Value{}
	for i, n := range ins {
		val[n] = args[i]
	}
	var made []*Value
	for _, n := range g.Nodes() {
		if _, ok := val[n]; ok {
			continue
		}
		vargs := make([]*Value, len(n.Inputs()))
		for i, in := range n.Inputs() {
			vargs[i] = val[in]
		}
		v := f.NewValue(n.Op(), n.Name(), n.Shape(), vargs...)
		val[n] = v
		made = append(made, v)
	}
	return val[out], made, nil
}

// foldBN folds an inference BatchNorm that follows a dense layer (MatMul,
// with or without a bias add, read by nothing else) into the layer's kernel
// and bias (SEMANTICS §4.5): with s = γ/sqrt(mv + ε), W' = W·s and
// b' = (b − mm)·s + β (b = 0 without a bias). W' and b' depend on
// variables only, so lowering hoists them: a machine recomputes them only
// when the store changes.
func foldBN(f *Func) (string, error) {
	cons := f.consumers()
	fetched := f.fetched()
	only := func(v, reader *Value) bool { return !fetched[v] && len(cons[v]) == 1 && cons[v][0] == reader }
	repl := map[*Value]*Value{}
	var places []placement
	folded := 0
	for _, bn := range f.Values {
		info, ok := nodes.BatchNormOf(bn.Op)
		if !ok || info.Train || len(bn.Shape) != 2 || info.Axis != 1 {
			continue
		}
		h := bn.Args[0]
		var mm, bias *Value
		switch {
		case isMatMul(h) && only(h, bn):
			mm = h
		case h.Op.Name() == "add" && only(h, bn) && isMatMul(h.Args[0]) && only(h.Args[0], h) && len(h.Args[1].Shape) == 1:
			mm, bias = h.Args[0], h.Args[1]
		default:
			continue
		}
		ta, tb, _ := nodes.MatMulTransposes(mm.Op)
		if tb {
			continue // the kernel is stored transposed: scale its rows instead (not done)
		}
		eps := info.Epsilon
		args := []*Value{mm.Args[0], mm.Args[1], bn.Args[1], bn.Args[2], bn.Args[3], bn.Args[4]}
		if bias != nil {
			args = append(args, bias)
		}
		out, made, err := f.emit(func(g *graph.Graph, in []*graph.Node) *graph.Node {
			x, w, gamma, beta, mean, variance := in[0], in[1], in[2], in[3], in[4], in[5]
			s := nodes.Mul(gamma, nodes.Reciprocal(nodes.Sqrt(nodes.Add(variance, g.Scalar(eps)))))
			wf := nodes.Mul(w, s)
			var shift *graph.Node
			if len(in) > 6 {
				shift = nodes.Sub(in[6], mean)
			} else {
				shift = nodes.Neg(mean)
			}
			bf := nodes.Add(nodes.Mul(shift, s), beta)
			return nodes.Add(nodes.MatMulT(x, wf, ta, false), bf)
		}, args...)
		if err != nil {
			return "", fmt.Errorf("folding %q: %w", bn.Name, err)
		}
		for _, v := range made {
			v.Name = bn.Name + "/folded/" + v.Name
			v.From = []string{bn.Name}
		}
		out.Name, out.Node = bn.Name, bn.Node
		repl[bn] = out
		repl[mm] = out
		if bias != nil {
			repl[h] = out
		}
		for _, v := range made {
			places = append(places, placement{bn, v})
		}
		folded++
	}
	if folded > 0 {
		f.insertReplacing(repl, places)
	}
	return fmt.Sprintf("%d folded", folded), nil
}

func isMatMul(v *Value) bool {
	_, _, ok := nodes.MatMulTransposes(v.Op)
	return ok
}
