package compile_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
)

// mlpStep builds a training step of an MLP with the given activation:
// forward, mean-squared loss, and gradients for every variable.
func mlpStep(dt graph.DType, act string, bias bool) (*graph.Graph, []*graph.Node) {
	g := graph.New(dt)
	x := g.Input("x", graph.Shape{graph.Batch, 6})
	t := g.Input("t", graph.Shape{graph.Batch, 3})
	h := x
	var vars []*graph.Node
	for i, units := range []int{5, 4, 3} {
		in := h.Shape()[1]
		var w, b *graph.Node
		g.WithScope(g.UniqueName("dense"), func() {
			w = g.Variable("kernel", graph.Shape{in, units})
			h = nodes.MatMul(h, w)
			vars = append(vars, w)
			if bias {
				b = g.Variable("bias", graph.Shape{units})
				h = nodes.Add(h, b)
				vars = append(vars, b)
			}
			if i < 2 {
				h = nodes.Activation(act, h)
			}
		})
	}
	loss := nodes.Mean(nodes.Square(nodes.Sub(h, t)), false)
	grads, err := autodiff.Grad(loss, vars...)
	if err != nil {
		panic(err)
	}
	return g, append([]*graph.Node{loss, h}, grads...)
}

// Every activation of the catalogue fused with its dense layer gives, in
// both dtypes, the forward and the gradients of the unfused program.
func TestFuseDenseActVerify(t *testing.T) {
	acts := append(nodes.ActivationNames(), "")
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		for _, act := range acts {
			for _, bias := range []bool{true, false} {
				g, fetches := mlpStep(dt, act, bias)
				p, err := compile.Compile(g, fetches, compile.Options{Verify: true})
				require.NoError(t, err, "%v %q bias=%v", dt, act, bias)
				s := p.String()
				if act != "" && act != "linear" && act != "exponential" {
					require.Contains(t, s, "dense[", "%q was not fused:\n%s", act, s)
				}
				if bias && (act == "" || act == "linear") {
					require.Contains(t, s, "dense[bias]", "bias add was not fused:\n%s", s)
				}
				if act == "softmax" || act == "log_softmax" {
					require.True(t, strings.Contains(s, "act=softmax") || strings.Contains(s, "act=log_softmax"), s)
				}
			}
		}
	}
}

func TestFuseElementwiseVerify(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		g := graph.New(dt)
		x := g.Input("x", graph.Shape{graph.Batch, 7})
		w := g.Variable("w", graph.Shape{7})
		// an Adam-like update chain on w, and a loss tail
		m := nodes.Add(nodes.Mul(g.Scalar(0.9), w), nodes.Mul(g.Scalar(0.1), nodes.Sum(x, false, 0)))
		v := nodes.Add(nodes.Mul(g.Scalar(0.999), nodes.Square(w)), g.Scalar(1e-3))
		upd := nodes.Sub(w, nodes.Div(nodes.Mul(g.Scalar(0.01), m), nodes.Add(nodes.Sqrt(v), g.Scalar(1e-8))))
		y := nodes.Exp(nodes.Neg(nodes.Abs(nodes.Tanh(x))))
		p, err := compile.Compile(g, []*graph.Node{upd, y}, compile.Options{Verify: true})
		require.NoError(t, err)
		require.Contains(t, p.String(), "fused[", p.String())
	}
}

// bnStep builds a training step of 12-8-BN-act-6-BN-act-3 (Dense without
// bias before BN), with the BN moving-statistics updates among the fetches.
func bnStep(t *testing.T, dt graph.DType, act string, conv layers.Convention, mode layers.Mode) (*graph.Graph, []*graph.Node) {
	t.Helper()
	m := layers.NewSequential(layers.Input(12),
		layers.Dense(8, layers.DenseOptions{UseBias: layers.False, KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{Convention: conv}),
		layers.Activation(act),
		layers.Dense(6, layers.DenseOptions{UseBias: layers.False, KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{Convention: conv}),
		layers.Activation(act),
		layers.Dense(3, layers.DenseOptions{}),
	)
	e, err := m.Emit(dt, mode)
	require.NoError(t, err)
	g := e.Graph
	tgt := g.Input("t", graph.Shape{graph.Batch, 3})
	loss := nodes.Mean(nodes.Square(nodes.Sub(e.Output, tgt)), false)
	var params []*graph.Node
	for _, v := range g.Variables() {
		if v.Op().(graph.VariableOp).Trainable {
			params = append(params, v)
		}
	}
	fetches := []*graph.Node{loss, e.Output}
	if mode == layers.Training {
		grads, err := autodiff.Grad(loss, params...)
		require.NoError(t, err)
		fetches = append(append(fetches, grads...), e.Updates...)
	}
	return g, fetches
}

// BatchNorm + activation fused forward and backward, in both conventions,
// agrees with the unfused program (outputs, gradients and the moving
// statistics it writes).
func TestFuseBNActVerify(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		for _, act := range []string{"relu", "elu", "selu", "tanh", "sigmoid", "leaky_relu", "gelu"} {
			for _, conv := range []layers.Convention{layers.Keras, layers.PyTorch} {
				g, fetches := bnStep(t, dt, act, conv, layers.Training)
				p, err := compile.Compile(g, fetches, compile.Options{Verify: true})
				require.NoError(t, err, "%v %s %v", dt, act, conv)
				s := p.String()
				require.Contains(t, s, "batch_norm_act[", "%s forward not fused:\n%s", act, s)
				if act != "tanh" && act != "sigmoid" { // their gradients are composite ops
					require.Contains(t, s, "batch_norm_act_grad[", "%s backward not fused:\n%s", act, s)
				}
			}
		}
	}
}
