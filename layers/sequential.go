package layers

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
)

// Sequential is a plain stack of layers, each feeding the next. It knows its
// architecture (layers, shapes, variables) and emits it into graphs; it
// never runs anything (package train compiles and fits it).
type Sequential struct {
	name   string
	layers []Layer
	seed   uint64
	input  graph.Shape   // [Batch, ...]
	shapes []graph.Shape // output shape of each layer
	built  bool
	err    error
}

// NewSequential returns a model made of layers, in order. The first layer
// is usually Input(...), which fixes the input shape; without it the input
// shape is set by SetInputShape. Configuration errors are kept and returned
// by Err, Build and everything that needs the model built.
func NewSequential(layers ...Layer) *Sequential {
	m := &Sequential{name: "sequential"}
	for _, l := range layers {
		m.Add(l)
	}
	return m
}

// Add appends a layer. A nil layer is an error.
func (m *Sequential) Add(l Layer) {
	if l == nil {
		m.setErr(fmt.Errorf("layers: %s: layer %d is nil", m.name, len(m.layers)))
		return
	}
	if in, ok := l.(*InputLayer); ok {
		if len(m.layers) > 0 || m.input != nil {
			m.setErr(fmt.Errorf("layers: %s: Input must be the first layer", m.name))
			return
		}
		shape, err := in.Build(nil)
		if err != nil {
			m.setErr(fmt.Errorf("layers: %s: %w", m.name, err))
			return
		}
		m.input = shape
		return
	}
	m.layers = append(m.layers, l)
	m.built = false
}

// SetName sets the model's name (default "sequential"). Like a layer's
// name, it may not be empty nor contain '/', '"' or a newline; a bad name is
// a configuration error (Err) and leaves the name as it was.
func (m *Sequential) SetName(name string) {
	if name == "" || strings.ContainsAny(name, "/\"\n") {
		m.setErr(fmt.Errorf("layers: %s: model name %q may not be empty nor contain '/', '\"' or a newline", m.name, name))
		return
	}
	m.name = name
}

// Name returns the model's name.
func (m *Sequential) Name() string { return m.name }

// Seed sets the model seed: the variables' initial values and the random
// streams of RReLU and Dropout derive from it and the names.
func (m *Sequential) Seed(seed uint64) { m.seed = seed }

// RandomSeed returns the model seed.
func (m *Sequential) RandomSeed() uint64 { return m.seed }

// SetInputShape sets the input shape, without the batch dimension, for a
// model that does not start with Input: once, before or after the layers
// are added. Dimensions must be positive.
func (m *Sequential) SetInputShape(shape ...int) {
	if m.input != nil {
		m.setErr(fmt.Errorf("layers: %s: SetInputShape%v: the model already has the input shape %v", m.name, shape, kerasShape(m.input)))
		return
	}
	in := Input(shape...)
	s, err := in.Build(nil)
	if err != nil {
		m.setErr(fmt.Errorf("layers: %s: %w", m.name, err))
		return
	}
	m.input = s
	m.built = false
}

// Layers returns the model's layers (Input excluded).
func (m *Sequential) Layers() []Layer { return m.layers }

// Err returns the first configuration error.
func (m *Sequential) Err() error { return m.err }

func (m *Sequential) setErr(err error) {
	if m.err == nil {
		m.err = err
	}
}

