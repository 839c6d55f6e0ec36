package layers

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// Weight penalties and constraints (Keras's kernel_regularizer and
// kernel_constraint). A layer declares them on its variables (Var.Regularizer,
// Var.Constraint; DenseOptions.KernelRegularizer, KernelConstraint); the
// model collects them for whoever builds the training program:
//
//   - Sequential.Penalties returns the sum of every variable's penalty, a
//     scalar node to add to the loss before differentiating it;
//   - Sequential.Constrain rewrites the optimizer's updates so that each
//     constrained variable receives the projection of its updated value.
//
// Constraints act on the update rather than after it because a program's
// assignments all read the values from before the step (nodes.Assign): a
// second Assign of w to Constraint(w) in the same program would project
// the old w and race with the optimizer's. ConstraintUpdates gives the
// projections as a program of their own, to run between steps instead (or
// once, after loading weights).

// Regularizer is a penalty on a variable, added to the training loss.
type Regularizer interface {
	// Penalty returns a scalar node, the penalty on w, built in w's graph.
	// Errors go to the graph.
	Penalty(w *graph.Node) *graph.Node
}

// Constraint is a projection applied to a variable after each update.
type Constraint interface {
	// Apply returns the projection of w (a node of w's shape) built in w's
	// graph. Errors go to the graph.
	Apply(w *graph.Node) *graph.Node
}

// validator is implemented by regularizers and constraints that can check
// their settings when the layer is built.
type validator interface {
	Validate() error
}

func validate(what string, v any) error {
	if val, ok := v.(validator); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// L1L2 is Keras's L1L2 regularizer: L1·Σ|w| + L2·Σw². The zero value
// penalizes nothing.
type L1L2 struct {
	L1, L2 float64
}

// L1 returns the L1 penalty l1·Σ|w| (keras.regularizers.l1(l1); Keras's
// default factor is 0.01).
func L1(l1 float64) L1L2 { return L1L2{L1: l1} }

// L2 returns the L2 penalty l2·Σw² (keras.regularizers.l2(l2); Keras's
// default factor is 0.01). Note Keras's form: no ½, unlike the weight
// decay of some optimizers.
func L2(l2 float64) L1L2 { return L1L2{L2: l2} }

// Validate checks that both factors are finite and non-negative.
func (r L1L2) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"l1", r.L1}, {"l2", r.L2}} {
		if !(f.v >= 0) || math.IsInf(f.v, 1) {
			return fmt.Errorf("regularizer %s factor %v: want a finite value ≥ 0", f.name, f.v)
		}
	}
	return nil
}

// Penalty returns L1·Σ|w| + L2·Σw² (the constant 0 when both factors are
// 0). The gradient of |w| at 0 is 0.
func (r L1L2) Penalty(w *graph.Node) *graph.Node {
	if w == nil {
		return nil
	}
	g := w.Graph()
	if err := r.Validate(); err != nil {
		return g.Fail(namedOp("l1_l2"), []*graph.Node{w}, graph.Errorf(graph.ErrArg, "%v", err))
	}
	var p *graph.Node
	if r.L1 != 0 {
		p = nodes.Mul(g.Scalar(r.L1), nodes.Sum(nodes.Abs(w), false))
	}
	if r.L2 != 0 {
		q := nodes.Mul(g.Scalar(r.L2), nodes.Sum(nodes.Square(w), false))
		if p == nil {
			p = q
		} else {
			p = nodes.Add(p, q)
		}
	}
	if p == nil {
		p = g.Scalar(0)
	}
	return p
}

// MaxNormEpsilon is the ε of MaxNorm, Keras's backend epsilon.
const MaxNormEpsilon = 1e-7

// MaxNorm is Keras's MaxNorm constraint: the norm of w along Axes is
// capped at MaxValue, w ← w · clip(‖w‖, 0, MaxValue)/(ε + ‖w‖) with
// ε = 1e-7, the norm taken over Axes (kept as dimensions of size 1, so one
// norm per remaining index). For a Dense kernel [in, units] and the
// default axis 0 that is one norm per unit: the vector of weights coming
// into it. The zero value is Keras's MaxNorm(): MaxValue 2, axis 0.
// As in Keras, a column below the cap is scaled by ‖w‖/(ε + ‖w‖), within
// ε/‖w‖ of 1.
type MaxNorm struct {
	// MaxValue is the cap; 0 means Keras's default 2.
	MaxValue float64
	// Axes are the axes the norm is taken over (negative values count from
	// the end); nil means axis 0.
	Axes []int
}

// Validate checks that MaxValue is finite and non-negative.
func (c MaxNorm) Validate() error {
	if !(c.MaxValue >= 0) || math.IsInf(c.MaxValue, 1) {
		return fmt.Errorf("max_norm: max_value %v: want a finite value ≥ 0", c.MaxValue)
	}
	return nil
}

// Apply returns w · min(‖w‖, MaxValue)/(ε + ‖w‖), the norms over Axes.
func (c MaxNorm) Apply(w *graph.Node) *graph.Node {
	if w == nil {
		return nil
	}
	g := w.Graph()
	if err := c.Validate(); err != nil {
		return g.Fail(namedOp("max_norm"), []*graph.Node{w}, graph.Errorf(graph.ErrArg, "%v", err))
	}
	maxValue := c.MaxValue
	if maxValue == 0 {
		maxValue = 2
	}
	axes := c.Axes
	if axes == nil {
		axes = []int{0}
	}
	norms := nodes.Sqrt(nodes.Sum(nodes.Square(w), true, axes...))
	desired := nodes.Minimum(norms, g.Scalar(maxValue)) // norms ≥ 0: the lower clip is moot
	return nodes.Mul(w, nodes.Div(desired, nodes.Add(g.Scalar(MaxNormEpsilon), norms)))
}

