package compile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tapegrad/tapegrad/vm"
)

// DefaultExplainBatch is the batch size Explain uses for concrete shapes
// and the memory plan of a program with an open batch dimension.
const DefaultExplainBatch = 32

// Explain prints a program the way a jaxpr reads: a header of typed inputs,
// variables and constants; one line per instruction with what it computes,
// its operands, its output type and its place in the arena, and the nodes it
// came from; the hoisted instructions (run only when the store changes) and
// the assignments; then what each compiler pass did and the memory plan for
// a batch of DefaultExplainBatch.
func Explain(p *vm.Program) string { return ExplainBatch(p, DefaultExplainBatch) }

// ExplainBatch is Explain with the memory plan for the given batch size.
func ExplainBatch(p *vm.Program, batch int) string {
	if p == nil {
		return "<nil program>\n"
	}
	if err := p.Validate(); err != nil {
		return fmt.Sprintf("<invalid program: %v>\n", err)
	}
	var b strings.Builder
	dt := p.DType.String()
	shapes, plan, planErr := p.PlanFor(batch)
	// buffers are named by their place in the arena: two values at the
	// same offset share memory (at different times, or in place)
	block := map[int]int{}
	if planErr == nil {
		offs := []int{}
		for i, g := range plan.Group {
			if g >= 0 {
				if _, ok := block[plan.Offset[i]]; !ok {
					block[plan.Offset[i]] = 0
					offs = append(offs, plan.Offset[i])
				}
			}
		}
		slices.Sort(offs)
		for i, o := range offs {
			block[o] = i
		}
	}
	blockOf := func(i int32) string {
		if planErr != nil || plan.Group[i] < 0 {
			return ""
		}
		return fmt.Sprintf(" @buf%d", block[plan.Offset[i]])
	}
	section := func(title string, kind vm.BufKind) {
		first := true
		seen := map[string]bool{}
		for i, buf := range p.Bufs {
			if buf.Kind != kind || buf.View {
				continue
			}
			if kind == vm.BufVariable {
				if seen[buf.Name] { // a second binding of a variable written in place
					continue
				}
				seen[buf.Name] = true
			}
			if first {
				b.WriteString(title + ":\n")
				first = false
			}
			name := buf.Name
			if kind == vm.BufConstant {
				name = constText(buf.Data)
			}
			fmt.Fprintf(&b, "  %%%d %s : %s%v%s\n", i, name, dt, buf.Shape, blockOf(int32(i)))
		}
	}
	fmt.Fprintf(&b, "program %s: %d instructions\n", dt, len(p.Insts))
	section("inputs", vm.BufInput)
	section("variables", vm.BufVariable)
	section("constants", vm.BufConstant)
	inst := func(in vm.Inst) {
		inPlace := false
		if in.InPlace && planErr == nil && len(in.Dst) > 0 {
			for _, s := range in.Src {
				if plan.Group[s] >= 0 && plan.Group[s] == plan.Group[in.Dst[0]] {
					inPlace = true
					break
				}
			}
		}
		fmt.Fprintf(&b, "  %s\n", p.InstStringWith(in, func(d int32) string {
			if inPlace && d == in.Dst[0] {
				return blockOf(d) + " (in place)"
			}
			return blockOf(d)
		}))
	}
	var hoisted, body, assigns []vm.Inst
	for _, in := range p.Insts {
		switch {
		case in.Op == vm.OpAssign:
			assigns = append(assigns, in)
		case in.Hoist:
			hoisted = append(hoisted, in)
		default:
			body = append(body, in)
		}
	}
	if len(hoisted) > 0 {
		b.WriteString("hoisted (run when the variables change):\n")
		for _, in := range hoisted {
			inst(in)
		}
	}
	b.WriteString("instructions:\n")
	for _, in := range body {
		inst(in)
	}
	for i, buf := range p.Bufs {
		if buf.View {
			fmt.Fprintf(&b, "  %%%d = view %%%d : %s%v%s   ; %s\n", i, buf.ViewOf, dt, buf.Shape, blockOf(int32(i)), buf.Name)
		}
	}
	if len(assigns) > 0 {
		b.WriteString("assignments (after everything else):\n")
		for _, in := range assigns {
			inst(in)
		}
	}
	b.WriteString("fetch")
	for _, f := range p.Fetches {
		fmt.Fprintf(&b, " %%%d", f)
	}
	b.WriteString("\npasses:\n")
	for _, l := range p.Passes {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if planErr != nil {
		fmt.Fprintf(&b, "memory: %v\n", planErr)
		return b.String()
	}
	size := p.DType.Size()
	vars := 0
	nbuf := 0
	counted := map[string]bool{}
	for i, buf := range p.Bufs {
		if buf.Kind == vm.BufVariable {
			if !counted[buf.Name] {
				counted[buf.Name] = true
				vars += shapes[i].Size()
			}
		} else {
			nbuf++
		}
	}
	fmt.Fprintf(&b, "memory (batch %d): buffers %d → %d, %s → %s; variables %s in the store\n",
		batch, nbuf, len(block), bytes(plan.Unplanned*size), bytes(plan.Arena*size), bytes(vars*size))
	return b.String()
}

func constText(d []float64) string {
	switch {
	case len(d) == 1:
		return fmt.Sprint(d[0])
	case len(d) <= 4:
		return fmt.Sprint(d)
	}
	return fmt.Sprintf("[%v %v … %d values]", d[0], d[1], len(d))
}

// bytes formats a size as B, kB or MB (powers of 1000, as Keras prints).
func bytes(n int) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
