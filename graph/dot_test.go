package graph_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// mlp builds a two-layer perceptron with a mean squared error and its
// gradients: the scopes dense, dense_1, loss and gradients/... . It returns
// the graph and the loss followed by the gradients.
func mlp(t testing.TB) (*graph.Graph, []*graph.Node) {
	t.Helper()
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	y := g.Input("y", graph.Shape{graph.Batch, 10})
	dense := func(in *graph.Node, units int, relu bool) (out, kernel, bias *graph.Node) {
		g.WithScope(g.UniqueName("dense"), func() {
			kernel = g.Variable("kernel", graph.Shape{in.Shape()[1], units})
			bias = g.Variable("bias", graph.Shape{units})
			out = nodes.Add(nodes.MatMul(in, kernel), bias)
			if relu {
				out = nodes.Maximum(out, g.Scalar(0))
			}
		})
		return out, kernel, bias
	}
	h, k0, b0 := dense(x, 300, true)
	logits, k1, b1 := dense(h, 10, false)
	var loss *graph.Node
	g.WithScope("loss", func() {
		d := nodes.Sub(logits, y)
		loss = nodes.Mean(nodes.Mul(d, d), false)
	})
	grads, err := autodiff.Grad(loss, k0, b0, k1, b1)
	require.NoError(t, err)
	return g, append([]*graph.Node{loss}, grads...)
}

func writeDOT(t testing.TB, g *graph.Graph, opts graph.DOTOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, graph.WriteDOT(&b, g, opts))
	return b.Bytes()
}

func TestWriteDOTGolden(t *testing.T) {
	g, fetches := mlp(t)
	got := writeDOT(t, g, graph.DOTOptions{Title: "mlp", Fetches: fetches})
	golden := filepath.Join("testdata", "mlp.dot")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./graph -run TestWriteDOTGolden -update to create it")
	if !bytes.Equal(got, want) {
		t.Errorf("WriteDOT(mlp) differs from %s (go test ./graph -update rewrites it):\n%s", golden, lineDiff(string(want), string(got)))
	}
	checkRenders(t, got)
}

// lineDiff lists the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			shown++
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
		}
	}
	return b.String()
}

// checkRenders runs dot on the text, when dot is on PATH, and fails when
// dot reports an error or a warning.
func checkRenders(t *testing.T, dot []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("dot"); err != nil {
		t.Log("Graphviz dot is not on PATH: output not rendered")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dot", "-Tsvg")
	cmd.Stdin = bytes.NewReader(dot)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Run(), "dot -Tsvg: %s", stderr.String())
	assert.Empty(t, stderr.String(), "dot -Tsvg warned")
	return out.Bytes()
}

func TestWriteDOTDeterministic(t *testing.T) {
	g1, f1 := mlp(t)
	opts := graph.DOTOptions{Fetches: f1, Collapse: []string{"gradients"}}
	a := writeDOT(t, g1, opts)
	b := writeDOT(t, g1, opts)
	assert.Equal(t, string(a), string(b), "two writes of one graph differ")

	g2, f2 := mlp(t)
	c := writeDOT(t, g2, graph.DOTOptions{Fetches: f2, Collapse: []string{"gradients"}})
	assert.Equal(t, string(a), string(c), "two builds of one model differ")
}

