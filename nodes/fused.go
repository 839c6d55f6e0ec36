package nodes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// Fused ops: made only by the compiler (package compile), never by model
// code, so they have no builders and no gradients — fusion runs after
// autodiff. Each is checked against the unfused ops it replaces (compile's
// Verify and its tests).

// unaryRow returns the row kernel of a unary element-wise op, or nil.
func unaryRow[T kernel.Float](op graph.Op) kernel.UnaryRow[T] {
	switch op := op.(type) {
	case actOp:
		return actRow[T](op)
	case negOp:
		return negRow[T]()
	case expOp:
		return expRow[T]
	case logOp:
		return logRow[T]
	case sqrtOp:
		return sqrtRow[T]()
	case squareOp:
		return squareRow[T]()
	case powOp:
		return powRow[T](op.p)
	case absOp:
		return absRow[T]()
	case signOp:
		return signRow[T]
	case reciprocalOp:
		return reciprocalRow[T]()
	case sigmoidOp:
		return sigmoidRow[T]
	case tanhOp:
		return tanhRow[T]
	}
	return nil
}

// binaryRow returns the row kernel of a binary element-wise op, or nil. Ops
// that take two operands of one shape (activation gradients) only run in
// mode VV.
func binaryRow[T kernel.Float](op graph.Op) (row kernel.BinaryRow[T], vvOnly bool) {
	switch op := op.(type) {
	case addOp:
		return addRow[T](), false
	case subOp:
		return subRow[T](), false
	case mulOp:
		return mulRow[T](), false
	case divOp:
		return divRow[T](), false
	case cmpOp:
		return cmpRow[T](op.kind), false
	case extremumOp:
		return extremumRow[T](op.max), false
	case actGradOp:
		g := actGradRowOf[T](op)
		return func(_ kernel.Mode, d, a, b []T) { g(d, a, b) }, true
	}
	return nil, false
}

// ElementwiseArity returns 1 or 2 for the element-wise ops the fused
// kernels can run, 0 for any other op. For binary ops, sameShape says that
// the op takes operands of one shape only (no broadcasting).
func ElementwiseArity(op graph.Op) (arity int, sameShape bool) {
	if unaryRow[float64](op) != nil {
		return 1, false
	}
	if r, vv := binaryRow[float64](op); r != nil {
		return 2, vv
	}
	return 0, false
}

// FusedStep is one step of a fused element-wise kernel: an element-wise op
// applied to one or two operands. An operand is the result of an earlier
// step (Ref ≥ 0) or input −Ref−1 of the fused op (Ref < 0).
type FusedStep struct {
	Op   graph.Op
	Args []int
}

// FusedElementwise runs a chain (a DAG) of element-wise ops in one sweep
// over memory: the outputs are computed block by block, each step writing
// a block-sized register, so intermediate values never leave the cache.
// Every input has the outputs' shape or is a single value.
//
// By default the op has one output, the last step's result. With Outputs
// it has several, all of one shape: the results of the steps it lists (an
// optimizer's update of a parameter and of its slots, computed in one
// sweep). The kernel reads every input element of a block before it writes
// any output element of that block, so an output may share its memory with
// an input (a slot read and written by the update).
type FusedElementwise struct {
	Steps []FusedStep
	// Outputs lists the steps whose results are the op's outputs, in
	// increasing order, the last step last; nil means the last step alone.
	Outputs []int
	// From names the nodes the op replaces, for Explain.
	From []string
}

// NewFusedElementwise checks the steps and returns the fused op, whose
// output is the last step's result.
func NewFusedElementwise(steps []FusedStep, from []string) (*FusedElementwise, error) {
	return NewFusedElementwiseMulti(steps, nil, from)
}

// NewFusedElementwiseMulti checks the steps and the outputs (the steps
// whose results the op outputs, increasing, ending with the last step; nil
// for the last step alone) and returns the fused op.
func NewFusedElementwiseMulti(steps []FusedStep, outputs []int, from []string) (*FusedElementwise, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("nodes: fused element-wise op with no steps")
	}
	for i, s := range steps {
		ar, _ := ElementwiseArity(s.Op)
		if ar == 0 || ar != len(s.Args) {
			return nil, fmt.Errorf("nodes: fused step %d: %s is not an element-wise op of %d operands", i, graph.OpString(s.Op), len(s.Args))
		}
		for _, r := range s.Args {
			if r >= i {
				return nil, fmt.Errorf("nodes: fused step %d reads step %d", i, r)
			}
		}
	}
	for k, o := range outputs {
		switch {
		case o < 0 || o >= len(steps):
			return nil, fmt.Errorf("nodes: fused output %d is step %d of %d", k, o, len(steps))
		case k > 0 && o <= outputs[k-1]:
			return nil, fmt.Errorf("nodes: fused outputs %v are not in increasing order", outputs)
		}
	}
	if len(outputs) > 0 && outputs[len(outputs)-1] != len(steps)-1 {
		return nil, fmt.Errorf("nodes: fused outputs %v leave the last step %d unused", outputs, len(steps)-1)
	}
	if len(outputs) == 1 {
		outputs = nil
	}
	return &FusedElementwise{Steps: steps, Outputs: slices.Clone(outputs), From: from}, nil
}

