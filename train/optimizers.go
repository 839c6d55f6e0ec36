package train

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/initializers"
	"github.com/tapegrad/tapegrad/nodes"
)

// The optimizers. Each is a config struct whose zero value is the default
// of the framework named in its doc comment, with the other framework's
// form one option away where the two differ (SEMANTICS §8). In the
// formulas g is the (clipped) gradient, η the learning rate read from
// Step.LearningRate when the program runs, t = Step.T the number of the
// update (1 for the first) and every operation element-wise. A field left
// zero takes its default, so a coefficient cannot be set to exactly 0
// where its default is not 0 (β₁ = 0 in Adam, for example): use a tiny
// value instead.
//
// The LearningRate fields hold the initial learning rate, which Model passes to
// NewStep; schedules then change it in the store. (The field cannot be
// called LearningRate: Optimizer's method of that name returns it with
// its default applied.)

// SGD is stochastic gradient descent, with optional momentum and Nesterov
// momentum, in PyTorch's form (the golden trajectories' form):
//
//	without momentum:  w ← w − η·g
//	momentum μ:        b ← μ·b + g  (b₁ = g₁: the slot starts at 0),  w ← w − η·b
//	Nesterov:          b as above,  w ← w − η·(g + μ·b)
//
// Keras's SGD keeps a velocity that already includes the learning rate,
// v ← μ·v − η·g, w ← w + v (Nesterov: w ← w + μ·v − η·g). With a
// constant η the two are the same trajectory (v = −η·b); they differ when a
// schedule changes η: PyTorch's buffer applies the new η to the whole
// accumulated momentum, Keras's only to the new gradient. Keras selects
// Keras's form (the slot then holds v).
//
// The default learning rate is Keras's 0.01 (PyTorch has none). The slot
// is "optimizer/<param>/momentum", created only when Momentum > 0.
type SGD struct {
	// LearningRate is the initial learning rate; 0 means 0.01.
	LearningRate float64
	// Momentum μ in [0, 1); 0 is plain SGD.
	Momentum float64
	// Nesterov selects Nesterov momentum (with Momentum 0 it changes
	// nothing).
	Nesterov bool
	// Keras selects Keras's momentum form.
	Keras bool
	Clip
}

// Name returns "sgd".
func (SGD) Name() string { return "sgd" }

// InitialRate returns LearningRate, or 0.01 when LearningRate is 0.
func (o SGD) InitialRate() float64 { return optOrDefault(o.LearningRate, 0.01) }

func (o SGD) validate() error {
	if err := optCheckRate("sgd", o.LearningRate); err != nil {
		return err
	}
	return optCheckUnit("sgd", "momentum", o.Momentum)
}

// Apply implements Optimizer.
func (o SGD) Apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	mu := o.Momentum
	return optApply("sgd", s, params, grads, o.Clip, nil, func(u *optUpdater, p, g *graph.Node) []*graph.Node {
		lr := u.s.LearningRate
		if mu == 0 {
			return []*graph.Node{nodes.Assign(p, nodes.Sub(p, nodes.Mul(lr, g)))}
		}
		b := u.slot(p, "momentum", nil)
		if o.Keras {
			// v ← μ·v − η·g; w ← w + v, or w + μ·v − η·g (Nesterov)
			step := nodes.Mul(lr, g)
			v1 := nodes.Sub(nodes.Mul(b, u.scalar(mu)), step)
			w1 := nodes.Add(p, v1)
			if o.Nesterov {
				w1 = nodes.Add(p, nodes.Sub(nodes.Mul(v1, u.scalar(mu)), step))
			}
			return []*graph.Node{nodes.Assign(p, w1), nodes.Assign(b, v1)}
		}
		b1 := nodes.Add(nodes.Mul(b, u.scalar(mu)), g)
		d := b1
		if o.Nesterov {
			d = nodes.Add(g, nodes.Mul(b1, u.scalar(mu)))
		}
		return []*graph.Node{nodes.Assign(p, nodes.Sub(p, nodes.Mul(lr, d))), nodes.Assign(b, b1)}
	})
}

