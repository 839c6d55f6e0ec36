package experiment

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/diagnostics"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// VarianceResult is one net of the variance experiment, per layer (index 0
// is layer 1).
type VarianceResult struct {
	// Init and Act are the kernel initializer and the activation.
	Init, Act string
	// ActMean and ActStd are the mean and std of a_i = f(z_i).
	ActMean, ActStd []float64
	// GradStd is the std of ∂L/∂z_i, for L = Σ a_L ⊙ R with R ~ N(0, 1)
	// (std 1 at the top).
	GradStd []float64
}

// VarianceNet returns the net the variance experiment measures for an
// initializer and an activation, written as a Keras model: layerCount
// Dense layers of units units without bias (a zero bias adds nothing
// before training), each followed by an Activation layer, so that both the
// pre-activation z_i and the activation a_i are layer outputs. The model
// is built: a count below 1 or a name Keras does not know is an error.
func VarianceNet(layerCount, units int, init, act string, seed uint64) (*layers.Sequential, error) {
	if layerCount < 1 || units < 1 {
		return nil, fmt.Errorf("experiment: VarianceNet: %d layers of %d units: want at least 1 of each", layerCount, units)
	}
	m := layers.NewSequential(layers.Input(units))
	for range layerCount {
		m.Add(layers.Dense(units, layers.DenseOptions{KernelInitializer: init, UseBias: layers.False}))
		m.Add(layers.Activation(act))
	}
	m.Seed(seed)
	if err := m.Build(); err != nil {
		return nil, fmt.Errorf("experiment: VarianceNet: %w", err)
	}
	return m, nil
}

// DotLoss is L = Σ pred ⊙ target, summed over the batch: with a target R
// drawn from N(0, 1), ∂L/∂pred = R, so the gradient reaching each layer
// reads as the factor by which back-propagation has scaled a unit-variance
// signal (Glorot and Bengio's back-propagated gradients). It implements
// train.Loss.
type DotLoss struct{}

// Name returns "dot".
func (DotLoss) Name() string { return "dot" }

// TargetShape returns out: the target is an upstream gradient.
func (DotLoss) TargetShape(out graph.Shape) graph.Shape { return out }

// Build returns Σ pred ⊙ target, a scalar.
func (DotLoss) Build(pred, target *graph.Node) *graph.Node {
	return nodes.Sum(nodes.Mul(pred, target), false)
}

// MeasureVariance builds the net for init and act, initializes it from
// seed, and inspects it (package diagnostics) on x with the upstream
// gradient r: the activations' statistics and the pre-activations'
// gradient std, layer by layer. It is examples/initvariance's measurement,
// done with diagnostics.
func MeasureVariance(layerCount, units int, init, act string, seed uint64, x, r *tensor.Dense) (VarianceResult, error) {
	m, err := VarianceNet(layerCount, units, init, act, seed)
	if err != nil {
		return VarianceResult{}, err
	}
	rep, err := diagnostics.InspectSequential(m, nil, x, r, diagnostics.Options{Loss: DotLoss{}})
	if err != nil {
		return VarianceResult{}, fmt.Errorf("%s + %s: %w", init, act, err)
	}
	res := VarianceResult{Init: init, Act: act}
	for _, l := range rep.Layers {
		if l.Class == "Dense" {
			res.GradStd = append(res.GradStd, l.GradStd)
		} else {
			res.ActMean = append(res.ActMean, l.Mean)
			res.ActStd = append(res.ActStd, l.Std)
		}
	}
	return res, nil
}

// maxBatchValues bounds the values StandardNormalBatch draws (it keeps
// them in float64 first): 2³¹ − 1, 16 GiB.
const maxBatchValues = math.MaxInt32

// StandardNormalBatch draws a [rows, cols] float32 matrix from N(0, 1)
// with stream number stream of seed; with standardize every column is then
// shifted and scaled to mean 0 and std 1 exactly (in float64), as a
// StandardScaler leaves a data set's features. The draws are those of
// examples/initvariance. rows and cols must be at least 1 (2 rows to
// standardize: one row has std 0 in every column), and rows·cols at most
// 2³¹ − 1.
func StandardNormalBatch(rows, cols int, seed, stream uint64, standardize bool) (*tensor.Dense, error) {
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("experiment: StandardNormalBatch: %d rows × %d columns: want at least 1 of each", rows, cols)
	}
	if rows > maxBatchValues/cols {
		return nil, fmt.Errorf("experiment: StandardNormalBatch: %d rows × %d columns: want at most %d values", rows, cols, maxBatchValues)
	}
	if standardize && rows < 2 {
		return nil, fmt.Errorf("experiment: StandardNormalBatch: standardizing %d row: want at least 2 (the std of one row is 0)", rows)
	}
	rng := rand.New(rand.NewPCG(seed, stream))
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
	v32 := make([]float32, len(v))
	for i, f := range v {
		v32[i] = float32(f)
	}
	return vm.FromSlice(v32, rows, cols)
}

