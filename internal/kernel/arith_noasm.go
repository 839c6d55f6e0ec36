//go:build !amd64 || purego

package kernel

// haveArithAsm: this build has no assembly rows; the element-wise
// arithmetic rows run their Go loops.
const haveArithAsm = false

func addRow32(m Mode, d, a, b []float32) { addRowGo(m, d, a, b) }
func addRow64(m Mode, d, a, b []float64) { addRowGo(m, d, a, b) }
func subRow32(m Mode, d, a, b []float32) { subRowGo(m, d, a, b) }
func subRow64(m Mode, d, a, b []float64) { subRowGo(m, d, a, b) }
func mulRow32(m Mode, d, a, b []float32) { mulRowGo(m, d, a, b) }
func mulRow64(m Mode, d, a, b []float64) { mulRowGo(m, d, a, b) }
func divRow32(m Mode, d, a, b []float32) { divRowGo(m, d, a, b) }
func divRow64(m Mode, d, a, b []float64) { divRowGo(m, d, a, b) }
func maxRow32(m Mode, d, a, b []float32) { maxRowGo(m, d, a, b) }
func maxRow64(m Mode, d, a, b []float64) { maxRowGo(m, d, a, b) }
func minRow32(m Mode, d, a, b []float32) { minRowGo(m, d, a, b) }
func minRow64(m Mode, d, a, b []float64) { minRowGo(m, d, a, b) }

func negRow32(d, x []float32)        { negRowGo(d, x) }
func negRow64(d, x []float64)        { negRowGo(d, x) }
func sqrtRow32(d, x []float32)       { sqrtRowGo(d, x) }
func sqrtRow64(d, x []float64)       { sqrtRowGo(d, x) }
func squareRow32(d, x []float32)     { squareRowGo(d, x) }
func squareRow64(d, x []float64)     { squareRowGo(d, x) }
func reciprocalRow32(d, x []float32) { reciprocalRowGo(d, x) }
func reciprocalRow64(d, x []float64) { reciprocalRowGo(d, x) }
func absRow32(d, x []float32)        { absRowGo(d, x) }
func absRow64(d, x []float64)        { absRowGo(d, x) }
