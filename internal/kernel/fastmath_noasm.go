//go:build !amd64 || purego

package kernel

// haveExpAsm: this build has no assembly exponentials; the row functions
// run their Go loops.
const haveExpAsm = false

func expAsm(d, x []float32)   { panic("kernel: no assembly exponentials in this build") }
func expm1Asm(d, x []float32) { panic("kernel: no assembly exponentials in this build") }
func eluAsm(d, x []float32, scale, negScale float32) {
	panic("kernel: no assembly exponentials in this build")
}
