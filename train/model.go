package train

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// Model is a Sequential model that compiles, trains, evaluates, predicts
// and saves itself: Keras's Model.compile/fit/evaluate/predict. The
// architecture is a layers.Sequential; the variables live in a vm.Store
// shared by the model's three programs (training step, evaluation,
// prediction).
//
// A Model is used by one goroutine at a time, except that Predict and
// Evaluate may be called from any number of goroutines at once (see
// "Goroutines" in the package documentation).
type Model struct {
	seq   *layers.Sequential
	store *vm.Store

	// set by Compile
	compiled    bool
	cfg         Config
	dtype       graph.DType
	inShape     graph.Shape // [Batch, ...]
	outShape    graph.Shape
	targetShape graph.Shape
	metrics     []string // names as the user gave them
	trainM      *vm.Machine
	evalM       *machinePool
	predM       *machinePool
	mcM         *vm.Machine // MC-dropout prediction, compiled on first use
	mcSeed      uint64      // the PredictOptions.Seed mcM was compiled for
	lrBuf       [1]float64  // LearningRateScheduler's value, kept to write without allocating
	weights     []string    // store names of the layers' variables
}

// NewSequential returns a Sequential model of the layers, in order: the
// usual way to write a model.
//
//	model := train.NewSequential(
//		layers.Input(784),
//		layers.Dense(300, layers.DenseOptions{Activation: "relu"}),
//		layers.Dense(10, layers.DenseOptions{}),
//	)
//
// Configuration errors (a bad layer, a missing input shape) are kept and
// returned by Compile.
func NewSequential(ls ...layers.Layer) *Model { return NewModel(layers.NewSequential(ls...)) }

// NewModel wraps an existing architecture (a layers.Sequential built
// elsewhere, such as internal/refmodels'). A nil seq gives a model whose
// Compile fails.
func NewModel(seq *layers.Sequential) *Model {
	if seq == nil {
		seq = layers.NewSequential(nil)
	}
	return &Model{seq: seq, store: vm.NewStore()}
}

// Sequential returns the model's architecture.
func (m *Model) Sequential() *layers.Sequential { return m.seq }

// Seed sets the model seed: the initial values of the variables and the
// random streams of random layers (RReLU, Dropout) derive from it and the
// variables' names. Call it before Compile; variables already in the store
// keep their values.
func (m *Model) Seed(seed uint64) { m.seq.Seed(seed) }

// Summary returns the Keras-style table of the layers, their output shapes
// and parameter counts.
func (m *Model) Summary() string { return m.seq.Summary() }

// Store returns the store holding the model's variables: the layers'
// ("dense/kernel", "batch_normalization/moving_mean"), the optimizer's
// ("optimizer/learning_rate", "optimizer/iterations", slots) and the random
// layers' state.
func (m *Model) Store() *vm.Store { return m.store }

// DType returns the dtype the model was compiled for (0 before Compile).
func (m *Model) DType() graph.DType { return m.dtype }

// Config is what Compile needs: the loss (required), the optimizer (SGD
// with Keras's defaults when nil), the metrics to report by Keras name
// ("accuracy", "mae"; see MetricByName), the dtype of the programs
// (Float32 when zero) and the compiler's options.
type Config struct {
	Loss      Loss
	Optimizer Optimizer
	Metrics   []string
	DType     graph.DType
	// CompileOptions are given to compile.Compile for each of the model's
	// programs: passes to disable (without the fusing passes a program
	// rounds as the unfused graph does), a memory limit in bytes per
	// batch size (MemoryLimit; Fit checks its batch sizes against it
	// before training, and every program refuses a batch size whose
	// memory plan exceeds it, vm.ErrMemoryLimit). The zero value runs
	// every pass with no limit.
	CompileOptions compile.Options
}