// Adagrad scales each parameter's step by the root of its accumulated
// squared gradients. Keras's form and defaults (learning rate 0.001,
// initial_accumulator_value 0.1, epsilon 1e-7, ε inside the square root):
//
//	a ← a + g²,  w ← w − η·g / sqrt(a + ε)
//
// With Torch, PyTorch's form and defaults (lr 0.01,
// initial_accumulator_value 0, eps 1e-10, ε outside the square root):
//
//	a ← a + g²,  w ← w − η·g / (sqrt(a) + ε)
//
// LRDecay is PyTorch's lr_decay, in either form: the step uses
// η/(1 + (t−1)·LRDecay). The slot is "optimizer/<param>/accumulator".
type Adagrad struct {
	// LearningRate is the initial learning rate; 0 means 0.001 (Torch: 0.01).
	LearningRate float64
	// InitialAccumulatorValue is the accumulator's starting value, ≥ 0;
	// 0 means 0.1 (Torch: 0, PyTorch's default).
	InitialAccumulatorValue float64
	// Epsilon ε > 0; 0 means 1e-7 (Torch: 1e-10).
	Epsilon float64
	// LRDecay ≥ 0 decays the learning rate as η/(1 + (t−1)·LRDecay).
	LRDecay float64
	// Torch selects PyTorch's form and defaults.
	Torch bool
	Clip
}

// Name returns "adagrad".
func (Adagrad) Name() string { return "adagrad" }

// InitialRate returns LearningRate, or the default when LearningRate is 0.
func (o Adagrad) InitialRate() float64 {
	if o.Torch {
		return optOrDefault(o.LearningRate, 0.01)
	}
	return optOrDefault(o.LearningRate, 0.001)
}

// Apply implements Optimizer.
func (o Adagrad) Apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error) {
	eps, acc0 := optOrDefault(o.Epsilon, 1e-7), optOrDefault(o.InitialAccumulatorValue, 0.1)
	if o.Torch {
		eps, acc0 = optOrDefault(o.Epsilon, 1e-10), o.InitialAccumulatorValue
	}
	if err := optCheckRate("adagrad", o.LearningRate); err != nil {
		return nil, err
	}
	if err := optCheckEpsilon("adagrad", eps); err != nil {
		return nil, err
	}
	if !(acc0 >= 0) || math.IsInf(acc0, 0) {
		return nil, fmt.Errorf("train: adagrad: initial accumulator value %g: want a finite number ≥ 0", acc0)
	}
	if !(o.LRDecay >= 0) || math.IsInf(o.LRDecay, 0) {
		return nil, fmt.Errorf("train: adagrad: learning-rate decay %g: want a finite number ≥ 0", o.LRDecay)
	}
	var lr *graph.Node
	pre := func(u *optUpdater) []*graph.Node {
		lr = u.s.LearningRate
		if o.LRDecay > 0 {
			// η/(1 + (t−1)·decay)
			lr = nodes.Div(lr, nodes.Add(u.scalar(1), nodes.Mul(nodes.Sub(u.s.T, u.scalar(1)), u.scalar(o.LRDecay))))
		}
		return nil
	}
	return optApply("adagrad", s, params, grads, o.Clip, pre, func(u *optUpdater, p, g *graph.Node) []*graph.Node {
		a := u.slot(p, "accumulator", initializers.Constant{Value: acc0})
		a1 := nodes.Add(a, nodes.Square(g))
		var den *graph.Node
		if o.Torch {
			den = nodes.Add(nodes.Sqrt(a1), u.scalar(eps))
		} else {
			den = nodes.Sqrt(nodes.Add(a1, u.scalar(eps)))
		}
		w1 := nodes.Sub(p, nodes.Div(nodes.Mul(lr, g), den))
		return []*graph.Node{nodes.Assign(p, w1), nodes.Assign(a, a1)}
	})
}

