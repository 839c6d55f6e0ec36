package train_test

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// Tolerances of the golden trajectories.
const (
	// goldenTrainTol is the golden README's tolerance for training
	// trajectories, relative to max(1, |want|).
	goldenTrainTol = 1e-8
	// goldenZeroGradTol is the absolute tolerance for the gradient of a
	// bias right before BatchNorm, whose true value is exactly 0: both
	// sides hold rounding noise of a sum of a dozen terms of order 0.1
	// (~1e-17), and every real gradient in these cases is above 1e-4.
	goldenZeroGradTol = 1e-12
	// goldenZeroParamTol is the absolute tolerance for that bias after the
	// steps: SGD moves it by η·noise ≈ 1e-18 a step, Adam-like methods by
	// up to η·noise/ε ≈ 1e-12 (SEMANTICS §8), far below this.
	goldenZeroParamTol = 1e-10
)

// The moving-statistics conventions (SEMANTICS §4.2): Keras keeps the
// fraction 0.99 of the old value and averages the biased batch variance,
// PyTorch takes the fraction 0.1 of the new value and averages the
// unbiased one.
const (
	goldenKerasBNMomentum = 0.99
	goldenTorchBNMomentum = 0.1
)

// TestGoldenTraining runs every case of training.json: it builds the model
// its params.layers describe, sets the case's initial parameters, runs
// params.steps optimizer steps as one compiled program each (forward,
// gradients, update, BatchNorm moving statistics in both conventions) and
// compares the losses, the gradients of the first step, the final loss and
// the state after the last step.
func TestGoldenTraining(t *testing.T) {
	f := golden.Load(t, "training.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Op != "mlp_train_trajectory" {
				t.Fatalf("unknown op %q", c.Op)
			}
			goldenTrajectory(t, c)
		})
	}
}

