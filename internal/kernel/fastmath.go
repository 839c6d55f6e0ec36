package kernel

import (
	"math"
	"unsafe"
)

// Fast float32 exponentials for the float32 kernels. Go's math package works
// in float64 and its Expm1 is branchy; a float32 model does not need that
// precision, and activations (ELU, SELU, sigmoid, tanh, softmax) spend most
// of their time there. These follow Cephes' expf: range reduction by
// n·ln 2 in two parts, a degree-6 polynomial, and a scale by 2ⁿ built from
// the exponent bits. Their error is within 2 ulp of float32 (tested against
// math.Exp and math.Expm1 over the whole range).
//
// Every product is rounded on its own: the conversions to float32 keep the
// compiler from fusing a product and a sum into an FMA (Go may, and does on
// arm64 and with GOAMD64=v3). So Exp32 and Expm1_32 give the same bits on
// every architecture, and the same as the AVX2 routines of package avx2 that
// the row functions below use when the CPU has them.

const (
	exp32Max = 88.72283905206835 // above: +Inf
	exp32Min = -103.97207708     // below: 0 (the smallest denormal is e^−103.28)
	log2e    = 1.44269504088896341
	ln2Hi    = 0.693359375
	ln2Lo    = -2.12194440e-4
)

// Exp32 returns eˣ.
func Exp32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > exp32Max:
		return float32(math.Inf(1))
	case x < exp32Min:
		return 0
	}
	t := float32(x * log2e)
	if t < 0 {
		t -= 0.5
	} else {
		t += 0.5
	}
	n := float32(int32(t)) // round to nearest, halves away from zero
	r := float32(x-float32(n*ln2Hi)) - float32(n*ln2Lo)
	z := r * r
	p := float32(1.9875691500e-4*r) + 1.3981999507e-3
	p = float32(p*r) + 8.3334519073e-3
	p = float32(p*r) + 4.1665795894e-2
	p = float32(p*r) + 1.6666665459e-1
	p = float32(p*r) + 5.0000001201e-1
	p = float32(p*z) + r + 1
	return scale2(p, int32(n))
}

// scale2 returns p·2ⁿ for n in the range the exponentials produce.
func scale2(p float32, n int32) float32 {
	if n < -126 { // the result is denormal: scale in two steps
		p *= math.Float32frombits(uint32(-126+127) << 23)
		n += 126
	}
	if n > 127 {
		p *= math.Float32frombits(uint32(127+127) << 23)
		n -= 127
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// Expm1_32 returns eˣ − 1, accurate for x near 0.
func Expm1_32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < -17: // e⁻¹⁷ is below half an ulp of 1
		return -1
	case x > -0.5 && x < 0.5:
		// Taylor series to x⁹/9!: the first term left out is below 1e−8
		// of the result for |x| < 0.5
		q := float32(x*(1.0/362880)) + 1.0/40320
		q = float32(x*q) + 1.0/5040
		q = float32(x*q) + 1.0/720
		q = float32(x*q) + 1.0/120
		q = float32(x*q) + 1.0/24
		q = float32(x*q) + 1.0/6
		q = float32(x*q) + 1.0/2
		q = float32(x*q) + 1
		return x * q
	}
	return Exp32(x) - 1
}

// F32 reinterprets a []T as a []float32; T must be float32 (check with
// Is64 first). It lets a generic row kernel hand its rows to a float32
// specialization without copying or allocating.
func F32[T Float](s []T) []float32 {
	if Is64[T]() {
		panic("kernel: F32 of a float64 slice")
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// Exp32Row writes eˣ for each x into d (d may be x). With AVX2 and FMA it
// runs eight lanes at a time (avx2.ExpS), with the same results as Exp32.
func Exp32Row(d, x []float32) {
	x = x[:len(d)]
	if haveExpAsm {
		expAsm(d, x)
		return
	}
	exp32RowGo(d, x)
}

// Expm1_32Row writes eˣ − 1 for each x into d (d may be x), with the same
// results as Expm1_32 (avx2.Expm1S with AVX2 and FMA).
func Expm1_32Row(d, x []float32) {
	x = x[:len(d)]
	if haveExpAsm {
		expm1Asm(d, x)
		return
	}
	expm1_32RowGo(d, x)
}

// Elu32Row writes scale·x for each x > 0 and negScale·Expm1_32(x) for the
// others (NaN included) into d (d may be x): the forward pass of ELU
// (scale 1, negScale α) and SELU (λ, λα), in one sweep (avx2.EluS with AVX2
// and FMA).
func Elu32Row(d, x []float32, scale, negScale float32) {
	x = x[:len(d)]
	if haveExpAsm {
		eluAsm(d, x, scale, negScale)
		return
	}
	elu32RowGo(d, x, scale, negScale)
}

// The scalar row loops, for CPUs without AVX2 and other architectures.

func exp32RowGo(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = Exp32(v)
	}
}

func expm1_32RowGo(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = Expm1_32(v)
	}
}

func elu32RowGo(d, x []float32, scale, negScale float32) {
	x = x[:len(d)]
	for i, v := range x {
		if v > 0 {
			d[i] = scale * v
		} else {
			d[i] = negScale * Expm1_32(v) // also NaN
		}
	}
}
