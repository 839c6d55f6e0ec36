package train_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// clipRun clips four hand-made gradients (fed as inputs) and returns them:
// a = [3, 4] (norm 5), b = [0.6, −0.8] (norm 1), z = [0, 0] (norm 0) and
// the scalar s = −7.
func clipRun(t *testing.T, c train.Clip) [][]float64 {
	t.Helper()
	g := graph.New(graph.Float64)
	ins := []testutil.Value{
		{Name: "a", Shape: []int{2}, Data: []float64{3, 4}},
		{Name: "b", Shape: []int{2}, Data: []float64{0.6, -0.8}},
		{Name: "z", Shape: []int{2}, Data: []float64{0, 0}},
		{Name: "s", Shape: []int{}, Data: []float64{-7}},
	}
	var grads []*graph.Node
	feeds := vm.Feeds{}
	for _, in := range ins {
		grads = append(grads, g.Input(in.Name, in.Shape))
		feeds[in.Name] = testutil.Tensor(graph.Float64, in.Shape, in.Data)
	}
	out, err := train.ClipGradients(c, grads)
	require.NoError(t, err)
	prog, err := compile.Compile(g, out, compile.Options{})
	require.NoError(t, err)
	res, err := vm.NewMachine(prog, vm.NewStore()).Run(feeds)
	require.NoError(t, err)
	vals := make([][]float64, len(res))
	for i, r := range res {
		vals[i] = testutil.Float64s(r)
	}
	return vals
}

func TestClip(t *testing.T) {
	g75 := math.Sqrt(75) // the joint norm: sqrt(25 + 1 + 0 + 49)
	for _, tc := range []struct {
		name string
		clip train.Clip
		want [][]float64
	}{
		{"none", train.Clip{}, [][]float64{{3, 4}, {0.6, -0.8}, {0, 0}, {-7}}},
		{"value 2", train.Clip{ClipValue: 2}, [][]float64{{2, 2}, {0.6, -0.8}, {0, 0}, {-2}}},
		{"value 0.7", train.Clip{ClipValue: 0.7}, [][]float64{{0.7, 0.7}, {0.6, -0.7}, {0, 0}, {-0.7}}},
		// each tensor on its own: a shrinks to norm 2, b (norm 1) and z
		// pass, the scalar −7 becomes −2
		{"norm 2", train.Clip{ClipNorm: 2}, [][]float64{{1.2, 1.6}, {0.6, -0.8}, {0, 0}, {-2}}},
		// all together: the joint norm √75 scales every gradient by 5/√75
		{"global 5", train.Clip{GlobalClipNorm: 5}, [][]float64{{15 / g75, 20 / g75}, {3 / g75, -4 / g75}, {0, 0}, {-35 / g75}}},
		// a bound above the joint norm changes nothing
		{"global 10", train.Clip{GlobalClipNorm: 10}, [][]float64{{3, 4}, {0.6, -0.8}, {0, 0}, {-7}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := clipRun(t, tc.clip)
			for i := range tc.want {
				// the norms and scale factors round once or twice
				optClose(t, tc.name, got[i], tc.want[i], 1e-15)
			}
		})
	}
}

// TestClipInOptimizer: SGD with learning rate 1 moves the parameter by
// exactly the clipped gradient.
func TestClipInOptimizer(t *testing.T) {
	for _, tc := range []struct {
		clip train.Clip
		want []float64
	}{
		{train.Clip{ClipNorm: 1}, []float64{1 - 0.6, 1 - 0.8}},
		{train.Clip{ClipValue: 3.5}, []float64{1 - 3, 1 - 3.5}},
		{train.Clip{GlobalClipNorm: 2.5}, []float64{1 - 1.5, 1 - 2}},
	} {
		r := newOptRig(t, train.SGD{LearningRate: 1, Clip: tc.clip}, []float64{1, 1})
		r.step([]float64{3, 4})
		optClose(t, "w", r.get("dense/kernel"), tc.want, 1e-15)
	}
}

func TestClipInvalid(t *testing.T) {
	g := graph.New(graph.Float64)
	x := g.Input("x", graph.Shape{2})
	for _, tc := range []struct {
		clip train.Clip
		want string
	}{
		{train.Clip{ClipValue: -1}, "ClipValue -1"},
		{train.Clip{ClipNorm: math.NaN()}, "ClipNorm NaN"},
		{train.Clip{GlobalClipNorm: math.Inf(1)}, "GlobalClipNorm +Inf"},
		{train.Clip{ClipValue: 1, GlobalClipNorm: 1}, "only one"},
	} {
		_, err := train.ClipGradients(tc.clip, []*graph.Node{x})
		if assert.Error(t, err, "%+v", tc.clip) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
	_, err := train.ClipGradients(train.Clip{}, []*graph.Node{x, nil})
	assert.ErrorContains(t, err, "gradient 1 is nil")
	other := graph.New(graph.Float64).Input("y", graph.Shape{2})
	_, err = train.ClipGradients(train.Clip{}, []*graph.Node{x, other})
	assert.ErrorContains(t, err, "another graph")
	assert.NoError(t, g.Err())
}
