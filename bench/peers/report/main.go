// Command report turns the raw output of bench/peers/run.sh into
// docs/performance.md: step times of tapegrad and its peers, the ratios
// tapegrad/peer, each step's multiple of its GEMM-only floor, allocations,
// the targets met or missed and, from CPU profiles of BenchmarkRef, what
// takes the time outside GEMM.
//
// The raw directory holds
//
//	meta.txt                 key<TAB>value lines (machine, versions, date, command)
//	t<N>/<harness>.txt       go test -bench style lines, appended once per round
//	t<N>/cpu.txt             harness round real user sys (seconds), one line per run
//	prof/<build>-<C>_b<n>.prof  CPU profile of BenchmarkRef at one configuration
//
// Harnesses are ref-default, ref-openblas (BenchmarkRef in tapegrad's two
// builds), floor-default, floor-openblas (BenchmarkFloor, and
// BenchmarkFloorGonum in the default build), gorgonia-gonum,
// gorgonia-openblas (BenchmarkGorgonia) and torch (torch_bench.py).
//
// Usage (from bench/): go run ./peers/report -raw peers/.raw -out ../docs/performance.md
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	raw := flag.String("raw", "peers/.raw", "directory written by run.sh")
	out := flag.String("out", "../docs/performance.md", "markdown file to write")
	flag.Parse()
	meta, err := readMeta(filepath.Join(*raw, "meta.txt"))
	if err != nil {
		log.Fatal(err)
	}
	var threads []int
	for _, t := range strings.Fields(meta.get("threads")) {
		n, err := strconv.Atoi(t)
		if err != nil {
			log.Fatalf("report: threads %q: %v", meta.get("threads"), err)
		}
		threads = append(threads, n)
	}
	profs, err := readProfiles(filepath.Join(*raw, "prof"))
	if err != nil {
		log.Fatal(err)
	}
	var b strings.Builder
	w := newWriter(&b, meta)
	w.header()
	for i, t := range threads {
		r, _, err := readThreads(filepath.Join(*raw, fmt.Sprintf("t%d", t)), t)
		if err != nil {
			log.Fatal(err)
		}
		w.tables(t, r)
		w.targets(t, r)
		if i == 0 { // the profiles are taken at the first thread count
			w.profiles(t, r, profs)
		}
	}
	w.method()
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}
