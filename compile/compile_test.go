package compile_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

func TestCompileErrors(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	y := nodes.Neg(x)
	other := graph.New(graph.Float32)
	foreign := nodes.Neg(other.Input("x", graph.Shape{2}))
	tests := []struct {
		name    string
		g       *graph.Graph
		fetches []*graph.Node
		opts    compile.Options
	}{
		{"nil graph", nil, []*graph.Node{y}, compile.Options{}},
		{"no fetches", g, nil, compile.Options{}},
		{"empty fetches", g, []*graph.Node{}, compile.Options{}},
		{"nil fetch", g, []*graph.Node{y, nil}, compile.Options{}},
		{"fetch from another graph", g, []*graph.Node{foreign}, compile.Options{}},
		{"unknown pass", g, []*graph.Node{y}, compile.Options{Disable: []string{"prune", "no-such-pass"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compile.Compile(tc.g, tc.fetches, tc.opts)
			if err == nil {
				t.Fatalf("Compile(%s) = %v, nil; want an error", tc.name, p)
			}
			if p != nil {
				t.Errorf("Compile(%s) returned a program with the error", tc.name)
			}
			if !strings.HasPrefix(err.Error(), "compile: ") {
				t.Errorf("Compile(%s) error %q lacks the package prefix", tc.name, err)
			}
		})
	}
	// and the same graph compiles once the arguments are right
	_, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
	require.NoError(t, err)
}

// A graph whose building failed: Compile returns the graph's first error
// itself, before looking at anything else (even nil fetches).
func TestCompileReturnsGraphError(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	w := g.Variable("w", graph.Shape{4, 2})
	bad := nodes.MatMul(x, w) // inner dimensions 3 and 4
	later := nodes.Neg(bad)   // a no-op after the error
	gerr := g.Err()
	require.Error(t, gerr)
	require.ErrorIs(t, gerr, graph.ErrShape)
	for _, fetches := range [][]*graph.Node{{later}, {bad}, {x}, nil, {nil}} {
		_, err := compile.Compile(g, fetches, compile.Options{Disable: []string{"unknown"}})
		if err != gerr {
			t.Errorf("Compile(graph with an error, %v) = %v, want exactly g.Err() = %v", fetches, err, gerr)
		}
	}
}

// noKernel is an op without a kernel: it can be built, not compiled.
type noKernel struct{}

func (noKernel) Name() string                                     { return "no_kernel" }
func (noKernel) InferShape(in []graph.Shape) (graph.Shape, error) { return in[0], nil }

func TestCompileOpWithoutKernel(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{2})
	n := g.AddNode(noKernel{}, "", x)
	require.NoError(t, g.Err())
	_, err := compile.Compile(g, []*graph.Node{n}, compile.Options{})
	if err == nil || !strings.Contains(err.Error(), "no_kernel") {
		t.Errorf("Compile of an op without a kernel: error %v, want one naming the op", err)
	}
}

// allPasses names every pass, to compile without any.
func allPasses() []string {
	var names []string
	for _, p := range compile.Passes {
		names = append(names, p.Name)
	}
	return names
}

// prunable is a graph with a branch, under the scope "unused", that the
// fetch does not need, and an input only that branch reads.
func prunable(t *testing.T) (*graph.Graph, *graph.Node) {
	t.Helper()
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	w := g.Variable("w", graph.Shape{3, 2})
	y := nodes.MatMul(x, w)
	g.WithScope("unused", func() {
		z := g.Input("z", graph.Shape{graph.Batch, 3})
		nodes.Sum(nodes.Mul(nodes.Add(x, z), x), false)
	})
	require.NoError(t, g.Err())
	return g, y
}

func TestPruneDropsUnneeded(t *testing.T) {
	g, y := prunable(t)
	p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
	require.NoError(t, err)
	assert.Len(t, p.Insts, 1, "instructions of x·w:\n%v", p)
	assert.Equal(t, []string{"x"}, p.InputNames(), "inputs of the pruned program")
	assert.Equal(t, []string{"x", "unused/z"}, p.GraphInputs, "GraphInputs lists every input of the graph")
	assert.NotContains(t, p.String(), "unused/")

	raw, err := compile.Compile(g, []*graph.Node{y}, compile.Options{Disable: allPasses()})
	require.NoError(t, err)
	assert.Len(t, raw.Insts, 4, "instructions without any pass:\n%v", raw)
	assert.Contains(t, raw.String(), "unused/")
	assert.Equal(t, []string{"x", "unused/z"}, raw.InputNames())
}

