//go:build amd64 && !purego

package kernel

import "github.com/tapegrad/tapegrad/internal/kernel/avx2"

// The AVX2+FMA micro-kernels (package avx2), 6×16 for float32 and 6×8 for
// float64, with their fewer-row and half-width variants for the edges, and
// the transposing packers and the dot-product kernels.
var (
	avx2Kernels32 = &microKernels[float32]{
		name: "avx2", mr: 6, nr: 16,
		wide:    [7]microKernel[float32]{nil, avx2.KernS1x16, avx2.KernS2x16, avx2.KernS3x16, avx2.KernS4x16, avx2.KernS5x16, avx2.KernS6x16},
		narrow:  [7]microKernel[float32]{nil, avx2.KernS1x8, avx2.KernS2x8, avx2.KernS3x8, avx2.KernS4x8, avx2.KernS5x8, avx2.KernS6x8},
		wideM:   [7]maskedKernel[float32]{nil, avx2.KernS1x16M, avx2.KernS2x16M, avx2.KernS3x16M, avx2.KernS4x16M, avx2.KernS5x16M, avx2.KernS6x16M},
		narrowM: [7]maskedKernel[float32]{nil, avx2.KernS1x8M, avx2.KernS2x8M, avx2.KernS3x8M, avx2.KernS4x8M, avx2.KernS5x8M, avx2.KernS6x8M},
		wideP:   avx2.KernS6x16P, narrowP: avx2.KernS6x8P,
		packBN: avx2.PackCopyS16, packAT: avx2.PackCopyS6, packBT: avx2.PackTransS16, packAN: avx2.PackTransS6, packStep: 8,
		dot4:  [3]dotKernel[float32]{nil, avx2.KernDotS1x4, avx2.KernDotS2x4},
		dot1:  [3]dotKernel[float32]{nil, avx2.KernDotS1x1, avx2.KernDotS2x1},
		gemvN: avx2.KernGemvNS, gemvT: avx2.KernGemvTS, gemvMinN: 48, gemvMinT: 8,
	}
	avx2Kernels64 = &microKernels[float64]{
		name: "avx2", mr: 6, nr: 8,
		wide:    [7]microKernel[float64]{nil, avx2.KernD1x8, avx2.KernD2x8, avx2.KernD3x8, avx2.KernD4x8, avx2.KernD5x8, avx2.KernD6x8},
		narrow:  [7]microKernel[float64]{nil, avx2.KernD1x4, avx2.KernD2x4, avx2.KernD3x4, avx2.KernD4x4, avx2.KernD5x4, avx2.KernD6x4},
		wideM:   [7]maskedKernel[float64]{nil, avx2.KernD1x8M, avx2.KernD2x8M, avx2.KernD3x8M, avx2.KernD4x8M, avx2.KernD5x8M, avx2.KernD6x8M},
		narrowM: [7]maskedKernel[float64]{nil, avx2.KernD1x4M, avx2.KernD2x4M, avx2.KernD3x4M, avx2.KernD4x4M, avx2.KernD5x4M, avx2.KernD6x4M},
		wideP:   avx2.KernD6x8P, narrowP: avx2.KernD6x4P,
		packBN: avx2.PackCopyD8, packAT: avx2.PackCopyD6, packBT: avx2.PackTransD8, packAN: avx2.PackTransD6, packStep: 4,
		dot4:  [3]dotKernel[float64]{nil, avx2.KernDotD1x4, avx2.KernDotD2x4},
		dot1:  [3]dotKernel[float64]{nil, avx2.KernDotD1x1, avx2.KernDotD2x1},
		gemvN: avx2.KernGemvND, gemvT: avx2.KernGemvTD, gemvMinN: 24, gemvMinT: 8,
	}
)

// asmKernels returns the assembly micro-kernels when this CPU runs them
// (chosen once, at start-up, from the CPU's features), else nil.
func asmKernels[T Float]() *microKernels[T] {
	if !avx2.Supported {
		return nil
	}
	var k any = avx2Kernels32
	if Is64[T]() {
		k = avx2Kernels64
	}
	return k.(*microKernels[T])
}
