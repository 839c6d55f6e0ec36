// Command initvariance shows why the weight initialization must match the
// activation function. It pushes a standardized batch through a deep stack
// of dense layers, with no training, for every pair of {glorot_uniform,
// he_normal, lecun_normal} × {sigmoid, tanh, relu, selu}, and reports layer
// by layer the mean and standard deviation of the activations on the way
// forward and the standard deviation of the back-propagated gradient on the
// way back: the signal keeps its scale only where the initializer and the
// activation belong together (Glorot with tanh, He with ReLU, LeCun with
// SELU); elsewhere it fades out, saturates or blows up.
//
// Each net is written as a Keras model would be: a layers.Sequential of
// Dense layers (units units, no bias: a zero bias, Keras's default, adds
// nothing before training) each followed by an Activation layer, so that the
// pre-activation z_i = a_(i-1)·W_i and the activation a_i = f(z_i) of every
// layer are nodes of the graph. The gradient is that of the loss
// L = Σ a_L ⊙ R, for a fixed matrix R drawn from N(0, 1): autodiff.GradWith
// with R as the upstream gradient gives ∂L/∂z_i for every layer in one pass,
// and since ∂L/∂a_L = R has standard deviation 1, the gradient's standard
// deviation at layer i reads as the factor by which back-propagation has
// scaled it between the top and layer i (Glorot and Bengio's
// "back-propagated gradients").
//
// It prints one table per pair (layers 1, 10, 20, …) and a summary, and draws
// initvariance.png (activation std against depth) and initvariance_grad.png
// (gradient std against depth), log scale on y.
//
// Run it from the repository root:
//
//	go run ./examples/initvariance
//	go run ./examples/initvariance -layers 100 -seed 7 -out /tmp
//	go run ./examples/initvariance -inits he_normal,he_uniform -acts relu,elu
package main
