package compile_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/vm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./compile -run %s -update", t.Name())
	assert.Equal(t, string(want), got)
}

// The programs of the chapter's BN model (784-300-BN-ELU-100-BN-ELU-10,
// configuration B): the training step (forward, backward, SGD update, BN
// moving statistics) and the inference program, whose BatchNorms are folded
// into the dense kernels.
func TestExplainGolden(t *testing.T) {
	for _, name := range []string{"B", "D"} {
		c, err := refmodels.ByName(name)
		require.NoError(t, err)
		step, err := c.Build(graph.Float32)
		require.NoError(t, err)
		p, err := compile.Compile(step.Graph, step.Fetches, compile.Options{Verify: true})
		require.NoError(t, err)
		file := "explain_train_B.txt"
		if c.Inference {
			file = "explain_infer_B.txt"
		}
		checkGolden(t, file, compile.ExplainBatch(p, 128))
	}
}

// The training step of B has its BatchNorms fused with the activations in
// both directions, its last dense layer fused with its bias, and the SGD
// updates as fused sweeps; the inference program has no BatchNorm left.
func TestExplainFusions(t *testing.T) {
	c, _ := refmodels.ByName("B")
	step, err := c.Build(graph.Float32)
	require.NoError(t, err)
	p, err := compile.Compile(step.Graph, step.Fetches, compile.Options{})
	require.NoError(t, err)
	counts := map[string]int{}
	for _, k := range p.Kernels {
		counts[k.Name()]++
	}
	assert.Equal(t, 2, counts["batch_norm_act"], "BN+ELU forward")
	assert.Equal(t, 2, counts["batch_norm_act_grad"], "BN+ELU backward")
	assert.Zero(t, counts["batch_norm_train"]+counts["batch_norm_grad"]+counts["elu"]+counts["elu_grad"], "unfused BN or ELU left")

	d, _ := refmodels.ByName("D")
	step, err = d.Build(graph.Float32)
	require.NoError(t, err)
	p, err = compile.Compile(step.Graph, step.Fetches, compile.Options{})
	require.NoError(t, err)
	body := 0
	for _, in := range p.Insts {
		if !in.Hoist {
			body++
		}
		if in.Op == vm.OpCall {
			assert.NotEqual(t, "batch_norm_infer", p.Kernels[in.Aux].Name())
		}
	}
	assert.Equal(t, 3, body, "inference of B should run three dense instructions:\n%s", compile.Explain(p))
}
