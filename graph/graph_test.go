package graph_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// fakeOp is an op whose name, attributes and shape rule a test chooses.
type fakeOp struct {
	name  string
	attrs string
	rule  func([]graph.Shape) (graph.Shape, error)
}

func (op fakeOp) Name() string  { return op.name }
func (op fakeOp) Attrs() string { return op.attrs }
func (op fakeOp) InferShape(in []graph.Shape) (graph.Shape, error) {
	if op.rule == nil {
		return in[0], nil
	}
	return op.rule(in)
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		dtype graph.DType
		ok    bool
	}{
		{graph.Float32, true},
		{graph.Float64, true},
		{0, false},
		{graph.DType(3), false},
		{graph.DType(255), false},
	} {
		g := graph.New(tc.dtype)
		if g.DType() != tc.dtype {
			t.Errorf("New(%v).DType() = %v, want %v", tc.dtype, g.DType(), tc.dtype)
		}
		err := g.Err()
		if tc.ok {
			assert.NoError(t, err, "New(%v).Err()", tc.dtype)
			continue
		}
		require.Error(t, err, "New(%v).Err()", tc.dtype)
		assert.ErrorIs(t, err, graph.ErrDType)
		var oe *graph.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "new", oe.Op)
		assert.True(t, strings.HasPrefix(err.Error(), "graph: new: unsupported dtype "+tc.dtype.String()+": use graph.Float32 or graph.Float64"), "New(%v).Err() = %q", tc.dtype, err)
		assert.Contains(t, err.Error(), "at graph_test.go:", "New(%v).Err() names no caller", tc.dtype)
		// the graph is poisoned: nothing is added
		x := g.Input("x", graph.Shape{2})
		assert.True(t, x.IsPoisoned(), "Input on a graph with a bad dtype is not poisoned")
		assert.Equal(t, 0, g.Len())
	}
}

func TestStickyError(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	var h, w, bad *graph.Node
	var line int
	g.WithScope("dense", func() {
		h = nodes.MatMul(x, g.Variable("kernel", graph.Shape{784, 784}))
	})
	g.WithScope("dense_1", func() {
		w = g.Variable("kernel", graph.Shape{300, 10})
		_, _, line, _ = runtime.Caller(0)
		bad = nodes.MatMul(h, w) // the error names this line
		line++
	})
	require.NotNil(t, bad)
	assert.True(t, bad.IsPoisoned(), "MatMul with mismatched shapes is not poisoned")
	assert.Equal(t, -1, bad.ID())

	err := g.Err()
	require.Error(t, err)
	want := `graph: matmul "dense_1/matmul": inner dimensions 784 and 300 differ (inputs f32[B,784], f32[300,10]; at graph_test.go:` + strconv.Itoa(line) + `)`
	if err.Error() != want {
		t.Errorf("Err() = %q, want %q", err, want)
	}
	assert.ErrorIs(t, err, graph.ErrShape)
	assert.NotErrorIs(t, err, graph.ErrArg)
	var oe *graph.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "matmul", oe.Op)
	assert.Equal(t, "dense_1/matmul", oe.Node)
	assert.Equal(t, []graph.Shape{{graph.Batch, 784}, {300, 10}}, oe.Inputs)
	assert.Equal(t, graph.Float32, oe.DType)
	assert.Equal(t, "inner dimensions 784 and 300 differ", oe.Msg)
	assert.Equal(t, "graph_test.go:"+strconv.Itoa(line), oe.Caller)

	// later calls do nothing and return the poisoned node; the first error stays
	n := g.Len()
	later := []struct {
		name string
		node *graph.Node
	}{
		{"Add of good nodes", nodes.Add(x, x)},
		{"Add of the poisoned node", nodes.Add(bad, bad)},
		{"MatMul mismatched again", nodes.MatMul(x, w)},
		{"Input", g.Input("z", graph.Shape{3})},
		{"Input with a bad shape", g.Input("zz", graph.Shape{3, graph.Batch})},
		{"Variable", g.Variable("v", graph.Shape{3})},
		{"Constant", g.Constant(graph.Shape{2}, 1, 2)},
		{"Scalar", g.Scalar(1)},
		{"AddNode", g.AddNode(fakeOp{name: "fake"}, "", x)},
		{"Fail", g.Fail(fakeOp{name: "fake"}, nil, errors.New("another"))},
	}
	for _, tc := range later {
		assert.Same(t, bad, tc.node, "%s after an error is not the poisoned node", tc.name)
	}
	assert.Equal(t, n, g.Len(), "nodes were added after the error")
	assert.Same(t, err, g.Err(), "the first error was replaced")
}

