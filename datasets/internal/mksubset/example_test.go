package main

import "fmt"

// head keeps the first rows of a ubyte IDX file: here 2 of the 3 rows of
// 2×2 images, the first count of the header rewritten.
func Example() {
	idx := []byte{
		0, 0, 0x08, 3, // magic: unsigned bytes, 3 dimensions
		0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, // 3 × 2 × 2
		1, 2, 3, 4, // row 0
		5, 6, 7, 8, // row 1
		9, 10, 11, 12, // row 2
	}
	out, err := head(idx, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out[:16])
	fmt.Println(out[16:])
	_, err = head(idx, 4)
	fmt.Println(err)
	_, err = head(idx[:20], 1)
	fmt.Println(err)
	// Output:
	// [0 0 8 3 0 0 0 2 0 0 0 2 0 0 0 2]
	// [1 2 3 4 5 6 7 8]
	// cannot keep 4 of 3 rows
	// 4 bytes of data, want 3 rows of 4
}
