package compile_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// The compiler lets an update overwrite its variable in place (the
// assignment disappears into the fused update); such updates still run
// only when the rest of the step succeeded. A step whose one_hot (fetched
// beside the loss, on ids the update does not depend on) meets an id out
// of range fails with the store exactly as it was, its generation
// included, although its updates are computable; a good step afterwards
// updates every weight once.
func TestFailedStepLeavesStore(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			const in, out, lr = 4, 3, 0.5
			g := graph.New(dt)
			x := g.Input("x", graph.Shape{graph.Batch, in})
			labels := g.Input("labels", graph.Shape{graph.Batch})
			w, b := g.Variable("w", graph.Shape{in, out}), g.Variable("b", graph.Shape{out})
			loss := nodes.SoftmaxCrossEntropySparse(nodes.Add(nodes.MatMul(x, w), b), labels)
			ids := g.Input("ids", graph.Shape{graph.Batch})
			counts := nodes.Sum(nodes.OneHot(ids, 5), false, 0)
			grads, err := autodiff.Grad(loss, w, b)
			require.NoError(t, err)
			step := []*graph.Node{loss, counts}
			for i, p := range []*graph.Node{w, b} {
				step = append(step, nodes.Assign(p, nodes.Sub(p, nodes.Mul(g.Scalar(lr), grads[i]))))
			}
			prog, err := compile.Compile(g, step, compile.Options{})
			require.NoError(t, err)
			for _, inst := range prog.Insts {
				require.NotEqual(t, vm.OpAssign, inst.Op, "an assignment is left: the updates were not moved into their variables, so this test tests nothing\n%s", prog)
			}

			st := vm.NewStore()
			require.NoError(t, st.SetFloat64s("w", graph.Shape{in, out}, dt, []float64{0.1, -0.2, 0.3, 0.4, -0.5, 0.6, -0.7, 0.8, 0.9, -1, 1.1, -1.2}))
			require.NoError(t, st.SetFloat64s("b", graph.Shape{out}, dt, []float64{0.01, -0.02, 0.03}))
			snapshot := func() map[string][]float64 {
				s := map[string][]float64{}
				for _, name := range []string{"w", "b"} {
					v, err := st.Float64s(name)
					require.NoError(t, err)
					s[name] = v
				}
				return s
			}
			before, gen := snapshot(), st.Generation()
			m := vm.NewMachine(prog, st)
			xs := testutil.Tensor(dt, []int{2, in}, []float64{1, 2, 3, 4, -1, 0.5, 0, 2})
			ls := testutil.Tensor(dt, []int{2}, []float64{2, 0})
			for _, bad := range [][]float64{{0, 5}, {-1, 1}, {0.5, 1}} {
				_, err = m.Run(vm.Feeds{"x": xs, "labels": ls, "ids": testutil.Tensor(dt, []int{2}, bad)})
				require.Error(t, err, "ids %v", bad)
				assert.Contains(t, err.Error(), "one_hot")
				assert.Equal(t, before, snapshot(), "ids %v: a failed step changed the store", bad)
				assert.Equal(t, gen, st.Generation(), "ids %v: a failed step moved the store's generation", bad)
			}

			// a good step now updates each weight once, as a new machine does
			good := vm.Feeds{"x": xs, "labels": ls, "ids": testutil.Tensor(dt, []int{2}, []float64{4, 0})}
			_, err = m.Run(good)
			require.NoError(t, err)
			after := snapshot()
			assert.Greater(t, st.Generation(), gen, "a step that wrote the weights did not move the store's generation")

			st2 := vm.NewStore()
			for name, v := range before {
				shape := graph.Shape{out}
				if name == "w" {
					shape = graph.Shape{in, out}
				}
				require.NoError(t, st2.SetFloat64s(name, shape, dt, v))
			}
			_, err = vm.NewMachine(prog, st2).Run(good)
			require.NoError(t, err)
			for name, want := range after {
				got, err := st2.Float64s(name)
				require.NoError(t, err)
				assert.Equal(t, want, got, "%s after one good step: the machine that failed first and a new one differ", name)
				assert.NotEqual(t, before[name], got, "%s was not updated", name)
			}
		})
	}
}
