package vm_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// errNegative is the sentinel negKernel reports, wrapped.
var errNegative = errors.New("negative value")

// negKernel is the identity that reports a negative input as a
// data-dependent error, as a label out of range is.
type negKernel struct{}

func (negKernel) Name() string                                     { return "no_negatives" }
func (negKernel) InferShape(in []graph.Shape) (graph.Shape, error) { return in[0], nil }
func (negKernel) Bind32(a *kernel.Args[float32]) func()            { return bindNeg(a) }
func (negKernel) Bind64(a *kernel.Args[float64]) func()            { return bindNeg(a) }

func bindNeg[T kernel.Float](a *kernel.Args[T]) func() {
	d, s, st := a.Dst[0], a.Src[0], a.Status
	return func() {
		for i, v := range s {
			if v < 0 {
				st.Fail("no_negatives: %v at index %d: %w", v, i, errNegative)
				return
			}
			d[i] = v
		}
	}
}

// A kernel error names the instruction's node and the concrete shape of
// its output, and wraps what the kernel reported; an instruction without a
// node name is shown whole. The machine runs again afterwards.
func TestKernelErrorNamesInstruction(t *testing.T) {
	for _, note := range []string{"dense_1/check", ""} {
		p := &vm.Program{
			DType: graph.Float32,
			Bufs: []vm.Buffer{
				{Kind: vm.BufInput, Name: "x", Shape: graph.Shape{graph.Batch, 2}},
				{Kind: vm.BufTemp, Shape: graph.Shape{graph.Batch, 2}},
			},
			Insts:   []vm.Inst{{Op: vm.OpCall, Dst: []int32{1}, Src: []int32{0}, Aux: 0, Note: note}},
			Kernels: []vm.Kernel{negKernel{}},
			Inputs:  []int32{0},
			Fetches: []int32{1},
		}
		want := `vm: node "dense_1/check" (output f32[3,2]): no_negatives: -2 at index 3: negative value`
		if note == "" {
			want = "vm: instruction 0 `%1 = no_negatives %0 : f32[B,2]` (output f32[3,2]): no_negatives: -2 at index 3: negative value"
		}
		for _, guard := range []bool{false, true} {
			m := vm.NewMachine(p, vm.NewStore())
			m.SetGuard(guard)
			_, err := m.Run(vm.Feeds{"x": f32([]int{3, 2}, 1, 2, 3, -2, 5, 6)})
			require.Error(t, err, "note %q, guard %v", note, guard)
			assert.Equal(t, want, err.Error(), "guard %v", guard)
			assert.ErrorIs(t, err, errNegative, "the kernel's error is wrapped")

			res, err := m.Run(vm.Feeds{"x": f32([]int{3, 2}, 1, 2, 3, 4, 5, 6)})
			require.NoError(t, err, "good values after bad ones")
			assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, float32s(t, res[0]))
		}
	}
}

// A kernel error in a hoisted instruction (one that reads only variables
// and constants, run when the store changes) is located too.
func TestKernelErrorHoisted(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	labels := g.Variable("labels", graph.Shape{2}, graph.NonTrainable())
	var oh *graph.Node
	g.WithScope("classes", func() { oh = nodes.OneHot(labels, 3) })
	y := nodes.MatMul(x, nodes.Transpose(oh))
	p := mustCompile(t, g, y)
	hoisted := false
	for _, in := range p.Insts {
		if in.Op == vm.OpCall && p.Kernels[in.Aux].Name() == "one_hot" {
			hoisted = in.Hoist
		}
	}
	require.True(t, hoisted, "one_hot of a variable is not hoisted:\n%s", p)

	store := vm.NewStore()
	m := vm.NewMachine(p, store)
	feeds := vm.Feeds{"x": f32([]int{1, 3}, 1, 2, 3)}
	set(t, store, "labels", []int{2}, []float32{2, 5})
	for range 2 { // the hoisted values are recomputed after a failure
		_, err := m.Run(feeds)
		require.Error(t, err)
		assert.Equal(t, `vm: node "classes/one_hot" (output f32[2,3]): one_hot: label 5 at index 1 is not an integer in [0, 3)`, err.Error())
	}
	set(t, store, "labels", []int{2}, []float32{2, 0})
	res, err := m.Run(feeds)
	require.NoError(t, err)
	assert.Equal(t, []float32{3, 1}, float32s(t, res[0]))
}

// Locating a failed kernel costs nothing when none fails: a run of a
// program with data-dependent checks allocates nothing, with or without
// the guard.
func TestKernelErrorNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g := graph.New(graph.Float32)
	labels := g.Input("labels", graph.Shape{graph.Batch})
	logits := g.Input("logits", graph.Shape{graph.Batch, 3})
	loss := nodes.SoftmaxCrossEntropySparse(logits, labels)
	p := mustCompile(t, g, loss, nodes.OneHot(labels, 3))
	feeds := vm.Feeds{"labels": f32([]int{2}, 2, 0), "logits": f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)}
	for _, guard := range []bool{false, true} {
		m := vm.NewMachine(p, vm.NewStore())
		m.SetGuard(guard)
		_, err := m.Exec(feeds)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(10, func() { _, err = m.Exec(feeds) })
		require.NoError(t, err)
		assert.Zero(t, allocs, "allocations per Exec with guard %v", guard)
	}
}