// goldenOptimizer returns the optimizer of a case, in PyTorch's form with
// PyTorch's defaults for the hyper-parameters a case leaves out (the
// golden files come from PyTorch).
func goldenOptimizer(c golden.Case) (train.Optimizer, error) {
	num := func(key string, def float64) float64 {
		if v, ok := c.Float(key); ok {
			return v
		}
		return def
	}
	lr, ok := c.Float("lr")
	if !ok {
		return nil, fmt.Errorf("no params.lr")
	}
	// hyper-parameters the optimizers here do not implement
	for _, key := range []string{"dampening", "amsgrad", "maximize", "differentiable", "decoupled_weight_decay", "capturable"} {
		if v, ok := c.Params[key]; ok && v != false && v != 0.0 {
			return nil, fmt.Errorf("unsupported params.%s = %v", key, v)
		}
	}
	betas := func() (float64, float64) {
		if b, ok := c.Params["betas"].([]any); ok && len(b) == 2 {
			b1, _ := b[0].(float64)
			b2, _ := b[1].(float64)
			return b1, b2
		}
		return num("beta1", 0.9), num("beta2", 0.999)
	}
	name := c.String("optimizer")
	if wd := num("weight_decay", 0); wd != 0 && name != "adamw" {
		return nil, fmt.Errorf("unsupported params.weight_decay = %v for %s", wd, name)
	}
	switch name {
	case "sgd":
		return train.SGD{LearningRate: lr}, nil
	case "sgd_momentum":
		return train.SGD{LearningRate: lr, Momentum: num("momentum", 0)}, nil
	case "sgd_nesterov":
		return train.SGD{LearningRate: lr, Momentum: num("momentum", 0), Nesterov: true}, nil
	case "adam":
		b1, b2 := betas()
		return train.Adam{LearningRate: lr, Beta1: b1, Beta2: b2, Epsilon: num("eps", 1e-8)}, nil
	case "adamw":
		b1, b2 := betas()
		return train.AdamW{LearningRate: lr, Beta1: b1, Beta2: b2, Epsilon: num("eps", 1e-8), WeightDecay: num("weight_decay", 0.01)}, nil
	case "nadam":
		b1, b2 := betas()
		return train.Nadam{LearningRate: lr, Beta1: b1, Beta2: b2, Epsilon: num("eps", 1e-8), MomentumDecay: num("momentum_decay", 4e-3), Torch: true}, nil
	case "rmsprop":
		centered, _ := c.Params["centered"].(bool)
		return train.RMSprop{LearningRate: lr, Rho: num("alpha", 0.99), Epsilon: num("eps", 1e-8), Momentum: num("momentum", 0), Centered: centered, Torch: true}, nil
	case "adagrad":
		acc := num("initial_accumulator_value", 0)
		return train.Adagrad{LearningRate: lr, InitialAccumulatorValue: acc, Epsilon: num("eps", 1e-10), LRDecay: num("lr_decay", 0), Torch: true}, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q", name)
}

// goldenModel is the training graph of a case.
type goldenModel struct {
	g       *graph.Graph
	loss    *graph.Node
	params  []*graph.Node // trainable, in the order of the case's inputs
	updates []*graph.Node // moving statistics
	// zeroGrad names the biases right before a BatchNorm
	zeroGrad map[string]bool
}

var (
	goldenDenseRe = regexp.MustCompile(`^dense\((\d+)->(\d+)\)$`)
	goldenBNRe    = regexp.MustCompile(`^batch_norm\(train, eps=([0-9.eE+-]+)\)$`)
)

// goldenBuild builds the model of params.layers: dense layers take W<i>,
// b<i> (i counting dense layers from 1); a batch norm after dense layer i
// takes gamma<i>, beta<i> and keeps moving statistics
// moving_{mean,var}<i>_{keras,pytorch}; activations are Keras names, "elu"
// with its JSON parameters; the last layer is the loss.
func goldenBuild(t *testing.T, c golden.Case) *goldenModel {
	t.Helper()
	layers, ok := c.Params["layers"].([]any)
	require.True(t, ok, "params.layers is not a list")
	x, labels := c.Inputs["x"], c.Inputs["labels"]
	require.NotEmpty(t, x.Shape, "inputs.x")
	g := graph.New(graph.Float64)
	gm := &goldenModel{g: g, zeroGrad: map[string]bool{}}
	vars := map[string]*graph.Node{}
	param := func(name string) *graph.Node {
		in, ok := c.Inputs[name]
		require.True(t, ok, "no input %q for the layers %v", name, layers)
		if vars[name] == nil {
			vars[name] = g.Variable(name, in.Shape)
		}
		return vars[name]
	}
	h := g.Input("x", x.Shape)
	y := g.Input("labels", labels.Shape)
	m := float64(x.Shape[0]) // values per BatchNorm channel
	dense := 0
	lastBias := ""
	for i, l := range layers {
		s, _ := l.(string)
		switch {
		case goldenDenseRe.MatchString(s):
			dense++
			sub := goldenDenseRe.FindStringSubmatch(s)
			w, b := param(fmt.Sprintf("W%d", dense)), param(fmt.Sprintf("b%d", dense))
			require.Equal(t, sub[1:], []string{strconv.Itoa(w.Shape()[0]), strconv.Itoa(w.Shape()[1])}, "layer %q and W%d", s, dense)
			h = nodes.Add(nodes.MatMul(h, w), b)
			lastBias = b.Name()
		case goldenBNRe.MatchString(s):
			eps, err := strconv.ParseFloat(goldenBNRe.FindStringSubmatch(s)[1], 64)
			require.NoError(t, err, s)
			if want, ok := c.Float("bn_eps"); ok {
				require.Equal(t, want, eps, "params.bn_eps and layer %q", s)
			}
			if i > 0 && lastBias != "" && goldenDenseRe.MatchString(fmt.Sprint(layers[i-1])) {
				gm.zeroGrad[lastBias] = true
			}
			out := nodes.BatchNormTrain(h, param(fmt.Sprintf("gamma%d", dense)), param(fmt.Sprintf("beta%d", dense)), nodes.BNOptions{Epsilon: eps})
			st := nodes.BatchNormStats(out)
			ch := graph.Shape{h.Shape()[len(h.Shape())-1]}
			moving := func(stat, conv string, init float64) *graph.Node {
				return g.Variable(fmt.Sprintf("moving_%s%d_%s", stat, dense, conv), ch, graph.NonTrainable(), graph.WithInit(initializers.Constant{Value: init}))
			}
			mmK, mvK := moving("mean", "keras", 0), moving("var", "keras", 1)
			mmP, mvP := moving("mean", "pytorch", 0), moving("var", "pytorch", 1)
			keep, take := g.Scalar(goldenKerasBNMomentum), g.Scalar(1-goldenKerasBNMomentum)
			tkeep, ttake := g.Scalar(1-goldenTorchBNMomentum), g.Scalar(goldenTorchBNMomentum)
			unbiased := nodes.Mul(st.Variance, g.Scalar(m/(m-1)))
			gm.updates = append(gm.updates,
				nodes.Assign(mmK, nodes.Add(nodes.Mul(mmK, keep), nodes.Mul(st.Mean, take))),
				nodes.Assign(mvK, nodes.Add(nodes.Mul(mvK, keep), nodes.Mul(st.Variance, take))),
				nodes.Assign(mmP, nodes.Add(nodes.Mul(mmP, tkeep), nodes.Mul(st.Mean, ttake))),
				nodes.Assign(mvP, nodes.Add(nodes.Mul(mvP, tkeep), nodes.Mul(unbiased, ttake))),
			)
			h = out
		case strings.HasPrefix(s, "elu{") || s == "elu":
			p := struct {
				Alpha *float64 `json:"alpha"`
			}{}
			if s != "elu" {
				require.NoError(t, json.Unmarshal([]byte(s[len("elu"):]), &p), "layer %q", s)
			}
			alpha := nodes.ELUAlpha
			if p.Alpha != nil {
				alpha = *p.Alpha
			}
			h = nodes.ELU(h, alpha)
		case s == "softmax_cross_entropy_sparse(mean)":
			require.Equal(t, len(layers)-1, i, "the loss must be the last layer")
			gm.loss = nodes.SoftmaxCrossEntropySparse(h, y)
		default:
			act, err := nodes.LookupActivation(s)
			require.NoError(t, err, "layer %d %q", i, s)
			h = act(h)
		}
	}
	require.NotNil(t, gm.loss, "params.layers has no loss")
	require.NoError(t, g.Err())
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		gm.params = append(gm.params, vars[n])
	}
	return gm
}

