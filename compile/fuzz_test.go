package compile_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/autodiff"
	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
	"github.com/tapegrad/tapegrad/vm"
)

// FuzzBuildGraph decodes its bytes into a sequence of builder calls (ops of
// the catalogue on earlier nodes, leaves with random and often wrong shapes,
// nil nodes, the open batch dimension), sometimes asks for gradients, then,
// when the graph has no error, compiles it and runs it with random feeds of
// matching shapes and variables in a store. The property: nothing panics;
// every step either works or returns an error, and what Run returns has the
// fetched nodes' shapes. When the first byte has its high bit set, the
// extended catalogue is in play too: batch normalization in both modes and
// its statistics, dropout and alpha dropout with their masks, RReLU, PReLU,
// the losses, every activation by builder, dense layers and BN followed by
// an activation (what the fusing passes look for), ArgMax, NextCount and
// assignments. (Inputs without that bit decode as they did before the
// extension, so the corpus keeps its meaning.)
//
//	go test ./compile -run XXX -fuzz FuzzBuildGraph -fuzztime 60s
func FuzzBuildGraph(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0, 0, 1, 3, 1, 1, 2, 3, 4, 0, 1, 2},
		{1, 0, 0, 2, 2, 3, 1, 0, 2, 2, 2, 4, 0, 1, 18, 2, 1, 0},
		{0, 20, 2, 0, 2, 20, 1, 2, 3, 2, 7, 0, 1, 25, 2, 1, 1, 28, 2},
		[]byte("tapegrad builds graphs and never panics on user input"),
		// the extended catalogue (header bit 7), with the guard (bit 6)
		{0x80, 0, 0, 2, 2, 1, 55, 1, 56, 1, 5, 50, 0, 3, 60, 7, 1},
		{0xc3, 1, 1, 3, 1, 2, 2, 55, 3, 2, 0, 1, 48, 3, 1, 1, 0, 0, 54, 3, 3, 5},
		{0x82, 2, 0, 3, 3, 1, 1, 49, 0, 51, 4, 1, 0, 2, 53, 4, 2, 58, 1, 59, 2, 3},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 512 {
			return // a longer program explores nothing more, only slower
		}
		fuzzGraph(t, &byteSource{data: data})
	})
}

// byteSource hands out the fuzz input; it gives zeros once exhausted.
type byteSource struct {
	data []byte
	pos  int
}