func runVariance(c Config) ([]VarianceResult, []string, error) {
	v := c.Variance
	x, err := StandardNormalBatch(v.Batch, v.Units, c.Seed, 1, true)
	if err != nil {
		return nil, nil, err
	}
	r, err := StandardNormalBatch(v.Batch, v.Units, c.Seed, 2, false)
	if err != nil {
		return nil, nil, err
	}
	var rs []VarianceResult
	for _, init := range v.Inits {
		for _, act := range v.Acts {
			res, err := MeasureVariance(v.Layers, v.Units, init, act, c.Seed, x, r)
			if err != nil {
				return nil, nil, err
			}
			rs = append(rs, res)
			c.Progress.task(fmt.Sprintf("variance: %s + %s", init, act))
		}
	}
	files := []string{"variance_act.png", "variance_grad.png"}
	mk := func(stat func(VarianceResult) []float64) []series {
		var ss []series
		for _, r := range rs {
			ss = append(ss, series{
				Name: r.Init + " + " + r.Act, X: seq(v.Layers), Y: stat(r),
				Color: slices.Index(v.Acts, r.Act), Dash: slices.Index(v.Inits, r.Init),
			})
		}
		return ss
	}
	ticks := floats(depthTicks(v.Layers))
	charts := []chart{
		{
			Title:  fmt.Sprintf("Activation std by depth (%d Dense(%d) layers, batch %d, at initialization)", v.Layers, v.Units, v.Batch),
			XLabel: "layer", YLabel: "std of the activations a_i (log scale)", LogY: true, Ref: 1, XTicks: ticks,
			Series: mk(func(r VarianceResult) []float64 { return r.ActStd }),
		},
		{
			Title:  fmt.Sprintf("Back-propagated gradient std by depth (∂L/∂z_i, std 1 at layer %d's output)", v.Layers),
			XLabel: "layer", YLabel: "std of ∂L/∂z_i (log scale)", LogY: true, Ref: 1, XTicks: ticks,
			Series: mk(func(r VarianceResult) []float64 { return r.GradStd }),
		},
	}
	for i, ch := range charts {
		if err := ch.writePNG(filepath.Join(c.Dir, files[i])); err != nil {
			return nil, nil, err
		}
	}
	return rs, files, nil
}

func findVariance(rs []VarianceResult, init, act string) (VarianceResult, bool) {
	for _, r := range rs {
		if r.Init == init && r.Act == act {
			return r, true
		}
	}
	return VarianceResult{}, false
}

func writeVarianceSummary(w io.Writer, c Config, rs []VarianceResult) {
	v := c.Variance
	fmt.Fprintf(w, "\n== variance: act std at layer %d / grad std at layer 1 (%d Dense(%d), batch %d)\n", v.Layers, v.Layers, v.Units, v.Batch)
	fmt.Fprintf(w, "%-16s", "")
	for _, a := range v.Acts {
		fmt.Fprintf(w, "%20s", a)
	}
	fmt.Fprintln(w)
	for _, init := range v.Inits {
		fmt.Fprintf(w, "%-16s", init)
		for _, act := range v.Acts {
			r, _ := findVariance(rs, init, act)
			fmt.Fprintf(w, "%20s", diagnostics.Num(r.ActStd[v.Layers-1])+" / "+diagnostics.Num(r.GradStd[0]))
		}
		fmt.Fprintln(w)
	}
}

func writeVarianceReport(b *strings.Builder, c Config, rs []VarianceResult) {
	v := c.Variance
	b.WriteString("## 1. Variance through depth (`variance`)\n\n")
	fmt.Fprintf(b, "A standardized batch of %d rows is pushed through %d Dense(%d) layers without bias, each followed by "+
		"the activation, with no training, for every initializer × activation; on the way back the loss "+
		"L = Σ a_%d ⊙ R with a fixed R ~ N(0, 1) sends a gradient of std 1 down from the top. "+
		"The statistics come from `diagnostics.InspectSequential` (the pre-activation z_i is the Dense layer's output, "+
		"a_i the Activation layer's), the same measurement as `go run ./examples/initvariance`.\n\n",
		v.Batch, v.Layers, v.Units, v.Layers)
	fmt.Fprintf(b, "Activation std at layer %d / gradient std at layer 1:\n\n", v.Layers)
	t := mdTable{head: append([]string{"init \\ activation"}, v.Acts...)}
	for _, init := range v.Inits {
		cells := []string{"`" + init + "`"}
		for _, act := range v.Acts {
			r, _ := findVariance(rs, init, act)
			cells = append(cells, diagnostics.Num(r.ActStd[v.Layers-1])+" / "+diagnostics.Num(r.GradStd[0]))
		}
		t.row(cells...)
	}
	b.WriteString(t.String())
	ls := depthTicks(v.Layers)
	for _, part := range []struct {
		what string
		stat func(VarianceResult) []float64
	}{
		{"Activation std a_i by layer", func(r VarianceResult) []float64 { return r.ActStd }},
		{"Activation mean a_i by layer", func(r VarianceResult) []float64 { return r.ActMean }},
		{"Gradient std ∂L/∂z_i by layer", func(r VarianceResult) []float64 { return r.GradStd }},
	} {
		fmt.Fprintf(b, "\n%s:\n\n", part.what)
		head := []string{"init + activation"}
		for _, l := range ls {
			head = append(head, fmt.Sprint(l))
		}
		t := mdTable{head: head}
		for _, r := range rs {
			cells := []string{r.Init + " + " + r.Act}
			for _, l := range ls {
				cells = append(cells, diagnostics.Num(part.stat(r)[l-1]))
			}
			t.row(cells...)
		}
		b.WriteString(t.String())
	}
	b.WriteString("\n![activation std by depth](variance_act.png)\n\n![gradient std by depth](variance_grad.png)\n\n")
	b.WriteString("What to look for: where initialization and activation match (Glorot with tanh, He with ReLU, LeCun with SELU) the " +
		"signal keeps its scale both ways; elsewhere it fades out (ReLU with Glorot or LeCun halves the variance at every layer), " +
		"blows up (SELU with He: twice the variance it wants), or, with the sigmoid, the gradient vanishes whatever the initializer " +
		"(σ′ ≤ 1/4).\n\n")
}
