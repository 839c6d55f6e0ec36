package kernel

import (
	"fmt"
	"sync"
)

// Float is the element type of every kernel.
type Float interface {
	~float32 | ~float64
}

// Args is what a kernel is bound to: the concrete shapes of its inputs and
// outputs and the buffers that hold them. Dst[0] is the primary output.
// Buffers are fixed for the life of the bound kernel; their contents change
// from run to run.
type Args[T Float] struct {
	In     [][]int // shapes of the inputs
	Out    [][]int // shapes of the outputs
	Src    [][]T   // input buffers, len(Src[i]) == Size(In[i])
	Dst    [][]T   // output buffers, len(Dst[i]) == Size(Out[i])
	Status *Status // where a kernel reports a data-dependent error
}

// Status collects the first data-dependent error of a run.
type Status struct {
	mu  sync.Mutex
	err error
}

// Fail records an error unless one is already recorded. It is safe to call
// from the workers of a parallel loop; it allocates only on failure.
func (s *Status) Fail(format string, args ...any) {
	s.mu.Lock()
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
	s.mu.Unlock()
}

// Err returns the recorded error and clears it.
func (s *Status) Err() error {
	s.mu.Lock()
	err := s.err
	s.err = nil
	s.mu.Unlock()
	return err
}

// Size is the number of elements of a shape.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Strides returns the row-major strides of shape, in elements.
func Strides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// Is64 reports whether T is float64.
func Is64[T Float]() bool {
	var z T
	_, ok := any(z).(float64)
	return ok
}
