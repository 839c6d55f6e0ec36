package nodes_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/golden"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Tolerances against ../shared/golden/batchnorm.json (PyTorch float64).
//
//   - float64: 1e-10·max(1, |want|), the golden README's bound for single
//     ops.
//   - float32: 1e-5 relative, the project's float32 bound, plus an absolute
//     slack of 1e-6·S. The inputs are rounded to float32 (relative 6e-8)
//     before the op sees them, which moves x̂ = (x − μ)/σ by up to
//     6e-8·|x|/σ (|x|/σ ≤ 10 in these cases). For most tensors S is
//     max(1, max|want|). For x̄ = k·(ḡ − mean ḡ − x̂·mean(ḡx̂)), k = γ/σ, the
//     closed form cancels terms of size K = max k · max|ḡ| down to values
//     that may be far smaller (with m = 2, x̄ is of order ε/σ² · K: 1.6e-3
//     against K = 8.4 in pytorch_2x3), so the x̂ perturbation leaves an
//     absolute error of about 6e-7·K there; S is then max(1, K, max|want|).
const (
	bnTol64    = 1e-10
	bnTol32    = 1e-5
	bnTol32Abs = 1e-6
)

// bnGoldenCase is a golden case read into what the graph needs. Every
// parameter of the case is interpreted; one this test does not know fails
// the case rather than being ignored.
type bnGoldenCase struct {
	train bool
	opts  nodes.BNOptions
	// keep is the weight of the old value in the moving update
	// moving = keep·moving + (1 − keep)·batch.
	keep float64
}

// parseBNCase dispatches on c.Op and c.Params.
func parseBNCase(c golden.Case) (bnGoldenCase, error) {
	var p bnGoldenCase
	switch c.Op {
	case "batch_norm_train":
		p.train = true
	case "batch_norm_infer":
	default:
		return p, fmt.Errorf("unknown op %q", c.Op)
	}
	for k, v := range c.Params {
		switch k {
		case "convention":
			switch v {
			case "keras":
			case "pytorch":
			default:
				return p, fmt.Errorf("unknown convention %v", v)
			}
		case "training":
			if b, ok := v.(bool); !ok || b != p.train {
				return p, fmt.Errorf("params.training = %v for op %s", v, c.Op)
			}
		case "axis":
			a, ok := v.(float64)
			if !ok || a != math.Trunc(a) || a == 0 {
				return p, fmt.Errorf("axis %v: want a non-zero integer", v)
			}
			// golden axes count like numpy's; BNOptions.Axis agrees for
			// every value but 0 (which it reads as "last")
			p.opts.Axis = int(a)
		case "eps":
			e, ok := v.(float64)
			if !ok || !(e > 0) {
				return p, fmt.Errorf("eps %v: want a positive number", v)
			}
			p.opts.Epsilon = e
		case "momentum", "moving_update":
			// read together below
		case "moving_var_estimator":
			switch v {
			case "biased":
			case "unbiased":
				p.opts.Unbiased = true
			default:
				return p, fmt.Errorf("unknown moving_var_estimator %v", v)
			}
		default:
			return p, fmt.Errorf("unknown parameter %s = %v", k, v)
		}
	}
	if p.opts.Epsilon == 0 {
		return p, fmt.Errorf("no eps")
	}
	if !p.train {
		return p, nil
	}
	mom, ok := c.Float("momentum")
	if !ok {
		return p, fmt.Errorf("no momentum")
	}
	switch u := c.String("moving_update"); u {
	case "moving = moving*momentum + batch*(1-momentum)": // Keras
		p.keep = mom
	case "moving = (1-momentum)*moving + momentum*batch": // PyTorch
		p.keep = 1 - mom
	default:
		return p, fmt.Errorf("unknown moving_update %q", u)
	}
	if _, ok := c.Params["moving_var_estimator"]; !ok {
		return p, fmt.Errorf("no moving_var_estimator")
	}
	return p, nil
}

// TestGoldenBatchNorm runs every case of batchnorm.json, in float64 and
// float32: the output and the batch statistics, the gradients for every
// input with a golden gradient, and, for training, the moving statistics
// after the update (state_after), averaged here with graph ops and
// nodes.Assign from the op's statistics as params.moving_update says.
func TestGoldenBatchNorm(t *testing.T) {
	f := golden.Load(t, "batchnorm.json")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			p, err := parseBNCase(c)
			if err != nil {
				t.Fatalf("case %s (op %s, params %v): %v", c.Name, c.Op, c.Params, err)
			}
			for _, dt := range []graph.DType{graph.Float64, graph.Float32} {
				t.Run(dt.String(), func(t *testing.T) { runBNGolden(t, dt, c, p) })
			}
		})
	}
}

