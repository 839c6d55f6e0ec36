package graph_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// A two-layer perceptron, forward only: each layer is a name scope with
// its own variables.
func ExampleGraph() {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})

	dense := func(in *graph.Node, units int) (out *graph.Node) {
		g.WithScope(g.UniqueName("dense"), func() {
			w := g.Variable("kernel", graph.Shape{in.Shape()[1], units})
			b := g.Variable("bias", graph.Shape{units})
			out = nodes.Add(nodes.MatMul(in, w), b)
		})
		return out
	}
	h := dense(x, 300)
	h = nodes.Maximum(h, g.Scalar(0)) // ReLU
	logits := dense(h, 10)

	if err := g.Err(); err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range g.Nodes() {
		fmt.Println(n)
	}
	fmt.Println("logits:", logits.DType(), logits.Shape())
	// Output:
	// x = input() : f32[B,784]
	// dense/kernel = variable() : f32[784,300]
	// dense/bias = variable() : f32[300]
	// dense/matmul = matmul(x, dense/kernel) : f32[B,300]
	// dense/add = add(dense/matmul, dense/bias) : f32[B,300]
	// constant = constant() : f32[]
	// maximum = maximum(dense/add, constant) : f32[B,300]
	// dense_1/kernel = variable() : f32[300,10]
	// dense_1/bias = variable() : f32[10]
	// dense_1/matmul = matmul(maximum, dense_1/kernel) : f32[B,10]
	// dense_1/add = add(dense_1/matmul, dense_1/bias) : f32[B,10]
	// logits: f32 [B,10]
}

// Builder calls never return errors: the first one is kept on the graph,
// later calls do nothing, and Err reports it once at the end.
func ExampleGraph_Err() {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 784})
	var logits *graph.Node
	g.WithScope("dense", func() {
		w := g.Variable("kernel", graph.Shape{300, 10}) // should be 784×300
		logits = nodes.MatMul(x, w)
	})
	probs := nodes.Neg(logits) // a no-op: the graph already has an error

	err := g.Err()
	msg, at, _ := strings.Cut(err.Error(), "; at ")
	fmt.Println(msg + ")")
	fmt.Println("called from", strings.Split(at, ":")[0])
	fmt.Println(errors.Is(err, graph.ErrShape), probs.IsPoisoned())

	var oe *graph.OpError
	if errors.As(err, &oe) {
		fmt.Printf("op=%s node=%s inputs=%v\n", oe.Op, oe.Node, oe.Inputs)
	}
	// Output:
	// graph: matmul "dense/matmul": inner dimensions 784 and 300 differ (inputs f32[B,784], f32[300,10])
	// called from example_test.go
	// true true
	// op=matmul node=dense/matmul inputs=[[B,784] [300,10]]
}

// UniqueName hands out Keras-style names for layers.
func ExampleGraph_UniqueName() {
	g := graph.New(graph.Float64)
	for range 3 {
		name := g.UniqueName("dense")
		g.WithScope(name, func() { g.Variable("kernel", graph.Shape{2, 2}) })
	}
	for _, v := range g.Variables() {
		fmt.Println(v.Name())
	}
	// Output:
	// dense/kernel
	// dense_1/kernel
	// dense_2/kernel
}

func ExampleWriteDOT() {
	g := graph.New(graph.Float32)
	x := g.Input("x", graph.Shape{graph.Batch, 3})
	var y *graph.Node
	g.WithScope("dense", func() {
		w := g.Variable("kernel", graph.Shape{3, 2})
		y = nodes.MatMul(x, w)
	})
	err := graph.WriteDOT(os.Stdout, g, graph.DOTOptions{Fetches: []*graph.Node{y}})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// digraph tapegrad {
	// 	rankdir=TB;
	// 	node [fontname="Helvetica", fontsize=10];
	// 	edge [fontname="Helvetica", fontsize=8, arrowsize=0.6];
	// 	n0 [shape=ellipse, style=filled, fillcolor="#cfe2ff", color="#3d6fb4", label="x\nf32[B,3]", tooltip="x"];
	// 	subgraph "cluster_dense" {
	// 		graph [label="dense", tooltip="dense", style="rounded,filled", fillcolor="#f7f7f7", color="#a0a0a0", fontname="Helvetica", fontsize=11];
	// 		n1 [shape=box, style=filled, fillcolor="#d4edda", color="#2e7d32", label="kernel\nf32[3,2]", tooltip="dense/kernel"];
	// 		n2 [shape=box, style="rounded,filled", fillcolor="#ffffff", penwidth=3, color="#c00000", label="matmul\nf32[B,2]", tooltip="dense/matmul"];
	// 	}
	// 	n0 -> n2 [headlabel="0"];
	// 	n1 -> n2 [headlabel="1"];
	// }
}

// RenderDOT turns the DOT text into a drawing with Graphviz's dot program.
// Without Graphviz on PATH its error wraps exec.ErrNotFound; the DOT text
// can then be saved and rendered elsewhere.
func ExampleRenderDOT() {
	g := graph.New(graph.Float32)
	nodes.Neg(g.Input("x", graph.Shape{graph.Batch, 3}))

	var dot bytes.Buffer
	if err := graph.WriteDOT(&dot, g, graph.DOTOptions{Title: "neg"}); err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "tapegrad-dot")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	svg, err := graph.RenderDOT(context.Background(), dot.Bytes(), "svg")
	switch {
	case err == nil:
		err = os.WriteFile(filepath.Join(dir, "neg.svg"), svg, 0o644)
	case errors.Is(err, exec.ErrNotFound):
		// no Graphviz here: keep the DOT text, to render elsewhere
		err = os.WriteFile(filepath.Join(dir, "neg.dot"), dot.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("drawing saved")
	// Output: drawing saved
}
