package vm

import "sort"

// Memory planning. Every temporary, input and constant buffer of a program
// instance gets an offset in one arena. Buffers whose lifetimes do not
// overlap share memory; a view (Buffer.ViewOf) shares its source's memory;
// an element-wise instruction marked InPlace writes its output over an input
// of the same size that dies there. Variables live in the store and are not
// planned. Sizes depend on the batch size, so the plan is made when a
// machine first sees a batch size; lifetimes come from the instruction
// order, which the compiler fixes. A program with NoMemoryReuse gets a
// block per buffer (views excepted), for the whole run.

// Plan is the memory layout of a program for one batch size.
type Plan struct {
	// Offset of each buffer in the arena, in elements; -1 for variables.
	Offset []int
	// Group of each buffer: buffers of one group share memory; -1 for
	// variables.
	Group []int
	// Arena is the size of the arena in elements.
	Arena int
	// Unplanned is what the buffers would take with a block each, aligned
	// as the arena's (a view shares its source's): the arena of the
	// program with NoMemoryReuse.
	Unplanned int
	// Blocks is the number of distinct memory blocks.
	Blocks int
}

// planMemory lays out the buffers of p given their sizes in elements.
func planMemory(p *Program, sizes []int) Plan {
	n := len(p.Bufs)
	pl := Plan{Offset: make([]int, n), Group: make([]int, n)}
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	end := len(p.Insts)
	def := make([]int, n)  // instruction writing the buffer; -1 for leaves
	last := make([]int, n) // last instruction reading it (end for fetches)
	for i := range def {
		def[i], last[i] = -1, -1
	}
	hoisted := make([]bool, n) // values kept from run to run
	for i, in := range p.Insts {
		for _, d := range in.Dst {
			if in.Hoist {
				hoisted[d] = true
			}
			if def[d] < 0 {
				def[d] = i
			}
			last[d] = max(last[d], i)
		}
		for _, s := range in.Src {
			last[s] = max(last[s], i)
		}
	}
	for _, f := range p.Fetches {
		last[f] = end
	}
	// a view is defined with its source (no instruction writes it)
	for i, b := range p.Bufs {
		if b.View && b.ViewOf >= 0 && int(b.ViewOf) < n {
			def[i] = def[b.ViewOf]
		}
	}
	planned := func(b int) bool { return p.Bufs[b].Kind != BufVariable }
	for i, b := range p.Bufs {
		if planned(i) && (b.Kind != BufTemp || hoisted[i]) {
			// inputs, constants and hoisted values live for the whole run
			// (hoisted ones from run to run)
			last[i] = end
			if hoisted[i] {
				def[i] = -1
			}
		}
		if planned(i) && !b.View {
			pl.Unplanned += align(sizes[i])
		}
	}
	// views join their source's group
	gdef := append([]int(nil), def...)
	glast := append([]int(nil), last...)
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		parent[rb] = ra
		gdef[ra] = min(gdef[ra], gdef[rb])
		if gdef[ra] < 0 || gdef[rb] < 0 || p.Bufs[ra].Kind != BufTemp || p.Bufs[rb].Kind != BufTemp {
			gdef[ra] = -1
		}
		glast[ra] = max(glast[ra], glast[rb])
	}
	for i, b := range p.Bufs {
		if b.View && planned(i) && planned(int(b.ViewOf)) {
			union(int(b.ViewOf), i)
		}
	}
	// in-place: an output takes over an input that dies at its instruction
	for i, in := range p.Insts {
		if !in.InPlace || len(in.Dst) == 0 || p.NoMemoryReuse {
			continue
		}
		d := int(in.Dst[0])
		if find(d) != d || p.Bufs[d].Kind != BufTemp || p.Bufs[d].View {
			continue
		}
		for _, s := range in.Src {
			r := find(int(s))
			if p.Bufs[s].Kind == BufTemp && glast[r] == i && sizes[s] == sizes[d] && sizes[r] == sizes[d] && r != find(d) {
				union(r, d)
				break
			}
		}
	}
	// offsets: walk the instructions, allocating groups at their first
	// definition and freeing them after their last use
	type block struct{ off, size int }
	var free []block
	top := 0
	alloc := func(size int) int {
		best := -1
		for j, f := range free {
			if f.size >= size && (best < 0 || f.size < free[best].size) {
				best = j
			}
		}
		if best < 0 {
			off := top
			top += size
			return off
		}
		off := free[best].off
		if free[best].size == size {
			free = append(free[:best], free[best+1:]...)
		} else {
			free[best] = block{off + size, free[best].size - size}
		}
		return off
	}
	release := func(off, size int) {
		free = append(free, block{off, size})
		sort.Slice(free, func(a, b int) bool { return free[a].off < free[b].off })
		merged := free[:0]
		for _, f := range free {
			if k := len(merged) - 1; k >= 0 && merged[k].off+merged[k].size == f.off {
				merged[k].size += f.size
				continue
			}
			merged = append(merged, f)
		}
		free = merged
	}
	gsize := map[int]int{}
	for i := range p.Bufs {
		if planned(i) {
			r := find(i)
			gsize[r] = max(gsize[r], align(sizes[i]))
		}
	}
	goff := map[int]int{}
	place := func(r int) {
		if _, ok := goff[r]; !ok {
			goff[r] = alloc(gsize[r])
			pl.Blocks++
		}
	}
	for i := range p.Bufs { // leaves first, for the whole run
		if planned(i) && gdef[find(i)] < 0 {
			place(find(i))
		}
	}
	for i, in := range p.Insts {
		for _, d := range in.Dst {
			if planned(int(d)) {
				place(find(int(d)))
			}
		}
		seen := map[int]bool{}
		for _, b := range append(append([]int32(nil), in.Src...), in.Dst...) {
			r := find(int(b))
			if !planned(int(b)) || seen[r] || gdef[r] < 0 || glast[r] != i || p.NoMemoryReuse {
				continue
			}
			seen[r] = true
			release(goff[r], gsize[r])
		}
	}
	pl.Arena = top
	for i := range p.Bufs {
		if !planned(i) {
			pl.Offset[i], pl.Group[i] = -1, -1
			continue
		}
		r := find(i)
		if _, ok := goff[r]; !ok { // a temp no instruction writes: give it room
			place(r)
			pl.Arena = top
		}
		pl.Offset[i], pl.Group[i] = goff[r], r
	}
	return pl
}

// planAlign is the alignment of every block of the arena, in elements: 64
// bytes or more, a cache line, so that every buffer starts where vector
// loads like it (measured: an unaligned operand cost gonum's GEMM 6–7% on
// the reference shapes).
const planAlign = 16

func align(n int) int { return (n + planAlign - 1) / planAlign * planAlign }