func TestPoisonedNode(t *testing.T) {
	g := graph.New(graph.Float64)
	bad := g.Input("x", graph.Shape{1, graph.Batch})
	require.Error(t, g.Err())
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"ID", bad.ID(), -1},
		{"IsPoisoned", bad.IsPoisoned(), true},
		{"Graph", bad.Graph(), g},
		{"DType", bad.DType(), graph.Float64},
		{"Inputs", len(bad.Inputs()), 0},
		{"Name", bad.Name(), "<error>"},
		{"Op", bad.Op().Name(), "error"},
	} {
		assert.Equal(t, tc.want, tc.got, "poisoned %s", tc.name)
	}
	if _, ok := bad.Op().(graph.NonDifferentiable); !ok {
		t.Errorf("the poisoned node's op %T is not NonDifferentiable", bad.Op())
	}
	assert.NotContains(t, g.Nodes(), bad)
}

func TestAddNodeBadInputs(t *testing.T) {
	other := graph.New(graph.Float32)
	foreign := other.Input("x", graph.Shape{3})
	for _, tc := range []struct {
		name  string
		build func(g *graph.Graph, x *graph.Node) *graph.Node
		kind  error
		msg   string
	}{
		{"nil second input", func(g *graph.Graph, x *graph.Node) *graph.Node { return nodes.Add(x, nil) },
			graph.ErrNil, `graph: add "add": input 1 is nil (inputs f32[3], nil; at graph_test.go:`},
		{"nil first input", func(g *graph.Graph, x *graph.Node) *graph.Node { return nodes.MatMul(nil, x) },
			graph.ErrNil, `graph: matmul "matmul": input 0 is nil`},
		{"foreign input", func(g *graph.Graph, x *graph.Node) *graph.Node { return nodes.Mul(x, foreign) },
			graph.ErrForeign, `graph: mul "mul": input 1 ("x") belongs to another graph (inputs f32[3], f32[3]`},
		{"foreign input in a scope", func(g *graph.Graph, x *graph.Node) *graph.Node {
			var n *graph.Node
			g.WithScope("block", func() { n = g.AddNode(fakeOp{name: "fake"}, "", foreign) })
			return n
		}, graph.ErrForeign, `graph: fake "block/fake": input 0 ("x") belongs to another graph`},
		{"nil op", func(g *graph.Graph, x *graph.Node) *graph.Node { return g.AddNode(nil, "", x) },
			graph.ErrArg, `graph: ? "?": nil op`},
		{"shape rule error", func(g *graph.Graph, x *graph.Node) *graph.Node {
			return g.AddNode(fakeOp{name: "fake", rule: func([]graph.Shape) (graph.Shape, error) {
				return nil, graph.Errorf(graph.ErrArg, "alpha %g must be positive", -1.0)
			}}, "my_fake", x)
		}, graph.ErrArg, `graph: fake "my_fake": alpha -1 must be positive (inputs f32[3]`},
		{"shape rule wrapping a sentinel", func(g *graph.Graph, x *graph.Node) *graph.Node {
			return g.AddNode(fakeOp{name: "fake", rule: func([]graph.Shape) (graph.Shape, error) {
				return nil, fmt.Errorf("needs integers: %w", graph.ErrDType)
			}}, "", x)
		}, graph.ErrDType, `graph: fake "fake": needs integers: wrong dtype`},
		{"shape rule with a plain error", func(g *graph.Graph, x *graph.Node) *graph.Node {
			return g.AddNode(fakeOp{name: "fake", rule: func([]graph.Shape) (graph.Shape, error) {
				return nil, errors.New("no")
			}}, "", x)
		}, graph.ErrArg, `graph: fake "fake": no`},
		{"shape rule panics", func(g *graph.Graph, x *graph.Node) *graph.Node {
			return g.AddNode(fakeOp{name: "fake", rule: func(in []graph.Shape) (graph.Shape, error) {
				return graph.Shape{in[5][0]}, nil
			}}, "", x)
		}, graph.ErrShape, `graph: fake "fake": shape rule failed: runtime error: index out of range`},
		{"shape rule gives a negative dimension", func(g *graph.Graph, x *graph.Node) *graph.Node {
			return g.AddNode(fakeOp{name: "fake", rule: func([]graph.Shape) (graph.Shape, error) {
				return graph.Shape{3, -2}, nil
			}}, "", x)
		}, graph.ErrShape, `graph: fake "fake": shape rule gave a negative dimension: [3,-2]`},
		{"Fail with a nil error", func(g *graph.Graph, x *graph.Node) *graph.Node {
			return g.Fail(fakeOp{name: "fake"}, []*graph.Node{x}, nil)
		}, graph.ErrArg, `graph: fake "fake": unspecified error`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			x := g.Input("x", graph.Shape{3})
			var n *graph.Node
			require.NotPanics(t, func() { n = tc.build(g, x) })
			assert.True(t, n.IsPoisoned(), "result is not poisoned")
			err := g.Err()
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.kind)
			assert.True(t, strings.HasPrefix(err.Error(), tc.msg), "Err() = %q, want prefix %q", err, tc.msg)
			assert.Equal(t, 1, g.Len(), "nodes after the failed call")
		})
	}
}

