package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// Assign writes value into the variable v when the program runs, in place:
// the store's memory is updated (BatchNorm's moving statistics, optimizer
// updates). The node's value is the new value of v. The compiler runs
// every assignment after all other instructions, so that everything else in
// the program sees the old value; an assignment's node may be fetched but
// not used as the input of another op.
func Assign(v, value *graph.Node) *graph.Node {
	op := assignOp{}
	if v != nil && !v.IsPoisoned() {
		if _, ok := v.Op().(graph.VariableOp); !ok {
			return fail(op, []*graph.Node{v, value}, graph.ErrArg, "%q is a %s, not a variable", v.Name(), v.Op().Name())
		}
	}
	return add(op, v, value)
}

type assignOp struct{}

func (assignOp) Name() string { return "assign" }

func (assignOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs("assign", in, 2); err != nil {
		return nil, err
	}
	if !in[0].Equal(in[1]) {
		return nil, graph.Errorf(graph.ErrShape, "cannot assign a value of shape %v to a variable of shape %v", in[1], in[0])
	}
	return in[0], nil
}

// NoGradient: an assignment is a side effect.
func (assignOp) NoGradient() string {
	return "an assignment is a side effect, not a function of its inputs"
}

// Bind32 and Bind64 copy the value into the variable; the compiler lowers an
// assignment to a copy instruction into the variable's buffer, so these are
// used only by programs that run the op as a plain kernel.
func (assignOp) Bind32(a *kernel.Args[float32]) func() { return bindAssign(a) }
func (assignOp) Bind64(a *kernel.Args[float64]) func() { return bindAssign(a) }

func bindAssign[T kernel.Float](a *kernel.Args[T]) func() {
	v, x, d := a.Src[0], a.Src[1], a.Dst[0]
	return func() {
		copy(v, x)
		copy(d, x)
	}
}

// IsAssign reports whether op is Assign's.
func IsAssign(op graph.Op) bool {
	_, ok := op.(assignOp)
	return ok
}
