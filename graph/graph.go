package graph

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Graph holds the nodes of one computation, in the order they were made
// (which is a topological order), and the first error met while building it.
// All values of a graph share one element type.
//
// A Graph is built by one goroutine; once built (and compiled) it may be read
// by many.
type Graph struct {
	dtype  DType
	nodes  []*Node
	names  map[string]*Node
	scopes []string
	used   map[string]int  // next suffix to try, per base name, for UniqueName
	taken  map[string]bool // names handed out by UniqueName, and scopes in use
	suffix map[string]int  // next suffix to try, per full name, in add
	err    error
	poison *Node
}

// New returns an empty graph whose values have element type dtype. A dtype
// other than Float32 or Float64 is recorded as the graph's error.
func New(dtype DType) *Graph {
	g := &Graph{dtype: dtype, names: map[string]*Node{}, used: map[string]int{}, taken: map[string]bool{}, suffix: map[string]int{}}
	g.poison = &Node{g: g, id: -1, name: "<error>", op: poisonOp{}}
	if !dtype.Valid() {
		g.err = &OpError{Op: "new", DType: dtype, Msg: fmt.Sprintf("unsupported dtype %v: use graph.Float32 or graph.Float64", dtype), Kind: ErrDType, Caller: caller()}
	}
	return g
}

// DType is the element type of the graph's values.
func (g *Graph) DType() DType { return g.dtype }

// Err returns the first error recorded while building the graph, or nil.
func (g *Graph) Err() error { return g.err }

// Nodes returns the graph's nodes in creation order, which is topological:
// every node comes after its inputs. The slice must not be modified.
func (g *Graph) Nodes() []*Node { return g.nodes }

// Len is the number of nodes.
func (g *Graph) Len() int { return len(g.nodes) }

// Node returns the node with the given full name, or nil.
func (g *Graph) Node(name string) *Node { return g.names[name] }

// Inputs returns the input nodes in creation order.
func (g *Graph) Inputs() []*Node {
	return g.filter(func(n *Node) bool { _, ok := n.op.(InputOp); return ok })
}

// Variables returns the variable nodes in creation order.
func (g *Graph) Variables() []*Node {
	return g.filter(func(n *Node) bool { _, ok := n.op.(VariableOp); return ok })
}

func (g *Graph) filter(keep func(*Node) bool) []*Node {
	var out []*Node
	for _, n := range g.nodes {
		if keep(n) {
			out = append(out, n)
		}
	}
	return out
}

// PushScope opens a name scope: nodes made until the matching PopScope are
// named "scope/..." (nested scopes join with "/"). It returns the full scope.
func (g *Graph) PushScope(name string) string {
	g.scopes = append(g.scopes, name)
	full := g.Scope()
	g.markScope(full)
	return full
}

// markScope records path and its parents as scopes in use, so that
// UniqueName does not hand them out again.
func (g *Graph) markScope(path string) {
	for path != "" && !g.taken[path] {
		g.taken[path] = true
		i := strings.LastIndexByte(path, '/')
		if i < 0 {
			break
		}
		path = path[:i]
	}
}

// PopScope closes the innermost scope; it does nothing when none is open.
func (g *Graph) PopScope() {
	if len(g.scopes) > 0 {
		g.scopes = g.scopes[:len(g.scopes)-1]
	}
}

// WithScope runs build with the name scope name open.
func (g *Graph) WithScope(name string, build func()) {
	g.PushScope(name)
	defer g.PopScope()
	build()
}

// Scope returns the current full scope ("" at the top level). Empty scope
// names add nothing to it.
func (g *Graph) Scope() string {
	var b strings.Builder
	for _, s := range g.scopes {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s)
	}
	return b.String()
}

// UniqueName returns base, or base_1, base_2, ... the first not yet used as a
// name or scope at the current scope level. Layers use it to get Keras-style
// names: dense, dense_1, ...
func (g *Graph) UniqueName(base string) string {
	prefix := g.qualify("")
	for k := g.used[prefix+base]; ; k++ {
		name := base
		if k > 0 {
			name = base + "_" + strconv.Itoa(k)
		}
		if g.taken[prefix+name] || g.names[prefix+name] != nil {
			continue
		}
		g.taken[prefix+name] = true
		g.used[prefix+base] = k + 1
		return name
	}
}

// Input adds a value fed at run time. Its leading dimension may be Batch.
func (g *Graph) Input(name string, shape Shape) *Node {
	op := InputOp{Shape: shape.Clone()}
	if err := g.checkLeaf("input", name, shape, true); err != nil {
		return g.fail(op, name, nil, err)
	}
	return g.add(op, name, shape.Clone(), nil)
}

// VarOption sets an attribute of a variable.
type VarOption func(*VariableOp)

// NonTrainable marks a variable as state rather than a parameter (a BN moving
// mean, an optimizer slot): optimizers leave it alone.
func NonTrainable() VarOption { return func(v *VariableOp) { v.Trainable = false } }

// WithInit sets the variable's initializer (see package initializers).
func WithInit(init Initializer) VarOption { return func(v *VariableOp) { v.Init = init } }

