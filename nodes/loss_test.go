package nodes_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Tests of the loss family (loss.go). Forward and VJP tables use the core
// helpers (broadcast_test.go): hand-derived values, compared within 1e-14
// relative in float64 and 1e-5 relative + 1e-6 absolute in float32.
//
// The recurring row z = [0, ln 2, ln 3] has softmax [1/6, 1/3, 1/2] and
// log-softmax [−ln 6, −ln 3, −ln 2].

var (
	lossLn2, lossLn3, lossLn6 = math.Ln2, math.Log(3), math.Log(6)
	// lossRow is [0, ln 2, ln 3].
	lossRow = []float64{0, math.Ln2, math.Log(3)}
	lossInf = math.Inf(1)
)

// lossBinary adapts a two-input builder to a coreCase build.
func lossBinary(f func(a, b *graph.Node) *graph.Node) func(in []*graph.Node) *graph.Node {
	return func(in []*graph.Node) *graph.Node { return f(in[0], in[1]) }
}

// lossCat concatenates rows of values.
func lossCat(rows ...[]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

func TestSoftmaxCrossEntropySparseForward(t *testing.T) {
	per := lossBinary(nodes.SoftmaxCrossEntropySparsePerExample)
	coreForward(t, "SoftmaxCrossEntropySparsePerExample", []coreCase{
		// −log softmax: label 2 → ln 2, label 0 → ln 6
		{"ratios", []testutil.Value{coreVal("logits", []int{2, 3}, lossCat(lossRow, lossRow)...), coreVal("labels", []int{2}, 2, 0)},
			per, []int{2}, []float64{lossLn2, lossLn6}},
		// rank 1: one example, a scalar loss
		{"rank1", []testutil.Value{coreVal("logits", []int{3}, lossRow...), coreVal("labels", []int{}, 1)},
			per, []int{}, []float64{lossLn3}},
		// rank 3: [2,1,2] logits, [2,1] labels; 1000 vs −1000 is certain
		{"rank3", []testutil.Value{coreVal("logits", []int{2, 1, 2}, 0, 0, 1000, -1000), coreVal("labels", []int{2, 1}, 1, 0)},
			per, []int{2, 1}, []float64{lossLn2, 0}},
		// the max shift: logsumexp(1000, −1000) = 1000 exactly, so the loss
		// is the gap to the label's logit
		{"extreme", []testutil.Value{coreVal("logits", []int{3, 2}, 1000, -1000, 1000, -1000, -800, 800), coreVal("labels", []int{3}, 1, 0, 0)},
			per, []int{3}, []float64{2000, 0, 1600}},
		// one class: softmax is 1, the loss 0 whatever the logit
		{"single-class", []testutil.Value{coreVal("logits", []int{3, 1}, 5, -1000, 0.25), coreVal("labels", []int{3}, 0, 0, 0)},
			per, []int{3}, []float64{0, 0, 0}},
		// a logit of −∞ is a class of probability 0: finite elsewhere, +∞
		// when it is the label
		{"minus-lossInf", []testutil.Value{coreVal("logits", []int{2, 2}, 0, math.Inf(-1), 0, math.Inf(-1)), coreVal("labels", []int{2}, 0, 1)},
			per, []int{2}, []float64{0, lossInf}},
		// the scalar builder: the mean of ln 2 and ln 6
		{"mean", []testutil.Value{coreVal("logits", []int{2, 3}, lossCat(lossRow, lossRow)...), coreVal("labels", []int{2}, 2, 0)},
			lossBinary(nodes.SoftmaxCrossEntropySparse), []int{}, []float64{(lossLn2 + lossLn6) / 2}},
	})
}

func TestSoftmaxCrossEntropyForward(t *testing.T) {
	per := lossBinary(nodes.SoftmaxCrossEntropyPerExample)
	coreForward(t, "SoftmaxCrossEntropyPerExample", []coreCase{
		{"onehot", []testutil.Value{coreVal("logits", []int{1, 3}, lossRow...), coreVal("targets", []int{1, 3}, 0, 0, 1)},
			per, []int{1}, []float64{lossLn2}},
		// ½·ln 6 + ½·ln 2
		{"soft", []testutil.Value{coreVal("logits", []int{1, 3}, lossRow...), coreVal("targets", []int{1, 3}, 0.5, 0, 0.5)},
			per, []int{1}, []float64{(lossLn6 + lossLn2) / 2}},
		// targets need not sum to 1: ln 6 + ln 3
		{"unnormalized", []testutil.Value{coreVal("logits", []int{3}, lossRow...), coreVal("targets", []int{3}, 1, 1, 0)},
			per, []int{}, []float64{lossLn6 + lossLn3}},
		// 0·log 0 = 0: a −∞ logit the target does not want costs nothing;
		// one it wants costs +∞
		{"minus-lossInf", []testutil.Value{coreVal("logits", []int{2, 2}, 0, math.Inf(-1), math.Inf(-1), 0), coreVal("targets", []int{2, 2}, 1, 0, 1, 0)},
			per, []int{2}, []float64{0, lossInf}},
		// log_softmax(1000, −1000) = (0, −2000): ¼·0 + ¾·2000
		{"extreme", []testutil.Value{coreVal("logits", []int{2, 2}, 1000, -1000, -800, 800), coreVal("targets", []int{2, 2}, 0.25, 0.75, 1, 0)},
			per, []int{2}, []float64{1500, 1600}},
		{"rank3", []testutil.Value{coreVal("logits", []int{2, 1, 3}, lossCat(lossRow, lossRow)...), coreVal("targets", []int{2, 1, 3}, 1, 0, 0, 0, 1, 0)},
			per, []int{2, 1}, []float64{lossLn6, lossLn3}},
		{"mean", []testutil.Value{coreVal("logits", []int{2, 3}, lossCat(lossRow, lossRow)...), coreVal("targets", []int{2, 3}, 1, 0, 0, 0, 1, 0)},
			lossBinary(nodes.SoftmaxCrossEntropy), []int{}, []float64{(lossLn6 + lossLn3) / 2}},
	})
}

func TestSigmoidCrossEntropyWithLogitsForward(t *testing.T) {
	// σ(0) = ½: ln 2 whatever t. σ(ln 3) = ¾: t = 1 gives ln(4/3), t = ¼
	// gives −¼·ln ¾ − ¾·ln ¼. |z| = 800 and 1000: 0 when the target agrees,
	// |z| when it does not.
	z := []float64{0, lossLn3, lossLn3, 800, 800, -800, -800, 1000, -1000}
	tg := []float64{0.3, 1, 0.25, 1, 0, 0, 1, 1, 1}
	want := []float64{lossLn2, math.Log(4.0 / 3), -0.25*math.Log(0.75) - 0.75*math.Log(0.25), 0, 800, 0, 800, 0, 1000}
	coreForward(t, "SigmoidCrossEntropyWithLogitsPerElement", []coreCase{
		{"points", []testutil.Value{coreVal("logits", []int{9}, z...), coreVal("targets", []int{9}, tg...)},
			lossBinary(nodes.SigmoidCrossEntropyWithLogitsPerElement), []int{9}, want},
		{"matrix", []testutil.Value{coreVal("logits", []int{3, 3}, z...), coreVal("targets", []int{3, 3}, tg...)},
			lossBinary(nodes.SigmoidCrossEntropyWithLogitsPerElement), []int{3, 3}, want},
		{"mean", []testutil.Value{coreVal("logits", []int{3}, 0, 800, -800), coreVal("targets", []int{3}, 1, 0, 0)},
			lossBinary(nodes.SigmoidCrossEntropyWithLogits), []int{}, []float64{(lossLn2 + 800) / 3}},
	})
}

func TestRegressionLossForward(t *testing.T) {
	p := coreVal("pred", []int{2, 2}, 1, 2, 3, 4)
	tg := coreVal("target", []int{2, 2}, 0, 4, 3, 1)
	huber := func(delta float64) func(in []*graph.Node) *graph.Node {
		return func(in []*graph.Node) *graph.Node { return nodes.HuberError(in[0], in[1], delta) }
	}
	e := coreVal("target", []int{6}, 0, 0, 0, 0, 0, 0)
	coreForward(t, "regression", []coreCase{
		// errors 1, −2, 0, 3
		{"SquaredError", []testutil.Value{p, tg}, lossBinary(nodes.SquaredError), []int{2, 2}, []float64{1, 4, 0, 9}},
		{"MSE", []testutil.Value{p, tg}, lossBinary(nodes.MSE), []int{}, []float64{3.5}},
		{"AbsoluteError", []testutil.Value{p, tg}, lossBinary(nodes.AbsoluteError), []int{2, 2}, []float64{1, 2, 0, 3}},
		{"MAE", []testutil.Value{p, tg}, lossBinary(nodes.MAE), []int{}, []float64{1.5}},
		// δ = 1: ½e² up to |e| = 1 (0.125, 0.5 at the switch), then |e| − ½
		{"Huber/delta1", []testutil.Value{coreVal("pred", []int{6}, 0.5, 2, -3, 1, -1, 0), e}, huber(1), []int{6},
			[]float64{0.125, 1.5, 2.5, 0.5, 0.5, 0}},
		// δ = 2.5: e = 3 gives 2.5·(3 − 1.25); e = −2 is inside: 2
		{"Huber/delta2.5", []testutil.Value{coreVal("pred", []int{2}, 3, -2), coreVal("target", []int{2}, 0, 0)}, huber(2.5), []int{2},
			[]float64{4.375, 2}},
		{"Huber/mean", []testutil.Value{p, tg}, func(in []*graph.Node) *graph.Node { return nodes.Huber(in[0], in[1], nodes.HuberDelta) },
			[]int{}, []float64{(0.5 + 1.5 + 0 + 2.5) / 4}},
	})
}

func TestFromProbabilitiesForward(t *testing.T) {
	const eps = nodes.ProbabilityEpsilon
	lnEps := -math.Log(eps) // 16.118…
	coreForward(t, "from probabilities", []coreCase{
		// q = p: −ln ½
		{"categorical", []testutil.Value{coreVal("probs", []int{1, 3}, 0.2, 0.3, 0.5), coreVal("targets", []int{1, 3}, 0, 0, 1)},
			lossBinary(nodes.CategoricalCrossEntropyFromProbsPerExample), []int{1}, []float64{lossLn2}},
		// rows are rescaled to sum 1 first: [0.4, 0.6, 1] → [0.2, 0.3, 0.5]
		{"categorical/rescaled", []testutil.Value{coreVal("probs", []int{1, 3}, 0.4, 0.6, 1), coreVal("targets", []int{1, 3}, 0, 0.5, 0.5)},
			lossBinary(nodes.CategoricalCrossEntropyFromProbsPerExample), []int{1}, []float64{-0.5*math.Log(0.3) - 0.5*math.Log(0.5)}},
		// then clipped: a 0 where the target is counts as 1e-7, a 1 as
		// 1 − 1e-7 (float32 rounds that bound to 1 − 2⁻²³: −ln is 1.19e-7
		// instead of 1e-7, inside the absolute slack)
		{"categorical/clipped", []testutil.Value{coreVal("probs", []int{2, 3}, 1, 0, 0, 1, 0, 0), coreVal("targets", []int{2, 3}, 0, 1, 0, 1, 0, 0)},
			lossBinary(nodes.CategoricalCrossEntropyFromProbsPerExample), []int{2}, []float64{lnEps, -math.Log(1 - eps)}},
		// sparse: clip, then log as logits, so the clipped row is
		// renormalized: ln Σ clip(p) − ln clip(p[y])
		{"sparse", []testutil.Value{coreVal("probs", []int{2, 3}, 0.2, 0.3, 0.5, 1, 0, 0), coreVal("labels", []int{2}, 2, 1)},
			lossBinary(nodes.SparseCategoricalCrossEntropyFromProbsPerExample), []int{2},
			[]float64{lossLn2, math.Log(1-eps+2*eps) + lnEps}},
		// binary: −ln ¾, −ln ¼, clipped at both ends (p = 1 wanted costs
		// −ln(1 − 1e-7), p = 0 wanted −ln 1e-7), and soft targets
		{"binary", []testutil.Value{coreVal("probs", []int{5}, 0.75, 0.75, 1, 0, 0.5), coreVal("targets", []int{5}, 1, 0, 1, 1, 0.3)},
			lossBinary(nodes.BinaryCrossEntropyFromProbsPerElement), []int{5},
			[]float64{-math.Log(0.75), -math.Log(0.25), -math.Log(1 - eps), lnEps, lossLn2}},
	})
}

// TestFromProbabilitiesUpperBound: a probability of 1 where the target
// wants 0 is clipped to 1 − 1e-7 in the graph's dtype, and its loss is
// −ln(1 − that bound): 16.118… in float64, where 1 − (1 − 1e-7) is 1e-7 to
// 8 digits, but 15.94… in float32, where the bound rounds to 1 − 2⁻²³
// (Keras in float32 computes the same).
func TestFromProbabilitiesUpperBound(t *testing.T) {
	for _, dt := range coreDTypes {
		hi := 1 - nodes.ProbabilityEpsilon
		if dt == graph.Float32 {
			hi = float64(float32(hi))
		}
		want := -math.Log(1 - hi)
		out, err := testutil.Run(dt, []testutil.Value{coreVal("probs", []int{2, 2}, 1, 0, 1, 0), coreVal("targets", []int{2, 2}, 0, 1, 0, 1)},
			func(_ *graph.Graph, in []*graph.Node) []*graph.Node {
				return []*graph.Node{
					nodes.BinaryCrossEntropyFromProbsPerElement(in[0], in[1]),
					nodes.SparseCategoricalCrossEntropyFromProbsPerExample(in[0], nodes.Sum(in[1], false, -1)),
				}
			})
		require.NoError(t, err)
		// binary: −ln(1 − hi) at p = 1, t = 0 and at p = 0, t = 1 (the
		// lower bound, 1e-7 rounded to the dtype, differs from 1 − hi)
		lo := nodes.ProbabilityEpsilon
		if dt == graph.Float32 {
			lo = float64(float32(lo))
		}
		coreExpect(t, "BinaryCrossEntropyFromProbsPerElement([1 0; 1 0], [0 1; 0 1])", dt, out[0], []int{2, 2},
			[]float64{want, -math.Log(lo), want, -math.Log(lo)})
		// sparse, label 1 of [1, 0]: ln(hi + lo) − ln lo
		coreExpect(t, "SparseCategoricalCrossEntropyFromProbsPerExample([1 0; 1 0], [1 1])", dt, out[1], []int{2},
			[]float64{math.Log(hi+lo) - math.Log(lo), math.Log(hi+lo) - math.Log(lo)})
	}
}

func TestLossVJP(t *testing.T) {
	s := []float64{1.0 / 6, 1.0 / 3, 0.5} // softmax of lossRow
	cases := []struct {
		name  string
		ins   []testutil.Value
		up    []float64
		build func(in []*graph.Node) *graph.Node
		want  [][]float64 // per input; nil: not checked (zeros for labels)
	}{
		// ḡ·(s − onehot): row 0 label 2, ḡ = 2; row 1 label 0, ḡ = −1
		{"sparse", []testutil.Value{coreVal("logits", []int{2, 3}, lossCat(lossRow, lossRow)...), coreVal("labels", []int{2}, 2, 0)},
			[]float64{2, -1}, lossBinary(nodes.SoftmaxCrossEntropySparsePerExample),
			[][]float64{{2 * s[0], 2 * s[1], 2 * (s[2] - 1), -(s[0] - 1), -s[1], -s[2]}, {0, 0}}},
		// t = [½, 0, 1] sums to 1.5: z̄ = 2·(1.5·s − t) = [−½, 1, −½];
		// t̄ = −2·log_softmax = 2·[ln 6, ln 3, ln 2]
		{"dense", []testutil.Value{coreVal("logits", []int{1, 3}, lossRow...), coreVal("targets", []int{1, 3}, 0.5, 0, 1)},
			[]float64{2}, lossBinary(nodes.SoftmaxCrossEntropyPerExample),
			[][]float64{{-0.5, 1, -0.5}, {2 * lossLn6, 2 * lossLn3, 2 * lossLn2}}},
		// z̄ = ḡ·(σ(z) − t), t̄ = −ḡ·z; σ(ln 3) = ¾, σ(800) = 1, σ(−800) = 0
		{"sigmoid", []testutil.Value{coreVal("logits", []int{4}, lossLn3, 0, 800, -800), coreVal("targets", []int{4}, 0.25, 1, 0, 0)},
			[]float64{1, 2, 3, 4}, lossBinary(nodes.SigmoidCrossEntropyWithLogitsPerElement),
			[][]float64{{0.5, -1, 3, 0}, {-lossLn3, 0, -2400, 3200}}},
		// p̄ = ḡ·clip(e, −1, 1), t̄ = −p̄
		{"huber", []testutil.Value{coreVal("pred", []int{5}, 0.5, 2, -3, 1, 0), coreVal("target", []int{5}, 0, 0, 0, 0, 0)},
			[]float64{2, 2, 2, 2, 2}, func(in []*graph.Node) *graph.Node { return nodes.HuberError(in[0], in[1], 1) },
			[][]float64{{1, 2, -2, 2, 0}, {-1, -2, 2, -2, 0}}},
		// MSE of 4 elements: p̄ = 2(p − t)/4 for ḡ = 1
		{"mse", []testutil.Value{coreVal("pred", []int{2, 2}, 1, 2, 3, 4), coreVal("target", []int{2, 2}, 0, 4, 3, 1)},
			[]float64{1}, lossBinary(nodes.MSE),
			[][]float64{{0.5, -1, 0, 1.5}, {-0.5, 1, 0, -1.5}}},
		// binary from probabilities: −t/p + (1−t)/(1−p) inside the bounds,
		// 0 where p is clipped (p = 1 and p = 0)
		{"binary-probs", []testutil.Value{coreVal("probs", []int{4}, 0.75, 0.25, 1, 0), coreVal("targets", []int{4}, 1, 0.5, 1, 0)},
			[]float64{1, 1, 1, 1}, lossBinary(nodes.BinaryCrossEntropyFromProbsPerElement),
			[][]float64{{-1 / 0.75, -0.5/0.25 + 0.5/0.75, 0, 0}, nil}},
	}
	for _, tc := range cases {
		for _, dt := range coreDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				_, grads, err := testutil.RunVJP(dt, tc.ins, tc.up, func(_ *graph.Graph, in []*graph.Node) *graph.Node { return tc.build(in) })
				require.NoError(t, err)
				for i, w := range tc.want {
					if w == nil {
						continue
					}
					coreExpect(t, fmt.Sprintf("VJP %s(%s; ḡ=%v) for %s", tc.name, coreArgs(tc.ins), tc.up, tc.ins[i].Name), dt, grads[i], tc.ins[i].Shape, w)
				}
			})
		}
	}
}

