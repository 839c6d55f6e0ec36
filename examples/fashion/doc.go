// Command fashion trains the Fashion-MNIST models of chapter 11 of Géron's
// Hands-On Machine Learning (3rd edition), written with tapegrad the way the
// chapter writes them in Keras, and prints each epoch's loss, accuracy,
// validation accuracy and time, then each model's test accuracy:
//
//   - leaky_relu: 300-100-10 with LeakyReLU(alpha=0.2) after he_normal
//     Dense layers, SGD(learning_rate=1e-3);
//   - prelu: the same with PReLU;
//   - selu100: 100 Dense(100, selu, lecun_normal) layers on standardized
//     inputs, SGD(learning_rate=1e-3, momentum=0.9);
//   - relu100: the same with relu and he_normal;
//   - bn: BatchNormalization after the input and after each hidden layer
//     (relu, he_normal), Keras's default SGD (0.01);
//   - bn_before: BN before each activation, the Dense layers without bias.
//
// Every model ends with Dense(10, activation="softmax") and is trained on
// the sparse categorical cross-entropy of its probabilities, batches of 32,
// as in Keras. Pixels are scaled to [0, 1]; the 100-layer nets get them
// standardized per pixel with the training rows' statistics.
//
// # Data
//
// Fashion-MNIST is read from package datasets' usual places (Debian's
// dataset-fashion-mnist package in /usr/share/datasets/fashion-mnist, or
// $TAPEGRAD_DATA/fashion-mnist), or from -data-dir. When it is not
// installed the example says so on stderr and falls back to the MNIST
// subset embedded in package datasets, so that it always runs; -data mnist
// asks for MNIST directly. Any other problem with the files (a truncated or
// corrupt file) is an error.
//
// By default it trains 3 epochs on the first 5,000 training rows after
// 1,000 of validation (under a minute on two cores for the six models); on
// so few steps the 100-layer nets barely learn. -full trains on the whole
// training split, 55,000 rows after 5,000 of validation, as the chapter
// does (minutes per epoch for the deep nets).
//
// Run it from the repository root:
//
//	go run ./examples/fashion
//	go run ./examples/fashion -epochs 10 -models leaky_relu,prelu
//	go run ./examples/fashion -full -epochs 5 -models selu100,relu100
package main