func TestNilGraphlessBuilders(t *testing.T) {
	// with every input nil there is no graph: the builders return nil
	assert.Nil(t, nodes.Add(nil, nil))
	assert.True(t, nodes.Add(nil, nil).IsPoisoned())
}

func TestLeaves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(g *graph.Graph) *graph.Node
		kind  error  // nil: valid
		msg   string // error message prefix
	}{
		{"input", func(g *graph.Graph) *graph.Node { return g.Input("x", graph.Shape{graph.Batch, 784}) }, nil, ""},
		{"input scalar", func(g *graph.Graph) *graph.Node { return g.Input("x", graph.Shape{}) }, nil, ""},
		{"input batch only", func(g *graph.Graph) *graph.Node { return g.Input("x", graph.Shape{graph.Batch}) }, nil, ""},
		{"input batch not leading", func(g *graph.Graph) *graph.Node { return g.Input("x", graph.Shape{28, graph.Batch}) },
			graph.ErrShape, `graph: input "x": shape [28,B]: only dimension 0 may be open (graph.Batch)`},
		{"input two batches", func(g *graph.Graph) *graph.Node { return g.Input("x", graph.Shape{graph.Batch, graph.Batch}) },
			graph.ErrShape, `graph: input "x": shape [B,B]: only dimension 0 may be open`},
		{"input negative dim", func(g *graph.Graph) *graph.Node { return g.Input("x", graph.Shape{3, -4}) },
			graph.ErrShape, `graph: input "x": shape [3,-4]: negative dimension -4`},
		{"input no name", func(g *graph.Graph) *graph.Node { return g.Input("", graph.Shape{3}) },
			graph.ErrArg, `graph: input "input": input needs a name`},
		{"input slash", func(g *graph.Graph) *graph.Node { return g.Input("a/b", graph.Shape{3}) },
			graph.ErrArg, `graph: input "a/b": name "a/b" may not contain '/'`},
		{"input quote", func(g *graph.Graph) *graph.Node { return g.Input(`a"b`, graph.Shape{3}) }, graph.ErrArg, `graph: input "a\"b": name`},
		{"input newline", func(g *graph.Graph) *graph.Node { return g.Input("a\nb", graph.Shape{3}) }, graph.ErrArg, `graph: input "a\nb": name`},
		{"input duplicate", func(g *graph.Graph) *graph.Node {
			g.Input("x", graph.Shape{3})
			return g.Input("x", graph.Shape{4})
		}, graph.ErrArg, `graph: input "x": name "x" is already used`},
		{"input same name in another scope", func(g *graph.Graph) *graph.Node {
			g.Input("x", graph.Shape{3})
			g.PushScope("s")
			defer g.PopScope()
			return g.Input("x", graph.Shape{4})
		}, nil, ""},
		{"variable", func(g *graph.Graph) *graph.Node { return g.Variable("w", graph.Shape{784, 300}) }, nil, ""},
		{"variable open", func(g *graph.Graph) *graph.Node { return g.Variable("w", graph.Shape{graph.Batch, 300}) },
			graph.ErrShape, `graph: variable "w": shape [B,300]: a variable may not have an open dimension`},
		{"variable duplicate", func(g *graph.Graph) *graph.Node {
			g.WithScope("dense", func() { g.Variable("kernel", graph.Shape{2, 2}) })
			var n *graph.Node
			g.WithScope("dense", func() { n = g.Variable("kernel", graph.Shape{2, 2}) })
			return n
		}, graph.ErrArg, `graph: variable "dense/kernel": name "dense/kernel" is already used`},
		{"variable named like an input", func(g *graph.Graph) *graph.Node {
			g.Input("x", graph.Shape{3})
			return g.Variable("x", graph.Shape{3})
		}, graph.ErrArg, `graph: variable "x": name "x" is already used`},
		{"variable named like an op", func(g *graph.Graph) *graph.Node {
			x := g.Input("x", graph.Shape{3})
			nodes.Neg(x)
			return g.Variable("neg", graph.Shape{3})
		}, graph.ErrArg, `graph: variable "neg": name "neg" is already used`},
		{"variable no name", func(g *graph.Graph) *graph.Node { return g.Variable("", graph.Shape{3}) },
			graph.ErrArg, `graph: variable "variable": variable needs a name`},
		{"constant fill", func(g *graph.Graph) *graph.Node { return g.Constant(graph.Shape{2, 3}, 0.5) }, nil, ""},
		{"constant full", func(g *graph.Graph) *graph.Node { return g.Constant(graph.Shape{2, 3}, 1, 2, 3, 4, 5, 6) }, nil, ""},
		{"constant empty", func(g *graph.Graph) *graph.Node { return g.Constant(graph.Shape{0}) }, nil, ""},
		{"constant scalar", func(g *graph.Graph) *graph.Node { return g.Scalar(2) }, nil, ""},
		{"constant short", func(g *graph.Graph) *graph.Node { return g.Constant(graph.Shape{2, 3}, 1, 2) },
			graph.ErrArg, `graph: constant "constant": 2 values for shape [2,3]: want 1 or 6`},
		{"constant long", func(g *graph.Graph) *graph.Node { return g.Constant(graph.Shape{2}, 1, 2, 3) },
			graph.ErrArg, `graph: constant "constant": 3 values for shape [2]: want 1 or 2`},
		{"constant no data", func(g *graph.Graph) *graph.Node { return g.Constant(graph.Shape{2}) },
			graph.ErrArg, `graph: constant "constant": 0 values for shape [2]: want 1 or 2`},
		{"constant open", func(g *graph.Graph) *graph.Node { return g.Constant(graph.Shape{graph.Batch}, 1) },
			graph.ErrShape, `graph: constant "constant": shape [B]: a constant may not have an open dimension`},
		{"constant in a scope", func(g *graph.Graph) *graph.Node {
			g.PushScope("s")
			defer g.PopScope()
			return g.Constant(graph.Shape{2}, 1, 2, 3)
		}, graph.ErrArg, `graph: constant "s/constant": 3 values`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			var n *graph.Node
			require.NotPanics(t, func() { n = tc.build(g) })
			if tc.kind == nil {
				require.NoError(t, g.Err())
				assert.False(t, n.IsPoisoned())
				assert.Same(t, n, g.Nodes()[n.ID()])
				return
			}
			assert.True(t, n.IsPoisoned(), "result is not poisoned")
			err := g.Err()
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.kind)
			assert.True(t, strings.HasPrefix(err.Error(), tc.msg), "Err() = %q, want prefix %q", err, tc.msg)
		})
	}
}

