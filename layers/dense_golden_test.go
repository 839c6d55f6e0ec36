package layers_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Tolerances of the dense golden cases through the layer, those of the
// nodes golden test (nodes/dense_golden_test.go): float64 1e-10·max(1,
// |want|), the golden README's; float32 1e-5·max(1, |want|), the float32
// error bound of sums of at most 8 products of inputs below 3.4.
const (
	denseGoldenTol64 = 1e-10
	denseGoldenTol32 = 1e-5
)

// denseLayerGolden reads the Dense options of a dense or dense_act case:
// the activation by its Keras name, whose α must be the one the name
// carries in Keras (a Dense layer cannot take another), and a bias when the
// case has one.
func denseLayerGolden(c golden.Case) (layers.DenseOptions, error) {
	var opts layers.DenseOptions
	switch c.Op {
	case "dense":
	case "dense_act":
		opts.Activation = c.String("activation")
		if opts.Activation == "" {
			return opts, fmt.Errorf("dense_act without an activation")
		}
		if _, err := nodes.LookupActivation(opts.Activation); err != nil {
			return opts, err
		}
	default:
		return opts, fmt.Errorf("unknown op %q", c.Op)
	}
	for k, v := range c.Params {
		switch k {
		case "activation":
			if c.Op != "dense_act" {
				return opts, fmt.Errorf("activation %v on op %s", v, c.Op)
			}
		case "kernel_layout":
			if v != "[in,out]" {
				return opts, fmt.Errorf("kernel_layout %v: want [in,out]", v)
			}
		case "alpha":
			keras := map[string]float64{"leaky_relu": nodes.KerasLeakyReLUActivationAlpha, "elu": 1}
			want, ok := keras[opts.Activation]
			if !ok {
				return opts, fmt.Errorf("alpha %v for activation %q, which has none", v, opts.Activation)
			}
			if v != want {
				return opts, fmt.Errorf("alpha %v: Keras's %q has %v, and Dense takes activations by name", v, opts.Activation, want)
			}
		default:
			return opts, fmt.Errorf("unknown parameter %s = %v", k, v)
		}
	}
	for k := range c.Inputs {
		if k != "x" && k != "W" && k != "b" {
			return opts, fmt.Errorf("unknown input %s", k)
		}
	}
	if _, ok := c.Inputs["W"]; !ok {
		return opts, fmt.Errorf("no kernel W")
	}
	if _, ok := c.Inputs["b"]; !ok {
		opts.UseBias = layers.False
	}
	return opts, nil
}

// TestDenseLayerGolden runs every dense and dense_act case of dense.json
// through layers.Dense in a Sequential model, in float64 and float32: W and
// b are set in the store, x is fed with an open batch, and the output y,
// the pre-activation z (the same model without its activation) and the
// gradients for x, W and b with the case's upstream are compared.
// bn_fold_dense cases fold a BatchNormalization into the dense layer, a
// compile pass: compile's TestGoldenBNFoldDense runs them, so they are the
// one op skipped here; any other op fails.
func TestDenseLayerGolden(t *testing.T) {
	f := golden.Load(t, "dense.json")
	n := 0
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Op == "bn_fold_dense" {
				t.Skip("bn_fold_dense is a compile pass: compile.TestGoldenBNFoldDense runs it")
			}
			opts, err := denseLayerGolden(c)
			if err != nil {
				t.Fatalf("case %s (op %s, params %v): %v", c.Name, c.Op, c.Params, err)
			}
			n++
			for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
				t.Run(dt.String(), func(t *testing.T) { denseLayerGoldenRun(t, dt, c, opts) })
			}
		})
	}
	require.NotZero(t, n, "no dense or dense_act cases")
}

func denseLayerGoldenRun(t *testing.T, dt graph.DType, c golden.Case, opts layers.DenseOptions) {
	tol := denseGoldenTol64
	if dt == graph.Float32 {
		tol = denseGoldenTol32
	}
	xs, w := c.Inputs["x"], c.Inputs["W"]
	require.Len(t, xs.Shape, 2, "x")
	require.Len(t, w.Shape, 2, "W")
	units := w.Shape[1]
	store := vm.NewStore()
	require.NoError(t, store.SetFloat64s("dense/kernel", w.Shape, dt, w.Data))
	if b, ok := c.Inputs["b"]; ok {
		require.NoError(t, store.SetFloat64s("dense/bias", b.Shape, dt, b.Data))
	}
	feeds := vm.Feeds{"x": testutil.Tensor(dt, xs.Shape, xs.Data)}

	// the pre-activation, from the same layer without its activation
	if z, ok := c.Outputs["z"]; ok {
		lin := opts
		lin.Activation = ""
		m := layers.NewSequential(layers.Input(xs.Shape[1:]...), layers.Dense(units, lin))
		e, err := m.Emit(dt, layers.Inference)
		require.NoError(t, err)
		require.NoError(t, store.Init(e.Graph, 0, nil))
		p, err := compile.Compile(e.Graph, []*graph.Node{e.Output}, compile.Options{})
		require.NoError(t, err)
		res, err := vm.NewMachine(p, store).Run(feeds)
		require.NoError(t, err)
		require.Equal(t, z.Shape, []int(res[0].Shape()), "z shape")
		golden.Compare(t, "Dense z", testutil.Float64s(res[0]), z, tol)
	}

	m := layers.NewSequential(layers.Input(xs.Shape[1:]...), layers.Dense(units, opts))
	e, err := m.Emit(dt, layers.Training)
	require.NoError(t, err)
	g := e.Graph
	// Init finds W and b in the store and checks their shapes and dtype
	require.NoError(t, store.Init(g, 0, nil))
	require.Equal(t, opts.UseBias != layers.False, store.Has("dense/bias"))
	up := g.Input("up", e.Output.Shape())
	loss := nodes.Sum(nodes.Mul(e.Output, up), false)
	wrtByName := map[string]*graph.Node{"x": e.Input, "W": g.Node("dense/kernel"), "b": g.Node("dense/bias")}
	var names []string
	for k := range c.Grads {
		names = append(names, k)
	}
	slices.Sort(names)
	require.Equal(t, slices.Sorted(maps.Keys(c.Inputs)), names, "the case must give a gradient for every input")
	var wrt []*graph.Node
	for _, k := range names {
		n := wrtByName[k]
		require.NotNil(t, n, "gradient for %s, which the layer does not have", k)
		wrt = append(wrt, n)
	}
	grads, err := autodiff.Grad(loss, wrt...)
	require.NoError(t, err)
	p, err := compile.Compile(g, append([]*graph.Node{e.Output}, grads...), compile.Options{})
	require.NoError(t, err)
	require.NotNil(t, c.Upstream, "case %s has no upstream", c.Name)
	feeds["up"] = testutil.Tensor(dt, c.Upstream.Shape, c.Upstream.Data)
	res, err := vm.NewMachine(p, store).Run(feeds)
	require.NoError(t, err)

	y := c.Outputs["y"]
	require.Equal(t, y.Shape, []int(res[0].Shape()), "y shape")
	golden.Compare(t, "Dense y", testutil.Float64s(res[0]), y, tol)
	for i, k := range names {
		require.Equal(t, c.Grads[k].Shape, []int(res[1+i].Shape()), "grad %s shape", k)
		golden.Compare(t, "Dense grad "+k, testutil.Float64s(res[1+i]), c.Grads[k], tol)
	}
}
