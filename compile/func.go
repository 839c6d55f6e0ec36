package compile

import (
	"fmt"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
)

// Value is one value of the compiler's working copy of a graph. Passes
// rewrite values (replace ops, drop values, make fused ones) without touching
// the user's graph.
type Value struct {
	ID    int
	Op    graph.Op
	Args  []*Value
	Shape graph.Shape
	Name  string      // the source node's name, or a made-up one
	Node  *graph.Node // the source node; nil for values made by passes
	From  []string    // for fused values: the names of the nodes they replace
}

// Func is the compiler's working copy of the part of a graph a program
// needs: values in a topological order and the values to fetch.
type Func struct {
	DType   graph.DType
	Values  []*Value
	Fetches []*Value
	Graph   *graph.Graph
	nextID  int
	// plan is what the plan-memory pass decided for lowering; nil until
	// it runs (or when it is disabled)
	plan *planMarks
}

// NewValue adds a value made by a pass. The caller places it in Values.
func (f *Func) NewValue(op graph.Op, name string, shape graph.Shape, args ...*Value) *Value {
	v := &Value{ID: f.nextID, Op: op, Args: args, Shape: shape, Name: name}
	f.nextID++
	return v
}

// fromGraph copies every node of g into a Func with the given fetches.
func fromGraph(g *graph.Graph, fetches []*graph.Node) *Func {
	f := &Func{DType: g.DType(), Graph: g}
	byID := make([]*Value, g.Len())
	for _, n := range g.Nodes() {
		v := &Value{ID: n.ID(), Op: n.Op(), Shape: n.Shape(), Name: n.Name(), Node: n}
		for _, in := range n.Inputs() {
			v.Args = append(v.Args, byID[in.ID()])
		}
		byID[n.ID()] = v
		f.Values = append(f.Values, v)
	}
	f.nextID = g.Len()
	for _, n := range fetches {
		f.Fetches = append(f.Fetches, byID[n.ID()])
	}
	return f
}

// String prints the Func one value a line, for traces and pass tests.
func (f *Func) String() string {
	var b strings.Builder
	for _, v := range f.Values {
		fmt.Fprintf(&b, "v%d = %s", v.ID, graph.OpString(v.Op))
		if c, ok := v.Op.(graph.ConstantOp); ok {
			b.WriteString(" " + constText(c.Data))
		}
		for _, a := range v.Args {
			fmt.Fprintf(&b, " v%d", a.ID)
		}
		fmt.Fprintf(&b, " : %v%v  ; %s\n", f.DType, v.Shape, v.Name)
	}
	b.WriteString("fetch")
	for _, v := range f.Fetches {
		fmt.Fprintf(&b, " v%d", v.ID)
	}
	b.WriteByte('\n')
	return b.String()
}

// isLeaf reports whether v's op is an input, a variable or a constant.
func isLeaf(v *Value) bool {
	switch v.Op.(type) {
	case graph.InputOp, graph.VariableOp, graph.ConstantOp:
		return true
	}
	return false
}
