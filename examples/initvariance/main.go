package main

import (
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/vm"
)

func main() {
	cfg := defaultConfig()
	flag.IntVar(&cfg.Layers, "layers", cfg.Layers, "number of dense layers")
	flag.IntVar(&cfg.Units, "units", cfg.Units, "units per layer (and input features)")
	flag.IntVar(&cfg.Batch, "batch", cfg.Batch, "rows of the standardized input batch")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the weights, the input and the upstream gradient")
	flag.StringVar(&cfg.Dir, "out", cfg.Dir, "directory for initvariance.png and initvariance_grad.png")
	dtype := flag.String("dtype", "float32", "float32 or float64")
	inits := flag.String("inits", strings.Join(cfg.Inits, ","), "kernel initializers, by Keras name, comma-separated")
	acts := flag.String("acts", strings.Join(cfg.Acts, ","), "activations, by Keras name, comma-separated")
	flag.Parse()
	cfg.Inits = splitList(*inits)
	cfg.Acts = splitList(*acts)
	switch *dtype {
	case "float32", "f32":
		cfg.DType = graph.Float32
	case "float64", "f64":
		cfg.DType = graph.Float64
	default:
		fmt.Fprintf(os.Stderr, "initvariance: -dtype %q: want float32 or float64\n", *dtype)
		os.Exit(2)
	}
	start := time.Now()
	if _, err := run(os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "initvariance:", err)
		os.Exit(1)
	}
	fmt.Printf("done in %v\n", time.Since(start).Round(time.Millisecond))
}

// config is what one run of the example looks at.
type config struct {
	Layers, Units, Batch int
	Seed                 uint64
	DType                graph.DType
	Inits, Acts          []string // Keras names
	Dir                  string   // where the PNGs go
}

func defaultConfig() config {
	return config{
		Layers: 50, Units: 100, Batch: 1000, Seed: 42, DType: graph.Float32,
		Inits: []string{"glorot_uniform", "he_normal", "lecun_normal"},
		Acts:  []string{"sigmoid", "tanh", "relu", "selu"},
		Dir:   ".",
	}
}

func (c config) check() error {
	switch {
	case c.Layers < 1:
		return fmt.Errorf("-layers %d: want at least 1", c.Layers)
	case c.Units < 1:
		return fmt.Errorf("-units %d: want at least 1", c.Units)
	case c.Batch < 2:
		return fmt.Errorf("-batch %d: want at least 2 rows to standardize", c.Batch)
	case c.DType != graph.Float32 && c.DType != graph.Float64:
		return fmt.Errorf("dtype %v: want float32 or float64", c.DType)
	case len(c.Inits) == 0:
		return errors.New("no initializer to try")
	case len(c.Acts) == 0:
		return errors.New("no activation to try")
	}
	return nil
}

// result holds what one net shows, indexed by layer (0 is layer 1).
type result struct {
	Init, Act string
	ActMean   []float64 // mean of a_i = f(z_i) over the batch and the units
	ActStd    []float64 // its standard deviation
	GradStd   []float64 // standard deviation of ∂L/∂z_i
}