// RMSprop divides the gradient by a moving root mean square of recent
// gradients. Keras's form and defaults (learning rate 0.001, rho 0.9,
// momentum 0, epsilon 1e-7, ε inside the square root, momentum applied to
// the scaled step):
//
//	v ← ρ·v + (1−ρ)·g²
//	d = v + ε                 (centered: ā ← ρ·ā + (1−ρ)·g, d = v − ā² + ε)
//	s = η·g / sqrt(d)
//	w ← w − s                 (momentum μ: b ← μ·b + s, w ← w − b)
//
// With Torch, PyTorch's form and defaults (lr 0.01, alpha 0.99, eps 1e-8,
// ε outside the square root, a momentum buffer without the learning rate):
//
//	v ← ρ·v + (1−ρ)·g²
//	d = sqrt(v) + ε           (centered: d = sqrt(v − ā²) + ε)
//	w ← w − η·g/d             (momentum μ: b ← μ·b + g/d, w ← w − η·b)
//
// The two momentum forms agree while η is constant. Slots:
// "optimizer/<param>/velocity", and "momentum" and "average_gradient"
// when used.
type RMSprop struct {
	// LearningRate is the initial learning rate; 0 means 0.001 (Torch: 0.01).
	LearningRate float64
	// Rho ρ in [0, 1) (PyTorch's alpha); 0 means 0.9 (Torch: 0.99).
	Rho float64
	// Momentum μ in [0, 1); 0 means none.
	Momentum float64
	// Epsilon ε > 0; 0 means 1e-7 (Torch: 1e-8).
	Epsilon float64
	// Centered normalizes by an estimate of the gradient's variance
	// instead of its second moment.
	Centered bool
	// Torch selects PyTorch's form and defaults.
	Torch bool
	Clip
}

// Name returns "rmsprop".
func (RMSprop) Name() string { return "rmsprop" }

// InitialRate returns LearningRate, or the default when LearningRate is 0.
func (o RMSprop) InitialRate() float64 {
	if o.Torch {
		return optOrDefault(o.LearningRate, 0.01)
	}
	return optOrDefault(o.LearningRate, 0.001)
}

// Apply implements Optimizer.
func (o RMSprop) Apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error) {
	rho, eps := optOrDefault(o.Rho, 0.9), optOrDefault(o.Epsilon, 1e-7)
	if o.Torch {
		rho, eps = optOrDefault(o.Rho, 0.99), optOrDefault(o.Epsilon, 1e-8)
	}
	if err := optCheckRate("rmsprop", o.LearningRate); err != nil {
		return nil, err
	}
	if err := optCheckUnit("rmsprop", "rho", rho); err != nil {
		return nil, err
	}
	if err := optCheckUnit("rmsprop", "momentum", o.Momentum); err != nil {
		return nil, err
	}
	if err := optCheckEpsilon("rmsprop", eps); err != nil {
		return nil, err
	}
	mu := o.Momentum
	return optApply("rmsprop", s, params, grads, o.Clip, nil, func(u *optUpdater, p, g *graph.Node) []*graph.Node {
		lr := u.s.LearningRate
		v := u.slot(p, "velocity", nil)
		v1 := nodes.Add(nodes.Mul(v, u.scalar(rho)), nodes.Mul(nodes.Square(g), u.scalar(1-rho)))
		out := []*graph.Node{nil, nodes.Assign(v, v1)}
		d := v1
		if o.Centered {
			a := u.slot(p, "average_gradient", nil)
			a1 := nodes.Add(nodes.Mul(a, u.scalar(rho)), nodes.Mul(g, u.scalar(1-rho)))
			out = append(out, nodes.Assign(a, a1))
			d = nodes.Sub(v1, nodes.Square(a1))
		}
		var w1 *graph.Node
		if o.Torch {
			d = nodes.Add(nodes.Sqrt(d), u.scalar(eps))
			if mu > 0 {
				b := u.slot(p, "momentum", nil)
				b1 := nodes.Add(nodes.Mul(b, u.scalar(mu)), nodes.Div(g, d))
				out = append(out, nodes.Assign(b, b1))
				w1 = nodes.Sub(p, nodes.Mul(lr, b1))
			} else {
				w1 = nodes.Sub(p, nodes.Mul(lr, nodes.Div(g, d)))
			}
		} else {
			step := nodes.Div(nodes.Mul(lr, g), nodes.Sqrt(nodes.Add(d, u.scalar(eps))))
			if mu > 0 {
				b := u.slot(p, "momentum", nil)
				step = nodes.Add(nodes.Mul(b, u.scalar(mu)), step)
				out = append(out, nodes.Assign(b, step))
			}
			w1 = nodes.Sub(p, step)
		}
		out[0] = nodes.Assign(p, w1)
		return out
	})
}

