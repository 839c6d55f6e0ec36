// Package layers is the Keras-like way to write a model: layers that own
// their variables and emit graph nodes, and Sequential, a stack of them.
//
//	model := layers.NewSequential(
//		layers.Input(28, 28),
//		layers.Flatten(),
//		layers.Dense(300, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
//		layers.Dense(100, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
//		layers.Dense(10, layers.DenseOptions{}),
//	)
//	fmt.Print(model.Summary())
//
// # Build, then call
//
// A layer is built once, when its input shape is known: Build checks the
// configuration and declares the layer's variables (explicit fields such as
// DenseLayer.Kernel, listed by Variables). It is then called for each graph
// the model is emitted into — a training graph, an inference graph — and
// emits nodes under its name scope. Variables are named "<layer>/<var>"
// ("dense_1/kernel", as in Keras) and live in a vm.Store, so every graph of
// a model shares them; vm.Store.Init creates them from the layers'
// initializers and the model seed. A layer called before it was built (or
// after a Build that failed) records a "called before Build" error on the
// graph rather than emitting an unchecked configuration.
//
// # Modes
//
// A layer emits different nodes in Training and Inference mode where the
// maths differs: RReLU draws random slopes and Dropout and AlphaDropout
// drop only in training; BatchNormalization normalizes with the batch's
// statistics in training (and emits the updates of its moving statistics,
// collected in Context.Updates for the training program to run) and with
// the moving statistics at inference. Context.MCDropout (EmitOptions)
// keeps the dropout layers dropping at inference, for Monte Carlo dropout.
//
// # Randomness
//
// Random layers draw from their seed (Context.LayerSeed: the model seed and
// the layer's name) and the model's step counter, the scalar variable
// "rng/counter" (Context.RNGCounter), which the training program advances
// once per step. The random state is thus in the store with the weights:
// a checkpoint holds it, and a resumed run draws the same slopes and masks
// as an uninterrupted one, whatever the number of threads.
//
// # Penalties and constraints
//
// Variables may carry a Regularizer (L1, L2, L1L2: a penalty added to the
// loss, Sequential.Penalties, Emitted.Penalty) and a Constraint (MaxNorm: a
// projection after each update, Sequential.Constrain), set on Dense through
// DenseOptions.KernelRegularizer and KernelConstraint as in Keras.
//
// # Defaults and conventions
//
// Option structs have a zero value equal to the Keras default (DenseOptions{}
// is glorot_uniform kernel, zeros bias, no activation). Where Keras and
// PyTorch differ, Convention picks PyTorch's.
//
// Layers never run anything; package train compiles and fits a model.
package layers
