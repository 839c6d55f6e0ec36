//go:build amd64 && !purego

package kernel

import "github.com/tapegrad/tapegrad/internal/kernel/avx2"

// haveExpAsm: the float32 exponential rows run on the AVX2+FMA routines of
// package avx2 (chosen once, at start-up, from the CPU's features).
var haveExpAsm = avx2.Supported

func expAsm(d, x []float32)                          { avx2.ExpS(d, x) }
func expm1Asm(d, x []float32)                        { avx2.Expm1S(d, x) }
func eluAsm(d, x []float32, scale, negScale float32) { avx2.EluS(d, x, scale, negScale) }