// outputSteps returns the steps whose results are the outputs.
func (op *FusedElementwise) outputSteps() []int {
	if len(op.Outputs) == 0 {
		return []int{len(op.Steps) - 1}
	}
	return op.Outputs
}

// Name returns "fused".
func (op *FusedElementwise) Name() string { return "fused" }

// Attrs lists the steps' ops and, with several outputs, the steps they
// come from ("mul,add,mul,sub out=1,3").
func (op *FusedElementwise) Attrs() string {
	names := make([]string, len(op.Steps))
	for i, s := range op.Steps {
		names[i] = graph.OpString(s.Op)
	}
	attrs := strings.Join(names, ",")
	if len(op.Outputs) > 1 {
		outs := make([]string, len(op.Outputs))
		for k, o := range op.Outputs {
			outs[k] = strconv.Itoa(o)
		}
		attrs += " out=" + strings.Join(outs, ",")
	}
	return attrs
}

// InferShape returns the shape of the largest input; every input must have
// it or hold a single value.
func (op *FusedElementwise) InferShape(in []graph.Shape) (graph.Shape, error) {
	if len(in) == 0 {
		return nil, graph.Errorf(graph.ErrArg, "fused op without inputs")
	}
	out := in[0]
	for _, s := range in[1:] {
		if len(s) > len(out) || (s.Size() != 1 && out.Size() == 1) {
			out = s
		}
	}
	for _, s := range in {
		if !s.Equal(out) && s.Size() != 1 {
			return nil, graph.Errorf(graph.ErrShape, "fused op: input %v is neither %v nor a single value", s, out)
		}
	}
	return out, nil
}

// OutputShapes returns InferShape's shape once per output.
func (op *FusedElementwise) OutputShapes(in []graph.Shape) ([]graph.Shape, error) {
	out, err := op.InferShape(in)
	if err != nil {
		return nil, err
	}
	shapes := make([]graph.Shape, len(op.outputSteps()))
	for i := range shapes {
		shapes[i] = out
	}
	return shapes, nil
}

// NoGradient: fused ops are made after autodiff.
func (op *FusedElementwise) NoGradient() string {
	return "fused ops are made by the compiler, after autodiff"
}

// Bind32 binds the kernel.
func (op *FusedElementwise) Bind32(a *kernel.Args[float32]) func() { return bindFused(op, a) }

// Bind64 binds the kernel.
func (op *FusedElementwise) Bind64(a *kernel.Args[float64]) func() { return bindFused(op, a) }

// fusedBlock is the number of elements a fused kernel computes per step:
// small enough that every register of a chain stays in L1.
const fusedBlock = 256

