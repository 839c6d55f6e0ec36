//go:build !purego

#include "textflag.h"

// Transposing packers for the packed GEMM (see pack_amd64.go). Each reads
// a few rows of a row-major matrix, ld elements apart, a block of 8
// (float32) or 4 (float64) columns at a time, transposes the block in
// registers and stores it as rows of the packed panel.
//
// The 8×8 float32 transpose loads each row's two halves into the low and
// high lanes of four registers ([A0-3|E0-3], [B0-3|F0-3], …), so that two
// rounds of unpack and shuffle, within 128-bit lanes, finish it.

// TRANSPOSE8 transposes the 8×4 block whose rows 0-3 start at R0 and rows
// 4-7 at R4 (stride R8, R9 = 3·R8), column offset OFF bytes, into four
// registers holding columns 0-3 of the block: O0…O3.
#define TRANSPOSE8(R0, R4, OFF, O0, O1, O2, O3) \
	VMOVUPS OFF(R0), X0 \
	VINSERTF128 $1, OFF(R4), Y0, Y0 \
	VMOVUPS OFF(R0)(R8*1), X1 \
	VINSERTF128 $1, OFF(R4)(R8*1), Y1, Y1 \
	VMOVUPS OFF(R0)(R8*2), X2 \
	VINSERTF128 $1, OFF(R4)(R8*2), Y2, Y2 \
	VMOVUPS OFF(R0)(R9*1), X3 \
	VINSERTF128 $1, OFF(R4)(R9*1), Y3, Y3 \
	VUNPCKLPS Y1, Y0, Y4 \
	VUNPCKHPS Y1, Y0, Y5 \
	VUNPCKLPS Y3, Y2, Y6 \
	VUNPCKHPS Y3, Y2, Y7 \
	VSHUFPS $0x44, Y6, Y4, O0 \
	VSHUFPS $0xEE, Y6, Y4, O1 \
	VSHUFPS $0x44, Y7, Y5, O2 \
	VSHUFPS $0xEE, Y7, Y5, O3

