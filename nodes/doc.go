// Package nodes is tapegrad's op catalogue: the builder functions that add
// operations to a graph (nodes.MatMul(x, w), nodes.Add(h, b),
// nodes.Tanh(h)), and for each op its shape rule, its forward kernel and its
// gradient rule.
//
// # Builders
//
// A builder takes and returns *graph.Node and never returns an error: a
// problem (shapes that do not fit, an axis out of range, an invalid
// hyper-parameter, a nil input, a node of another graph) is recorded as the
// graph's first error, with the op, the node's name and its input shapes,
// and the builder returns a poisoned node on which every later call is a
// no-op. graph.Graph.Err, autodiff.Grad and compile.Compile report it. No
// input makes a builder panic. Hyper-parameters are plain Go arguments;
// where Keras and PyTorch differ, the default is Keras's
// (../shared/spec/SEMANTICS.md has the formulas).
//
// Binary element-wise ops broadcast as numpy does (shapes aligned on the
// right, a dimension of 1 stretches). The open batch dimension
// (graph.Batch) broadcasts only with itself and with 1.
//
// # The catalogue, by family
//
//   - Arithmetic (arith.go): Add, Sub, Mul, Div, Neg.
//   - Math (math.go): Exp, Log, Sqrt, Square, Pow (by a constant), Abs, Sign,
//     Reciprocal.
//   - Comparison and selection (compare.go): Equal, NotEqual, Less,
//     LessEqual, Greater, GreaterEqual (0/1 masks, no gradient), Maximum,
//     Minimum, Where.
//   - Matrix product (matmul.go): MatMul, MatMulT (transposed operands,
//     passed to the GEMM at no cost).
//   - Reduction and broadcasting (reduce.go): Sum, Mean, Max over axes with
//     keepDims; SumTo and BroadcastLike, the pair autodiff uses to undo a
//     broadcast.
//   - Shape (shape.go): Reshape, Flatten, Transpose, Slice, Concat.
//   - Logistic (logistic.go): Sigmoid, Tanh.
//   - Softmax (softmax.go): Softmax, LogSoftmax over the last axis.
//   - Activations: ReLU, ReLU6, LeakyReLU, HardSigmoid (relu.go); ELU, SELU
//     (elu.go); GELU, GELUTanh (gelu.go); Softplus, SiLU (softplus.go);
//     PReLU, LeakyReLUWithSlopes (prelu.go); RReLU (rrelu.go); and
//     Activation, which looks one up by its Keras name (activation.go).
//   - Batch normalization (batchnorm.go): BatchNormTrain, BatchNormInfer.
//   - Losses (loss.go): SoftmaxCrossEntropySparse, SoftmaxCrossEntropy,
//     SigmoidCrossEntropyWithLogits, MSE, MAE, Huber and their per-example
//     and per-element forms; cross-entropies from probabilities.
//   - Dropout (dropout.go): DropoutWithMask, AlphaDropoutWithMask and the
//     mask they take, DropoutMask.
//   - Random draws (random.go): RReLUSlopes and DropoutMask draw from a
//     seed and a step counter held in the store (NextCount advances it),
//     so a resumed run draws what the original would have.
//   - Encoding and selection (onehot.go, argmax.go): OneHot, ArgMax.
//   - Gradient control (stopgrad.go): StopGradient, ZerosLike, OnesLike.
//   - State (assign.go): Assign, which writes a variable when the program
//     runs (moving statistics, optimizer updates).
//   - Fused ops (fused.go, fused_bn.go): made only by the compiler, never by
//     model code: dense with bias and activation, element-wise chains,
//     BatchNorm with its activation, forward and backward.
//
// # One file per family
//
// Each op is one definition, and its parts stand together in its family's
// file: the name printed in dumps, the shape rule (InferShape, which must
// accept shapes with the open batch dimension and, later, concrete ones),
// the forward kernel (Bind32 and Bind64, which bind a row loop to concrete
// shapes and buffers when a machine first sees a batch size, so that
// running allocates nothing), and the gradient rule (VJP, written with the
// builders of this package, so that gradients can be compiled, fused and
// differentiated again). An op without a gradient says why (NoGradient), and
// autodiff quotes it. Reading one file tells everything about its ops;
// adding an op touches one file (and its tests).
//
// # The kink rule
//
// Where a function has a kink, the derivative there is fixed by one rule
// (SEMANTICS, "Kink rule"): every piecewise activation takes its positive
// branch only when x > 0; at x = 0 (and −0.0) the derivative is the
// negative branch's. So relu'(0) = 0, leaky_relu'(0) = α, elu'(0) = α,
// selu'(0) = λα, prelu'(0) = α, as PyTorch computes them. Ties of Maximum,
// Minimum and Max share the gradient equally among the tied inputs.
// Comparisons have no gradient: their derivative is zero almost everywhere
// and undefined at the switch.
//
// # Numerics
//
// Kernels are generic over float32 and float64 (internal/kernel.Float);
// transcendental activations compute in float64 and round once. NaN
// propagates through every op. Element-wise kernels split large values
// across the worker pool in disjoint chunks, so results do not depend on the
// number of threads.
package nodes
