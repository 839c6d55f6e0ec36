//go:build !amd64 || purego

package kernel

// asmKernels returns nil: this build has no assembly micro-kernels, the
// portable ones serve.
func asmKernels[T Float]() *microKernels[T] { return nil }
