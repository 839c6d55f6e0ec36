package main

import (
	"fmt"
	"io"
	"os"
)

// The standard deviation of the activations at the last of 5 layers of 20
// units: SELU with LeCun initialization keeps it near 1, ReLU with Glorot
// lets it shrink.
func Example() {
	cfg := defaultConfig()
	cfg.Layers, cfg.Units, cfg.Batch = 5, 20, 64
	cfg.Inits, cfg.Acts = []string{"lecun_normal", "glorot_uniform"}, []string{"selu", "relu"}
	dir, err := os.MkdirTemp("", "initvariance")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	cfg.Dir = dir
	results, err := run(io.Discard, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		last := r.ActStd[len(r.ActStd)-1]
		fmt.Printf("%s + %s: std near 1: %v\n", r.Init, r.Act, last > 0.5 && last < 2)
	}
	// Output:
	// lecun_normal + selu: std near 1: true
	// lecun_normal + relu: std near 1: false
	// glorot_uniform + selu: std near 1: true
	// glorot_uniform + relu: std near 1: false
}