// TestLossExtremeLogits: logits of ±800 and ±1000 (and clipped
// probabilities) give finite losses and finite gradients in both dtypes,
// with every input differentiated.
func TestLossExtremeLogits(t *testing.T) {
	z := []float64{1000, -1000, 0, -1000, 1000, -800, 800, 800, -1000, -800, 0, 800}
	cases := []struct {
		name  string
		ins   []testutil.Value
		build func(in []*graph.Node) *graph.Node
	}{
		{"sparse", []testutil.Value{coreVal("logits", []int{4, 3}, z...), coreVal("labels", []int{4}, 1, 0, 2, 0)},
			lossBinary(nodes.SoftmaxCrossEntropySparse)},
		{"dense", []testutil.Value{coreVal("logits", []int{4, 3}, z...), coreVal("targets", []int{4, 3}, 0, 1, 0, 0.5, 0, 0.5, 0.2, 0.2, 0.6, 1, 0, 0)},
			lossBinary(nodes.SoftmaxCrossEntropy)},
		{"sigmoid", []testutil.Value{coreVal("logits", []int{4, 3}, z...), coreVal("targets", []int{4, 3}, 1, 0, 0.5, 1, 0, 1, 0, 1, 0, 0.5, 1, 0)},
			lossBinary(nodes.SigmoidCrossEntropyWithLogits)},
		{"binary-probs", []testutil.Value{coreVal("probs", []int{4}, 0, 1, 0, 1), coreVal("targets", []int{4}, 1, 0, 0, 1)},
			func(in []*graph.Node) *graph.Node {
				return nodes.Mean(nodes.BinaryCrossEntropyFromProbsPerElement(in[0], in[1]), false)
			}},
		{"categorical-probs", []testutil.Value{coreVal("probs", []int{2, 2}, 1, 0, 0, 1), coreVal("targets", []int{2, 2}, 0, 1, 0, 1)},
			func(in []*graph.Node) *graph.Node {
				return nodes.Mean(nodes.CategoricalCrossEntropyFromProbsPerExample(in[0], in[1]), false)
			}},
	}
	for _, tc := range cases {
		for _, dt := range coreDTypes {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				y, grads, err := testutil.RunVJP(dt, tc.ins, []float64{1}, func(_ *graph.Graph, in []*graph.Node) *graph.Node { return tc.build(in) })
				require.NoError(t, err)
				for _, v := range append([]testutil.Value{y}, grads...) {
					for i, f := range v.Data {
						if math.IsNaN(f) || math.IsInf(f, 0) {
							t.Errorf("%s(%s): %s[%d] = %v, want a finite value", tc.name, coreArgs(tc.ins), v.Name, i, f)
						}
					}
				}
			})
		}
	}
}

