package train

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// Losses as Keras configures them: one struct per Keras loss class, whose
// zero value is Keras's default, implementing Loss with the ops of package
// nodes (SEMANTICS §7).
//
// Keras's cross-entropies take probabilities by default (from_logits=False):
// the model ends in a softmax or sigmoid, and the loss clips the
// probabilities to [1e-7, 1 − 1e-7] before taking logarithms, which bounds
// the loss at −ln 1e-7 ≈ 16.1 and stops the gradient of a confidently wrong
// prediction. So do these configs. Prefer FromLogits: true with a linear
// last layer: the loss then works on the logits with the max-shifted
// log-sum-exp, exact for logits of any size, and the gradient is the
// well-conditioned softmax(z) − target.
//
// Reductions (Reduction): the mean (the zero value, Keras's
// "sum_over_batch_size") is the mean of the per-example losses, which for
// the element-wise losses (binary cross-entropy, MSE, MAE, Huber) is the
// mean over all elements; the sum adds the per-example losses; none returns
// them. A per-example loss of an element-wise loss is, as in Keras, the
// mean over the last axis when the output has rank 2 or more, and the
// element itself for a rank-1 output [B].

// String returns Keras's name of the reduction: "sum_over_batch_size",
// "sum" or "none".
func (r Reduction) String() string {
	switch r {
	case ReductionMean:
		return "sum_over_batch_size"
	case ReductionSum:
		return "sum"
	case ReductionNone:
		return "none"
	}
	return fmt.Sprintf("reduction(%d)", uint8(r))
}

// SparseCategoricalCrossentropy is Keras's
// SparseCategoricalCrossentropy: the cross-entropy of a classifier's
// output of shape [B, C] (or [B, ..., C]) against integer class labels
// stored as floats, of shape [B] (or [B, ...]; a trailing axis of size 1,
// [B, 1], is accepted and squeezed, as Keras does). A label that is not an
// integer in [0, C) makes Run return an error naming it.
//
// With FromLogits the output holds logits and the loss is
// nodes.SoftmaxCrossEntropySparsePerExample; otherwise it holds
// probabilities, clipped to [1e-7, 1 − 1e-7] and used as log-probabilities
// (nodes.SparseCategoricalCrossEntropyFromProbsPerExample, Keras's exact
// computation).
type SparseCategoricalCrossentropy struct {
	// FromLogits says the model's output is logits (a linear last layer).
	// The zero value, false, is Keras's default: probabilities (a softmax
	// last layer). Prefer true.
	FromLogits bool
	Reduction  Reduction
}

// Name returns "sparse_categorical_crossentropy".
func (SparseCategoricalCrossentropy) Name() string { return "sparse_categorical_crossentropy" }

// TargetShape returns out without its last (class) axis: [B] for [B, C].
func (SparseCategoricalCrossentropy) TargetShape(out graph.Shape) graph.Shape {
	if len(out) == 0 {
		return graph.Shape{}
	}
	return out[:len(out)-1].Clone()
}

// Build returns the loss of pred (logits or probabilities) against integer
// labels target.
func (l SparseCategoricalCrossentropy) Build(pred, target *graph.Node) *graph.Node {
	if bad := lossCheckReduction(l.Name(), l.Reduction, pred, target); bad != nil {
		return bad
	}
	target = lossSqueezeLabels(pred, target)
	var per *graph.Node
	if l.FromLogits {
		per = nodes.SoftmaxCrossEntropySparsePerExample(pred, target)
	} else {
		per = nodes.SparseCategoricalCrossEntropyFromProbsPerExample(pred, target)
	}
	return lossReduce(l.Reduction, per)
}

// CategoricalCrossentropy is Keras's CategoricalCrossentropy: the
// cross-entropy of a classifier's output against one-hot or probability
// targets of the same shape [B, C].
//
// With FromLogits the output holds logits and the loss is
// nodes.SoftmaxCrossEntropyPerExample; otherwise it holds probabilities,
// whose rows are rescaled to sum 1 and then clipped to [1e-7, 1 − 1e-7]
// (nodes.CategoricalCrossEntropyFromProbsPerExample, Keras's exact
// computation).
type CategoricalCrossentropy struct {
	// FromLogits says the model's output is logits (a linear last layer).
	// The zero value, false, is Keras's default: probabilities (a softmax
	// last layer). Prefer true.
	FromLogits bool
	Reduction  Reduction
}

// Name returns "categorical_crossentropy".
func (CategoricalCrossentropy) Name() string { return "categorical_crossentropy" }

// TargetShape returns out: one target row per output row.
func (CategoricalCrossentropy) TargetShape(out graph.Shape) graph.Shape { return out.Clone() }

