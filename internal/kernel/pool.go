package kernel

import (
	"runtime"
	"sync"
)

// The worker pool: goroutines started once and fed chunks of loops through a
// channel. No goroutine is spawned per call and a call allocates nothing.

type chunk struct {
	body   func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

var (
	poolMu   sync.Mutex
	started  int
	work     = make(chan chunk, 256)
	waitPool = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
)

func worker() {
	for c := range work {
		c.body(c.lo, c.hi)
		c.wg.Done()
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
// iterations, spread over the worker pool; the calling goroutine takes the
// first chunk. With one thread, or n < 2·grain, it calls body(0, n) directly.
// Chunks cover disjoint ranges, so an element-wise body gives the same bits
// whatever the thread count.
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
	wg := waitPool.Get().(*sync.WaitGroup)
	wg.Add(parts - 1)
	step := (n + parts - 1) / parts
	for p := 1; p < parts; p++ {
		lo := p * step
		hi := min(lo+step, n)
		if lo >= hi {
			wg.Done()
			continue
		}
		work <- chunk{body: body, lo: lo, hi: hi, wg: wg}
	}
	body(0, min(step, n))
	wg.Wait()
	waitPool.Put(wg)
}

// ElementGrain is the chunk size below which element-wise loops stay on one
// goroutine: handing a chunk to a worker costs about a microsecond, the time
// of a few thousand simple element operations.
const ElementGrain = 16384
