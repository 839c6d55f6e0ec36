package experiment

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// The names of the experiments, in the order Run runs them.
const (
	Variance    = "variance"
	SelfNorm    = "selfnorm"
	Activations = "activations"
	BatchNorm   = "batchnorm"
)

// ExperimentNames returns the experiments' names, in the order Run runs
// them.
func ExperimentNames() []string { return []string{Variance, SelfNorm, Activations, BatchNorm} }

// ParseExperiments turns command-line words into experiment names, in
// Run's order and without duplicates: no word or "all" means every
// experiment. An unknown word is an error that lists the valid ones.
func ParseExperiments(words []string) ([]string, error) {
	want := map[string]bool{}
	for _, w := range words {
		w = strings.ToLower(strings.TrimSpace(w))
		switch {
		case w == "all":
			for _, n := range ExperimentNames() {
				want[n] = true
			}
		case slices.Contains(ExperimentNames(), w):
			want[w] = true
		default:
			return nil, fmt.Errorf("unknown experiment %q (valid: %s, all)", w, strings.Join(ExperimentNames(), ", "))
		}
	}
	var out []string
	for _, n := range ExperimentNames() {
		if want[n] || len(want) == 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

// Config is everything a run of the study depends on. Default is the
// configuration `tapegrad study` runs (under three minutes on two cores),
// Quick a tiny one for tests and CI (seconds).
type Config struct {
	// Dir is the directory report.md and the plots are written to; it is
	// created if needed. Default's is "study".
	Dir string
	// Data is the data set of the training experiments: "mnist" or
	// "fashion".
	Data string
	// Full uses the whole data set (60,000 training images) instead of the
	// first 6,000 training and 1,000 test images. For MNIST without Full
	// the images are the subset embedded in package datasets, whatever is
	// installed, so that the default run is the same everywhere. MNIST
	// with Full where the whole set is not installed falls back to that
	// subset, with a warning (Warn, DataInfo.Warning and the report).
	Full bool
	// DataDir, when set, is the only directory the data set is looked for
	// in (datasets.Options.Dir); by default the usual places are searched.
	DataDir string
	// ValRows is the number of training rows held out for validation (the
	// first ones, as the Keras examples do); 0 means 1,000, or 5,000 with
	// Full.
	ValRows int
	// Seed seeds everything: the weights, the shuffling, the batches drawn
	// for the variance experiment.
	Seed uint64
	// BatchSize is the training batch size (Keras's 32 when 0).
	BatchSize int

	// Variance, SelfNorm, Activations and BatchNorm configure the four
	// experiments.
	Variance    VarianceConfig
	SelfNorm    SelfNormConfig
	Activations ActivationsConfig
	BatchNorm   BatchNormConfig

	// Log receives a summary of each experiment as it ends (nil: none).
	Log io.Writer
	// Warn receives a line "warning: ..." for each warning as it arises,
	// such as the data set's (DataInfo.Warning) (nil: none; the report
	// states them either way).
	Warn io.Writer
	// Progress shows the run's progress (nil: none).
	Progress *Progress
}

// VarianceConfig is the variance-through-depth experiment: for every pair
// of Inits × Acts, a stack of Layers Dense(Units) layers without bias,
// each followed by the activation, at initialization, on a standardized
// batch of Batch rows drawn from N(0, 1).
type VarianceConfig struct {
	// Layers is the depth, Units the width (and the number of input
	// features), Batch the rows of the input batch.
	Layers, Units, Batch int
	// Inits and Acts are the kernel initializers and the activations, by
	// Keras name; every pair is measured.
	Inits, Acts []string
}

// SelfNormConfig is the self-normalization experiment: a net of Layers
// hidden Dense(Units) layers, SELU with lecun_normal on standardized
// inputs, against ReLU with he_normal and against SELU on inputs scaled to
// [0, 1], trained Epochs epochs on the first Rows training rows (0: all)
// with SGD(LearningRate, Momentum), its activations inspected on the first
// InspectRows training rows before and after.
type SelfNormConfig struct {
	// Layers is the number of hidden layers, Units their width.
	Layers, Units int
	// Epochs of training on the first Rows training rows (0: all).
	Epochs, Rows int
	// LearningRate and Momentum of the SGD optimizer.
	LearningRate float64
	Momentum     float64
	// InspectRows is the number of training rows the diagnostics look at.
	InspectRows int
}

// ActivationsConfig is the activations experiment: one MLP with the Hidden
// layer sizes trained Epochs epochs on the first Rows training rows (0:
// all) with each of Acts, SGD(LearningRate, Momentum); then with each of
// HighRateActs at HighLearningRate, where ReLU units die.
type ActivationsConfig struct {
	// Hidden are the sizes of the hidden layers.
	Hidden []int
	// Acts are the activations to compare: relu, leaky_relu, rrelu, prelu,
	// elu, selu.
	Acts []string
	// Epochs of training on the first Rows training rows (0: all).
	Epochs, Rows int
	// LearningRate and Momentum of the SGD optimizer.
	LearningRate float64
	Momentum     float64
	// HighLearningRate is the learning rate of the runs of HighRateActs
	// (none when HighRateActs is empty).
	HighLearningRate float64
	// HighRateActs are the activations trained again at HighLearningRate.
	HighRateActs []string
}

// BatchNormConfig is the Batch Normalization experiment: a net of Layers
// hidden Dense(Units) layers with activation Act, without BN, with BN
// after each activation, and with BN before each activation (the Dense
// layer then without bias), trained Epochs epochs on the first Rows
// training rows (0: all) with SGD(LearningRate, Momentum).
type BatchNormConfig struct {
	// Layers is the number of hidden blocks, Units their width.
	Layers, Units int
	// Act is the activation, by Keras name; the kernel initializer follows
	// it (Glorot for sigmoid and tanh, LeCun for SELU, He otherwise).
	Act string
	// Epochs of training on the first Rows training rows (0: all).
	Epochs, Rows int
	// LearningRate and Momentum of the SGD optimizer.
	LearningRate float64
	Momentum     float64
}

// Default returns the configuration of `tapegrad study`, sized to finish in
// under three minutes on two cores with the embedded MNIST subset (5,000
// training and 1,000 validation rows, 1,000 test rows).
func Default() Config {
	return Config{
		Dir: "study", Data: "mnist", Seed: 42, BatchSize: 32,
		Variance: VarianceConfig{
			Layers: 50, Units: 100, Batch: 1000,
			Inits: []string{"glorot_uniform", "he_normal", "lecun_normal"},
			Acts:  []string{"sigmoid", "tanh", "relu", "selu"},
		},
		SelfNorm: SelfNormConfig{
			Layers: 100, Units: 100, Epochs: 5,
			LearningRate: 1e-3, InspectRows: 500,
		},
		Activations: ActivationsConfig{
			Hidden: []int{300, 100},
			Acts:   []string{"relu", "leaky_relu", "rrelu", "prelu", "elu", "selu"},
			Epochs: 10, LearningRate: 1e-2, Momentum: 0.9,
			HighLearningRate: 4e-2, HighRateActs: []string{"relu", "elu"},
		},
		BatchNorm: BatchNormConfig{
			Layers: 20, Units: 100, Act: "sigmoid", Epochs: 5,
			LearningRate: 1e-2, Momentum: 0.9,
		},
	}
}

// Quick returns a tiny configuration that runs every experiment in a few
// seconds: what the tests and CI run. Its numbers show little.
func Quick() Config {
	c := Default()
	c.ValRows = 200
	c.Variance.Layers, c.Variance.Units, c.Variance.Batch = 10, 16, 64
	c.SelfNorm.Layers, c.SelfNorm.Units, c.SelfNorm.Epochs, c.SelfNorm.Rows, c.SelfNorm.InspectRows = 10, 16, 1, 256, 64
	c.Activations.Hidden, c.Activations.Epochs, c.Activations.Rows = []int{32, 16}, 2, 512
	c.BatchNorm.Layers, c.BatchNorm.Units, c.BatchNorm.Epochs, c.BatchNorm.Rows = 4, 16, 2, 512
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Dir == "" {
		bad("no output directory")
	}
	if c.Data != "mnist" && c.Data != "fashion" {
		bad("data %q: want mnist or fashion", c.Data)
	}
	if c.ValRows < 0 {
		bad("validation rows %d: want 0 (the default) or more", c.ValRows)
	}
	if c.BatchSize < 0 {
		bad("batch size %d: want 0 (32) or more", c.BatchSize)
	}
	v := c.Variance
	if v.Layers < 1 || v.Units < 1 || v.Batch < 2 {
		bad("variance: %d layers of %d units on %d rows: want at least 1, 1 and 2", v.Layers, v.Units, v.Batch)
	}
	if len(v.Inits) == 0 || len(v.Acts) == 0 {
		bad("variance: no initializer or no activation to try")
	}
	s := c.SelfNorm
	if s.Layers < 1 || s.Units < 1 || s.Epochs < 1 || s.Rows < 0 || s.InspectRows < 1 || !(s.LearningRate > 0) || s.Momentum < 0 || s.Momentum >= 1 {
		bad("selfnorm: %+v: want positive sizes, epochs and learning rate, momentum in [0, 1)", s)
	}
	a := c.Activations
	if len(a.Hidden) == 0 || slices.ContainsFunc(a.Hidden, func(n int) bool { return n < 1 }) || len(a.Acts) == 0 || a.Epochs < 1 || a.Rows < 0 || !(a.LearningRate > 0) || a.Momentum < 0 || a.Momentum >= 1 {
		bad("activations: %+v: want hidden sizes, activations, positive epochs and learning rate, momentum in [0, 1)", a)
	}
	if len(a.HighRateActs) > 0 && !(a.HighLearningRate > 0) {
		bad("activations: high learning rate %g: want more than 0", a.HighLearningRate)
	}
	for _, act := range slices.Concat(a.Acts, a.HighRateActs) {
		if _, ok := activationBlocks[act]; !ok {
			bad("activations: unknown activation %q (valid: %s)", act, strings.Join(slices.Sorted(maps.Keys(activationBlocks)), ", "))
		}
	}
	b := c.BatchNorm
	if b.Layers < 1 || b.Units < 1 || b.Act == "" || b.Epochs < 1 || b.Rows < 0 || !(b.LearningRate > 0) || b.Momentum < 0 || b.Momentum >= 1 {
		bad("batchnorm: %+v: want positive sizes, an activation, positive epochs and learning rate, momentum in [0, 1)", b)
	}
	return errors.Join(errs...)
}