// bindFused binds a fused chain. Per block, every step runs in order into
// its register, reading the inputs' block; the last step writes its output
// straight into its destination (nothing reads the inputs after it), and
// the other outputs are copied from their registers once the last step has
// run, so that no output overwrites an input the block still reads.
func bindFused[T kernel.Float](op *FusedElementwise, a *kernel.Args[T]) func() {
	n := len(a.Dst[0])
	type step struct {
		un     kernel.UnaryRow[T]
		bin    kernel.BinaryRow[T]
		args   []int // operands: a register (≥ 0) or input −ref−1
		scalar []bool
		reg    int // the register the step writes; −1: the destination
	}
	steps := make([]step, len(op.Steps))
	scalarIn := make([]bool, len(a.Src))
	for i, s := range a.Src {
		scalarIn[i] = len(s) == 1 && n != 1
	}
	outs := op.outputSteps()
	last := len(outs) - 1 // the output written straight from the last step
	// registers: a step's register is free once its last reader has run
	// (the reader may write its result over it: element-wise rows allow
	// that); an output's lives to the end of the block, when it is copied
	lastUse := make([]int, len(op.Steps))
	for i, s := range op.Steps {
		lastUse[i] = i
		for _, r := range s.Args {
			if r >= 0 {
				lastUse[r] = i
			}
		}
	}
	for _, o := range outs[:last] {
		lastUse[o] = len(op.Steps)
	}
	var free []int
	nregs := 0
	for i, s := range op.Steps {
		st := step{reg: -1}
		if len(s.Args) == 1 {
			st.un = unaryRow[T](s.Op)
		} else {
			st.bin, _ = binaryRow[T](s.Op)
		}
		for _, r := range s.Args {
			st.scalar = append(st.scalar, r < 0 && scalarIn[-r-1])
			if r >= 0 {
				st.args = append(st.args, steps[r].reg)
			} else {
				st.args = append(st.args, r)
			}
		}
		for _, r := range s.Args {
			if r >= 0 && lastUse[r] == i && !slices.Contains(free, steps[r].reg) {
				free = append(free, steps[r].reg)
			}
		}
		if i < len(op.Steps)-1 {
			if k := len(free); k > 0 {
				st.reg, free = free[k-1], free[:k-1]
			} else {
				st.reg = nregs
				nregs++
			}
			if lastUse[i] == i { // read by no one: its register is free again
				free = append(free, st.reg)
			}
		}
		steps[i] = st
	}
	outRegs := make([]int, last)
	for k, o := range outs[:last] {
		outRegs[k] = steps[o].reg
	}
	pool := &kernel.FreeList[[][]T]{New: func() *[][]T {
		r := make([][]T, nregs)
		buf := make([]T, nregs*fusedBlock)
		for i := range r {
			r[i] = buf[i*fusedBlock : (i+1)*fusedBlock]
		}
		return &r
	}}
	dsts, src := a.Dst, a.Src
	dst := dsts[last]
	operand := func(regs [][]T, ref, lo, hi int) []T {
		if ref >= 0 {
			return regs[ref][:hi-lo]
		}
		s := src[-ref-1]
		if len(s) == 1 && n != 1 {
			return s
		}
		return s[lo:hi]
	}
	body := func(lo, hi int) {
		rp := pool.Get()
		regs := *rp
		for b := lo; b < hi; b += fusedBlock {
			e := min(b+fusedBlock, hi)
			for i := range steps {
				st := &steps[i]
				var out []T
				if st.reg < 0 {
					out = dst[b:e]
				} else {
					out = regs[st.reg][:e-b]
				}
				x := operand(regs, st.args[0], b, e)
				if st.un != nil {
					st.un(out, x)
					continue
				}
				y := operand(regs, st.args[1], b, e)
				mode := kernel.VV
				switch {
				case st.scalar[0] && !st.scalar[1]:
					mode = kernel.SV
				case st.scalar[1] && !st.scalar[0]:
					mode = kernel.VS
				}
				st.bin(mode, out, x, y)
			}
			for k, r := range outRegs {
				copy(dsts[k][b:e], regs[r][:e-b])
			}
		}
		pool.Put(rp)
	}
	return func() { kernel.For(n, kernel.ElementGrain/4, body) }
}

// FusedDense is MatMul + bias + activation as one instruction: the bias is
// copied into the output rows, the GEMM accumulates onto it (beta = 1), and
// one sweep applies the activation in place. With KeepZ it has a second
// output, the pre-activation z, for a backward pass that needs it
// (activation gradients read x, not y).
type FusedDense struct {
	TransA, TransB bool
	Bias           bool     // a third input b of shape [n]
	Act            graph.Op // a unary element-wise op, or nil
	KeepZ          bool
	From           []string
}

// Name returns "dense".
func (op *FusedDense) Name() string { return "dense" }

// Attrs shows the activation and the transposes.
func (op *FusedDense) Attrs() string {
	var parts []string
	if mm := (matMulOp{transA: op.TransA, transB: op.TransB}).Attrs(); mm != "" {
		parts = append(parts, mm)
	}
	if op.Bias {
		parts = append(parts, "bias")
	}
	if op.Act != nil {
		parts = append(parts, "act="+graph.OpString(op.Act))
	}
	if op.KeepZ {
		parts = append(parts, "keep_z")
	}
	return strings.Join(parts, " ")
}

// InferShape is MatMul's rule, plus the bias's shape.
func (op *FusedDense) InferShape(in []graph.Shape) (graph.Shape, error) {
	want := 2
	if op.Bias {
		want = 3
	}
	if len(in) != want {
		return nil, graph.Errorf(graph.ErrArg, "dense takes %d inputs, got %d", want, len(in))
	}
	out, err := matMulOp{transA: op.TransA, transB: op.TransB}.InferShape(in[:2])
	if err != nil {
		return nil, err
	}
	if op.Bias && !(len(in[2]) == 1 && in[2][0] == out[1]) {
		return nil, graph.Errorf(graph.ErrShape, "dense: bias %v does not match %v", in[2], out)
	}
	return out, nil
}

