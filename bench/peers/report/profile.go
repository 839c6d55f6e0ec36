package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// gemmFrames matches the frames of GEMM code: tapegrad's GEMM entry points
// and workers (tiled gonum, or its own packed GEMM), gonum's kernels, the
// cgo call into OpenBLAS. A sample with such a frame on its stack is GEMM
// time; pprof -ignore drops those samples and leaves what is not GEMM.
const gemmFrames = `internal/kernel\.(sgemm|dgemm|tiledGemm|packA|packB|addTile|scaleC)\b|internal/kernel\.\(\*gemvJob|internal/kernel\.\(\*(gemmJob|packedJob|packedGemm)|internal/kernel/avx2\.(Kern|Pack)|gonum\.org/v1/gonum/blas|gonum\.org/v1/gonum/internal/asm|_Cfunc_cblas`

// Profile is the non-GEMM part of a CPU profile of BenchmarkRef at one
// configuration.
type Profile struct {
	Build, Key string
	Total      float64 // seconds of samples
	NonGEMM    float64 // seconds of samples without a GEMM frame
	Funcs      []Func  // functions of the non-GEMM samples
}

// Func is one line of pprof -top.
type Func struct {
	Name      string
	Flat, Cum float64 // seconds
}

var (
	shownLine = regexp.MustCompile(`accounting for ([0-9.]+)(ms|s|us|µs|ns|min|h), [0-9.]+% of ([0-9.]+)(ms|s|us|µs|ns|min|h) total`)
	topLine   = regexp.MustCompile(`^\s*([0-9.]+)(ms|s|us|µs|ns|min|h)?\s+[0-9.]+%\s+[0-9.]+%\s+([0-9.]+)(ms|s|us|µs|ns|min|h)?\s+[0-9.]+%\s+(.+)$`)
)

func seconds(v, unit string) float64 {
	x, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "ms":
		return x / 1e3
	case "us", "µs":
		return x / 1e6
	case "ns":
		return x / 1e9
	case "min":
		return x * 60
	case "h":
		return x * 3600
	}
	return x
}

// ParseProfile reads the output of `go tool pprof -top -ignore=gemmFrames`.
func ParseProfile(in string) Profile {
	var p Profile
	for _, l := range strings.Split(in, "\n") {
		if m := shownLine.FindStringSubmatch(l); m != nil {
			p.NonGEMM, p.Total = seconds(m[1], m[2]), seconds(m[3], m[4])
			continue
		}
		if m := topLine.FindStringSubmatch(l); m != nil {
			p.Funcs = append(p.Funcs, Func{Name: m[5], Flat: seconds(m[1], m[2]), Cum: seconds(m[3], m[4])})
		}
	}
	return p
}

// readProfiles runs pprof on each profile of dir.
func readProfiles(dir string) ([]Profile, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ps []Profile
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".prof")
		if !ok {
			continue
		}
		build, key, ok := strings.Cut(name, "-")
		if !ok {
			continue
		}
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0",
			"-ignore="+gemmFrames, filepath.Join(dir, e.Name())).Output()
		if err != nil {
			return nil, fmt.Errorf("report: pprof %s: %v", e.Name(), err)
		}
		p := ParseProfile(string(out))
		p.Build, p.Key = build, strings.Replace(key, "_", "/", 1)
		if p.Total > 0 {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Build != ps[j].Build {
			return ps[i].Build > ps[j].Build // openblas first
		}
		return rowIndex(ps[i].Key) < rowIndex(ps[j].Key)
	})
	return ps, nil
}

// GEMMShare is the share of samples with a GEMM frame on their stack.
func (p Profile) GEMMShare() float64 { return 1 - p.NonGEMM/p.Total }

// isFrame says whether a function is infrastructure that is on every
// stack and says nothing about a kernel.
func isFrame(name string) bool {
	for _, s := range []string{"BenchmarkRef", "testing.", "vm.(*Machine).", "vm.(*instance", "internal/kernel.For", "internal/kernel.Gemm", "runtime.goexit", "runtime.main", "internal/kernel.worker", "internal/kernel.chunk"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// short drops the module path and generic shapes from a function name.
func short(name string) string {
	name = strings.ReplaceAll(name, "github.com/tapegrad/tapegrad/", "")
	name = regexp.MustCompile(`\[[^\]]*go\.shape[^\]]*\]`).ReplaceAllString(name, "")
	name = strings.TrimSuffix(name, " (inline)")
	name = strings.TrimSuffix(name, " (partial-inline)")
	return name
}

// TopFlat returns the n functions with the most self time outside GEMM.
func (p Profile) TopFlat(n int) []Func {
	var fs []Func
	for _, f := range p.Funcs {
		if f.Flat > 0 {
			fs = append(fs, f)
		}
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Flat > fs[j].Flat })
	return fs[:min(n, len(fs))]
}

// TopKernels returns the n tapegrad kernels (package nodes) with the most
// cumulative time outside GEMM: the instructions that cost the most.
func (p Profile) TopKernels(n int) []Func {
	var fs []Func
	for _, f := range p.Funcs {
		if strings.Contains(f.Name, "tapegrad/nodes.") && !isFrame(f.Name) {
			fs = append(fs, f)
		}
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Cum > fs[j].Cum })
	// a kernel and the closure that binds it have the same cumulative
	// time: keep one of them
	var out []Func
	for _, f := range fs {
		if len(out) > 0 && out[len(out)-1].Cum == f.Cum {
			continue
		}
		out = append(out, f)
	}
	return out[:min(n, len(out))]
}
