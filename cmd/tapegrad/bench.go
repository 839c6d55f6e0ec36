package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/vm"
)

var benchCommand = command{
	name:  "bench",
	args:  "[--model A|B|C|D|mlp|all] [--iters N] [--batch N]",
	short: "times the training steps of the reference models",
	long: "Bench runs the reference configurations (internal/refmodels) and prints their step times\n" +
		"(ms/step, allocs/step) at each configuration's batch sizes. A convenience: the\n" +
		"authoritative figures are the Go benchmarks (go test -bench Ref ./internal/refmodels).",
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		model := fs.String("model", "all", "model: "+strings.Join(modelNames, ", ")+", or all (A to D)")
		iters := fs.Int("iters", 20, "timed steps per configuration, after one warm-up step")
		batch := fs.Int("batch", 0, "batch size (0: each configuration's own sizes)")
		return func(e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected argument %q", args[0])
			}
			if *iters < 1 {
				return usagef("--iters %d: want at least 1", *iters)
			}
			if *batch < 0 {
				return usagef("--batch %d: want 0 (the configurations' sizes) or more", *batch)
			}
			var cs []refmodels.Config
			if *model == "all" {
				cs = refmodels.Configs()
			} else {
				c, err := modelConfig(*model, "")
				if err != nil {
					return err
				}
				cs = []refmodels.Config{c}
			}
			fmt.Fprintf(e.stdout, "float32, %d steps each, GOMAXPROCS %d\n", *iters, runtime.GOMAXPROCS(0))
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "model\tbatch\tms/step\tallocs/step\tsamples/s\t\tprogram\t")
			for _, c := range cs {
				batches := c.Batches
				if *batch > 0 {
					batches = []int{*batch}
				}
				for _, n := range batches {
					if err := e.ctx.Err(); err != nil {
						return err
					}
					r, err := benchOne(c, n, *iters)
					if err != nil {
						return fmt.Errorf("%s at batch %d: %w", c.Name, n, err)
					}
					fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.1f\t%.0f\t\t%s\t\n", c.Name, n, r.msPerStep, r.allocsPerStep,
						float64(n)/(r.msPerStep/1000), c.Desc+", "+modeName(c))
				}
			}
			return tw.Flush()
		}
	},
}

type benchResult struct {
	msPerStep, allocsPerStep float64
}

// benchOne compiles configuration c, runs one warm-up step at batch n and
// times iters more, counting the heap allocations they make.
func benchOne(c refmodels.Config, n, iters int) (benchResult, error) {
	step, err := c.Build(graph.Float32)
	if err != nil {
		return benchResult{}, err
	}
	prog, err := compile.Compile(step.Graph, step.Fetches, compile.Options{})
	if err != nil {
		return benchResult{}, err
	}
	store := vm.NewStore()
	if err := store.Init(step.Graph, 42, nil); err != nil {
		return benchResult{}, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*c.Inputs)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	xt, err := vm.FromSlice(x, n, c.Inputs)
	if err != nil {
		return benchResult{}, err
	}
	feeds := vm.Feeds{"x": xt}
	if !c.Inference {
		y := make([]float32, n)
		for i := range y {
			y[i] = float32(rng.IntN(10))
		}
		yt, err := vm.FromSlice(y, n)
		if err != nil {
			return benchResult{}, err
		}
		feeds["y"] = yt
	}
	m := vm.NewMachine(prog, store)
	if _, err := m.Exec(feeds); err != nil { // warm-up: buffers for this batch size
		return benchResult{}, err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range iters {
		if _, err := m.Exec(feeds); err != nil {
			return benchResult{}, err
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return benchResult{
		msPerStep:     float64(elapsed.Microseconds()) / 1000 / float64(iters),
		allocsPerStep: float64(after.Mallocs-before.Mallocs) / float64(iters),
	}, nil
}
