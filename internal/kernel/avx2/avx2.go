//go:build amd64 && !purego

package avx2

import "golang.org/x/sys/cpu"

//go:generate go run gen.go -out kernels_amd64.s -decl decl_amd64.go

// Supported reports whether this CPU runs the kernels: it has AVX2 and FMA,
// and the operating system saves the YMM registers (which x/sys/cpu checks
// before it reports AVX).
var Supported = cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasFMA
