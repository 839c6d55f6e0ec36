//go:build !purego

#include "textflag.h"

// Vectorized float32 exponentials (see exp_amd64.go): kernel.Exp32 and
// kernel.Expm1_32 eight lanes at a time, with the same operations in the
// same order, so that the results are the same bit for bit.
//
// eˣ: t = x·log2e; n = trunc(t ± 0.5) (the sign of x, which is that of t),
// the halves rounded away from zero as Go's int32(t ± 0.5) does; r = x −
// n·ln2Hi − n·ln2Lo (the first product and difference are exact, so the
// FMA there changes nothing); the degree-6 polynomial
//
//	p = (((((c0·r + c1)·r + c2)·r + c3)·r + c4)·r + c5)·z + r + 1, z = r²
//
// each step rounded (no FMA: kernel.Exp32 rounds each product); then p·2ⁿ.
// Where every lane of a vector has −86.5 ≤ x ≤ 88 (Exp) or −17 ≤ x ≤ 88
// (Expm1), n is in [−125, 127], p·2ⁿ is a normal number, and the fast path
// scales by adding n to p's exponent field (VPSLLD, VPADDD). Otherwise the
// slow path multiplies p by 2ⁿ¹ and by 2ⁿ⁻ⁿ¹, n1 = n clamped to [−126, 127]
// (kernel.scale2's two steps for denormal results, p·2⁻¹²⁶·2ⁿ⁺¹²⁶, and for
// n = 128), and masks in the special results: +Inf above 88.72284, 0 below
// −103.97208 (Exp) or −1 below −17 (Expm1), x itself for NaN.
//
// eˣ − 1: eˣ − 1 as above, and the Taylor series x·(1 + x·(1/2 + … +
// x/362880)) blended in where |x| < 0.5.
//
// Registers: Y0 holds x, the result comes out in Y4; Y1–Y3 and Y5–Y7 are
// temporaries; Y8–Y14 hold constants, loaded once. The last len mod 8
// elements are read and written through a mask (VMASKMOVPS), so that
// nothing outside the slices is touched; d may be x.

// SPLAT defines an 8-lane vector of the float32 (or int32) with bits V.
#define SPLAT(NAME, V) \
	DATA NAME+0(SB)/4, V \
	DATA NAME+4(SB)/4, V \
	DATA NAME+8(SB)/4, V \
	DATA NAME+12(SB)/4, V \
	DATA NAME+16(SB)/4, V \
	DATA NAME+20(SB)/4, V \
	DATA NAME+24(SB)/4, V \
	DATA NAME+28(SB)/4, V \
	GLOBL NAME(SB), RODATA|NOPTR, $32

SPLAT(expLog2e<>, $0x3fb8aa3b)     // 1.442695
SPLAT(expSign<>, $0x80000000)
SPLAT(expHalf<>, $0x3f000000)      // 0.5, also c5 and 1/2
SPLAT(expMinusHalf<>, $0xbf000000)
SPLAT(expLn2Hi<>, $0x3f318000)     // 0.693359375
SPLAT(expLn2Lo<>, $0xb95e8083)     // −2.1219444e-4
SPLAT(expOne<>, $0x3f800000)
SPLAT(expC0<>, $0x39506967)        // 1.9875691e-4
SPLAT(expC1<>, $0x3ab743ce)        // 1.3981999e-3
SPLAT(expC2<>, $0x3c088908)        // 8.333452e-3
SPLAT(expC3<>, $0x3d2aa9c1)        // 4.1665796e-2
SPLAT(expC4<>, $0x3e2aaaaa)        // 0.16666666
SPLAT(exp127<>, $127)
SPLAT(expM126<>, $-126)
SPLAT(expFastLo<>, $0xc2ad0000)    // −86.5: the fast path of Exp from here
SPLAT(expFastHi<>, $0x42b00000)    // 88: to here
SPLAT(expMax<>, $0x42b17218)       // 88.72284: above, +Inf
SPLAT(expMin<>, $0xc2cff1b4)       // −103.97208: below, 0
SPLAT(expInf<>, $0x7f800000)
SPLAT(expM17<>, $0xc1880000)       // −17: below, eˣ − 1 is −1
SPLAT(expMinusOne<>, $0xbf800000)
SPLAT(expT9<>, $0x3638ef1d)        // 1/362880
SPLAT(expT8<>, $0x37d00d01)        // 1/40320
SPLAT(expT7<>, $0x39500d01)        // 1/5040
SPLAT(expT6<>, $0x3ab60b61)        // 1/720
SPLAT(expT5<>, $0x3c088889)        // 1/120
SPLAT(expT4<>, $0x3d2aaaab)        // 1/24
SPLAT(expT3<>, $0x3e2aaaab)        // 1/6