// Compile builds and compiles the model's three programs and creates the
// variables the store does not hold yet:
//
//   - the training step: the model emitted in training mode, a target
//     input "y" shaped as Loss.TargetShape says, the loss plus the layers'
//     regularization penalties, its gradient with respect to every
//     trainable variable, the optimizer's updates, the layers' state
//     updates (BatchNorm moving statistics, random streams), the weight
//     constraints, and the metrics — one program;
//   - the evaluation: the model in inference mode, the loss (with the
//     penalties, as Keras reports it) and the metrics;
//   - the prediction: the model's output in inference mode.
//
// Programs specialize to each batch size they meet, so any batch size
// works. New variables are initialized from their initializers and the
// model seed (vm.Store.Init); variables already in the store (from an
// earlier Compile, or Load) keep their values, except the optimizer's
// (names under "optimizer/"), which Compile resets: a new Compile is a new
// optimizer, as in Keras. To resume training from a checkpoint, Compile,
// then Load.
//
// On any error the model is left as it was.
func (m *Model) Compile(cfg Config) error {
	if cfg.Loss == nil {
		return errors.New("train: compile: Config.Loss is required (for example train.SparseCategoricalCrossentropy{FromLogits: true})")
	}
	if cfg.Optimizer == nil {
		cfg.Optimizer = SGD{}
	}
	if cfg.DType == 0 {
		cfg.DType = graph.Float32
	}
	if !cfg.DType.Valid() {
		return fmt.Errorf("train: compile: unsupported dtype %v: use graph.Float32 or graph.Float64", cfg.DType)
	}
	cfg.Metrics = append([]string(nil), cfg.Metrics...)
	seen := map[string]bool{"loss": true}
	for _, name := range cfg.Metrics {
		if _, err := MetricByName(name, cfg.Loss); err != nil {
			return fmt.Errorf("train: compile: %w", err)
		}
		if seen[name] || strings.HasPrefix(name, "val_") {
			return fmt.Errorf("train: compile: metric %q is listed twice or clashes with a reported name", name)
		}
		seen[name] = true
	}
	p, err := m.build(cfg)
	if err != nil {
		return fmt.Errorf("train: compile: %w", err)
	}

	// the store: check before changing anything
	for _, gr := range p.graphs {
		for _, v := range gr.Variables() {
			if isOptimizerVar(v.Name()) {
				continue
			}
			shape, dt, ok := m.store.Shape(v.Name())
			if ok && (!shape.Equal(v.Shape()) || dt != cfg.DType) {
				return fmt.Errorf("train: compile: variable %q: the store has %v%v, the model wants %v%v", v.Name(), dt, shape, cfg.DType, v.Shape())
			}
		}
	}
	for _, name := range m.store.Names() {
		if isOptimizerVar(name) {
			m.store.Delete(name)
		}
	}
	for _, gr := range p.graphs {
		if err := m.store.Init(gr, m.seq.RandomSeed(), nil); err != nil {
			return fmt.Errorf("train: compile: %w", err)
		}
	}
	m.install(cfg, p)
	return nil
}

// programs are a model's compiled programs, before they are installed.
type programs struct {
	train, eval, pred *vm.Program
	graphs            []*graph.Graph // the training and the inference graphs
	outShape          graph.Shape
	targetShape       graph.Shape
	weights           []string // store names of the layers' variables
}