type constInit float64

func (c constInit) Initialize(dst []float64, _ []int, _ *rand.Rand) error {
	for i := range dst {
		dst[i] = float64(c)
	}
	return nil
}

func TestLeafOps(t *testing.T) {
	g := graph.New(graph.Float64)
	shape := graph.Shape{graph.Batch, 3}
	x := g.Input("x", shape)
	shape[1] = 99 // the graph keeps its own copy
	assert.Equal(t, graph.Shape{graph.Batch, 3}, x.Shape())
	assert.Equal(t, graph.InputOp{Shape: graph.Shape{graph.Batch, 3}}, x.Op())

	w := g.Variable("w", graph.Shape{3, 2})
	mean := g.Variable("mean", graph.Shape{2}, graph.NonTrainable(), nil, graph.WithInit(constInit(1)))
	require.NoError(t, g.Err())
	assert.True(t, w.Op().(graph.VariableOp).Trainable, "Variable without options is not trainable")
	assert.Nil(t, w.Op().(graph.VariableOp).Init)
	mv := mean.Op().(graph.VariableOp)
	assert.False(t, mv.Trainable, "NonTrainable variable is trainable")
	assert.Equal(t, constInit(1), mv.Init)

	data := []float64{1, 2, 3}
	c := g.Constant(graph.Shape{3}, data...)
	data[0] = 99 // the graph keeps its own copy
	cop := c.Op().(graph.ConstantOp)
	assert.Equal(t, []float64{1, 2, 3}, cop.Data)
	_, ok := cop.Scalar()
	assert.False(t, ok, "ConstantOp{1,2,3}.Scalar() reports a scalar")
	v, ok := g.Scalar(2.5).Op().(graph.ConstantOp).Scalar()
	assert.True(t, ok)
	assert.Equal(t, 2.5, v)
	fill := g.Constant(graph.Shape{2, 2}, 7)
	v, ok = fill.Op().(graph.ConstantOp).Scalar()
	assert.True(t, ok && v == 7, "filled constant Scalar() = %v, %v, want 7, true", v, ok)
	assert.Equal(t, graph.Shape{2, 2}, fill.Shape())

	assert.Equal(t, []*graph.Node{x}, g.Inputs())
	assert.Equal(t, []*graph.Node{w, mean}, g.Variables())
	for _, n := range []*graph.Node{x, w, mean, c, fill} {
		assert.Empty(t, n.Inputs(), "leaf %s has inputs", n.Name())
		if _, ok := n.Op().(graph.NonDifferentiable); !ok {
			t.Errorf("leaf op %T is not NonDifferentiable", n.Op())
		}
	}
}

