package autodiff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// Options tunes Grad.
type Options struct {
	// Seed is the upstream gradient of the output, shaped like it. It is
	// required when the output is not a scalar; nil means 1 for a scalar.
	Seed *graph.Node
	// AllowUnused gives zeros for a wrt node the output does not depend on,
	// instead of an error.
	AllowUnused bool
}

// Grad returns ∂loss/∂w for each w of wrt, as nodes added to loss's graph
// under the name scope "gradients". loss must be a scalar. It returns the
// graph's first error if building the forward or the backward graph failed;
// an argument Grad refuses is recorded on loss's graph first, like any
// builder error (see GradWith).
func Grad(loss *graph.Node, wrt ...*graph.Node) ([]*graph.Node, error) {
	return GradWith(loss, wrt, Options{})
}

// GradWith is Grad with options: an explicit upstream seed for a non-scalar
// output, and zeros for unused wrt nodes.
//
// Its errors are sticky like the rest of the graph: whatever GradWith
// refuses is recorded on the output's graph (even a wrt or seed node of
// another graph) as an *graph.OpError of op "grad" whose node is named
// after the output ("loss/grad"), so that y.Graph().Err() returns the first
// error and later builder calls are no-ops, and GradWith returns that
// error. The errors match graph's sentinels with errors.Is: ErrNil and
// ErrForeign for a nil node or one of another graph, ErrShape for a
// non-scalar output without a seed or a seed of the wrong shape,
// ErrGradient for a wrt node the output does not depend on, or depends on
// only through ops without a gradient. A gradient rule that fails is
// recorded as an error of the rule's op: a builder error inside it as that
// builder reported it, a panic, a wrong number of gradients or a gradient
// of the wrong shape with kind ErrGradient. The only
// error that is not recorded is a nil output, which has no graph to record
// it on. If the graph already has an error, GradWith returns it and does
// nothing.
func GradWith(y *graph.Node, wrt []*graph.Node, opts Options) ([]*graph.Node, error) {
	if y == nil {
		return nil, graph.Errorf(graph.ErrNil, "autodiff: nil output")
	}
	g := y.Graph()
	if err := g.Err(); err != nil {
		return nil, err
	}
	if y.IsPoisoned() { // a poisoned node's graph has an error: defensive
		return nil, refuse(y, nil, graph.ErrArg, "the output is the result of a failed builder call")
	}
	for i, w := range wrt {
		switch {
		case w == nil:
			return nil, refuse(y, []*graph.Node{nil}, graph.ErrNil, "wrt %d is nil", i)
		case w.Graph() != g:
			return nil, refuse(y, []*graph.Node{w}, graph.ErrForeign, "wrt %d (%q) belongs to another graph", i, w.Name())
		case w.IsPoisoned():
			return nil, refuse(y, []*graph.Node{w}, graph.ErrArg, "wrt %d is the result of a failed builder call", i)
		}
	}
	seed := opts.Seed
	if seed != nil {
		if seed.Graph() != g {
			return nil, refuse(y, []*graph.Node{seed}, graph.ErrForeign, "the seed %q belongs to another graph", seed.Name())
		}
		if !seed.Shape().Equal(y.Shape()) {
			return nil, refuse(y, []*graph.Node{seed}, graph.ErrShape, "the seed has shape %v, the output %q has %v", seed.Shape(), y.Name(), y.Shape())
		}
	} else if y.Shape().IsOpen() || y.Shape().Size() != 1 {
		return nil, refuse(y, nil, graph.ErrShape, "the output %q has shape %v: Grad needs a scalar (reduce it, or pass Options.Seed)", y.Name(), y.Shape())
	}

	// the nodes between wrt and y: ancestors of y that depend on some w
	nodesList := g.Nodes()[:y.ID()+1]
	anc := make([]bool, y.ID()+1)
	anc[y.ID()] = true
	for i := y.ID(); i >= 0; i-- {
		if anc[i] {
			for _, in := range nodesList[i].Inputs() {
				anc[in.ID()] = true
			}
		}
	}
	dep := make([]bool, y.ID()+1)
	for _, w := range wrt {
		if w.ID() <= y.ID() {
			dep[w.ID()] = true
		}
	}
	for _, n := range nodesList {
		for _, in := range n.Inputs() {
			if dep[in.ID()] {
				dep[n.ID()] = true
			}
		}
	}

	restore := g.EnterScope(g.UniqueNameAt("", "gradients"))
	defer restore()
	base := g.Scope()

	grads := map[int]*graph.Node{}
	var blocked []string // non-differentiable nodes on a path to a wrt
	if seed == nil {
		seed = nodes.OnesLike(y)
	}
	grads[y.ID()] = seed
	for i := y.ID(); i >= 0; i-- {
		n := nodesList[i]
		gy, ok := grads[i]
		if !ok || !anc[i] || !dep[i] || len(n.Inputs()) == 0 {
			continue
		}
		d, ok := n.Op().(graph.Differentiable)
		if !ok {
			why := "it has no gradient rule"
			if nd, ok := n.Op().(graph.NonDifferentiable); ok {
				why = nd.NoGradient()
			}
			blocked = append(blocked, fmt.Sprintf("%s %q (%s)", n.Op().Name(), n.Name(), why))
			continue
		}
		g.EnterScope(joinScope(base, n.Scope()))
		gin, err := vjp(d, n, gy)
		if err != nil {
			return nil, ruleFailed(n, err)
		}
		if err := g.Err(); err != nil {
			return nil, err
		}
		if len(gin) != len(n.Inputs()) {
			return nil, ruleFailed(n, fmt.Errorf("gradient rule of %s %q gave %d gradients for %d inputs", n.Op().Name(), n.Name(), len(gin), len(n.Inputs())))
		}
		for j, gx := range gin {
			in := n.Input(j)
			if gx == nil || !dep[in.ID()] {
				if gx == nil && dep[in.ID()] {
					blocked = append(blocked, fmt.Sprintf("%s %q (input %d gets no gradient)", n.Op().Name(), n.Name(), j))
				}
				continue
			}
			if !gx.Shape().Equal(in.Shape()) {
				return nil, ruleFailed(n, fmt.Errorf("gradient rule of %s %q gave shape %v for input %q of shape %v", n.Op().Name(), n.Name(), gx.Shape(), in.Name(), in.Shape()))
			}
			if prev, ok := grads[in.ID()]; ok {
				grads[in.ID()] = nodes.Add(prev, gx)
			} else {
				grads[in.ID()] = gx
			}
		}
		if err := g.Err(); err != nil {
			return nil, err
		}
	}
	g.EnterScope(base)

	out := make([]*graph.Node, len(wrt))
	for i, w := range wrt {
		if gw, ok := grads[w.ID()]; ok {
			out[i] = gw
			continue
		}
		if opts.AllowUnused {
			// a constant where the shape is known, so that running the
			// gradient needs no value of w (no feed, no stored variable)
			if w.Shape().IsOpen() {
				out[i] = nodes.ZerosLike(w)
			} else {
				out[i] = g.Constant(w.Shape(), 0)
			}
			continue
		}
		if w.ID() <= y.ID() && anc[w.ID()] {
			return nil, refuse(y, []*graph.Node{w}, graph.ErrGradient, "%q depends on %q only through ops without a gradient: %s", y.Name(), w.Name(), strings.Join(uniq(blocked), "; "))
		}
		return nil, refuse(y, []*graph.Node{w}, graph.ErrGradient, "%q does not depend on %q (set Options.AllowUnused for a zero gradient)", y.Name(), w.Name())
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// gradOp is the op named by the errors GradWith records for the arguments
// it refuses; it never becomes a node.
type gradOp struct{}

func (gradOp) Name() string { return "grad" }

func (gradOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, graph.Errorf(graph.ErrArg, "grad is not an op of the graph")
}

// refuse records an argument GradWith refuses on y's graph, as an
// *graph.OpError of op "grad" and node "<y's name>/grad" whose inputs are y
// and the nodes at fault (the wrt or the seed), and returns the graph's
// error (the recorded one, unless the graph had an error already).
func refuse(y *graph.Node, fault []*graph.Node, kind error, format string, args ...any) error {
	g := y.Graph()
	restore := g.EnterScope(y.Name())
	g.Fail(gradOp{}, append([]*graph.Node{y}, fault...), graph.Errorf(kind, format, args...))
	restore()
	return g.Err()
}

// vjp calls a gradient rule, turning a panic inside it (a library bug) into
// an error.
func vjp(d graph.Differentiable, n, gy *graph.Node) (gin []*graph.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gradient rule of %s %q failed: %v", n.Op().Name(), n.Name(), r)
		}
	}()
	return d.VJP(n, gy), nil
}

// ruleFailed records a broken gradient rule (a library bug: a panic, a
// wrong number of gradients, a gradient of the wrong shape) as the graph's
// error, of kind graph.ErrGradient, and returns the graph's error: like any
// error met while building nodes, it is sticky.
func ruleFailed(n *graph.Node, err error) error {
	g := n.Graph()
	g.Fail(n.Op(), n.Inputs(), graph.Errorf(graph.ErrGradient, "%v", err))
	return g.Err()
}

func joinScope(base, s string) string {
	if s == "" {
		return base
	}
	return base + "/" + s
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
