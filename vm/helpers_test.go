package vm_test

import (
	"testing"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// f32 wraps values as a float32 tensor of the given shape.
func f32(shape []int, vals ...float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
}

// seq returns n float32 values start, start+step, ...
func seq(n int, start, step float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = start + float32(i)*step
	}
	return s
}

// mustCompile compiles fetches of g with default options.
func mustCompile(t testing.TB, g *graph.Graph, fetches ...*graph.Node) *vm.Program {
	t.Helper()
	if err := g.Err(); err != nil {
		t.Fatalf("building the graph: %v", err)
	}
	p, err := compile.Compile(g, fetches, compile.Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// set stores a float32 variable, failing the test on error.
func set(t testing.TB, s *vm.Store, name string, shape []int, vals []float32) {
	t.Helper()
	if err := s.Set(name, f32(shape, append([]float32(nil), vals...)...)); err != nil {
		t.Fatalf("Set(%q): %v", name, err)
	}
}

// float32s returns a tensor's data as a []float32 (shared, not copied).
func float32s(t testing.TB, d *tensor.Dense) []float32 {
	t.Helper()
	if d == nil {
		t.Fatal("nil tensor")
	}
	switch v := d.Data().(type) {
	case []float32:
		return v
	case float32:
		return []float32{v}
	}
	t.Fatalf("tensor of %v, want float32", d.Dtype())
	return nil
}

// affine is the reference for x·w + b with x rows×k, w k×n, b n.
func affine(x, w, b []float32, rows, k, n int) []float32 {
	out := make([]float32, rows*n)
	for i := 0; i < rows; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += float64(x[i*k+l]) * float64(w[l*n+j])
			}
			out[i*n+j] = float32(s) + b[j]
		}
	}
	return out
}
