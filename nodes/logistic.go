package nodes

import (
	"math"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The logistic family: Sigmoid and Tanh (SEMANTICS §1.7). Both are
// element-wise, computed in float64 whatever the graph's dtype, and their
// gradients are written with the op's own output y, which the forward pass
// has already computed: σ' = y(1−y), tanh' = 1−y².

// Sigmoid returns the logistic function σ(x) = 1/(1+e⁻ˣ) element-wise,
// evaluated without overflow or NaN for any x (σ(±1000) = 1 and 0) and as
// PyTorch does: σ(−50) = 1.928749847963918e-22.
func Sigmoid(x *graph.Node) *graph.Node { return add(sigmoidOp{}, x) }

type sigmoidOp struct{}

func (sigmoidOp) Name() string                                     { return "sigmoid" }
func (sigmoidOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("sigmoid", in) }
func (sigmoidOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, sigmoidRow[float32]) }
func (sigmoidOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, sigmoidRow[float64]) }

// VJP: x̄ = ḡ·y·(1−y).
func (sigmoidOp) VJP(n, gy *graph.Node) []*graph.Node {
	one := gy.Graph().Scalar(1)
	return []*graph.Node{Mul(gy, Mul(n, Sub(one, n)))}
}

// sigmoidRow evaluates σ as 1/(1+e⁻ᶻ), which in float64 cannot overflow
// into a NaN (e⁻ᶻ = +Inf gives 0) and is what PyTorch computes: it matches
// the golden values bit for bit, σ(−50) = 1.928749847963918e-22 included.
// Below z = −700, where e⁻ᶻ nears overflow, it switches to eᶻ/(1+eᶻ),
// which keeps the tiny (subnormal) results that 1/(1+e⁻ᶻ) flushes to 0.
// float32 values are computed in float64 and rounded once.
func sigmoidRow[T kernel.Float](d, x []T) {
	if !kernel.Is64[T]() {
		sigmoid32Row(kernel.F32(d), kernel.F32(x))
		return
	}
	x = x[:len(d)]
	for i, v := range x {
		z := float64(v)
		if z >= sigmoidTail {
			d[i] = T(1 / (1 + math.Exp(-z)))
		} else {
			e := math.Exp(z) // also the NaN path: NaN >= sigmoidTail is false
			d[i] = T(e / (1 + e))
		}
	}
}

// sigmoidTail is where sigmoidRow switches formulas: e⁷⁰⁰ ≈ 1e304 is still
// finite (math.Exp overflows above 709.78).
const sigmoidTail = -700

// Tanh returns the hyperbolic tangent of x element-wise.
func Tanh(x *graph.Node) *graph.Node { return add(tanhOp{}, x) }

type tanhOp struct{}

func (tanhOp) Name() string                                     { return "tanh" }
func (tanhOp) InferShape(in []graph.Shape) (graph.Shape, error) { return sameShape("tanh", in) }
func (tanhOp) Bind32(a *kernel.Args[float32]) func()            { return bindUnary(a, tanhRow[float32]) }
func (tanhOp) Bind64(a *kernel.Args[float64]) func()            { return bindUnary(a, tanhRow[float64]) }

// VJP: x̄ = ḡ·(1−y²).
func (tanhOp) VJP(n, gy *graph.Node) []*graph.Node {
	one := gy.Graph().Scalar(1)
	return []*graph.Node{Mul(gy, Sub(one, Square(n)))}
}

func tanhRow[T kernel.Float](d, x []T) {
	if !kernel.Is64[T]() {
		tanh32Row(kernel.F32(d), kernel.F32(x))
		return
	}
	x = x[:len(d)]
	for i, v := range x {
		d[i] = T(math.Tanh(float64(v)))
	}
}

// rowChunk is how many float32 exponentials the row kernels below take at
// a time into a buffer on the stack (1 KiB), for kernel.Exp32Row and
// Expm1_32Row to sweep.
const rowChunk = 256

// sigmoid32Row is sigmoidRow in float32 with kernel.Exp32: 1/(1+e⁻ᶻ), or
// eᶻ/(1+eᶻ) in the far negative tail where e⁻ᶻ overflows float32. The
// exponentials of a chunk are taken in one kernel.Exp32Row, on the stack,
// so that d may be x.
func sigmoid32Row(d, x []float32) {
	x = x[:len(d)]
	var buf [rowChunk]float32
	for lo := 0; lo < len(d); lo += rowChunk {
		hi := min(lo+rowChunk, len(d))
		e := buf[:hi-lo]
		for i, z := range x[lo:hi] {
			if z >= -80 {
				e[i] = -z
			} else {
				e[i] = z // also NaN
			}
		}
		kernel.Exp32Row(e, e)
		for i, z := range x[lo:hi] {
			if z >= -80 {
				d[lo+i] = 1 / (1 + e[i])
			} else {
				d[lo+i] = e[i] / (1 + e[i])
			}
		}
	}
}

// tanh32Row is tanhRow in float32: tanh z = t/(t+2) with t = e²ᶻ − 1 taken
// by kernel.Expm1_32 (no cancellation near 0), a chunk at a time with
// kernel.Expm1_32Row; ±1 beyond |z| = 9, where float32's tanh is 1 to the
// last bit.
func tanh32Row(d, x []float32) {
	x = x[:len(d)]
	var buf [rowChunk]float32
	for lo := 0; lo < len(d); lo += rowChunk {
		hi := min(lo+rowChunk, len(d))
		t := buf[:hi-lo]
		for i, z := range x[lo:hi] {
			t[i] = 2 * z
		}
		kernel.Expm1_32Row(t, t) // also NaN
		for i, z := range x[lo:hi] {
			switch {
			case z > 9:
				d[lo+i] = 1
			case z < -9:
				d[lo+i] = -1
			default:
				d[lo+i] = t[i] / (t[i] + 2)
			}
		}
	}
}