// Build names the layers Keras-style (dense, dense_1, ...; an explicit name
// is kept but must be unique), propagates the input shape through them and
// declares their variables. It is idempotent; the other methods call it.
func (m *Sequential) Build() error {
	if m.err != nil {
		return m.err
	}
	if m.built {
		return nil
	}
	if m.input == nil {
		m.err = fmt.Errorf("layers: %s: no input shape: start the model with layers.Input(...) or call SetInputShape", m.name)
		return m.err
	}
	if len(m.layers) == 0 {
		m.err = fmt.Errorf("layers: %s: no layers", m.name)
		return m.err
	}
	used := map[string]bool{}
	for _, l := range m.layers {
		if l.Name() != "" {
			if used[l.Name()] {
				m.err = fmt.Errorf("layers: %s: two layers are named %q", m.name, l.Name())
				return m.err
			}
			if strings.ContainsAny(l.Name(), "/\"\n") {
				m.err = fmt.Errorf("layers: %s: layer name %q may not contain '/', '\"' or a newline", m.name, l.Name())
				return m.err
			}
			used[l.Name()] = true
		}
	}
	counts := map[string]int{}
	for _, l := range m.layers {
		if l.Name() != "" {
			continue
		}
		base := snakeCase(l.Class())
		for {
			k := counts[base]
			counts[base]++
			name := base
			if k > 0 {
				name += "_" + strconv.Itoa(k)
			}
			if !used[name] {
				used[name] = true
				l.SetName(name)
				break
			}
		}
	}
	shape := m.input
	m.shapes = m.shapes[:0]
	for _, l := range m.layers {
		out, err := l.Build(shape.Clone())
		if err != nil {
			m.err = fmt.Errorf("layers: %s (%s): %w", l.Name(), l.Class(), err)
			return m.err
		}
		m.shapes = append(m.shapes, out)
		shape = out
	}
	m.built = true
	return nil
}

// InputShape returns the input shape with the open batch dimension.
func (m *Sequential) InputShape() graph.Shape { return m.input.Clone() }

// OutputShape returns the output shape, building the model if needed (nil
// on error).
func (m *Sequential) OutputShape() graph.Shape {
	if m.Build() != nil {
		return nil
	}
	return m.shapes[len(m.shapes)-1].Clone()
}

// Call emits the model into ctx's graph on input x, each layer under its
// name scope, and returns the output node. A build error is recorded on the
// graph.
func (m *Sequential) Call(ctx *Context, x *graph.Node) *graph.Node {
	if ctx == nil || ctx.Graph == nil {
		return nil
	}
	if err := m.Build(); err != nil {
		return ctx.Graph.Fail(modelOp{m.name}, []*graph.Node{x}, err)
	}
	y, _ := m.callEach(ctx, x)
	return y
}

// CallEach is Call that also returns each layer's output node, in order
// (diagnostics read the activations layer by layer).
func (m *Sequential) CallEach(ctx *Context, x *graph.Node) (*graph.Node, []*graph.Node) {
	if ctx == nil || ctx.Graph == nil {
		return nil, nil
	}
	if err := m.Build(); err != nil {
		return ctx.Graph.Fail(modelOp{m.name}, []*graph.Node{x}, err), nil
	}
	return m.callEach(ctx, x)
}

func (m *Sequential) callEach(ctx *Context, x *graph.Node) (*graph.Node, []*graph.Node) {
	y := x
	outs := make([]*graph.Node, 0, len(m.layers))
	for _, l := range m.layers {
		ctx.Graph.WithScope(l.Name(), func() { y = l.Call(ctx, y) })
		outs = append(outs, y)
	}
	return y, outs
}

// Emitted is a model emitted into a graph: the input node "x", the output,
// and the state updates (Assign nodes) that a training program must run.
type Emitted struct {
	Graph   *graph.Graph
	Input   *graph.Node
	Output  *graph.Node
	Updates []*graph.Node
	// Penalty is the sum of the variables' regularization penalties
	// (Penalties), emitted in Training mode only; nil when there is none.
	// Add it to the loss.
	Penalty *graph.Node
	// Context is the context the model was emitted with, for Penalties,
	// Constrain and ConstraintUpdates on the same graph.
	Context *Context
}

// EmitOptions are the settings of EmitWith besides the dtype.
type EmitOptions struct {
	Mode Mode
	// MCDropout keeps Dropout and AlphaDropout dropping in Inference mode
	// (Context.MCDropout); Updates then holds the step counter's advance,
	// which each run must execute to draw new masks.
	MCDropout bool
}

// Emit emits the model into a new graph of dtype for mode, with an input
// node "x" of the model's input shape.
func (m *Sequential) Emit(dtype graph.DType, mode Mode) (*Emitted, error) {
	return m.EmitWith(dtype, EmitOptions{Mode: mode})
}

