package testutil

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// Value is a named tensor of float64 data: a feed, a variable or a result.
type Value struct {
	Name  string
	Shape []int
	Data  []float64
}

// Tensor converts data to a tensor of dtype.
func Tensor(dt graph.DType, shape []int, data []float64) *tensor.Dense {
	if dt == graph.Float32 {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), data...)))
}

// Float64s returns a copy of a tensor's data as float64 (empty tensors
// included, which gorgonia's Data() does not handle).
func Float64s(t *tensor.Dense) []float64 {
	switch t.Dtype() {
	case tensor.Float64:
		return append([]float64{}, t.Float64s()...)
	case tensor.Float32:
		d := t.Float32s()
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	return nil
}

// Run builds a graph of dtype dt whose inputs are ins (fed with their data,
// shapes as given), calls build to get the nodes to fetch, compiles, runs
// and returns the fetched values.
func Run(dt graph.DType, ins []Value, build func(g *graph.Graph, in []*graph.Node) []*graph.Node) ([]Value, error) {
	g := graph.New(dt)
	nodes := make([]*graph.Node, len(ins))
	feeds := vm.Feeds{}
	for i, v := range ins {
		nodes[i] = g.Input(v.Name, v.Shape)
		feeds[v.Name] = Tensor(dt, v.Shape, v.Data)
	}
	outs := build(g, nodes)
	if err := g.Err(); err != nil {
		return nil, err
	}
	return run(g, outs, feeds, vm.NewStore())
}

// RunVJP is Run followed by the vector–Jacobian product of the single
// output y = build(...) with the upstream cotangent up: it returns y and
// the gradients for every input (zeros for inputs y does not depend on).
func RunVJP(dt graph.DType, ins []Value, up []float64, build func(g *graph.Graph, in []*graph.Node) *graph.Node) (y Value, grads []Value, err error) {
	g := graph.New(dt)
	nodes := make([]*graph.Node, len(ins))
	feeds := vm.Feeds{}
	for i, v := range ins {
		nodes[i] = g.Input(v.Name, v.Shape)
		feeds[v.Name] = Tensor(dt, v.Shape, v.Data)
	}
	out := build(g, nodes)
	if err := g.Err(); err != nil {
		return y, nil, err
	}
	if out == nil {
		return y, nil, fmt.Errorf("testutil: build returned nil")
	}
	shape := out.Shape()
	seed := g.Constant(shape, up...)
	gs, err := autodiff.GradWith(out, nodes, autodiff.Options{Seed: seed, AllowUnused: true})
	if err != nil {
		return y, nil, err
	}
	vals, err := run(g, append([]*graph.Node{out}, gs...), feeds, vm.NewStore())
	if err != nil {
		return y, nil, err
	}
	for i := range gs {
		vals[i+1].Name = ins[i].Name
	}
	return vals[0], vals[1:], nil
}

func run(g *graph.Graph, outs []*graph.Node, feeds vm.Feeds, store *vm.Store) ([]Value, error) {
	p, err := compile.Compile(g, outs, compile.Options{})
	if err != nil {
		return nil, err
	}
	res, err := vm.NewMachine(p, store).Run(feeds)
	if err != nil {
		return nil, err
	}
	vals := make([]Value, len(res))
	for i, t := range res {
		vals[i] = Value{Name: outs[i].Name(), Shape: append([]int(nil), t.Shape()...), Data: Float64s(t)}
	}
	return vals, nil
}
