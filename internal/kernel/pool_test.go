package kernel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// withProcs runs f with GOMAXPROCS set to p and restores it afterwards.
func withProcs(t testing.TB, p int, f func()) {
	t.Helper()
	old := runtime.GOMAXPROCS(p)
	defer runtime.GOMAXPROCS(old)
	f()
}

func TestForCoversRangeOnce(t *testing.T) {
	ns := []int{0, 1, 2, 3, 7, 15, 16, 17, 100, 1000, 4097, 65537}
	grains := []int{-3, 0, 1, 2, 3, 10, 64, 1000, ElementGrain}
	for _, procs := range []int{1, 2, 3, 4, 8} {
		withProcs(t, procs, func() {
			for _, n := range ns {
				for _, grain := range grains {
					hits := make([]int32, n)
					var calls, short atomic.Int32
					var bad atomic.Value
					For(n, grain, func(lo, hi int) {
						calls.Add(1)
						if lo < 0 || hi > n || lo > hi {
							bad.Store(fmt.Sprintf("body(%d, %d)", lo, hi))
							return
						}
						if g := max(grain, 1); hi-lo < g && !(lo == 0 && hi == n) {
							short.Add(1)
						}
						for i := lo; i < hi; i++ {
							atomic.AddInt32(&hits[i], 1)
						}
					})
					if b := bad.Load(); b != nil {
						t.Fatalf("For(%d, %d) with GOMAXPROCS=%d called %v, out of [0,%d)", n, grain, procs, b, n)
					}
					for i, h := range hits {
						if h != 1 {
							t.Fatalf("For(%d, %d) with GOMAXPROCS=%d visited %d %d times, want 1", n, grain, procs, i, h)
						}
					}
					if s := short.Load(); s != 0 {
						t.Errorf("For(%d, %d) with GOMAXPROCS=%d made %d chunks shorter than the grain", n, grain, procs, s)
					}
					// at most GOMAXPROCS chunks, and at least one call
					if c := int(calls.Load()); c < 1 || c > procs {
						t.Errorf("For(%d, %d) with GOMAXPROCS=%d made %d calls, want 1..%d", n, grain, procs, c, procs)
					}
				}
			}
		})
	}
}

func TestForSerialWhenSmall(t *testing.T) {
	withProcs(t, 4, func() {
		var calls int
		var got [2]int
		For(100, 60, func(lo, hi int) { calls++; got = [2]int{lo, hi} }) // 100 < 2·60: one chunk on the caller
		if calls != 1 || got != [2]int{0, 100} {
			t.Errorf("For(100, 60) made %d calls, last %v; want one call body(0, 100)", calls, got)
		}
	})
}

// A body that itself runs a parallel loop must not deadlock the pool, even
// when every worker is busy with an outer chunk.
func TestForNested(t *testing.T) {
	withProcs(t, 4, func() {
		done := make(chan int64)
		go func() {
			var sum atomic.Int64
			For(8, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					For(1000, 10, func(lo, hi int) {
						for j := lo; j < hi; j++ {
							sum.Add(int64(j))
						}
					})
				}
			})
			done <- sum.Load()
		}()
		select {
		case s := <-done:
			if want := int64(8 * 999 * 1000 / 2); s != want {
				t.Errorf("nested For sum = %d, want %d", s, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("nested For did not finish in 20s: the pool deadlocked")
		}
	})
}

// Many goroutines running parallel loops at once (several machines on one
// pool) each get their own range covered exactly once.
func TestForConcurrentCallers(t *testing.T) {
	withProcs(t, 4, func() {
		var wg sync.WaitGroup
		errs := make(chan string, 16)
		for c := 0; c < 16; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 5000 + 37*c
				hits := make([]int32, n)
				for rep := 0; rep < 50; rep++ {
					For(n, 100, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							atomic.AddInt32(&hits[i], 1)
						}
					})
				}
				for i, h := range hits {
					if h != 50 {
						errs <- fmt.Sprintf("caller %d: index %d visited %d times, want 50", c, i, h)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}

func TestForAllocatesNothing(t *testing.T) {
	withProcs(t, 4, func() {
		buf := make([]float64, 1<<16)
		body := func(lo, hi int) {
			for i := lo; i < hi; i++ {
				buf[i]++
			}
		}
		For(len(buf), 1024, body) // start the workers
		if a := testing.AllocsPerRun(100, func() { For(len(buf), 1024, body) }); a != 0 {
			t.Errorf("For allocated %v times per call, want 0", a)
		}
	})
}

func TestFreeList(t *testing.T) {
	made := 0
	fl := FreeList[[]float64]{New: func() *[]float64 { made++; s := make([]float64, 8); return &s }}
	a := fl.Get()
	b := fl.Get()
	if a == b || made != 2 {
		t.Fatalf("two Gets on an empty list: same value %v, %d made; want two new values", a == b, made)
	}
	fl.Put(a)
	if c := fl.Get(); c != a || made != 2 {
		t.Errorf("Get after Put(a) = a? %v, %d made; want a back and nothing new", c == a, made)
	}
	fl.Put(a)
	fl.Put(b)
	runtime.GC() // unlike a sync.Pool, a collection empties nothing
	if n := testing.AllocsPerRun(100, func() { fl.Put(fl.Get()) }); n != 0 {
		t.Errorf("Get/Put in steady state allocates %v times, want 0", n)
	}
	if made != 2 {
		t.Errorf("%d values made, want 2", made)
	}
}

// BenchmarkFor times a parallel loop of two parts against the same work on
// the calling goroutine, for parts of about 1, 8 and 80 µs (a dependent
// chain of float64 multiply-adds): what handing a part to a worker costs,
// and whether the two parts really run at once. Run it with GOMAXPROCS=2:
//
//	GOMAXPROCS=2 go test ./internal/kernel -run XXX -bench BenchmarkFor
func BenchmarkFor(b *testing.B) {
	var sink [2]float64
	for _, n := range []int{1000, 10000, 100000} {
		body := func(lo, hi int) {
			for p := lo; p < hi; p++ {
				s := 0.0
				for i := range n {
					s += float64(i) * 1.0000001
				}
				sink[p] = s
			}
		}
		b.Run(fmt.Sprintf("n=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				For(2, 1, body)
			}
		})
		b.Run(fmt.Sprintf("n=%d/serial", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				body(0, 2)
			}
		})
	}
}
