package autodiff

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/diff/fd"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// CheckOptions tunes Check. The zero value suits a float64 graph; on a
// float32 graph it picks float32's coarser defaults, see Check.
type CheckOptions struct {
	// Step is the finite-difference step h (default 1e-6 for float64 graphs,
	// 1e-2 for float32).
	Step float64
	// Tol is the largest error accepted (default 1e-6 for float64, 1e-2 for
	// float32), measured as |analytic − numeric| / max(1, |analytic|, |numeric|).
	Tol float64
	// MaxElements, when positive, checks at most that many elements of each
	// wrt value, drawn with Seed; zero checks every element.
	MaxElements int
	Seed        uint64
}

// Mismatch describes one checked element.
type Mismatch struct {
	Node     string // the wrt node's name
	Index    []int  // the element's index in the node's value
	Analytic float64
	Numeric  float64
	Error    float64 // |analytic − numeric| / max(1, |analytic|, |numeric|)
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s%v: analytic %.10g, numeric %.10g, error %.3g", m.Node, m.Index, m.Analytic, m.Numeric, m.Error)
}

// Report is what Check found: the worst element over all wrt values and
// the worst of each, and how many elements were checked.
type Report struct {
	Worst   Mismatch
	PerWrt  []Mismatch
	Checked int
}

