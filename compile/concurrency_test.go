package compile_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// A built graph is only read by the compiler and WriteDOT, so many
// goroutines may compile it (for different fetches, with different
// options) and draw it at once; each gets what a serial call gets. Run
// with -race.
func TestCompileConcurrent(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 4})
	w := g.Variable("w", graph.Shape{4, 3})
	b := g.Variable("b", graph.Shape{3})
	y := nodes.ELU(nodes.Add(nodes.MatMul(x, w), b), 1)
	loss := nodes.Mean(nodes.Square(y), false)
	grads, err := autodiff.Grad(loss, w, b)
	require.NoError(t, err)
	jobs := []struct {
		fetches []*graph.Node
		opts    compile.Options
	}{
		{[]*graph.Node{y}, compile.Options{}},
		{append([]*graph.Node{loss}, grads...), compile.Options{}},
		{append([]*graph.Node{loss}, grads...), compile.Options{Disable: []string{"fuse-dense-act", "plan-memory"}}},
		{[]*graph.Node{y, loss}, compile.Options{MemoryLimit: 1 << 20, Batches: []int{8}}},
	}
	want := make([]string, len(jobs))
	for i, j := range jobs {
		p, err := compile.Compile(g, j.fetches, j.opts)
		require.NoError(t, err)
		want[i] = compile.Explain(p)
	}
	var dot bytes.Buffer
	require.NoError(t, graph.WriteDOT(&dot, g, graph.DOTOptions{}))

	var wg sync.WaitGroup
	got := make([]string, 4*len(jobs))
	dots := make([]string, 4)
	for k := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := compile.Compile(g, jobs[k%len(jobs)].fetches, jobs[k%len(jobs)].opts)
			if err != nil {
				got[k] = err.Error()
				return
			}
			got[k] = compile.Explain(p)
			if k < len(dots) {
				var b bytes.Buffer
				if err := graph.WriteDOT(&b, g, graph.DOTOptions{}); err == nil {
					dots[k] = b.String()
				}
			}
		}()
	}
	wg.Wait()
	for k, s := range got {
		assert.Equal(t, want[k%len(jobs)], s, "compile %d", k)
	}
	for k, s := range dots {
		assert.Equal(t, dot.String(), s, "WriteDOT %d", k)
	}
}
