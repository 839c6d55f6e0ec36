package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DOTOptions tunes WriteDOT. The zero value draws every node, top to bottom,
// one cluster per name scope, with input indices on the edges of ops that
// take several inputs.
type DOTOptions struct {
	// Title labels the whole drawing; empty means no title.
	Title string
	// RankDir is the direction of the drawing: "TB" (top to bottom, the
	// default when empty), "LR", "BT" or "RL".
	RankDir string
	// Fetches are the outputs of interest (a loss, its gradients): they are
	// drawn with a thick red border. Nil and poisoned nodes are skipped.
	Fetches []*Node
	// Prune draws only the fetches and the nodes they depend on. Without
	// fetches it has no effect.
	Prune bool
	// Collapse lists scopes ("gradients", "dense_1") to draw as one box
	// each, standing for every node in the scope and the scopes below it;
	// edges into and out of the scope are kept, once per pair of boxes. A
	// scope that the graph does not have is ignored.
	Collapse []string
	// HideInputIndex leaves edges unlabelled. By default an edge into an op
	// with several inputs carries the index of the input it feeds.
	HideInputIndex bool
}

// WriteDOT writes g to w in Graphviz's DOT language, a debugging aid: render
// it with RenderDOT or `dot -Tsvg`.
//
// Each node is labelled with its op (with attributes, as in OpString), its
// name within its scope and its type ("f32[B,300]"); the full name is the
// tooltip. Inputs are blue ellipses, variables green boxes, constants small
// grey boxes and other ops rounded boxes. Each name scope is a cluster,
// nested as the scopes are ("gradients/dense_1" inside "gradients"). Node
// ids in the output are n0, n1, ... after the nodes' IDs, so the output is
// the same, byte for byte, for the same graph.
//
// A graph with an error is written all the same (the nodes that were made,
// and a red note with the error) and WriteDOT returns nil: the drawing often
// shows why the builder failed. WriteDOT returns an error for a nil writer
// (wrapping ErrArg), a nil graph, a fetch from another graph, an unknown
// RankDir, or when w fails.
func WriteDOT(w io.Writer, g *Graph, opts DOTOptions) error {
	if w == nil {
		return fmt.Errorf("graph: WriteDOT: nil writer: %w", ErrArg)
	}
	if g == nil {
		return errors.New("graph: WriteDOT: nil graph")
	}
	rankdir := opts.RankDir
	switch rankdir {
	case "":
		rankdir = "TB"
	case "TB", "LR", "BT", "RL":
	default:
		return fmt.Errorf("graph: WriteDOT: RankDir %q: want TB, LR, BT or RL: %w", opts.RankDir, ErrArg)
	}
	fetched := make(map[*Node]bool, len(opts.Fetches))
	for i, f := range opts.Fetches {
		switch {
		case f.IsPoisoned():
		case f.g != g:
			return fmt.Errorf("graph: WriteDOT: fetch %d (%q) belongs to another graph: %w", i, f.name, ErrForeign)
		default:
			fetched[f] = true
		}
	}

	d := &dotWriter{g: g, opts: opts, fetched: fetched}
	d.choose()
	d.collapse()

	b := &d.buf
	b.WriteString("digraph tapegrad {\n")
	fmt.Fprintf(b, "\trankdir=%s;\n", rankdir)
	if opts.Title != "" {
		fmt.Fprintf(b, "\tlabel=%s;\n\tlabelloc=t;\n\tfontname=\"Helvetica\";\n\tfontsize=16;\n", dotQuote(opts.Title))
	}
	b.WriteString("\tnode [fontname=\"Helvetica\", fontsize=10];\n")
	b.WriteString("\tedge [fontname=\"Helvetica\", fontsize=8, arrowsize=0.6];\n")
	d.writeScope(d.root, 1)
	d.writeEdges()
	if err := g.Err(); err != nil {
		fmt.Fprintf(b, "\terror [shape=note, style=filled, fillcolor=\"#ffd6d6\", color=\"#c00000\", fontcolor=\"#c00000\", label=%s];\n", dotQuote(err.Error()))
	}
	b.WriteString("}\n")
	_, err := w.Write(b.Bytes())
	return err
}

// dotScope is one name scope of the drawing, with its own nodes and the
// scopes below it, both in order of first appearance.
type dotScope struct {
	path      string // full path: "gradients/dense_1"
	nodes     []*Node
	children  []*dotScope
	byName    map[string]*dotScope
	collapsed bool // drawn as one box
	count     int  // nodes drawn by a collapsed scope, its children's included
	fetched   bool // a collapsed scope holding a fetch
}