func goldenTrajectory(t *testing.T, c golden.Case) {
	opt, err := goldenOptimizer(c)
	require.NoError(t, err)
	steps, ok := c.Float("steps")
	require.True(t, ok, "no params.steps")
	if c.Upstream != nil {
		require.Equal(t, 1.0, c.Upstream.Scalar(), "the trajectories start from the loss itself")
	}
	gm := goldenBuild(t, c)
	g := gm.g
	grads, err := autodiff.Grad(gm.loss, gm.params...)
	require.NoError(t, err)
	s, inc := train.NewStep(g, opt.InitialRate())
	ups, err := opt.Apply(s, gm.params, grads)
	require.NoError(t, err)
	fetches := append([]*graph.Node{gm.loss}, grads...)
	fetches = append(append(append(fetches, ups...), inc...), gm.updates...)
	step, err := compile.Compile(g, fetches, compile.Options{})
	require.NoError(t, err)
	forward, err := compile.Compile(g, []*graph.Node{gm.loss}, compile.Options{})
	require.NoError(t, err)

	store := vm.NewStore()
	require.NoError(t, store.Init(g, 1, initializers.Zeros{}))
	for _, p := range gm.params {
		in := c.Inputs[p.Name()]
		require.NoError(t, store.SetFloat64s(p.Name(), in.Shape, graph.Float64, in.Data))
	}
	feeds := vm.Feeds{}
	for _, name := range []string{"x", "labels"} {
		in := c.Inputs[name]
		feeds[name] = testutil.Tensor(graph.Float64, in.Shape, in.Data)
	}

	losses := c.Outputs["losses"]
	require.Equal(t, int(steps), len(losses.Data), "outputs.losses has one loss per step")
	m := vm.NewMachine(step, store)
	got := make([]float64, 0, int(steps))
	for i := 0; i < int(steps); i++ {
		out, err := m.Run(feeds)
		require.NoError(t, err, "step %d", i+1)
		got = append(got, testutil.Float64s(out[0])[0])
		if i > 0 {
			continue
		}
		for j, p := range gm.params {
			want, ok := c.Grads[p.Name()]
			if !ok {
				t.Errorf("no golden gradient for %s", p.Name())
				continue
			}
			goldenCompareZero(t, "gradient of "+p.Name(), testutil.Float64s(out[1+j]), want, gm.zeroGrad[p.Name()], goldenZeroGradTol)
		}
	}
	golden.Compare(t, "losses", got, losses, goldenTrainTol)

	out, err := vm.NewMachine(forward, store).Run(feeds)
	require.NoError(t, err)
	golden.Compare(t, "final_loss", testutil.Float64s(out[0]), c.Outputs["final_loss"], goldenTrainTol)

	names := make([]string, 0, len(c.StateAfter))
	for n := range c.StateAfter {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := store.Float64s(name)
		if err != nil {
			t.Errorf("state_after %s: %v", name, err)
			continue
		}
		goldenCompareZero(t, name+" after the steps", v, c.StateAfter[name], gm.zeroGrad[name], goldenZeroParamTol)
	}
}