// build emits and compiles the model's three programs for cfg (checked by
// Compile) and the current model seed. It changes neither the model nor
// the store.
func (m *Model) build(cfg Config) (*programs, error) {
	if err := m.seq.Build(); err != nil {
		return nil, err
	}

	// the training step
	tr, err := m.seq.Emit(cfg.DType, layers.Training)
	if err != nil {
		return nil, err
	}
	g := tr.Graph
	outShape := tr.Output.Shape()
	targetShape := cfg.Loss.TargetShape(outShape)
	if len(targetShape) == 0 || targetShape[0] != graph.Batch {
		return nil, fmt.Errorf("loss %s: target shape %v has no batch dimension", cfg.Loss.Name(), targetShape)
	}
	y := g.Input("y", targetShape)
	loss, metricNodes := lossAndMetrics(cfg, tr.Output, y, tr.Penalty)
	var params []*graph.Node
	for _, v := range g.Variables() {
		if v.Op().(graph.VariableOp).Trainable {
			params = append(params, v)
		}
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return nil, errors.New("the model has no trainable variables")
	}
	grads, err := autodiff.Grad(loss, params...)
	if err != nil {
		return nil, fmt.Errorf("gradients: %w", err)
	}
	step, counters := NewStep(g, cfg.Optimizer.InitialRate())
	updates, err := cfg.Optimizer.Apply(step, params, grads)
	if err != nil {
		return nil, fmt.Errorf("optimizer %s: %w", cfg.Optimizer.Name(), err)
	}
	updates = m.seq.Constrain(tr.Context, updates)
	updates = append(updates, counters...)
	updates = append(updates, tr.Updates...)
	fetches := append([]*graph.Node{loss}, metricNodes...)
	fetches = append(fetches, updates...)
	if err := g.Err(); err != nil {
		return nil, err
	}
	trainProg, err := compile.Compile(g, fetches, cfg.CompileOptions)
	if err != nil {
		return nil, fmt.Errorf("training step: %w", err)
	}

	// evaluation and prediction
	inf, err := m.seq.Emit(cfg.DType, layers.Inference)
	if err != nil {
		return nil, err
	}
	yi := inf.Graph.Input("y", targetShape)
	lossI, metricsI := lossAndMetrics(cfg, inf.Output, yi, m.seq.Penalties(inf.Context))
	evalProg, err := compile.Compile(inf.Graph, append([]*graph.Node{lossI}, metricsI...), cfg.CompileOptions)
	if err != nil {
		return nil, fmt.Errorf("evaluation: %w", err)
	}
	predProg, err := compile.Compile(inf.Graph, []*graph.Node{inf.Output}, cfg.CompileOptions)
	if err != nil {
		return nil, fmt.Errorf("prediction: %w", err)
	}
	vars, err := m.seq.Variables()
	if err != nil {
		return nil, err
	}
	p := &programs{
		train:       trainProg,
		eval:        evalProg,
		pred:        predProg,
		graphs:      []*graph.Graph{g, inf.Graph},
		outShape:    outShape.Clone(),
		targetShape: targetShape.Clone(),
	}
	for _, v := range vars {
		p.weights = append(p.weights, v.Name)
	}
	return p, nil
}

// install makes p the model's programs, compiled for cfg, with machines
// bound to the store (which holds every variable p's programs use).
func (m *Model) install(cfg Config, p *programs) {
	m.compiled = true
	m.cfg = cfg
	m.dtype = cfg.DType
	m.inShape = m.seq.InputShape()
	m.outShape = p.outShape
	m.targetShape = p.targetShape
	m.metrics = cfg.Metrics
	m.trainM = vm.NewMachine(p.train, m.store)
	m.evalM = &machinePool{prog: p.eval, store: m.store}
	m.predM = &machinePool{prog: p.pred, store: m.store}
	m.mcM = nil
	m.weights = p.weights
}

// isOptimizerVar reports whether a store name belongs to the optimizer.
func isOptimizerVar(name string) bool { return strings.HasPrefix(name, "optimizer/") }

// lossAndMetrics builds the scalar loss (the configured loss, reduced to
// its mean when it is per example, plus the regularization penalty when
// not nil) and the metric nodes for predictions pred and targets y.
func lossAndMetrics(cfg Config, pred, y, penalty *graph.Node) (*graph.Node, []*graph.Node) {
	g := pred.Graph()
	var loss *graph.Node
	var metricNodes []*graph.Node
	g.WithScope("loss", func() {
		loss = cfg.Loss.Build(pred, y)
		if loss != nil && !loss.IsPoisoned() && loss.Shape().Rank() > 0 {
			loss = nodes.Mean(loss, false) // ReductionNone: train on the mean
		}
		if penalty != nil {
			loss = nodes.Add(loss, penalty)
		}
	})
	g.WithScope("metrics", func() {
		for _, name := range cfg.Metrics {
			mt, _ := MetricByName(name, cfg.Loss) // checked by Compile
			metricNodes = append(metricNodes, mt.Build(pred, y))
		}
	})
	return loss, metricNodes
}

// errNotCompiled is returned by what needs Compile first.
var errNotCompiled = errors.New("the model is not compiled: call Compile first")

// Eval is what Evaluate returns: the loss and the metrics by name, means
// over every example.
type Eval struct {
	Loss    float64
	Metrics map[string]float64
}

// String prints "loss: 0.3120 - accuracy: 0.9125".
func (e Eval) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loss: %.4f", e.Loss)
	for _, k := range sortedKeys(e.Metrics) {
		fmt.Fprintf(&b, " - %s: %.4f", k, e.Metrics[k])
	}
	return b.String()
}

// EvaluateOptions tunes Evaluate; the zero value is Keras's default.
type EvaluateOptions struct {
	// BatchSize is the number of examples per run (32 when zero).
	BatchSize int
}