func TestTraceAndPassLog(t *testing.T) {
	g, y := prunable(t)
	var trace bytes.Buffer
	p, err := compile.Compile(g, []*graph.Node{y}, compile.Options{Trace: &trace})
	require.NoError(t, err)
	require.Len(t, p.Passes, len(compile.Passes))
	pos := -1
	for i, ps := range compile.Passes {
		head := "== " + ps.Name + ": "
		at := strings.Index(trace.String()[pos+1:], head)
		if at < 0 {
			t.Errorf("the trace lacks pass %s after position %d:\n%s", ps.Name, pos, trace.String())
			continue
		}
		pos += 1 + at
		if !strings.HasPrefix(p.Passes[i], ps.Name+": ") {
			t.Errorf("Passes[%d] = %q, want the summary of pass %s", i, p.Passes[i], ps.Name)
		}
	}
	// the first pass is prune; its trace shows the Func without the branch
	assert.Equal(t, "prune", compile.Passes[0].Name)
	first := trace.String()[:strings.Index(trace.String()[1:], "== ")+1]
	assert.Contains(t, first, "values 7 → 3", "prune's summary")
	assert.NotContains(t, first, "unused/", "the Func after prune")

	// a disabled pass is logged as such and not traced
	trace.Reset()
	p, err = compile.Compile(g, []*graph.Node{y}, compile.Options{Trace: &trace, Disable: []string{"prune"}})
	require.NoError(t, err)
	assert.Equal(t, "prune: disabled", p.Passes[0])
	assert.NotContains(t, trace.String(), "== prune:")
}

// Constant folding of values with no elements (a [2,0] constant) must not
// trip over gorgonia's Data, which panics on them (found by FuzzBuildGraph).
func TestCompileZeroSizeConstants(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		g := graph.New(dt)
		a := g.Constant(graph.Shape{2, 0}, 1)
		sum := nodes.Add(a, a)
		p, err := compile.Compile(g, []*graph.Node{sum, nodes.Sum(sum, false)}, compile.Options{})
		require.NoError(t, err, "%v", dt)
		out, err := vm.NewMachine(p, vm.NewStore()).Run(nil)
		require.NoError(t, err)
		assert.Equal(t, tensor.Shape{2, 0}, out[0].Shape())
		assert.Equal(t, 0, out[0].Len())
	}
}

// The compiler's passes must not change what a program computes: a small
// model with constants to fold, duplicates to merge and identities to drop
// gives the same bits compiled with and without them.
func TestPassesKeepValues(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	w := g.Variable("w", graph.Shape{3, 3})
	two := nodes.Add(g.Scalar(1), g.Scalar(1))       // folds to 2
	h1 := nodes.Mul(nodes.MatMul(x, w), g.Scalar(1)) // x·w·1 → x·w
	h2 := nodes.MatMul(x, w)                         // the same as h1: merged
	y := nodes.Add(nodes.Mul(h1, two), nodes.Neg(nodes.Neg(h2)))
	out := nodes.Sum(nodes.StopGradient(y), false, 1)
	require.NoError(t, g.Err())
	s := vm.NewStore()
	require.NoError(t, s.SetFloat64s("w", graph.Shape{3, 3}, graph.Float64, []float64{1, -2, 3, 0.5, 0.25, -1, 2, 2, 2}))
	feeds := vm.Feeds{"x": tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 2, 3, -1, 0.5, 4}))}
	run := func(opts compile.Options) ([]float64, int) {
		p, err := compile.Compile(g, []*graph.Node{out}, opts)
		require.NoError(t, err)
		r, err := vm.NewMachine(p, s).Run(feeds)
		require.NoError(t, err)
		return r[0].Float64s(), len(p.Insts)
	}
	opt, nOpt := run(compile.Options{})
	raw, nRaw := run(compile.Options{Disable: allPasses()})
	assert.Equal(t, raw, opt, "values with and without the passes")
	assert.Less(t, nOpt, nRaw, "the passes removed no instruction")
	// x·w = [[8 4.5 7] [7.25 10.125 4.5]]; y = 3·x·w; out = its row sums
	assert.Equal(t, []float64{3 * 19.5, 3 * 21.875}, opt)
}

func TestCompileDoesNotTouchGraph(t *testing.T) {
	g, y := prunable(t)
	before := len(g.Nodes())
	_, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
	require.NoError(t, err)
	assert.Equal(t, before, len(g.Nodes()), "Compile added nodes to the graph")
	assert.NoError(t, g.Err())
}

// doc.go lists the passes in order; this keeps the list true.
func TestDocListsPasses(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var listed []string
	for _, line := range strings.Split(string(src), "\n") {
		// "//  1. prune — ..."
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(f) >= 3 && strings.HasSuffix(f[0], ".") && f[2] == "—" {
			if _, err := strconv.Atoi(strings.TrimSuffix(f[0], ".")); err == nil {
				listed = append(listed, f[1])
			}
		}
	}
	assert.Equal(t, allPasses(), listed, "the passes in compile.Passes and in doc.go's list")
}