// goldenCompareZero compares with the golden tolerance, or with the
// absolute tolerance abs for a parameter whose true gradient is zero.
func goldenCompareZero(t *testing.T, what string, got []float64, want golden.Tensor, zero bool, abs float64) {
	t.Helper()
	if !zero {
		golden.Compare(t, what, got, want, goldenTrainTol)
		return
	}
	require.Len(t, got, len(want.Data), what)
	for i := range got {
		if !(math.Abs(got[i]-want.Data[i]) <= abs) {
			t.Errorf("%s[%d] = %.17g, want %.17g (absolute tolerance %g: the true gradient is 0)", what, i, got[i], want.Data[i], abs)
		}
	}
}

// TestGoldenOptimizerDispatch checks the mapping from a case's params to
// an optimizer, so that cases added later with another optimizer are
// either run with the right one or fail.
func TestGoldenOptimizerDispatch(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   train.Optimizer
		err    string
	}{
		{map[string]any{"optimizer": "sgd", "lr": 0.1}, train.SGD{LearningRate: 0.1}, ""},
		{map[string]any{"optimizer": "sgd_momentum", "lr": 0.1, "momentum": 0.9}, train.SGD{LearningRate: 0.1, Momentum: 0.9}, ""},
		{map[string]any{"optimizer": "sgd_nesterov", "lr": 0.1, "momentum": 0.8}, train.SGD{LearningRate: 0.1, Momentum: 0.8, Nesterov: true}, ""},
		{map[string]any{"optimizer": "adam", "lr": 0.01, "betas": []any{0.8, 0.99}}, train.Adam{LearningRate: 0.01, Beta1: 0.8, Beta2: 0.99, Epsilon: 1e-8}, ""},
		{map[string]any{"optimizer": "adamw", "lr": 0.01, "weight_decay": 0.1, "eps": 1e-6}, train.AdamW{LearningRate: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-6, WeightDecay: 0.1}, ""},
		{map[string]any{"optimizer": "rmsprop", "lr": 0.01, "centered": true}, train.RMSprop{LearningRate: 0.01, Rho: 0.99, Epsilon: 1e-8, Centered: true, Torch: true}, ""},
		{map[string]any{"optimizer": "adagrad", "lr": 0.01}, train.Adagrad{LearningRate: 0.01, Epsilon: 1e-10, Torch: true}, ""},
		{map[string]any{"optimizer": "nadam", "lr": 0.002}, train.Nadam{LearningRate: 0.002, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8, MomentumDecay: 4e-3, Torch: true}, ""},
		{map[string]any{"optimizer": "lion", "lr": 0.1}, nil, `unknown optimizer "lion"`},
		{map[string]any{"optimizer": "sgd"}, nil, "no params.lr"},
		{map[string]any{"optimizer": "sgd", "lr": 0.1, "weight_decay": 0.01}, nil, "weight_decay"},
		{map[string]any{"optimizer": "adam", "lr": 0.1, "amsgrad": true}, nil, "amsgrad"},
	} {
		got, err := goldenOptimizer(golden.Case{Params: tc.params})
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, "%v", tc.params)
			continue
		}
		require.NoError(t, err, "%v", tc.params)
		require.Equal(t, tc.want, got, "%v", tc.params)
	}
}
