package train

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// Clip is the gradient clipping every optimizer embeds, Keras's clipvalue,
// clipnorm and global_clipnorm. It is applied as graph ops on the gradients
// before the update (and before any weight decay). The zero value clips
// nothing; at most one of the three may be set (Keras raises for clipnorm
// with global_clipnorm and silently ignores clipvalue when a norm is set;
// here any two are an error returned by Apply).
//
//	ClipValue c:       g ← min(max(g, −c), c), element-wise
//	ClipNorm c:        g ← g·c / max(‖g‖₂, c), per gradient tensor
//	GlobalClipNorm c:  gᵢ ← gᵢ·c / max(N, c), N = sqrt(Σᵢ ‖gᵢ‖₂²) over all gradients
//
// These are Keras's (tf.clip_by_norm, tf.clip_by_global_norm) forms: a
// gradient within the bound passes unchanged (up to the rounding of c/c).
// PyTorch's torch.nn.utils.clip_grad_norm_ scales by c/(N + 1e-6), clamped
// to 1, so its clipped norm is slightly below c.
type Clip struct {
	// ClipValue clips every gradient element to [−ClipValue, ClipValue].
	ClipValue float64
	// ClipNorm rescales each gradient whose L2 norm exceeds it to that norm.
	ClipNorm float64
	// GlobalClipNorm rescales all gradients together when their joint L2
	// norm exceeds it, keeping their directions and ratios.
	GlobalClipNorm float64
}

// validate rejects negative or non-finite bounds and more than one bound.
func (c Clip) validate() error {
	set := 0
	for _, b := range []struct {
		name string
		v    float64
	}{{"ClipValue", c.ClipValue}, {"ClipNorm", c.ClipNorm}, {"GlobalClipNorm", c.GlobalClipNorm}} {
		if !(b.v >= 0) || math.IsInf(b.v, 0) {
			return fmt.Errorf("%s %g: want a finite number > 0, or 0 for none", b.name, b.v)
		}
		if b.v > 0 {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("clipping: set only one of ClipValue (%g), ClipNorm (%g) and GlobalClipNorm (%g)", c.ClipValue, c.ClipNorm, c.GlobalClipNorm)
	}
	return nil
}

// clipGrads returns the clipped gradients, new nodes of g (grads itself when
// nothing is clipped).
func (c Clip) clipGrads(g *graph.Graph, grads []*graph.Node) ([]*graph.Node, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	out := make([]*graph.Node, len(grads))
	copy(out, grads)
	if c.ClipValue == 0 && c.ClipNorm == 0 && c.GlobalClipNorm == 0 {
		return out, nil
	}
	restore := g.EnterScope(optimizerScope + "/clip")
	defer restore()
	switch {
	case c.ClipValue > 0:
		lo, hi := g.Scalar(-c.ClipValue), g.Scalar(c.ClipValue)
		for i, gr := range grads {
			out[i] = nodes.Minimum(nodes.Maximum(gr, lo), hi)
		}
	case c.ClipNorm > 0:
		bound := g.Scalar(c.ClipNorm)
		for i, gr := range grads {
			norm := nodes.Sqrt(nodes.Sum(nodes.Square(gr), false))
			out[i] = nodes.Mul(gr, nodes.Div(bound, nodes.Maximum(norm, bound)))
		}
	case c.GlobalClipNorm > 0:
		bound := g.Scalar(c.GlobalClipNorm)
		var total *graph.Node
		for _, gr := range grads {
			sq := nodes.Sum(nodes.Square(gr), false)
			if total == nil {
				total = sq
			} else {
				total = nodes.Add(total, sq)
			}
		}
		scale := nodes.Div(bound, nodes.Maximum(nodes.Sqrt(total), bound))
		for i, gr := range grads {
			out[i] = nodes.Mul(gr, scale)
		}
	}
	return out, nil
}

// ClipGradients returns grads clipped by c, as nodes of their graph: what
// every optimizer's Apply does before its update, for callers that apply
// gradients themselves. It returns an error for an invalid Clip, nil or
// foreign gradients, or the graph's first error.
func ClipGradients(c Clip, grads []*graph.Node) ([]*graph.Node, error) {
	if len(grads) == 0 {
		return nil, nil
	}
	if grads[0] == nil {
		return nil, fmt.Errorf("train: clip: gradient 0 is nil")
	}
	g := grads[0].Graph()
	for i, gr := range grads {
		if gr == nil {
			return nil, fmt.Errorf("train: clip: gradient %d is nil", i)
		}
		if gr.Graph() != g {
			return nil, fmt.Errorf("train: clip: gradient %d belongs to another graph", i)
		}
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	out, err := c.clipGrads(g, grads)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