// TestSoftmaxCrossEntropySparseBadLabels: a label that is not an integer
// in [0, C) is an error from Run naming the node and the first bad label, whether the
// program computes the loss or only its gradient; the machine runs again
// afterwards with good labels.
func TestSoftmaxCrossEntropySparseBadLabels(t *testing.T) {
	tests := []struct {
		labels []float64
		want   string
	}{
		{[]float64{0, 3, 1}, "label 3 at index 1 is not an integer in [0, 3)"},
		{[]float64{-1, 0, 7}, "label -1 at index 0 is not an integer in [0, 3)"},
		{[]float64{0, 1, 1.5}, "label 1.5 at index 2 is not an integer in [0, 3)"},
		{[]float64{math.NaN(), 0, 1}, "label NaN at index 0 is not an integer in [0, 3)"},
		{[]float64{0, math.Inf(-1), 1}, "label -Inf at index 1 is not an integer in [0, 3)"},
	}
	for _, dt := range coreDTypes {
		for _, fetch := range []string{"loss", "grad"} {
			g := graph.New(dt)
			logits := g.Input("logits", graph.Shape{coreB, 3})
			labels := g.Input("labels", graph.Shape{coreB})
			loss := nodes.SoftmaxCrossEntropySparse(logits, labels)
			out := loss
			if fetch == "grad" {
				grads, err := autodiff.Grad(loss, logits)
				require.NoError(t, err)
				out = grads[0]
			}
			p, err := compile.Compile(g, []*graph.Node{out}, compile.Options{})
			require.NoError(t, err)
			m := vm.NewMachine(p, vm.NewStore())
			z := testutil.Tensor(dt, []int{3, 3}, lossCat(lossRow, lossRow, lossRow))
			for _, tc := range tests {
				t.Run(fmt.Sprintf("%s/%v/%v", fetch, tc.labels, dt), func(t *testing.T) {
					var res []*tensor.Dense
					var err error
					require.NotPanics(t, func() {
						res, err = m.Run(vm.Feeds{"logits": z, "labels": testutil.Tensor(dt, []int{3}, tc.labels)})
					})
					require.Error(t, err, "SoftmaxCrossEntropySparse(labels %v) ran without error", tc.labels)
					assert.Nil(t, res)
					// the node computing the per-example losses, which the
					// gradient program computes too
					assert.Equal(t, fmt.Sprintf(`vm: node "softmax_cross_entropy_sparse" (output %v[3]): softmax_cross_entropy_sparse: %s`, dt, tc.want), err.Error())

					res, err = m.Run(vm.Feeds{"logits": z, "labels": testutil.Tensor(dt, []int{3}, []float64{2, 0, 1})})
					require.NoError(t, err)
					require.Len(t, res, 1)
				})
			}
		}
	}
}