func runBNGolden(t *testing.T, dt graph.DType, c golden.Case, p bnGoldenCase) {
	g := graph.New(dt)
	store := vm.NewStore()
	feeds := vm.Feeds{}
	in := map[string]*graph.Node{}
	for _, k := range []string{"x", "gamma", "beta", "moving_mean", "moving_var"} {
		v, ok := c.Inputs[k]
		if !ok {
			t.Fatalf("case %s has no input %s", c.Name, k)
		}
		if p.train && (k == "moving_mean" || k == "moving_var") {
			// state: variables of the store, updated in place
			in[k] = g.Variable(k, v.Shape, graph.NonTrainable())
			if err := store.SetFloat64s(k, v.Shape, dt, v.Data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		in[k] = g.Input(k, v.Shape)
		feeds[k] = testutil.Tensor(dt, v.Shape, v.Data)
	}
	for k := range c.Inputs {
		if in[k] == nil {
			t.Fatalf("case %s: unknown input %s", c.Name, k)
		}
	}

	fetch := map[string]*graph.Node{} // what is compared, by golden name
	var y *graph.Node
	if p.train {
		y = nodes.BatchNormTrain(in["x"], in["gamma"], in["beta"], p.opts)
		st := nodes.BatchNormStats(y)
		fetch["batch_mean"], fetch["batch_var"] = st.Mean, st.Variance
		average := func(moving, batch *graph.Node) *graph.Node {
			return nodes.Add(nodes.Mul(moving, g.Scalar(p.keep)), nodes.Mul(batch, g.Scalar(1-p.keep)))
		}
		fetch["state moving_mean"] = nodes.Assign(in["moving_mean"], average(in["moving_mean"], st.Mean))
		fetch["state moving_var"] = nodes.Assign(in["moving_var"], average(in["moving_var"], st.MovingVariance))
	} else {
		y = nodes.BatchNormInferWith(in["x"], in["gamma"], in["beta"], in["moving_mean"], in["moving_var"], p.opts)
	}
	fetch["y"] = y
	if c.Upstream != nil {
		var names []string
		for k := range c.Grads {
			names = append(names, k)
		}
		slices.Sort(names)
		wrt := make([]*graph.Node, len(names))
		for i, k := range names {
			if wrt[i] = in[k]; wrt[i] == nil {
				t.Fatalf("case %s: gradient for unknown input %s", c.Name, k)
			}
		}
		seed := g.Constant(c.Upstream.Shape, c.Upstream.Data...)
		grads, err := autodiff.GradWith(y, wrt, autodiff.Options{Seed: seed})
		if err != nil {
			t.Fatalf("%s: gradient: %v", c.Op, err)
		}
		for i, k := range names {
			fetch["grad "+k] = grads[i]
		}
	}

	var keys []string
	for k := range fetch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	list := make([]*graph.Node, len(keys))
	for i, k := range keys {
		list[i] = fetch[k]
	}
	prog, err := compile.Compile(g, list, compile.Options{})
	if err != nil {
		t.Fatalf("%s: compile: %v", c.Op, err)
	}
	res, err := vm.NewMachine(prog, store).Run(feeds)
	if err != nil {
		t.Fatalf("%s: run: %v", c.Op, err)
	}
	got := map[string][]float64{}
	for i, k := range keys {
		got[k] = testutil.Float64s(res[i])
	}

	want := map[string]golden.Tensor{}
	for k, v := range c.Outputs {
		want[k] = v
	}
	for k, v := range c.Grads {
		want["grad "+k] = v
	}
	for k, v := range c.StateAfter {
		want["state "+k] = v
		// the store itself, not only the fetched value, holds the update
		s, err := store.Float64s(k)
		if err != nil {
			t.Fatalf("state %s: %v", k, err)
		}
		bnCompare(t, dt, c.Op+" store "+k, s, v, 0)
	}
	if p.train && len(c.StateAfter) != 2 {
		t.Errorf("case %s: state_after has %d entries, want moving_mean and moving_var", c.Name, len(c.StateAfter))
	}
	for k, w := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("case %s: golden %s has no counterpart in the graph", c.Name, k)
			continue
		}
		scale := 0.0
		if k == "grad x" && p.train {
			scale = bnCancelScale(c)
		}
		bnCompare(t, dt, c.Op+" "+k, gv, w, scale)
	}
}

// bnCancelScale is K = max_c |γ_c|/sqrt(σ²_c + ε) · max|ḡ|, the size of
// the terms the closed-form x̄ cancels, from the golden values.
func bnCancelScale(c golden.Case) float64 {
	eps, _ := c.Float("eps")
	k := 0.0
	for i, g := range c.Inputs["gamma"].Data {
		k = max(k, math.Abs(g)/math.Sqrt(c.Outputs["batch_var"].Data[i]+eps))
	}
	up := 0.0
	for _, u := range c.Upstream.Data {
		up = max(up, math.Abs(u))
	}
	return k * up
}

// bnCompare compares with the tolerances above; scale, when larger than
// max(1, max|want|), sets the float32 absolute slack.
func bnCompare(t *testing.T, dt graph.DType, what string, got []float64, want golden.Tensor, scale float64) {
	t.Helper()
	if dt == graph.Float64 {
		golden.Compare(t, what, got, want, bnTol64)
		return
	}
	if len(got) != len(want.Data) {
		t.Errorf("%s: got %d values, want %d (shape %v)", what, len(got), len(want.Data), want.Shape)
		return
	}
	scale = max(scale, 1)
	for _, w := range want.Data {
		scale = max(scale, math.Abs(w))
	}
	abs := bnTol32Abs * scale
	bad := 0
	for i := range got {
		if !golden.CloseRel(got[i], want.Data[i], bnTol32, abs) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.9g, want %.9g (f32 tol %g rel + %g abs)", what, i, got[i], want.Data[i], bnTol32, abs)
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d mismatches in all", what, bad)
	}
}