// run measures every pair of cfg.Inits × cfg.Acts, prints the tables to w,
// draws the two plots into cfg.Dir and returns the measurements.
func run(w io.Writer, cfg config) ([]result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	x, err := standardNormalBatch(cfg, 1, true)
	if err != nil {
		return nil, err
	}
	upstream, err := standardNormalBatch(cfg, 2, false)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "%d dense layers of %d units (no bias), a standardized batch of %d rows from N(0,1), %v, seed %d\n",
		cfg.Layers, cfg.Units, cfg.Batch, cfg.DType, cfg.Seed)
	fmt.Fprintf(w, "act: a_i = f(x·W_1 ⋯ W_i); grad: ∂L/∂z_i for L = Σ a_%d ⊙ R, R ~ N(0,1) (std 1 at the top)\n", cfg.Layers)

	var results []result
	for _, init := range cfg.Inits {
		for _, act := range cfg.Acts {
			r, err := measure(cfg, init, act, x, upstream)
			if err != nil {
				return nil, fmt.Errorf("%s + %s: %w", init, act, err)
			}
			results = append(results, r)
			printTable(w, r)
		}
	}
	printSummary(w, cfg, results)

	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	actPath := filepath.Join(cfg.Dir, "initvariance.png")
	title := fmt.Sprintf("Activation std by depth (%d dense layers of %d units, batch %d, no training)", cfg.Layers, cfg.Units, cfg.Batch)
	if err := plotStd(actPath, title, "std of the activations a_i (log scale)", cfg, results, func(r result) []float64 { return r.ActStd }); err != nil {
		return nil, fmt.Errorf("plotting %s: %w", actPath, err)
	}
	gradPath := filepath.Join(cfg.Dir, "initvariance_grad.png")
	title = fmt.Sprintf("Back-propagated gradient std by depth (∂L/∂z_i, std 1 at layer %d's output)", cfg.Layers)
	if err := plotStd(gradPath, title, "std of ∂L/∂z_i (log scale)", cfg, results, func(r result) []float64 { return r.GradStd }); err != nil {
		return nil, fmt.Errorf("plotting %s: %w", gradPath, err)
	}
	fmt.Fprintf(w, "wrote %s\nwrote %s\n", actPath, gradPath)
	return results, nil
}

// net is one stack of layers emitted into a graph, initialized and compiled:
// the program fetches every layer's activation a_i (fetches 0 … n−1), then
// ∂L/∂z_i for every layer (fetches n … 2n−1).
type net struct {
	model *layers.Sequential
	store *vm.Store
	prog  *vm.Program
}

// buildNet writes the model Keras-style, emits it layer by layer (what
// Sequential.Call does, keeping a handle on every pre-activation and
// activation), adds the gradient nodes and compiles.
func buildNet(cfg config, init, act string) (*net, error) {
	model := layers.NewSequential(layers.Input(cfg.Units))
	for range cfg.Layers {
		model.Add(layers.Dense(cfg.Units, layers.DenseOptions{KernelInitializer: init, UseBias: layers.False}))
		model.Add(layers.Activation(act))
	}
	model.Seed(cfg.Seed)
	if err := model.Build(); err != nil {
		return nil, err
	}

	g := graph.New(cfg.DType)
	h := g.Input("x", model.InputShape())
	ctx := &layers.Context{Graph: g, Mode: layers.Inference, Seed: cfg.Seed}
	var pre, post []*graph.Node
	h, outs := model.CallEach(ctx, h)
	for i, l := range model.Layers() {
		if _, isDense := l.(*layers.DenseLayer); isDense {
			pre = append(pre, outs[i])
		} else {
			post = append(post, outs[i])
		}
	}
	// L = Σ a_n ⊙ R: R is the upstream gradient of the output.
	r := g.Input("upstream", model.OutputShape())
	grads, err := autodiff.GradWith(h, pre, autodiff.Options{Seed: r})
	if err != nil {
		return nil, err
	}

	store := vm.NewStore()
	if err := store.Init(g, cfg.Seed, nil); err != nil { // every kernel has its initializer
		return nil, err
	}
	prog, err := compile.Compile(g, append(post, grads...), compile.Options{})
	if err != nil {
		return nil, err
	}
	return &net{model: model, store: store, prog: prog}, nil
}