// Evaluate returns the loss and the metrics of the model on x and y, in
// inference mode (BatchNorm uses its moving statistics, Dropout keeps
// everything), computed batch by batch and averaged over every example.
// It changes nothing in the store. At most one EvaluateOptions may be given.
func (m *Model) Evaluate(x, y *tensor.Dense, opts ...EvaluateOptions) (Eval, error) {
	if !m.compiled {
		return Eval{}, fmt.Errorf("train: evaluate: %w", errNotCompiled)
	}
	if len(opts) > 1 {
		return Eval{}, errors.New("train: evaluate: more than one EvaluateOptions")
	}
	bs := 32
	if len(opts) == 1 && opts[0].BatchSize != 0 {
		bs = opts[0].BatchSize
	}
	if bs < 0 {
		return Eval{}, fmt.Errorf("train: evaluate: batch size %d", bs)
	}
	var sums []float64
	var err error
	if m.dtype == graph.Float32 {
		sums, err = evaluateData[float32](m, x, y, bs)
	} else {
		sums, err = evaluateData[float64](m, x, y, bs)
	}
	if err != nil {
		return Eval{}, fmt.Errorf("train: evaluate: %w", err)
	}
	e := Eval{Loss: sums[0], Metrics: map[string]float64{}}
	for i, name := range m.metrics {
		e.Metrics[name] = sums[i+1]
	}
	return e, nil
}

func evaluateData[T float](m *Model, x, y *tensor.Dense, bs int) ([]float64, error) {
	r, err := dataRows[T](m, "", x, y, true)
	if err != nil {
		return nil, err
	}
	sums := make([]float64, 1+len(m.metrics))
	b := newBatchFeeds[T](m, min(bs, r.n), true)
	if err := evaluateRows(context.Background(), m, r, b, sums); err != nil {
		return nil, err
	}
	return sums, nil
}

// evaluateRows runs the evaluation program over r in batches of b's size
// and writes the means of the loss and the metrics into sums. ctx is
// checked between batches.
func evaluateRows[T float](ctx context.Context, m *Model, r rows[T], b *batchFeeds[T], sums []float64) error {
	machine := m.evalM.get()
	defer m.evalM.put(machine)
	clear(sums)
	for start := 0; start < r.n; start += b.size {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(start+b.size, r.n)
		res, err := machine.Exec(b.fillRange(r, start, end))
		if err != nil {
			return fmt.Errorf("rows %d to %d: %w", start, end-1, err)
		}
		for i := range sums {
			sums[i] += scalar[T](res.At(i)) * float64(end-start)
		}
	}
	for i := range sums {
		sums[i] /= float64(r.n)
	}
	return nil
}

// PredictOptions tunes Predict; the zero value is Keras's default.
type PredictOptions struct {
	// BatchSize is the number of examples per run (32 when zero). The
	// predictions do not depend on it.
	BatchSize int
	// Seed seeds PredictMC's dropout masks (ignored by Predict).
	Seed uint64
}

// Predict returns the model's output for every row of x, in inference
// mode, computed batch by batch: a tensor of shape [N, output...] in the
// model's dtype. At most one PredictOptions may be given.
func (m *Model) Predict(x *tensor.Dense, opts ...PredictOptions) (*tensor.Dense, error) {
	if !m.compiled {
		return nil, fmt.Errorf("train: predict: %w", errNotCompiled)
	}
	o, err := predictOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("train: predict: %w", err)
	}
	machine := m.predM.get()
	defer m.predM.put(machine)
	var out *tensor.Dense
	if m.dtype == graph.Float32 {
		out, err = predictData[float32](m, machine, x, o.BatchSize, 1)
	} else {
		out, err = predictData[float64](m, machine, x, o.BatchSize, 1)
	}
	if err != nil {
		return nil, fmt.Errorf("train: predict: %w", err)
	}
	return out, nil
}

func predictOptions(opts []PredictOptions) (PredictOptions, error) {
	if len(opts) > 1 {
		return PredictOptions{}, errors.New("more than one PredictOptions")
	}
	var o PredictOptions
	if len(opts) == 1 {
		o = opts[0]
	}
	if o.BatchSize == 0 {
		o.BatchSize = 32
	}
	if o.BatchSize < 0 {
		return o, fmt.Errorf("batch size %d", o.BatchSize)
	}
	return o, nil
}

