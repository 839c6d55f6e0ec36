package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

func main() {
	batch := flag.Int("batch", 4, "rows of generated data to run")
	seed := flag.Uint64("seed", 42, "seed of the weights and of the data")
	out := flag.String("out", ".", "directory for mlp.dot and mlp.svg")
	flag.Parse()
	if err := run(os.Stdout, *batch, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run does the whole walk-through, printing to w.
func run(w io.Writer, batch int, seed uint64, dir string) error {
	if batch < 1 {
		return fmt.Errorf("batch %d: want at least 1", batch)
	}

	// 1. Build: an input with an open batch dimension, three dense layers.
	// Nothing runs here; each call adds a node and checks its shapes.
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	h := x
	sizes := []int{784, 300, 100, 10}
	for i := 1; i < len(sizes); i++ {
		g.WithScope(g.UniqueName("dense"), func() { // dense, dense_1, dense_2
			kernel := g.Variable("kernel", graph.Shape{sizes[i-1], sizes[i]})
			bias := g.Variable("bias", graph.Shape{sizes[i]}, graph.WithInit(initializers.Get("zeros")))
			h = nodes.Add(nodes.MatMul(h, kernel), bias)
			if i < len(sizes)-1 {
				h = nodes.Tanh(h)
			}
		})
	}
	probs := nodes.Softmax(h)
	if err := g.Err(); err != nil { // one check covers every builder call above
		return err
	}

	// 2. Initialize: variables live in a store, outside the graph. Each
	// draws from its own stream of the seed: same seed, same bits.
	store := vm.NewStore()
	if err := store.Init(g, seed, initializers.Get("glorot_uniform")); err != nil {
		return err
	}

	// 3. Compile: prune, fold, fuse (matmul + bias + tanh is one
	// instruction), lower to a program of instructions over buffers.
	prog, err := compile.Compile(g, []*graph.Node{probs}, compile.Options{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "== program\n%v\n", prog)

	// 4. Run on generated data (seeded), batch rows of 784 values in [0, 1).
	rng := rand.New(rand.NewPCG(seed, 1))
	data := make([]float32, batch*784)
	for i := range data {
		data[i] = rng.Float32()
	}
	xs, err := vm.FromSlice(data, batch, 784)
	if err != nil {
		return err
	}
	m := vm.NewMachine(prog, store)
	start := time.Now()
	res, err := m.Run(vm.Feeds{"x": xs})
	if err != nil {
		return err
	}
	took := time.Since(start)
	p := res[0].Float32s()
	fmt.Fprintf(w, "== forward pass\noutput shape %v (first run, binding included: %v)\n", res[0].Shape(), took.Round(time.Microsecond))
	for r := 0; r < min(batch, 3); r++ {
		row := p[r*10 : r*10+10]
		best, sum := 0, float32(0)
		for j, v := range row {
			sum += v
			if v > row[best] {
				best = j
			}
		}
		fmt.Fprintf(w, "row %d: p[0:4] = %.4f  argmax %d  sum %.4f\n", r, row[:4], best, sum)
	}
	start = time.Now()
	const reps = 20
	for range reps {
		if _, err := m.Exec(vm.Feeds{"x": xs}); err != nil { // steady state: no allocation
			return err
		}
	}
	fmt.Fprintf(w, "steady state: %v per forward pass of %d rows\n", (time.Since(start) / reps).Round(time.Microsecond), batch)

	// 5. Draw the graph.
	var dot bytes.Buffer
	if err := graph.WriteDOT(&dot, g, graph.DOTOptions{Title: "784-300-100-10 MLP", Fetches: []*graph.Node{probs}}); err != nil {
		return err
	}
	dotPath := filepath.Join(dir, "mlp.dot")
	if err := os.WriteFile(dotPath, dot.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "== drawing\nwrote %s\n", dotPath)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svg, err := graph.RenderDOT(ctx, dot.Bytes(), "svg")
	switch {
	case errors.Is(err, exec.ErrNotFound):
		fmt.Fprintln(w, "Graphviz's dot is not on PATH: no mlp.svg (apt-get install graphviz)")
	case err != nil:
		return err
	default:
		svgPath := filepath.Join(dir, "mlp.svg")
		if err := os.WriteFile(svgPath, svg, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", svgPath)
	}
	return nil
}