// Variable adds a value that lives in a variable store under the node's full
// name (scope included). Variables are trainable unless NonTrainable is given.
func (g *Graph) Variable(name string, shape Shape, opts ...VarOption) *Node {
	op := VariableOp{Shape: shape.Clone(), Trainable: true}
	for _, o := range opts {
		if o != nil {
			o(&op)
		}
	}
	if err := g.checkLeaf("variable", name, shape, false); err != nil {
		return g.fail(op, name, nil, err)
	}
	return g.add(op, name, shape.Clone(), nil)
}

// Constant adds a constant of the given shape. data holds one value (filled
// over the shape) or shape.Size() values, row-major.
func (g *Graph) Constant(shape Shape, data ...float64) *Node {
	op := ConstantOp{Shape: shape.Clone(), Data: append([]float64(nil), data...)}
	if err := g.checkLeaf("constant", "constant", shape, false); err != nil {
		return g.fail(op, "", nil, err)
	}
	if n := shape.Size(); len(data) != 1 && len(data) != n {
		return g.fail(op, "", nil, Errorf(ErrArg, "%d values for shape %v: want 1 or %d", len(data), shape, n))
	}
	return g.add(op, "", shape.Clone(), nil)
}

// Scalar adds a scalar constant.
func (g *Graph) Scalar(v float64) *Node { return g.Constant(Shape{}, v) }

func (g *Graph) checkLeaf(kind, name string, shape Shape, openOK bool) error {
	if name == "" {
		return Errorf(ErrArg, "%s needs a name", kind)
	}
	if strings.ContainsAny(name, "/\"\n") && kind != "constant" {
		return Errorf(ErrArg, "name %q may not contain '/', '\"' or a newline", name)
	}
	for i, d := range shape {
		switch {
		case d == Batch && openOK && i == 0:
		case d == Batch && openOK:
			return Errorf(ErrShape, "shape %v: only dimension 0 may be open (graph.Batch)", shape)
		case d == Batch:
			return Errorf(ErrShape, "shape %v: a %s may not have an open dimension", shape, kind)
		case d < 0:
			return Errorf(ErrShape, "shape %v: negative dimension %d", shape, d)
		}
	}
	return nil
}

// AddNode is how op builders (package nodes) add a node: it checks the
// inputs (none nil, all of this graph), runs the op's shape rule and records
// the first error. name may be empty, in which case the op's name is used;
// the node's full name is made unique within the current scope. After an
// error it returns a poisoned node and records nothing more.
func (g *Graph) AddNode(op Op, name string, inputs ...*Node) *Node {
	if g.err != nil {
		return g.poison
	}
	if op == nil {
		return g.fail(nil, name, inputs, Errorf(ErrArg, "nil op"))
	}
	for i, in := range inputs {
		if in == nil {
			return g.fail(op, name, inputs, Errorf(ErrNil, "input %d is nil", i))
		}
		if in.g != g {
			return g.fail(op, name, inputs, Errorf(ErrForeign, "input %d (%q) belongs to another graph", i, in.name))
		}
	}
	shapes := make([]Shape, len(inputs))
	for i, in := range inputs {
		shapes[i] = in.shape
	}
	out, err := safeInfer(op, shapes)
	if err != nil {
		return g.fail(op, name, inputs, err)
	}
	for _, d := range out {
		if d < Batch {
			return g.fail(op, name, inputs, Errorf(ErrShape, "shape rule gave a negative dimension: %v", out))
		}
	}
	return g.add(op, name, out.Clone(), inputs)
}

// safeInfer runs a shape rule, turning a panic in it (a library bug) into an
// error so that nothing a user passes can crash the program.
func safeInfer(op Op, shapes []Shape) (s Shape, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Errorf(ErrShape, "shape rule failed: %v", r)
		}
	}()
	return op.InferShape(shapes)
}

// Fail records err as the graph's error (if it has none yet) on behalf of a
// builder of op with the given inputs, and returns the poisoned node.
// Builders use it for argument errors found before AddNode.
func (g *Graph) Fail(op Op, inputs []*Node, err error) *Node { return g.fail(op, "", inputs, err) }

func (g *Graph) fail(op Op, name string, inputs []*Node, err error) *Node {
	if g.err != nil {
		return g.poison
	}
	opName := "?"
	if op != nil {
		opName = op.Name()
	}
	if name == "" {
		name = opName
	}
	if err == nil {
		err = Errorf(ErrArg, "unspecified error")
	}
	oe := &OpError{Op: opName, Node: g.qualify(name), DType: g.dtype, Msg: err.Error(), Kind: ErrArg, Caller: caller()}
	var ke *kindError
	if errors.As(err, &ke) {
		oe.Kind = ke.kind
	} else {
		for _, k := range []error{ErrShape, ErrArg, ErrNil, ErrForeign, ErrDType, ErrGradient} {
			if errors.Is(err, k) {
				oe.Kind = k
				break
			}
		}
	}
	for _, in := range inputs {
		if in == nil {
			oe.Inputs = append(oe.Inputs, nil)
		} else {
			oe.Inputs = append(oe.Inputs, in.shape)
		}
	}
	g.err = oe
	return g.poison
}