func TestScopes(t *testing.T) {
	g := graph.New(graph.Float32)
	assert.Equal(t, "", g.Scope())
	g.PopScope() // nothing open: no-op
	assert.Equal(t, "", g.Scope())

	assert.Equal(t, "model", g.PushScope("model"))
	assert.Equal(t, "model/block", g.PushScope("block"))
	x := g.Input("x", graph.Shape{2})
	assert.Equal(t, "model/block/x", x.Name())
	assert.Equal(t, "model/block", x.Scope())
	assert.Same(t, x, g.Node("model/block/x"))
	assert.Nil(t, g.Node("x"))
	g.PopScope()
	assert.Equal(t, "model", g.Scope())
	var inner *graph.Node
	g.WithScope("head", func() {
		assert.Equal(t, "model/head", g.Scope())
		inner = nodes.Neg(x)
	})
	assert.Equal(t, "model/head/neg", inner.Name())
	assert.Equal(t, "model", g.Scope(), "WithScope did not restore the scope")

	restore := g.EnterScope("gradients/model/head")
	assert.Equal(t, "gradients/model/head", g.Scope())
	gn := nodes.Neg(inner)
	assert.Equal(t, "gradients/model/head/neg", gn.Name())
	assert.Equal(t, "gradients/model/head", gn.Scope())
	restore()
	assert.Equal(t, "model", g.Scope(), "EnterScope's restore")
	restore = g.EnterScope("")
	assert.Equal(t, "", g.Scope())
	restore()
	g.PopScope()
	assert.Equal(t, "", g.Scope())

	// an empty scope adds nothing to names
	g.WithScope("", func() {
		assert.Equal(t, "top", g.Input("top", graph.Shape{1}).Name())
		assert.Equal(t, "inner/top", g.PushScope("inner")+"/top")
		assert.Equal(t, "inner/top", g.Input("top", graph.Shape{1}).Name())
		g.PopScope()
	})

	// a panic in WithScope's function still closes the scope
	assert.Panics(t, func() { g.WithScope("boom", func() { panic("boom") }) })
	assert.Equal(t, "", g.Scope())
}

