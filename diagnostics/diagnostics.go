package diagnostics

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// Saturation thresholds (see the package documentation).
const (
	// TanhSaturation: a tanh output a is saturated when |a| > 0.99,
	// that is |z| > atanh(0.99) ≈ 2.65, where tanh′(z) = 1 − a² < 0.02.
	TanhSaturation = 0.99
	// SigmoidSaturation: a sigmoid output a is saturated when a < 0.01 or
	// a > 0.99, that is |z| > ln(99) ≈ 4.6, where σ′(z) = a(1 − a) < 0.0099.
	SigmoidSaturation = 0.01
)

// Options tunes an inspection. The zero value inspects the model as a
// training step sees it, with the gradients of the sparse categorical
// cross-entropy of its logits.
type Options struct {
	// Loss is the loss whose gradients are reported; nil means
	// train.SparseCategoricalCrossentropy{FromLogits: true}. It is averaged
	// over the batch when it is per example; regularization penalties are
	// left out.
	Loss train.Loss
	// Inference emits the model in inference mode (BatchNormalization with
	// its moving statistics, no dropout, RReLU's mean slope) instead of
	// training mode.
	Inference bool
}

// LayerStats are the statistics of one layer's output on a batch (see the
// package documentation for the definitions).
type LayerStats struct {
	// Index is the layer's position in the model, from 0 (Input excluded).
	Index int
	// Name and Class are the layer's ("dense_3", "Dense").
	Name, Class string
	// Activation is the Keras name of the nonlinearity that produces the
	// layer's output ("relu", "tanh", "leaky_relu", "prelu", "selu"), or
	// "" when the output is linear (a Dense layer without activation,
	// BatchNormalization, Flatten, Dropout).
	Activation string
	// Units is the number of values per row of the output.
	Units int
	// Mean and Std of the output's values.
	Mean, Std float64
	// Zeros is the share of the output's values that are exactly 0.
	Zeros float64
	// DeadUnits counts the units whose value is 0 on every row.
	DeadUnits int
	// Dead is DeadUnits' share of Units.
	Dead float64
	// Saturated is the share of saturated values, for sigmoid and tanh
	// outputs only (0 for the others).
	Saturated float64
	// GradStd and GradNorm are the standard deviation and the L2 norm of
	// ∂L/∂output (0 without targets).
	GradStd, GradNorm float64
	// KernelNorm is the L2 norm of the layer's kernel and KernelGradNorm
	// that of ∂L/∂kernel (0 for layers without a kernel, and for the
	// gradient without targets).
	KernelNorm, KernelGradNorm float64
	// HasKernel says whether the layer has a "kernel" variable.
	HasKernel bool
}

// Saturable reports whether Saturated applies to the layer: whether its
// output is a sigmoid or a tanh.
func (s LayerStats) Saturable() bool { return saturable(s.Activation) }

// Report is one inspection of a model on a batch.
type Report struct {
	// Epoch is the epoch after which a Callback recorded the report
	// (counted from 0), −1 for the report before training; 0 for Inspect.
	Epoch int
	// Rows is the number of rows of the batch.
	Rows int
	// Mode is the mode the model was emitted in.
	Mode layers.Mode
	// Grads says whether the gradients were computed (targets were
	// given).
	Grads bool
	// Loss is the batch's loss with targets, NaN without.
	Loss float64
	// Layers holds one entry per layer of the model, in order.
	Layers []LayerStats
}

// Layer returns the statistics of the named layer.
func (r Report) Layer(name string) (LayerStats, bool) {
	for _, l := range r.Layers {
		if l.Name == name {
			return l, true
		}
	}
	return LayerStats{}, false
}

// Inspect inspects a model on a batch: x holds the inputs, y the targets
// (nil for the forward statistics only). The model's variables are read
// from its store, and nothing is written there except, for a model not yet
// compiled, the variables it lacks, created as Compile would create them
// (from their initializers and the model seed). The program's dtype is x's.
func Inspect(m *train.Model, x, y *tensor.Dense, opts ...Options) (Report, error) {
	if m == nil {
		return Report{}, errors.New("diagnostics: inspect: nil model")
	}
	return InspectSequential(m.Sequential(), m.Store(), x, y, opts...)
}

