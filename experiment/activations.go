package experiment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tapegrad/tapegrad/diagnostics"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/train"
)

// activationBlocks writes one hidden layer of the activations experiment
// for each activation, the way the chapter does in Keras: He
// initialization for the ReLU family and ELU, LeCun for SELU; leaky ReLU
// with α = 0.2 (the chapter's), RReLU with PyTorch's bounds 1/8 and 1/3,
// PReLU as Keras's (α starts at 0, one per unit).
var activationBlocks = map[string]func(units int) []layers.Layer{
	"relu": func(u int) []layers.Layer {
		return []layers.Layer{layers.Dense(u, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"})}
	},
	"leaky_relu": func(u int) []layers.Layer {
		return []layers.Layer{
			layers.Dense(u, layers.DenseOptions{KernelInitializer: "he_normal"}),
			layers.LeakyReLU(layers.LeakyReLUOptions{Alpha: 0.2}),
		}
	},
	"rrelu": func(u int) []layers.Layer {
		return []layers.Layer{
			layers.Dense(u, layers.DenseOptions{KernelInitializer: "he_normal"}),
			layers.RReLU(layers.RReLUOptions{}),
		}
	},
	"prelu": func(u int) []layers.Layer {
		return []layers.Layer{
			layers.Dense(u, layers.DenseOptions{KernelInitializer: "he_normal"}),
			layers.PReLU(layers.PReLUOptions{}),
		}
	},
	"elu": func(u int) []layers.Layer {
		return []layers.Layer{layers.Dense(u, layers.DenseOptions{Activation: "elu", KernelInitializer: "he_normal"})}
	},
	"selu": func(u int) []layers.Layer {
		return []layers.Layer{layers.Dense(u, layers.DenseOptions{Activation: "selu", KernelInitializer: "lecun_normal"})}
	},
}

// ActivationMLP returns the activations experiment's MLP for act (one of
// relu, leaky_relu, rrelu, prelu, elu, selu): 784 inputs, the hidden
// layers, Dense(10) logits. It also returns, for each hidden layer, the
// index of the layer whose output is its activation (for diagnostics).
// The model is built: another activation, no hidden layer or one of fewer
// than 1 unit is an error.
func ActivationMLP(act string, hidden []int) (*layers.Sequential, []int, error) {
	block, ok := activationBlocks[act]
	if !ok {
		return nil, nil, fmt.Errorf("experiment: ActivationMLP: unknown activation %q (valid: %s)", act, strings.Join(slices.Sorted(maps.Keys(activationBlocks)), ", "))
	}
	if len(hidden) == 0 {
		return nil, nil, errors.New("experiment: ActivationMLP: no hidden layer")
	}
	for i, u := range hidden {
		if u < 1 {
			return nil, nil, fmt.Errorf("experiment: ActivationMLP: hidden layer %d has %d units: want at least 1", i+1, u)
		}
	}
	m := layers.NewSequential(layers.Input(784))
	var outs []int
	n := 0
	for _, u := range hidden {
		for _, l := range block(u) {
			m.Add(l)
			n++
		}
		outs = append(outs, n-1)
	}
	m.Add(layers.Dense(10, layers.DenseOptions{}))
	if err := m.Build(); err != nil {
		return nil, nil, fmt.Errorf("experiment: ActivationMLP: %w", err)
	}
	return m, outs, nil
}

func runActivations(ctx context.Context, c Config, d *data) ([]TrainResult, []string, error) {
	if d == nil {
		return nil, nil, errNoData
	}
	a := c.Activations
	tr, err := head(d.standard.train, a.Rows)
	if err != nil {
		return nil, nil, err
	}
	type run struct {
		name, act string
		lr        float64
	}
	var runs []run
	for _, act := range a.Acts {
		runs = append(runs, run{act, act, a.LearningRate})
	}
	for _, act := range a.HighRateActs {
		runs = append(runs, run{fmt.Sprintf("%s, learning_rate=%g", act, a.HighLearningRate), act, a.HighLearningRate})
	}
	var rs []TrainResult
	for _, ru := range runs {
		m, outs, err := ActivationMLP(ru.act, a.Hidden)
		if err != nil {
			return nil, nil, err
		}
		r, err := fit(ctx, c, fitSpec{
			label:     "activations: " + ru.name,
			model:     m,
			optimizer: train.SGD{LearningRate: ru.lr, Momentum: a.Momentum},
			epochs:    a.Epochs,
			data:      splits{train: tr, val: d.standard.val, test: d.standard.test},
			inspect:   d.standard.val,
		})
		if err != nil {
			return nil, nil, err
		}
		r.Name = ru.name
		r.Before, r.After = hiddenOnly(r.Before, outs), hiddenOnly(r.After, outs)
		rs = append(rs, r)
	}
	files, err := curves(c.Dir, "activations", fmt.Sprintf("MLP 784-%s-10", joinInts(a.Hidden, "-")), rs)
	return rs, files, err
}

// hiddenOnly keeps the layers of a report that are hidden activations.
func hiddenOnly(r diagnostics.Report, idx []int) diagnostics.Report {
	all := r.Layers
	r.Layers = nil
	for _, i := range idx {
		if i < len(all) {
			r.Layers = append(r.Layers, all[i])
		}
	}
	return r
}

func writeActivationsReport(b *strings.Builder, c Config, rs []TrainResult) {
	a := c.Activations
	b.WriteString("## 3. Nonsaturating activations (`activations`)\n\n")
	fmt.Fprintf(b, "The same MLP 784-%s-10 trained with each activation: `he_normal` for the ReLU family and ELU, "+
		"`lecun_normal` for SELU, leaky ReLU with α = 0.2, RReLU with slopes drawn from U(1/8, 1/3) in training, "+
		"PReLU with one learned α per unit starting at 0 (Keras's). Inputs standardized; %d epochs of "+
		"%s. Dead units (zero on every one of the %s validation rows) and zeros are counted by "+
		"`diagnostics` on each hidden layer's activation, at initialization and after training.",
		joinInts(a.Hidden, "-"), a.Epochs, sgd(a.LearningRate, a.Momentum), valRows(rs))
	if len(a.HighRateActs) > 0 {
		fmt.Fprintf(b, " The last rows train %s again with a learning rate of %g: large steps are what kill ReLU units.",
			strings.Join(a.HighRateActs, " and "), a.HighLearningRate)
	}
	b.WriteString("\n\n")
	head := []string{"activation", "val accuracy", "best val accuracy", "test accuracy", "s/epoch"}
	for i := range a.Hidden {
		head = append(head, fmt.Sprintf("dead units, layer %d (init → end)", i+1))
	}
	for i := range a.Hidden {
		head = append(head, fmt.Sprintf("zeros, layer %d (end)", i+1))
	}
	t := mdTable{head: head}
	for _, r := range rs {
		best := 0.0
		for _, v := range r.ValAccuracy {
			best = max(best, v)
		}
		cells := []string{r.Name, fmt.Sprintf("%.4f", final(r.ValAccuracy)), fmt.Sprintf("%.4f", best),
			fmt.Sprintf("%.4f", r.TestAccuracy), fmt.Sprintf("%.2f", r.MeanEpochTime().Seconds())}
		for i := range a.Hidden {
			cells = append(cells, deadCell(r.Before, r.After, i))
		}
		for i := range a.Hidden {
			z := "-"
			if i < len(r.After.Layers) {
				z = diagnostics.Percent(r.After.Layers[i].Zeros)
			}
			cells = append(cells, z)
		}
		t.row(cells...)
	}
	b.WriteString(t.String())
	b.WriteString("\nValidation accuracy per epoch:\n\n")
	b.WriteString(curveTable(rs).String())
	b.WriteString("\n![validation accuracy](activations_accuracy.png)\n\n![training loss](activations_loss.png)\n\n")
	b.WriteString("What to look for: only ReLU has exact zeros, hence units that can die (a dead unit outputs 0 and " +
		"passes no gradient on every input, so nothing brings it back); the leaky variants and ELU/SELU keep a gradient " +
		"for negative inputs and never die. On a network this shallow the differences in accuracy are small; the chapter's " +
		"ranking (SELU > ELU > leaky ReLU variants > ReLU > tanh > sigmoid) is a rule of thumb, and RReLU's random slopes " +
		"and PReLU's extra parameters cost time per epoch.\n\n")
}

func deadCell(before, after diagnostics.Report, i int) string {
	if i >= len(before.Layers) || i >= len(after.Layers) {
		return "-"
	}
	return fmt.Sprintf("%d → %d of %d", before.Layers[i].DeadUnits, after.Layers[i].DeadUnits, after.Layers[i].Units)
}

func valRows(rs []TrainResult) string {
	if len(rs) == 0 {
		return "0"
	}
	return fmt.Sprint(rs[0].After.Rows)
}

// curveTable is the validation accuracy of each run per epoch.
func curveTable(rs []TrainResult) mdTable {
	epochs := 0
	for _, r := range rs {
		epochs = max(epochs, len(r.ValAccuracy))
	}
	head := []string{"model"}
	for e := range epochs {
		head = append(head, fmt.Sprint(e+1))
	}
	t := mdTable{head: head}
	for _, r := range rs {
		cells := []string{r.Name}
		for e := range epochs {
			if e < len(r.ValAccuracy) {
				cells = append(cells, fmt.Sprintf("%.4f", r.ValAccuracy[e]))
			} else {
				cells = append(cells, "-")
			}
		}
		t.row(cells...)
	}
	return t
}
