package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// The compiled program of the quickstart's MLP: three fused dense
// instructions.
func Example() {
	dir, err := os.MkdirTemp("", "quickstart")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	var out bytes.Buffer
	if err := run(&out, 4, 42, dir); err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "= dense[") {
			fmt.Println(strings.TrimSpace(line[:strings.Index(line, ":")]))
		}
	}
	// Output:
	// %3 = dense[bias act=tanh] %0 %1 %2
	// %6 = dense[bias act=tanh] %3 %4 %5
	// %9 = dense[bias act=softmax] %6 %7 %8
}
