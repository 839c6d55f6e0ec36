// Package floor times the GEMM-only floor of a reference configuration: the
// exact sequence of matrix products one training step (or, for D, one
// inference) performs, with nothing else — no bias, activation,
// normalization, loss or update. A step cannot be faster than its floor on
// the same BLAS, dtype and thread count, so step time ÷ floor time says how
// much a framework spends outside GEMM.
//
// For a dense layer of in → out units at batch n (kernel W stored in×out,
// the Keras layout tapegrad uses) the sequence is
//
//	forward   Y  = X · W     n×in · in×out
//	backward  dX = dY · Wᵀ   n×out · out×in   (not for the first layer: no one needs dx)
//	          dW = Xᵀ · dY   in×n · n×out
//
// in that order over the layers (forward first to last, backward last to
// first); inference is the forward products only. The layer widths come
// from internal/refmodels, the same models BenchmarkRef builds.
package floor

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/tapegrad/tapegrad/internal/kernel"
	"github.com/tapegrad/tapegrad/internal/refmodels"
	"github.com/tapegrad/tapegrad/layers"
)

// GEMM is one product C (m×n) = op(A) · op(B) with op(A) m×k and op(B) k×n.
type GEMM struct {
	TransA, TransB bool
	M, N, K        int
}

// Flops is 2·m·n·k.
func (g GEMM) Flops() int { return 2 * g.M * g.N * g.K }

func (g GEMM) String() string {
	t := func(b bool) string {
		if b {
			return "ᵀ"
		}
		return ""
	}
	return fmt.Sprintf("[%d×%d]%s·[%d×%d]%s", g.M, g.K, t(g.TransA), g.K, g.N, t(g.TransB))
}

// Widths returns the (in, out) sizes of the dense layers of configuration c,
// first to last, read from the kernels of its built model.
func Widths(c refmodels.Config) ([][2]int, error) {
	m := c.Model()
	if err := m.Build(); err != nil {
		return nil, err
	}
	var ws [][2]int
	for _, l := range m.Layers() {
		if d, ok := l.(*layers.DenseLayer); ok {
			ws = append(ws, [2]int{d.Kernel.Shape[0], d.Kernel.Shape[1]})
		}
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("floor: configuration %s has no dense layer", c.Name)
	}
	return ws, nil
}

// Sequence returns the GEMMs of one step of c at batch n, in execution
// order.
func Sequence(c refmodels.Config, n int) ([]GEMM, error) {
	ws, err := Widths(c)
	if err != nil {
		return nil, err
	}
	var seq []GEMM
	for _, w := range ws {
		seq = append(seq, GEMM{M: n, N: w[1], K: w[0]}) // X·W
	}
	if c.Inference {
		return seq, nil
	}
	for i := len(ws) - 1; i >= 0; i-- {
		in, out := ws[i][0], ws[i][1]
		if i > 0 {
			seq = append(seq, GEMM{TransB: true, M: n, N: in, K: out}) // dY·Wᵀ
		}
		seq = append(seq, GEMM{TransA: true, M: in, N: out, K: n}) // Xᵀ·dY
	}
	return seq, nil
}

// Runner holds the operands of a sequence, allocated once, and runs it with
// one GEMM.
type Runner struct {
	seq     []GEMM
	a, b, c [][]float32
	gemm    kernel.GemmFunc[float32]
	Flops   int // per run of the sequence
}

// NewRunner allocates the operands of seq, filled with small values, and
// runs them with the build's GEMM: internal/kernel.Gemm, the dispatch
// tapegrad's VM uses (its default GEMM, or OpenBLAS with -tags openblas).
func NewRunner(seq []GEMM) *Runner { return NewRunnerWith(seq, kernel.Gemm[float32]()) }

// GonumSgemm is gonum's own Sgemm, called the way gorgonia's tensor package
// calls it: the floor of gorgonia's default build.
func GonumSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	t := func(x bool) blas.Transpose {
		if x {
			return blas.Trans
		}
		return blas.NoTrans
	}
	gonum.Implementation{}.Sgemm(t(transA), t(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// NewRunnerWith is NewRunner with a given GEMM.
func NewRunnerWith(seq []GEMM, gemm kernel.GemmFunc[float32]) *Runner {
	r := &Runner{seq: seq, gemm: gemm}
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(i%17-8) / 64
		}
		return s
	}
	for _, g := range seq {
		r.a = append(r.a, fill(g.M*g.K))
		r.b = append(r.b, fill(g.K*g.N))
		r.c = append(r.c, make([]float32, g.M*g.N))
		r.Flops += g.Flops()
	}
	return r
}

// Run performs the sequence once.
func (r *Runner) Run() {
	for i, g := range r.seq {
		lda, ldb := g.K, g.N
		if g.TransA { // A stored k×m
			lda = g.M
		}
		if g.TransB { // B stored n×k
			ldb = g.K
		}
		r.gemm(g.TransA, g.TransB, g.M, g.N, g.K, 1, r.a[i], lda, r.b[i], ldb, 0, r.c[i], g.N)
	}
}

// Sum returns the sum of every result, to check the products ran.
func (r *Runner) Sum() float64 {
	var s float64
	for _, c := range r.c {
		for _, v := range c {
			s += float64(v)
		}
	}
	return s
}

// Backend names the GEMM of this build, as internal/kernel.GemmBackend
// does.
func Backend() string { return kernel.GemmBackend() }
