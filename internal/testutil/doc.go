// Package testutil runs small graphs for the tests of tapegrad's packages:
// feed float64 data in either dtype, fetch outputs and gradients as float64.
package testutil