func TestUniqueName(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{2})
	for i, want := range []string{"dense", "dense_1", "dense_2"} {
		got := g.UniqueName("dense")
		if got != want {
			t.Errorf("UniqueName(dense) call %d = %q, want %q", i, got, want)
		}
		g.WithScope(got, func() { g.Variable("kernel", graph.Shape{2, 2}) })
	}
	assert.NotNil(t, g.Node("dense_2/kernel"))

	// another base counts on its own; an existing node name is skipped
	assert.Equal(t, "conv", g.UniqueName("conv"))
	assert.Equal(t, "x_1", g.UniqueName("x"))

	// a scope opened without UniqueName is taken too
	g.WithScope("block", func() { nodes.Neg(x) })
	assert.Equal(t, "block_1", g.UniqueName("block"))

	// so is a scope entered without PushScope (as autodiff does)
	restore := g.EnterScope("grads/block")
	nodes.Neg(x)
	restore()
	assert.Equal(t, "grads_1", g.UniqueName("grads"))
	assert.Equal(t, "block_1", g.UniqueNameAt("grads", "block"))

	// a user name in the way is skipped
	g.Input("bn_1", graph.Shape{1})
	assert.Equal(t, "bn", g.UniqueName("bn"))
	assert.Equal(t, "bn_2", g.UniqueName("bn"))

	// names are per scope level
	g.WithScope("model", func() {
		assert.Equal(t, "dense", g.UniqueName("dense"))
		assert.Equal(t, "dense_1", g.UniqueName("dense"))
		g.WithScope("dense", func() {
			assert.Equal(t, "dense", g.UniqueName("dense"))
		})
	})
	assert.Equal(t, "dense_3", g.UniqueName("dense"))
	assert.Equal(t, "dense_2", g.UniqueNameAt("model", "dense"))
	assert.Equal(t, "gradients", g.UniqueNameAt("", "gradients"))
	assert.Equal(t, "gradients_1", g.UniqueNameAt("", "gradients"))
	assert.Equal(t, "", g.Scope(), "UniqueNameAt left a scope open")
}

