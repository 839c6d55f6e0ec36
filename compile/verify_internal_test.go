package compile

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Verify is on in this package's tests unless TAPEGRAD_VERIFY says
// otherwise (TestMain).
func TestVerifyOnInTests(t *testing.T) {
	v, set := os.LookupEnv("TAPEGRAD_VERIFY")
	require.True(t, set, "TestMain did not set TAPEGRAD_VERIFY")
	assert.Equal(t, v == "1" || v == "true", verifyEnv(), "TAPEGRAD_VERIFY=%q", v)
}

// verifyGraph is a dense layer with a sigmoid, then y − 0.25 and its mean
// (float64), y fetched first: fused, a dense instruction, a subtraction
// and a mean.
func verifyGraph(t *testing.T) (*graph.Graph, []*graph.Node, *vm.Program) {
	t.Helper()
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{graph.Batch, 4})
	w := g.Variable("w", graph.Shape{4, 3})
	b := g.Variable("b", graph.Shape{3})
	y := nodes.Sub(nodes.Sigmoid(nodes.Add(nodes.MatMul(x, w), b)), g.Scalar(0.25))
	fetches := []*graph.Node{y, nodes.Mean(y, false)}
	p, err := compileWith(g, fetches, Options{}, false)
	require.NoError(t, err)
	return g, fetches, p
}

// Verify reports a fused program that computes something else, naming the
// fetch, the element, both values and the fused instruction that computes
// the fetch; the untouched program passes.
func TestVerifyReportsMismatch(t *testing.T) {
	g, fetches, p := verifyGraph(t)
	require.NoError(t, verify(g, fetches, Options{}, p), "the untouched program")

	// find y − 0.25: the instruction computing fetch 0
	find := func(p *vm.Program) int {
		for i, in := range p.Insts {
			if slices.Contains(in.Dst, p.Fetches[0]) {
				return i
			}
		}
		t.Fatalf("no instruction computes fetch 0:\n%s", p)
		return -1
	}
	tests := []struct {
		name   string
		tamper func(p *vm.Program) int // returns the instruction it breaks
	}{
		{"operands swapped", func(p *vm.Program) int {
			i := find(p)
			in := &p.Insts[i]
			require.Len(t, in.Src, 2, "%s", p.InstString(*in))
			in.Src = []int32{in.Src[1], in.Src[0]} // 0.25 − y
			return i
		}},
		{"constant corrupted", func(p *vm.Program) int {
			i := find(p)
			for _, s := range p.Insts[i].Src {
				if p.Bufs[s].Kind == vm.BufConstant {
					p.Bufs[s].Data = []float64{0.25 + 1e-9} // beyond 1e-12, within float32's tolerance
					return i
				}
			}
			t.Fatalf("instruction %d reads no constant:\n%s", i, p)
			return -1
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, fetches, p := verifyGraph(t)
			i := tc.tamper(p)
			err := verify(g, fetches, Options{}, p)
			require.Error(t, err)
			msg := err.Error()
			t.Log(msg)
			assert.True(t, strings.HasPrefix(msg, `compile: verify: fetch 0 ("`+fetches[0].Name()+`") element `), msg)
			assert.Contains(t, msg, "instruction "+strconv.Itoa(i)+": "+p.InstString(p.Insts[i]), "the error does not name the broken instruction")
		})
	}
}
