package vm

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/graph"
)

// Store holds the variables of a model by name: parameters, and state such
// as BatchNorm moving statistics and optimizer slots. Programs do not own
// variables; every machine bound to a store reads and writes the store's
// memory directly, so the training, evaluation and inference programs of one
// model share their variables.
//
// A variable's memory is allocated once, when it is created, and never
// replaced: Set copies into it. That is what lets machines bind to it.
type Store struct {
	mu   sync.RWMutex
	vars map[string]*storeVar
	gen  atomic.Uint64 // bumped by every write
}

// Generation is a counter that changes whenever a variable is created,
// set, deleted, or written by a program's assignments. Machines use it to
// know when values computed from variables alone must be recomputed.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// touch records a write.
func (s *Store) touch() { s.gen.Add(1) }

type storeVar struct {
	shape graph.Shape
	dtype graph.DType
	f32   []float32
	f64   []float64
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{vars: map[string]*storeVar{}} }

// Names returns the names of the store's variables, sorted.
func (s *Store) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.vars))
	for n := range s.vars {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Has reports whether the store holds a variable of that name.
func (s *Store) Has(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.vars[name]
	return ok
}

// Shape returns a variable's shape and dtype.
func (s *Store) Shape(name string) (graph.Shape, graph.DType, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vars[name]
	if !ok {
		return nil, 0, false
	}
	return v.shape.Clone(), v.dtype, true
}

// Set stores a copy of t under name. A new name creates the variable with
// t's shape and dtype; an existing one must have the same shape and dtype,
// and its memory is overwritten in place.
func (s *Store) Set(name string, t *tensor.Dense) error {
	if t == nil {
		return fmt.Errorf("vm: store: set %q: nil tensor", name)
	}
	dt := dtypeOf(t)
	if dt == 0 {
		return fmt.Errorf("vm: store: set %q: dtype %v: want float32 or float64", name, t.Dtype())
	}
	shape := graph.Shape(append([]int(nil), t.Shape()...))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.slot(name, shape, dt)
	if err != nil {
		return err
	}
	defer s.touch()
	if dt == graph.Float32 {
		copy(v.f32, dataOf[float32](t))
	} else {
		copy(v.f64, dataOf[float64](t))
	}
	return nil
}

// SetFloat64s stores values (converted to dtype) under name with the given
// shape, with the same rules as Set.
func (s *Store) SetFloat64s(name string, shape graph.Shape, dtype graph.DType, values []float64) error {
	if !dtype.Valid() {
		return fmt.Errorf("vm: store: set %q: unsupported dtype %v", name, dtype)
	}
	if shape.IsOpen() || shape.Size() != len(values) {
		return fmt.Errorf("vm: store: set %q: %d values for shape %v", name, len(values), shape)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.slot(name, shape, dtype)
	if err != nil {
		return err
	}
	defer s.touch()
	if dtype == graph.Float32 {
		for i, x := range values {
			v.f32[i] = float32(x)
		}
	} else {
		copy(v.f64, values)
	}
	return nil
}

// slot returns the variable name, creating it when absent. Callers hold mu.
func (s *Store) slot(name string, shape graph.Shape, dt graph.DType) (*storeVar, error) {
	if name == "" {
		return nil, fmt.Errorf("vm: store: empty variable name")
	}
	if v, ok := s.vars[name]; ok {
		if !v.shape.Equal(shape) || v.dtype != dt {
			return nil, fmt.Errorf("vm: store: set %q: have %v%v, got %v%v", name, v.dtype, v.shape, dt, shape)
		}
		return v, nil
	}
	v := &storeVar{shape: shape.Clone(), dtype: dt}
	if dt == graph.Float32 {
		v.f32 = make([]float32, shape.Size())
	} else {
		v.f64 = make([]float64, shape.Size())
	}
	s.vars[name] = v
	return v, nil
}

// Get returns a copy of a variable as a tensor.
func (s *Store) Get(name string) (*tensor.Dense, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vars[name]
	if !ok {
		return nil, fmt.Errorf("vm: store: no variable %q", name)
	}
	if v.dtype == graph.Float32 {
		return newDense(v.shape, slices.Clone(v.f32)), nil
	}
	return newDense(v.shape, slices.Clone(v.f64)), nil
}

// Float64s returns a copy of a variable's values as float64.
func (s *Store) Float64s(name string) ([]float64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vars[name]
	if !ok {
		return nil, fmt.Errorf("vm: store: no variable %q", name)
	}
	if v.dtype == graph.Float64 {
		return slices.Clone(v.f64), nil
	}
	out := make([]float64, len(v.f32))
	for i, x := range v.f32 {
		out[i] = float64(x)
	}
	return out, nil
}

// Delete removes a variable. Machines already bound to it keep its memory.
func (s *Store) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.vars, name)
	s.touch()
}

// bind returns the memory of a variable for a machine of element type T,
// checking shape and dtype.
func bindVar[T float32 | float64](s *Store, name string, shape graph.Shape, dt graph.DType) ([]T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vars[name]
	if !ok {
		return nil, fmt.Errorf("vm: variable %q is not in the store (initialize the store or Set it)", name)
	}
	if !v.shape.Equal(shape) || v.dtype != dt {
		return nil, fmt.Errorf("vm: variable %q: the store has %v%v, the program wants %v%v", name, v.dtype, v.shape, dt, shape)
	}
	var d any
	if dt == graph.Float32 {
		d = v.f32
	} else {
		d = v.f64
	}
	return d.([]T), nil
}

// Init creates, for every variable of g the store does not hold yet, its
// initial value: from the variable's own initializer (graph.WithInit), else
// from def. Each variable draws from its own random stream, derived from seed
// and the variable's name, so the same seed gives the same bits and adding a
// variable leaves the others' values unchanged. Variables already in the
// store are left alone (rebuilding a model for another mode or batch size
// must not reset it), but must have the graph's shape and dtype.
func (s *Store) Init(g *graph.Graph, seed uint64, def graph.Initializer) error {
	if g == nil {
		return fmt.Errorf("vm: store: init: nil graph")
	}
	if err := g.Err(); err != nil {
		return err
	}
	for _, n := range g.Variables() {
		op := n.Op().(graph.VariableOp)
		if shape, dt, ok := s.Shape(n.Name()); ok {
			if !shape.Equal(op.Shape) || dt != g.DType() {
				return fmt.Errorf("vm: store: init: variable %q: the store has %v%v, the graph wants %v%v", n.Name(), dt, shape, g.DType(), op.Shape)
			}
			continue
		}
		init := op.Init
		if init == nil {
			init = def
		}
		if init == nil {
			return fmt.Errorf("vm: store: init: variable %q has no initializer and no default was given", n.Name())
		}
		vals := make([]float64, op.Shape.Size())
		if err := init.Initialize(vals, op.Shape, Stream(seed, n.Name())); err != nil {
			return fmt.Errorf("vm: store: init: variable %q: %w", n.Name(), err)
		}
		if err := s.SetFloat64s(n.Name(), op.Shape, g.DType(), vals); err != nil {
			return err
		}
	}
	return nil
}

// Stream returns the random stream of the variable name under the model
// seed: PCG seeded with seed and the FNV-1a hash of the name.
func Stream(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}