// Adam is Kingma and Ba's Adam in PyTorch's form (SEMANTICS §8, the golden
// trajectories' form), with PyTorch's defaults lr 1e-3, betas (0.9, 0.999),
// eps 1e-8:
//
//	m ← β₁·m + (1−β₁)·g,  v ← β₂·v + (1−β₂)·g²
//	w ← w − (η/(1−β₁ᵗ))·m / (sqrt(v)/sqrt(1−β₂ᵗ) + ε)
//
// The bias corrections are computed in the graph from Step.T, βᵗ as
// exp(t·ln β), so restoring the iteration count restores them.
//
// Keras's Adam (keras.optimizers.Adam, epsilon 1e-7) puts its "ε-hat"
// outside the bias correction: w ← w − α·m/(sqrt(v) + ε̂) with
// α = η·sqrt(1−β₂ᵗ)/(1−β₁ᵗ), which is PyTorch's form with
// ε = ε̂/sqrt(1−β₂ᵗ); the two agree only while ε is negligible against
// sqrt(v̂). Keras selects that form and its default ε̂ = 1e-7.
//
// Slots: "optimizer/<param>/m" and "optimizer/<param>/v".
type Adam struct {
	// LearningRate is the initial learning rate; 0 means 0.001.
	LearningRate float64
	// Beta1 β₁ in [0, 1); 0 means 0.9.
	Beta1 float64
	// Beta2 β₂ in [0, 1); 0 means 0.999.
	Beta2 float64
	// Epsilon ε > 0; 0 means 1e-8 (Keras: 1e-7).
	Epsilon float64
	// Keras selects Keras's ε-hat form and default.
	Keras bool
	Clip
}

// Name returns "adam".
func (Adam) Name() string { return "adam" }

// InitialRate returns LearningRate, or 0.001 when LearningRate is 0.
func (o Adam) InitialRate() float64 { return optOrDefault(o.LearningRate, 0.001) }

// Apply implements Optimizer.
func (o Adam) Apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error) {
	return adamConfig{name: "adam", lr: o.LearningRate, b1: o.Beta1, b2: o.Beta2, eps: o.Epsilon, keras: o.Keras, clip: o.Clip}.apply(s, params, grads)
}

// AdamW is Adam with decoupled weight decay (Loshchilov and Hutter), in
// PyTorch's form and with its defaults (lr 1e-3, betas (0.9, 0.999), eps
// 1e-8, weight_decay 0.01): before the Adam step the parameter decays,
//
//	w ← w·(1 − η·λ)
//
// then moves as in Adam. The decay does not go through the moments, unlike
// an L2 penalty added to the loss. Keras's AdamW decays the same way
// (w ← w − w·λ·η) but defaults to weight_decay 0.004 and uses Adam's ε-hat
// form (select it with Keras, which also makes ε default to 1e-7; λ still
// defaults to 0.01). Use Adam for no decay.
//
// Slots: "optimizer/<param>/m" and "optimizer/<param>/v".
type AdamW struct {
	// LearningRate is the initial learning rate; 0 means 0.001.
	LearningRate float64
	// Beta1 β₁ in [0, 1); 0 means 0.9.
	Beta1 float64
	// Beta2 β₂ in [0, 1); 0 means 0.999.
	Beta2 float64
	// Epsilon ε > 0; 0 means 1e-8 (Keras: 1e-7).
	Epsilon float64
	// WeightDecay λ > 0; 0 means 0.01.
	WeightDecay float64
	// Keras selects Keras's ε-hat form (see Adam).
	Keras bool
	Clip
}