// child returns the scope below s with the given name and full path,
// adding it if it is new.
func (s *dotScope) child(name, path string) *dotScope {
	if c, ok := s.byName[name]; ok {
		return c
	}
	c := &dotScope{path: path, byName: map[string]*dotScope{}}
	s.byName[name] = c
	s.children = append(s.children, c)
	return c
}

type dotWriter struct {
	g       *Graph
	opts    DOTOptions
	fetched map[*Node]bool
	keep    []bool      // by node ID: drawn
	root    *dotScope   // the top level
	rep     []*dotScope // by node ID: the collapsed scope that stands for it
	buf     bytes.Buffer
}

// choose marks the nodes to draw and sorts them into scopes.
func (d *dotWriter) choose() {
	nodes := d.g.nodes
	d.keep = make([]bool, len(nodes))
	if d.opts.Prune && len(d.fetched) > 0 {
		for n := range d.fetched {
			d.keep[n.id] = true
		}
		for i := len(nodes) - 1; i >= 0; i-- {
			if d.keep[i] {
				for _, in := range nodes[i].inputs {
					d.keep[in.id] = true
				}
			}
		}
	} else {
		for i := range d.keep {
			d.keep[i] = true
		}
	}
	d.root = &dotScope{byName: map[string]*dotScope{}}
	for _, n := range nodes {
		if !d.keep[n.id] {
			continue
		}
		s := d.root
		if n.scope != "" {
			parts := strings.Split(n.scope, "/")
			for i, part := range parts {
				s = s.child(part, strings.Join(parts[:i+1], "/"))
			}
		}
		s.nodes = append(s.nodes, n)
	}
}

// collapse marks the scopes of opts.Collapse and records, for every node,
// the collapsed scope that stands for it.
func (d *dotWriter) collapse() {
	d.rep = make([]*dotScope, len(d.g.nodes))
	want := make(map[string]bool, len(d.opts.Collapse))
	for _, c := range d.opts.Collapse {
		want[c] = true
	}
	if len(want) == 0 {
		return
	}
	var walk func(s, rep *dotScope)
	walk = func(s, rep *dotScope) {
		if rep == nil && s != d.root && want[s.path] {
			s.collapsed = true
			rep = s
		}
		if rep != nil {
			for _, n := range s.nodes {
				d.rep[n.id] = rep
				rep.count++
				rep.fetched = rep.fetched || d.fetched[n]
			}
		}
		for _, c := range s.children {
			walk(c, rep)
		}
	}
	walk(d.root, nil)
}

func (d *dotWriter) writeScope(s *dotScope, depth int) {
	b := &d.buf
	ind := strings.Repeat("\t", depth)
	for _, n := range s.nodes {
		b.WriteString(ind)
		d.writeNode(n, s != d.root)
	}
	for _, c := range s.children {
		if c.collapsed {
			d.writeCollapsed(c, ind)
			continue
		}
		name := c.path[strings.LastIndexByte(c.path, '/')+1:]
		fmt.Fprintf(b, "%ssubgraph %s {\n", ind, dotQuote("cluster_"+c.path))
		fmt.Fprintf(b, "%s\tgraph [label=%s, tooltip=%s, style=\"rounded,filled\", fillcolor=%q, color=\"#a0a0a0\", fontname=\"Helvetica\", fontsize=11];\n",
			ind, dotQuote(name), dotQuote(c.path), clusterFill(depth))
		d.writeScope(c, depth+1)
		fmt.Fprintf(b, "%s}\n", ind)
	}
}

// clusterFill darkens nested clusters a little, so that nesting shows.
func clusterFill(depth int) string {
	fills := [...]string{"#f7f7f7", "#eeeeee", "#e4e4e4", "#dadada"}
	return fills[min(depth-1, len(fills)-1)]
}

func (d *dotWriter) writeCollapsed(s *dotScope, ind string) {
	label := s.path + "\n" + strconv.Itoa(s.count) + " nodes"
	if s.count == 1 {
		label = s.path + "\n1 node"
	}
	style := ""
	if s.fetched {
		style = ", penwidth=3, color=\"#c00000\""
	}
	fmt.Fprintf(&d.buf, "%s%s [shape=box3d, style=filled, fillcolor=\"#fff2cc\", label=%s, tooltip=%s%s];\n",
		ind, dotQuote("scope_"+s.path), dotQuote(label), dotQuote(s.path), style)
}

