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
// Fit shuffles the rows anew every epoch, epoch e's order drawn from
// (FitOptions.Seed, e) alone, copies each batch into feed
// buffers allocated once, runs the training program, and reads the loss and
// the metrics in place: a training step allocates nothing (TestFitStepAllocs,
// BenchmarkFitEpoch's step-allocs). Epoch values are means over the
// epoch's examples, each batch weighted by its size. ValidationSplit holds
// out the last fraction of the rows, before shuffling, as Keras does.
//
// A run resumed from a checkpoint continues bit-identically to one never
// interrupted (TestFitResumeBitIdentical): Model.Save keeps every variable
// (weights, BatchNorm statistics, optimizer slots and step, the random
// layers' counter) and the model seed; Compile the same model, Load, and
// Fit with the same options and InitialEpoch set to the epochs done.
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
// update and the loss are one program, restoring the last good step that
// way would cost a copy of the store per step; a copy per epoch costs
// nothing noticeable.
//
// FitOptions.Guard does better, inside the program: the VM's NaN/Inf guard
// (vm.Machine.SetGuard) checks every value a step computes as it is
// computed, and the first NaN or infinity stops the step before any of its
// updates is applied, so the model keeps the weights of the last good step
// and Fit returns an error matching vm.ErrNonFinite whose *vm.GuardError
// names the instruction, the graph node, its layer ("dense_1",
// "gradients/dense_1", "loss") and the ranges of its inputs. It costs a
// pass over every value a step computes, about 0.3 ms a step of reference
// configuration B on a 2-core machine (11% at batch size 128, 28% at 32:
// vm's BenchmarkGuard); with it TerminateOnNaN has nothing left to do.
//
// # Limits and files
//
// Config.CompileOptions.MemoryLimit caps the memory each program may
// allocate for one batch size; Fit checks its training and validation batch
// sizes against it before the first step, and every program refuses a batch
// size over it (vm.ErrMemoryLimit, with the plan's size) instead of running
// the process out of memory in the middle of a run.
//
// Every file this package writes — SaveStore, Model.Save, ModelCheckpoint —
// goes through WriteFileAtomic: a temporary file, fsync, rename, directory
// sync. A process killed in the middle of a save leaves the previous
// checkpoint whole and a temporary file beside it, which the next save of
// the same path removes (TestKillDuringSave kills a saving process at random
// moments and checks).
//
// # Determinism
//
// The same seeds give the same bits: initial values come from the model
// seed and each variable's name, shuffling from FitOptions.Seed, dropout
// masks and RReLU slopes from the layers' seeds and the step counter in the
// store, and every parallel kernel splits its work into chunks whose results
// do not depend on the number of threads. TestFitBitIdenticalAcrossThreads
// trains a model with BatchNormalization, Dropout and RReLU at GOMAXPROCS 1
// and 2, with and without the fusing passes, and compares the checkpoints
// byte for byte. The fusing passes compute the same values except where a
// fused kernel orders its arithmetic differently: fuse-dense-act lets the
// GEMM accumulate onto the bias (b + Σ instead of Σ + b), which may round a
// pre-activation to the neighbouring float; fuse-bn-act and fuse-elementwise
// give the same bits, and fold-bn touches only inference programs
// (TestFitFusionRounding bounds the difference). Config.CompileOptions
// disables passes.
//
// # Goroutines
//
// A Model is used by one goroutine at a time — Compile, Fit, Load, Save and
// PredictMC change or read it without locks — with one exception: Predict
// and Evaluate may be called from any number of goroutines at once (each
// call takes a machine of its own from a pool, so serial calls cost a lock
// and concurrent ones as many machines as run at once; the programs only
// read the store). They must not overlap with Fit, Compile, Load or
// PredictMC on the same model, which write the store (a data race on the
// weights), but may overlap with Save, which only reads it.
// TestPredictConcurrent runs Predict and Evaluate from 8 goroutines under
// the race detector and compares with serial results bit for bit.
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