// Name returns "adamw".
func (AdamW) Name() string { return "adamw" }

// InitialRate returns LearningRate, or 0.001 when LearningRate is 0.
func (o AdamW) InitialRate() float64 { return optOrDefault(o.LearningRate, 0.001) }

// Apply implements Optimizer.
func (o AdamW) Apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error) {
	return adamConfig{name: "adamw", lr: o.LearningRate, b1: o.Beta1, b2: o.Beta2, eps: o.Epsilon, wd: optOrDefault(o.WeightDecay, 0.01), keras: o.Keras, clip: o.Clip}.apply(s, params, grads)
}

// adamConfig is what Adam and AdamW share.
type adamConfig struct {
	name            string
	lr, b1, b2, eps float64
	wd              float64 // decoupled weight decay; 0 for Adam
	keras           bool
	clip            Clip
}

func (a adamConfig) apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error) {
	b1, b2 := optOrDefault(a.b1, 0.9), optOrDefault(a.b2, 0.999)
	eps := optOrDefault(a.eps, 1e-8)
	if a.keras {
		eps = optOrDefault(a.eps, 1e-7)
	}
	if err := optCheckRate(a.name, a.lr); err != nil {
		return nil, err
	}
	if err := optCheckUnit(a.name, "beta1", b1); err != nil {
		return nil, err
	}
	if err := optCheckUnit(a.name, "beta2", b2); err != nil {
		return nil, err
	}
	if err := optCheckEpsilon(a.name, eps); err != nil {
		return nil, err
	}
	if !(a.wd >= 0) || math.IsInf(a.wd, 0) {
		return nil, fmt.Errorf("train: %s: weight decay %g: want a finite number ≥ 0", a.name, a.wd)
	}
	// scalars shared by every parameter: the step size and the second
	// bias correction (or Keras's α)
	var stepSize, bc2sqrt, decay *graph.Node
	pre := func(u *optUpdater) []*graph.Node {
		lr := u.s.LearningRate
		bc1 := nodes.Sub(u.scalar(1), u.power(b1, u.s.T))
		bc2sqrt = nodes.Sqrt(nodes.Sub(u.scalar(1), u.power(b2, u.s.T)))
		if a.keras {
			stepSize = nodes.Div(nodes.Mul(lr, bc2sqrt), bc1) // α
		} else {
			stepSize = nodes.Div(lr, bc1)
		}
		if a.wd > 0 {
			decay = nodes.Sub(u.scalar(1), nodes.Mul(lr, u.scalar(a.wd)))
		}
		return nil
	}
	return optApply(a.name, s, params, grads, a.clip, pre, func(u *optUpdater, p, g *graph.Node) []*graph.Node {
		m := u.slot(p, "m", nil)
		v := u.slot(p, "v", nil)
		var m1, v1, den *graph.Node
		if a.keras {
			// Keras: m ← m + (g − m)(1−β₁), w ← w − α·m/(sqrt(v) + ε̂)
			m1 = nodes.Add(m, nodes.Mul(nodes.Sub(g, m), u.scalar(1-b1)))
			v1 = nodes.Add(v, nodes.Mul(nodes.Sub(nodes.Square(g), v), u.scalar(1-b2)))
			den = nodes.Add(nodes.Sqrt(v1), u.scalar(eps))
		} else {
			m1 = nodes.Add(nodes.Mul(m, u.scalar(b1)), nodes.Mul(g, u.scalar(1-b1)))
			v1 = nodes.Add(nodes.Mul(v, u.scalar(b2)), nodes.Mul(nodes.Square(g), u.scalar(1-b2)))
			den = nodes.Add(nodes.Div(nodes.Sqrt(v1), bc2sqrt), u.scalar(eps))
		}
		w := p
		if decay != nil {
			w = nodes.Mul(p, decay)
		}
		w1 := nodes.Sub(w, nodes.Mul(stepSize, nodes.Div(m1, den)))
		return []*graph.Node{nodes.Assign(p, w1), nodes.Assign(m, m1), nodes.Assign(v, v1)}
	})
}

