// Package kernel is the numeric floor of tapegrad: the Float constraint the
// kernels are generic over, the GEMM dispatch (gonum's pure-Go BLAS by
// default, OpenBLAS through cgo with the build tag openblas), a persistent
// worker pool for parallel loops, and the Args a bound kernel reads.
//
// # Binding
//
// The VM does not call kernels with arguments at run time. When a program is
// instantiated for a concrete batch size, each instruction's op is asked to
// bind a kernel to the instruction's concrete shapes and buffers (an Args);
// the op returns a func() that does the work over exactly those slices. All
// allocation (closures, packed shapes, strides) happens at bind time, so the
// run loop is a call per instruction and allocates nothing.
//
// # Errors
//
// A bound kernel cannot return an error. A data-dependent problem (a label
// out of range) is reported with Status.Fail; the VM checks the status after
// the run. Anything else a kernel finds wrong is a bug inside tapegrad and
// panics with a "kernel:" prefix, as gonum's BLAS does.
package kernel
