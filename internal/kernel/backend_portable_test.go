//go:build !openblas && (!amd64 || purego)

package kernel

// wantGemmBackend is the backend the build tags and the CPU select: with
// the tag purego, or on another architecture than amd64, the portable
// micro-kernels.
func wantGemmBackend() (string, string) {
	return "go-portable", "the build tag purego or an architecture other than amd64"
}