// predictData runs machine (a program whose first fetch is the output)
// over x in batches, samples times, and returns the mean output.
func predictData[T float](m *Model, machine *vm.Machine, x *tensor.Dense, bs, samples int) (*tensor.Dense, error) {
	r, err := dataRows[T](m, "", x, nil, false)
	if err != nil {
		return nil, err
	}
	outRow := m.outShape[1:].Size()
	out := make([]T, r.n*outRow)
	b := newBatchFeeds[T](m, min(bs, r.n), false)
	for s := 0; s < samples; s++ {
		for start := 0; start < r.n; start += b.size {
			end := min(start+b.size, r.n)
			res, err := machine.Exec(b.fillRange(r, start, end))
			if err != nil {
				return nil, fmt.Errorf("rows %d to %d: %w", start, end-1, err)
			}
			src := values[T](res.At(0))
			dst := out[start*outRow : end*outRow]
			if s == 0 {
				copy(dst, src)
			} else {
				for i, v := range src {
					dst[i] += v
				}
			}
		}
	}
	if samples > 1 {
		inv := 1 / T(samples)
		for i := range out {
			out[i] *= inv
		}
	}
	shape := append([]int{r.n}, m.outShape[1:]...)
	return newTensor(out, shape...), nil
}

// PredictMC returns Monte Carlo Dropout predictions (Gal and Ghahramani,
// 2016): the model runs in inference mode but with its Dropout and
// AlphaDropout layers still dropping (layers.Context.MCDropout), samples
// times over x, and the outputs are averaged. BatchNormalization uses its
// moving statistics, as at inference. A model without dropout gives
// Predict's result.
//
// The masks derive from the model seed mixed with PredictOptions.Seed and
// from the random layers' step counter ("rng/counter"), which PredictMC
// sets to 0 for the call and then puts back, so training draws what it
// would have drawn: the same x, samples, BatchSize and Seed give the same
// result. The MC program is compiled on first use and again when the seed
// changes.
func (m *Model) PredictMC(x *tensor.Dense, samples int, opts ...PredictOptions) (*tensor.Dense, error) {
	if !m.compiled {
		return nil, fmt.Errorf("train: predict MC: %w", errNotCompiled)
	}
	if samples <= 0 {
		return nil, fmt.Errorf("train: predict MC: %d samples: want at least 1", samples)
	}
	o, err := predictOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("train: predict MC: %w", err)
	}
	if err := m.compileMC(o.Seed); err != nil {
		return nil, fmt.Errorf("train: predict MC: %w", err)
	}
	restore, err := m.seedMC()
	if err != nil {
		return nil, fmt.Errorf("train: predict MC: %w", err)
	}
	defer restore()
	var out *tensor.Dense
	if m.dtype == graph.Float32 {
		out, err = predictData[float32](m, m.mcM, x, o.BatchSize, samples)
	} else {
		out, err = predictData[float64](m, m.mcM, x, o.BatchSize, samples)
	}
	if err != nil {
		return nil, fmt.Errorf("train: predict MC: %w", err)
	}
	return out, nil
}

// compileMC compiles the MC-dropout prediction program for a seed, unless
// the last one was for the same seed. The layers' masks derive from the
// model seed mixed with seed, so that MC predictions draw masks of their
// own (a layer given an explicit DropoutOptions.Seed keeps it).
func (m *Model) compileMC(seed uint64) error {
	if m.mcM != nil && m.mcSeed == seed {
		return nil
	}
	model := m.seq.RandomSeed()
	m.seq.Seed(mix(model, seed))
	e, err := m.seq.EmitWith(m.dtype, layers.EmitOptions{Mode: layers.Inference, MCDropout: true})
	m.seq.Seed(model)
	if err != nil {
		return err
	}
	prog, err := compile.Compile(e.Graph, append([]*graph.Node{e.Output}, e.Updates...), m.cfg.CompileOptions)
	if err != nil {
		return err
	}
	if err := m.store.Init(e.Graph, model, nil); err != nil {
		return err
	}
	m.mcM, m.mcSeed = vm.NewMachine(prog, m.store), seed
	return nil
}

// seedMC sets the random layers' step counter to 0 for an MC-dropout
// prediction and returns what puts the training value back.
func (m *Model) seedMC() (func(), error) {
	if !m.store.Has(layers.RNGCounterName) {
		return func() {}, nil
	}
	saved, err := m.store.Get(layers.RNGCounterName)
	if err != nil {
		return nil, err
	}
	if err := m.store.SetFloat64s(layers.RNGCounterName, graph.Shape{}, m.dtype, []float64{0}); err != nil {
		return nil, err
	}
	return func() { _ = m.store.Set(layers.RNGCounterName, saved) }, nil
}