// expTail: 32 bytes of ones, then 32 of zeros; the 32 bytes at 32−4t mask
// the first t lanes.
DATA expTail<>+0(SB)/8, $0xffffffffffffffff
DATA expTail<>+8(SB)/8, $0xffffffffffffffff
DATA expTail<>+16(SB)/8, $0xffffffffffffffff
DATA expTail<>+24(SB)/8, $0xffffffffffffffff
DATA expTail<>+32(SB)/8, $0
DATA expTail<>+40(SB)/8, $0
DATA expTail<>+48(SB)/8, $0
DATA expTail<>+56(SB)/8, $0
GLOBL expTail<>(SB), RODATA|NOPTR, $64

#define LOADCONSTS \
	VMOVUPS expLog2e<>(SB), Y8 \
	VMOVUPS expSign<>(SB), Y9 \
	VMOVUPS expHalf<>(SB), Y10 \
	VMOVUPS expLn2Hi<>(SB), Y11 \
	VMOVUPS expLn2Lo<>(SB), Y12 \
	VMOVUPS expOne<>(SB), Y13 \
	VMOVUPS expMinusHalf<>(SB), Y14

// RANGE: Y6 = the lanes of Y0 outside [LO, HI], NaN included (NGE_UQ,
// NLE_UQ), for VTESTPS Y6, Y6 to tell whether the fast path serves them.
#define RANGE(LO, HI) \
	VCMPPS $0x19, LO, Y0, Y6 \
	VCMPPS $0x16, HI, Y0, Y7 \
	VORPS Y7, Y6, Y6

// EXPPOLY: Y4 = p and Y5 = n (int32) for the x in Y0; Y1–Y3 clobbered.
#define EXPPOLY \
	VMULPS Y8, Y0, Y1 \
	VBLENDVPS Y0, Y14, Y10, Y2 \
	VADDPS Y2, Y1, Y1 \
	VROUNDPS $3, Y1, Y1 \
	VCVTTPS2DQ Y1, Y5 \
	VMOVAPS Y0, Y2 \
	VFNMADD231PS Y11, Y1, Y2 \
	VMULPS Y12, Y1, Y3 \
	VSUBPS Y3, Y2, Y2 \
	VMULPS Y2, Y2, Y3 \
	VMULPS expC0<>(SB), Y2, Y4 \
	VADDPS expC1<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS expC2<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS expC3<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS expC4<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS Y10, Y4, Y4 \
	VMULPS Y3, Y4, Y4 \
	VADDPS Y2, Y4, Y4 \
	VADDPS Y13, Y4, Y4

// FASTSCALE: Y4 = p·2ⁿ where it is normal, through the exponent field.
#define FASTSCALE \
	VPSLLD $23, Y5, Y5 \
	VPADDD Y5, Y4, Y4

// SLOWSCALE: Y4 = p·2ⁿ¹·2ⁿ⁻ⁿ¹ for any n; Y5, Y6 clobbered.
#define SLOWSCALE \
	VPMINSD exp127<>(SB), Y5, Y6 \
	VPMAXSD expM126<>(SB), Y6, Y6 \
	VPSUBD Y6, Y5, Y5 \
	VPADDD exp127<>(SB), Y6, Y6 \
	VPSLLD $23, Y6, Y6 \
	VPADDD exp127<>(SB), Y5, Y5 \
	VPSLLD $23, Y5, Y5 \
	VMULPS Y6, Y4, Y4 \
	VMULPS Y5, Y4, Y4

// EXPSPECIAL: +Inf, 0 and NaN into the eˣ in Y4.
#define EXPSPECIAL \
	VCMPPS $0x1e, expMax<>(SB), Y0, Y6 \
	VBLENDVPS Y6, expInf<>(SB), Y4, Y4 \
	VCMPPS $0x11, expMin<>(SB), Y0, Y6 \
	VANDNPS Y4, Y6, Y4 \
	VCMPPS $3, Y0, Y0, Y6 \
	VBLENDVPS Y6, Y0, Y4, Y4

// EXPM1SPECIAL: +Inf, −1 and NaN into the eˣ − 1 in Y4.
#define EXPM1SPECIAL \
	VCMPPS $0x1e, expMax<>(SB), Y0, Y6 \
	VBLENDVPS Y6, expInf<>(SB), Y4, Y4 \
	VCMPPS $0x11, expM17<>(SB), Y0, Y6 \
	VBLENDVPS Y6, expMinusOne<>(SB), Y4, Y4 \
	VCMPPS $3, Y0, Y0, Y6 \
	VBLENDVPS Y6, Y0, Y4, Y4

// TAYLOR: the series for eˣ − 1 blended into Y4 where |x| < 0.5 (not NaN);
// Y6, Y7 clobbered.
#define TAYLOR \
	VMULPS expT9<>(SB), Y0, Y7 \
	VADDPS expT8<>(SB), Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VADDPS expT7<>(SB), Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VADDPS expT6<>(SB), Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VADDPS expT5<>(SB), Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VADDPS expT4<>(SB), Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VADDPS expT3<>(SB), Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VADDPS Y10, Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VADDPS Y13, Y7, Y7 \
	VMULPS Y0, Y7, Y7 \
	VANDNPS Y0, Y9, Y6 \
	VCMPPS $0x11, Y10, Y6, Y6 \
	VBLENDVPS Y6, Y7, Y4, Y4

