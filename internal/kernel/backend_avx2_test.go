//go:build !openblas && amd64 && !purego

package kernel

import "github.com/tapegrad/tapegrad/internal/kernel/avx2"

// wantGemmBackend is the backend the build tags and the CPU select: on
// amd64 without purego, the assembly micro-kernels when the CPU has AVX2
// and FMA (avx2.Supported, the check the dispatch makes), else the
// portable ones.
func wantGemmBackend() (string, string) {
	if avx2.Supported {
		return "go-avx2", "an amd64 CPU with AVX2 and FMA, no purego tag"
	}
	return "go-portable", "an amd64 CPU without AVX2 and FMA"
}
