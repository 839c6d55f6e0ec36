package datasets_test

import (
	"bytes"
	"fmt"

	"github.com/tapegrad/tapegrad/datasets"
)

// The Keras recipe on the embedded MNIST subset: pixels scaled to [0, 1],
// the first 1,000 training rows held out for validation, shuffled batches
// of 128.
func Example() {
	ds, err := datasets.MNIST(datasets.Options{Subset: true, Flat: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := datasets.Scale01(ds.Train, ds.Test); err != nil {
		fmt.Println(err)
		return
	}
	train, val, err := datasets.ValidationSplit(ds.Train, 1000)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("from:", ds.Origin)
	fmt.Println("train:", train.X.Shape(), train.Y.Shape())
	fmt.Println("validation:", val.X.Shape())
	fmt.Println("test:", ds.Test.X.Shape())

	it, err := datasets.Batches(train, 128, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	for epoch := range 2 {
		rows, batches := 0, 0
		for b := range it.Epoch() {
			rows += b.Len()
			batches++
		}
		fmt.Printf("epoch %d: %d rows in %d batches\n", epoch, rows, batches)
	}
	// Output:
	// from: embedded
	// train: (5000, 784) (5000)
	// validation: (1000, 784)
	// test: (1000, 784)
	// epoch 0: 5000 rows in 40 batches
	// epoch 1: 5000 rows in 40 batches
}

// Standardize fits per-pixel statistics on the training rows and applies
// them to the test rows too.
func ExampleStandardize() {
	ds, err := datasets.MNIST(datasets.Options{Subset: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := datasets.Standardize(ds.Train, ds.Test)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("features:", len(st.Mean))
	fmt.Printf("centre pixel: mean %.1f, std %.1f\n", st.Mean[14*28+14], st.Std[14*28+14])
	// Output:
	// features: 784
	// centre pixel: mean 129.8, std 113.9
}

// An IDX file made by hand: two zero bytes, the element type (ubyte), the
// number of dimensions, each dimension, then the data.
func ExampleReadIDX() {
	file := []byte{0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	x, err := datasets.ReadIDX(bytes.NewReader(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(x.Type, x.Dims, x.Float64s())

	_, err = datasets.ReadIDX(bytes.NewReader(file[:15]))
	fmt.Println(err)
	// Output:
	// ubyte [2 3] [1 2 3 4 5 6]
	// datasets: idx: truncated: reading the data: got 3 of the 6 bytes that dimensions [2 3] of ubyte promise
}

// Where the loader looks for Fashion-MNIST, and what it says when a copy
// is damaged or missing. (Not run: the answer depends on the machine.)
func ExampleFashionMNIST() {
	ds, err := datasets.FashionMNIST(datasets.Options{})
	if err != nil {
		// For example: datasets: fashion-mnist: no copy found; looked in,
		// in order: $TAPEGRAD_DATA: unset; Debian package
		// dataset-fashion-mnist /usr/share/datasets/fashion-mnist: not
		// installed (apt-get install dataset-fashion-mnist). Install ...
		fmt.Println(err)
		return
	}
	fmt.Println(ds.Source, ds.Train.Len(), ds.Classes[0])
}
