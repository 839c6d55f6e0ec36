// Package experiment holds the experiments of tapegrad's study of training
// deep networks — chapter 11 of Géron's Hands-On Machine Learning — as a
// library, so that `tapegrad study` stays a thin command and the
// experiments can be run, tested and extended from Go. (It is not called
// study: ./study is where `tapegrad study` writes its report by default,
// and the repository ignores it.)
//
//   - variance: the standard deviation of the activations and of the
//     back-propagated gradient through 50 layers at initialization, for
//     {glorot_uniform, he_normal, lecun_normal} × {sigmoid, tanh, relu,
//     selu} (examples/initvariance's measurement, made with package
//     diagnostics);
//   - selfnorm: a 100-layer SELU net with lecun_normal on standardized
//     inputs keeps mean ≈ 0 and std ≈ 1 layer by layer, before and after a
//     few epochs of training, against the same net in ReLU and against SELU
//     on non-standardized inputs;
//   - activations: one MLP trained with relu, leaky_relu, rrelu, prelu, elu
//     and selu (learning curves, accuracy, time per epoch, dead units);
//   - batchnorm: a deep sigmoid net without Batch Normalization, with BN
//     after each activation, and with BN before it and no Dense bias.
//
// # Running it
//
//	res, err := experiment.Run(ctx, experiment.Default())                  // everything, under 3 minutes on 2 cores
//	res, err := experiment.Run(ctx, experiment.Quick(), experiment.Variance) // one experiment, tiny
//
// Run writes report.md (the configuration, a section per experiment with
// its tables) and the PNG plots it shows into Config.Dir, each file
// atomically (a temporary file renamed over the name), and returns the
// numbers as Results. Default's sizes (the embedded 6,000-image MNIST
// subset, 5,000 training and 1,000 validation rows, epochs, depths,
// widths) are stated in the report; Quick is a tiny configuration for tests
// and CI, whose numbers show little.
//
// # Data
//
// The training experiments run on MNIST or Fashion-MNIST from package
// datasets: without Config.Full, the first 6,000 training and 1,000 test
// images (for MNIST, the subset embedded in datasets, whatever else is
// installed, so that the default run is the same everywhere); with Full,
// the whole data set where it is installed. MNIST with Full where only the
// subset is at hand runs on the subset and says so: a line on
// Config.Warn, DataInfo.Warning, and a warning in the report's
// configuration. The first ValRows training
// rows are held out for validation, as the Keras examples do. Inputs are
// scaled to [0, 1] (x/255) or standardized per pixel with the training
// rows' statistics, as each experiment says. Everything draws from
// Config.Seed.
package experiment