// ELU: Y4 = scale·x where x > 0, negScale·Y4 elsewhere (the arguments of
// EluS); Y6, Y7 clobbered.
#define ELU \
	VBROADCASTSS negScale+52(FP), Y6 \
	VMULPS Y6, Y4, Y4 \
	VBROADCASTSS scale+48(FP), Y7 \
	VMULPS Y7, Y0, Y7 \
	VXORPS Y6, Y6, Y6 \
	VCMPPS $0x1e, Y6, Y0, Y6 \
	VBLENDVPS Y6, Y7, Y4, Y4

// TAILMASK sets Y6 to the mask of the first CX lanes (0 < CX < 8), from
// AX.
#define TAILMASK \
	SHLQ $2, CX \
	LEAQ expTail<>+32(SB), AX \
	SUBQ CX, AX \
	VMOVDQU (AX), Y6

// Each routine: DI = d, SI = x, BX = len(d)/8 steps of 8 lanes, then the
// tail of CX = len(d) mod 8 lanes through a mask (its lanes past the
// slices read 0 and are not written). The slow path of a step is out of
// line, after the loop.

// func ExpS(d, x []float32)
TEXT ·ExpS(SB), NOSPLIT, $0-48
	MOVQ d_base+0(FP), DI
	MOVQ d_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	LOADCONSTS
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   expRest

expLoop:
	VMOVUPS (SI), Y0
	RANGE(expFastLo<>(SB), expFastHi<>(SB))
	EXPPOLY
	VTESTPS Y6, Y6
	JNE     expSlow
	FASTSCALE

expStore:
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    BX
	JNZ     expLoop

expRest:
	ANDQ $7, CX
	JZ   expDone
	TAILMASK
	VMASKMOVPS (SI), Y6, Y0
	EXPPOLY
	SLOWSCALE
	EXPSPECIAL
	VMOVDQU    (AX), Y6
	VMASKMOVPS Y4, Y6, (DI)

expDone:
	VZEROUPPER
	RET

expSlow:
	SLOWSCALE
	EXPSPECIAL
	JMP expStore

// func Expm1S(d, x []float32)
TEXT ·Expm1S(SB), NOSPLIT, $0-48
	MOVQ d_base+0(FP), DI
	MOVQ d_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	LOADCONSTS
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   expm1Rest

expm1Loop:
	VMOVUPS (SI), Y0
	RANGE(expM17<>(SB), expFastHi<>(SB))
	EXPPOLY
	VTESTPS Y6, Y6
	JNE     expm1Slow
	FASTSCALE
	VSUBPS  Y13, Y4, Y4

expm1Taylor:
	TAYLOR
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    BX
	JNZ     expm1Loop

expm1Rest:
	ANDQ $7, CX
	JZ   expm1Done
	TAILMASK
	VMASKMOVPS (SI), Y6, Y0
	EXPPOLY
	SLOWSCALE
	VSUBPS     Y13, Y4, Y4
	EXPM1SPECIAL
	TAYLOR
	VMOVDQU    (AX), Y6
	VMASKMOVPS Y4, Y6, (DI)

expm1Done:
	VZEROUPPER
	RET

expm1Slow:
	SLOWSCALE
	VSUBPS Y13, Y4, Y4
	EXPM1SPECIAL
	JMP    expm1Taylor

// func EluS(d, x []float32, scale, negScale float32)
TEXT ·EluS(SB), NOSPLIT, $0-56
	MOVQ d_base+0(FP), DI
	MOVQ d_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	LOADCONSTS
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   eluRest

eluLoop:
	VMOVUPS (SI), Y0
	RANGE(expM17<>(SB), expFastHi<>(SB))
	EXPPOLY
	VTESTPS Y6, Y6
	JNE     eluSlow
	FASTSCALE
	VSUBPS  Y13, Y4, Y4

eluTaylor:
	TAYLOR
	ELU
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    BX
	JNZ     eluLoop

eluRest:
	ANDQ $7, CX
	JZ   eluDone
	TAILMASK
	VMASKMOVPS (SI), Y6, Y0
	EXPPOLY
	SLOWSCALE
	VSUBPS     Y13, Y4, Y4
	EXPM1SPECIAL
	TAYLOR
	ELU
	VMOVDQU    (AX), Y6
	VMASKMOVPS Y4, Y6, (DI)

eluDone:
	VZEROUPPER
	RET

eluSlow:
	SLOWSCALE
	VSUBPS Y13, Y4, Y4
	EXPM1SPECIAL
	JMP    eluTaylor
