// Package gorgonia builds the reference configurations of
// internal/refmodels with gorgonia's own API, the way a gorgonia user would
// write them, so that BenchmarkGorgonia measures the step of the Go
// framework users would otherwise pick, side by side with BenchmarkRef.
//
// A training step is TapeMachine.RunAll (forward and backward, the
// gradients bound as dual values), VanillaSolver.Step (plain SGD, lr 0.01)
// and Reset; BatchNorm's moving statistics are updated inside gorgonia's
// BatchNormOp during the forward pass. gorgonia has no ELU or SELU: they are
// written from its element-wise ops (x⁺ = Rectify(x), x⁻ = x − x⁺,
// ELU = x⁺ + expm1(x⁻), SELU = λ·(x⁺ + α·expm1(x⁻))). Its BatchNorm function
// is used as is (momentum 0.01 in its convention, which is Keras's 0.99;
// epsilon 1e-3), with γ and β of shape 1×C. The loss is the mean over the
// batch of −Σ onehot(y)·LogSoftMax(logits).
//
// The BLAS is gonum's by default; with the build tag openblas, gorgonia.Use
// installs gonum's netlib wrapper linked to OpenBLAS (blas_openblas.go).
package gorgonia

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/bench/floor"
	"github.com/tapegrad/tapegrad/internal/refmodels"
)

// Step is one configuration at one batch size, ready to run.
type Step struct {
	Config refmodels.Config
	Batch  int

	g          *G.ExprGraph
	vm         G.VM
	solver     G.Solver // nil for inference
	valueGrads []G.ValueGrad
	out        *G.Node // the loss for training, the logits for inference
	outVal     G.Value
}

// Build makes the graph, the machine and the solver of configuration c at
// batch n, with seeded random inputs and labels bound to it.
func Build(c refmodels.Config, n int) (*Step, error) {
	ws, err := floor.Widths(c)
	if err != nil {
		return nil, err
	}
	s := &Step{Config: c, Batch: n}
	g := G.NewGraph()
	s.g = g
	rng := rand.New(rand.NewPCG(1, 2))

	xs := make([]float32, n*c.Inputs)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	x := G.NewMatrix(g, G.Float32, G.WithShape(n, c.Inputs), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(n, c.Inputs), tensor.WithBacking(xs))))

	var learnables G.Nodes
	var bnOps []*G.BatchNormOp
	h := x
	for i, w := range ws {
		in, out := w[0], w[1]
		last := i == len(ws)-1
		// lecun_normal for A, he_normal otherwise (not truncated: the
		// figures do not depend on it)
		std := math.Sqrt(2 / float64(in))
		if c.Name == "A" {
			std = math.Sqrt(1 / float64(in))
		}
		W := G.NewMatrix(g, G.Float32, G.WithShape(in, out), G.WithName(fmt.Sprintf("W%d", i)), G.WithInit(G.Gaussian(0, std)))
		learnables = append(learnables, W)
		if h, err = G.Mul(h, W); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		bn := !last && (c.Name == "B" || c.Name == "D")
		if !bn { // Dense with a bias
			b := G.NewMatrix(g, G.Float32, G.WithShape(1, out), G.WithName(fmt.Sprintf("b%d", i)), G.WithInit(G.Zeroes()))
			learnables = append(learnables, b)
			if h, err = G.BroadcastAdd(h, b, nil, []byte{0}); err != nil {
				return nil, fmt.Errorf("layer %d bias: %w", i, err)
			}
		}
		if last {
			break
		}
		if bn {
			gamma := G.NewMatrix(g, G.Float32, G.WithShape(1, out), G.WithName(fmt.Sprintf("gamma%d", i)), G.WithInit(G.Ones()))
			beta := G.NewMatrix(g, G.Float32, G.WithShape(1, out), G.WithName(fmt.Sprintf("beta%d", i)), G.WithInit(G.Zeroes()))
			var op *G.BatchNormOp
			if h, _, _, op, err = G.BatchNorm(h, gamma, beta, 0.01, 1e-3); err != nil {
				return nil, fmt.Errorf("layer %d batchnorm: %w", i, err)
			}
			op.Reset() // moving mean 0, moving variance 1, as Keras starts
			bnOps = append(bnOps, op)
			learnables = append(learnables, gamma, beta)
		}
		if c.Name == "A" {
			h, err = SELU(h)
		} else {
			h, err = ELU(h)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %d activation: %w", i, err)
		}
	}

	if c.Inference {
		for _, op := range bnOps {
			if err := op.SetTraining(false); err != nil {
				return nil, err
			}
		}
		s.out = h
		G.Read(h, &s.outVal)
		s.vm = G.NewTapeMachine(g)
		return s, nil
	}

	ys := make([]float32, n*10)
	for i := 0; i < n; i++ {
		ys[i*10+rng.IntN(10)] = 1
	}
	y := G.NewMatrix(g, G.Float32, G.WithShape(n, 10), G.WithName("y"),
		G.WithValue(tensor.New(tensor.WithShape(n, 10), tensor.WithBacking(ys))))
	loss, err := SoftmaxCrossEntropy(h, y)
	if err != nil {
		return nil, err
	}
	s.out = loss
	G.Read(loss, &s.outVal)
	if _, err := G.Grad(loss, learnables...); err != nil {
		return nil, fmt.Errorf("grad: %w", err)
	}
	s.vm = G.NewTapeMachine(g, G.BindDualValues(learnables...))
	s.solver = G.NewVanillaSolver(G.WithLearnRate(0.01))
	s.valueGrads = G.NodesToValueGrads(learnables)
	return s, nil
}