// Build returns the loss of pred (logits or probabilities) against the
// target rows.
func (l CategoricalCrossentropy) Build(pred, target *graph.Node) *graph.Node {
	if bad := lossCheckReduction(l.Name(), l.Reduction, pred, target); bad != nil {
		return bad
	}
	var per *graph.Node
	if l.FromLogits {
		per = nodes.SoftmaxCrossEntropyPerExample(pred, target)
	} else {
		per = nodes.CategoricalCrossEntropyFromProbsPerExample(pred, target)
	}
	return lossReduce(l.Reduction, per)
}

// BinaryCrossentropy is Keras's BinaryCrossentropy: the cross-entropy of
// independent binary predictions (one per element: a binary classifier's
// [B, 1] output, or a multi-label [B, K] one) against targets in [0, 1]
// of the same shape. A [B] target for a [B, 1] output, or the reverse, is
// reshaped to the output's shape, as Keras does.
//
// With FromLogits the output holds logits and the loss is
// nodes.SigmoidCrossEntropyWithLogitsPerElement; otherwise it holds
// probabilities, clipped to [1e-7, 1 − 1e-7]
// (nodes.BinaryCrossEntropyFromProbsPerElement).
type BinaryCrossentropy struct {
	// FromLogits says the model's output is logits (a linear last layer).
	// The zero value, false, is Keras's default: probabilities (a sigmoid
	// last layer). Prefer true.
	FromLogits bool
	Reduction  Reduction
}

// Name returns "binary_crossentropy".
func (BinaryCrossentropy) Name() string { return "binary_crossentropy" }

// TargetShape returns out.
func (BinaryCrossentropy) TargetShape(out graph.Shape) graph.Shape { return out.Clone() }

// Build returns the loss of pred (logits or probabilities) against target.
func (l BinaryCrossentropy) Build(pred, target *graph.Node) *graph.Node {
	f := nodes.BinaryCrossEntropyFromProbsPerElement
	if l.FromLogits {
		f = nodes.SigmoidCrossEntropyWithLogitsPerElement
	}
	return lossElementwise(l.Name(), l.Reduction, pred, target, f)
}

// MeanSquaredError is Keras's MeanSquaredError: (pred − target)², averaged
// (nodes.SquaredError). Targets have the output's shape; [B] against
// [B, 1] is reshaped as Keras does.
type MeanSquaredError struct {
	Reduction Reduction
}

// Name returns "mean_squared_error".
func (MeanSquaredError) Name() string { return "mean_squared_error" }

// TargetShape returns out.
func (MeanSquaredError) TargetShape(out graph.Shape) graph.Shape { return out.Clone() }

// Build returns the loss of pred against target.
func (l MeanSquaredError) Build(pred, target *graph.Node) *graph.Node {
	return lossElementwise(l.Name(), l.Reduction, pred, target, nodes.SquaredError)
}

// MeanAbsoluteError is Keras's MeanAbsoluteError: |pred − target|,
// averaged (nodes.AbsoluteError; the gradient where pred = target is 0).
// Targets have the output's shape; [B] against [B, 1] is reshaped as Keras
// does.
type MeanAbsoluteError struct {
	Reduction Reduction
}

// Name returns "mean_absolute_error".
func (MeanAbsoluteError) Name() string { return "mean_absolute_error" }

// TargetShape returns out.
func (MeanAbsoluteError) TargetShape(out graph.Shape) graph.Shape { return out.Clone() }

// Build returns the loss of pred against target.
func (l MeanAbsoluteError) Build(pred, target *graph.Node) *graph.Node {
	return lossElementwise(l.Name(), l.Reduction, pred, target, nodes.AbsoluteError)
}

// Huber is Keras's Huber loss of e = pred − target: ½e² where |e| ≤ δ and
// δ·(|e| − ½δ) beyond, averaged (nodes.HuberError). Targets have the
// output's shape; [B] against [B, 1] is reshaped as Keras does.
type Huber struct {
	// Delta is δ; zero means Keras's default, 1. A negative, NaN or
	// infinite δ is an error recorded on the graph.
	Delta     float64
	Reduction Reduction
}

// Name returns "huber_loss", the name of Keras's Huber class.
func (Huber) Name() string { return "huber_loss" }

// TargetShape returns out.
func (Huber) TargetShape(out graph.Shape) graph.Shape { return out.Clone() }

// Build returns the loss of pred against target.
func (l Huber) Build(pred, target *graph.Node) *graph.Node {
	delta := l.Delta
	if delta == 0 {
		delta = nodes.HuberDelta
	}
	return lossElementwise(l.Name(), l.Reduction, pred, target, func(p, t *graph.Node) *graph.Node {
		return nodes.HuberError(p, t, delta)
	})
}

// losses maps the Keras string names of losses (model.compile(loss="mse"))
// to their configs with Keras's defaults.
var losses = map[string]Loss{
	"sparse_categorical_crossentropy": SparseCategoricalCrossentropy{},
	"categorical_crossentropy":        CategoricalCrossentropy{},
	"binary_crossentropy":             BinaryCrossentropy{},
	"mse":                             MeanSquaredError{},
	"mean_squared_error":              MeanSquaredError{},
	"mae":                             MeanAbsoluteError{},
	"mean_absolute_error":             MeanAbsoluteError{},
	"huber":                           Huber{},
	"huber_loss":                      Huber{},
}

