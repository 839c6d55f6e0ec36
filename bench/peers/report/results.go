package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Sample is one benchmark line.
type Sample struct {
	NsOp      float64
	MBs       float64 // MB/s; the floors set bytes = flops, so this is MFLOP/s
	Allocs    float64
	HasAllocs bool
	Round     int
	Share     float64 // of its cores the harness run got, (user+sys)/real/threads; NaN unknown
}

// Undisturbed is the CPU share from which a harness run counts as having
// had its cores; MinKept is how many rounds a figure keeps at least (the
// best-served ones) when fewer runs were undisturbed.
const (
	Undisturbed = 0.9
	MinKept     = 3
)

// kept applies the rule above to the samples of one figure.
func kept(ss []Sample) []Sample {
	var ok []Sample
	for _, s := range ss {
		if math.IsNaN(s.Share) || s.Share >= Undisturbed {
			ok = append(ok, s)
		}
	}
	if want := min(MinKept, len(ss)); len(ok) < want {
		ok = slices.Clone(ss)
		slices.SortStableFunc(ok, func(a, b Sample) int {
			switch {
			case a.Share > b.Share:
				return -1
			case a.Share < b.Share:
				return 1
			}
			return 0
		})
		ok = ok[:want]
	}
	return ok
}

// Results maps series → row key ("A/b32") → samples over rounds.
type Results map[string]map[string][]Sample

var (
	benchLine = regexp.MustCompile(`^Benchmark(\w+)/([A-Z])/b(\d+)/f32(?:-\d+)?\s+(\d+)\s+([0-9.e+]+) ns/op(.*)$`)
	metric    = regexp.MustCompile(`([0-9.e+]+) (MB/s|allocs/op|cpu-share)`)
)

// seriesOf names the series of a benchmark in a harness's file:
// tg-<build>, floor-<build>, floor-gonum, gorgonia-<blas>, torch,
// floor-torch.
func seriesOf(harness, bench string) string {
	build := harness[strings.IndexByte(harness, '-')+1:]
	switch bench {
	case "Ref":
		return "tg-" + build
	case "Floor":
		return "floor-" + build
	case "FloorGonum":
		return "floor-gonum"
	case "Gorgonia":
		return harness
	case "Torch":
		return "torch"
	case "TorchFloor":
		return "floor-torch"
	}
	return harness + ":" + bench
}

// Parse reads the benchmark lines of one harness into r.
func Parse(r Results, harness string, in io.Reader) error {
	return ParseRound(r, harness, 0, nil, in)
}

// ParseRound reads the benchmark lines of one harness run into r, with its
// round; shareOf, if not nil, gives the CPU share of the process that
// measured a row key ("A/b32"), unless the line has a cpu-share of its own.
func ParseRound(r Results, harness string, round int, shareOf func(key string) float64, in io.Reader) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		ns, err := strconv.ParseFloat(m[5], 64)
		if err != nil {
			return fmt.Errorf("report: %q: %v", sc.Text(), err)
		}
		series, key := seriesOf(harness, m[1]), m[2]+"/b"+m[3]
		s := Sample{NsOp: ns, Round: round, Share: math.NaN()}
		if shareOf != nil {
			s.Share = shareOf(key)
		}
		for _, mm := range metric.FindAllStringSubmatch(m[6], -1) {
			v, _ := strconv.ParseFloat(mm[1], 64)
			switch mm[2] {
			case "MB/s":
				s.MBs = v
			case "allocs/op":
				s.Allocs, s.HasAllocs = v, true
			case "cpu-share":
				s.Share = v
			}
		}
		if r[series] == nil {
			r[series] = map[string][]Sample{}
		}
		r[series][key] = append(r[series][key], s)
	}
	return sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (r Results) times(series, key string) []float64 {
	var xs []float64
	for _, s := range kept(r[series][key]) {
		xs = append(xs, s.NsOp)
	}
	return xs
}

// Med is the median ns/op of a series at a row, NaN if absent.
func (r Results) Med(series, key string) float64 { return median(r.times(series, key)) }

// MedMBs is the median MB/s.
func (r Results) MedMBs(series, key string) float64 {
	var xs []float64
	for _, s := range kept(r[series][key]) {
		xs = append(xs, s.MBs)
	}
	return median(xs)
}

// Allocs is the largest allocs/op seen, -1 if none was reported.
func (r Results) Allocs(series, key string) float64 {
	a := -1.0
	for _, s := range r[series][key] {
		if s.HasAllocs {
			a = max(a, s.Allocs)
		}
	}
	return a
}

// Spread is (max−min)/median of a series at a row.
func (r Results) Spread(series, key string) float64 {
	xs := r.times(series, key)
	if len(xs) < 2 {
		return math.NaN()
	}
	return (slices.Max(xs) - slices.Min(xs)) / median(xs)
}

// Meta is meta.txt.
type Meta map[string]string

func readMeta(path string) (Meta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := Meta{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

func (m Meta) get(k string) string {
	if v, ok := m[k]; ok && v != "" {
		return v
	}
	return "?"
}

var harnesses = []string{"ref-default", "ref-openblas", "floor-default", "floor-openblas", "gorgonia-gonum", "gorgonia-openblas", "torch"}

var roundFile = regexp.MustCompile(`^([a-z]+-?[a-z]*)\.r(\d+)\.txt$`)

// readThreads reads t<N>/: each harness run's lines, with the CPU share
// the run got.
func readThreads(dir string, threads int) (Results, []cpuLine, error) {
	cpu, err := readCPU(filepath.Join(dir, "cpu.txt"))
	if err != nil {
		return nil, nil, err
	}
	share := map[string]float64{} // harness round key
	for _, c := range cpu {
		if c.real > 0 {
			share[fmt.Sprint(c.harness, c.round, c.key)] = (c.user + c.sys) / c.real / float64(threads)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	r := Results{}
	for _, e := range ents {
		m := roundFile.FindStringSubmatch(e.Name())
		if m == nil || !slices.Contains(harnesses, m[1]) {
			continue
		}
		h := m[1]
		round, _ := strconv.Atoi(m[2])
		shareOf := func(key string) float64 {
			if sh, ok := share[fmt.Sprint(h, round, key)]; ok {
				return sh
			}
			return math.NaN()
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		err = ParseRound(r, h, round, shareOf, f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return r, cpu, nil
}

// cpuLine is one process of a harness run: what it measured (a row key,
// or "all") and its wall time and CPU time in seconds.
type cpuLine struct {
	harness, key    string
	round           int
	real, user, sys float64
}

func readCPU(path string) ([]cpuLine, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []cpuLine
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 6 {
			continue
		}
		c := cpuLine{harness: f[0], key: f[2]}
		c.round, _ = strconv.Atoi(f[1])
		c.real, _ = strconv.ParseFloat(f[3], 64)
		c.user, _ = strconv.ParseFloat(f[4], 64)
		c.sys, _ = strconv.ParseFloat(f[5], 64)
		out = append(out, c)
	}
	return out, nil
}
