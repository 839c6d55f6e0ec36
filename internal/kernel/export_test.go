package kernel

// The scalar row loops, for tests that set them against the assembly.
var (
	Exp32RowGo    = exp32RowGo
	Expm1_32RowGo = expm1_32RowGo
	Elu32RowGo    = elu32RowGo
	HaveExpAsm    = haveExpAsm
)
