package train

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/internal/refmodels"
)

// BenchmarkFitEpoch measures one epoch of Fit on reference configuration B
// (784-300-BN-ELU-100-BN-ELU-10, internal/refmodels.ModelB) with plain SGD,
// on 4096 synthetic examples: 32 steps of 128, the shuffle and the epoch's
// bookkeeping. Besides ns/op and allocs/op (a whole Fit: its setup
// allocates the batch buffers, the index and the history once), it
// reports:
//
//   - ns/step: the time of one training step, Fit's overhead included;
//   - allocs/step: the allocations of the whole Fit divided by its steps;
//   - step-allocs: the allocations of one step of the inner loop
//     (testing.AllocsPerRun after warm-up), which must be 0;
//   - exec-ns/step: the compiled training program alone (vm.Machine.Exec
//     on a batch already in place), to compare ns/step with.
func BenchmarkFitEpoch(b *testing.B) {
	const n, batch = 4096, 128
	b.Run("B/b128/f32", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		xs := make([]float32, n*784)
		for i := range xs {
			xs[i] = float32(r.NormFloat64())
		}
		ys := make([]float32, n)
		for i := range ys {
			ys[i] = float32(r.IntN(10))
		}
		x := tensor.New(tensor.WithShape(n, 784), tensor.WithBacking(xs))
		y := tensor.New(tensor.WithShape(n), tensor.WithBacking(ys))
		m := NewModel(refmodels.ModelB())
		m.Seed(42)
		if err := m.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}, Optimizer: SGD{LearningRate: 0.01}}); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		opts := FitOptions{Epochs: 1, BatchSize: batch, Seed: 3}
		if _, err := m.Fit(ctx, x, y, opts); err != nil { // warm-up: one instance per batch size
			b.Fatal(err)
		}
		steps := (n + batch - 1) / batch
		var ms0, ms1 runtime.MemStats
		b.ReportAllocs()
		b.ResetTimer()
		runtime.ReadMemStats(&ms0)
		var h *History
		for i := 0; i < b.N; i++ {
			var err error
			if h, err = m.Fit(ctx, x, y, opts); err != nil {
				b.Fatal(err)
			}
		}
		runtime.ReadMemStats(&ms1)
		b.StopTimer()
		if h.Len() != 1 || !finite(h.Loss[0]) {
			b.Fatalf("history %v", h.Loss)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*steps), "allocs/step")

		f, err := fitSetup[float32](m, x, y, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.step(0); err != nil {
			b.Fatal(err)
		}
		allocs := testing.AllocsPerRun(5, func() {
			if err := f.step(0); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(allocs, "step-allocs")

		// the program alone, for Fit's overhead: run the step's program on
		// one batch, as many times as an epoch has steps
		feeds := f.batch.fillIndex(f.train, f.idx[:f.bs])
		start := time.Now()
		for range steps {
			if _, err := m.trainM.Exec(feeds); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(steps), "exec-ns/step")
		if allocs != 0 {
			b.Errorf("a training step allocates %v times", allocs)
		}
	})
}

// BenchmarkPredict measures Predict of 256 rows on reference configuration
// B (inference: BN folded into the dense kernels), called serially and from
// parallel goroutines (b.RunParallel, GOMAXPROCS of them). "pool" is
// Predict as it is: each call takes a machine from the model's pool, so
// parallel calls run at once; "mutex" serializes the same calls behind one
// lock, the other way to make Predict safe, for comparison.
func BenchmarkPredict(b *testing.B) {
	const n = 256
	r := rand.New(rand.NewPCG(3, 4))
	xs := make([]float32, n*784)
	for i := range xs {
		xs[i] = float32(r.NormFloat64())
	}
	x := tensor.New(tensor.WithShape(n, 784), tensor.WithBacking(xs))
	m := NewModel(refmodels.ModelB())
	m.Seed(42)
	if err := m.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}}); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	predict := func(lock bool) error {
		if lock {
			mu.Lock()
			defer mu.Unlock()
		}
		_, err := m.Predict(x, PredictOptions{BatchSize: 64})
		return err
	}
	for _, lock := range []bool{false, true} {
		name := "pool"
		if lock {
			name = "mutex"
		}
		b.Run("B/n256/f32/serial/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := predict(lock); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("B/n256/f32/parallel/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := predict(lock); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