// Run performs one step: RunAll, the solver's update for training, Reset.
func (s *Step) Run() error {
	if err := s.vm.RunAll(); err != nil {
		return err
	}
	if s.solver != nil {
		if err := s.solver.Step(s.valueGrads); err != nil {
			return err
		}
	}
	s.vm.Reset()
	return nil
}

// Output returns the loss (training) or the logits (inference) of the last
// Run.
func (s *Step) Output() G.Value { return s.outVal }

// Close releases the machine.
func (s *Step) Close() error { return s.vm.Close() }

// split returns x⁺ = max(x, 0) and x⁻ = min(x, 0) = x − x⁺.
func split(x *G.Node) (pos, neg *G.Node, err error) {
	if pos, err = G.Rectify(x); err != nil {
		return nil, nil, err
	}
	if neg, err = G.Sub(x, pos); err != nil {
		return nil, nil, err
	}
	return pos, neg, nil
}

// ELU is x for x > 0 and exp(x) − 1 otherwise (alpha 1): x⁺ + expm1(x⁻).
func ELU(x *G.Node) (*G.Node, error) {
	pos, neg, err := split(x)
	if err != nil {
		return nil, err
	}
	e, err := G.Expm1(neg)
	if err != nil {
		return nil, err
	}
	return G.Add(pos, e)
}

// The SELU constants (Klambauer et al. 2017), as Keras and PyTorch have them.
const (
	seluAlpha = 1.6732632423543772848170429916717
	seluScale = 1.0507009873554804934193349852946
)

// SELU is λ·(x⁺ + α·expm1(x⁻)).
func SELU(x *G.Node) (*G.Node, error) {
	pos, neg, err := split(x)
	if err != nil {
		return nil, err
	}
	e, err := G.Expm1(neg)
	if err != nil {
		return nil, err
	}
	if e, err = G.Mul(G.NewConstant(float32(seluAlpha)), e); err != nil {
		return nil, err
	}
	sum, err := G.Add(pos, e)
	if err != nil {
		return nil, err
	}
	return G.Mul(G.NewConstant(float32(seluScale)), sum)
}

// SoftmaxCrossEntropy is mean over rows of −Σ y·log softmax(logits), y one-hot.
func SoftmaxCrossEntropy(logits, y *G.Node) (*G.Node, error) {
	logp, err := G.LogSoftMax(logits)
	if err != nil {
		return nil, err
	}
	prod, err := G.HadamardProd(y, logp)
	if err != nil {
		return nil, err
	}
	rows, err := G.Sum(prod, 1)
	if err != nil {
		return nil, err
	}
	mean, err := G.Mean(rows)
	if err != nil {
		return nil, err
	}
	return G.Neg(mean)
}

// Backend names the BLAS installed into gorgonia by this build.
func Backend() string { return backend }