// measure builds one net, runs it forward and backward once and reduces
// every layer's activation and gradient to their statistics.
func measure(cfg config, init, act string, x, upstream *tensor.Dense) (result, error) {
	n, err := buildNet(cfg, init, act)
	if err != nil {
		return result{}, err
	}
	out, err := vm.NewMachine(n.prog, n.store).Exec(vm.Feeds{"x": x, "upstream": upstream})
	if err != nil {
		return result{}, err
	}
	res := result{Init: init, Act: act}
	for i := range cfg.Layers {
		m, s, err := meanStd(out.At(i))
		if err != nil {
			return result{}, err
		}
		res.ActMean = append(res.ActMean, m)
		res.ActStd = append(res.ActStd, s)
		_, s, err = meanStd(out.At(cfg.Layers + i))
		if err != nil {
			return result{}, err
		}
		res.GradStd = append(res.GradStd, s)
	}
	return res, nil
}

// standardNormalBatch draws a [batch, units] matrix from N(0, 1) with the
// seed's stream number stream. With standardize, every column is then
// shifted and scaled to mean 0 and standard deviation 1 exactly, as a
// StandardScaler would leave the features of a data set.
func standardNormalBatch(cfg config, stream uint64, standardize bool) (*tensor.Dense, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, stream))
	rows, cols := cfg.Batch, cfg.Units
	v := make([]float64, rows*cols)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	if standardize {
		for j := range cols {
			var sum, sq float64
			for i := range rows {
				sum += v[i*cols+j]
			}
			mean := sum / float64(rows)
			for i := range rows {
				d := v[i*cols+j] - mean
				sq += d * d
			}
			std := math.Sqrt(sq / float64(rows))
			for i := range rows {
				v[i*cols+j] = (v[i*cols+j] - mean) / std
			}
		}
	}
	if cfg.DType == graph.Float64 {
		return vm.FromSlice(v, rows, cols)
	}
	v32 := make([]float32, len(v))
	for i, f := range v {
		v32[i] = float32(f)
	}
	return vm.FromSlice(v32, rows, cols)
}

// meanStd returns the mean and the (population) standard deviation of all
// the values of t, accumulated in float64 in two passes.
func meanStd(t *tensor.Dense) (mean, std float64, err error) {
	var v []float64
	switch d := t.Data().(type) {
	case []float64:
		v = d
	case []float32:
		v = make([]float64, len(d))
		for i, f := range d {
			v[i] = float64(f)
		}
	default:
		return 0, 0, fmt.Errorf("fetched a %T, want []float32 or []float64", d)
	}
	if len(v) == 0 {
		return 0, 0, errors.New("fetched an empty value")
	}
	for _, f := range v {
		mean += f
	}
	mean /= float64(len(v))
	for _, f := range v {
		std += (f - mean) * (f - mean)
	}
	return mean, math.Sqrt(std / float64(len(v))), nil
}

// shownLayers picks the layers the tables show: 1, every 10th, the last.
func shownLayers(n int) []int {
	ls := []int{1}
	for l := 10; l <= n; l += 10 {
		ls = append(ls, l)
	}
	if ls[len(ls)-1] != n {
		ls = append(ls, n)
	}
	return ls
}

func printTable(w io.Writer, r result) {
	fmt.Fprintf(w, "\n== %s + %s\n", r.Init, r.Act)
	ls := shownLayers(len(r.ActStd))
	fmt.Fprintf(w, "%-10s", "layer")
	for _, l := range ls {
		fmt.Fprintf(w, "%11d", l)
	}
	fmt.Fprintln(w)
	row := func(name string, v []float64) {
		fmt.Fprintf(w, "%-10s", name)
		for _, l := range ls {
			fmt.Fprintf(w, "%11s", num(v[l-1]))
		}
		fmt.Fprintln(w)
	}
	row("act mean", r.ActMean)
	row("act std", r.ActStd)
	row("grad std", r.GradStd)
}

