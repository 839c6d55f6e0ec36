// Package train turns a model into something a researcher trains, the way
// Keras's compile/fit works: losses as graph builders, optimizers that emit
// their updates as graph nodes (so that forward, backward and update are one
// compiled program), Fit/Evaluate/Predict, callbacks, progress and
// checkpoints.
//
// # The model
//
// The model API lives here rather than in package layers: layers describes
// an architecture and emits it into graphs; train compiles and runs it. The
// one way to write a model is train.NewSequential, which takes the layers
// as layers.NewSequential does; train.NewModel wraps a *layers.Sequential
// built elsewhere (internal/refmodels builds them).
//
//	model := train.NewSequential(
//		layers.Input(784),
//		layers.Dense(300, layers.DenseOptions{Activation: "relu", KernelInitializer: "he_normal"}),
//		layers.Dense(10, layers.DenseOptions{}), // logits
//	)
//	model.Seed(42)
//	fmt.Print(model.Summary())
//	err := model.Compile(train.Config{
//		Loss:      train.SparseCategoricalCrossentropy{FromLogits: true},
//		Optimizer: train.Nadam{LearningRate: 1e-3},
//		Metrics:   []string{"accuracy"},
//	})
//	hist, err := model.Fit(ctx, xTrain, yTrain, train.FitOptions{
//		Epochs: 10, ValidationData: &train.Data{X: xVal, Y: yVal},
//		Callbacks: []train.Callback{&train.EarlyStopping{Patience: 5, RestoreBestWeights: true}},
//		Progress:  os.Stdout,
//	})
//	eval, err := model.Evaluate(xTest, yTest)
//	pred, err := model.Predict(xNew)
//	err = model.Save("run/ckpt.safetensors")
//
// Compile builds three graphs and compiles them once: the training step
// (forward in training mode, loss plus regularization penalties, gradients,
// the optimizer's updates with the weight constraints applied, the layers'
// state updates, the metrics), the evaluation (loss and metrics in
// inference mode) and the prediction. Each program specializes itself to
// every batch size it meets, so a short last batch or a single row needs
// nothing. The variables — the layers', the optimizer's ("optimizer/..."),
// the random layers' step counter ("rng/counter") — live in one vm.Store
// (Model.Store) that the three programs share.
//
// # Fit
//
// Fit shuffles the rows from FitOptions.Seed, copies each batch into feed
// buffers allocated once, runs the training program, and reads the loss and
// the metrics in place: a training step allocates nothing (TestFitStepAllocs,
// BenchmarkFitEpoch's step-allocs). Epoch values are means over the
// epoch's examples, each batch weighted by its size. ValidationSplit holds
// out the last fraction of the rows, before shuffling, as Keras does.
//
// Fit never leaves a step half done. The context is checked before every
// step (and between validation batches): a cancelled Fit returns promptly
// with an error wrapping ctx.Err() and the history of the completed
// epochs. Wrong shapes or dtypes of x and y are reported before anything
// runs; a run that fails (a label out of range) applies none of its
// updates. A non-finite loss is Keras's business as usual unless
// TerminateOnNaN is among the callbacks: then training stops, the store is
// restored from a copy taken at the start of the epoch (the last one whose
// values were all finite), and Fit returns ErrNonFiniteLoss. Because the
// update and the loss are one program, a per-step guard would cost a copy
// of the store per step; a copy per epoch costs nothing noticeable.
//
// # Callbacks
//
// Callbacks (Callback, BaseCallback, LambdaCallback) see the run (Run) at
// the start and end of training, of each epoch and of each batch, with
// Keras-named logs ("loss", "accuracy", "val_loss", ...). The stateful
// ones are used through pointers, and report what they did afterwards:
// EarlyStopping, ModelCheckpoint, ReduceLROnPlateau. LearningRateScheduler
// writes "optimizer/learning_rate" before every step (or every epoch with
// PerEpoch); TerminateOnNaN is described above.
//
// # Progress and history
//
// FitOptions.Progress draws a Keras-like progress bar on a terminal, and
// one line per epoch on anything else; History holds the per-epoch values
// and prints them as a table.
package train