// InspectSequential inspects a layers.Sequential whose variables live in
// store (a new store, initialized from the model seed, when nil) on a
// batch, as Inspect does.
func InspectSequential(seq *layers.Sequential, store *vm.Store, x, y *tensor.Dense, opts ...Options) (Report, error) {
	if x == nil {
		return Report{}, errors.New("diagnostics: inspect: nil input batch")
	}
	dt, err := dtypeOf(x)
	if err != nil {
		return Report{}, err
	}
	o, err := oneOptions(opts)
	if err != nil {
		return Report{}, err
	}
	if store == nil {
		store = vm.NewStore()
	}
	in, err := NewInspector(seq, store, dt, o)
	if err != nil {
		return Report{}, err
	}
	return in.Inspect(x, y)
}

func oneOptions(opts []Options) (Options, error) {
	switch len(opts) {
	case 0:
		return Options{}, nil
	case 1:
		return opts[0], nil
	}
	return Options{}, fmt.Errorf("diagnostics: %d Options given, want at most one", len(opts))
}

// Inspector inspects one model, compiled once, on any number of batches.
// It is used by one goroutine at a time.
type Inspector struct {
	seq   *layers.Sequential
	store *vm.Store
	dtype graph.DType
	opts  Options
	loss  train.Loss
	ls    []layers.Layer
	fwd   *program // without targets, compiled on first use
	full  *program // with the loss and its gradients, compiled on first use
}

// program is one compiled inspection and where its fetches are.
type program struct {
	m       *vm.Machine
	out     []int // per layer, the fetch of its output
	loss    int   // the loss's fetch, −1 without targets
	grad    []int // per layer, the fetch of ∂L/∂output, −1 without targets
	kgrad   []int // per layer, the fetch of ∂L/∂kernel, −1 when none
	kernels []string
}

// NewInspector returns an inspector of seq, whose variables live in store,
// for programs of dtype. It checks the model and the options; the programs
// are compiled on first use.
func NewInspector(seq *layers.Sequential, store *vm.Store, dtype graph.DType, opts Options) (*Inspector, error) {
	switch {
	case seq == nil:
		return nil, errors.New("diagnostics: nil model")
	case store == nil:
		return nil, errors.New("diagnostics: nil store")
	case !dtype.Valid():
		return nil, fmt.Errorf("diagnostics: unsupported dtype %v: use graph.Float32 or graph.Float64", dtype)
	}
	if err := seq.Build(); err != nil {
		return nil, fmt.Errorf("diagnostics: %w", err)
	}
	ls := seq.Layers()
	if len(ls) == 0 {
		return nil, errors.New("diagnostics: the model has no layers")
	}
	loss := opts.Loss
	if loss == nil {
		loss = train.SparseCategoricalCrossentropy{FromLogits: true}
	}
	return &Inspector{seq: seq, store: store, dtype: dtype, opts: opts, loss: loss, ls: ls}, nil
}

// Inspect runs the inspection on a batch: x the inputs, y the targets (nil
// for the forward statistics only). The batch's dtype must be the
// inspector's.
func (in *Inspector) Inspect(x, y *tensor.Dense) (Report, error) {
	if x == nil {
		return Report{}, errors.New("diagnostics: inspect: nil input batch")
	}
	rows := 0
	if s := x.Shape(); len(s) > 0 {
		rows = s[0]
	}
	if rows < 1 {
		return Report{}, fmt.Errorf("diagnostics: inspect: an input of shape %v has no rows", x.Shape())
	}
	for _, t := range []*tensor.Dense{x, y} {
		if t == nil {
			continue
		}
		if dt, err := dtypeOf(t); err != nil {
			return Report{}, err
		} else if dt != in.dtype {
			return Report{}, fmt.Errorf("diagnostics: inspect: a %v batch for a %v inspector", dt, in.dtype)
		}
	}
	withGrads := y != nil
	p, err := in.program(withGrads)
	if err != nil {
		return Report{}, err
	}
	feeds := vm.Feeds{"x": x}
	if withGrads {
		feeds["y"] = y
	}
	res, err := p.m.Exec(feeds)
	if err != nil {
		return Report{}, fmt.Errorf("diagnostics: inspect: %w", err)
	}
	mode := layers.Training
	if in.opts.Inference {
		mode = layers.Inference
	}
	rep := Report{Rows: rows, Mode: mode, Grads: withGrads, Loss: math.NaN()}
	if withGrads {
		l, err := float64s(res.At(p.loss))
		if err != nil {
			return Report{}, err
		}
		rep.Loss = l[0]
	}
	for i, l := range in.ls {
		st := LayerStats{Index: i, Name: l.Name(), Class: l.Class(), Activation: activationOf(l)}
		out, err := float64s(res.At(p.out[i]))
		if err != nil {
			return Report{}, err
		}
		outputStats(&st, out, rows)
		if withGrads {
			g, err := float64s(res.At(p.grad[i]))
			if err != nil {
				return Report{}, err
			}
			_, st.GradStd = meanStd(g)
			st.GradNorm = norm(g)
		}
		if p.kernels[i] != "" {
			st.HasKernel = true
			k, err := in.store.Float64s(p.kernels[i])
			if err != nil {
				return Report{}, fmt.Errorf("diagnostics: %w", err)
			}
			st.KernelNorm = norm(k)
			if withGrads {
				g, err := float64s(res.At(p.kgrad[i]))
				if err != nil {
					return Report{}, err
				}
				st.KernelGradNorm = norm(g)
			}
		}
		rep.Layers = append(rep.Layers, st)
	}
	return rep, nil
}