func TestWriteDOTStructure(t *testing.T) {
	g, fetches := mlp(t)
	out := string(writeDOT(t, g, graph.DOTOptions{Fetches: fetches}))

	// every node is drawn once, with its full name as tooltip
	for _, n := range g.Nodes() {
		id := "n" + strconv.Itoa(n.ID()) + " ["
		assert.Equal(t, 1, strings.Count(out, "\t"+id), "node %s drawn %d times", n.Name(), strings.Count(out, id))
		assert.Contains(t, out, `tooltip="`+n.Name()+`"`)
	}
	// one edge per input
	edges := 0
	for _, n := range g.Nodes() {
		edges += len(n.Inputs())
	}
	assert.Equal(t, edges, strings.Count(out, " -> "), "edges")

	// nested clusters: gradients/dense_1 is inside gradients
	iGrad := strings.Index(out, `subgraph "cluster_gradients" {`)
	iGradDense := strings.Index(out, `subgraph "cluster_gradients/dense_1" {`)
	require.True(t, iGrad >= 0 && iGradDense > iGrad, "gradients/dense_1 cluster not after gradients:\n%s", out)
	depth := 0
	for _, line := range strings.Split(out[:iGradDense], "\n") {
		switch {
		case strings.HasSuffix(line, "{"):
			depth++
		case strings.TrimSpace(line) == "}":
			depth--
		}
	}
	assert.Equal(t, 2, depth, "gradients/dense_1 is not nested in gradients (depth)")

	// the leaves are styled apart
	for _, tc := range []struct{ name, style string }{
		{"x", "shape=ellipse"},
		{"dense/kernel", "shape=box, style=filled"},
		{"dense/matmul", `style="rounded,filled"`},
	} {
		n := g.Node(tc.name)
		require.NotNil(t, n, tc.name)
		line := lineOf(out, "n"+strconv.Itoa(n.ID())+" [")
		assert.Contains(t, line, tc.style, "node %s", tc.name)
	}
	// fetched nodes are highlighted, others not
	assert.Contains(t, lineOf(out, "n"+strconv.Itoa(fetches[0].ID())+" ["), "penwidth=3")
	assert.NotContains(t, lineOf(out, "n"+strconv.Itoa(g.Node("x").ID())+" ["), "penwidth=3")
	// a matmul's operands are numbered, an op of one input's are not
	mm := g.Node("dense/matmul")
	assert.Contains(t, out, "n"+strconv.Itoa(g.Node("dense/kernel").ID())+" -> n"+strconv.Itoa(mm.ID())+` [headlabel="1"]`)
	mean := g.Node("loss/mean")
	require.NotNil(t, mean)
	assert.Contains(t, out, "n"+strconv.Itoa(mean.Input(0).ID())+" -> n"+strconv.Itoa(mean.ID())+";")

	hidden := string(writeDOT(t, g, graph.DOTOptions{HideInputIndex: true}))
	assert.NotContains(t, hidden, "headlabel")
}

// lineOf returns the line of s that contains sub after its indentation.
func lineOf(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, "\t"), sub) {
			return line
		}
	}
	return ""
}