func TestAutoNames(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{2})
	var names []string
	for range 3 {
		names = append(names, nodes.Add(x, x).Name())
	}
	g.WithScope("a", func() { names = append(names, nodes.Add(x, x).Name(), nodes.Add(x, x).Name()) })
	g.WithScope("b", func() { names = append(names, nodes.Add(x, x).Name()) })
	names = append(names, g.AddNode(fakeOp{name: "fake"}, "mine", x).Name(), g.AddNode(fakeOp{name: "fake"}, "mine", x).Name())
	assert.Equal(t, []string{"add", "add_1", "add_2", "a/add", "a/add_1", "b/add", "mine", "mine_1"}, names)

	// an explicit name in the way of the next suffix is skipped
	g.AddNode(fakeOp{name: "fake"}, "neg_1", x)
	assert.Equal(t, "neg", nodes.Neg(x).Name())
	assert.Equal(t, "neg_2", nodes.Neg(x).Name())
	require.NoError(t, g.Err())

	// a shape rule that returns an input's shape does not make the two
	// nodes share it
	same := g.AddNode(fakeOp{name: "same"}, "", x)
	require.Equal(t, x.Shape(), same.Shape())
	assert.NotSame(t, &x.Shape()[0], &same.Shape()[0], "output shape aliases the input's")

	// many nodes of one name stay unique
	seen := map[string]bool{}
	for _, n := range g.Nodes() {
		assert.False(t, seen[n.Name()], "name %s used twice", n.Name())
		seen[n.Name()] = true
	}
	for range 2000 {
		n := nodes.Mul(x, x)
		require.False(t, seen[n.Name()], "name %s used twice", n.Name())
		seen[n.Name()] = true
	}
	assert.Equal(t, "mul_1999", g.Nodes()[g.Len()-1].Name())
}

func TestNodesTopological(t *testing.T) {
	g, _ := mlp(t)
	all := g.Nodes()
	require.Equal(t, g.Len(), len(all))
	require.Greater(t, len(all), 20)
	for i, n := range all {
		assert.Equal(t, i, n.ID(), "Nodes()[%d].ID()", i)
		assert.Same(t, g, n.Graph())
		assert.Same(t, n, g.Node(n.Name()), "Node(%q)", n.Name())
		for j, in := range n.Inputs() {
			assert.Less(t, in.ID(), n.ID(), "input %d of %s comes after it", j, n.Name())
			assert.Same(t, in, n.Input(j))
		}
		assert.Nil(t, n.Input(-1))
		assert.Nil(t, n.Input(len(n.Inputs())))
	}
	var names []string
	for _, n := range g.Inputs() {
		names = append(names, n.Name())
	}
	assert.Equal(t, []string{"x", "y"}, names)
	names = names[:0]
	for _, n := range g.Variables() {
		names = append(names, n.Name())
	}
	assert.Equal(t, []string{"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}, names)
}

func TestNodeString(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	var mm, tr *graph.Node
	g.WithScope("dense", func() {
		k := g.Variable("kernel", graph.Shape{784, 300})
		mm = nodes.MatMul(x, k)
		tr = nodes.MatMulT(mm, g.Variable("w2", graph.Shape{10, 300}), false, true)
	})
	for _, tc := range []struct {
		n    *graph.Node
		want string
	}{
		{mm, "dense/matmul = matmul(x, dense/kernel) : f32[B,300]"},
		{tr, "dense/matmul_1 = matmul[Bᵀ](dense/matmul, dense/w2) : f32[B,10]"},
		{x, "x = input() : f32[B,784]"},
		{nil, "<nil>"},
	} {
		if got := tc.n.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestOpString(t *testing.T) {
	for _, tc := range []struct {
		op   graph.Op
		want string
	}{
		{nil, "<nil>"},
		{fakeOp{name: "pow", attrs: "p=2"}, "pow[p=2]"},
		{fakeOp{name: "pow"}, "pow"},
		{graph.InputOp{}, "input"},
		{graph.VariableOp{}, "variable"},
		{graph.ConstantOp{}, "constant"},
	} {
		if got := graph.OpString(tc.op); got != tc.want {
			t.Errorf("OpString(%#v) = %q, want %q", tc.op, got, tc.want)
		}
	}
}

func TestNilNode(t *testing.T) {
	var n *graph.Node
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"ID", n.ID(), -1},
		{"Name", n.Name(), ""},
		{"Scope", n.Scope(), ""},
		{"Op", n.Op(), nil},
		{"Inputs", n.Inputs(), []*graph.Node(nil)},
		{"Input", n.Input(0), (*graph.Node)(nil)},
		{"Shape", n.Shape(), graph.Shape(nil)},
		{"DType", n.DType(), graph.DType(0)},
		{"Graph", n.Graph(), (*graph.Graph)(nil)},
		{"IsPoisoned", n.IsPoisoned(), true},
		{"String", n.String(), "<nil>"},
	} {
		assert.Equal(t, tc.want, tc.got, "(*Node)(nil).%s()", tc.name)
	}
}

func TestOpErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *graph.OpError
		want string
	}{
		{"full", &graph.OpError{Op: "matmul", Node: "dense_1/matmul", Inputs: []graph.Shape{{graph.Batch, 784}, {300, 10}}, DType: graph.Float32,
			Msg: "inner dimensions 784 and 300 differ", Kind: graph.ErrShape, Caller: "model.go:12"},
			`graph: matmul "dense_1/matmul": inner dimensions 784 and 300 differ (inputs f32[B,784], f32[300,10]; at model.go:12)`},
		{"no caller", &graph.OpError{Op: "add", Node: "add", Inputs: []graph.Shape{{2}, nil}, DType: graph.Float64, Msg: "input 1 is nil"},
			`graph: add "add": input 1 is nil (inputs f64[2], nil)`},
		{"no inputs", &graph.OpError{Op: "input", Node: "x", Msg: "bad", Caller: "a.go:1"}, `graph: input "x": bad (at a.go:1)`},
		{"bare", &graph.OpError{Op: "sum", Node: "s", Msg: "bad"}, `graph: sum "s": bad`},
		{"no node", &graph.OpError{Op: "new", Msg: "unsupported dtype"}, `graph: new: unsupported dtype`},
		{"scalar input", &graph.OpError{Op: "neg", Node: "n", Inputs: []graph.Shape{{}}, DType: graph.Float32, Msg: "m"}, `graph: neg "n": m (inputs f32[])`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s: Error() = %q, want %q", tc.name, got, tc.want)
		}
	}
	e := &graph.OpError{Kind: graph.ErrGradient}
	assert.ErrorIs(t, e, graph.ErrGradient)
	assert.Nil(t, (&graph.OpError{}).Unwrap())
}