// OutputShapes returns y (and z with KeepZ).
func (op *FusedDense) OutputShapes(in []graph.Shape) ([]graph.Shape, error) {
	out, err := op.InferShape(in)
	if err != nil {
		return nil, err
	}
	if op.KeepZ {
		return []graph.Shape{out, out}, nil
	}
	return []graph.Shape{out}, nil
}

// NoGradient: fused ops are made after autodiff.
func (op *FusedDense) NoGradient() string {
	return "fused ops are made by the compiler, after autodiff"
}

// Bind32 binds the kernel.
func (op *FusedDense) Bind32(a *kernel.Args[float32]) func() { return bindDense(op, a) }

// Bind64 binds the kernel.
func (op *FusedDense) Bind64(a *kernel.Args[float64]) func() { return bindDense(op, a) }

func bindDense[T kernel.Float](op *FusedDense, a *kernel.Args[T]) func() {
	gemm := kernel.Gemm[T]()
	m, k := dims(a.In[0], op.TransA)
	_, n := dims(a.In[1], op.TransB)
	lda, ldb := a.In[0][1], a.In[1][1]
	x, w, y := a.Src[0], a.Src[1], a.Dst[0]
	z := y
	if op.KeepZ {
		z = a.Dst[1]
	}
	var bias []T
	if op.Bias {
		bias = a.Src[2]
	}
	var act kernel.UnaryRow[T]
	if op.Act != nil {
		act = denseAct[T](op.Act)
	}
	ta, tb := op.TransA, op.TransB
	beta := T(0)
	if bias != nil {
		beta = 1
	}
	sweep := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			act(y[r*n:(r+1)*n], z[r*n:(r+1)*n])
		}
	}
	grain := max(1, kernel.ElementGrain/8/max(1, n))
	return func() {
		if bias != nil {
			for r := 0; r < m; r++ {
				copy(z[r*n:(r+1)*n], bias)
			}
		}
		gemm(ta, tb, m, n, k, 1, x, lda, w, ldb, beta, z, n)
		if act != nil {
			kernel.For(m, grain, sweep)
		}
	}
}

// actRow returns the forward row kernel of an activation.
func actRow[T kernel.Float](op actOp) kernel.UnaryRow[T] {
	switch op.kind {
	case actReLU:
		return reluRow[T]
	case actReLU6:
		return relu6Row[T]
	case actLeakyReLU:
		return leakyReLURow[T](op.alpha)
	case actHardSigmoid:
		return hardSigmoidRow[T]
	case actELU:
		return eluRow[T](1, op.alpha)
	case actSELU:
		return eluRow[T](SELUScale, SELUScaleAlpha)
	case actGELU:
		return geluRow[T]
	case actGELUTanh:
		return geluTanhRow[T]
	case actSiLU:
		return siluRow[T]
	case actSoftplus:
		return softplusRow[T]
	}
	panic("nodes: activation kernel for unknown kind " + op.Name())
}

// actGradRowOf returns the gradient row kernel of an activation: of x, or
// of y when op.fromY (the piecewise-linear kinds switch at the same places
// in y as in x, so their rows serve both).
func actGradRowOf[T kernel.Float](op actGradOp) actGradRow[T] {
	if op.fromY {
		switch op.kind {
		case actELU:
			return eluGradYRow[T](1, op.alpha)
		case actSELU:
			return eluGradYRow[T](SELUScale, SELUScaleAlpha)
		}
	}
	switch op.kind {
	case actReLU:
		return reluGradRow[T]
	case actReLU6:
		return relu6GradRow[T]
	case actLeakyReLU:
		return leakyReLUGradRow[T](op.alpha)
	case actHardSigmoid:
		return hardSigmoidGradRow[T]
	case actELU:
		return eluGradRow[T](1, op.alpha)
	case actSELU:
		return eluGradRow[T](SELUScale, SELUScaleAlpha)
	case actGELU:
		return geluGradRow[T]
	case actGELUTanh:
		return geluTanhGradRow[T]
	case actSiLU:
		return siluGradRow[T]
	case actSoftplus:
		return softplusGradRow[T]
	}
	panic("nodes: activation gradient kernel for unknown kind " + op.Name())
}

