//go:build !purego

package avx2

// The transposing packers of the packed GEMM. Each handles the part of k
// that is a whole number of blocks (8 columns for float32, 4 for float64:
// the caller passes k rounded down) and packs the rest itself; the caller
// guarantees the slices hold what is read and written.

// PackTransS16 sets d[l·16+j] = src[j·ld+l] for j < 16, l < k (k a multiple
// of 8): sixteen rows of B become a k×16 panel.
//
//go:noescape
func PackTransS16(d, src []float32, ld, k int)

// PackTransS6 sets d[l·6+i] = src[i·ld+l] for i < 6, l < k (k a multiple of
// 8): six rows of A become a k×6 panel.
//
//go:noescape
func PackTransS6(d, src []float32, ld, k int)

// PackTransD8 sets d[l·8+j] = src[j·ld+l] for j < 8, l < k (k a multiple of
// 4).
//
//go:noescape
func PackTransD8(d, src []float64, ld, k int)

// PackTransD6 sets d[l·6+i] = src[i·ld+l] for i < 6, l < k (k a multiple of
// 4).
//
//go:noescape
func PackTransD6(d, src []float64, ld, k int)

// PackCopyS16 sets d[l·16+j] = src[l·ld+j] for j < 16, l < k: k rows of 16
// columns of an untransposed B become a panel.
//
//go:noescape
func PackCopyS16(d, src []float32, ld, k int)

// PackCopyD8 sets d[l·8+j] = src[l·ld+j] for j < 8, l < k.
//
//go:noescape
func PackCopyD8(d, src []float64, ld, k int)

// PackCopyS6 sets d[l·6+i] = src[l·ld+i] for i < 6, l < k: six columns of
// a transposed A become a panel.
//
//go:noescape
func PackCopyS6(d, src []float32, ld, k int)

// PackCopyD6 sets d[l·6+i] = src[l·ld+i] for i < 6, l < k.
//
//go:noescape
func PackCopyD6(d, src []float64, ld, k int)
