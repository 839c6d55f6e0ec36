package floor

import (
	"flag"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/internal/refmodels"
)

var (
	printBackend = flag.Bool("backend", false, "print the GEMM backend of this build and exit")
	printConfigs = flag.Bool("configs", false, "print the reference configurations and batches (A/b32 ...) and exit")
)

// TestMain answers -backend and -configs, so that bench/peers/run.sh can
// name the GEMM of each build and run one configuration at a time.
func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case *printBackend:
		fmt.Println(Backend())
		os.Exit(0)
	case *printConfigs:
		for _, c := range refmodels.Configs() {
			for _, n := range c.Batches {
				fmt.Printf("%s/b%d\n", c.Name, n)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkFloor times the GEMM sequence of each reference configuration and
// batch with the build's GEMM; names match BenchmarkRef's so the two can be
// joined. MB/s reads as MFLOP/s.
func BenchmarkFloor(b *testing.B) { benchFloor(b, nil) }

// BenchmarkFloorGonum is BenchmarkFloor with gonum's own Sgemm, the floor of
// gorgonia's default build.
func BenchmarkFloorGonum(b *testing.B) { benchFloor(b, GonumSgemm) }

func benchFloor(b *testing.B, gemm kernel.GemmFunc[float32]) {
	for _, c := range refmodels.Configs() {
		for _, n := range c.Batches {
			b.Run(fmt.Sprintf("%s/b%d/f32", c.Name, n), func(b *testing.B) {
				seq, err := Sequence(c, n)
				if err != nil {
					b.Fatal(err)
				}
				r := NewRunner(seq)
				if gemm != nil {
					r = NewRunnerWith(seq, gemm)
				}
				r.Run()
				b.SetBytes(int64(r.Flops))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r.Run()
				}
				b.StopTimer()
				if s := r.Sum(); math.IsNaN(s) {
					b.Fatal("NaN in the products")
				}
			})
		}
	}
}

func TestSequence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
		want  []GEMM
	}{
		{"A", 32, []GEMM{
			{M: 32, N: 300, K: 784}, {M: 32, N: 100, K: 300}, {M: 32, N: 10, K: 100},
			{TransB: true, M: 32, N: 100, K: 10}, {TransA: true, M: 100, N: 10, K: 32},
			{TransB: true, M: 32, N: 300, K: 100}, {TransA: true, M: 300, N: 100, K: 32},
			{TransA: true, M: 784, N: 300, K: 32},
		}},
		{"D", 1, []GEMM{{M: 1, N: 300, K: 784}, {M: 1, N: 100, K: 300}, {M: 1, N: 10, K: 100}}},
	} {
		c, err := refmodels.ByName(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Sequence(c, tc.batch)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("Sequence(%s, %d) = %v, want %v", tc.name, tc.batch, got, tc.want)
		}
	}
	c, _ := refmodels.ByName("C")
	seq, err := Sequence(c, 128)
	if err != nil {
		t.Fatal(err)
	}
	if len(seq) != 21+20+21 {
		t.Errorf("Sequence(C, 128) has %d products, want 62 (21 forward, 20 dX, 21 dW)", len(seq))
	}
}

// The runner computes what a naive triple loop computes, with the build's
// GEMM and with gonum's.
func TestRunner(t *testing.T) {
	seq := []GEMM{{M: 3, N: 4, K: 5}, {TransA: true, M: 3, N: 4, K: 5}, {TransB: true, M: 3, N: 4, K: 5}}
	testRunner(t, NewRunner(seq))
	testRunner(t, NewRunnerWith(seq, GonumSgemm))
}

func testRunner(t *testing.T, r *Runner) {
	t.Helper()
	seq := r.seq
	r.Run()
	for i, g := range seq {
		for p := 0; p < g.M; p++ {
			for q := 0; q < g.N; q++ {
				var want float32
				for l := 0; l < g.K; l++ {
					ai, bi := p*g.K+l, l*g.N+q
					if g.TransA {
						ai = l*g.M + p
					}
					if g.TransB {
						bi = q*g.K + l
					}
					want += r.a[i][ai] * r.b[i][bi]
				}
				if got := r.c[i][p*g.N+q]; math.Abs(float64(got-want)) > 1e-5 {
					t.Fatalf("%v: C[%d,%d] = %v, want %v", g, p, q, got, want)
				}
			}
		}
	}
}
