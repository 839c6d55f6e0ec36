//go:build openblas

package gorgonia

// gonum's netlib package wraps a CBLAS through cgo; linked to OpenBLAS it
// is the usual way to give gorgonia (gorgonia.Use) and gorgonia's tensor
// package a native BLAS. netlib leaves the library to the linker flags; the
// directive below names OpenBLAS, as internal/kernel's openblas build does.

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"

	G "gorgonia.org/gorgonia"
)

const backend = "openblas"

func init() { G.Use(netlib.Implementation{}) }
