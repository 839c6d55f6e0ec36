package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Results are what a run of the study measured, experiment by experiment
// (those not run are empty), and the files it wrote.
type Results struct {
	// Config is the configuration that ran, defaults applied.
	Config Config
	// Experiments are the experiments that ran, in order.
	Experiments []string
	// Data is what the training experiments ran on (zero when none ran).
	Data DataInfo
	// Variance, SelfNorm, Activations and BatchNorm are the experiments'
	// results, one entry per net.
	Variance    []VarianceResult
	SelfNorm    []SelfNormResult
	Activations []TrainResult
	BatchNorm   []TrainResult
	// Files are the files written, relative to Config.Dir: report.md
	// first, then the plots.
	Files []string
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// ReportFile is the name of the report Run writes into Config.Dir.
const ReportFile = "report.md"

// Run runs the named experiments (all of them when none is named; see
// ParseExperiments), writes report.md and the plots into cfg.Dir, and
// returns what it measured. A cancelled ctx stops it between two training
// steps with an error wrapping ctx.Err(); nothing is written then.
func Run(ctx context.Context, cfg Config, experiments ...string) (*Results, error) {
	names, err := ParseExperiments(experiments)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 32
	}
	start := time.Now()
	res := &Results{Config: cfg, Experiments: names}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	cfg.Progress.begin(taskCount(cfg, names))
	defer cfg.Progress.end()

	var d *data
	if slices.ContainsFunc(names, func(n string) bool { return n != Variance }) {
		if d, err = loadData(cfg); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		res.Data = d.info
		if w := d.info.Warning; w != "" && cfg.Warn != nil {
			cfg.Progress.end() // on a line of its own
			fmt.Fprintf(cfg.Warn, "warning: %s\n", w)
		}
	}
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	var plots []string
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		var files []string
		switch name {
		case Variance:
			res.Variance, files, err = runVariance(cfg)
			if err == nil {
				cfg.Progress.end() // the summary starts on a line of its own
				writeVarianceSummary(log, cfg, res.Variance)
			}
		case SelfNorm:
			res.SelfNorm, files, err = runSelfNorm(ctx, cfg, d)
			if err == nil {
				cfg.Progress.end() // the summary starts on a line of its own
				writeSelfNormSummary(log, cfg, res.SelfNorm)
			}
		case Activations:
			res.Activations, files, err = runActivations(ctx, cfg, d)
			if err == nil {
				cfg.Progress.end() // the summary starts on a line of its own
				writeTrainSummary(log, "activations", res.Activations)
			}
		case BatchNorm:
			res.BatchNorm, files, err = runBatchNorm(ctx, cfg, d)
			if err == nil {
				cfg.Progress.end() // the summary starts on a line of its own
				writeTrainSummary(log, "batchnorm", res.BatchNorm)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("experiment: %s: %w", name, err)
		}
		plots = append(plots, files...)
	}
	res.Elapsed = time.Since(start)
	path := filepath.Join(cfg.Dir, ReportFile)
	if err := writeFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, report(res))
		return err
	}); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	res.Files = append([]string{ReportFile}, plots...)
	return res, nil
}

// taskCount is the number of tasks the progress display counts: a net
// measured for the variance experiment, an epoch of a training run.
func taskCount(c Config, names []string) int {
	n := 0
	for _, name := range names {
		switch name {
		case Variance:
			n += len(c.Variance.Inits) * len(c.Variance.Acts)
		case SelfNorm:
			n += len(selfNormNets) * c.SelfNorm.Epochs
		case Activations:
			n += (len(c.Activations.Acts) + len(c.Activations.HighRateActs)) * c.Activations.Epochs
		case BatchNorm:
			n += len(bnVariants) * c.BatchNorm.Epochs
		}
	}
	return n
}