// caller finds the first frame outside tapegrad's own packages.
func caller() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.Contains(f.Function, "tapegrad/tapegrad/") || strings.HasSuffix(f.File, "_test.go") {
			if f.File != "" {
				return filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
			}
		}
		if !more {
			return ""
		}
	}
}

func (g *Graph) qualify(name string) string {
	scope := g.Scope()
	if scope == "" {
		return name
	}
	return scope + "/" + name
}

func (g *Graph) add(op Op, name string, shape Shape, inputs []*Node) *Node {
	if g.err != nil {
		return g.poison
	}
	if name == "" {
		name = op.Name()
	}
	full := g.qualify(name)
	if _, taken := g.names[full]; taken {
		switch op.(type) {
		case InputOp, VariableOp:
			return g.fail(op, name, inputs, Errorf(ErrArg, "name %q is already used", full))
		}
		base := full
		for k := max(g.suffix[base], 1); ; k++ {
			full = base + "_" + strconv.Itoa(k)
			if _, taken := g.names[full]; !taken {
				g.suffix[base] = k + 1
				break
			}
		}
	}
	scope := g.Scope()
	g.markScope(scope)
	n := &Node{g: g, id: len(g.nodes), name: full, scope: scope, op: op, inputs: append([]*Node(nil), inputs...), shape: shape}
	g.nodes = append(g.nodes, n)
	g.names[full] = n
	return n
}

// Node is one value of a graph: the output of an op applied to input nodes.
type Node struct {
	g      *Graph
	id     int
	name   string
	scope  string
	op     Op
	inputs []*Node
	shape  Shape
}

// ID is the node's index in its graph (creation order); -1 for the poisoned
// node returned after an error.
func (n *Node) ID() int {
	if n == nil {
		return -1
	}
	return n.id
}

// Name is the node's full name, scope included: "dense_1/matmul".
func (n *Node) Name() string {
	if n == nil {
		return ""
	}
	return n.name
}

// Scope is the name scope the node was made in ("" at the top level).
func (n *Node) Scope() string {
	if n == nil {
		return ""
	}
	return n.scope
}

// Op is the node's op.
func (n *Node) Op() Op {
	if n == nil {
		return nil
	}
	return n.op
}

// Inputs are the node's inputs. The slice must not be modified.
func (n *Node) Inputs() []*Node {
	if n == nil {
		return nil
	}
	return n.inputs
}

// Input returns input i, or nil when there is none.
func (n *Node) Input(i int) *Node {
	if n == nil || i < 0 || i >= len(n.inputs) {
		return nil
	}
	return n.inputs[i]
}

// Shape is the node's output shape; it may contain the open Batch dimension.
// The slice must not be modified.
func (n *Node) Shape() Shape {
	if n == nil {
		return nil
	}
	return n.shape
}

// DType is the element type (the graph's).
func (n *Node) DType() DType {
	if n == nil || n.g == nil {
		return 0
	}
	return n.g.dtype
}

// Graph is the graph the node belongs to.
func (n *Node) Graph() *Graph {
	if n == nil {
		return nil
	}
	return n.g
}

// IsPoisoned reports whether n stands for a failed builder call.
func (n *Node) IsPoisoned() bool { return n == nil || n.id < 0 }

// String formats the node as `dense/matmul = matmul(x, dense/kernel) : f32[B,300]`.
func (n *Node) String() string {
	if n == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString(n.name)
	b.WriteString(" = ")
	b.WriteString(OpString(n.op))
	b.WriteByte('(')
	for i, in := range n.inputs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(in.name)
	}
	b.WriteString(") : ")
	b.WriteString(n.DType().String())
	b.WriteString(n.shape.String())
	return b.String()
}

// OpString is the op's name followed by its attributes in brackets, if any.
func OpString(op Op) string {
	if op == nil {
		return "<nil>"
	}
	if a, ok := op.(Attributer); ok {
		if s := a.Attrs(); s != "" {
			return op.Name() + "[" + s + "]"
		}
	}
	return op.Name()
}

type poisonOp struct{}

func (poisonOp) Name() string                      { return "error" }
func (poisonOp) InferShape([]Shape) (Shape, error) { return nil, errors.New("poisoned") }
func (poisonOp) NoGradient() string                { return "the graph has an error" }

// EnterScope replaces the open scopes with the full scope path ("a/b", or ""
// for the top level) and returns a function that restores the previous ones.
// autodiff uses it to put gradient nodes under "gradients/<forward scope>".
func (g *Graph) EnterScope(path string) (restore func()) {
	saved := g.scopes
	g.scopes = nil
	if path != "" {
		g.scopes = strings.Split(path, "/")
	}
	return func() { g.scopes = saved }
}

// UniqueNameAt is UniqueName at the given scope path instead of the current
// one.
func (g *Graph) UniqueNameAt(path, base string) string {
	restore := g.EnterScope(path)
	defer restore()
	return g.UniqueName(base)
}
