package gorgonia

import (
	"fmt"
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/internal/refmodels"
)

// BenchmarkGorgonia measures one step of each reference configuration in
// gorgonia; the names match BenchmarkRef's.
func BenchmarkGorgonia(b *testing.B) {
	for _, c := range refmodels.Configs() {
		for _, n := range c.Batches {
			b.Run(fmt.Sprintf("%s/b%d/f32", c.Name, n), func(b *testing.B) {
				s, err := Build(c, n)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if err := s.Run(); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := s.Run(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func scalar(t *testing.T, v G.Value) float64 {
	t.Helper()
	switch x := v.Data().(type) {
	case float32:
		return float64(x)
	case float64:
		return x
	}
	t.Fatalf("value %v is not a float scalar", v)
	return 0
}

// Every configuration builds and runs; a training step lowers the loss on
// its own batch (so gradients and the update are wired), and the loss
// starts near log 10.
func TestSteps(t *testing.T) {
	for _, c := range refmodels.Configs() {
		n := c.Batches[0]
		t.Run(fmt.Sprintf("%s/b%d", c.Name, n), func(t *testing.T) {
			s, err := Build(c, n)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Run(); err != nil {
				t.Fatal(err)
			}
			if c.Inference {
				if got := s.Output().Shape(); !got.Eq(tensor.Shape{n, 10}) && !(n == 1 && got.TotalSize() == 10) {
					t.Errorf("output shape %v, want (%d, 10)", got, n)
				}
				return
			}
			first := scalar(t, s.Output())
			if first < 1 || first > 10 || math.IsNaN(first) {
				t.Errorf("first loss %v, want about log 10 ≈ 2.3", first)
			}
			var last float64
			for range 10 {
				if err := s.Run(); err != nil {
					t.Fatal(err)
				}
				last = scalar(t, s.Output())
			}
			if !(last < first) {
				t.Errorf("loss went from %v to %v after 10 steps, want lower", first, last)
			}
		})
	}
}

// ELU and SELU written from gorgonia's ops match their formulas.
func TestActivations(t *testing.T) {
	xs := []float32{-3, -1, -0.25, 0, 0.5, 2}
	for _, tc := range []struct {
		name string
		f    func(*G.Node) (*G.Node, error)
		want func(float64) float64
	}{
		{"elu", ELU, func(x float64) float64 {
			if x > 0 {
				return x
			}
			return math.Expm1(x)
		}},
		{"selu", SELU, func(x float64) float64 {
			if x > 0 {
				return seluScale * x
			}
			return seluScale * seluAlpha * math.Expm1(x)
		}},
	} {
		g := G.NewGraph()
		x := G.NewMatrix(g, G.Float32, G.WithShape(2, 3), G.WithName("x"),
			G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(append([]float32(nil), xs...)))))
		y, err := tc.f(x)
		if err != nil {
			t.Fatal(err)
		}
		m := G.NewTapeMachine(g)
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := y.Value().Data().([]float32)
		for i, xv := range xs {
			if w := tc.want(float64(xv)); math.Abs(float64(got[i])-w) > 1e-6*max(1, math.Abs(w)) {
				t.Errorf("%s(%v) = %v, want %v", tc.name, xv, got[i], w)
			}
		}
		m.Close()
	}
}
