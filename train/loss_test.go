package train_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// Tolerance of the hand-derived values: the expected values are exact up
// to a few roundings of float64 (logs, means of a few values), so 1e-14
// relative to max(1, |want|) is a few ulps with room to spare.
const lossTol = 1e-14

var (
	ln2, ln3, ln6 = math.Ln2, math.Log(3), math.Log(6)
	// row is [0, ln 2, ln 3], whose softmax is [1/6, 1/3, 1/2].
	row = []float64{0, math.Ln2, math.Log(3)}
	// lnEps is −ln 1e-7, the loss of a probability clipped at the bottom.
	lnEps = -math.Log(1e-7)
)

func concat(rows ...[]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// operand is an input of a loss or metric: concrete shape and data. With
// open set, it is declared with the open batch dimension in front.
type operand struct {
	shape []int
	data  []float64
	open  bool
}

func val(shape []int, data ...float64) operand { return operand{shape: shape, data: data} }

// batched is val declared with an open batch dimension.
func batched(shape []int, data ...float64) operand {
	return operand{shape: shape, data: data, open: true}
}

func (o operand) decl() graph.Shape {
	s := graph.Shape(append([]int(nil), o.shape...))
	if o.open && len(s) > 0 {
		s[0] = graph.Batch
	}
	return s
}

// evalPair builds build(pred, target) on float64 inputs "pred" and
// "target", compiles it and runs it. It returns the graph's error, a
// compile error or a run error as is.
func evalPair(pred, target operand, build func(p, t *graph.Node) *graph.Node) (testutil.Value, error) {
	g := graph.New(graph.Float64)
	p := g.Input("pred", pred.decl())
	tg := g.Input("target", target.decl())
	y := build(p, tg)
	if err := g.Err(); err != nil {
		return testutil.Value{}, err
	}
	prog, err := compile.Compile(g, []*graph.Node{y}, compile.Options{})
	if err != nil {
		return testutil.Value{}, err
	}
	res, err := vm.NewMachine(prog, vm.NewStore()).Run(vm.Feeds{
		"pred":   testutil.Tensor(graph.Float64, pred.shape, pred.data),
		"target": testutil.Tensor(graph.Float64, target.shape, target.data),
	})
	if err != nil {
		return testutil.Value{}, err
	}
	return testutil.Value{Shape: append([]int(nil), res[0].Shape()...), Data: testutil.Float64s(res[0])}, nil
}

// expect checks a result's shape and values within lossTol.
func expect(t *testing.T, what string, got testutil.Value, shape []int, want []float64) {
	t.Helper()
	if !graph.Shape(got.Shape).Equal(graph.Shape(shape)) {
		t.Errorf("%s has shape %v, want %v", what, got.Shape, shape)
		return
	}
	for i := range want {
		if i >= len(got.Data) || math.Abs(got.Data[i]-want[i]) > lossTol*math.Max(1, math.Abs(want[i])) {
			t.Errorf("%s = %v, want %v", what, got.Data, want)
			return
		}
	}
}

func TestLossValues(t *testing.T) {
	const eps = 1e-7
	mean := func(xs ...float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	logits := batched([]int{2, 3}, concat(row, row)...)
	// σ(0) = ½ and σ(ln 3) = ¾ against 1: ln 2 and ln(4/3); ±800 against
	// the wrong target: 800, against the right one: 0
	bceZ := batched([]int{2, 2}, 0, ln3, 800, -800)
	bceT := batched([]int{2, 2}, 1, 1, 0, 0)
	bceEx := []float64{(ln2 + math.Log(4.0/3)) / 2, 400}
	// errors 1, −2, 0, 3
	p := batched([]int{2, 2}, 1, 2, 3, 4)
	tg := batched([]int{2, 2}, 0, 4, 3, 1)
	cases := []struct {
		name         string
		loss         train.Loss
		pred, target operand
		shape        []int
		want         []float64
	}{
		// softmax cross-entropy of [1/6, 1/3, 1/2]: label 2 → ln 2, label 0 → ln 6
		{"sparse/logits", train.SparseCategoricalCrossentropy{FromLogits: true}, logits, batched([]int{2}, 2, 0), []int{}, []float64{(ln2 + ln6) / 2}},
		{"sparse/logits/sum", train.SparseCategoricalCrossentropy{FromLogits: true, Reduction: train.ReductionSum}, logits, batched([]int{2}, 2, 0), []int{}, []float64{ln2 + ln6}},
		{"sparse/logits/none", train.SparseCategoricalCrossentropy{FromLogits: true, Reduction: train.ReductionNone}, logits, batched([]int{2}, 2, 0), []int{2}, []float64{ln2, ln6}},
		// [B, 1] labels are squeezed
		{"sparse/logits/column", train.SparseCategoricalCrossentropy{FromLogits: true, Reduction: train.ReductionNone}, logits, batched([]int{2, 1}, 2, 0), []int{2}, []float64{ln2, ln6}},
		// probabilities (the default): −ln ½ and −ln ¼
		{"sparse/probs", train.SparseCategoricalCrossentropy{}, batched([]int{2, 3}, 0.2, 0.3, 0.5, 0.25, 0.25, 0.5), batched([]int{2}, 2, 1), []int{}, []float64{mean(ln2, 2*ln2)}},
		// clipped at 1e-7, then renormalized: ln(1 − 1e-7 + 2e-7) − ln 1e-7
		{"sparse/probs/clipped", train.SparseCategoricalCrossentropy{Reduction: train.ReductionNone}, val([]int{1, 3}, 1, 0, 0), val([]int{1}, 2), []int{1}, []float64{math.Log(1+eps) + lnEps}},
		{"categorical/logits", train.CategoricalCrossentropy{FromLogits: true, Reduction: train.ReductionNone}, logits, batched([]int{2, 3}, 0, 0, 1, 0.5, 0.5, 0), []int{2}, []float64{ln2, (ln6 + ln3) / 2}},
		{"categorical/logits/mean", train.CategoricalCrossentropy{FromLogits: true}, logits, batched([]int{2, 3}, 0, 0, 1, 0.5, 0.5, 0), []int{}, []float64{mean(ln2, (ln6+ln3)/2)}},
		// rows rescaled to sum 1 ([0.4, 0.6, 1] → [0.2, 0.3, 0.5]), then clipped
		{"categorical/probs", train.CategoricalCrossentropy{Reduction: train.ReductionNone}, val([]int{2, 3}, 0.4, 0.6, 1, 1, 0, 0), val([]int{2, 3}, 0, 0, 1, 0, 1, 0), []int{2}, []float64{ln2, lnEps}},
		{"categorical/probs/sum", train.CategoricalCrossentropy{Reduction: train.ReductionSum}, val([]int{2, 3}, 0.4, 0.6, 1, 1, 0, 0), val([]int{2, 3}, 0, 0, 1, 0, 1, 0), []int{}, []float64{ln2 + lnEps}},
		{"binary/logits", train.BinaryCrossentropy{FromLogits: true}, bceZ, bceT, []int{}, []float64{mean(ln2, math.Log(4.0/3), 800, 0)}},
		// per example: the mean over the last axis
		{"binary/logits/none", train.BinaryCrossentropy{FromLogits: true, Reduction: train.ReductionNone}, bceZ, bceT, []int{2}, bceEx},
		{"binary/logits/sum", train.BinaryCrossentropy{FromLogits: true, Reduction: train.ReductionSum}, bceZ, bceT, []int{}, []float64{bceEx[0] + bceEx[1]}},
		// probabilities, a [B] target for a [B, 1] output: −ln ¾, ln 2
		{"binary/probs", train.BinaryCrossentropy{}, batched([]int{2, 1}, 0.75, 0.5), batched([]int{2}, 1, 0), []int{}, []float64{mean(-math.Log(0.75), ln2)}},
		// clipped: p = 0 against 1 costs −ln 1e-7
		{"binary/probs/clipped", train.BinaryCrossentropy{Reduction: train.ReductionNone}, val([]int{2}, 0, 0.5), val([]int{2}, 1, 1), []int{2}, []float64{lnEps, ln2}},
		{"mse", train.MeanSquaredError{}, p, tg, []int{}, []float64{3.5}},
		{"mse/none", train.MeanSquaredError{Reduction: train.ReductionNone}, p, tg, []int{2}, []float64{2.5, 4.5}},
		{"mse/sum", train.MeanSquaredError{Reduction: train.ReductionSum}, p, tg, []int{}, []float64{7}},
		// a rank-1 output: each element is an example
		{"mse/rank1/none", train.MeanSquaredError{Reduction: train.ReductionNone}, batched([]int{4}, 1, 2, 3, 4), batched([]int{4}, 0, 4, 3, 1), []int{4}, []float64{1, 4, 0, 9}},
		// [B, 1] output against [B] targets, and the reverse
		{"mse/column", train.MeanSquaredError{}, batched([]int{3, 1}, 1, 2, 3), batched([]int{3}, 0, 0, 0), []int{}, []float64{14.0 / 3}},
		{"mse/column/reverse", train.MeanSquaredError{Reduction: train.ReductionNone}, batched([]int{3}, 1, 2, 3), batched([]int{3, 1}, 0, 0, 0), []int{3}, []float64{1, 4, 9}},
		{"mae", train.MeanAbsoluteError{}, p, tg, []int{}, []float64{1.5}},
		{"mae/none", train.MeanAbsoluteError{Reduction: train.ReductionNone}, p, tg, []int{2}, []float64{1.5, 1.5}},
		// δ = 1: ½e² up to |e| = 1, then |e| − ½
		{"huber", train.Huber{}, batched([]int{4}, 0.5, 2, -3, 1), batched([]int{4}, 0, 0, 0, 0), []int{}, []float64{mean(0.125, 1.5, 2.5, 0.5)}},
		// δ = 2.5: e = 3 gives 2.5·(3 − 1.25), e = −2 is inside: 2
		{"huber/delta", train.Huber{Delta: 2.5, Reduction: train.ReductionNone}, val([]int{2, 1}, 3, -2), val([]int{2, 1}, 0, 0), []int{2}, []float64{4.375, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evalPair(tc.pred, tc.target, tc.loss.Build)
			require.NoError(t, err)
			expect(t, fmt.Sprintf("%s%+v.Build(%v, %v)", tc.loss.Name(), tc.loss, tc.pred.data, tc.target.data), got, tc.shape, tc.want)
		})
	}
}

// TestLossGradients: every config is differentiable with respect to the
// predictions, and from logits the gradient of the mean is
// (softmax − onehot)/N.
func TestLossGradients(t *testing.T) {
	for _, l := range []train.Loss{
		train.SparseCategoricalCrossentropy{}, train.SparseCategoricalCrossentropy{FromLogits: true},
		train.CategoricalCrossentropy{}, train.CategoricalCrossentropy{FromLogits: true},
		train.BinaryCrossentropy{}, train.BinaryCrossentropy{FromLogits: true},
		train.MeanSquaredError{}, train.MeanAbsoluteError{}, train.Huber{},
	} {
		g := graph.New(graph.Float32)
		out := graph.Shape{graph.Batch, 3}
		pred := g.Input("pred", out)
		loss := l.Build(pred, g.Input("target", l.TargetShape(out)))
		_, err := autodiff.Grad(loss, pred)
		require.NoError(t, err, "%s%+v", l.Name(), l)
	}

	_, grads, err := testutil.RunVJP(graph.Float64,
		[]testutil.Value{{Name: "pred", Shape: []int{2, 3}, Data: concat(row, row)}, {Name: "target", Shape: []int{2}, Data: []float64{2, 0}}},
		[]float64{1}, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
			return train.SparseCategoricalCrossentropy{FromLogits: true}.Build(in[0], in[1])
		})
	require.NoError(t, err)
	expect(t, "∇ SparseCategoricalCrossentropy{FromLogits}", grads[0], []int{2, 3},
		[]float64{1.0 / 12, 1.0 / 6, -0.25, -5.0 / 12, 1.0 / 6, 0.25})
}

func TestLossNamesAndTargetShapes(t *testing.T) {
	out := graph.Shape{graph.Batch, 10}
	cases := []struct {
		loss   train.Loss
		name   string
		target graph.Shape
	}{
		{train.SparseCategoricalCrossentropy{}, "sparse_categorical_crossentropy", graph.Shape{graph.Batch}},
		{train.CategoricalCrossentropy{}, "categorical_crossentropy", out},
		{train.BinaryCrossentropy{}, "binary_crossentropy", out},
		{train.MeanSquaredError{}, "mean_squared_error", out},
		{train.MeanAbsoluteError{}, "mean_absolute_error", out},
		{train.Huber{}, "huber_loss", out},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.name, tc.loss.Name())
		got := tc.loss.TargetShape(out)
		assert.Equal(t, tc.target, got, "%s.TargetShape(%v)", tc.name, out)
		got[0] = 99 // the result is a copy
		assert.Equal(t, graph.Batch, out[0], "%s.TargetShape modified its argument", tc.name)
	}
	assert.Equal(t, graph.Shape{graph.Batch, 7}, train.SparseCategoricalCrossentropy{}.TargetShape(graph.Shape{graph.Batch, 7, 4}))
	assert.Equal(t, graph.Shape{}, train.SparseCategoricalCrossentropy{}.TargetShape(graph.Shape{}))
}