func (d *dotWriter) writeNode(n *Node, inCluster bool) {
	name := n.name
	if inCluster {
		name = strings.TrimPrefix(name, n.scope+"/")
	}
	typ := n.DType().String() + n.shape.String()
	var attrs, label string
	switch op := n.op.(type) {
	case InputOp:
		attrs = `shape=ellipse, style=filled, fillcolor="#cfe2ff", color="#3d6fb4"`
		label = name + "\n" + typ
	case VariableOp:
		fill := "#d4edda"
		if !op.Trainable {
			fill = "#eef7e6"
			typ += " (non-trainable)"
		}
		attrs = `shape=box, style=filled, fillcolor="` + fill + `", color="#2e7d32"`
		label = name + "\n" + typ
	case ConstantOp:
		attrs = `shape=box, style=filled, fillcolor="#eeeeee", color="#9e9e9e", fontcolor="#616161", fontsize=8, height=0.2, margin="0.05,0.02"`
		if v, ok := op.Scalar(); ok {
			label = strconv.FormatFloat(v, 'g', -1, 64)
			if len(n.shape) > 0 {
				label += "\n" + typ
			}
		} else {
			label = "const " + typ
		}
	default:
		attrs = `shape=box, style="rounded,filled", fillcolor="#ffffff"`
		label = OpString(n.op)
		if name != n.op.Name() {
			label += "\n" + name
		}
		label += "\n" + typ
	}
	if d.fetched[n] {
		attrs += `, penwidth=3, color="#c00000"`
	}
	fmt.Fprintf(&d.buf, "n%d [%s, label=%s, tooltip=%s];\n", n.id, attrs, dotQuote(label), dotQuote(n.name))
}

// dotID is the id of the box that stands for n: its own, or its collapsed
// scope's.
func (d *dotWriter) dotID(n *Node) string {
	if s := d.rep[n.id]; s != nil {
		return dotQuote("scope_" + s.path)
	}
	return "n" + strconv.Itoa(n.id)
}

func (d *dotWriter) writeEdges() {
	seen := map[[2]string]bool{}
	for _, n := range d.g.nodes {
		if !d.keep[n.id] {
			continue
		}
		to := d.dotID(n)
		for i, in := range n.inputs {
			from := d.dotID(in)
			if d.rep[n.id] != nil || d.rep[in.id] != nil {
				// an edge of a collapsed scope: once per pair, none inside
				if from == to || seen[[2]string{from, to}] {
					continue
				}
				seen[[2]string{from, to}] = true
				fmt.Fprintf(&d.buf, "\t%s -> %s;\n", from, to)
				continue
			}
			if len(n.inputs) > 1 && !d.opts.HideInputIndex {
				fmt.Fprintf(&d.buf, "\t%s -> %s [headlabel=\"%d\"];\n", from, to, i)
			} else {
				fmt.Fprintf(&d.buf, "\t%s -> %s;\n", from, to)
			}
		}
	}
}

// dotQuote returns s as a DOT quoted string that Graphviz shows as s:
// quotes and backslashes escaped, newlines as centred line breaks, other
// control characters spelled out, invalid UTF-8 replaced.
func dotQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				break // \r\n: the \n makes the break
			}
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			// shown as text: \x07, \u2028
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(strings.ReplaceAll(q[1:len(q)-1], `\`, `\\`))
		default:
			b.WriteRune(r)
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// RenderDOT runs Graphviz's dot program, which must be on PATH, on a DOT
// text (as WriteDOT writes it) and returns the rendered drawing in format:
// "svg", "png", "pdf", "plain" or any other format dot -T accepts. When dot
// is not found the error wraps exec.ErrNotFound. ctx bounds the run, as
// huge graphs can take dot a long time.
func RenderDOT(ctx context.Context, dot []byte, format string) ([]byte, error) {
	if format == "" || strings.IndexFunc(format, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ':' || r == '_' || r == '.')
	}) >= 0 {
		return nil, fmt.Errorf("graph: RenderDOT: bad format %q: want a dot -T format such as svg or png: %w", format, ErrArg)
	}
	path, err := exec.LookPath("dot")
	if err != nil {
		return nil, fmt.Errorf("graph: RenderDOT needs the Graphviz dot program on PATH (https://graphviz.org/download/): %w", err)
	}
	cmd := exec.CommandContext(ctx, path, "-T"+format)
	cmd.Stdin = bytes.NewReader(dot)
	var out, stderr bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("graph: RenderDOT: dot -T%s: %w", format, err)
		}
		return nil, fmt.Errorf("graph: RenderDOT: dot -T%s: %w: %s", format, err, msg)
	}
	return out.Bytes(), nil
}