// printSummary prints, for each pair, the activation std at the last layer
// and the gradient std at the first: the two ends where a mismatch shows.
func printSummary(w io.Writer, cfg config, rs []result) {
	fmt.Fprintf(w, "\n== summary: act std at layer %d / grad std at layer 1\n", cfg.Layers)
	fmt.Fprintf(w, "%-16s", "")
	for _, a := range cfg.Acts {
		fmt.Fprintf(w, "%22s", a)
	}
	fmt.Fprintln(w)
	for i, init := range cfg.Inits {
		fmt.Fprintf(w, "%-16s", init)
		for j := range cfg.Acts {
			r := rs[i*len(cfg.Acts)+j]
			fmt.Fprintf(w, "%22s", num(r.ActStd[cfg.Layers-1])+" / "+num(r.GradStd[0]))
		}
		fmt.Fprintln(w)
	}
}

// num prints a statistic with 3 significant digits, in plain notation
// where it is readable.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case a == 0: // float32 underflows below 1.4e-45
		return "0"
	case a >= 1e-3 && a < 1e4:
		return fmt.Sprintf("%.4f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// plotStd draws one line per result, stat(r) against depth, on a log y
// axis, with the legend beside the plot, and writes a PNG to path. Points
// a log axis cannot show (zero, NaN, ±Inf) are left out.
func plotStd(path, title, ylabel string, cfg config, rs []result, stat func(result) []float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "layer"
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = 1, float64(cfg.Layers)
	p.Add(plotter.NewGrid())

	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.ThumbnailWidth = 0.5 * vg.Inch
	points := 0
	actIndex := map[string]int{}
	for i, a := range cfg.Acts {
		actIndex[a] = i
	}
	initIndex := map[string]int{}
	for i, s := range cfg.Inits {
		initIndex[s] = i
	}
	for _, r := range rs {
		var xys plotter.XYs
		for i, v := range stat(r) {
			if v > 0 && !math.IsInf(v, 0) {
				xys = append(xys, plotter.XY{X: float64(i + 1), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		line, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		line.Color = plotutil.Color(actIndex[r.Act])
		line.Dashes = plotutil.Dashes(initIndex[r.Init])
		line.Width = vg.Points(1.5)
		p.Add(line)
		leg.Add(r.Init+" + "+r.Act, line)
	}
	if points > 0 {
		// The reference: a std of 1 all the way.
		ref, err := plotter.NewLine(plotter.XYs{{X: 1, Y: 1}, {X: float64(cfg.Layers), Y: 1}})
		if err != nil {
			return err
		}
		ref.Color = color.Gray{Y: 128}
		ref.Width = vg.Points(0.75)
		p.Add(ref)
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = decadeTicks{}
	}
	var xt []plot.Tick
	for _, l := range shownLayers(cfg.Layers) {
		xt = append(xt, plot.Tick{Value: float64(l), Label: strconv.Itoa(l)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)

	const width, height, legendWidth = 11 * vg.Inch, 6 * vg.Inch, 2.4 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	leg.Draw(draw.Crop(dc, width-legendWidth+0.1*vg.Inch, 0, 0, -0.4*vg.Inch))

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// decadeTicks marks a log axis at powers of ten, labelled 1e-05 … 0.1, 1,
// 10, every decade or every few decades so that at most about ten carry a
// label (plot.LogTicks prints 9.999999999999999e-05).
type decadeTicks struct{}

func (decadeTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max >= min) || math.IsInf(max, 0) {
		return nil
	}
	lo, hi := int(math.Floor(math.Log10(min))), int(math.Ceil(math.Log10(max)))
	step := (hi-lo)/10 + 1
	var ts []plot.Tick
	for e := lo; e <= hi; e++ {
		// 1e-24 parsed, not math.Pow10(-24): that one prints 1.0000000000000001e-24.
		v, err := strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
		if err != nil {
			continue
		}
		if v >= min && v <= max {
			label := ""
			if e%step == 0 {
				label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ts = append(ts, plot.Tick{Value: v, Label: label})
		}
		if step == 1 { // minor ticks at 2…9 × 10^e
			for k := 2; k <= 9; k++ {
				if m := float64(k) * v; m >= min && m <= max {
					ts = append(ts, plot.Tick{Value: m})
				}
			}
		}
	}
	return ts
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
