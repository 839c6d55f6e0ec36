package datasets

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// BatchOption changes how Batches iterates.
type BatchOption func(*Iterator)

// NoShuffle keeps the rows in order, every epoch: the batches are then
// views of the split's memory, nothing is copied.
func NoShuffle() BatchOption { return func(it *Iterator) { it.shuffle = false } }

// DropLast leaves out the last batch of an epoch when it is smaller than
// the batch size.
func DropLast() BatchOption { return func(it *Iterator) { it.dropLast = true } }

// Iterator yields a split in mini-batches, epoch after epoch, in a new
// order each epoch drawn from its seed.
//
// A batch's tensors are only valid until the next batch is yielded: a
// shuffled batch is gathered into buffers the iterator reuses, and an
// unshuffled one is a view of the split. Copy what must be kept (Clone).
type Iterator struct {
	s                 Split
	x, y              any // the split's data, []float32 or []float64
	n, size, xRow     int
	xShape            []int // shape of one batch of size rows
	seed              uint64
	shuffle, dropLast bool
	epoch             int
	perm              []int
	bx, by            any   // gather buffers, of size rows
	full, last        Split // tensors over the buffers: all of them, and the rows of a short last batch
}

// Batches returns an iterator over s in batches of size rows, shuffled
// anew each epoch: epoch e's order is a permutation drawn from a PCG
// generator seeded with (seed, e), so that it depends only on the seed and
// the epoch's number. The last batch of an epoch has the rows left over
// (fewer than size) unless DropLast is given.
func Batches(s Split, size int, seed uint64, opts ...BatchOption) (*Iterator, error) {
	x, y, err := s.check("split")
	if err != nil {
		return nil, err
	}
	n := s.Len()
	if size <= 0 {
		return nil, fmt.Errorf("datasets: Batches: batch size %d; want at least 1", size)
	}
	if n == 0 {
		return nil, fmt.Errorf("datasets: Batches: the split has no rows")
	}
	it := &Iterator{s: s, x: x, y: y, n: n, size: min(size, n), seed: seed, shuffle: true}
	it.xRow = s.X.Shape().TotalSize() / n
	it.xShape = append([]int{it.size}, s.X.Shape()[1:]...)
	for _, o := range opts {
		o(it)
	}
	it.perm = make([]int, n)
	return it, nil
}

// Len is the number of batches in an epoch.
func (it *Iterator) Len() int {
	if it.dropLast {
		return it.n / it.size
	}
	return (it.n + it.size - 1) / it.size
}

// Epochs is the number of epochs Epoch has started.
func (it *Iterator) Epochs() int { return it.epoch }

// Order returns the order in which epoch e (counted from 0) visits the
// rows: its batches are rows Order(e)[0:size], [size:2*size], ... There is
// no epoch before the first: for a negative e, Order returns nil.
func (it *Iterator) Order(e int) []int {
	if e < 0 {
		return nil
	}
	out := make([]int, it.n)
	it.order(out, e)
	return out
}

// order writes epoch e's order into p.
func (it *Iterator) order(p []int, e int) {
	for i := range p {
		p[i] = i
	}
	if it.shuffle {
		r := rand.New(rand.NewPCG(it.seed, uint64(e)))
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	}
}

// Epoch starts the next epoch and returns its batches, to range over:
//
//	for epoch := range 10 {
//		for batch := range it.Epoch() { ... }
//	}
func (it *Iterator) Epoch() iter.Seq[Split] {
	e := it.epoch
	it.epoch++
	return func(yield func(Split) bool) {
		it.order(it.perm, e)
		for from := 0; from < it.n; from += it.size {
			to := min(from+it.size, it.n)
			if it.dropLast && to-from < it.size {
				return
			}
			if !yield(it.batch(from, to)) {
				return
			}
		}
	}
}

// batch returns the rows perm[from:to] as a Split.
func (it *Iterator) batch(from, to int) Split {
	if !it.shuffle {
		b := Split{X: rows(it.s.X, it.x, from, to)}
		if it.y != nil {
			b.Y = rows(it.s.Y, it.y, from, to)
		}
		return b
	}
	if it.bx == nil {
		switch it.x.(type) {
		case []float32:
			it.bx, it.by = make([]float32, it.size*it.xRow), make([]float32, it.size)
		case []float64:
			it.bx, it.by = make([]float64, it.size*it.xRow), make([]float64, it.size)
		}
	}
	idx := it.perm[from:to]
	switch x := it.x.(type) {
	case []float32:
		gather(it.bx.([]float32), x, idx, it.xRow)
		if it.y != nil {
			gather(it.by.([]float32), it.y.([]float32), idx, 1)
		}
	case []float64:
		gather(it.bx.([]float64), x, idx, it.xRow)
		if it.y != nil {
			gather(it.by.([]float64), it.y.([]float64), idx, 1)
		}
	}
	return it.view(to - from)
}

// view returns tensors over the first m rows of the gather buffers. There
// are two sizes, size and that of a short last batch; each is made once.
func (it *Iterator) view(m int) Split {
	for _, b := range []Split{it.full, it.last} {
		if b.X != nil && b.Len() == m {
			return b
		}
	}
	shape := append([]int{m}, it.xShape[1:]...)
	var b Split
	switch x := it.bx.(type) {
	case []float32:
		b.X = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x[:m*it.xRow]))
		if it.y != nil {
			b.Y = tensor.New(tensor.WithShape(m), tensor.WithBacking(it.by.([]float32)[:m]))
		}
	case []float64:
		b.X = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x[:m*it.xRow]))
		if it.y != nil {
			b.Y = tensor.New(tensor.WithShape(m), tensor.WithBacking(it.by.([]float64)[:m]))
		}
	}
	if m == it.size {
		it.full = b
	} else {
		it.last = b
	}
	return b
}

// gather copies rows idx of src (row elements each) into dst, in order.
func gather[T float](dst, src []T, idx []int, row int) {
	for k, i := range idx {
		copy(dst[k*row:(k+1)*row], src[i*row:(i+1)*row])
	}
}
