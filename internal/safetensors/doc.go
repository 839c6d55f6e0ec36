// Package safetensors writes and reads the safetensors file format
// (https://github.com/huggingface/safetensors), by hand, with nothing but
// the standard library:
//
//	8 bytes   N, the header's length, unsigned little-endian
//	N bytes   the header: a JSON object, UTF-8, padded with spaces
//	          {"__metadata__": {"key": "value", ...},
//	           "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
//	rest      the tensors' bytes, row-major, little-endian, offsets relative
//	          to the end of the header
//
// # Why a package of its own
//
// Checkpoints (package train) are one user, but the format is a contract
// with other tools — PyTorch's and Keras's loaders, numpy, the Rust
// reference implementation — and deserves its own tests (malformed files
// by the hundred, cross-checks with a Python reader and with an independent
// Go implementation) away from the training code. It is internal because
// its API is shaped by tapegrad's needs (float32 and float64 tensors, whole
// files in memory); train.SaveStore and train.LoadStore are the public
// face.
//
// # Invariants
//
// Write produces what the reference implementation produces: tensors
// ordered by decreasing element size, then by name, so that every tensor is
// aligned on its element size; their bytes contiguous, without gaps; the
// header padded with spaces to a multiple of 8 bytes, so the data starts
// 8-aligned.
//
// Parse accepts exactly what the reference implementation accepts and
// checks everything before returning: the header length within the file
// (and at most 100 MB), valid UTF-8, one JSON object with nothing but
// spaces after it, no duplicate names (at either level), known dtypes,
// shapes of non-negative integers, offsets that are non-negative integers
// in order, whose extent matches dtype × shape, and that cover the data
// section exactly, without gap or overlap. Every error wraps ErrFormat and
// names the entry at fault. Parse never panics, whatever the bytes.
package safetensors