// program returns the compiled inspection, compiling it on first use.
func (in *Inspector) program(withGrads bool) (*program, error) {
	if withGrads && in.full != nil {
		return in.full, nil
	}
	if !withGrads && in.fwd != nil {
		return in.fwd, nil
	}
	p, err := in.compile(withGrads)
	if err != nil {
		return nil, err
	}
	if withGrads {
		in.full = p
	} else {
		in.fwd = p
	}
	return p, nil
}

// compile emits the model keeping every layer's output (CallEach), adds the loss and the gradients when asked,
// creates the variables the store lacks and compiles the fetches.
func (in *Inspector) compile(withGrads bool) (*program, error) {
	g := graph.New(in.dtype)
	x := g.Input("x", in.seq.InputShape())
	mode := layers.Training
	if in.opts.Inference {
		mode = layers.Inference
	}
	ctx := &layers.Context{Graph: g, Mode: mode, Seed: in.seq.RandomSeed()}
	n := len(in.ls)
	h, outs := in.seq.CallEach(ctx, x)
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("diagnostics: %w", err)
	}

	p := &program{
		out: make([]int, n), loss: -1, grad: make([]int, n),
		kgrad: make([]int, n), kernels: make([]string, n),
	}
	var fetches []*graph.Node
	index := map[*graph.Node]int{}
	fetch := func(n *graph.Node) int {
		if i, ok := index[n]; ok {
			return i
		}
		index[n] = len(fetches)
		fetches = append(fetches, n)
		return len(fetches) - 1
	}
	var kernelNodes []*graph.Node
	for i, l := range in.ls {
		p.out[i] = fetch(outs[i])
		p.grad[i], p.kgrad[i] = -1, -1
		for _, v := range l.Variables() {
			if v.Name == "kernel" {
				name := l.Name() + "/kernel"
				if k := g.Node(name); k != nil {
					p.kernels[i] = name
					kernelNodes = append(kernelNodes, k)
				}
				break
			}
		}
	}
	if withGrads {
		y := g.Input("y", in.loss.TargetShape(h.Shape()))
		var loss *graph.Node
		g.WithScope("loss", func() {
			loss = in.loss.Build(h, y)
			if loss != nil && !loss.IsPoisoned() && loss.Shape().Rank() > 0 {
				loss = nodes.Mean(loss, false)
			}
		})
		if err := g.Err(); err != nil {
			return nil, fmt.Errorf("diagnostics: loss %s: %w", in.loss.Name(), err)
		}
		// The wrt list: every distinct layer output, then every kernel.
		var wrt []*graph.Node
		seen := map[*graph.Node]int{}
		for _, o := range outs {
			if _, ok := seen[o]; !ok {
				seen[o] = len(wrt)
				wrt = append(wrt, o)
			}
		}
		nOuts := len(wrt)
		wrt = append(wrt, kernelNodes...)
		grads, err := autodiff.GradWith(loss, wrt, autodiff.Options{AllowUnused: true})
		if err != nil {
			return nil, fmt.Errorf("diagnostics: gradients: %w", err)
		}
		p.loss = fetch(loss)
		for i, o := range outs {
			p.grad[i] = fetch(grads[seen[o]])
		}
		k := nOuts
		for i := range in.ls {
			if p.kernels[i] != "" {
				p.kgrad[i] = fetch(grads[k])
				k++
			}
		}
	}
	if err := in.store.Init(g, in.seq.RandomSeed(), nil); err != nil {
		return nil, fmt.Errorf("diagnostics: %w", err)
	}
	prog, err := compile.Compile(g, fetches, compile.Options{})
	if err != nil {
		return nil, fmt.Errorf("diagnostics: %w", err)
	}
	p.m = vm.NewMachine(prog, in.store)
	return p, nil
}

