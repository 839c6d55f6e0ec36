package vm_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// feedGraph is out = x·w + y, with an input z the program does not need.
func feedGraph(t *testing.T) (*vm.Program, *vm.Store) {
	t.Helper()
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	y := g.Input("y", graph.Shape{graph.Batch, 2})
	z := g.Input("z", graph.Shape{graph.Batch, 5})
	w := g.Variable("w", graph.Shape{3, 2})
	out := nodes.Add(nodes.MatMul(x, w), y)
	_ = nodes.Sum(z, false) // in the graph, not in the program
	p := mustCompile(t, g, out)
	s := vm.NewStore()
	set(t, s, "w", []int{3, 2}, seq(6, 1, 1))
	return p, s
}

func TestFeedErrors(t *testing.T) {
	p, s := feedGraph(t)
	x4 := f32([]int{4, 3}, seq(12, 0, 1)...)
	y4 := f32([]int{4, 2}, seq(8, 0, 1)...)
	tests := []struct {
		name  string
		feeds vm.Feeds
		names []string // the inputs the message must name
	}{
		{"missing", vm.Feeds{"y": y4}, []string{`"x"`}},
		{"nil tensor", vm.Feeds{"x": nil, "y": y4}, []string{`"x"`}},
		{"unknown", vm.Feeds{"x": x4, "y": y4, "q": y4}, []string{`"q"`}},
		{"rank", vm.Feeds{"x": f32([]int{12}, seq(12, 0, 1)...), "y": y4}, []string{`"x"`}},
		{"rank 3", vm.Feeds{"x": f32([]int{4, 3, 1}, seq(12, 0, 1)...), "y": y4}, []string{`"x"`}},
		{"non-batch dim", vm.Feeds{"x": f32([]int{3, 4}, seq(12, 0, 1)...), "y": y4}, []string{`"x"`}},
		{"dtype", vm.Feeds{"x": tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(make([]float64, 12))), "y": y4}, []string{`"x"`}},
		{"int dtype", vm.Feeds{"x": tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(make([]int, 12))), "y": y4}, []string{`"x"`}},
		{"batch sizes", vm.Feeds{"x": x4, "y": f32([]int{5, 2}, seq(10, 0, 1)...)}, []string{`"x"`, `"y"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := vm.NewMachine(p, s)
			out, err := m.Run(tc.feeds)
			if !errors.Is(err, vm.ErrFeed) {
				t.Fatalf("Run(%s) = %v, %v; want an error matching vm.ErrFeed", tc.name, out, err)
			}
			if out != nil {
				t.Errorf("Run(%s) returned values with the error: %v", tc.name, out)
			}
			for _, n := range tc.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("Run(%s) error %q does not name input %s", tc.name, err, n)
				}
			}
			if _, err := m.Exec(tc.feeds); !errors.Is(err, vm.ErrFeed) {
				t.Errorf("Exec(%s) error = %v, want vm.ErrFeed", tc.name, err)
			}
		})
	}
}

func TestFeedUnneededInput(t *testing.T) {
	p, s := feedGraph(t)
	m := vm.NewMachine(p, s)
	feeds := vm.Feeds{
		"x": f32([]int{2, 3}, 1, 0, 0, 0, 1, 0),
		"y": f32([]int{2, 2}, 10, 20, 30, 40),
		"z": f32([]int{2, 5}, seq(10, 0, 1)...), // in the graph, pruned from the program
	}
	out, err := m.Run(feeds)
	require.NoError(t, err)
	// x picks rows 0 and 1 of w = [[1 2] [3 4] [5 6]]
	assert.Equal(t, []float32{11, 22, 33, 44}, float32s(t, out[0]))
}

func TestMachineVariableErrors(t *testing.T) {
	p, _ := feedGraph(t)
	feeds := vm.Feeds{"x": f32([]int{1, 3}, 1, 2, 3), "y": f32([]int{1, 2}, 1, 2)}
	tests := []struct {
		name  string
		store func() *vm.Store
	}{
		{"missing", vm.NewStore},
		{"wrong shape", func() *vm.Store {
			s := vm.NewStore()
			set(t, s, "w", []int{2, 3}, seq(6, 0, 1))
			return s
		}},
		{"wrong dtype", func() *vm.Store {
			s := vm.NewStore()
			if err := s.SetFloat64s("w", graph.Shape{3, 2}, graph.Float64, make([]float64, 6)); err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := vm.NewMachine(p, tc.store()).Run(feeds)
			if err == nil {
				t.Fatalf("Run with variable w %s = %v, nil; want an error", tc.name, out)
			}
			if errors.Is(err, vm.ErrFeed) {
				t.Errorf("Run with variable w %s: %v matches ErrFeed; a variable is not a feed", tc.name, err)
			}
			if !strings.Contains(err.Error(), `"w"`) {
				t.Errorf("Run with variable w %s: error %q does not name the variable", tc.name, err)
			}
		})
	}
	// a machine that failed for want of a variable works once it is there
	s := vm.NewStore()
	m := vm.NewMachine(p, s)
	_, err := m.Run(feeds)
	require.Error(t, err)
	set(t, s, "w", []int{3, 2}, seq(6, 1, 1))
	out, err := m.Run(feeds)
	require.NoError(t, err)
	// [1 2 3]·[[1 2] [3 4] [5 6]] + [1 2]
	assert.Equal(t, []float32{22 + 1, 28 + 2}, float32s(t, out[0]))
}

func TestMachineNil(t *testing.T) {
	p, s := feedGraph(t)
	feeds := vm.Feeds{"x": f32([]int{1, 3}, 1, 2, 3), "y": f32([]int{1, 2}, 1, 2)}
	var m *vm.Machine
	if _, err := m.Exec(feeds); err == nil {
		t.Error("Exec on a nil machine: want an error")
	}
	if _, err := vm.NewMachine(nil, s).Run(feeds); err == nil {
		t.Error("Run of a nil program: want an error")
	}
	if _, err := vm.NewMachine(p, nil).Run(feeds); err == nil {
		t.Error("Run without a store: want an error")
	}
}

// dense is out = x·w + b: the machine test model.
func dense(t *testing.T) (*vm.Program, *vm.Store, []float32, []float32) {
	t.Helper()
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 4})
	w := g.Variable("w", graph.Shape{4, 3})
	b := g.Variable("b", graph.Shape{3})
	p := mustCompile(t, g, nodes.Add(nodes.MatMul(x, w), b))
	wv, bv := seq(12, -1, 0.25), []float32{0.5, -0.5, 2}
	s := vm.NewStore()
	set(t, s, "w", []int{4, 3}, wv)
	set(t, s, "b", []int{3}, bv)
	return p, s, wv, bv
}

func TestMachineBatchSizes(t *testing.T) {
	p, s, w, b := dense(t)
	m := vm.NewMachine(p, s)
	for _, batch := range []int{1, 7, 32, 7, 1, 32} {
		x := seq(batch*4, float32(batch), -0.125)
		out, err := m.Run(vm.Feeds{"x": f32([]int{batch, 4}, x...)})
		require.NoError(t, err, "batch %d", batch)
		assert.Equal(t, tensor.Shape{batch, 3}, out[0].Shape(), "batch %d", batch)
		want := affine(x, w, b, batch, 4, 3)
		got := float32s(t, out[0])
		for i := range want {
			// float32 sums of four products of exact quarters: exact up to
			// the float32 rounding of the reference
			if math.Abs(float64(got[i]-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
				t.Fatalf("batch %d: out[%d] = %v, want %v", batch, i, got[i], want[i])
			}
		}
	}
	for _, batch := range []int{1, 7, 32} {
		if sh := m.Shapes(batch); sh == nil {
			t.Errorf("Shapes(%d) = nil after running batch %d", batch, batch)
		}
	}
	if sh := m.Shapes(5); sh != nil {
		t.Errorf("Shapes(5) = %v, want nil for a batch size never run", sh)
	}
}

// The instances a machine keeps for several batch sizes, and other machines
// and programs on the same store, all read the store's one copy of each
// variable: Set is seen by every one of them.
func TestMachinesShareVariables(t *testing.T) {
	p, s, w, _ := dense(t)
	m1, m2 := vm.NewMachine(p, s), vm.NewMachine(p, s)
	x1 := f32([]int{1, 4}, 1, 2, 3, 4)
	x7 := f32([]int{7, 4}, seq(28, 0, 0.5)...)
	for _, m := range []*vm.Machine{m1, m2} {
		for _, x := range []*tensor.Dense{x1, x7} {
			_, err := m.Run(vm.Feeds{"x": x})
			require.NoError(t, err)
		}
	}
	b2 := []float32{100, 200, 300}
	set(t, s, "b", []int{3}, b2)
	for mi, m := range []*vm.Machine{m1, m2} {
		for _, x := range []*tensor.Dense{x1, x7} {
			out, err := m.Run(vm.Feeds{"x": x})
			require.NoError(t, err)
			rows := x.Shape()[0]
			want := affine(float32s(t, x), w, b2, rows, 4, 3)
			assert.InDeltaSlice(t, want, float32s(t, out[0]), 1e-3, "machine %d, batch %d after Set", mi, rows)
		}
	}
}

func TestRunReturnsCopies(t *testing.T) {
	p, s, _, _ := dense(t)
	m := vm.NewMachine(p, s)
	xa := f32([]int{2, 4}, seq(8, 0, 1)...)
	xb := f32([]int{2, 4}, seq(8, 10, -1)...)
	first, err := m.Run(vm.Feeds{"x": xa})
	require.NoError(t, err)
	keep := append([]float32(nil), float32s(t, first[0])...)
	// mutating the result changes nothing in the machine
	for i := range float32s(t, first[0]) {
		float32s(t, first[0])[i] = -999
	}
	again, err := m.Run(vm.Feeds{"x": xa})
	require.NoError(t, err)
	assert.Equal(t, keep, float32s(t, again[0]), "a second run after mutating the first result")
	// and a later run leaves an earlier result alone
	_, err = m.Run(vm.Feeds{"x": xb})
	require.NoError(t, err)
	assert.Equal(t, keep, float32s(t, again[0]), "an earlier result after another run")
	// the input is copied in: changing it after the run changes nothing
	float32s(t, xa)[0] = 1e6
	assert.Equal(t, keep, float32s(t, again[0]))
}

func TestExecReturnsViews(t *testing.T) {
	p, s, w, b := dense(t)
	m := vm.NewMachine(p, s)
	xa, xb := seq(8, 0, 1), seq(8, 10, -1)
	r1, err := m.Exec(vm.Feeds{"x": f32([]int{2, 4}, xa...)})
	require.NoError(t, err)
	require.Equal(t, 1, r1.Len())
	v1 := float32s(t, r1.At(0))
	assert.InDeltaSlice(t, affine(xa, w, b, 2, 4, 3), v1, 1e-4)
	r2, err := m.Exec(vm.Feeds{"x": f32([]int{2, 4}, xb...)})
	require.NoError(t, err)
	v2 := float32s(t, r2.At(0))
	if &v1[0] != &v2[0] {
		t.Error("two Exec results of one batch size live in different memory; want the machine's one buffer")
	}
	// the first result now shows the second run: it is a view
	assert.InDeltaSlice(t, affine(xb, w, b, 2, 4, 3), v1, 1e-4)
	assert.Nil(t, r2.At(1), "At past the end")
	assert.Nil(t, r2.At(-1), "At(-1)")
	assert.Nil(t, vm.Result{}.At(0), "At of a zero Result")
}

// A kernel's data-dependent failure (a label out of range for OneHot) is an
// error from Run, and the machine recovers on the next good run.
func TestMachineKernelStatus(t *testing.T) {
	g := graph.New(graph.Float32)
	labels := g.Input("labels", graph.Shape{graph.Batch})
	p := mustCompile(t, g, nodes.OneHot(labels, 3))
	m := vm.NewMachine(p, vm.NewStore())
	_, err := m.Run(vm.Feeds{"labels": f32([]int{2}, 1, 7)})
	if err == nil {
		t.Fatal("OneHot with label 7 of depth 3: Run gave no error")
	}
	out, err := m.Run(vm.Feeds{"labels": f32([]int{2}, 2, 0)})
	require.NoError(t, err, "a good run after a failed one")
	assert.Equal(t, []float32{0, 0, 1, 1, 0, 0}, float32s(t, out[0]))
}

// A program without inputs (constants and variables only) runs with no
// feeds; feeding it anything is an unknown-input error.
func TestMachineNoInputs(t *testing.T) {
	g := graph.New(graph.Float64)
	v := g.Variable("v", graph.Shape{2})
	p := mustCompile(t, g, nodes.Mul(v, g.Constant(graph.Shape{2}, 3, 4)))
	s := vm.NewStore()
	require.NoError(t, s.SetFloat64s("v", graph.Shape{2}, graph.Float64, []float64{1, 2}))
	out, err := vm.NewMachine(p, s).Run(nil)
	require.NoError(t, err)
	assert.Equal(t, []float64{3, 8}, out[0].Data())
	_, err = vm.NewMachine(p, s).Run(vm.Feeds{"x": f32([]int{1}, 1)})
	assert.ErrorIs(t, err, vm.ErrFeed)
}

func TestFromSlice(t *testing.T) {
	d, err := vm.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	require.NoError(t, err)
	assert.Equal(t, tensor.Shape{2, 3}, d.Shape())
	for _, tc := range []struct {
		data  any
		shape []int
	}{
		{[]float32{1, 2, 3}, []int{2, 2}},
		{[]int{1, 2}, []int{2}},
		{[]float64{1, 2}, []int{-1, -2}},
	} {
		if _, err := vm.FromSlice(tc.data, tc.shape...); err == nil {
			t.Errorf("FromSlice(%v, %v) = nil error, want one", tc.data, tc.shape)
		}
	}
}

// Instructions that read only variables and constants (here 2·w) are
// computed once and kept while the store is unchanged; a Set, or an
// assignment run by another program on the same store, makes every machine
// compute them again.
func TestHoistedValuesFollowTheStore(t *testing.T) {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 2})
	w := g.Variable("w", graph.Shape{2, 2})
	y := nodes.MatMul(x, nodes.Mul(w, g.Scalar(2)))
	step := nodes.Assign(w, nodes.Add(w, g.Scalar(1))) // an "optimizer": w += 1
	predict := mustCompile(t, g, y)
	train := mustCompile(t, g, step)
	hoisted := 0
	for _, in := range predict.Insts {
		if in.Hoist {
			hoisted++
		}
	}
	require.Equal(t, 1, hoisted, "hoisted instructions (2·w) in\n%v", predict)
	s := vm.NewStore()
	set(t, s, "w", []int{2, 2}, []float32{1, 0, 0, 1})
	m := vm.NewMachine(predict, s)
	feeds := vm.Feeds{"x": f32([]int{1, 2}, 1, 2)}
	run := func() []float32 {
		t.Helper()
		out, err := m.Run(feeds)
		require.NoError(t, err)
		return float32s(t, out[0])
	}
	assert.Equal(t, []float32{2, 4}, run())
	assert.Equal(t, []float32{2, 4}, run(), "a second run with the store unchanged")
	set(t, s, "w", []int{2, 2}, []float32{0, 1, 1, 0})
	assert.Equal(t, []float32{4, 2}, run(), "after Set")
	_, err := vm.NewMachine(train, s).Run(nil) // w = [[1 2] [2 1]]
	require.NoError(t, err)
	assert.Equal(t, []float32{10, 8}, run(), "after another program assigned w")
	f, err := s.Float64s("w")
	require.NoError(t, err)
	assert.Equal(t, []float64{1, 2, 2, 1}, f)
}