// lossLabels draws integer class labels in [0, c).
func lossLabels(c int) coreGen {
	return func(r *rand.Rand) float64 { return float64(r.IntN(c)) }
}

// TestLossGradCheck: autodiff.Check (central differences, float64,
// defaults h = 1e-6 and tolerance 1e-6; see coreCheckGrads) for every loss
// op and composition, for each differentiable input, on several shapes.
// Inputs stay away from kinks: |p − t| ≥ ½ for the absolute error,
// probabilities inside the clipping bounds.
func TestLossGradCheck(t *testing.T) {
	var cases []coreGrad
	for _, s := range [][]int{{5}, {4, 3}, {2, 3, 5}, {3, 1}} {
		c := s[len(s)-1]
		ex := s[:len(s)-1]
		name := fmt.Sprint(s)
		logits := coreUniform(-4, 4)
		cases = append(cases,
			coreGrad{name: "sparse" + name, shapes: [][]int{s, ex}, gen: []coreGen{logits, lossLabels(c)}, wrt: []int{0},
				build: lossBinary(nodes.SoftmaxCrossEntropySparsePerExample)},
			coreGrad{name: "sparse-mean" + name, shapes: [][]int{s, ex}, gen: []coreGen{logits, lossLabels(c)}, wrt: []int{0},
				build: lossBinary(nodes.SoftmaxCrossEntropySparse)},
			coreGrad{name: "dense" + name, shapes: [][]int{s, s}, gen: []coreGen{logits, coreUniform(0, 1)},
				build: lossBinary(nodes.SoftmaxCrossEntropyPerExample)},
			coreGrad{name: "sigmoid" + name, shapes: [][]int{s, s}, gen: []coreGen{logits, coreUniform(0, 1)},
				build: lossBinary(nodes.SigmoidCrossEntropyWithLogitsPerElement)},
			coreGrad{name: "sigmoid-mean" + name, shapes: [][]int{s, s}, gen: []coreGen{logits, coreUniform(0, 1)},
				build: lossBinary(nodes.SigmoidCrossEntropyWithLogits)},
			coreGrad{name: "mse" + name, shapes: [][]int{s, s}, build: lossBinary(nodes.MSE)},
			coreGrad{name: "mae" + name, shapes: [][]int{s, s}, gen: []coreGen{coreAway(1, 2), coreUniform(-0.5, 0.5)},
				build: lossBinary(nodes.MAE)},
			coreGrad{name: "huber" + name, shapes: [][]int{s, s}, gen: []coreGen{coreUniform(-3, 3), coreUniform(-1, 1)},
				build: func(in []*graph.Node) *graph.Node { return nodes.HuberError(in[0], in[1], 1) }},
			coreGrad{name: "huber-delta0.7" + name, shapes: [][]int{s, s}, gen: []coreGen{coreUniform(-3, 3), coreUniform(-1, 1)},
				build: func(in []*graph.Node) *graph.Node { return nodes.Huber(in[0], in[1], 0.7) }},
			coreGrad{name: "categorical-probs" + name, shapes: [][]int{s, s}, gen: []coreGen{coreUniform(0.05, 1), coreUniform(0, 1)},
				build: lossBinary(nodes.CategoricalCrossEntropyFromProbsPerExample)},
			coreGrad{name: "sparse-probs" + name, shapes: [][]int{s, ex}, gen: []coreGen{coreUniform(0.05, 0.95), lossLabels(c)}, wrt: []int{0},
				build: lossBinary(nodes.SparseCategoricalCrossEntropyFromProbsPerExample)},
			coreGrad{name: "binary-probs" + name, shapes: [][]int{s, s}, gen: []coreGen{coreUniform(0.05, 0.95), coreUniform(0, 1)},
				build: lossBinary(nodes.BinaryCrossEntropyFromProbsPerElement)},
		)
	}
	// a single class: the renormalized probability is 1, clipped to
	// 1 − 1e-7, so the categorical loss from probabilities is constant
	// in p: skip it there (its gradient is 0 on both sides)
	kept := cases[:0]
	for _, c := range cases {
		if c.name != "categorical-probs[3 1]" {
			kept = append(kept, c)
		}
	}
	coreCheckGrads(t, kept)
}