// Nadam is Adam with Nesterov momentum (Dozat), in Keras's form and with
// its defaults (learning rate 0.001, beta_1 0.9, beta_2 0.999, epsilon
// 1e-7), momentum factors following Keras's fixed schedule:
//
//	μₜ = β₁·(1 − ½·0.96^(t·ψ)),  Πₜ = μ₁·…·μₜ      (ψ = 1 in Keras)
//	m ← m + (g − m)(1−β₁),  v ← v + (g² − v)(1−β₂)
//	m̂ = μₜ₊₁·m/(1 − Πₜ₊₁) + (1 − μₜ)·g/(1 − Πₜ)
//	w ← w − η·m̂ / (sqrt(v/(1−β₂ᵗ)) + ε)
//
// PyTorch's NAdam is the same update with a slower schedule,
// momentum_decay ψ = 0.004 (0.96^(0.004·t)), and defaults lr 2e-3, eps
// 1e-8, its moments updated as in Adam (m ← β₁·m + (1−β₁)·g, equal up to
// rounding). Torch selects those defaults and moment updates; MomentumDecay
// sets ψ in either form.
//
// Slots: "optimizer/<param>/m" and "optimizer/<param>/v"; the running
// product Πₜ is the scalar "optimizer/u_product" (starting at 1), shared
// by all parameters.
type Nadam struct {
	// LearningRate is the initial learning rate; 0 means 0.001 (Torch: 0.002).
	LearningRate float64
	// Beta1 β₁ in [0, 1); 0 means 0.9.
	Beta1 float64
	// Beta2 β₂ in [0, 1); 0 means 0.999.
	Beta2 float64
	// Epsilon ε > 0; 0 means 1e-7 (Torch: 1e-8).
	Epsilon float64
	// MomentumDecay ψ > 0 scales the schedule's exponent; 0 means 1
	// (Keras) or, with Torch, 0.004 (PyTorch's momentum_decay).
	MomentumDecay float64
	// Torch selects PyTorch's defaults and moment updates.
	Torch bool
	Clip
}

// Name returns "nadam".
func (Nadam) Name() string { return "nadam" }

// InitialRate returns LearningRate, or the default when LearningRate is 0.
func (o Nadam) InitialRate() float64 {
	if o.Torch {
		return optOrDefault(o.LearningRate, 0.002)
	}
	return optOrDefault(o.LearningRate, 0.001)
}

