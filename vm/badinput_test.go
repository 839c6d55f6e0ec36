package vm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
)

// The small entry points of Program and Store given what they do not
// expect: an error or a harmless answer, never a panic.
func TestSmallEntryPointsBadInput(t *testing.T) {
	p := &Program{DType: graph.Float32, Bufs: []Buffer{{Kind: BufInput, Name: "x", Shape: graph.Shape{graph.Batch, 2}}}}
	p.Inputs = []int32{0}

	_, err := p.ConcreteShapes(-1)
	assert.ErrorContains(t, err, "batch size -1 is negative")

	broken := &Program{DType: graph.Float32, Insts: []Inst{{Op: OpCopy, Dst: []int32{3}, Src: []int32{-1}}}}
	_, err = broken.ConcreteShapes(2)
	assert.Error(t, err, "ConcreteShapes of a program whose instruction names buffers that do not exist")

	// an instruction printed with operands and a kernel that do not exist
	for _, tc := range []struct {
		inst Inst
		want string
	}{
		{Inst{Op: OpCall, Aux: 7, Dst: []int32{9}, Src: []int32{-2}}, "%9 = kernel(7) %-2 : f32[]"},
		{Inst{Op: OpCall, Aux: -1, Dst: nil, Src: nil}, " = kernel(-1) :"},
		{Inst{Op: OpCopy, Dst: []int32{0}, Src: []int32{0}}, "%0 = copy %0 : f32[B,2]"},
	} {
		assert.NotPanics(t, func() {
			got := p.InstStringWith(tc.inst, nil)
			assert.Contains(t, got, tc.want, "InstStringWith(%+v, nil): got %q, want it to contain %q", tc.inst, got, tc.want)
		})
	}

	s := NewStore()
	assert.False(t, s.Has(""), "Has(\"\") of an empty store")
	assert.False(t, s.Has("no/such"), "Has of a name never set")
	gen := s.Generation()
	assert.NotPanics(t, func() { s.Delete("no/such") })
	assert.False(t, s.Has("no/such"))
	assert.GreaterOrEqual(t, s.Generation(), gen)
	require.NoError(t, s.SetFloat64s("w", graph.Shape{2}, graph.Float64, []float64{1, 2}))
	s.Delete("w")
	assert.False(t, s.Has("w"), "a deleted variable is still there")
	_, err = s.Float64s("w")
	assert.Error(t, err, "reading a deleted variable")
}
