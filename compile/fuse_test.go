package compile_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
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
				if act != "" && act != "linear" { // linear is no op at all
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

// An optimizer-like update of w and a loss-like tail of x each become one
// instruction: the whole chain in one sweep, reading only the chain's
// inputs.
func TestFuseElementwiseVerify(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		g := graph.New(dt)
		x := g.Input("x", graph.Shape{graph.Batch, 7})
		w := g.Variable("w", graph.Shape{7})
		// an Adam-like update chain on w, and a loss tail
		sum := nodes.Sum(x, false, 0)
		m := nodes.Add(nodes.Mul(g.Scalar(0.9), w), nodes.Mul(g.Scalar(0.1), sum))
		v := nodes.Add(nodes.Mul(g.Scalar(0.999), nodes.Square(w)), g.Scalar(1e-3))
		upd := nodes.Sub(w, nodes.Div(nodes.Mul(g.Scalar(0.01), m), nodes.Add(nodes.Sqrt(v), g.Scalar(1e-8))))
		th := nodes.Tanh(x)
		ab := nodes.Abs(th)
		ng := nodes.Neg(ab)
		y := nodes.Exp(ng)
		p, err := compile.Compile(g, []*graph.Node{upd, y}, compile.Options{Verify: true})
		require.NoError(t, err)
		require.Len(t, p.Insts, 3, "the sum, the update chain and the tail:\n%s", p)
		writer := func(b int32) vm.Inst {
			for _, in := range p.Insts {
				if slices.Contains(in.Dst, b) {
					return in
				}
			}
			t.Fatalf("no instruction writes %%%d:\n%s", b, p)
			return vm.Inst{}
		}
		kinds := func(in vm.Inst) []string {
			var out []string
			for _, s := range in.Src {
				b := p.Bufs[s]
				if b.Kind == vm.BufConstant {
					continue
				}
				out = append(out, b.Name)
			}
			slices.Sort(out)
			return slices.Compact(out)
		}
		tail := writer(p.Fetches[1])
		assert.Equal(t, []string{"x"}, kinds(tail), "the tail reads only x: %s", p.InstString(tail))
		for _, n := range []*graph.Node{th, ab, ng, y} {
			assert.Contains(t, tail.Note, n.Name(), "the tail's instruction does not come from %s: %s", n.Name(), p.InstString(tail))
		}
		update := writer(p.Fetches[0])
		assert.Equal(t, []string{sum.Name(), "w"}, kinds(update), "the update reads only w and the sum: %s", p.InstString(update))
		assert.Contains(t, update.Note, m.Name())
		assert.Contains(t, update.Note, v.Name())
		assert.Contains(t, update.Note, upd.Name())
	}
}

// bnStep builds 12-8-BN-act-6-BN-act-3 (the Dense layers before BN with or
// without a bias) and a mean-squared loss: in training mode with the
// gradients of every trainable variable and the BN moving-statistics
// updates among the fetches, in inference mode the loss and the output.
func bnStep(t *testing.T, dt graph.DType, act string, conv layers.Convention, mode layers.Mode, bias bool) (*graph.Graph, []*graph.Node) {
	t.Helper()
	useBias := layers.False
	if bias {
		useBias = layers.True
	}
	m := layers.NewSequential(layers.Input(12),
		layers.Dense(8, layers.DenseOptions{UseBias: useBias, KernelInitializer: "he_normal"}),
		layers.BatchNormalization(layers.BNOptions{Convention: conv}),
		layers.Activation(act),
		layers.Dense(6, layers.DenseOptions{UseBias: useBias, KernelInitializer: "he_normal"}),
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

// BatchNorm + activation, for every activation of the catalogue, in both
// modes and both conventions, after a Dense with or without a bias: in
// training mode BN and the activation are fused forward and backward, in
// inference mode BN is folded into the Dense before it and the activation
// fused with that Dense. Verify (on) checks that every fetch, the outputs,
// the gradients and the moving statistics written, agrees with the program
// without those passes (1e-12 in float64, 1e-4 in float32). The
// activations deliberately not fused are listed, and checked not to be, so
// that the lists stay true.
func TestFuseBNActVerify(t *testing.T) {
	// no forward fusion: linear is no op, the softmaxes are row
	// reductions, not element-wise
	noForward := []string{"linear", "log_softmax", "softmax"}
	// no backward fusion either: their gradients are built of plain
	// element-wise ops (y·ḡ, (1−y²)·ḡ, y(1−y)·ḡ), not an activation
	// gradient op that batch_norm_act_grad could run
	noBackward := append([]string{"exponential", "sigmoid", "tanh"}, noForward...)
	for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
		for _, act := range nodes.ActivationNames() {
			for _, conv := range []layers.Convention{layers.Keras, layers.PyTorch} {
				for _, bias := range []bool{false, true} {
					for _, mode := range []layers.Mode{layers.Training, layers.Inference} {
						name := fmt.Sprintf("%v %s %v bias=%v %v", dt, act, conv, bias, mode)
						g, fetches := bnStep(t, dt, act, conv, mode, bias)
						p, err := compile.Compile(g, fetches, compile.Options{Verify: true})
						require.NoError(t, err, name)
						n := kernelCounts(p)
						if mode == layers.Inference {
							assert.Zero(t, n["batch_norm_infer"], "%s: BN not folded:\n%s", name, p)
							assert.Zero(t, n["matmul"], "%s: a dense layer not fused:\n%s", name, p)
							assert.Equal(t, 3, n["dense"], "%s:\n%s", name, p)
							acts := 2
							if act == "linear" {
								acts = 0
							}
							assert.Equal(t, acts, strings.Count(p.String(), "dense[bias act="), "%s: activations fused with the folded dense layers:\n%s", name, p)
							continue
						}
						fwd, bwd := 2, 2
						if slices.Contains(noForward, act) {
							fwd = 0
						}
						if slices.Contains(noBackward, act) {
							bwd = 0
						}
						assert.Equal(t, fwd, n["batch_norm_act"], "%s: forward fusions:\n%s", name, p)
						assert.Equal(t, 2-fwd, n["batch_norm_train"], "%s: unfused BN forward:\n%s", name, p)
						assert.Equal(t, bwd, n["batch_norm_act_grad"], "%s: backward fusions:\n%s", name, p)
						assert.Equal(t, 2-bwd, n["batch_norm_grad"], "%s: unfused BN backward:\n%s", name, p)
					}
				}
			}
		}
	}
}

// kernelCounts counts a program's instructions by kernel name.
func kernelCounts(p *vm.Program) map[string]int {
	n := map[string]int{}
	for _, in := range p.Insts {
		if in.Op == vm.OpCall {
			n[p.Kernels[in.Aux].Name()]++
		}
	}
	return n
}