// Apply implements Optimizer.
func (o Nadam) Apply(s *Step, params, grads []*graph.Node) ([]*graph.Node, error) {
	b1, b2 := optOrDefault(o.Beta1, 0.9), optOrDefault(o.Beta2, 0.999)
	eps, psi := optOrDefault(o.Epsilon, 1e-7), optOrDefault(o.MomentumDecay, 1)
	if o.Torch {
		eps, psi = optOrDefault(o.Epsilon, 1e-8), optOrDefault(o.MomentumDecay, 0.004)
	}
	if err := optCheckRate("nadam", o.LearningRate); err != nil {
		return nil, err
	}
	if err := optCheckUnit("nadam", "beta1", b1); err != nil {
		return nil, err
	}
	if err := optCheckUnit("nadam", "beta2", b2); err != nil {
		return nil, err
	}
	if err := optCheckEpsilon("nadam", eps); err != nil {
		return nil, err
	}
	if !(psi > 0) || math.IsInf(psi, 0) {
		return nil, fmt.Errorf("train: nadam: momentum decay %g: want a finite number > 0", psi)
	}
	var cm, cg, bc2, lr *graph.Node
	pre := func(u *optUpdater) []*graph.Node {
		t := u.s.T
		k := u.scalar(psi * math.Log(0.96))
		mu := func(t *graph.Node) *graph.Node { // β₁·(1 − ½·0.96^(tψ))
			return nodes.Mul(u.scalar(b1), nodes.Sub(u.scalar(1), nodes.Mul(u.scalar(0.5), nodes.Exp(nodes.Mul(t, k)))))
		}
		muT, muNext := mu(t), mu(nodes.Add(t, u.scalar(1)))
		prod := u.g.Variable("u_product", graph.Shape{}, graph.NonTrainable(), graph.WithInit(initializers.Constant{Value: 1}))
		prodT := nodes.Mul(prod, muT)
		prodNext := nodes.Mul(prodT, muNext)
		cm = nodes.Div(muNext, nodes.Sub(u.scalar(1), prodNext))
		cg = nodes.Div(nodes.Sub(u.scalar(1), muT), nodes.Sub(u.scalar(1), prodT))
		bc2 = nodes.Sub(u.scalar(1), u.power(b2, t))
		lr = u.s.LearningRate
		return []*graph.Node{nodes.Assign(prod, prodT)}
	}
	return optApply("nadam", s, params, grads, o.Clip, pre, func(u *optUpdater, p, g *graph.Node) []*graph.Node {
		m := u.slot(p, "m", nil)
		v := u.slot(p, "v", nil)
		var m1, v1 *graph.Node
		if o.Torch {
			m1 = nodes.Add(nodes.Mul(m, u.scalar(b1)), nodes.Mul(g, u.scalar(1-b1)))
			v1 = nodes.Add(nodes.Mul(v, u.scalar(b2)), nodes.Mul(nodes.Square(g), u.scalar(1-b2)))
		} else {
			m1 = nodes.Add(m, nodes.Mul(nodes.Sub(g, m), u.scalar(1-b1)))
			v1 = nodes.Add(v, nodes.Mul(nodes.Sub(nodes.Square(g), v), u.scalar(1-b2)))
		}
		mhat := nodes.Add(nodes.Mul(cm, m1), nodes.Mul(cg, g))
		den := nodes.Add(nodes.Sqrt(nodes.Div(v1, bc2)), u.scalar(eps))
		w1 := nodes.Sub(p, nodes.Div(nodes.Mul(mhat, lr), den))
		return []*graph.Node{nodes.Assign(p, w1), nodes.Assign(m, m1), nodes.Assign(v, v1)}
	})
}

// optimizerFactories maps Keras's optimizer names to their default configs.
var optimizerFactories = map[string]func() Optimizer{
	"sgd":     func() Optimizer { return SGD{} },
	"adagrad": func() Optimizer { return Adagrad{} },
	"rmsprop": func() Optimizer { return RMSprop{} },
	"adam":    func() Optimizer { return Adam{} },
	"adamw":   func() Optimizer { return AdamW{} },
	"nadam":   func() Optimizer { return Nadam{} },
}

// OptimizerNames returns the names OptimizerByName knows, sorted.
func OptimizerNames() []string {
	names := make([]string, 0, len(optimizerFactories))
	for n := range optimizerFactories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// OptimizerByName returns the optimizer of a Keras name ("adam", "SGD"; case
// is ignored, as strings.ToLower ignores it) with its default
// configuration, like Keras's optimizers.get("adam"). An unknown name gives
// an error, matching graph.ErrArg, that lists the valid ones.
func OptimizerByName(name string) (Optimizer, error) {
	if f, ok := optimizerFactories[strings.ToLower(name)]; ok {
		return f(), nil
	}
	return nil, fmt.Errorf("train: %w: unknown optimizer %q: want one of %s", graph.ErrArg, name, strings.Join(OptimizerNames(), ", "))
}
