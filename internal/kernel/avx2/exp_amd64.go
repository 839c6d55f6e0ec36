//go:build !purego

package avx2

// Vectorized float32 exponentials for internal/kernel's row functions
// (kernel.Exp32Row, Expm1_32Row, Elu32Row): the same operations as the
// scalar kernel.Exp32 and kernel.Expm1_32, in the same order, eight lanes at
// a time, so the results are the same bit for bit. Each reads len(d)
// elements of x (the caller guarantees len(x) ≥ len(d)) and writes d; d may
// be x itself, but must not overlap it otherwise.

// ExpS sets d[i] = eˣ for x = x[i]: +Inf above 88.72284, 0 below
// −103.97208, NaN for NaN.
//
//go:noescape
func ExpS(d, x []float32)

// Expm1S sets d[i] = eˣ − 1 for x = x[i], accurate near 0: a Taylor series
// for |x| < 0.5, eˣ − 1 elsewhere, −1 below −17.
//
//go:noescape
func Expm1S(d, x []float32)

// EluS sets d[i] = scale·x for x = x[i] > 0 and negScale·(eˣ − 1) elsewhere
// (NaN for NaN): ELU and SELU in one pass.
//
//go:noescape
func EluS(d, x []float32, scale, negScale float32)
