// Package initializers draws the initial values of weights: every Keras
// initializer under its Keras name and with its Keras semantics, PyTorch's
// kaiming/xavier family and gain table as an option, and the fan rules both
// use.
//
// # Why it matters
//
// A deep network trains only if the signal neither dies nor explodes on its
// way forward and its gradient on the way back. Glorot and Bengio showed that
// this needs the variance of each layer's outputs to equal the variance of
// its inputs, which a layer with fan_in inputs and fan_out outputs can only
// approximate: draw the weights with variance 1/fan_avg (Glorot), 2/fan_in
// for ReLU and its variants (He), 1/fan_in for SELU (LeCun). See
// docs/initializers.md for the table and when to use which.
//
// # Keras semantics
//
// VarianceScaling is the general form; GlorotUniform, HeNormal, LeCunNormal
// and the others are presets of it. Its truncated normal redraws values
// beyond two standard deviations and divides the sampler's stddev by
// TruncatedStd (0.8796…) so that the values have exactly the variance asked
// for. Fans follow Keras's compute_fans for kernels laid out [in, out] or
// [k1, …, kd, in, out]; TorchLayout reads PyTorch's [out, in, k…].
//
// # Determinism
//
// Initializers take an explicit *rand.Rand. vm.Store.Init gives each
// variable its own stream derived from the model seed and the variable's
// name, so the same seed gives the same bits and adding a layer leaves the
// other layers' initial values unchanged. Values are drawn in float64 and
// rounded once for a float32 model.
package initializers