// TestLossSecondOrder checks gradients of gradients, as TestSecondOrder
// does: g₁ = ∂L/∂x, L₂ = Σ g₁ ⊙ v, and autodiff.Check of ∂L₂ against
// finite differences of g₁ (float64, Check's defaults). The loss is
// L = Σ ℓ ⊙ tanh(a) with a an input shaped like ℓ, so the rule for the
// upstream gradient of the gradient ops is exercised (∂L₂/∂a goes through
// it), and the batch dimension is open (fed with 3).
func TestLossSecondOrder(t *testing.T) {
	const batch = 3
	cases := []struct {
		name   string
		shapes []graph.Shape // x (differentiated first), second input, a
		gen    []coreGen
		wrt    []int // inputs of the second check
		build  func(x, y *graph.Node) *graph.Node
	}{
		{"sparse", []graph.Shape{{coreB, 4}, {coreB}, {coreB}}, []coreGen{coreUniform(-3, 3), lossLabels(4), coreUniform(-1, 1)}, []int{0, 2},
			nodes.SoftmaxCrossEntropySparsePerExample},
		{"sparse-rank3", []graph.Shape{{coreB, 2, 3}, {coreB, 2}, {coreB, 2}}, []coreGen{coreUniform(-3, 3), lossLabels(3), coreUniform(-1, 1)}, []int{0, 2},
			nodes.SoftmaxCrossEntropySparsePerExample},
		{"dense", []graph.Shape{{coreB, 4}, {coreB, 4}, {coreB}}, []coreGen{coreUniform(-3, 3), coreUniform(0, 1), coreUniform(-1, 1)}, []int{0, 1, 2},
			nodes.SoftmaxCrossEntropyPerExample},
		{"sigmoid", []graph.Shape{{coreB, 4}, {coreB, 4}, {coreB, 4}}, []coreGen{coreUniform(-3, 3), coreUniform(0, 1), coreUniform(-1, 1)}, []int{0, 1, 2},
			nodes.SigmoidCrossEntropyWithLogitsPerElement},
		// |e| stays below δ = 5 or (a few) above it, away from the switch
		{"huber", []graph.Shape{{coreB, 4}, {coreB, 4}, {coreB, 4}}, []coreGen{coreAway(1, 4), coreAway(6, 7), coreUniform(-1, 1)}, []int{0, 1, 2},
			func(x, y *graph.Node) *graph.Node { return nodes.HuberError(x, y, 5) }},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci)+100, 0x5eed))
			g := graph.New(graph.Float64)
			feeds := vm.Feeds{}
			in := make([]*graph.Node, 3)
			for i, s := range tc.shapes {
				name := fmt.Sprintf("x%d", i)
				in[i] = g.Input(name, s)
				c := s.WithBatch(batch)
				data := make([]float64, c.Size())
				for j := range data {
					data[j] = tc.gen[i](r)
				}
				feeds[name] = testutil.Tensor(graph.Float64, c, data)
			}
			loss := nodes.Sum(nodes.Mul(tc.build(in[0], in[1]), nodes.Tanh(in[2])), false)
			g1, err := autodiff.Grad(loss, in[0])
			require.NoError(t, err)
			v := g.Input("v", tc.shapes[0])
			vs := tc.shapes[0].WithBatch(batch)
			vd := make([]float64, vs.Size())
			for j := range vd {
				vd[j] = coreUniform(-1, 1)(r)
			}
			feeds["v"] = testutil.Tensor(graph.Float64, vs, vd)
			loss2 := nodes.Sum(nodes.Mul(g1[0], v), false)
			var wrt []*graph.Node
			for _, i := range tc.wrt {
				wrt = append(wrt, in[i])
			}
			rep, err := autodiff.Check(g, loss2, wrt, feeds, nil, autodiff.CheckOptions{})
			require.NoError(t, err, "worst %v", rep.Worst)
			require.Positive(t, rep.Checked)
		})
	}
}