// namedOp names a regularizer or constraint in graph errors.
type namedOp string

func (op namedOp) Name() string { return string(op) }
func (op namedOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, graph.Errorf(graph.ErrArg, "%s is not an op", string(op))
}

// modelVarNode returns the node of a model variable in ctx's graph, creating
// it (under its layer's scope) when the graph does not have it yet.
func modelVarNode(ctx *Context, v ModelVar) *graph.Node {
	g := ctx.Graph
	if n := g.Node(v.Name); n != nil {
		return n
	}
	restore := g.EnterScope(v.Layer.Name())
	defer restore()
	return ctx.Variable(v.Var)
}

// Penalties returns the sum of the penalties (Var.Regularizer) of the
// model's variables, a scalar node of ctx's graph, or nil when no variable
// has a regularizer. Whoever builds the training program adds it to the
// loss before differentiating: loss + Penalties(ctx). The variables are
// those of ctx's graph (emitted by Call), created there if absent. A build
// error is recorded on the graph and returned as its poisoned node.
func (m *Sequential) Penalties(ctx *Context) *graph.Node {
	if ctx == nil || ctx.Graph == nil {
		return nil
	}
	g := ctx.Graph
	vs, err := m.Variables()
	if err != nil {
		return g.Fail(modelOp{m.name}, nil, err)
	}
	var total *graph.Node
	for _, v := range vs {
		if v.Var.Regularizer == nil {
			continue
		}
		w := modelVarNode(ctx, v)
		restore := g.EnterScope(v.Layer.Name())
		p := v.Var.Regularizer.Penalty(w)
		restore()
		if p == nil {
			return g.Fail(modelOp{m.name}, []*graph.Node{w}, graph.Errorf(graph.ErrArg, "layers: regularizer of %q returned no node", v.Name))
		}
		if p.Shape().Rank() != 0 {
			return g.Fail(modelOp{m.name}, []*graph.Node{p}, graph.Errorf(graph.ErrShape, "layers: the penalty on %q has shape %v, want a scalar", v.Name, p.Shape()))
		}
		if total == nil {
			total = p
		} else {
			total = nodes.Add(total, p)
		}
	}
	return total
}

// constraints maps the store names of constrained variables to their
// variables.
func (m *Sequential) constraints() (map[string]ModelVar, error) {
	vs, err := m.Variables()
	if err != nil {
		return nil, err
	}
	out := map[string]ModelVar{}
	for _, v := range vs {
		if v.Var.Constraint != nil {
			out[v.Name] = v
		}
	}
	return out, nil
}

// Constrain returns the optimizer's updates with every assignment to a
// constrained variable (Var.Constraint) replaced by the assignment of the
// projected value: Assign(w, value) becomes Assign(w, Constraint.Apply(value)),
// Keras's "applied after the optimizer update". Other updates are returned
// as they are, in the same order; fetch the result instead of updates (the
// replaced assignments are left unused in the graph and pruned). With no
// constrained variable it returns updates itself. A build error is
// recorded on the graph.
func (m *Sequential) Constrain(ctx *Context, updates []*graph.Node) []*graph.Node {
	if ctx == nil || ctx.Graph == nil {
		return updates
	}
	g := ctx.Graph
	cs, err := m.constraints()
	if err != nil {
		g.Fail(modelOp{m.name}, nil, err)
		return updates
	}
	if len(cs) == 0 {
		return updates
	}
	out := make([]*graph.Node, len(updates))
	for i, u := range updates {
		out[i] = u
		if u.IsPoisoned() || !nodes.IsAssign(u.Op()) {
			continue
		}
		w := u.Input(0)
		v, ok := cs[w.Name()]
		if !ok {
			continue
		}
		restore := g.EnterScope(v.Layer.Name())
		out[i] = nodes.Assign(w, v.Var.Constraint.Apply(u.Input(1)))
		restore()
	}
	return out
}

// ConstraintUpdates returns, for every constrained variable, the
// assignment of its projection, Assign(w, Constraint.Apply(w)), in ctx's
// graph (variables created there if absent). Compiled as a program of its
// own and run after each training step (or once, to project loaded or
// initial weights), it applies the constraints without touching the
// training program; within the training program use Constrain instead. A
// build error is recorded on the graph.
func (m *Sequential) ConstraintUpdates(ctx *Context) []*graph.Node {
	if ctx == nil || ctx.Graph == nil {
		return nil
	}
	g := ctx.Graph
	vs, err := m.Variables()
	if err != nil {
		g.Fail(modelOp{m.name}, nil, err)
		return nil
	}
	var out []*graph.Node
	for _, v := range vs {
		if v.Var.Constraint == nil {
			continue
		}
		w := modelVarNode(ctx, v)
		restore := g.EnterScope(v.Layer.Name())
		out = append(out, nodes.Assign(w, v.Var.Constraint.Apply(w)))
		restore()
	}
	return out
}
