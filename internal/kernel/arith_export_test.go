package kernel

// The Go loops of the arithmetic rows, for tests that set them against the
// assembly.
var (
	HaveArithAsm = haveArithAsm
	RaceEnabled  = raceEnabled
)

func AddRowGo[T Float](m Mode, d, a, b []T) { addRowGo(m, d, a, b) }
func SubRowGo[T Float](m Mode, d, a, b []T) { subRowGo(m, d, a, b) }
func MulRowGo[T Float](m Mode, d, a, b []T) { mulRowGo(m, d, a, b) }
func DivRowGo[T Float](m Mode, d, a, b []T) { divRowGo(m, d, a, b) }
func MaxRowGo[T Float](m Mode, d, a, b []T) { maxRowGo(m, d, a, b) }
func MinRowGo[T Float](m Mode, d, a, b []T) { minRowGo(m, d, a, b) }
func NegRowGo[T Float](d, x []T)            { negRowGo(d, x) }
func SqrtRowGo[T Float](d, x []T)           { sqrtRowGo(d, x) }
func SquareRowGo[T Float](d, x []T)         { squareRowGo(d, x) }
func ReciprocalRowGo[T Float](d, x []T)     { reciprocalRowGo(d, x) }
func AbsRowGo[T Float](d, x []T)            { absRowGo(d, x) }
