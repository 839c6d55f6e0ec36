// Package diagnostics looks inside a network on a batch: for every layer,
// the statistics of its output (mean, standard deviation, the share of
// exact zeros, the share of dead units, the share of saturated sigmoid or
// tanh units) and the norm of the loss's gradient with respect to that
// output and to the layer's kernel. These are the numbers chapter 11 of
// Géron's book reasons with: activations whose variance fades or explodes
// with depth, ReLU units that died, saturated sigmoids whose gradient
// vanishes, gradients that shrink on their way down.
//
// # Using it
//
// On a model and a batch:
//
//	rep, err := diagnostics.Inspect(model, xBatch, yBatch)
//	fmt.Print(rep) // one row per layer
//
// and during training, a report every few epochs:
//
//	diag := &diagnostics.Callback{Every: 1, Batch: train.Data{X: xVal, Y: yVal}, Initial: true}
//	hist, err := model.Fit(ctx, x, y, train.FitOptions{Epochs: 10, Callbacks: []train.Callback{diag}})
//	for _, rep := range diag.Reports { ... }
//
// InspectSequential does the same for a layers.Sequential and a store of
// its variables, and an Inspector compiles the inspection once and runs it
// on any number of batches.
//
// # How it works
//
// An Inspector emits the model into a graph of its own layer by layer,
// exactly as layers.Sequential.Call does (same name scopes, hence the same
// variables, read from the model's store), keeping each layer's output
// node. It adds the loss on an input "y", the gradient of the loss with
// respect to every layer's output and every kernel (autodiff.Grad), and
// compiles one program that fetches them all. The program never writes the
// store: BatchNormalization's moving statistics, the random layers' step
// counter and the optimizer are left as they were, so inspecting a model
// in the middle of training changes nothing about the training.
//
// By default the model is emitted in training mode, as a training step sees
// it: BatchNormalization normalizes with the batch's statistics, RReLU draws
// its slopes and Dropout drops (with the step counter's current value).
// Options.Inference inspects the inference program instead.
//
// # Definitions
//
// For a layer whose output holds B rows of U values (U is the product of
// the dimensions after the batch):
//
//   - Mean and Std are over all B·U values (population standard deviation,
//     accumulated in float64).
//   - Zeros is the share of the B·U values that are exactly 0.
//   - A unit (one of the U positions) is dead on the batch when its value
//     is 0 on every one of the B rows; Dead is the share of dead units.
//     After a ReLU a dead unit passes no gradient on this batch; if it is
//     dead on every batch it never comes back.
//   - Saturated is computed for layers whose output is a sigmoid or a tanh
//     (a Dense layer with that activation, or an Activation layer): the
//     share of the B·U values with |tanh(z)| > TanhSaturation (0.99, that is
//     |z| > 2.65, where tanh′ < 0.02) or, for the sigmoid, σ(z) <
//     SigmoidSaturation or σ(z) > 1 − SigmoidSaturation (0.01 and 0.99,
//     |z| > 4.6, where σ′ < 0.01). It is 0 for every other layer.
//   - GradNorm is the L2 norm of ∂L/∂output over the whole batch, GradStd
//     the standard deviation of its B·U values; KernelGradNorm is the L2
//     norm of ∂L/∂kernel, for layers that have a "kernel" variable.
//
// L is the loss averaged over the batch (Options.Loss, sparse categorical
// cross-entropy on logits by default), without the regularization
// penalties. Without targets (a nil y) only the forward statistics are
// computed.
package diagnostics