// EmitWith is Emit with options: Monte Carlo dropout at inference.
func (m *Sequential) EmitWith(dtype graph.DType, opts EmitOptions) (*Emitted, error) {
	if err := m.Build(); err != nil {
		return nil, err
	}
	if opts.Mode != Inference && opts.Mode != Training {
		return nil, fmt.Errorf("layers: %s: unknown mode %d: want layers.Inference or layers.Training", m.name, opts.Mode)
	}
	g := graph.New(dtype)
	x := g.Input("x", m.input)
	ctx := &Context{Graph: g, Mode: opts.Mode, Seed: m.seed, MCDropout: opts.MCDropout}
	y := m.Call(ctx, x)
	var penalty *graph.Node
	if ctx.Training() {
		penalty = m.Penalties(ctx)
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	return &Emitted{Graph: g, Input: x, Output: y, Updates: ctx.Updates, Penalty: penalty, Context: ctx}, nil
}

// ModelVar is a variable of a model with the layer that owns it.
type ModelVar struct {
	Layer Layer
	Var   *Var
	// Name is the store name: "<layer>/<var>".
	Name string
}

// Variables lists every variable of the model, layer by layer.
func (m *Sequential) Variables() ([]ModelVar, error) {
	if err := m.Build(); err != nil {
		return nil, err
	}
	var vs []ModelVar
	for _, l := range m.layers {
		for _, v := range l.Variables() {
			vs = append(vs, ModelVar{Layer: l, Var: v, Name: l.Name() + "/" + v.Name})
		}
	}
	return vs, nil
}

// Params returns the number of trainable and non-trainable parameters.
func (m *Sequential) Params() (trainable, nonTrainable int, err error) {
	vs, err := m.Variables()
	if err != nil {
		return 0, 0, err
	}
	for _, v := range vs {
		if v.Var.Trainable {
			trainable += v.Var.Size()
		} else {
			nonTrainable += v.Var.Size()
		}
	}
	return trainable, nonTrainable, nil
}

// Summary returns a Keras-style table of the layers, their output shapes and
// parameter counts, with the trainable and non-trainable totals. A model
// that does not build gives the error's text.
func (m *Sequential) Summary() string {
	if err := m.Build(); err != nil {
		return err.Error() + "\n"
	}
	var b strings.Builder
	// Keras's columns: 29 and 26 wide, widened for long layer names
	w1, w2 := 29, 26
	for i, l := range m.layers {
		w1 = max(w1, len(l.Name())+len(l.Class())+4)
		w2 = max(w2, len(kerasShape(m.shapes[i]))+1)
	}
	width := w1 + w2 + 10
	line := strings.Repeat("_", width)
	fmt.Fprintf(&b, "Model: %q\n%s\n", m.name, line)
	row := func(a, c, d string) {
		fmt.Fprintf(&b, "%-*s%-*s%s\n", w1, a, w2, c, d)
	}
	row("Layer (type)", "Output Shape", "Param #")
	b.WriteString(strings.Repeat("=", width) + "\n")
	for i, l := range m.layers {
		n := 0
		for _, v := range l.Variables() {
			n += v.Size()
		}
		row(l.Name()+" ("+l.Class()+")", kerasShape(m.shapes[i]), commas(n))
		if i < len(m.layers)-1 {
			b.WriteString(line + "\n")
		}
	}
	tr, nt, _ := m.Params()
	b.WriteString(strings.Repeat("=", width) + "\n")
	fmt.Fprintf(&b, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s\n", commas(tr+nt), commas(tr), commas(nt), line)
	return b.String()
}

// kerasShape prints a shape as Keras does: (None, 300).
func kerasShape(s graph.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d == graph.Batch {
			parts[i] = "None"
		} else {
			parts[i] = strconv.Itoa(d)
		}
	}
	if len(parts) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func commas(n int) string {
	s := strconv.Itoa(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

var (
	snake1 = regexp.MustCompile(`(.)([A-Z][a-z0-9]+)`)
	snake2 = regexp.MustCompile(`([a-z])([A-Z])`)
)

// snakeCase is Keras's to_snake_case: "BatchNormalization" →
// "batch_normalization", "LeakyReLU" → "leaky_re_lu".
func snakeCase(s string) string {
	s = snake1.ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(snake2.ReplaceAllString(s, "${1}_${2}"))
}

// modelOp names a model in graph errors.
type modelOp struct{ name string }

func (op modelOp) Name() string { return "model " + op.name }
func (op modelOp) InferShape([]graph.Shape) (graph.Shape, error) {
	return nil, errors.New("not an op")
}
