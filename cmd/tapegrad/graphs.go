package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/train"
)

// modelNames are the names --model takes.
var modelNames = []string{"A", "B", "C", "D", "mlp"}

// mlpConfig is the chapter's MLP, besides the reference configurations.
var mlpConfig = refmodels.Config{
	Name: "mlp", Desc: "784-300-100-10 ReLU he_normal (the chapter's MLP)", Inputs: 784, Batches: []int{32, 128},
	Model: func() *layers.Sequential {
		return layers.NewSequential(layers.Input(784),
			layers.Dense(300, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
			layers.Dense(100, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
			layers.Dense(10, layers.DenseOptions{}),
		)
	},
}

// modelConfig resolves --model and --mode: the configuration and whether
// its program is the inference one. D is B's inference program; "" mode is
// the model's own (train for A, B, C and mlp).
func modelConfig(name, mode string) (refmodels.Config, error) {
	var c refmodels.Config
	switch {
	case name == "mlp":
		c = mlpConfig
	case len(name) == 1:
		var err error
		if c, err = refmodels.ByName(strings.ToUpper(name)); err != nil {
			return c, usagef("--model %q: want one of %s", name, strings.Join(modelNames, ", "))
		}
	default:
		return c, usagef("--model %q: want one of %s", name, strings.Join(modelNames, ", "))
	}
	switch mode {
	case "":
	case "train", "training":
		if c.Inference {
			return c, usagef("--model %s is the inference program of B: use --model B --mode train, or leave out --mode", c.Name)
		}
	case "infer", "inference":
		c.Inference = true
	default:
		return c, usagef("--mode %q: want train or infer", mode)
	}
	return c, nil
}

func modeName(c refmodels.Config) string {
	if c.Inference {
		return "inference"
	}
	return "training"
}

var dotCommand = command{
	name:  "dot",
	args:  "[--model A|B|C|D|mlp] [--mode train|infer] [--out file.dot]",
	short: "writes the DOT drawing of a reference model's graph (and SVG)",
	long: "Dot writes the DOT (Graphviz) drawing of a reference model's training step or inference graph:\n" +
		"to stdout, or to --out and, when Graphviz's dot is on PATH, an SVG next to it (file.svg).\n" +
		"The models are internal/refmodels' A (784-300-100-10 SELU), B (784-300-BN-ELU-100-BN-ELU-10),\n" +
		"C (3072-(20×100 ELU)-10), D (inference of B) and mlp (784-300-100-10 ReLU).",
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		model := fs.String("model", "A", "model: "+strings.Join(modelNames, ", "))
		mode := fs.String("mode", "", "train or infer (default: train, infer for D)")
		out := fs.String("out", "", "file for the DOT text (default: stdout)")
		collapse := fs.String("collapse", "", "comma-separated name scopes to draw as one box each (gradients, sgd, ...)")
		return func(e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected argument %q", args[0])
			}
			c, err := modelConfig(*model, *mode)
			if err != nil {
				return err
			}
			step, err := c.Build(graph.Float32)
			if err != nil {
				return err
			}
			var collapsed []string
			for _, s := range strings.Split(*collapse, ",") {
				if s = strings.TrimSpace(s); s != "" {
					collapsed = append(collapsed, s)
				}
			}
			var dot bytes.Buffer
			if err := graph.WriteDOT(&dot, step.Graph, graph.DOTOptions{
				Title:    fmt.Sprintf("%s: %s (%s)", c.Name, c.Desc, modeName(c)),
				Fetches:  step.Fetches,
				Prune:    true,
				Collapse: collapsed,
			}); err != nil {
				return err
			}
			if *out == "" {
				_, err := e.stdout.Write(dot.Bytes())
				return err
			}
			if err := writeFileAtomic(*out, dot.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s\n", *out)
			if _, err := exec.LookPath("dot"); err != nil {
				fmt.Fprintln(e.stderr, "tapegrad dot: Graphviz's dot is not on PATH: no SVG")
				return nil
			}
			ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
			defer cancel()
			svg, err := graph.RenderDOT(ctx, dot.Bytes(), "svg")
			if err != nil {
				return err
			}
			svgPath := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".svg"
			if err := writeFileAtomic(svgPath, svg); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s\n", svgPath)
			return nil
		}
	},
}

var explainCommand = command{
	name:  "explain",
	args:  "[--model A|B|C|D|mlp] [--mode train|infer] [--batch N]",
	short: "prints the compiled program of a reference model",
	long: "Explain compiles a reference model's training step or inference program and prints compile.Explain of it:\n" +
		"one line per instruction, what was fused, the buffer plan and the peak memory at batch N.",
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		model := fs.String("model", "A", "model: "+strings.Join(modelNames, ", "))
		mode := fs.String("mode", "", "train or infer (default: train, infer for D)")
		batch := fs.Int("batch", compile.DefaultExplainBatch, "batch size the memory plan is shown for")
		return func(e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected argument %q", args[0])
			}
			if *batch < 1 {
				return usagef("--batch %d: want at least 1", *batch)
			}
			c, err := modelConfig(*model, *mode)
			if err != nil {
				return err
			}
			step, err := c.Build(graph.Float32)
			if err != nil {
				return err
			}
			prog, err := compile.Compile(step.Graph, step.Fetches, compile.Options{})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "# %s: %s, %s program\n", c.Name, c.Desc, modeName(c))
			_, err = io.WriteString(e.stdout, compile.ExplainBatch(prog, *batch))
			return err
		}
	},
}

// writeFileAtomic writes data to path with train.WriteFileAtomic: through a
// temporary file in the same directory, synced, renamed over path, and the
// directory synced; temporary files of earlier writers that died are
// removed.
func writeFileAtomic(path string, data []byte) error {
	if path == "" {
		return errors.New("no file name")
	}
	return train.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
