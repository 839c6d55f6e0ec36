//go:build !openblas

package gorgonia

const backend = "gonum"
