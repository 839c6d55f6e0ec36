// Package refmodels builds the reference configurations that tapegrad's
// benchmarks, the peers' side-by-side script, `tapegrad bench` and the
// compiler's golden Explain files share:
//
//	A: 784-300-100-10, SELU, lecun_normal, softmax cross-entropy
//	B: 784-300-BN-ELU-100-BN-ELU-10, Dense without bias before BN, he_normal
//	C: 3072-(20 × 100 ELU, he_normal)-10
//	D: inference of B
//
// A training step is forward, backward (softmax cross-entropy from logits,
// mean over the batch) and a plain SGD update of every trainable variable,
// plus BatchNorm's moving-statistics updates: one compiled program.
package refmodels