// report returns report.md.
func report(r *Results) string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "# Training deep networks: the study\n\n")
	fmt.Fprintf(&b, "The experiments of chapter 11 of Géron's *Hands-On Machine Learning* "+
		"(initialization, nonsaturating activations, self-normalization, Batch Normalization), "+
		"run with tapegrad by `tapegrad study`. Experiments: %s. Wall time %s on %d CPUs "+
		"(GOMAXPROCS %d), %s/%s, %s.\n\n",
		strings.Join(r.Experiments, ", "), r.Elapsed.Round(100*time.Millisecond),
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())

	b.WriteString("## Configuration\n\n")
	t := mdTable{head: []string{"setting", "value"}}
	t.row("seed", fmt.Sprint(c.Seed))
	if r.Data.Name != "" {
		t.row("data", fmt.Sprintf("%s from %s", r.Data.Name, r.Data.Source))
		t.row("rows", fmt.Sprintf("%d training, %d validation (the first rows of the training split), %d test", r.Data.Train, r.Data.Val, r.Data.Test))
		t.row("training", fmt.Sprintf("batches of %d, shuffled every epoch, float32, sparse categorical cross-entropy on logits", c.BatchSize))
	}
	for _, name := range r.Experiments {
		switch name {
		case Variance:
			v := c.Variance
			t.row("variance", fmt.Sprintf("%d × Dense(%d, no bias) + activation, at initialization, a standardized batch of %d rows from N(0, 1); %s × %s",
				v.Layers, v.Units, v.Batch, strings.Join(v.Inits, ", "), strings.Join(v.Acts, ", ")))
		case SelfNorm:
			s := c.SelfNorm
			t.row("selfnorm", fmt.Sprintf("%d × Dense(%d) + Dense(10), %d epochs on the first %s training rows, %s, inspected on the first %d training rows",
				s.Layers, s.Units, s.Epochs, rowsText(s.Rows, r.Data.Train), sgd(s.LearningRate, s.Momentum), s.InspectRows))
		case Activations:
			a := c.Activations
			high := ""
			if len(a.HighRateActs) > 0 {
				high = fmt.Sprintf("; %s again with learning_rate=%g", strings.Join(a.HighRateActs, ", "), a.HighLearningRate)
			}
			t.row("activations", fmt.Sprintf("MLP 784-%s-10, %d epochs on %s training rows, standardized inputs, %s; %s%s",
				joinInts(a.Hidden, "-"), a.Epochs, rowsText(a.Rows, r.Data.Train), sgd(a.LearningRate, a.Momentum), strings.Join(a.Acts, ", "), high))
		case BatchNorm:
			n := c.BatchNorm
			t.row("batchnorm", fmt.Sprintf("%d × Dense(%d, %s) + Dense(10), %d epochs on %s training rows, standardized inputs, %s",
				n.Layers, n.Units, n.Act, n.Epochs, rowsText(n.Rows, r.Data.Train), sgd(n.LearningRate, n.Momentum)))
		}
	}
	b.WriteString(t.String())
	if w := r.Data.Warning; w != "" {
		fmt.Fprintf(&b, "\n**Warning:** %s.\n", w)
	}
	b.WriteString("\nThese defaults are sized so that `tapegrad study` finishes in under three minutes on two cores; " +
		"`--full` trains on the whole data set and `--quick` runs a tiny configuration in seconds (its numbers show little).\n\n")

	for _, name := range r.Experiments {
		switch name {
		case Variance:
			writeVarianceReport(&b, c, r.Variance)
		case SelfNorm:
			writeSelfNormReport(&b, c, r.Data, r.SelfNorm)
		case Activations:
			writeActivationsReport(&b, c, r.Activations)
		case BatchNorm:
			writeBatchNormReport(&b, c, r.BatchNorm)
		}
	}
	return b.String()
}

// sgd writes an SGD configuration the way Keras code does.
func sgd(lr, momentum float64) string {
	if momentum == 0 {
		return fmt.Sprintf("SGD(learning_rate=%g)", lr)
	}
	return fmt.Sprintf("SGD(learning_rate=%g, momentum=%g)", lr, momentum)
}

func rowsText(n, all int) string {
	if n <= 0 || n >= all {
		return fmt.Sprint(all)
	}
	return fmt.Sprint(n)
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, sep)
}

// mdTable is a Markdown table.
type mdTable struct {
	head []string
	rows [][]string
}

func (t *mdTable) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t mdTable) String() string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", "\\|") + " |")
		}
		b.WriteString("\n")
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

// errNoData is returned by a training experiment run without data.
var errNoData = errors.New("no data loaded")
