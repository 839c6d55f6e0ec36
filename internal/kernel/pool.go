package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool: goroutines started once and fed chunks of loops through a
// channel. No goroutine is spawned per call and a call allocates nothing.

type chunk struct {
	body   func(lo, hi int)
	lo, hi int
	g      *group
}

// group is one call's chunks: left counts those not done, for the caller
// to poll; wg lets it block instead once it has polled long enough.
type group struct {
	left atomic.Int32
	wg   sync.WaitGroup
}

func (c chunk) run() {
	c.body(c.lo, c.hi)
	c.g.left.Add(-1)
	c.g.wg.Done()
}

var (
	poolMu  sync.Mutex
	started int
	work    = make(chan chunk, 256)
	groups  = FreeList[group]{New: func() *group { return new(group) }}
)

// FreeList recycles values (scratch buffers, call descriptors) between runs
// of a kernel. Unlike a sync.Pool it is not emptied by the garbage
// collector, nor thinned at random under the race detector, so a kernel
// that takes its scratch from a FreeList allocates nothing in steady state
// (it holds at most as many values as were ever in use at once). New makes
// a value when the list is empty. The zero FreeList with New set is ready
// to use; it is safe for concurrent use.
type FreeList[T any] struct {
	mu    sync.Mutex
	items []*T
	New   func() *T
}

// Get returns a recycled value, or a new one.
func (f *FreeList[T]) Get() *T {
	f.mu.Lock()
	if n := len(f.items); n > 0 {
		x := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		f.mu.Unlock()
		return x
	}
	f.mu.Unlock()
	return f.New()
}

// Put gives x back for a later Get.
func (f *FreeList[T]) Put(x *T) {
	f.mu.Lock()
	f.items = append(f.items, x)
	f.mu.Unlock()
}

// spin is how long a worker that has run a chunk keeps polling the queue
// before it blocks on it, and how long a caller polls for its chunks to be
// done before it blocks until they are. A goroutine that blocks is slow to
// start again: whoever wakes it queues it behind itself on its own thread,
// until another thread steals it — tens of microseconds on a virtual
// machine, more than a chunk's work: with blocking alone, a parallel loop
// ran no faster than a serial one (measured on a 2-core VM: For of two
// 80 µs halves took 176 µs, the serial loop 164 µs). The loops of a
// training step follow one another closely, so the workers stay hot
// through a step and block between steps. They poll without yielding
// (runtime.Gosched would wake an idle thread each time, a system call, and
// measured slower): a goroutine that needs a poller's thread waits at most
// spin. The OpenBLAS build sets it to 0 (see gemm_openblas.go).
var spin = 100 * time.Microsecond

func worker() {
	for {
		c := <-work
		c.run()
		for start := time.Now(); time.Since(start) < spin; {
			select {
			case next := <-work:
				next.run()
				start = time.Now()
			default:
			}
		}
	}
}

// ensureWorkers starts workers until n are running.
func ensureWorkers(n int) {
	poolMu.Lock()
	for started < n {
		go worker()
		started++
	}
	poolMu.Unlock()
}

// Threads is the number of goroutines a parallel loop uses: GOMAXPROCS.
func Threads() int { return runtime.GOMAXPROCS(0) }

// For runs body over [0, n) in contiguous chunks of at least grain
// iterations (chunk sizes differ by at most one), spread over the worker
// pool; the calling goroutine takes the first chunk. With one thread, or
// n < 2·grain, it calls body(0, n) directly. Chunks cover disjoint ranges,
// so an element-wise body gives the same bits whatever the thread count.
//
// For may be called from many goroutines at once and from inside a body
// (nested loops): a caller that has finished its own chunk runs chunks still
// waiting in the queue instead of blocking, and a chunk that finds the queue
// full runs on the caller, so no call waits on a chunk nobody will run.
func For(n, grain int, body func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	t := Threads()
	parts := n / grain
	if parts > t {
		parts = t
	}
	if parts < 2 {
		body(0, n)
		return
	}
	ensureWorkers(parts - 1)
	g := groups.Get()
	g.left.Store(int32(parts - 1))
	g.wg.Add(parts - 1)
	for p := 1; p < parts; p++ {
		c := chunk{body: body, lo: p * n / parts, hi: (p + 1) * n / parts, g: g}
		select {
		case work <- c:
		default:
			c.run() // queue full: do it here rather than block
		}
	}
	body(0, n/parts)
	// help: whatever is still queued (ours or another caller's) runs here,
	// so that a nested For never waits on a worker that is itself waiting
	for drained := false; !drained; {
		select {
		case c := <-work:
			c.run()
		default:
			drained = true
		}
	}
	for start := time.Now(); g.left.Load() > 0 && time.Since(start) < spin; {
	}
	g.wg.Wait() // at once when every chunk is done: their Done has run
	groups.Put(g)
}

// ElementGrain is the chunk size below which element-wise loops stay on one
// goroutine: handing a chunk to a worker costs about a microsecond, the time
// of a few thousand simple element operations.
const ElementGrain = 16384
