package vm

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/tapegrad/tapegrad/graph"
)

// Memory limits. A machine allocates one arena per batch size it runs
// (Plan.Arena elements of the program's dtype). Program.MemoryLimit and
// Machine.SetMemoryLimit cap that arena: a batch size whose plan exceeds the
// cap is refused, with the plan's size in the error, before anything is
// allocated, rather than running the process out of memory in the middle
// of training. Variables live in the store and are not counted; nor is the
// sum over batch sizes: each batch size the machine runs has its own arena
// of at most the limit.

// ErrMemoryLimit is matched (errors.Is) by the error of a run, or of
// Machine.CheckBatch, whose memory plan exceeds the limit.
var ErrMemoryLimit = errors.New("memory limit exceeded")

// SetMemoryLimit sets the most bytes the machine may allocate for one
// batch size (its arena), replacing the program's MemoryLimit; zero or
// less means no limit. Batch sizes already run are not checked again.
func (m *Machine) SetMemoryLimit(bytes int64) {
	if m != nil {
		m.limit = max(bytes, 0)
	}
}

// MemoryLimit returns the machine's limit in bytes (0 for none).
func (m *Machine) MemoryLimit() int64 {
	if m == nil {
		return 0
	}
	return m.limit
}

// CheckBatch plans the program for a batch size, without allocating it,
// and returns the error a run at that batch size would give for its shapes
// or its memory (ErrMemoryLimit). It is nil for a batch size already run.
func (m *Machine) CheckBatch(batch int) error {
	if m == nil || m.prog == nil {
		return errors.New("vm: nil machine or program")
	}
	if _, ok := m.cache[batch]; ok {
		return nil
	}
	_, sizes, err := m.prog.concreteSizes(batch)
	if err != nil {
		return err
	}
	return m.prog.checkMemory(batch, planMemory(m.prog, sizes), m.limit)
}

// MemoryFor returns the bytes of the arena a machine allocates to run p at
// a batch size (what Explain prints as the planned memory).
func (p *Program) MemoryFor(batch int) (int64, error) {
	_, sizes, err := p.concreteSizes(batch)
	if err != nil {
		return 0, err
	}
	return int64(planMemory(p, sizes).Arena) * int64(p.DType.Size()), nil
}

// maxArenaBytes is the most memory a plan may ask for at all, limit or
// not: more than a Go slice can hold on 64-bit platforms (2⁴⁸ bytes, where
// make panics) and than any machine has, or what an int addresses on 32-bit
// ones.
const maxArenaBytes = min(math.MaxInt, 1<<46)

// concreteSizes returns the concrete shapes of p's buffers for a batch size
// and their sizes in elements, refusing sizes whose arena could not be
// addressed (a dimension product or a total that overflows).
func (p *Program) concreteSizes(batch int) ([]graph.Shape, []int, error) {
	shapes, err := p.ConcreteShapes(batch)
	if err != nil {
		return nil, nil, err
	}
	elem := uint64(max(p.DType.Size(), 1))
	limit := uint64(maxArenaBytes) / elem
	sizes := make([]int, len(shapes))
	var total uint64
	for i, sh := range shapes {
		n := uint64(1)
		for _, d := range sh {
			hi, lo := bits.Mul64(n, uint64(max(d, 0)))
			if hi != 0 || lo > limit {
				return nil, nil, fmt.Errorf("vm: batch size %d: buffer %q of shape %v is too large to address: %w", batch, p.Bufs[i].Name, sh, ErrMemoryLimit)
			}
			n = lo
		}
		sizes[i] = int(n)
		if p.Bufs[i].Kind != BufVariable {
			total += n
			if total > limit {
				return nil, nil, fmt.Errorf("vm: batch size %d: the buffers need more than %s: %w", batch, formatBytes(maxArenaBytes), ErrMemoryLimit)
			}
		}
	}
	return shapes, sizes, nil
}

// checkMemory returns an error when a plan's arena exceeds limit bytes.
func (p *Program) checkMemory(batch int, plan Plan, limit int64) error {
	if limit <= 0 {
		return nil
	}
	need := int64(plan.Arena) * int64(p.DType.Size())
	if need <= limit {
		return nil
	}
	return fmt.Errorf("vm: batch size %d: the memory plan needs %s (%d %v values for inputs, constants and temporaries), over the limit of %s: %w",
		batch, formatBytes(need), plan.Arena, p.DType, formatBytes(limit), ErrMemoryLimit)
}

// formatBytes prints a size in bytes as B, kB, MB or GB (powers of 1000).
func formatBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