func TestReductionString(t *testing.T) {
	for r, want := range map[train.Reduction]string{
		train.ReductionMean: "sum_over_batch_size",
		train.ReductionSum:  "sum",
		train.ReductionNone: "none",
		train.Reduction(9):  "reduction(9)",
	} {
		assert.Equal(t, want, r.String())
	}
}

func TestLossByName(t *testing.T) {
	cases := map[string]train.Loss{
		"sparse_categorical_crossentropy": train.SparseCategoricalCrossentropy{},
		"categorical_crossentropy":        train.CategoricalCrossentropy{},
		"binary_crossentropy":             train.BinaryCrossentropy{},
		"mse":                             train.MeanSquaredError{},
		"mean_squared_error":              train.MeanSquaredError{},
		"mae":                             train.MeanAbsoluteError{},
		"mean_absolute_error":             train.MeanAbsoluteError{},
		"huber":                           train.Huber{},
		"huber_loss":                      train.Huber{},
	}
	for name, want := range cases {
		got, err := train.LossByName(name)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, "LossByName(%q)", name)
	}
	assert.Len(t, train.LossNames(), len(cases))

	for _, name := range []string{"", "MSE", "crossentropy", "sparse_categorical_crossentropy "} {
		got, err := train.LossByName(name)
		require.Error(t, err, "LossByName(%q)", name)
		assert.Nil(t, got)
		assert.True(t, errors.Is(err, graph.ErrArg), "LossByName(%q) error %v does not match graph.ErrArg", name, err)
		assert.Equal(t, fmt.Sprintf("train: invalid argument: unknown loss %q (valid: binary_crossentropy, categorical_crossentropy, huber, huber_loss, mae, mean_absolute_error, mean_squared_error, mse, sparse_categorical_crossentropy)", name), err.Error())
	}
}