// activationOf returns the Keras name of the nonlinearity producing the
// layer's output, "" for a linear output.
func activationOf(l layers.Layer) string {
	switch l := l.(type) {
	case *layers.DenseLayer:
		if l.Opts.Activation == "linear" {
			return ""
		}
		return l.Opts.Activation
	case *layers.ActivationLayer:
		if l.Activation == "linear" {
			return ""
		}
		return l.Activation
	case *layers.LeakyReLULayer:
		return "leaky_relu"
	case *layers.PReLULayer:
		return "prelu"
	case *layers.RReLULayer:
		return "rrelu"
	case *layers.ELULayer:
		return "elu"
	case *layers.SELULayer:
		return "selu"
	}
	return ""
}

func saturable(act string) bool { return act == "sigmoid" || act == "tanh" }

// outputStats fills the forward statistics of st from the output values v,
// rows rows of len(v)/rows units.
func outputStats(st *LayerStats, v []float64, rows int) {
	units := len(v) / rows
	st.Units = units
	st.Mean, st.Std = meanStd(v)
	if len(v) == 0 {
		return
	}
	zeros, sat := 0, 0
	alive := make([]bool, units)
	for i, a := range v {
		if a == 0 {
			zeros++
		} else {
			alive[i%units] = true
		}
		switch st.Activation {
		case "tanh":
			if math.Abs(a) > TanhSaturation {
				sat++
			}
		case "sigmoid":
			if a < SigmoidSaturation || a > 1-SigmoidSaturation {
				sat++
			}
		}
	}
	for _, ok := range alive {
		if !ok {
			st.DeadUnits++
		}
	}
	st.Zeros = float64(zeros) / float64(len(v))
	st.Dead = float64(st.DeadUnits) / float64(units)
	if saturable(st.Activation) {
		st.Saturated = float64(sat) / float64(len(v))
	}
}

// meanStd returns the mean and the population standard deviation of v, in
// two passes; NaN for no values.
func meanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, f := range v {
		mean += f
	}
	mean /= float64(len(v))
	for _, f := range v {
		std += (f - mean) * (f - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

// norm returns the L2 norm of v, scaled to avoid overflow.
func norm(v []float64) float64 {
	var scale, ssq float64 = 0, 1
	for _, f := range v {
		if f == 0 {
			continue
		}
		a := math.Abs(f)
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return a
		}
		if scale < a {
			ssq = 1 + ssq*(scale/a)*(scale/a)
			scale = a
		} else {
			ssq += (a / scale) * (a / scale)
		}
	}
	return scale * math.Sqrt(ssq)
}

// float64s returns the values of a fetched tensor as float64s.
func float64s(t *tensor.Dense) ([]float64, error) {
	switch d := t.Data().(type) {
	case []float64:
		return d, nil
	case []float32:
		v := make([]float64, len(d))
		for i, f := range d {
			v[i] = float64(f)
		}
		return v, nil
	case float64:
		return []float64{d}, nil
	case float32:
		return []float64{float64(d)}, nil
	}
	return nil, fmt.Errorf("diagnostics: a fetched %T, want float32 or float64 values", t.Data())
}

// dtypeOf returns the graph dtype of a tensor's elements.
func dtypeOf(t *tensor.Dense) (graph.DType, error) {
	switch t.Dtype() {
	case tensor.Float32:
		return graph.Float32, nil
	case tensor.Float64:
		return graph.Float64, nil
	}
	return 0, fmt.Errorf("diagnostics: a tensor of %v, want float32 or float64", t.Dtype())
}
