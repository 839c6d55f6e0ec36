package nodes_test

import (
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/nodes"
)

// FuzzActivationName looks up random activation names through every way
// a user gives one: nodes.LookupActivation, nodes.Activation on a graph,
// the Activation layer and Dense's Activation option. The property: no
// panic; all four agree on whether the name is known; the known names are
// exactly ActivationNames and "" (linear); an unknown name is an error that
// quotes it, and a known one builds a node of its input's shape (softmax
// and log_softmax included).
//
//	go test ./nodes -run XXX -fuzz FuzzActivationName -fuzztime 30s
func FuzzActivationName(f *testing.F) {
	for _, name := range append(nodes.ActivationNames(), "", "ReLU", "relu ", "leaky-relu", "swish\x00", "\xff", "linear", "soft max") {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		fn, err := nodes.LookupActivation(name)
		known := name == "" || slices.Contains(nodes.ActivationNames(), name)
		if (err == nil) != known {
			t.Fatalf("LookupActivation(%q): error %v, but the name is known: %v", name, err, known)
		}
		if (fn != nil) != known {
			t.Fatalf("LookupActivation(%q) returned a function %v with error %v", name, fn != nil, err)
		}

		g := graph.New(graph.Float32)
		x := g.Input("x", graph.Shape{graph.Batch, 3})
		y := nodes.Activation(name, x)
		if known != (g.Err() == nil) {
			t.Fatalf("Activation(%q): graph error %v, known %v", name, g.Err(), known)
		}
		if known && !y.Shape().Equal(x.Shape()) {
			t.Fatalf("Activation(%q) has shape %v, want %v", name, y.Shape(), x.Shape())
		}
		if !known && y != nil && !y.IsPoisoned() {
			t.Fatalf("Activation(%q) of an unknown name returned a usable node", name)
		}

		for _, l := range []layers.Layer{layers.Activation(name), layers.Dense(2, layers.DenseOptions{Activation: name})} {
			err := layers.NewSequential(layers.Input(3), l).Build()
			if known != (err == nil) {
				t.Fatalf("%T with activation %q: Build error %v, known %v", l, name, err, known)
			}
		}
	})
}
