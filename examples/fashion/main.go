package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/datasets"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/train"
)

func main() {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("fashion", flag.ContinueOnError)
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "epochs per model")
	fs.StringVar(&cfg.Data, "data", cfg.Data, "fashion or mnist")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "the only directory to look for the data set in (default: the usual places)")
	fs.BoolVar(&cfg.Full, "full", cfg.Full, "train on the whole training split (55,000 rows after the 5,000 of validation), as the chapter does")
	fs.IntVar(&cfg.Train, "train", cfg.Train, "training rows (without -full)")
	models := fs.String("models", strings.Join(modelNames(), ","), "models to train, comma-separated")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the weights and the shuffling")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	cfg.Models = splitList(*models)
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "fashion:", err)
		fs.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "fashion:", err)
		stop()
		os.Exit(1)
	}
}

// config is what one run of the example does.
type config struct {
	Epochs  int
	Data    string // "fashion" or "mnist"
	DataDir string // datasets.Options.Dir
	Full    bool
	Train   int // training rows without Full
	Models  []string
	Seed    uint64
}

func defaultConfig() config {
	return config{Epochs: 3, Data: "fashion", Train: 5000, Models: modelNames(), Seed: 42}
}

func (c config) check() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("-epochs %d: want at least 1", c.Epochs)
	case c.Data != "fashion" && c.Data != "mnist":
		return fmt.Errorf("-data %q: want fashion or mnist", c.Data)
	case c.Train < 1:
		return fmt.Errorf("-train %d: want at least 1", c.Train)
	case len(c.Models) == 0:
		return errors.New("no model to train")
	}
	for _, m := range c.Models {
		if !slices.Contains(modelNames(), m) {
			return fmt.Errorf("unknown model %q (valid: %s)", m, strings.Join(modelNames(), ", "))
		}
	}
	return nil
}

// A model of the chapter: how to build it, how to compile it, and whether
// it wants standardized inputs (the SELU nets) or pixels scaled to [0, 1].
type chapterModel struct {
	name        string
	desc        string
	build       func() *train.Model
	optimizer   train.Optimizer
	standardize bool
}