// TestLossNoGradientForLabels: the integer labels of the sparse loss get no
// gradient, and autodiff says why.
func TestLossNoGradientForLabels(t *testing.T) {
	g := graph.New(graph.Float64)
	logits := g.Input("logits", graph.Shape{coreB, 3})
	labels := g.Input("labels", graph.Shape{coreB})
	_, err := autodiff.Grad(nodes.SoftmaxCrossEntropySparse(logits, labels), labels)
	require.Error(t, err)
	assert.ErrorIs(t, err, graph.ErrGradient)
}

func TestLossShapes(t *testing.T) {
	cases := []struct {
		name  string
		a, b  graph.Shape
		build func(a, b *graph.Node) *graph.Node
		want  graph.Shape
	}{
		{"sparse", graph.Shape{coreB, 10}, graph.Shape{coreB}, nodes.SoftmaxCrossEntropySparsePerExample, graph.Shape{coreB}},
		{"sparse-rank3", graph.Shape{coreB, 7, 10}, graph.Shape{coreB, 7}, nodes.SoftmaxCrossEntropySparsePerExample, graph.Shape{coreB, 7}},
		{"sparse-mean", graph.Shape{coreB, 10}, graph.Shape{coreB}, nodes.SoftmaxCrossEntropySparse, graph.Shape{}},
		{"dense", graph.Shape{coreB, 10}, graph.Shape{coreB, 10}, nodes.SoftmaxCrossEntropyPerExample, graph.Shape{coreB}},
		{"dense-mean", graph.Shape{coreB, 10}, graph.Shape{coreB, 10}, nodes.SoftmaxCrossEntropy, graph.Shape{}},
		{"sigmoid", graph.Shape{coreB, 2}, graph.Shape{coreB, 2}, nodes.SigmoidCrossEntropyWithLogitsPerElement, graph.Shape{coreB, 2}},
		{"sigmoid-mean", graph.Shape{coreB, 2}, graph.Shape{coreB, 2}, nodes.SigmoidCrossEntropyWithLogits, graph.Shape{}},
		{"mse", graph.Shape{coreB, 1}, graph.Shape{coreB, 1}, nodes.MSE, graph.Shape{}},
		{"squared", graph.Shape{coreB, 1}, graph.Shape{coreB, 1}, nodes.SquaredError, graph.Shape{coreB, 1}},
		{"huber", graph.Shape{4}, graph.Shape{4}, func(a, b *graph.Node) *graph.Node { return nodes.HuberError(a, b, 1) }, graph.Shape{4}},
		{"categorical-probs", graph.Shape{coreB, 3}, graph.Shape{coreB, 3}, nodes.CategoricalCrossEntropyFromProbsPerExample, graph.Shape{coreB}},
		{"sparse-probs", graph.Shape{coreB, 3}, graph.Shape{coreB}, nodes.SparseCategoricalCrossEntropyFromProbsPerExample, graph.Shape{coreB}},
		{"binary-probs", graph.Shape{coreB, 3}, graph.Shape{coreB, 3}, nodes.BinaryCrossEntropyFromProbsPerElement, graph.Shape{coreB, 3}},
	}
	for _, tc := range cases {
		g := graph.New(graph.Float32)
		y := tc.build(g.Input("a", tc.a), g.Input("b", tc.b))
		require.NoError(t, g.Err(), tc.name)
		assert.Equal(t, tc.want, y.Shape(), "%s(%v, %v) shape", tc.name, tc.a, tc.b)
	}
}

