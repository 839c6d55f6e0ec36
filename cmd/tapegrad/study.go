package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tapegrad/tapegrad/experiment"
)

// EnvQuick, when set to a true value ("1", "true"), makes `tapegrad study`
// run its quick configuration, as --quick does: for CI.
const EnvQuick = "TAPEGRAD_STUDY_QUICK"

var studyCommand = command{
	name:  "study",
	args:  "[variance|selfnorm|activations|batchnorm|all]... [flags]",
	short: "runs the chapter's experiments and writes report.md and PNG plots",
	long: "Study runs the chapter's experiments and writes report.md and PNG plots into --out.\n\n" +
		"\tvariance     activation and gradient std through 50 layers at initialization,\n" +
		"\t             {glorot_uniform, he_normal, lecun_normal} × {sigmoid, tanh, relu, selu}\n" +
		"\tselfnorm     a 100-layer SELU net (lecun_normal, standardized inputs) before and\n" +
		"\t             after training, against ReLU and against non-standardized inputs\n" +
		"\tactivations  the same MLP with relu, leaky_relu, rrelu, prelu, elu and selu\n" +
		"\tbatchnorm    a deep sigmoid net without BN, with BN after and before the activation\n\n" +
		"With no experiment named, all of them run: under three minutes on two cores with the\n" +
		"default configuration (the embedded 6,000-image MNIST subset; report.md states every\n" +
		"size). Progress goes to stderr: a bar on a terminal, plain lines otherwise.",
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		out := fs.String("out", "study", "directory for report.md and the plots")
		data := fs.String("data", "mnist", "data set of the training experiments: mnist or fashion")
		dataDir := fs.String("data-dir", "", "the only directory to look for the data set's files in (default: the usual places, see package datasets)")
		full := fs.Bool("full", false, "use the whole data set (60,000 training images), not the 6,000-image subset (MNIST not installed: the subset, with a warning on stderr)")
		quick := fs.Bool("quick", false, "run a tiny configuration in seconds (also when $"+EnvQuick+" is true)")
		seed := fs.Uint64("seed", 42, "seed of the weights, the shuffling and the generated batches")
		epochs := fs.Int("epochs", 0, "epochs of every training experiment (0: each one's default)")
		batch := fs.Int("batch", 32, "training batch size")
		quiet := fs.Bool("quiet", false, "no progress display")
		return func(e *env, args []string) error {
			names, err := experiment.ParseExperiments(args)
			if err != nil {
				return usagef("%v", err)
			}
			if *data != "mnist" && *data != "fashion" {
				return usagef("--data %q: want mnist or fashion", *data)
			}
			if *epochs < 0 {
				return usagef("--epochs %d: want 0 (the defaults) or more", *epochs)
			}
			if *batch < 1 {
				return usagef("--batch %d: want at least 1", *batch)
			}
			if *out == "" {
				return usagef("--out is empty")
			}
			cfg := experiment.Default()
			if q, _ := strconv.ParseBool(os.Getenv(EnvQuick)); q || *quick {
				cfg = experiment.Quick()
			}
			cfg.Dir, cfg.Data, cfg.DataDir, cfg.Full, cfg.Seed, cfg.BatchSize = *out, *data, *dataDir, *full, *seed, *batch
			if *epochs > 0 {
				cfg.SelfNorm.Epochs, cfg.Activations.Epochs, cfg.BatchNorm.Epochs = *epochs, *epochs, *epochs
			}
			cfg.Log, cfg.Warn = e.stdout, e.stderr
			if !*quiet {
				cfg.Progress = experiment.NewProgress(e.stderr, isTerminal(e.stderr))
			}
			start := time.Now()
			res, err := experiment.Run(e.ctx, cfg, names...)
			if err != nil {
				// "tapegrad study: experiment: ..." says nothing more.
				return errors.New(strings.TrimPrefix(err.Error(), "experiment: "))
			}
			fmt.Fprintf(e.stdout, "\nwrote %s and %d plots in %s (%s)\n", filepath.Join(cfg.Dir, experiment.ReportFile),
				len(res.Files)-1, cfg.Dir, time.Since(start).Round(100*time.Millisecond))
			return nil
		}
	},
}