// func PackTransS16(d, src []float32, ld, k int)
TEXT ·PackTransS16(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	MOVQ k+56(FP), CX
	SHRQ $3, CX
	JZ   s16done

s16loop:
	// rows 0-7 of the panel into columns 0-7 of d's rows
	MOVQ SI, AX
	LEAQ (SI)(R8*4), BX
	TRANSPOSE8(AX, BX, 0, Y8, Y9, Y10, Y11)
	VMOVUPS Y8, 0(DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	TRANSPOSE8(AX, BX, 16, Y8, Y9, Y10, Y11)
	VMOVUPS Y8, 256(DI)
	VMOVUPS Y9, 320(DI)
	VMOVUPS Y10, 384(DI)
	VMOVUPS Y11, 448(DI)

	// rows 8-15 into columns 8-15
	LEAQ (SI)(R8*8), AX
	LEAQ (AX)(R8*4), BX
	TRANSPOSE8(AX, BX, 0, Y8, Y9, Y10, Y11)
	VMOVUPS Y8, 32(DI)
	VMOVUPS Y9, 96(DI)
	VMOVUPS Y10, 160(DI)
	VMOVUPS Y11, 224(DI)
	TRANSPOSE8(AX, BX, 16, Y8, Y9, Y10, Y11)
	VMOVUPS Y8, 288(DI)
	VMOVUPS Y9, 352(DI)
	VMOVUPS Y10, 416(DI)
	VMOVUPS Y11, 480(DI)

	ADDQ $32, SI
	ADDQ $512, DI
	DECQ CX
	JNZ  s16loop

s16done:
	VZEROUPPER
	RET

// STORE6S stores lanes 0-5 of Y (rows 0-5 of one column) at OFF(DI).
#define STORE6S(Y, X, OFF) \
	VMOVUPS X, OFF(DI) \
	VEXTRACTF128 $1, Y, X15 \
	VMOVQ X15, OFF+16(DI)

// func PackTransS6(d, src []float32, ld, k int)
TEXT ·PackTransS6(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	MOVQ k+56(FP), CX
	SHRQ $3, CX
	JZ   s6done

	// rows 4 and 5 are real; rows 6 and 7 of the 8×8 transpose read row 5
	// again (R10 points at row 4) and are dropped
	LEAQ (SI)(R8*4), R10

s6loop:
	// columns 0-3: rows 0-3 from SI, rows 4-7 from R10 (4, 5, 5, 5)
	VMOVUPS (SI), X0
	VINSERTF128 $1, (R10), Y0, Y0
	VMOVUPS (SI)(R8*1), X1
	VINSERTF128 $1, (R10)(R8*1), Y1, Y1
	VMOVUPS (SI)(R8*2), X2
	VINSERTF128 $1, (R10)(R8*1), Y2, Y2
	VMOVUPS (SI)(R9*1), X3
	VINSERTF128 $1, (R10)(R8*1), Y3, Y3
	VUNPCKLPS Y1, Y0, Y4
	VUNPCKHPS Y1, Y0, Y5
	VUNPCKLPS Y3, Y2, Y6
	VUNPCKHPS Y3, Y2, Y7
	VSHUFPS $0x44, Y6, Y4, Y8
	VSHUFPS $0xEE, Y6, Y4, Y9
	VSHUFPS $0x44, Y7, Y5, Y10
	VSHUFPS $0xEE, Y7, Y5, Y11
	STORE6S(Y8, X8, 0)
	STORE6S(Y9, X9, 24)
	STORE6S(Y10, X10, 48)
	STORE6S(Y11, X11, 72)

	// columns 4-7
	VMOVUPS 16(SI), X0
	VINSERTF128 $1, 16(R10), Y0, Y0
	VMOVUPS 16(SI)(R8*1), X1
	VINSERTF128 $1, 16(R10)(R8*1), Y1, Y1
	VMOVUPS 16(SI)(R8*2), X2
	VINSERTF128 $1, 16(R10)(R8*1), Y2, Y2
	VMOVUPS 16(SI)(R9*1), X3
	VINSERTF128 $1, 16(R10)(R8*1), Y3, Y3
	VUNPCKLPS Y1, Y0, Y4
	VUNPCKHPS Y1, Y0, Y5
	VUNPCKLPS Y3, Y2, Y6
	VUNPCKHPS Y3, Y2, Y7
	VSHUFPS $0x44, Y6, Y4, Y8
	VSHUFPS $0xEE, Y6, Y4, Y9
	VSHUFPS $0x44, Y7, Y5, Y10
	VSHUFPS $0xEE, Y7, Y5, Y11
	STORE6S(Y8, X8, 96)
	STORE6S(Y9, X9, 120)
	STORE6S(Y10, X10, 144)
	STORE6S(Y11, X11, 168)

	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $192, DI
	DECQ CX
	JNZ  s6loop

s6done:
	VZEROUPPER
	RET

// TRANSPOSE4D transposes the 4×4 float64 block whose rows start at R0,
// R0+R8, R0+2·R8, R0+R9 (column offset OFF bytes) into O0…O3, its columns.
#define TRANSPOSE4D(R0, OFF, O0, O1, O2, O3) \
	VMOVUPD OFF(R0), X0 \
	VINSERTF128 $1, OFF(R0)(R8*2), Y0, Y0 \
	VMOVUPD OFF(R0)(R8*1), X1 \
	VINSERTF128 $1, OFF(R0)(R9*1), Y1, Y1 \
	VMOVUPD OFF+16(R0), X2 \
	VINSERTF128 $1, OFF+16(R0)(R8*2), Y2, Y2 \
	VMOVUPD OFF+16(R0)(R8*1), X3 \
	VINSERTF128 $1, OFF+16(R0)(R9*1), Y3, Y3 \
	VUNPCKLPD Y1, Y0, O0 \
	VUNPCKHPD Y1, Y0, O1 \
	VUNPCKLPD Y3, Y2, O2 \
	VUNPCKHPD Y3, Y2, O3

// func PackTransD8(d, src []float64, ld, k int)
TEXT ·PackTransD8(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $3, R8
	LEAQ (R8)(R8*2), R9
	MOVQ k+56(FP), CX
	SHRQ $2, CX
	JZ   d8done
	LEAQ (SI)(R8*4), BX

d8loop:
	TRANSPOSE4D(SI, 0, Y8, Y9, Y10, Y11)
	VMOVUPD Y8, 0(DI)
	VMOVUPD Y9, 64(DI)
	VMOVUPD Y10, 128(DI)
	VMOVUPD Y11, 192(DI)
	TRANSPOSE4D(BX, 0, Y8, Y9, Y10, Y11)
	VMOVUPD Y8, 32(DI)
	VMOVUPD Y9, 96(DI)
	VMOVUPD Y10, 160(DI)
	VMOVUPD Y11, 224(DI)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $256, DI
	DECQ CX
	JNZ  d8loop

d8done:
	VZEROUPPER
	RET

// func PackTransD6(d, src []float64, ld, k int)
TEXT ·PackTransD6(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $3, R8
	LEAQ (R8)(R8*2), R9
	MOVQ k+56(FP), CX
	SHRQ $2, CX
	JZ   d6done
	LEAQ (SI)(R8*4), BX

d6loop:
	// rows 0-3
	TRANSPOSE4D(SI, 0, Y8, Y9, Y10, Y11)
	VMOVUPD Y8, 0(DI)
	VMOVUPD Y9, 48(DI)
	VMOVUPD Y10, 96(DI)
	VMOVUPD Y11, 144(DI)

	// rows 4 and 5: two 2×2 transposes
	VMOVUPD (BX), X0
	VMOVUPD (BX)(R8*1), X1
	VMOVUPD 16(BX), X2
	VMOVUPD 16(BX)(R8*1), X3
	VUNPCKLPD X1, X0, X4
	VUNPCKHPD X1, X0, X5
	VUNPCKLPD X3, X2, X6
	VUNPCKHPD X3, X2, X7
	VMOVUPD X4, 32(DI)
	VMOVUPD X5, 80(DI)
	VMOVUPD X6, 128(DI)
	VMOVUPD X7, 176(DI)

	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $192, DI
	DECQ CX
	JNZ  d6loop

d6done:
	VZEROUPPER
	RET

// func PackCopyS16(d, src []float32, ld, k int)
// Copies k rows of 64 bytes, ld elements apart, to d, contiguous.
TEXT ·PackCopyS16(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $2, R8
	MOVQ k+56(FP), CX
	MOVQ CX, BX
	SHRQ $1, BX
	JZ   cs16one

cs16loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (SI)(R8*1), Y2
	VMOVUPS 32(SI)(R8*1), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	LEAQ (SI)(R8*2), SI
	ADDQ $128, DI
	DECQ BX
	JNZ  cs16loop

cs16one:
	TESTQ $1, CX
	JZ    cs16done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)

cs16done:
	VZEROUPPER
	RET

// func PackCopyD8(d, src []float64, ld, k int)
// Copies k rows of 64 bytes, ld elements apart, to d, contiguous.
TEXT ·PackCopyD8(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $3, R8
	MOVQ k+56(FP), CX
	MOVQ CX, BX
	SHRQ $1, BX
	JZ   cd8one

cd8loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (SI)(R8*1), Y2
	VMOVUPS 32(SI)(R8*1), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	LEAQ (SI)(R8*2), SI
	ADDQ $128, DI
	DECQ BX
	JNZ  cd8loop

cd8one:
	TESTQ $1, CX
	JZ    cd8done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)

cd8done:
	VZEROUPPER
	RET

// func PackCopyS6(d, src []float32, ld, k int)
// Copies k rows of 6 float32 (24 bytes), ld elements apart, to d,
// contiguous.
TEXT ·PackCopyS6(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $2, R8
	MOVQ k+56(FP), CX
	MOVQ CX, BX
	SHRQ $1, BX
	JZ   cs6one

cs6loop:
	VMOVUPS (SI), X0
	VMOVQ   16(SI), X1
	VMOVUPS (SI)(R8*1), X2
	VMOVQ   16(SI)(R8*1), X3
	VMOVUPS X0, (DI)
	VMOVQ   X1, 16(DI)
	VMOVUPS X2, 24(DI)
	VMOVQ   X3, 40(DI)
	LEAQ    (SI)(R8*2), SI
	ADDQ    $48, DI
	DECQ    BX
	JNZ     cs6loop

cs6one:
	TESTQ $1, CX
	JZ    cs6done
	VMOVUPS (SI), X0
	VMOVQ   16(SI), X1
	VMOVUPS X0, (DI)
	VMOVQ   X1, 16(DI)

cs6done:
	RET

// func PackCopyD6(d, src []float64, ld, k int)
// Copies k rows of 6 float64 (48 bytes), ld elements apart, to d,
// contiguous.
TEXT ·PackCopyD6(SB), NOSPLIT, $0-64
	MOVQ d_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $3, R8
	MOVQ k+56(FP), CX
	MOVQ CX, BX
	SHRQ $1, BX
	JZ   cd6one

cd6loop:
	VMOVUPD (SI), Y0
	VMOVUPD 32(SI), X1
	VMOVUPD (SI)(R8*1), Y2
	VMOVUPD 32(SI)(R8*1), X3
	VMOVUPD Y0, (DI)
	VMOVUPD X1, 32(DI)
	VMOVUPD Y2, 48(DI)
	VMOVUPD X3, 80(DI)
	LEAQ    (SI)(R8*2), SI
	ADDQ    $96, DI
	DECQ    BX
	JNZ     cd6loop

cd6one:
	TESTQ $1, CX
	JZ    cd6done
	VMOVUPD (SI), Y0
	VMOVUPD 32(SI), X1
	VMOVUPD Y0, (DI)
	VMOVUPD X1, 32(DI)

cd6done:
	VZEROUPPER
	RET