func TestLossErrors(t *testing.T) {
	huber := func(delta float64) func(a, b *graph.Node) *graph.Node {
		return func(a, b *graph.Node) *graph.Node { return nodes.HuberError(a, b, delta) }
	}
	cases := []struct {
		name  string
		a, b  graph.Shape
		build func(a, b *graph.Node) *graph.Node
		kind  error
		want  string
	}{
		{"sparse/labels", graph.Shape{4, 3}, graph.Shape{3}, nodes.SoftmaxCrossEntropySparsePerExample, graph.ErrShape,
			`graph: softmax_cross_entropy_sparse "softmax_cross_entropy_sparse": labels [3] do not fit logits [4,3]: want labels [4] (one class index per row of logits) (inputs f32[4,3], f32[3]; at loss_test.go:`},
		{"sparse/labels-column", graph.Shape{coreB, 3}, graph.Shape{coreB, 1}, nodes.SoftmaxCrossEntropySparse, graph.ErrShape,
			`graph: softmax_cross_entropy_sparse "softmax_cross_entropy_sparse": labels [B,1] do not fit logits [B,3]: want labels [B]`},
		{"sparse/scalar", graph.Shape{}, graph.Shape{}, nodes.SoftmaxCrossEntropySparsePerExample, graph.ErrShape,
			`graph: softmax_cross_entropy_sparse "softmax_cross_entropy_sparse": softmax_cross_entropy_sparse needs logits of rank 1 or more (classes along the last axis), got a scalar`},
		{"sparse/batch-classes", graph.Shape{coreB}, graph.Shape{}, nodes.SoftmaxCrossEntropySparsePerExample, graph.ErrShape,
			`graph: softmax_cross_entropy_sparse "softmax_cross_entropy_sparse": the class axis of logits [B] is the open batch dimension`},
		{"sparse/no-class", graph.Shape{4, 0}, graph.Shape{4}, nodes.SoftmaxCrossEntropySparsePerExample, graph.ErrShape,
			`graph: softmax_cross_entropy_sparse "softmax_cross_entropy_sparse": logits [4,0] have no class (the last axis is empty)`},
		{"dense/targets", graph.Shape{4, 3}, graph.Shape{4, 2}, nodes.SoftmaxCrossEntropy, graph.ErrShape,
			`graph: softmax_cross_entropy "softmax_cross_entropy": targets [4,2] do not fit logits [4,3]: want one shape`},
		{"sigmoid/column", graph.Shape{coreB, 1}, graph.Shape{coreB}, nodes.SigmoidCrossEntropyWithLogits, graph.ErrShape,
			`graph: sigmoid_cross_entropy_with_logits "sigmoid_cross_entropy_with_logits": sigmoid_cross_entropy_with_logits needs inputs of one shape, got [B,1] and [B]`},
		{"mse/column", graph.Shape{coreB, 1}, graph.Shape{coreB}, nodes.MSE, graph.ErrShape,
			`graph: mse "mse": predictions [B,1] and targets [B] differ in shape (inputs f32[B,1], f32[B]; at loss_test.go:`},
		{"mae/column", graph.Shape{4}, graph.Shape{4, 1}, nodes.MAE, graph.ErrShape,
			`graph: mae "mae": predictions [4] and targets [4,1] differ in shape`},
		{"squared/column", graph.Shape{4}, graph.Shape{1}, nodes.SquaredError, graph.ErrShape,
			`graph: squared_error "squared_error": predictions [4] and targets [1] differ in shape`},
		{"absolute/column", graph.Shape{4}, graph.Shape{1}, nodes.AbsoluteError, graph.ErrShape,
			`graph: absolute_error "absolute_error": predictions [4] and targets [1] differ in shape`},
		{"huber/shape", graph.Shape{4}, graph.Shape{2, 2}, huber(1), graph.ErrShape,
			`graph: huber "huber": huber needs inputs of one shape, got [4] and [2,2]`},
		{"huber/zero", graph.Shape{4}, graph.Shape{4}, huber(0), graph.ErrArg,
			`graph: huber "huber": delta 0: want a positive finite value`},
		{"huber/negative", graph.Shape{4}, graph.Shape{4}, huber(-1), graph.ErrArg,
			`graph: huber "huber": delta -1: want a positive finite value`},
		{"huber/nan", graph.Shape{4}, graph.Shape{4}, huber(math.NaN()), graph.ErrArg,
			`graph: huber "huber": delta NaN: want a positive finite value`},
		{"huber/lossInf", graph.Shape{4}, graph.Shape{4}, huber(math.Inf(1)), graph.ErrArg,
			`graph: huber "huber": delta +Inf: want a positive finite value`},
		{"categorical-probs/shape", graph.Shape{4, 3}, graph.Shape{4}, nodes.CategoricalCrossEntropyFromProbsPerExample, graph.ErrShape,
			`graph: categorical_crossentropy "categorical_crossentropy": predictions [4,3] and targets [4] differ in shape`},
		{"binary-probs/shape", graph.Shape{4, 1}, graph.Shape{4}, nodes.BinaryCrossEntropyFromProbsPerElement, graph.ErrShape,
			`graph: binary_crossentropy "binary_crossentropy": predictions [4,1] and targets [4] differ in shape`},
		{"sparse-probs/labels", graph.Shape{4, 3}, graph.Shape{4, 3}, nodes.SparseCategoricalCrossEntropyFromProbsPerExample, graph.ErrShape,
			`graph: softmax_cross_entropy_sparse "softmax_cross_entropy_sparse": labels [4,3] do not fit logits [4,3]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New(graph.Float32)
			var y *graph.Node
			require.NotPanics(t, func() { y = tc.build(g.Input("a", tc.a), g.Input("b", tc.b)) })
			assert.True(t, y.IsPoisoned(), "%s(%v, %v) = %v, want a poisoned node", tc.name, tc.a, tc.b, y)
			coreErrPrefix(t, g.Err(), tc.kind, tc.want)
		})
	}
}

// TestLossNilInputs: nil inputs never panic; with one input given, the
// error is recorded on its graph.
func TestLossNilInputs(t *testing.T) {
	builders := map[string]func(a, b *graph.Node) *graph.Node{
		"SoftmaxCrossEntropySparse":     nodes.SoftmaxCrossEntropySparse,
		"SoftmaxCrossEntropy":           nodes.SoftmaxCrossEntropy,
		"SigmoidCrossEntropyWithLogits": nodes.SigmoidCrossEntropyWithLogits,
		"MSE":                           nodes.MSE,
		"MAE":                           nodes.MAE,
		"Huber":                         func(a, b *graph.Node) *graph.Node { return nodes.Huber(a, b, 1) },
		"CategoricalCrossEntropyFromProbsPerExample":       nodes.CategoricalCrossEntropyFromProbsPerExample,
		"SparseCategoricalCrossEntropyFromProbsPerExample": nodes.SparseCategoricalCrossEntropyFromProbsPerExample,
		"BinaryCrossEntropyFromProbsPerElement":            nodes.BinaryCrossEntropyFromProbsPerElement,
	}
	for name, f := range builders {
		require.NotPanics(t, func() { assert.Nil(t, f(nil, nil), "%s(nil, nil)", name) }, name)
		for i := range 2 {
			g := graph.New(graph.Float64)
			x := g.Input("x", graph.Shape{2, 3})
			a, b := x, (*graph.Node)(nil)
			if i == 1 {
				a, b = b, a
			}
			require.NotPanics(t, func() { f(a, b) }, "%s with input %d nil", name, 1-i)
			assert.ErrorIs(t, g.Err(), graph.ErrNil, "%s with input %d nil", name, 1-i)
		}
	}
}

// TestLossExecAllocs: once bound, a loss and its gradients run without
// allocating.
func TestLossExecAllocs(t *testing.T) {
	builds := []struct {
		name    string
		targets graph.Shape
		build   func(a, b *graph.Node) *graph.Node
	}{
		{"sparse", graph.Shape{coreB}, nodes.SoftmaxCrossEntropySparse},
		{"dense", graph.Shape{coreB, 5}, nodes.SoftmaxCrossEntropy},
		{"sigmoid", graph.Shape{coreB, 5}, nodes.SigmoidCrossEntropyWithLogits},
		{"huber", graph.Shape{coreB, 5}, func(a, b *graph.Node) *graph.Node { return nodes.Huber(a, b, 1) }},
	}
	for _, bc := range builds {
		g := graph.New(graph.Float32)
		z := g.Input("z", graph.Shape{coreB, 5})
		tg := g.Input("t", bc.targets)
		loss := bc.build(z, tg)
		wrt := []*graph.Node{z}
		if bc.name != "sparse" {
			wrt = append(wrt, tg)
		}
		grads, err := autodiff.Grad(loss, wrt...)
		require.NoError(t, err)
		p, err := compile.Compile(g, append([]*graph.Node{loss}, grads...), compile.Options{})
		require.NoError(t, err)
		m := vm.NewMachine(p, vm.NewStore())
		tv := make([]float64, bc.targets.WithBatch(4).Size()) // zeros: valid labels and targets
		feeds := vm.Feeds{
			"z": testutil.Tensor(graph.Float32, []int{4, 5}, make([]float64, 20)),
			"t": testutil.Tensor(graph.Float32, bc.targets.WithBatch(4), tv),
		}
		_, err = m.Exec(feeds)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := m.Exec(feeds); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%s: Exec allocates", bc.name)
	}
}

// TestLossParallelRows runs enough rows for the row kernels to split them
// over the worker pool (when there is more than one thread): every row
// must come out as the same row computed alone. Rows are [0, ln 2, ln 3]
// with labels cycling 0, 1, 2: losses ln 6, ln 3, ln 2.
func TestLossParallelRows(t *testing.T) {
	const rows = 6000
	z := make([]float64, 0, 3*rows)
	labels := make([]float64, rows)
	want := make([]float64, rows)
	for r := range rows {
		z = append(z, lossRow...)
		labels[r] = float64(r % 3)
		want[r] = []float64{lossLn6, lossLn3, lossLn2}[r%3]
	}
	ones := make([]float64, rows)
	for i := range ones {
		ones[i] = 1
	}
	for _, dt := range coreDTypes {
		y, grads, err := testutil.RunVJP(dt,
			[]testutil.Value{coreVal("logits", []int{rows, 3}, z...), coreVal("labels", []int{rows}, labels...)},
			ones, func(_ *graph.Graph, in []*graph.Node) *graph.Node {
				return nodes.SoftmaxCrossEntropySparsePerExample(in[0], in[1])
			})
		require.NoError(t, err)
		coreExpect(t, fmt.Sprintf("SoftmaxCrossEntropySparsePerExample(%d rows)", rows), dt, y, []int{rows}, want)
		s := []float64{1.0 / 6, 1.0 / 3, 0.5}
		for r := range rows {
			for j := range 3 {
				w := s[j]
				if j == r%3 {
					w--
				}
				if !coreClose(dt, grads[0].Data[3*r+j], w) {
					t.Fatalf("%v: ∂/∂logits[%d,%d] = %v, want %v", dt, r, j, grads[0].Data[3*r+j], w)
				}
			}
		}
	}
}

// BenchmarkSoftmaxCrossEntropySparse times a loss and its gradient with
// respect to the logits, one op each way, against the same loss composed
// of LogSoftmax, OneHot, Mul and Sum.
func BenchmarkSoftmaxCrossEntropySparse(b *testing.B) {
	composed := func(z, y *graph.Node) *graph.Node {
		c := z.Shape()[z.Shape().Rank()-1]
		return nodes.Mean(nodes.Neg(nodes.Sum(nodes.Mul(nodes.LogSoftmax(z), nodes.OneHot(y, c)), false, -1)), false)
	}
	for _, size := range []struct{ n, c int }{{128, 10}, {1024, 1000}} {
		for _, impl := range []struct {
			name  string
			build func(z, y *graph.Node) *graph.Node
		}{{"op", nodes.SoftmaxCrossEntropySparse}, {"composed", composed}} {
			b.Run(fmt.Sprintf("b%d/c%d/%s/f32", size.n, size.c, impl.name), func(b *testing.B) {
				g := graph.New(graph.Float32)
				z := g.Input("z", graph.Shape{coreB, size.c})
				y := g.Input("y", graph.Shape{coreB})
				loss := impl.build(z, y)
				grads, err := autodiff.Grad(loss, z)
				require.NoError(b, err)
				p, err := compile.Compile(g, []*graph.Node{loss, grads[0]}, compile.Options{})
				require.NoError(b, err)
				m := vm.NewMachine(p, vm.NewStore())
				r := rand.New(rand.NewPCG(1, 2))
				zd := make([]float64, size.n*size.c)
				for i := range zd {
					zd[i] = r.NormFloat64()
				}
				yd := make([]float64, size.n)
				for i := range yd {
					yd[i] = float64(r.IntN(size.c))
				}
				feeds := vm.Feeds{"z": testutil.Tensor(graph.Float32, []int{size.n, size.c}, zd), "y": testutil.Tensor(graph.Float32, []int{size.n}, yd)}
				b.ReportAllocs()
				b.ResetTimer()
				var sink float64
				for b.Loop() {
					res, err := m.Exec(feeds)
					if err != nil {
						b.Fatal(err)
					}
					sink += float64(res.At(0).Float32s()[0])
				}
				if !(sink > 0) {
					b.Fatalf("loss sum %v: want positive", sink)
				}
			})
		}
	}
}