// Check compares the gradient autodiff builds for a scalar loss with central
// finite differences (gonum's diff/fd), element by element, for wrt nodes
// that are inputs (perturbed in a copy of feeds) or variables (perturbed in
// store and restored). It returns an error when the worst element's error
// is above the tolerance, or when anything cannot be built or run (an
// empty wrt is an error too: a check of nothing would always pass). It adds
// the gradient nodes to g; what Grad refuses (a non-scalar loss, a nil,
// foreign or unused wrt) is recorded on g as Grad records it, while Check's
// own refusals (no wrt, a wrt that is neither an input nor a variable, a
// missing feed or variable) leave g as it was.
//
// The differences are computed in g's dtype: the loss is evaluated by the
// compiled graph itself, so on a float32 graph both the perturbed values
// and the losses are float32, whose round-off (ε ≈ 6e-8, amplified by 1/h)
// limits the check to about two digits; hence float32's defaults of a
// 1e-2 step and a 1e-2 tolerance. That is a smoke test, not a rigorous
// check: for one, build the same graph in float64 (the central differences
// are then float64 throughout) and keep the float64 defaults.
func Check(g *graph.Graph, loss *graph.Node, wrt []*graph.Node, feeds vm.Feeds, store *vm.Store, opts CheckOptions) (Report, error) {
	var rep Report
	if g == nil || loss == nil || loss.Graph() != g {
		return rep, errors.New("autodiff: check: the loss must be a node of the graph")
	}
	if len(wrt) == 0 {
		return rep, errors.New("autodiff: check: nothing to check: no wrt nodes")
	}
	if store == nil {
		store = vm.NewStore()
	}
	is64 := g.DType() == graph.Float64
	if opts.Step <= 0 {
		opts.Step = 1e-6
		if !is64 {
			opts.Step = 1e-2
		}
	}
	if opts.Tol <= 0 {
		opts.Tol = 1e-6
		if !is64 {
			opts.Tol = 1e-2
		}
	}
	grads, err := Grad(loss, wrt...)
	if err != nil {
		return rep, err
	}
	full, err := compile.Compile(g, append([]*graph.Node{loss}, grads...), compile.Options{})
	if err != nil {
		return rep, err
	}
	lossOnly, err := compile.Compile(g, []*graph.Node{loss}, compile.Options{})
	if err != nil {
		return rep, err
	}
	// private copies of the feeds, so perturbing them leaves the caller's alone
	local := vm.Feeds{}
	for k, t := range feeds {
		if t != nil {
			local[k] = t.Clone().(*tensor.Dense)
		}
	}
	out, err := vm.NewMachine(full, store).Run(local)
	if err != nil {
		return rep, err
	}
	m := vm.NewMachine(lossOnly, store)
	eval := func() (float64, error) {
		r, err := m.Exec(local)
		if err != nil {
			return 0, err
		}
		return scalar(r.At(0)), nil
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	rep.Worst.Error = -1
	for wi, w := range wrt {
		analytic := float64s(out[wi+1])
		var get func(i int) float64
		var set func(i int, v float64) error
		switch w.Op().(type) {
		case graph.InputOp:
			t := local[w.Name()]
			if t == nil {
				return rep, fmt.Errorf("autodiff: check: input %q is not fed", w.Name())
			}
			get = func(i int) float64 { return toFloat(t.Get(i)) }
			set = func(i int, v float64) error {
				if is64 {
					t.Set(i, v)
				} else {
					t.Set(i, float32(v))
				}
				return nil
			}
		case graph.VariableOp:
			orig, err := store.Float64s(w.Name())
			if err != nil {
				return rep, err
			}
			cur := append([]float64(nil), orig...)
			defer store.SetFloat64s(w.Name(), w.Shape(), g.DType(), orig) //nolint:errcheck // restoring what was there
			get = func(i int) float64 { return cur[i] }
			set = func(i int, v float64) error {
				old := cur[i]
				cur[i] = v
				err := store.SetFloat64s(w.Name(), w.Shape(), g.DType(), cur)
				cur[i] = old
				return err
			}
		default:
			return rep, fmt.Errorf("autodiff: check: wrt %q is a %s: only inputs and variables can be perturbed", w.Name(), w.Op().Name())
		}
		idx := make([]int, len(analytic))
		for i := range idx {
			idx[i] = i
		}
		if opts.MaxElements > 0 && len(idx) > opts.MaxElements {
			rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
			idx = idx[:opts.MaxElements]
		}
		worst := Mismatch{Node: w.Name(), Error: -1}
		for _, i := range idx {
			x0 := get(i)
			var runErr error
			f := func(x float64) float64 {
				if err := set(i, x); err != nil {
					runErr = err
					return math.NaN()
				}
				v, err := eval()
				if err != nil {
					runErr = err
				}
				return v
			}
			num := fd.Derivative(f, x0, &fd.Settings{Formula: fd.Central, Step: opts.Step})
			if err := set(i, x0); err != nil {
				return rep, err
			}
			if runErr != nil {
				return rep, runErr
			}
			a := analytic[i]
			e := math.Abs(a-num) / math.Max(1, math.Max(math.Abs(a), math.Abs(num)))
			if math.IsNaN(e) {
				e = math.Inf(1)
			}
			rep.Checked++
			if e > worst.Error {
				worst = Mismatch{Node: w.Name(), Index: unravel(i, w.Shape(), out[wi+1].Shape()), Analytic: a, Numeric: num, Error: e}
			}
		}
		rep.PerWrt = append(rep.PerWrt, worst)
		if worst.Error > rep.Worst.Error {
			rep.Worst = worst
		}
	}
	if rep.Worst.Error > opts.Tol {
		return rep, fmt.Errorf("autodiff: check: gradient mismatch above %g at %v", opts.Tol, rep.Worst)
	}
	return rep, nil
}

func scalar(t *tensor.Dense) float64 { return toFloat(t.Get(0)) }

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float32:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

func float64s(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float64:
		return d
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case float64:
		return []float64{d}
	case float32:
		return []float64{float64(d)}
	}
	return nil
}

// unravel turns a flat index into a multi-index of the concrete shape.
func unravel(i int, _ graph.Shape, concrete tensor.Shape) []int {
	idx := make([]int, len(concrete))
	for d := len(concrete) - 1; d >= 0; d-- {
		idx[d] = i % concrete[d]
		i /= concrete[d]
	}
	return idx
}