// denseAct returns the row kernel FusedDense applies to each output row:
// an element-wise op's, or softmax's and log-softmax's (whose rows are the
// last axis, which a dense output's rows are).
func denseAct[T kernel.Float](op graph.Op) kernel.UnaryRow[T] {
	if s, ok := op.(softmaxOp); ok {
		if s.log {
			return logSoftmaxRow[T]
		}
		return softmaxRow[T]
	}
	return unaryRow[T](op)
}

// IsDenseActivation reports whether FusedDense can apply op to its output:
// any unary element-wise op, softmax or log-softmax.
func IsDenseActivation(op graph.Op) bool { return op != nil && denseAct[float64](op) != nil }

// MatMulTransposes reports whether op is MatMul's, and its transposes.
func MatMulTransposes(op graph.Op) (transA, transB, ok bool) {
	m, ok := op.(matMulOp)
	return m.transA, m.transB, ok
}

// IsReshape reports whether op is Reshape's (a copy the compiler may turn
// into a view).
func IsReshape(op graph.Op) bool {
	_, ok := op.(reshapeOp)
	return ok
}

// InPlace reports whether op's kernel may write its output over an input of
// the same size: element-wise ops and fused element-wise chains.
func InPlace(op graph.Op) bool {
	if _, ok := op.(*FusedElementwise); ok {
		return true
	}
	ar, _ := ElementwiseArity(op)
	return ar > 0
}

// FusedGemmUpdate is a weight update folded into the GEMM that computes its
// gradient: w − c·op(a)·op(b) as one GEMM with alpha = −c and beta = 1
// accumulating onto w (an SGD step, w ← w − η·Xᵀ·dY, costs no sweep and no
// gradient buffer). Inputs a, b, c (a single value: the learning rate) and
// w; when the compiler has it write straight into w's variable, the GEMM
// accumulates in place.
type FusedGemmUpdate struct {
	TransA, TransB bool
	From           []string
}

// Name returns "gemm_update".
func (op *FusedGemmUpdate) Name() string { return "gemm_update" }

// Attrs shows the transposes.
func (op *FusedGemmUpdate) Attrs() string {
	return matMulOp{transA: op.TransA, transB: op.TransB}.Attrs()
}

// InferShape is MatMul's rule; w must have the product's shape and c one
// value.
func (op *FusedGemmUpdate) InferShape(in []graph.Shape) (graph.Shape, error) {
	if len(in) != 4 {
		return nil, graph.Errorf(graph.ErrArg, "gemm_update takes 4 inputs, got %d", len(in))
	}
	out, err := matMulOp{transA: op.TransA, transB: op.TransB}.InferShape(in[:2])
	if err != nil {
		return nil, err
	}
	if in[2].Size() != 1 || !in[3].Equal(out) {
		return nil, graph.Errorf(graph.ErrShape, "gemm_update: rate %v and weights %v for a product %v", in[2], in[3], out)
	}
	return out, nil
}

// AccumulatesInto reports the input the kernel accumulates onto (w): the
// compiler may make the output share its memory.
func (op *FusedGemmUpdate) AccumulatesInto() int { return 3 }

// NoGradient: fused ops are made after autodiff.
func (op *FusedGemmUpdate) NoGradient() string {
	return "fused ops are made by the compiler, after autodiff"
}

// Bind32 binds the kernel.
func (op *FusedGemmUpdate) Bind32(a *kernel.Args[float32]) func() { return bindGemmUpdate(op, a) }

// Bind64 binds the kernel.
func (op *FusedGemmUpdate) Bind64(a *kernel.Args[float64]) func() { return bindGemmUpdate(op, a) }

func bindGemmUpdate[T kernel.Float](op *FusedGemmUpdate, a *kernel.Args[T]) func() {
	gemm := kernel.Gemm[T]()
	m, k := dims(a.In[0], op.TransA)
	_, n := dims(a.In[1], op.TransB)
	lda, ldb := a.In[0][1], a.In[1][1]
	x, y, rate, w, d := a.Src[0], a.Src[1], a.Src[2], a.Src[3], a.Dst[0]
	ta, tb := op.TransA, op.TransB
	inPlace := len(d) > 0 && &d[0] == &w[0]
	return func() {
		if !inPlace {
			copy(d, w)
		}
		gemm(ta, tb, m, n, k, -rate[0], x, lda, y, ldb, 1, d, n)
	}
}

// Accumulator is implemented by fused ops whose kernel accumulates onto one
// of its inputs, which may therefore share the output's memory.
type Accumulator interface {
	AccumulatesInto() int
}
