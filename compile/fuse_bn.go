package compile

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/nodes"
)

// fuseBNAct fuses BatchNormTrain with the element-wise activation that
// reads its output (FusedBNAct), and, in the backward pass, the
// activation's gradient with BatchNormTrain's gradient (FusedBNActGrad).
// The batch statistics (Output values of the BN value) become outputs of
// the fused value, at the same indices.
func fuseBNAct(f *Func) (string, error) {
	cons := f.consumers()
	fetched := f.fetched()
	repl := map[*Value]*Value{}
	var places []placement
	fwd, bwd := 0, 0
	for _, bn := range f.Values {
		info, ok := nodes.BatchNormOf(bn.Op)
		if !ok || !info.Train {
			continue
		}
		var act *Value
		others := 0
		for _, c := range cons[bn] {
			if _, isOut := c.Op.(graph.OutputOp); isOut {
				continue
			}
			if act == nil && len(c.Args) == 1 && nodes.InPlace(c.Op) && c.Shape.Equal(bn.Shape) {
				if ar, _ := nodes.ElementwiseArity(c.Op); ar == 1 {
					act = c
					continue
				}
			}
			others++
		}
		if act == nil {
			continue
		}
		op := &nodes.FusedBNAct{BN: bn.Op, Act: act.Op, KeepZ: others > 0 || fetched[bn], From: []string{bn.Name, act.Name}}
		fused := f.NewValue(op, act.Name, act.Shape, bn.Args...)
		fused.From, fused.Node = op.From, act.Node
		// the statistics now come from the fused value, at the same indices
		for _, c := range cons[bn] {
			if _, isOut := c.Op.(graph.OutputOp); isOut {
				c.Args[0] = fused
			}
		}
		repl[act] = fused
		if op.KeepZ {
			in := make([]graph.Shape, len(bn.Args))
			for i, a := range bn.Args {
				in[i] = a.Shape
			}
			outs, err := op.OutputShapes(in)
			if err != nil {
				return "", err
			}
			zv := f.NewValue(graph.OutputOp{Index: len(outs) - 1, Shape: bn.Shape}, bn.Name, bn.Shape, fused)
			zv.Node = bn.Node
			repl[bn] = zv
		} else {
			repl[bn] = fused
		}
		places = append(places, placement{bn, fused})
		fwd++
	}
	if fwd > 0 {
		f.insertReplacing(repl, places)
	}
	// backward: batch_norm_grad whose upstream is an activation gradient
	// read by nothing else
	cons = f.consumers()
	fetched = f.fetched()
	repl = map[*Value]*Value{}
	places = nil
	for _, bg := range f.Values {
		if !nodes.IsBatchNormGrad(bg.Op) {
			continue
		}
		ag := bg.Args[2]
		if !nodes.IsActivationGrad(ag.Op) || fetched[ag] || len(cons[ag]) != 1 {
			continue
		}
		op := &nodes.FusedBNActGrad{BNGrad: bg.Op, ActGrad: ag.Op, From: []string{ag.Name, bg.Name}}
		args := []*Value{bg.Args[0], bg.Args[1], ag.Args[0], ag.Args[1], bg.Args[3], bg.Args[4]}
		fused := f.NewValue(op, bg.Name, bg.Shape, args...)
		fused.From, fused.Node = op.From, bg.Node
		for _, c := range cons[bg] {
			if _, isOut := c.Op.(graph.OutputOp); isOut {
				c.Args[0] = fused
			}
		}
		repl[bg], repl[ag] = fused, fused
		places = append(places, placement{bg, fused})
		bwd++
	}
	if bwd > 0 {
		f.insertReplacing(repl, places)
	}
	return fmt.Sprintf("%d forward, %d backward fused", fwd, bwd), nil
}