func TestWriteDOTOptions(t *testing.T) {
	g, fetches := mlp(t)
	loss := fetches[0]

	t.Run("RankDir", func(t *testing.T) {
		for _, tc := range []struct{ in, want string }{{"", "rankdir=TB;"}, {"LR", "rankdir=LR;"}, {"BT", "rankdir=BT;"}} {
			out := string(writeDOT(t, g, graph.DOTOptions{RankDir: tc.in}))
			assert.Contains(t, out, tc.want, "RankDir %q", tc.in)
		}
		err := graph.WriteDOT(&bytes.Buffer{}, g, graph.DOTOptions{RankDir: "sideways"})
		assert.ErrorIs(t, err, graph.ErrArg)
	})

	t.Run("Prune", func(t *testing.T) {
		// only the forward graph: nothing under gradients
		out := string(writeDOT(t, g, graph.DOTOptions{Fetches: []*graph.Node{loss}, Prune: true}))
		assert.NotContains(t, out, "gradients")
		for _, n := range g.Nodes()[:loss.ID()+1] {
			assert.Contains(t, out, `tooltip="`+n.Name()+`"`, "forward node %s pruned", n.Name())
		}
		assert.Equal(t, strings.Count(out, "tooltip=")-strings.Count(out, "subgraph"), loss.ID()+1, "nodes drawn")
		checkRenders(t, []byte(out))
		// without fetches Prune does nothing
		all := string(writeDOT(t, g, graph.DOTOptions{Prune: true}))
		assert.Equal(t, string(writeDOT(t, g, graph.DOTOptions{})), all)
	})

	t.Run("Collapse", func(t *testing.T) {
		out := string(writeDOT(t, g, graph.DOTOptions{Fetches: fetches, Collapse: []string{"gradients", "no-such-scope"}}))
		assert.NotContains(t, out, "cluster_gradients")
		ngrad := 0
		for _, n := range g.Nodes() {
			if strings.HasPrefix(n.Scope(), "gradients") {
				ngrad++
				assert.NotContains(t, out, `tooltip="`+n.Name()+`"`)
			}
		}
		require.Positive(t, ngrad)
		assert.Contains(t, out, `"scope_gradients" [shape=box3d`)
		assert.Contains(t, out, `label="gradients\n`+strconv.Itoa(ngrad)+` nodes"`)
		assert.Contains(t, lineOf(out, `"scope_gradients" [`), "penwidth=3", "the collapsed scope holds fetches")
		// edges into the box once per source
		kernel := "n" + strconv.Itoa(g.Node("dense/kernel").ID())
		assert.Equal(t, 1, strings.Count(out, "\t"+kernel+` -> "scope_gradients";`))
		assert.NotContains(t, out, `"scope_gradients" -> "scope_gradients"`)
		checkRenders(t, []byte(out))
	})

	t.Run("Collapse nested", func(t *testing.T) {
		out := string(writeDOT(t, g, graph.DOTOptions{Collapse: []string{"gradients/dense_1", "gradients/dense_1/none"}}))
		assert.Contains(t, out, `subgraph "cluster_gradients" {`)
		assert.NotContains(t, out, `cluster_gradients/dense_1`)
		box := lineOf(out, `"scope_gradients/dense_1" [`)
		require.NotEmpty(t, box)
		assert.True(t, strings.HasPrefix(box, "\t\t\""), "the box is not inside the gradients cluster: %q", box)
		assert.Contains(t, out, `subgraph "cluster_gradients/dense" {`)
		checkRenders(t, []byte(out))
	})

	t.Run("Fetches", func(t *testing.T) {
		other, _ := mlp(t)
		err := graph.WriteDOT(&bytes.Buffer{}, g, graph.DOTOptions{Fetches: []*graph.Node{other.Node("x")}})
		assert.ErrorIs(t, err, graph.ErrForeign)
		// nil fetches are skipped
		out := string(writeDOT(t, g, graph.DOTOptions{Fetches: []*graph.Node{nil, loss}}))
		assert.Contains(t, lineOf(out, "n"+strconv.Itoa(loss.ID())+" ["), "penwidth=3")
	})
}