// LossNames returns the names LossByName accepts, sorted.
func LossNames() []string {
	names := make([]string, 0, len(losses))
	for name := range losses {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// LossByName returns the loss with the given Keras name, with Keras's
// defaults (probabilities rather than logits for the cross-entropies, the
// mean reduction, δ = 1): "sparse_categorical_crossentropy",
// "categorical_crossentropy", "binary_crossentropy", "mse" (or
// "mean_squared_error"), "mae" (or "mean_absolute_error"), "huber" (or
// "huber_loss"). An unknown name gives an error, matching graph.ErrArg,
// that lists the valid ones.
func LossByName(name string) (Loss, error) {
	if l, ok := losses[name]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("train: %w: unknown loss %q (valid: %s)", graph.ErrArg, name, strings.Join(LossNames(), ", "))
}

// lossOp names a loss config in the errors it records on the graph.
type lossOp string

func (op lossOp) Name() string { return string(op) }

func (op lossOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, graph.Errorf(graph.ErrArg, "%s is not an op", string(op))
}

// lossFail records err for the loss (or metric) name on the graph of pred
// or target and returns the poisoned node; nil when neither has a graph.
func lossFail(name string, pred, target *graph.Node, err error) *graph.Node {
	for _, n := range []*graph.Node{pred, target} {
		if n != nil {
			return n.Graph().Fail(lossOp(name), []*graph.Node{pred, target}, err)
		}
	}
	return nil
}

// lossCheckReduction records an error unless r is one of the three
// reductions.
func lossCheckReduction(name string, r Reduction, pred, target *graph.Node) *graph.Node {
	switch r {
	case ReductionMean, ReductionSum, ReductionNone:
		return nil
	}
	return lossFail(name, pred, target, graph.Errorf(graph.ErrArg, "%v: want ReductionMean, ReductionSum or ReductionNone", r))
}

// lossReduce reduces per-example losses.
func lossReduce(r Reduction, per *graph.Node) *graph.Node {
	switch r {
	case ReductionSum:
		return nodes.Sum(per, false)
	case ReductionNone:
		return per
	}
	return nodes.Mean(per, false)
}

// lossElementwise builds an element-wise loss f(pred, target) (target
// reshaped to pred's shape where Keras would) and reduces it: the mean over
// all elements, or per-example values (the mean over the last axis for
// outputs of rank 2 or more) summed or returned.
func lossElementwise(name string, r Reduction, pred, target *graph.Node, f func(p, t *graph.Node) *graph.Node) *graph.Node {
	if bad := lossCheckReduction(name, r, pred, target); bad != nil {
		return bad
	}
	per := f(pred, lossMatchShape(pred, target))
	if r == ReductionMean {
		return nodes.Mean(per, false)
	}
	if per != nil && per.Shape().Rank() >= 2 {
		per = nodes.Mean(per, false, -1)
	}
	return lossReduce(r, per)
}

// lossMatchShape returns target reshaped to pred's shape when the two
// differ only by a trailing axis of size 1 ([B] against [B, 1], either
// way), as Keras's squeeze_or_expand_to_same_rank does; otherwise target
// itself, and the loss reports any mismatch.
func lossMatchShape(pred, target *graph.Node) *graph.Node {
	if pred == nil || target == nil || pred.Graph() != target.Graph() {
		return target
	}
	ps, ts := pred.Shape(), target.Shape()
	if ps.Equal(ts) || (!lossTrailingOne(ps, ts) && !lossTrailingOne(ts, ps)) {
		return target
	}
	return nodes.Reshape(target, lossReshapeTarget(ps))
}

// lossTrailingOne reports whether long is short followed by an axis of 1.
func lossTrailingOne(long, short graph.Shape) bool {
	return len(long) == len(short)+1 && long[len(long)-1] == 1 && long[:len(short)].Equal(short)
}

// lossReshapeTarget is s as a Reshape target: the open batch dimension
// written -1.
func lossReshapeTarget(s graph.Shape) graph.Shape {
	out := s.Clone()
	for i, d := range out {
		if d == graph.Batch {
			out[i] = -1
		}
	}
	if out == nil {
		out = graph.Shape{}
	}
	return out
}

// lossSqueezeLabels returns integer labels of shape [..., 1] for logits of
// the same rank reshaped to [...], as Keras's sparse cross-entropy does;
// other labels are returned as they are.
func lossSqueezeLabels(pred, labels *graph.Node) *graph.Node {
	if pred == nil || labels == nil || pred.Graph() != labels.Graph() {
		return labels
	}
	ps, ls := pred.Shape(), labels.Shape()
	if len(ls) == 0 || len(ls) != len(ps) || ls[len(ls)-1] != 1 {
		return labels
	}
	return nodes.Reshape(labels, lossReshapeTarget(ls[:len(ls)-1]))
}