// mix combines two seeds (splitmix64's finalizer over their sum).
func mix(a, b uint64) uint64 {
	z := a + (b+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// scalar returns the first value of a fetched tensor as float64.
func scalar[T float](t *tensor.Dense) float64 { return float64(values[T](t)[0]) }

// values returns a fetched tensor's backing slice (no copy, no allocation).
func values[T float](t *tensor.Dense) []T {
	var z T
	var v any
	if _, ok := any(z).(float32); ok {
		v = t.Float32s()
	} else {
		v = t.Float64s()
	}
	return v.([]T)
}

// batchFeeds holds the feeds of one batch size: x (and y) buffers that
// batches are copied into, and tensors over them for each batch size met
// (a full batch and a shorter last one), so that filling a batch allocates
// nothing once both have been seen.
type batchFeeds[T float] struct {
	size       int
	xRow, yRow int
	xShape     []int // row shapes
	yShape     []int
	x, y       []T
	feeds      map[int]vm.Feeds
}

func newBatchFeeds[T float](m *Model, size int, withY bool) *batchFeeds[T] {
	b := &batchFeeds[T]{
		size:   size,
		xShape: m.inShape[1:].Clone(),
		xRow:   m.inShape[1:].Size(),
		feeds:  map[int]vm.Feeds{},
	}
	b.x = make([]T, size*b.xRow)
	if withY {
		b.yShape = m.targetShape[1:].Clone()
		b.yRow = m.targetShape[1:].Size()
		b.y = make([]T, size*b.yRow)
	}
	return b
}

// feedsFor returns the feeds for a batch of n rows.
func (b *batchFeeds[T]) feedsFor(n int) vm.Feeds {
	if f, ok := b.feeds[n]; ok {
		return f
	}
	f := vm.Feeds{"x": newTensor(b.x[:n*b.xRow], append([]int{n}, b.xShape...)...)}
	if b.y != nil {
		f["y"] = newTensor(b.y[:n*b.yRow], append([]int{n}, b.yShape...)...)
	}
	b.feeds[n] = f
	return f
}

// fillRange copies rows [start, end) of r into the buffers.
func (b *batchFeeds[T]) fillRange(r rows[T], start, end int) vm.Feeds {
	n := end - start
	copy(b.x, r.x[start*b.xRow:end*b.xRow])
	if b.y != nil {
		copy(b.y, r.y[start*b.yRow:end*b.yRow])
	}
	return b.feedsFor(n)
}

// fillIndex copies the rows idx of r into the buffers.
func (b *batchFeeds[T]) fillIndex(r rows[T], idx []int) vm.Feeds {
	xr, yr := b.xRow, b.yRow
	for i, j := range idx {
		copy(b.x[i*xr:(i+1)*xr], r.x[j*xr:(j+1)*xr])
	}
	if b.y != nil {
		for i, j := range idx {
			copy(b.y[i*yr:(i+1)*yr], r.y[j*yr:(j+1)*yr])
		}
	}
	return b.feedsFor(len(idx))
}

// Save writes every variable of the model's store (the layers' weights and
// state, the optimizer's state, the random layers' step counter) to path as
// a safetensors checkpoint, with the model's Summary and its seed
// (MetaModelSeed) in its metadata, atomically: the file is written aside
// and renamed, so a crash leaves the previous file whole (SaveStore).
func (m *Model) Save(path string) error {
	if len(m.store.Names()) == 0 {
		return errors.New("train: save: the model has no variables yet: call Compile (or Load) first")
	}
	return SaveStore(path, m.store, SaveOptions{
		Summary:  m.seq.Summary(),
		Metadata: map[string]string{MetaModelSeed: strconv.FormatUint(m.seq.RandomSeed(), 10)},
	})
}

// Load reads a checkpoint written by Save (or SaveStore) into the model,
// and restores what a run needs to continue where it stopped:
//
//   - the layers' variables (weights, BatchNorm's moving statistics): every
//     one must be in the file with its shape and, once compiled, the
//     model's dtype;
//   - the optimizer's state (its slots, "optimizer/iterations", the
//     learning rate) and the random layers' step counter ("rng/counter"),
//     when the file has them: Compile first, since Compile resets the
//     optimizer;
//   - the model seed (Model.Seed), when the file records it (Save does:
//     MetaModelSeed), so that Dropout and RReLU draw what the saved run
//     would have drawn even if the model was built with another seed; a
//     compiled model whose seed changes has its programs rebuilt (the
//     optimizer's state is kept). A file without it (SaveStore's, other
//     tools') leaves the model's seed as it is.
//
// Once compiled, the file's entries that the model does not use (an
// optimizer of another kind, say) are skipped; before Compile, every entry
// is loaded and Compile keeps the layers' variables (not the optimizer's).
// Callbacks' state and FitOptions are not in a checkpoint: to resume a Fit
// bit-identically, give the same options with InitialEpoch set (see Fit).
//
// Everything is checked, and a model with a new seed recompiled, before
// anything is written: on any error the model is left untouched.
func (m *Model) Load(path string) error {
	f, err := readCheckpoint(path)
	if err != nil {
		return err
	}
	seed, hasSeed := m.seq.RandomSeed(), false
	if v, ok := f.Metadata[MetaModelSeed]; ok {
		seed, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("train: load: %s: metadata: %s %q is not a seed (a decimal uint64)", path, MetaModelSeed, v)
		}
		hasSeed = true
	}
	ck := vm.NewStore()
	if err := loadParsed(path, f, ck, LoadOptions{}); err != nil {
		return err
	}
	vars, err := m.seq.Variables()
	if err != nil {
		return fmt.Errorf("train: load: %w", err)
	}
	for _, v := range vars {
		shape, dt, ok := ck.Shape(v.Name)
		switch {
		case !ok:
			return fmt.Errorf("train: load: %s: the checkpoint has no variable %q", path, v.Name)
		case !shape.Equal(v.Var.Shape):
			return fmt.Errorf("train: load: %s: variable %q has shape %v, the model wants %v", path, v.Name, shape, v.Var.Shape)
		case m.compiled && dt != m.dtype:
			return fmt.Errorf("train: load: %s: variable %q is %v, the model %v", path, v.Name, dt, m.dtype)
		}
	}
	var names []string
	for _, name := range ck.Names() {
		shape, dt, _ := ck.Shape(name)
		have, hdt, ok := m.store.Shape(name)
		switch {
		case ok && (!have.Equal(shape) || hdt != dt):
			return fmt.Errorf("train: load: %s: variable %q is %v%v, the model's %v%v", path, name, dt, shape, hdt, have)
		case ok || !m.compiled:
			names = append(names, name)
		}
	}
	old := m.seq.RandomSeed()
	reseed := hasSeed && seed != old
	var p *programs
	if reseed && m.compiled {
		m.seq.Seed(seed)
		p, err = m.build(m.cfg)
		if err != nil {
			m.seq.Seed(old)
			return fmt.Errorf("train: load: %s: recompiling for the checkpoint's model seed %d: %w", path, seed, err)
		}
	}
	for _, name := range names {
		t, err := ck.Get(name)
		if err == nil {
			err = m.store.Set(name, t)
		}
		if err != nil { // checked above: cannot happen
			return fmt.Errorf("train: load: %s: %w", path, err)
		}
	}
	if reseed {
		m.seq.Seed(seed)
		if p != nil {
			m.install(m.cfg, p)
		}
	}
	return nil
}

// machinePool hands out machines of one program, so that each goroutine
// running it has its own (a vm.Machine is used by one goroutine at a
// time): Predict and Evaluate take one for the call and give it back. The
// pool keeps as many machines as were ever in use at once, each with the
// arenas of the batch sizes it has run; one goroutine always gets the same
// machine back, so serial use costs a lock and nothing else.
type machinePool struct {
	prog  *vm.Program
	store *vm.Store
	mu    sync.Mutex
	free  []*vm.Machine
}

// get returns a free machine, or a new one.
func (p *machinePool) get() *vm.Machine {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		m := p.free[n-1]
		p.free = p.free[:n-1]
		return m
	}
	return vm.NewMachine(p.prog, p.store)
}

// put gives a machine back.
func (p *machinePool) put(m *vm.Machine) {
	p.mu.Lock()
	p.free = append(p.free, m)
	p.mu.Unlock()
}
