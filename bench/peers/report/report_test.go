package main

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `goos: linux
BenchmarkRef/A/b32/f32         	      94	   3694545 ns/op	       0 B/op	       0 allocs/op
BenchmarkRef/A/b32/f32-2       	      90	   3000000 ns/op	       0 B/op	       2 allocs/op
BenchmarkFloor/D/b1/f32          	    7772	     44168 ns/op	12053.96 MB/s	       0 B/op	       0 allocs/op
BenchmarkFloorGonum/D/b1/f32          	    7772	     50000 ns/op	11000 MB/s	       0 B/op	       0 allocs/op
PASS
`
	r := Results{}
	if err := Parse(r, "ref-default", strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if err := Parse(r, "torch", strings.NewReader("BenchmarkTorchFloor/C/b128/f32\t80\t3698402 ns/op\t82190.75 MB/s\n")); err != nil {
		t.Fatal(err)
	}
	if got := r.Med("tg-default", "A/b32"); got != (3694545+3000000)/2.0 {
		t.Errorf("Med(tg-default, A/b32) = %v, want the median of both lines", got)
	}
	if got := r.Allocs("tg-default", "A/b32"); got != 2 {
		t.Errorf("Allocs = %v, want 2 (the largest)", got)
	}
	if got := r.MedMBs("floor-default", "D/b1"); got != 12053.96 {
		t.Errorf("MB/s = %v, want 12053.96", got)
	}
	if got := r.Med("floor-gonum", "D/b1"); got != 50000 {
		t.Errorf("BenchmarkFloorGonum = %v, want 50000 in floor-gonum", got)
	}
	if got := r.Med("floor-torch", "C/b128"); got != 3698402 {
		t.Errorf("torch floor = %v, want 3698402", got)
	}
	if got := r.Allocs("floor-torch", "C/b128"); got != -1 {
		t.Errorf("Allocs without a figure = %v, want -1", got)
	}
	if !math.IsNaN(r.Med("torch", "A/b32")) {
		t.Error("a missing series should give NaN")
	}
}

func TestSeriesOf(t *testing.T) {
	for _, tc := range []struct{ harness, bench, want string }{
		{"ref-openblas", "Ref", "tg-openblas"},
		{"floor-openblas", "Floor", "floor-openblas"},
		{"floor-default", "FloorGonum", "floor-gonum"},
		{"gorgonia-gonum", "Gorgonia", "gorgonia-gonum"},
		{"torch", "Torch", "torch"},
		{"torch", "TorchFloor", "floor-torch"},
	} {
		if got := seriesOf(tc.harness, tc.bench); got != tc.want {
			t.Errorf("seriesOf(%q, %q) = %q, want %q", tc.harness, tc.bench, got, tc.want)
		}
	}
}

func TestParseProfile(t *testing.T) {
	in := `File: ref-openblas.test
Duration: 1.43s, Total samples = 1.36s (95.22%)
Active filters:
   ignore=cblas
Showing nodes accounting for 1s, 73.53% of 1.36s total
      flat  flat%   sum%        cum   cum%
     0.90s 66.18% 66.18%      1s 73.53%  math.expm1
     100ms  7.35% 73.53%      100ms  7.35%  github.com/tapegrad/tapegrad/nodes.actGradRowOf[go.shape.float32].eluGradRow[go.shape.float32].func9
         0     0% 73.53%      1s 73.53%  github.com/tapegrad/tapegrad/nodes.actRow[go.shape.float32].eluRow[go.shape.float32].func10
         0     0% 73.53%      1s 73.53%  github.com/tapegrad/tapegrad/nodes.bindDense[go.shape.float32].func1
         0     0% 73.53%      1.10s 80.88%  github.com/tapegrad/tapegrad/internal/refmodels_test.BenchmarkRef.func1
`
	p := ParseProfile(in)
	if p.Total != 1.36 || p.NonGEMM != 1 || len(p.Funcs) != 5 {
		t.Fatalf("ParseProfile: total %v, non-GEMM %v, %d functions; want 1.36, 1, 5", p.Total, p.NonGEMM, len(p.Funcs))
	}
	if got, want := p.GEMMShare(), 1-1/1.36; math.Abs(got-want) > 1e-9 {
		t.Errorf("GEMMShare = %v, want %v", got, want)
	}
	if top := p.TopFlat(1); len(top) != 1 || top[0].Name != "math.expm1" {
		t.Errorf("TopFlat = %v, want math.expm1", top)
	}
	k := p.TopKernels(3)
	var names []string
	for _, f := range k {
		names = append(names, short(f.Name))
	}
	// the ELU kernel and the dense closure around it have the same
	// cumulative time: one of them is kept; the benchmark frame is not a
	// kernel
	if want := "nodes.actRow.eluRow.func10 nodes.actGradRowOf.eluGradRow.func9"; strings.Join(names, " ") != want {
		t.Errorf("TopKernels = %v, want %s", names, want)
	}
}

func TestGEMMFrames(t *testing.T) {
	re := regexp.MustCompile(gemmFrames)
	for _, name := range []string{
		"github.com/tapegrad/tapegrad/internal/kernel.sgemm",
		"github.com/tapegrad/tapegrad/internal/kernel.(*gemmJob[go.shape.float32]).run",
		"github.com/tapegrad/tapegrad/internal/kernel.(*packedJob[go.shape.float32]).run",
		"github.com/tapegrad/tapegrad/internal/kernel/avx2.KernS6x16",
		"gonum.org/v1/gonum/blas/gonum.sgemmSerialNotNot",
		"gonum.org/v1/gonum/internal/asm/f32.AxpyUnitary",
		"github.com/tapegrad/tapegrad/internal/kernel._Cfunc_cblas_sgemm",
	} {
		if !re.MatchString(name) {
			t.Errorf("gemmFrames does not match %s", name)
		}
	}
	for _, name := range []string{
		"github.com/tapegrad/tapegrad/internal/kernel.For",
		"github.com/tapegrad/tapegrad/nodes.bindDense[go.shape.float32].func1",
		"math.expm1",
	} {
		if re.MatchString(name) {
			t.Errorf("gemmFrames matches %s, which is not GEMM", name)
		}
	}
}

func TestKept(t *testing.T) {
	ss := []Sample{
		{NsOp: 1, Share: 0.99}, {NsOp: 2, Share: 0.5}, {NsOp: 3, Share: 0.95},
		{NsOp: 4, Share: 0.92}, {NsOp: 5, Share: 0.3},
	}
	var got []float64
	for _, s := range kept(ss) {
		got = append(got, s.NsOp)
	}
	if fmt.Sprint(got) != "[1 3 4]" {
		t.Errorf("kept = %v, want the three runs with at least 90%%", got)
	}
	got = got[:0]
	for _, s := range kept([]Sample{{NsOp: 1, Share: 0.5}, {NsOp: 2, Share: 0.8}, {NsOp: 3, Share: 0.2}, {NsOp: 4, Share: 0.7}}) {
		got = append(got, s.NsOp)
	}
	if fmt.Sprint(got) != "[2 4 1]" {
		t.Errorf("kept = %v, want the three best-served runs when none had its core", got)
	}
	if n := len(kept([]Sample{{NsOp: 1, Share: math.NaN()}})); n != 1 {
		t.Errorf("kept dropped a sample of unknown share")
	}
}
