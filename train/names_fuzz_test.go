package train_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/train"
)

// FuzzTrainNames looks up random names with LossByName, OptimizerByName and
// MetricByName (with no loss and with every loss LossByName knows, from
// probabilities and from logits). The property: no panic; a lookup succeeds
// exactly when the name is listed by LossNames, MetricNames, or (after
// strings.ToLower, as Keras's name.lower()) OptimizerNames; an unknown name
// is an error matching graph.ErrArg that quotes it; what a known name gives
// builds on a graph: a loss a scalar of the right name, a metric a scalar
// (or an error recorded on the graph, never a panic), an optimizer its
// update without error.
//
//	go test ./train -run XXX -fuzz FuzzTrainNames -fuzztime 30s
func FuzzTrainNames(f *testing.F) {
	var names []string
	names = append(names, train.LossNames()...)
	names = append(names, train.MetricNames()...)
	names = append(names, train.OptimizerNames()...)
	for _, n := range names {
		f.Add(n)
		f.Add(strings.ToUpper(n))
	}
	for _, n := range []string{"", " adam", "Adam\x00", "ſgd", "\u212Aeras", "mse\n", "val_loss", "loss", "\xff\xfe", "categorical-crossentropy"} {
		f.Add(n)
	}
	losses := []train.Loss{nil}
	for _, n := range train.LossNames() {
		l, err := train.LossByName(n)
		if err != nil {
			f.Fatal(err)
		}
		losses = append(losses, l)
	}
	losses = append(losses,
		train.SparseCategoricalCrossentropy{FromLogits: true},
		train.CategoricalCrossentropy{FromLogits: true},
		train.BinaryCrossentropy{FromLogits: true})

	f.Fuzz(func(t *testing.T, name string) {
		quoted := strconv.Quote(name)
		unknown := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, graph.ErrArg) {
				t.Fatalf("%s(%q): error %v does not match graph.ErrArg", what, name, err)
			}
			if !strings.Contains(err.Error(), quoted) {
				t.Fatalf("%s(%q): error %q does not quote the name", what, name, err)
			}
		}

		// losses
		l, err := train.LossByName(name)
		if known := slices.Contains(train.LossNames(), name); known != (err == nil) || known != (l != nil) {
			t.Fatalf("LossByName(%q) = %v, %v; listed: %v", name, l, err, known)
		}
		if err != nil {
			unknown("LossByName", err)
		} else {
			if again, err := train.LossByName(l.Name()); err != nil || again != l {
				t.Fatalf("LossByName(%q) = %#v, but LossByName of its Name %q = %#v, %v", name, l, l.Name(), again, err)
			}
			g := graph.New(graph.Float32)
			pred := g.Input("pred", graph.Shape{graph.Batch, 3})
			target := g.Input("target", l.TargetShape(pred.Shape()))
			out := l.Build(pred, target)
			if err := g.Err(); err != nil || out == nil || out.Shape().Rank() != 0 {
				t.Fatalf("LossByName(%q).Build: %v, error %v; want a scalar", name, out, err)
			}
		}

		// optimizers
		opt, err := train.OptimizerByName(name)
		if known := slices.Contains(train.OptimizerNames(), strings.ToLower(name)); known != (err == nil) || known != (opt != nil) {
			t.Fatalf("OptimizerByName(%q) = %v, %v; listed: %v", name, opt, err, known)
		}
		if err != nil {
			unknown("OptimizerByName", err)
		} else {
			if opt.Name() != strings.ToLower(name) {
				t.Fatalf("OptimizerByName(%q).Name() = %q", name, opt.Name())
			}
			g := graph.New(graph.Float32)
			w := g.Variable("w", graph.Shape{2})
			grad := g.Constant(graph.Shape{2}, 0.5, -1)
			step, _ := train.NewStep(g, opt.InitialRate())
			updates, err := opt.Apply(step, []*graph.Node{w}, []*graph.Node{grad})
			if err == nil {
				err = g.Err()
			}
			if err != nil || len(updates) == 0 {
				t.Fatalf("OptimizerByName(%q).Apply: %d updates, error %v", name, len(updates), err)
			}
		}

		// metrics, for every kind of loss
		known := slices.Contains(train.MetricNames(), name)
		for _, loss := range losses {
			m, err := train.MetricByName(name, loss)
			if known != (err == nil) || known != (m != nil) {
				t.Fatalf("MetricByName(%q, %#v) = %v, %v; listed: %v", name, loss, m, err, known)
			}
			if err != nil {
				unknown("MetricByName", err)
				continue
			}
			g := graph.New(graph.Float32)
			pred := g.Input("pred", graph.Shape{graph.Batch, 3})
			ts := pred.Shape()
			if loss != nil {
				ts = loss.TargetShape(ts)
			}
			target := g.Input("target", ts)
			out := m.Build(pred, target)
			if g.Err() == nil && (out == nil || out.Shape().Rank() != 0) {
				t.Fatalf("MetricByName(%q, %#v).Build: %v, no error; want a scalar", name, loss, out)
			}
		}
	})
}
