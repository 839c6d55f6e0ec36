package golden_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/internal/golden"
)

// Reading a golden file and one of its cases.
func Example() {
	f, err := golden.Read("dense.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := f.Cases[0]
	fmt.Println(c.Op, c.Inputs["W"].Shape, golden.Close(1+1e-12, 1, 1e-10))
	// Output: dense [3 2] true
}
