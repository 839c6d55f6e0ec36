package nodes

import (
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/kernel"
)

// The piecewise-linear activations: ReLU, ReLU6, LeakyReLU and HardSigmoid
// (SEMANTICS §1.1, §1.2). Their second derivative is zero almost
// everywhere. At a kink the derivative is the one of the side that the
// kink rule picks (see activation.go).

// Default slopes of the leaky ReLU. They differ between frameworks, so
// LeakyReLU takes its slope explicitly (SEMANTICS §1.2).
const (
	// KerasLeakyReLUAlpha is the default of the Keras LeakyReLU layer
	// (keras.layers.LeakyReLU(negative_slope=0.3) in Keras 3, alpha=0.3 in
	// Keras 2).
	KerasLeakyReLUAlpha = 0.3
	// KerasLeakyReLUActivationAlpha is the default of Keras 3's activation
	// function keras.activations.leaky_relu(x, negative_slope=0.2), which is
	// what the activation name "leaky_relu" resolves to (Activation).
	KerasLeakyReLUActivationAlpha = 0.2
	// TorchLeakyReLUAlpha is PyTorch's default,
	// torch.nn.LeakyReLU(negative_slope=0.01).
	TorchLeakyReLUAlpha = 0.01
)

// ReLU returns max(0, x) element-wise. Its derivative is 1 where x > 0 and
// 0 elsewhere, at x = 0 included. ReLU(−0.0) is +0 and ReLU(NaN) is NaN.
func ReLU(x *graph.Node) *graph.Node { return add(actOp{kind: actReLU}, x) }

// The kernels of this file avoid branches on the sign of x, which a
// branch predictor gets wrong half the time on pre-activations: the
// forward passes use the min and max built-ins, the gradients pick between
// two values with an index that the compiler computes with a conditional
// move ("k := 0; if x > 0 { k = 1 }"). That halves their time on random
// signs.

func reluRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = max(v, 0) // NaN stays NaN; −0 becomes +0
	}
}

func reluGradRow[T kernel.Float](d, x, g []T) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		k := 0
		if v > 0 {
			k = 1
		}
		pick := [2]T{0, g[i]}
		d[i] = pick[k]
	}
}

// ReLU6 returns min(max(0, x), 6) element-wise (Keras "relu6",
// torch.nn.ReLU6). Its derivative is 1 for 0 < x < 6 and 0 elsewhere, at
// both kinks included (as TensorFlow's Relu6Grad and PyTorch's hardtanh
// backward give).
func ReLU6(x *graph.Node) *graph.Node { return add(actOp{kind: actReLU6}, x) }

func relu6Row[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = min(max(v, 0), 6)
	}
}

func relu6GradRow[T kernel.Float](d, x, g []T) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		k, l := 0, 0
		if v > 0 {
			k = 1
		}
		if v < 6 {
			l = 1
		}
		pick := [2]T{0, g[i]}
		d[i] = pick[k&l]
	}
}

// LeakyReLU returns x where x > 0 and alpha·x elsewhere. Its derivative is
// 1 where x > 0 and alpha elsewhere, at x = 0 included (PyTorch and
// TensorFlow agree). alpha must be finite and not negative: Keras documents
// its slope as "float ≥ 0" and a negative slope makes the function
// non-monotonic, which is almost surely a bug; a negative alpha, NaN or
// ±Inf records an error. The defaults differ between frameworks; see
// KerasLeakyReLUAlpha, KerasLeakyReLUActivationAlpha and TorchLeakyReLUAlpha.
func LeakyReLU(x *graph.Node, alpha float64) *graph.Node {
	op := actOp{kind: actLeakyReLU, alpha: alpha}
	if err := checkAlpha("leaky_relu", alpha); err != nil {
		return fail(op, []*graph.Node{x}, graph.ErrArg, "%v", err)
	}
	return add(op, x)
}

// leakyReLURow multiplies x by alpha or 1, picked by the sign of x: v·1 is
// v exactly.
func leakyReLURow[T kernel.Float](alpha float64) kernel.UnaryRow[T] {
	slope := [2]T{T(alpha), 1}
	return func(d, x []T) {
		x = x[:len(d)]
		for i, v := range x {
			k := 0
			if v > 0 {
				k = 1
			}
			d[i] = v * slope[k]
		}
	}
}

func leakyReLUGradRow[T kernel.Float](alpha float64) actGradRow[T] {
	slope := [2]T{T(alpha), 1}
	return func(d, x, g []T) {
		x, g = x[:len(d)], g[:len(d)]
		for i, v := range x {
			k := 0
			if v > 0 {
				k = 1
			}
			d[i] = g[i] * slope[k]
		}
	}
}

// HardSigmoid returns the piecewise-linear approximation of the sigmoid
// that Keras 3 defines, relu6(x+3)/6: 0 for x ≤ −3, 1 for x ≥ 3 and
// (x+3)/6 in between (torch.nn.Hardsigmoid is the same function; Keras 2
// used 0.2·x + 0.5 clipped at ±2.5 instead). Its derivative is 1/6 for
// −3 < x < 3 and 0 elsewhere, at both kinks included, as PyTorch's
// hardsigmoid_backward gives and as the kink rule does for relu6.
func HardSigmoid(x *graph.Node) *graph.Node { return add(actOp{kind: actHardSigmoid}, x) }

func hardSigmoidRow[T kernel.Float](d, x []T) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = min(max(v+3, 0), 6) / 6
	}
}

func hardSigmoidGradRow[T kernel.Float](d, x, g []T) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		k, l := 0, 0
		if v > -3 {
			k = 1
		}
		if v < 3 {
			l = 1
		}
		pick := [2]T{0, g[i]}
		d[i] = pick[k&l] / 6
	}
}