func TestWriteDOTEscaping(t *testing.T) {
	for _, tc := range []struct {
		name, title, want string
	}{
		{"plain", "mlp", `"mlp"`},
		{"quote", `say "hi"`, `"say \"hi\""`},
		{"backslash", `a\b \n`, `"a\\b \\n"`},
		{"newline", "two\nlines", `"two\nlines"`},
		{"crlf", "two\r\nlines", `"two\nlines"`},
		{"tab", "a\tb", `"a b"`},
		{"control", "bell\a", `"bell\\a"`},
		{"unicode", "Ωμέγα → ∂L·∂w 🙂", `"Ωμέγα → ∂L·∂w 🙂"`},
		{"invalid utf-8", "a\xffb", "\"a\uFFFDb\""},
		{"brace", "}{;", `"}{;"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float64)
			g.WithScope(tc.title, func() { g.Input("x", graph.Shape{2}) })
			out := string(writeDOT(t, g, graph.DOTOptions{Title: tc.title}))
			assert.Contains(t, out, "\tlabel="+tc.want+";", "title %q", tc.title)
			assert.Contains(t, out, "graph [label="+tc.want+", tooltip="+tc.want+",", "scope %q", tc.title)
			svg := checkRenders(t, []byte(out))
			if svg != nil && tc.name != "crlf" && tc.name != "newline" {
				// the title comes back as it was given, once for the
				// graph and once for the cluster
				text := html.UnescapeString(string(svg))
				want := strings.NewReplacer("\t", " ", "\a", `\a`, "\xff", "\uFFFD").Replace(tc.title)
				assert.GreaterOrEqual(t, strings.Count(text, ">"+want+"<"), 2, "rendered title %q in\n%s", want, text)
			}
		})
	}
}

func TestWriteDOTOddScopes(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{2})
	for _, scopes := range [][]string{{"a", "", "b"}, {"", "c"}, {""}, {"d e", "é"}, {"f/g", "h"}} {
		for _, s := range scopes {
			g.PushScope(s)
		}
		nodes.Neg(x)
		for range scopes {
			g.PopScope()
		}
	}
	require.NoError(t, g.Err())
	out := writeDOT(t, g, graph.DOTOptions{})
	for _, n := range g.Nodes() {
		assert.Contains(t, string(out), `tooltip="`+n.Name()+`"]`)
	}
	for _, c := range []string{"a", "a/b", "c", "d e", "d e/é", "f/g", "f/g/h"} {
		assert.Contains(t, string(out), `subgraph "cluster_`+c+`" {`)
	}
	checkRenders(t, out)
}

func TestWriteDOTGraphWithError(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	w := g.Variable("w", graph.Shape{300, 10})
	bad := nodes.MatMul(x, w)
	require.True(t, bad.IsPoisoned())
	var b bytes.Buffer
	require.NoError(t, graph.WriteDOT(&b, g, graph.DOTOptions{Fetches: []*graph.Node{bad}}))
	out := b.String()
	assert.Contains(t, out, `tooltip="x"`)
	assert.Contains(t, out, `tooltip="w"`)
	errLine := lineOf(out, "error [")
	require.NotEmpty(t, errLine, "no error note in\n%s", out)
	assert.Contains(t, errLine, `inner dimensions 784 and 300 differ`)
	checkRenders(t, b.Bytes())
}

func TestWriteDOTErrors(t *testing.T) {
	assert.EqualError(t, graph.WriteDOT(&bytes.Buffer{}, nil, graph.DOTOptions{}), "graph: WriteDOT: nil graph")

	g, _ := mlp(t)
	var err error
	require.NotPanics(t, func() { err = graph.WriteDOT(nil, g, graph.DOTOptions{}) })
	assert.ErrorIs(t, err, graph.ErrArg, "nil writer")
	assert.ErrorContains(t, err, "graph: WriteDOT: nil writer")

	werr := errors.New("disk full")
	err = graph.WriteDOT(failWriter{werr}, g, graph.DOTOptions{})
	assert.ErrorIs(t, err, werr)

	var empty bytes.Buffer
	require.NoError(t, graph.WriteDOT(&empty, graph.New(graph.Float32), graph.DOTOptions{}))
	assert.True(t, strings.HasPrefix(empty.String(), "digraph tapegrad {\n") && strings.HasSuffix(empty.String(), "}\n"), "empty graph:\n%s", empty.String())
	checkRenders(t, empty.Bytes())
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestRenderDOT(t *testing.T) {
	ctx := context.Background()
	g := graph.New(graph.Float32)
	nodes.Add(g.Input("x", graph.Shape{3}), g.Scalar(1))
	var b bytes.Buffer
	require.NoError(t, graph.WriteDOT(&b, g, graph.DOTOptions{}))

	for _, bad := range []string{"", "-o/tmp/x", "svg png", "svg;rm"} {
		_, err := graph.RenderDOT(ctx, b.Bytes(), bad)
		assert.ErrorIs(t, err, graph.ErrArg, "RenderDOT(format %q)", bad)
	}

	t.Run("not on PATH", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := graph.RenderDOT(ctx, b.Bytes(), "svg")
		assert.ErrorIs(t, err, exec.ErrNotFound)
		assert.ErrorContains(t, err, "Graphviz")
	})

	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz dot is not on PATH")
	}
	svg, err := graph.RenderDOT(ctx, b.Bytes(), "svg")
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
	assert.Contains(t, string(svg), "f32[3]")

	plain, err := graph.RenderDOT(ctx, b.Bytes(), "plain")
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`(?m)^edge n0 n2 `), string(plain))

	_, err = graph.RenderDOT(ctx, []byte("digraph { a -> }"), "svg")
	assert.ErrorContains(t, err, "syntax error")
	_, err = graph.RenderDOT(ctx, b.Bytes(), "nosuchformat")
	assert.Error(t, err)
}
