//go:build openblas

package kernel

// wantGemmBackend is the backend the build tags and the CPU select: with
// the tag openblas, OpenBLAS, whatever else is set.
func wantGemmBackend() (string, string) { return "openblas", "the build tag openblas" }
