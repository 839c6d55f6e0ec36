package initializers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/layers"
)

// FuzzInitializerName looks up random initializer names (Lookup, Get and
// Err, a Dense layer's KernelInitializer) and gains (CalculateGain with a
// random parameter). The property: no panic; Lookup, Get/Err and Dense
// agree on whether the name is known; a known initializer fills a kernel
// with finite values; CalculateGain gives a finite positive gain or an
// error.
//
//	go test ./initializers -run XXX -fuzz FuzzInitializerName -fuzztime 30s
func FuzzInitializerName(f *testing.F) {
	for _, name := range append(initializers.Names(), "", "HeNormal", " he_normal ", "he-normal", "glorotuniform", "GLOROT_UNIFORM", "\xff", "relu", "leaky_relu", "tanh") {
		f.Add(name, 0.01)
	}
	f.Add("leaky_relu", math.NaN())
	f.Add("leaky_relu", math.Inf(-1))
	f.Fuzz(func(t *testing.T, name string, param float64) {
		init, err := initializers.Lookup(name)
		if (init == nil) == (err == nil) {
			t.Fatalf("Lookup(%q) = %v, %v: want one of them", name, init, err)
		}
		got := initializers.Get(name)
		if got == nil || (initializers.Err(got) == nil) != (err == nil) {
			t.Fatalf("Get(%q) = %v with Err %v, but Lookup's error is %v", name, got, initializers.Err(got), err)
		}
		if err == nil {
			vals := make([]float64, 12)
			if ierr := init.Initialize(vals, []int{3, 4}, rand.New(rand.NewPCG(1, 2))); ierr != nil {
				t.Fatalf("%q: Initialize of a [3 4] kernel: %v", name, ierr)
			}
			for i, v := range vals {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%q: value %d of a [3 4] kernel is %v", name, i, v)
				}
			}
		}
		derr := layers.NewSequential(layers.Input(3), layers.Dense(4, layers.DenseOptions{KernelInitializer: name})).Build()
		if name != "" && (derr == nil) != (err == nil) {
			t.Fatalf("Dense with KernelInitializer %q: Build error %v, Lookup error %v", name, derr, err)
		}

		gain, gerr := initializers.CalculateGain(name, param)
		if gerr == nil && (math.IsNaN(gain) || math.IsInf(gain, 0) || gain <= 0) {
			t.Fatalf("CalculateGain(%q, %v) = %v without an error", name, param, gain)
		}
	})
}
