package nodes

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
)

// graphOf returns the graph of the first non-nil node, or nil.
func graphOf(xs ...*graph.Node) *graph.Graph {
	for _, x := range xs {
		if x != nil {
			return x.Graph()
		}
	}
	return nil
}

// add adds a node for op with the given inputs to their graph, recording any
// error there. With every input nil there is no graph to record on: it
// returns nil, which every builder and Compile reject in turn.
func add(op graph.Op, inputs ...*graph.Node) *graph.Node {
	g := graphOf(inputs...)
	if g == nil {
		return nil
	}
	return g.AddNode(op, "", inputs...)
}

// fail records an argument error for op on the graph of inputs.
func fail(op graph.Op, inputs []*graph.Node, kind error, format string, args ...any) *graph.Node {
	g := graphOf(inputs...)
	if g == nil {
		return nil
	}
	return g.Fail(op, inputs, graph.Errorf(kind, format, args...))
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, graph.Errorf(graph.ErrArg, "axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

// broadcastShapes is numpy's broadcasting rule over shapes that may carry the
// open batch dimension: trailing-aligned, equal dimensions or 1. The open
// dimension broadcasts with itself and with 1 only.
func broadcastShapes(shapes ...graph.Shape) (graph.Shape, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make(graph.Shape, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d == o || d == 1:
			case o == 1:
				out[off+i] = d
			case d == graph.Batch || o == graph.Batch:
				return nil, graph.Errorf(graph.ErrShape, "shapes %s do not broadcast: the open batch dimension meets %d", shapesString(shapes), max(d, o))
			default:
				return nil, graph.Errorf(graph.ErrShape, "shapes %s do not broadcast: dimensions %d and %d differ", shapesString(shapes), o, d)
			}
		}
	}
	return out, nil
}

func shapesString(shapes []graph.Shape) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += " and "
		}
		s += sh.String()
	}
	return s
}

// checkInputs returns an error unless there are exactly n input shapes; a
// wrong count is a bug of a builder, reported rather than panicking.
func checkInputs(name string, in []graph.Shape, n int) error {
	if len(in) != n {
		return graph.Errorf(graph.ErrArg, "%s takes %d inputs, got %d", name, n, len(in))
	}
	return nil
}

// sameShape is the shape rule of unary element-wise ops.
func sameShape(name string, in []graph.Shape) (graph.Shape, error) {
	if err := checkInputs(name, in, 1); err != nil {
		return nil, err
	}
	return in[0], nil
}

func sprint(v float64) string { return fmt.Sprintf("%g", v) }