// models are the chapter's Fashion-MNIST models, written as its Keras code
// writes them (Géron, 3rd edition, chapter 11).
var models = []chapterModel{
	{
		// model = tf.keras.Sequential([
		//     tf.keras.layers.Flatten(input_shape=[28, 28]),
		//     tf.keras.layers.Dense(300, kernel_initializer="he_normal"),
		//     tf.keras.layers.LeakyReLU(alpha=0.2),
		//     tf.keras.layers.Dense(100, kernel_initializer="he_normal"),
		//     tf.keras.layers.LeakyReLU(alpha=0.2),
		//     tf.keras.layers.Dense(10, activation="softmax")])
		name: "leaky_relu", desc: "300-100-10, LeakyReLU(alpha=0.2), he_normal, SGD(1e-3)",
		build: func() *train.Model {
			return train.NewSequential(
				layers.Input(28, 28),
				layers.Flatten(),
				layers.Dense(300, layers.DenseOptions{KernelInitializer: "he_normal"}),
				layers.LeakyReLU(layers.LeakyReLUOptions{Alpha: 0.2}),
				layers.Dense(100, layers.DenseOptions{KernelInitializer: "he_normal"}),
				layers.LeakyReLU(layers.LeakyReLUOptions{Alpha: 0.2}),
				layers.Dense(10, layers.DenseOptions{Activation: "softmax"}),
			)
		},
		optimizer: train.SGD{LearningRate: 1e-3},
	},
	{
		name: "prelu", desc: "300-100-10, PReLU, he_normal, SGD(1e-3)",
		build: func() *train.Model {
			return train.NewSequential(
				layers.Input(28, 28),
				layers.Flatten(),
				layers.Dense(300, layers.DenseOptions{KernelInitializer: "he_normal"}),
				layers.PReLU(layers.PReLUOptions{}),
				layers.Dense(100, layers.DenseOptions{KernelInitializer: "he_normal"}),
				layers.PReLU(layers.PReLUOptions{}),
				layers.Dense(10, layers.DenseOptions{Activation: "softmax"}),
			)
		},
		optimizer: train.SGD{LearningRate: 1e-3},
	},
	{
		// for layer in range(100):
		//     model.add(tf.keras.layers.Dense(100, activation="selu",
		//                                     kernel_initializer="lecun_normal"))
		name: "selu100", desc: "100 × Dense(100, selu, lecun_normal), standardized inputs, SGD(1e-3, momentum 0.9)",
		build:     func() *train.Model { return deep("selu", "lecun_normal") },
		optimizer: train.SGD{LearningRate: 1e-3, Momentum: 0.9}, standardize: true,
	},
	{
		name: "relu100", desc: "100 × Dense(100, relu, he_normal), standardized inputs, SGD(1e-3, momentum 0.9)",
		build:     func() *train.Model { return deep("relu", "he_normal") },
		optimizer: train.SGD{LearningRate: 1e-3, Momentum: 0.9}, standardize: true,
	},
	{
		// model = tf.keras.Sequential([
		//     tf.keras.layers.Flatten(input_shape=[28, 28]),
		//     tf.keras.layers.BatchNormalization(),
		//     tf.keras.layers.Dense(300, activation="relu", kernel_initializer="he_normal"),
		//     tf.keras.layers.BatchNormalization(),
		//     tf.keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
		//     tf.keras.layers.BatchNormalization(),
		//     tf.keras.layers.Dense(10, activation="softmax")])
		name: "bn", desc: "BN-300-BN-100-BN-10, relu, he_normal, SGD (Keras's default, 0.01)",
		build: func() *train.Model {
			return train.NewSequential(
				layers.Input(28, 28),
				layers.Flatten(),
				layers.BatchNormalization(layers.BNOptions{}),
				layers.Dense(300, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
				layers.BatchNormalization(layers.BNOptions{}),
				layers.Dense(100, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
				layers.BatchNormalization(layers.BNOptions{}),
				layers.Dense(10, layers.DenseOptions{Activation: "softmax"}),
			)
		},
		optimizer: train.SGD{},
	},
	{
		// The same with BN before each activation and no Dense bias:
		//     tf.keras.layers.Dense(300, kernel_initializer="he_normal", use_bias=False),
		//     tf.keras.layers.BatchNormalization(),
		//     tf.keras.layers.Activation("relu"),
		name: "bn_before", desc: "BN-300-BN-relu-100-BN-relu-10, no Dense bias, he_normal, SGD (0.01)",
		build: func() *train.Model {
			return train.NewSequential(
				layers.Input(28, 28),
				layers.Flatten(),
				layers.BatchNormalization(layers.BNOptions{}),
				layers.Dense(300, layers.DenseOptions{KernelInitializer: "he_normal", UseBias: layers.False}),
				layers.BatchNormalization(layers.BNOptions{}),
				layers.Activation("relu"),
				layers.Dense(100, layers.DenseOptions{KernelInitializer: "he_normal", UseBias: layers.False}),
				layers.BatchNormalization(layers.BNOptions{}),
				layers.Activation("relu"),
				layers.Dense(10, layers.DenseOptions{Activation: "softmax"}),
			)
		},
		optimizer: train.SGD{},
	},
}

// deep is the chapter's 100-layer net.
func deep(act, init string) *train.Model {
	ls := []layers.Layer{layers.Input(28, 28), layers.Flatten()}
	for range 100 {
		ls = append(ls, layers.Dense(100, layers.DenseOptions{Activation: act, KernelInitializer: init}))
	}
	ls = append(ls, layers.Dense(10, layers.DenseOptions{Activation: "softmax"}))
	return train.NewSequential(ls...)
}

func modelNames() []string {
	var ns []string
	for _, m := range models {
		ns = append(ns, m.name)
	}
	return ns
}

// splits are the three splits, with pixels scaled to [0, 1] and
// standardized.
type splits struct {
	train, val, test train.Data
}

// loadData loads the data set, falling back to the MNIST subset embedded
// in package datasets when Fashion-MNIST is not installed (with a note on
// errw), and returns it scaled and standardized, validation held out.
func loadData(errw io.Writer, cfg config) (scaled, standard splits, name string, err error) {
	opts := datasets.Options{Dir: cfg.DataDir}
	if !cfg.Full {
		opts.TrainLimit = cfg.Train + 1000
	}
	var ds *datasets.Dataset
	if cfg.Data == "fashion" {
		ds, err = datasets.FashionMNIST(opts)
		if errors.Is(err, datasets.ErrNotFound) {
			fmt.Fprintf(errw, "fashion: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, or set $%s):\n"+
				"  %v\nfalling back to the MNIST subset embedded in package datasets\n", datasets.EnvData, err)
			opts = datasets.Options{Subset: true}
			ds, err = datasets.MNIST(opts)
		}
	} else {
		if opts.Dir == "" && !cfg.Full {
			opts.Subset = true
		}
		ds, err = datasets.MNIST(opts)
	}
	if err != nil {
		return scaled, standard, "", err
	}
	name = fmt.Sprintf("%s (%s)", ds.Name, ds.Source)
	n := validationRows(ds.Train.Len())
	if n >= ds.Train.Len() {
		return scaled, standard, "", fmt.Errorf("%s has %d training rows: too few for %d of validation", ds.Name, ds.Train.Len(), n)
	}
	for _, dst := range []*splits{&scaled, &standard} {
		tr := datasets.Split{X: ds.Train.X.Clone().(*tensor.Dense), Y: ds.Train.Y}
		te := datasets.Split{X: ds.Test.X.Clone().(*tensor.Dense), Y: ds.Test.Y}
		if err := datasets.Scale01(tr, te); err != nil {
			return scaled, standard, "", err
		}
		tr, va, err := datasets.ValidationSplit(tr, n) // the first n rows, as the chapter does
		if err != nil {
			return scaled, standard, "", err
		}
		if dst == &standard {
			if _, err := datasets.Standardize(tr, va, te); err != nil {
				return scaled, standard, "", err
			}
		}
		*dst = splits{train: train.Data(tr), val: train.Data(va), test: train.Data(te)}
	}
	return scaled, standard, name, nil
}

// validationRows is the chapter's 5,000 for a whole training split,
// 1,000 for a part of one.
func validationRows(trainRows int) int {
	if trainRows > 20000 {
		return 5000
	}
	return 1000
}

// result is one model's outcome.
type result struct {
	name          string
	valAcc, test  float64
	epochTime     time.Duration
	trainableVars int
}

// run trains the configured models, printing Keras-like epoch lines and a
// summary to w.
func run(ctx context.Context, w, errw io.Writer, cfg config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	scaled, standard, name, err := loadData(errw, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d training, %d validation, %d test rows; %d epochs, batch 32, seed %d\n",
		name, scaled.train.X.Shape()[0], scaled.val.X.Shape()[0], scaled.test.X.Shape()[0], cfg.Epochs, cfg.Seed)
	var rs []result
	for _, m := range models {
		if !slices.Contains(cfg.Models, m.name) {
			continue
		}
		data := scaled
		if m.standardize {
			data = standard
		}
		fmt.Fprintf(w, "\n== %s: %s\n", m.name, m.desc)
		model := m.build()
		model.Seed(cfg.Seed)
		if err := model.Compile(train.Config{
			Loss:      train.SparseCategoricalCrossentropy{}, // on the softmax's probabilities, as in Keras
			Optimizer: m.optimizer,
			Metrics:   []string{"accuracy"},
		}); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		h, err := model.Fit(ctx, data.train.X, data.train.Y, train.FitOptions{
			Epochs: cfg.Epochs, ValidationData: &data.val, Seed: cfg.Seed, Progress: w,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		ev, err := model.Evaluate(data.test.X, data.test.Y)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		params, _, err := model.Sequential().Params()
		if err != nil {
			return err
		}
		var total time.Duration
		for _, d := range h.Time {
			total += d
		}
		va := h.Get("val_accuracy")
		rs = append(rs, result{name: m.name, valAcc: va[len(va)-1], test: ev.Metrics["accuracy"],
			epochTime: total / time.Duration(len(h.Time)), trainableVars: params})
		fmt.Fprintf(w, "test: %v\n", ev)
	}
	fmt.Fprintln(w, "\n== summary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tparams\tval_accuracy\ttest accuracy\ttime/epoch\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%v\t\n", r.name, r.trainableVars, r.valAcc, r.test, r.epochTime.Round(time.Millisecond))
	}
	return tw.Flush()
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