func TestLossErrors(t *testing.T) {
	cases := []struct {
		name         string
		loss         train.Loss
		pred, target graph.Shape
		kind         error
		want         string
	}{
		{"reduction", train.MeanSquaredError{Reduction: 7}, graph.Shape{4}, graph.Shape{4}, graph.ErrArg,
			`graph: mean_squared_error "mean_squared_error": reduction(7): want ReductionMean, ReductionSum or ReductionNone`},
		{"reduction/sparse", train.SparseCategoricalCrossentropy{Reduction: 3}, graph.Shape{4, 2}, graph.Shape{4}, graph.ErrArg,
			`graph: sparse_categorical_crossentropy "sparse_categorical_crossentropy": reduction(3): want`},
		{"reduction/categorical", train.CategoricalCrossentropy{Reduction: 3}, graph.Shape{4, 2}, graph.Shape{4, 2}, graph.ErrArg,
			`graph: categorical_crossentropy "categorical_crossentropy": reduction(3): want`},
		{"huber/delta", train.Huber{Delta: -1}, graph.Shape{4}, graph.Shape{4}, graph.ErrArg,
			`graph: huber "huber": delta -1: want a positive finite value`},
		{"huber/nan", train.Huber{Delta: math.NaN()}, graph.Shape{4}, graph.Shape{4}, graph.ErrArg,
			`graph: huber "huber": delta NaN: want a positive finite value`},
		// only a trailing axis of 1 is reshaped: [B,2] against [B] is an error
		{"mse/shape", train.MeanSquaredError{}, graph.Shape{graph.Batch, 2}, graph.Shape{graph.Batch}, graph.ErrShape,
			`graph: squared_error "squared_error": predictions [B,2] and targets [B] differ in shape`},
		{"sparse/labels", train.SparseCategoricalCrossentropy{FromLogits: true}, graph.Shape{graph.Batch, 3}, graph.Shape{graph.Batch, 3}, graph.ErrShape,
			`graph: softmax_cross_entropy_sparse "softmax_cross_entropy_sparse": labels [B,3] do not fit logits [B,3]`},
		{"categorical/targets", train.CategoricalCrossentropy{FromLogits: true}, graph.Shape{graph.Batch, 3}, graph.Shape{graph.Batch}, graph.ErrShape,
			`graph: softmax_cross_entropy "softmax_cross_entropy": targets [B] do not fit logits [B,3]`},
		{"binary/targets", train.BinaryCrossentropy{FromLogits: true}, graph.Shape{graph.Batch, 3}, graph.Shape{graph.Batch, 2}, graph.ErrShape,
			`graph: sigmoid_cross_entropy_with_logits "sigmoid_cross_entropy_with_logits": sigmoid_cross_entropy_with_logits needs inputs of one shape, got [B,3] and [B,2]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			var y *graph.Node
			require.NotPanics(t, func() { y = tc.loss.Build(g.Input("pred", tc.pred), g.Input("target", tc.target)) })
			assert.True(t, y.IsPoisoned(), "%s.Build gave %v, want a poisoned node", tc.loss.Name(), y)
			err := g.Err()
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.kind)
			assert.True(t, strings.HasPrefix(err.Error(), tc.want), "error\n  %s\ndoes not start with\n  %s", err, tc.want)
		})
	}
	// nil inputs never panic
	for _, name := range train.LossNames() {
		l, err := train.LossByName(name)
		require.NoError(t, err)
		require.NotPanics(t, func() { assert.Nil(t, l.Build(nil, nil), "%s.Build(nil, nil)", name) })
		g := graph.New(graph.Float64)
		require.NotPanics(t, func() { l.Build(g.Input("pred", graph.Shape{2, 3}), nil) }, name)
		assert.ErrorIs(t, g.Err(), graph.ErrNil, name)
	}
}

// TestLossBadLabels: a class label out of range is a run-time error naming
// it, with logits and with probabilities.
func TestLossBadLabels(t *testing.T) {
	for _, l := range []train.Loss{train.SparseCategoricalCrossentropy{FromLogits: true}, train.SparseCategoricalCrossentropy{}} {
		_, err := evalPair(batched([]int{2, 3}, 0.2, 0.3, 0.5, 0.2, 0.3, 0.5), batched([]int{2}, 1, 3), l.Build)
		require.Error(t, err)
		// vm may put the failing node's name and shape between the two
		assert.True(t, strings.HasPrefix(err.Error(), "vm: "), "error %q does not start with vm: ", err)
		assert.ErrorContains(t, err, "softmax_cross_entropy_sparse: label 3 at index 1 is not an integer in [0, 3)")
	}
}
