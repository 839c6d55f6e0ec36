package vm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// A scalar input is fed with a tensor of shape () (FromSlice with no
// dimensions).
func TestScalarInput(t *testing.T) {
	g := graph.New(graph.Float32)
	s := g.Input("s", graph.Shape{})
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	p := mustCompile(t, g, nodes.Mul(x, s))
	sv, err := vm.FromSlice([]float32{3})
	require.NoError(t, err)
	out, err := vm.NewMachine(p, vm.NewStore()).Run(vm.Feeds{"s": sv, "x": f32([]int{2, 2}, 1, 2, 3, 4)})
	require.NoError(t, err)
	assert.Equal(t, []float32{3, 6, 9, 12}, float32s(t, out[0]))
	// a one-element vector is not a scalar
	_, err = vm.NewMachine(p, vm.NewStore()).Run(vm.Feeds{"s": f32([]int{1}, 3), "x": f32([]int{2, 2}, 1, 2, 3, 4)})
	assert.ErrorIs(t, err, vm.ErrFeed)
}

// A batch of zero rows runs (and gives values with no elements) rather
// than panicking; so does a training step on it.
func TestEmptyBatch(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	w := g.Variable("w", graph.Shape{3, 2})
	b := g.Variable("b", graph.Shape{2})
	y := nodes.Tanh(nodes.Add(nodes.MatMul(x, w), b))
	p := mustCompile(t, g, y, nodes.Sum(y, false), nodes.Mean(y, false, 0))
	s := vm.NewStore()
	set(t, s, "w", []int{3, 2}, seq(6, 0, 1))
	set(t, s, "b", []int{2}, []float32{1, 2})
	empty := tensor.New(tensor.WithShape(0, 3), tensor.WithBacking([]float32{}))
	out, err := vm.NewMachine(p, s).Run(vm.Feeds{"x": empty})
	require.NoError(t, err)
	assert.Equal(t, tensor.Shape{0, 2}, out[0].Shape())
	assert.Equal(t, 0, out[0].Len())
	assert.Equal(t, []float32{0}, out[1].Float32s(), "the sum of nothing")
	assert.Len(t, out[2].Float32s(), 2)
}