func (s *byteSource) byte() byte {
	if s.pos >= len(s.data) {
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return b
}

func (s *byteSource) done() bool { return s.pos >= len(s.data) }

// intn returns a value in [0, n).
func (s *byteSource) intn(n int) int { return int(s.byte()) % n }

// signed returns a value in [-n, n].
func (s *byteSource) signed(n int) int { return s.intn(2*n+1) - n }

func (s *byteSource) bool() bool { return s.byte()&1 == 1 }

// dim is a dimension: mostly 1 to 4, rarely 0, the open batch (an error
// anywhere but dimension 0 of an input) or negative.
func (s *byteSource) dim() int {
	switch b := s.intn(64); {
	case b == 0:
		return graph.Batch
	case b == 1:
		return 0
	case b == 2:
		return -2 // invalid
	default:
		return 1 + b%4
	}
}

// shape is a shape of rank 0 to 3 (rarely 4); an input's leading dimension
// is often the open batch.
func (s *byteSource) shape(input bool) graph.Shape {
	r := s.intn(4)
	if s.intn(16) == 0 {
		r = 4
	}
	sh := make(graph.Shape, r)
	for i := range sh {
		sh[i] = s.dim()
	}
	if input && r > 0 && s.bool() {
		sh[0] = graph.Batch
	}
	return sh
}

func (s *byteSource) axes() []int {
	ax := make([]int, s.intn(3))
	for i := range ax {
		ax[i] = s.signed(4)
	}
	return ax
}

// fuzzGraph builds, differentiates, compiles and runs one graph.
func fuzzGraph(t *testing.T, s *byteSource) {
	// a header, read first so that running out of bytes while building
	// leaves it alone
	header := s.byte()
	dt := graph.Float32
	if header&1 == 1 {
		dt = graph.Float64
	}
	wantGrad := header&2 != 0
	allowUnused := header&4 != 0
	batch := 1 + int(header>>3)%3
	extended := header&0x80 != 0
	ops := 48
	if extended {
		ops = 48 + extendedOps
	}
	dataSeed := uint64(s.byte())
	g := graph.New(dt)
	var ns []*graph.Node
	names := 0
	name := func() string {
		names++
		if s.intn(20) == 0 {
			return "x" // often a duplicate: an error
		}
		return fmt.Sprintf("n%d", names)
	}
	// pick returns an earlier node, rarely nil
	pick := func() *graph.Node {
		if len(ns) == 0 || s.intn(64) == 0 {
			return nil
		}
		return ns[s.intn(len(ns))]
	}
	// other returns a second operand for a: often a itself or a scalar, so
	// that shapes fit more often than two random picks would
	other := func(a *graph.Node) *graph.Node {
		switch s.intn(6) {
		case 0, 1:
			return a
		case 2:
			return g.Scalar(float64(s.signed(3)))
		}
		return pick()
	}
	// pair returns the operands of op(a, b): b is rarely unrelated to a
	pair := func() (*graph.Node, *graph.Node) {
		a := pick()
		return a, other(a)
	}
	// right returns a variable that fits as the right operand of a·b
	right := func(a *graph.Node) *graph.Node {
		if a == nil || a.Shape().Rank() != 2 || a.Shape()[1] < 0 || s.intn(4) == 0 {
			return pick()
		}
		return g.Variable(name(), graph.Shape{a.Shape()[1], 1 + s.intn(4)})
	}
	var assigns []*graph.Node // fetched, never used by another op
	for steps := 0; steps < 40 && !s.done(); steps++ {
		var n *graph.Node
		switch op := s.intn(ops); op {
		case 0, 1:
			n = g.Input(name(), s.shape(true))
		case 2, 3:
			n = g.Variable(name(), s.shape(false))
		case 4:
			sh := s.shape(false)
			vals := make([]float64, s.intn(5))
			if s.bool() && sh.Size() >= 0 && sh.Size() <= 64 {
				vals = make([]float64, sh.Size())
			}
			for i := range vals {
				vals[i] = float64(s.signed(8)) / 2
			}
			n = g.Constant(sh, vals...)
		case 5:
			n = g.Scalar(float64(s.signed(4)))
		case 6:
			n = nodes.Add(pair())
		case 7:
			n = nodes.Sub(pair())
		case 8:
			n = nodes.Mul(pair())
		case 9:
			n = nodes.Div(pair())
		case 10:
			n = nodes.Neg(pick())
		case 11:
			a := pick()
			n = nodes.MatMul(a, right(a))
		case 12:
			a := pick()
			n = nodes.MatMulT(a, other(a), s.bool(), s.bool())
		case 13:
			n = nodes.Sum(pick(), s.bool(), s.axes()...)
		case 14:
			n = nodes.Mean(pick(), s.bool(), s.axes()...)
		case 15:
			n = nodes.Max(pick(), s.bool(), s.axes()...)
		case 16:
			x := pick()
			var sh graph.Shape
			if x != nil && s.bool() {
				sh = graph.Shape{-1} // flatten (an error when x is open)
				if x.Shape().IsOpen() && s.bool() {
					sh = graph.Shape{-1, fixedSize(x.Shape())}
				}
			} else {
				sh = make(graph.Shape, s.intn(4))
				for i := range sh {
					sh[i] = s.signed(3) + s.intn(6)
				}
			}
			n = nodes.Reshape(x, sh)
		case 17:
			n = nodes.Maximum(pair())
		case 18:
			n = nodes.Minimum(pair())
		case 19:
			a, b := pair()
			switch s.intn(6) {
			case 0:
				n = nodes.Equal(a, b)
			case 1:
				n = nodes.NotEqual(a, b)
			case 2:
				n = nodes.Less(a, b)
			case 3:
				n = nodes.LessEqual(a, b)
			case 4:
				n = nodes.Greater(a, b)
			default:
				n = nodes.GreaterEqual(a, b)
			}
		case 20:
			a, b := pair()
			n = nodes.Where(other(a), a, b)
		case 21:
			n = nodes.SumTo(pair())
		case 22:
			n = nodes.BroadcastLike(pair())
		case 23:
			n = nodes.StopGradient(pick())
		case 24:
			n = nodes.Tanh(pick())
		case 25:
			n = nodes.Sigmoid(pick())
		case 26:
			n = nodes.Exp(pick())
		case 27:
			n = nodes.Log(pick())
		case 28:
			n = nodes.Square(pick())
		case 29:
			n = nodes.Sqrt(pick())
		case 30:
			n = nodes.Abs(pick())
		case 31:
			n = nodes.Pow(pick(), float64(s.signed(6))/2)
		case 32:
			n = nodes.Softmax(pick())
		case 33:
			n = nodes.LogSoftmax(pick())
		case 34:
			perm := make([]int, s.intn(5))
			for i := range perm {
				perm[i] = s.signed(4)
			}
			n = nodes.Transpose(pick(), perm...)
		case 35:
			n = nodes.Slice(pick(), s.signed(3), s.signed(4), s.signed(5))
		case 36:
			xs := make([]*graph.Node, s.intn(4))
			for i := range xs {
				xs[i] = pick()
				if i > 0 && s.bool() {
					xs[i] = xs[0]
				}
			}
			n = nodes.Concat(s.signed(3), xs...)
		case 37:
			n = nodes.OneHot(pick(), s.signed(2)+2)
		case 38:
			n = nodes.Flatten(pick())
		case 39:
			n = nodes.ZerosLike(pick())
		case 40:
			n = nodes.OnesLike(pick())
		case 41:
			n = nodes.Reciprocal(pick())
		case 42:
			n = nodes.Sign(pick())
		case 43:
			// any activation by its Keras name, or an unknown name
			names := nodes.ActivationNames()
			act := "no_such_activation"
			if i := s.intn(len(names) + 1); i < len(names) {
				act = names[i]
			}
			n = nodes.Activation(act, pick())
		case 44:
			n = nodes.LeakyReLU(pick(), float64(s.signed(4))/4)
		case 45:
			n = nodes.ELU(pick(), float64(s.signed(4))/2)
		case 46:
			g.PushScope(fmt.Sprintf("s%d", s.intn(3)))
			continue
		case 47:
			g.PopScope()
			continue
		default:
			var isAssign bool
			n, isAssign = extendedOp(g, s, op-48, pick, other, name)
			if isAssign {
				assigns = append(assigns, n)
				continue
			}
		}
		ns = append(ns, n)
	}

	// fetch the last node and a few others; with wantGrad, the gradient of
	// the sum of the last node with respect to some earlier ones too
	var fetches []*graph.Node
	var last *graph.Node
	if len(ns) > 0 {
		last = ns[len(ns)-1]
		fetches = append(fetches, last)
	}
	if wantGrad && last != nil {
		loss := nodes.Sum(last, false)
		var wrt []*graph.Node
		for i := range len(ns)%3 + 1 {
			wrt = append(wrt, ns[(len(ns)*7+i*5)%len(ns)])
		}
		before := g.Err()
		grads, err := autodiff.GradWith(loss, wrt, autodiff.Options{AllowUnused: allowUnused})
		switch {
		case err == nil:
			fetches = append(fetches, loss)
			fetches = append(fetches, grads...)
		case err != g.Err():
			// a graph error, earlier or met while building the gradient,
			// or Grad's refusal (sticky too), is what Grad returns
			t.Fatalf("Grad = %v, but the graph's error is %v", err, g.Err())
		case before == nil:
			// Grad refused a graph that was fine, and the refusal is now
			// the graph's error: build the same graph again without the
			// gradient, so that its forward pass is still compiled and run
			data := slices.Clone(s.data)
			data[0] &^= 2
			fuzzGraph(t, &byteSource{data: data})
			return
		}
	}
	if len(ns) > 1 {
		fetches = append(fetches, ns[len(ns)/2])
	}
	fetches = append(fetches, assigns...)

	p, err := compile.Compile(g, fetches, compile.Options{})
	if gerr := g.Err(); gerr != nil {
		if err != gerr {
			t.Fatalf("Compile of a graph with error %v returned %v, want the graph's error", gerr, err)
		}
		return
	}
	if err != nil {
		return // nil or poisoned fetches, nothing to fetch: an error is right
	}
	_ = p.String()

	rng := rand.New(rand.NewPCG(dataSeed, 1))
	feeds := vm.Feeds{}
	for _, in := range g.Inputs() {
		feeds[in.Name()] = randomTensor(dt, in.Shape().WithBatch(batch), rng)
	}
	// each program runs on a store of its own, initialized alike, so that
	// one's assignments do not change what the next one reads
	newStore := func() *vm.Store {
		store := vm.NewStore()
		if err := store.Init(g, 7, uniformInit{}); err != nil {
			t.Fatalf("Store.Init on a graph without error: %v", err)
		}
		return store
	}
	m := vm.NewMachine(p, newStore())
	m.SetGuard(header&0x40 != 0) // the guard changes nothing but errors
	var out, first []*tensor.Dense
	for range 2 { // twice: the second run reuses the machine's instance
		out, err = m.Run(feeds)
		if errors.Is(err, vm.ErrNonFinite) {
			var ge *vm.GuardError
			if !errors.As(err, &ge) || ge.Instruction == "" {
				t.Fatalf("a guard error without its instruction: %v", err)
			}
			return
		}
		if err != nil {
			return // a data-dependent kernel error (OneHot of a bad label), or a batch too small for a slice
		}
		if first == nil {
			first = out
		}
		if len(out) != len(fetches) {
			t.Fatalf("Run returned %d values for %d fetches", len(out), len(fetches))
		}
		for i, o := range out {
			want := fetches[i].Shape().WithBatch(batch)
			if got := graph.Shape(o.Shape()); !got.Equal(want) {
				t.Fatalf("fetch %d (%s): Run gave shape %v, want %v", i, fetches[i], got, want)
			}
		}
	}

	// the passes change how, not what. With every pass disabled the
	// program computes the same values as with every pass but the fusions:
	// the same kernels on the same data, so the same bits (up to the sign
	// of a zero). A fusion may round differently (it may keep an
	// intermediate in a register of another precision), so the fully
	// optimized program is compared with a tolerance.
	var all, fusions []string
	for _, ps := range compile.Passes {
		all = append(all, ps.Name)
		if strings.HasPrefix(ps.Name, "fuse-") || ps.Name == "fold-bn" {
			fusions = append(fusions, ps.Name)
		}
	}
	raw, err := compile.Compile(g, fetches, compile.Options{Disable: all})
	if err != nil {
		t.Fatalf("Compile with every pass disabled: %v (with them: no error)", err)
	}
	out = first // the values of a first run, as on the fresh stores below
	rawOut, err := vm.NewMachine(raw, newStore()).Run(feeds)
	if err != nil {
		return // it also computes what the fetches do not need, which may fail
	}
	unfused, err := compile.Compile(g, fetches, compile.Options{Disable: fusions})
	if err != nil {
		t.Fatalf("Compile without fusions: %v (with them: no error)", err)
	}
	unfusedOut, err := vm.NewMachine(unfused, newStore()).Run(feeds)
	if err != nil {
		t.Fatalf("Run without fusions: %v (with them, and with no pass: no error)", err)
	}
	// float32 round-off: a few ulps (2⁻²⁴ ≈ 6e-8) grown through a handful of
	// ops; float64 likewise at 2⁻⁵³. Measured against max(1, |x|, |y|).
	tol := 1e-4
	if dt == graph.Float64 {
		tol = 1e-12
	}
	for i := range out {
		x, y, z := float64s(out[i]), float64s(rawOut[i]), float64s(unfusedOut[i])
		for k := range x {
			if z[k] != y[k] && !(z[k] != z[k] && y[k] != y[k]) {
				t.Fatalf("fetch %d (%s) element %d: %v compiled without fusions, %v with no pass\n%v\n%v", i, fetches[i], k, z[k], y[k], unfused, raw)
			}
			if !near(x[k], y[k], tol) {
				t.Fatalf("fetch %d (%s) element %d: %v compiled with every pass, %v with none\n%v\n%v", i, fetches[i], k, x[k], y[k], p, raw)
			}
		}
	}
}

// near reports whether x and y agree to tol relative to max(1, |x|, |y|),
// NaN matching NaN and an infinity itself.
func near(x, y, tol float64) bool {
	switch {
	case x == y, x != x && y != y:
		return true
	case math.IsInf(x, 0) || math.IsInf(y, 0) || x != x || y != y:
		return false
	}
	return math.Abs(x-y) <= tol*math.Max(1, math.Max(math.Abs(x), math.Abs(y)))
}

// float64s returns a tensor's values as float64 (Float32s and Float64s,
// unlike Data, work for values with no elements).
func float64s(t *tensor.Dense) []float64 {
	if t.Dtype() == tensor.Float64 {
		return t.Float64s()
	}
	f := t.Float32s()
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// randomTensor returns a tensor of the given dtype and shape with values in
// [-2, 2], integers half of the time (so OneHot sometimes gets valid labels).
func randomTensor(dt graph.DType, shape graph.Shape, rng *rand.Rand) *tensor.Dense {
	n := max(shape.Size(), 0)
	ints := rng.IntN(2) == 0
	v := func() float64 {
		if ints {
			return float64(rng.IntN(3))
		}
		return rng.Float64()*4 - 2
	}
	var backing any
	if dt == graph.Float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(v())
		}
		backing = d
	} else {
		d := make([]float64, n)
		for i := range d {
			d[i] = v()
		}
		backing = d
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
}

// uniformInit fills with U(-1, 1).
type uniformInit struct{}

func (uniformInit) Initialize(dst []float64, _ []int, rng *rand.Rand) error {
	for i := range dst {
		dst[i] = rng.Float64()*2 - 1
	}
	return nil
}

// fixedSize is the product of the fixed dimensions of s.
func fixedSize(s graph.Shape) int {
	n := 1
	for _, d := range s {
		if d != graph.Batch {
			n *= d
		}
	}
	return n
}

// extendedOps is the number of ops extendedOp knows.
const extendedOps = 14

// extendedOp adds op k of the extended catalogue (see FuzzBuildGraph) and
// reports whether it is an assignment (fetched, never read by other ops).
func extendedOp(g *graph.Graph, s *byteSource, k int, pick func() *graph.Node, other func(*graph.Node) *graph.Node, name func() string) (*graph.Node, bool) {
	// channels returns a variable shaped like the last axis of x (what BN,
	// PReLU and a bias want), or rarely an unrelated node
	channels := func(x *graph.Node) *graph.Node {
		if x == nil || x.Shape().Rank() == 0 || s.intn(8) == 0 {
			return pick()
		}
		c := x.Shape()[x.Shape().Rank()-1]
		if c < 0 {
			c = 1 + s.intn(3)
		}
		return g.Variable(name(), graph.Shape{c})
	}
	// counter returns a scalar variable, or rarely another node
	counter := func() *graph.Node {
		if s.intn(8) == 0 {
			return pick()
		}
		return g.Variable(name(), graph.Shape{})
	}
	rate := func() float64 { return []float64{0, 0.1, 0.5, 0.9, 1, -0.5, math.NaN()}[s.intn(7)] }
	eps := func() float64 { return []float64{0, 1e-5, 1e-3, -1, math.Inf(1)}[s.intn(5)] }
	switch k {
	case 0:
		x := pick()
		y := nodes.BatchNormTrain(x, channels(x), channels(x), nodes.BNOptions{Axis: s.signed(2), Epsilon: eps(), Unbiased: s.bool()})
		if s.bool() {
			st := nodes.BatchNormStats(y)
			return []*graph.Node{st.Mean, st.Variance, st.InvStd, st.MovingVariance, y}[s.intn(5)], false
		}
		return y, false
	case 1:
		x := pick()
		return nodes.BatchNormInfer(x, channels(x), channels(x), channels(x), channels(x), eps()), false
	case 2:
		x := pick()
		r := rate()
		axes := make([]int, s.intn(2))
		for i := range axes {
			axes[i] = s.signed(3)
		}
		mask := nodes.DropoutMask(x, r, uint64(s.byte()), counter(), axes...)
		if s.bool() {
			return nodes.AlphaDropoutWithMask(x, mask, r), false
		}
		return nodes.DropoutWithMask(x, mask, r), false
	case 3:
		lo, hi := rate(), rate()
		return nodes.RReLU(pick(), lo, hi, s.bool(), uint64(s.byte()), counter()), false
	case 4:
		x := pick()
		if s.bool() {
			return nodes.PReLU(x, channels(x)), false
		}
		return nodes.LeakyReLUWithSlopes(x, other(x)), false
	case 5:
		pred, target := pick(), pick()
		if s.bool() {
			target = other(pred)
		}
		losses := []func(a, b *graph.Node) *graph.Node{
			nodes.SoftmaxCrossEntropySparse, nodes.SoftmaxCrossEntropySparsePerExample,
			nodes.SoftmaxCrossEntropy, nodes.SoftmaxCrossEntropyPerExample,
			nodes.SigmoidCrossEntropyWithLogits, nodes.SigmoidCrossEntropyWithLogitsPerElement,
			nodes.MSE, nodes.MAE, nodes.SquaredError, nodes.AbsoluteError,
			nodes.BinaryCrossEntropyFromProbsPerElement, nodes.CategoricalCrossEntropyFromProbsPerExample,
			nodes.SparseCategoricalCrossEntropyFromProbsPerExample,
			func(a, b *graph.Node) *graph.Node { return nodes.Huber(a, b, eps()) },
			func(a, b *graph.Node) *graph.Node { return nodes.HuberError(a, b, eps()) },
		}
		return losses[s.intn(len(losses))](pred, target), false
	case 6:
		acts := []func(*graph.Node) *graph.Node{
			nodes.ReLU, nodes.ReLU6, nodes.HardSigmoid, nodes.SELU, nodes.GELU, nodes.GELUTanh,
			nodes.Softplus, nodes.SiLU, nodes.Swish, nodes.Exponential, nodes.Linear,
		}
		return acts[s.intn(len(acts))](pick()), false
	case 7:
		// a dense layer: matmul, bias, activation (fuse-dense-act)
		x := pick()
		var w *graph.Node
		if x != nil && x.Shape().Rank() == 2 && x.Shape()[1] >= 0 && s.intn(4) != 0 {
			w = g.Variable(name(), graph.Shape{x.Shape()[1], 1 + s.intn(4)})
		} else {
			w = pick()
		}
		h := nodes.MatMul(x, w)
		if s.bool() {
			h = nodes.Add(h, channels(h))
		}
		names := nodes.ActivationNames()
		return nodes.Activation(names[s.intn(len(names))], h), false
	case 8:
		// BN then an activation (fuse-bn-act)
		x := pick()
		y := nodes.BatchNormTrain(x, channels(x), channels(x), nodes.BNOptions{})
		names := nodes.ActivationNames()
		return nodes.Activation(names[s.intn(len(names))], y), false
	case 9:
		return nodes.ArgMax(pick()), false
	case 10:
		return nodes.NextCount(counter()), false
	case 11:
		// an assignment to a variable of the graph, or to something else
		var v *graph.Node
		if vs := g.Variables(); len(vs) > 0 && s.intn(8) != 0 {
			v = vs[s.intn(len(vs))]
		} else {
			v = pick()
		}
		return nodes.Assign(v, other(v)), true
	case 12:
		return nodes.ELU(pick(), []float64{1, 0.5, 0, -1, math.NaN()}[s.intn(5)]), false
	default:
		return nodes.OneHot(pick(), s.signed(3)+3), false
	}
}