func TestErrorf(t *testing.T) {
	for _, kind := range []error{graph.ErrShape, graph.ErrArg, graph.ErrNil, graph.ErrForeign, graph.ErrDType, graph.ErrGradient} {
		err := graph.Errorf(kind, "axis %d out of range", 3)
		assert.ErrorIs(t, err, kind)
		assert.Equal(t, "axis 3 out of range", err.Error(), "Errorf(%v).Error()", kind)
		for _, other := range []error{graph.ErrShape, graph.ErrArg, graph.ErrNil, graph.ErrForeign, graph.ErrDType, graph.ErrGradient} {
			if other != kind {
				assert.NotErrorIs(t, err, other)
			}
		}
	}
}

// TestConcurrentReads reads one built graph from many goroutines (run with
// -race to check that reading does not write).
func TestConcurrentReads(t *testing.T) {
	g, fetches := mlp(t)
	want := writeDOT(t, g, graph.DOTOptions{Fetches: fetches})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			var b bytes.Buffer
			if err := graph.WriteDOT(&b, g, graph.DOTOptions{Fetches: fetches}); err != nil {
				errs[i] = err
				return
			}
			for _, n := range g.Nodes() {
				_ = n.String()
				if g.Node(n.Name()) != n {
					errs[i] = fmt.Errorf("Node(%q) is another node", n.Name())
					return
				}
			}
			if !bytes.Equal(b.Bytes(), want) {
				errs[i] = errors.New("WriteDOT output differs")
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "goroutine %d", i)
	}
}
