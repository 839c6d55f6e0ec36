package vm_test

import (
	"errors"
	"testing"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// fuzzPrograms are the programs FuzzFeeds feeds: float32 and float64, with
// an open batch dimension on inputs of rank 1 to 3, a scalar input, labels
// (OneHot fails on a bad one), a variable, and one without inputs.
func fuzzPrograms(tb testing.TB) []*vm.Program {
	var progs []*vm.Program
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		g := graph.New(dt)
		x := g.Input("x", graph.Shape{graph.Batch, 3})
		s := g.Input("s", graph.Shape{})
		z := g.Input("z", graph.Shape{graph.Batch, 2, 2})
		labels := g.Input("labels", graph.Shape{graph.Batch})
		g.Input("unused", graph.Shape{4})
		w := g.Variable("w", graph.Shape{3, 2})
		h := nodes.Tanh(nodes.MatMul(x, w))
		y := nodes.Add(nodes.Mul(nodes.Sum(h, false), s), nodes.Sum(z, false))
		loss := nodes.SoftmaxCrossEntropySparse(h, labels)
		for _, fetches := range [][]*graph.Node{{y}, {y, loss}, {nodes.Mul(s, g.Scalar(2))}, {nodes.Sum(w, false)}} {
			p, err := compile.Compile(g, fetches, compile.Options{})
			if err != nil {
				tb.Fatal(err)
			}
			progs = append(progs, p)
		}
	}
	return progs
}

// FuzzFeeds feeds random feeds to compiled programs: inputs of random
// names (the program's, another graph input, unknown ones, the empty
// name), dtypes (float32, float64, int, bool, nil tensors, scalars made
// with tensor.FromScalar), shapes and batch sizes (0 included, batch sizes
// that disagree), and views (a sliced tensor), on a fresh machine and on
// one that has run before, with the guard on or off. The property: Run
// returns values of the fetched shapes or an error, and never panics; an
// error about a feed matches vm.ErrFeed.
//
//	go test ./vm -run XXX -fuzz FuzzFeeds -fuzztime 30s
func FuzzFeeds(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{1, 4, 0, 0, 2, 2, 3, 0, 1, 0, 0, 0, 2, 0, 3, 0, 2, 2, 2, 0, 3, 0, 2},
		{0, 2, 0, 0, 2, 4, 3, 1, 1, 0, 0},
		{5, 3, 0, 1, 2, 2, 3, 1, 0, 2, 3, 3, 3},
		{2, 6, 5, 4, 0, 1, 0, 6, 7, 1, 1, 0},
		[]byte("feeds of every shape and kind"),
	} {
		f.Add(seed)
	}
	progs := fuzzPrograms(f)
	store := vm.NewStore()
	if err := store.SetFloat64s("w", graph.Shape{3, 2}, graph.Float32, []float64{1, 2, 3, 4, 5, 6}); err != nil {
		f.Fatal(err)
	}
	store64 := vm.NewStore()
	if err := store64.SetFloat64s("w", graph.Shape{3, 2}, graph.Float64, []float64{1, 2, 3, 4, 5, 6}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256 {
			return
		}
		s := &feedSource{data: data}
		header := s.byte()
		p := progs[int(header)%len(progs)]
		st := store
		if p.DType == graph.Float64 {
			st = store64
		}
		m := vm.NewMachine(p, st)
		m.SetGuard(header&0x80 != 0)
		for run := 0; run < 3 && !s.done(); run++ {
			feeds := vm.Feeds{}
			for range s.intn(6) {
				name := []string{"x", "s", "z", "labels", "unused", "w", "", "q"}[s.intn(8)]
				feeds[name] = s.tensor()
			}
			out, err := m.Run(feeds)
			if err != nil {
				if errors.Is(err, vm.ErrFeed) || errors.Is(err, vm.ErrNonFinite) {
					continue
				}
				if _, ok := feeds["labels"]; ok {
					continue // a label out of range for OneHot
				}
				t.Fatalf("Run: an error that is not about feeds: %v", err)
			}
			if len(out) != len(p.Fetches) {
				t.Fatalf("Run returned %d values for %d fetches", len(out), len(p.Fetches))
			}
			shapes := m.Shapes(batchOf(feeds, p))
			for i, o := range out {
				if want := shapes[p.Fetches[i]]; !graph.Shape(o.Shape()).Equal(want) {
					t.Fatalf("fetch %d has shape %v, want %v", i, o.Shape(), want)
				}
			}
		}
	})
}

// batchOf is the batch size of feeds that Run accepted (0 without an open
// input).
func batchOf(feeds vm.Feeds, p *vm.Program) int {
	for _, b := range p.Inputs {
		if p.Bufs[b].Shape.IsOpen() {
			return feeds[p.Bufs[b].Name].Shape()[0]
		}
	}
	return 0
}

// feedSource hands out the fuzz input; it gives zeros once exhausted.
type feedSource struct {
	data []byte
	pos  int
}

func (s *feedSource) byte() byte {
	if s.pos >= len(s.data) {
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return b
}

func (s *feedSource) done() bool     { return s.pos >= len(s.data) }
func (s *feedSource) intn(n int) int { return int(s.byte()) % n }

// tensor returns a random feed value.
func (s *feedSource) tensor() *tensor.Dense {
	kind := s.intn(11)
	switch kind {
	case 0:
		return nil
	case 10:
		return new(tensor.Dense) // the zero value: no shape, no data
	case 1:
		return tensor.New(tensor.FromScalar(float32(s.intn(5))))
	case 2:
		return tensor.New(tensor.FromScalar(float64(s.intn(5))))
	}
	shape := make([]int, s.intn(5))
	n := 1
	for i := range shape {
		shape[i] = s.intn(6)
		n *= shape[i]
	}
	var backing any
	switch kind {
	case 3:
		backing = make([]int, n)
	case 4:
		backing = make([]bool, n)
	case 5, 6:
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(s.intn(5)) - 1
		}
		backing = v
	default:
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(s.intn(5)) - 1
		}
		backing = v
	}
	t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
	if len(shape) > 0 && shape[0] > 1 && s.intn(4) == 0 {
		// a view: the first rows, not contiguous with what follows
		v, err := t.Slice(tensor.S(0, shape[0]-1))
		if err == nil {
			if d, ok := v.(*tensor.Dense); ok {
				return d
			}
		}
	}
	return t
}
