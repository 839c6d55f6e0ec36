package initializers

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Initializer fills a new variable's values (row-major, of the given shape)
// from a random stream. It satisfies graph.Initializer, so it can be passed
// to graph.WithInit and vm.Store.Init.
type Initializer interface {
	Initialize(dst []float64, shape []int, rng *rand.Rand) error
}

// TruncatedStd is the standard deviation of a standard normal truncated to
// [−2, 2]: sqrt(1 − 4φ(2)/(Φ(2) − Φ(−2))). Keras divides the sampler's
// stddev by it so that VarianceScaling's truncated normal has the variance
// asked for.
const TruncatedStd = 0.87962566103423978

func checkLen(dst []float64, shape []int) error {
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("initializers: shape %v has a negative dimension", shape)
		}
	}
	n, ok := product(shape...)
	if !ok {
		return fmt.Errorf("initializers: shape %v has more values than an int can count", shape)
	}
	if n != len(dst) {
		return fmt.Errorf("initializers: %d values for shape %v", len(dst), shape)
	}
	return nil
}

// Zeros fills with 0 (Keras "zeros").
type Zeros struct{}

// Initialize implements Initializer.
func (Zeros) Initialize(dst []float64, shape []int, _ *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	clear(dst)
	return nil
}

// Ones fills with 1 (Keras "ones").
type Ones struct{}

// Initialize implements Initializer.
func (Ones) Initialize(dst []float64, shape []int, _ *rand.Rand) error {
	return Constant{Value: 1}.Initialize(dst, shape, nil)
}

// Constant fills with Value (Keras "constant", default 0). Keras takes any
// value; a NaN is an error here: NaN poisons every output and gradient that
// reads the variable, and training cannot recover from it, so it is always
// a mistake. ±Inf is allowed: it is meaningful for state that only ever
// takes a minimum or maximum (a running max starts at −Inf), and a float
// the user asked for explicitly.
type Constant struct{ Value float64 }

// Initialize implements Initializer.
func (c Constant) Initialize(dst []float64, shape []int, _ *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	if math.IsNaN(c.Value) {
		return fmt.Errorf("initializers: constant: value NaN: want a number")
	}
	for i := range dst {
		dst[i] = c.Value
	}
	return nil
}

// RandomNormal draws from N(Mean, Stddev²) (Keras "random_normal"; a zero
// Stddev means Keras's default 0.05). Mean and Stddev must be finite and
// Stddev positive.
type RandomNormal struct{ Mean, Stddev float64 }

// Initialize implements Initializer.
func (r RandomNormal) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	sd, err := normalParams("random_normal", r.Mean, r.Stddev)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	for i := range dst {
		dst[i] = r.Mean + sd*rng.NormFloat64()
	}
	return nil
}

// RandomUniform draws from U[Minval, Maxval) (Keras "random_uniform"; both
// zero means Keras's defaults −0.05 and 0.05). The bounds must be finite,
// with Minval < Maxval and a width Maxval − Minval that a float64 holds.
type RandomUniform struct{ Minval, Maxval float64 }

// Initialize implements Initializer.
func (r RandomUniform) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	lo, hi := r.Minval, r.Maxval
	if lo == 0 && hi == 0 {
		lo, hi = -0.05, 0.05
	}
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0):
		return fmt.Errorf("initializers: random_uniform: minval %g, maxval %g: want finite bounds", lo, hi)
	case !(hi > lo):
		return fmt.Errorf("initializers: random_uniform: minval %g, maxval %g: want minval < maxval", lo, hi)
	case math.IsInf(hi-lo, 0):
		return fmt.Errorf("initializers: random_uniform: minval %g, maxval %g: the width of the range overflows a float64", lo, hi)
	}
	if rng == nil {
		return errNoRNG
	}
	fillUniform(dst, lo, hi, rng)
	return nil
}

// normalParams checks a normal initializer's mean and stddev (zero meaning
// Keras's default 0.05) and returns the stddev.
func normalParams(what string, mean, stddev float64) (float64, error) {
	sd := stddev
	if sd == 0 {
		sd = 0.05
	}
	if !(sd > 0) || math.IsInf(sd, 0) || math.IsNaN(mean) || math.IsInf(mean, 0) {
		return 0, fmt.Errorf("initializers: %s: stddev %g, mean %g: want a finite stddev > 0 and a finite mean", what, stddev, mean)
	}
	return sd, nil
}

// checkGain resolves a gain (zero meaning 1) and checks it is positive and
// finite.
func checkGain(what string, gain float64) (float64, error) {
	if gain == 0 {
		return 1, nil
	}
	if !(gain > 0) || math.IsInf(gain, 0) {
		return 0, fmt.Errorf("initializers: %s: gain %g: want a positive finite number (0 means 1)", what, gain)
	}
	return gain, nil
}

func fillUniform(dst []float64, lo, hi float64, rng *rand.Rand) {
	for i := range dst {
		dst[i] = lo + (hi-lo)*rng.Float64()
	}
}

// TruncatedNormal draws from N(Mean, Stddev²) and redraws values more than
// two Stddev from the mean (Keras "truncated_normal"; a zero Stddev means
// 0.05; Mean and Stddev must be finite and Stddev positive). The actual
// standard deviation is Stddev·TruncatedStd.
type TruncatedNormal struct{ Mean, Stddev float64 }

// Initialize implements Initializer.
func (r TruncatedNormal) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	sd, err := normalParams("truncated_normal", r.Mean, r.Stddev)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	fillTruncated(dst, r.Mean, sd, rng)
	return nil
}

func fillTruncated(dst []float64, mean, sd float64, rng *rand.Rand) {
	for i := range dst {
		z := rng.NormFloat64()
		for z < -2 || z > 2 {
			z = rng.NormFloat64()
		}
		dst[i] = mean + sd*z
	}
}

var errNoRNG = errors.New("initializers: nil random stream")

// Mode chooses the fan VarianceScaling divides by.
type Mode string

// The three modes.
const (
	FanIn  Mode = "fan_in"
	FanOut Mode = "fan_out"
	FanAvg Mode = "fan_avg"
)

// Distribution chooses VarianceScaling's sampler.
type Distribution string

// The distributions; "normal" is accepted as an alias of TruncatedNormalDist,
// as in Keras.
const (
	TruncatedNormalDist   Distribution = "truncated_normal"
	UntruncatedNormalDist Distribution = "untruncated_normal"
	UniformDist           Distribution = "uniform"
)

// VarianceScaling draws values of variance Scale/n, n the fan chosen by Mode
// (Keras "variance_scaling"). The zero value is Keras's default: scale 1,
// fan_in, truncated_normal, Keras layout.
//
//	truncated_normal:   N(0, σ²) truncated to ±2σ, σ = sqrt(Scale/n)/TruncatedStd
//	untruncated_normal: N(0, Scale/n)
//	uniform:            U[−limit, limit], limit = sqrt(3·Scale/n)
type VarianceScaling struct {
	Scale        float64 // > 0; zero means 1
	Mode         Mode    // zero means FanIn
	Distribution Distribution
	Layout       Layout // how the kernel's dimensions are ordered
}

func (v VarianceScaling) resolved() (VarianceScaling, error) {
	if v.Scale == 0 {
		v.Scale = 1
	}
	if !(v.Scale > 0) || math.IsInf(v.Scale, 0) {
		return v, fmt.Errorf("initializers: variance_scaling: scale %g: want a positive number", v.Scale)
	}
	switch v.Mode {
	case "":
		v.Mode = FanIn
	case FanIn, FanOut, FanAvg:
	default:
		return v, fmt.Errorf("initializers: variance_scaling: unknown mode %q: want fan_in, fan_out or fan_avg", v.Mode)
	}
	switch v.Distribution {
	case "", "normal":
		v.Distribution = TruncatedNormalDist
	case TruncatedNormalDist, UntruncatedNormalDist, UniformDist:
	default:
		return v, fmt.Errorf("initializers: variance_scaling: unknown distribution %q: want truncated_normal, untruncated_normal or uniform", v.Distribution)
	}
	return v, nil
}

// Variance returns Scale/n for a kernel shape: the variance of the values
// Initialize draws.
func (v VarianceScaling) Variance(shape []int) (float64, error) {
	r, err := v.resolved()
	if err != nil {
		return 0, err
	}
	fi, fo, err := Fans(shape, r.Layout)
	if err != nil {
		return 0, err
	}
	var n float64
	switch r.Mode {
	case FanIn:
		n = fi
	case FanOut:
		n = fo
	default:
		n = (fi + fo) / 2
	}
	return r.Scale / math.Max(1, n), nil
}

// Initialize implements Initializer.
func (v VarianceScaling) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	r, err := v.resolved()
	if err != nil {
		return err
	}
	s, err := r.Variance(shape)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	switch r.Distribution {
	case TruncatedNormalDist:
		fillTruncated(dst, 0, math.Sqrt(s)/TruncatedStd, rng)
	case UntruncatedNormalDist:
		sd := math.Sqrt(s)
		for i := range dst {
			dst[i] = sd * rng.NormFloat64()
		}
	default:
		limit := math.Sqrt(3 * s)
		fillUniform(dst, -limit, limit, rng)
	}
	return nil
}

// GlorotUniform is Keras "glorot_uniform" (Dense's default kernel
// initializer): U[±sqrt(6/(fan_in+fan_out))].
func GlorotUniform() VarianceScaling {
	return VarianceScaling{Scale: 1, Mode: FanAvg, Distribution: UniformDist}
}

// GlorotNormal is Keras "glorot_normal": truncated normal of std
// sqrt(2/(fan_in+fan_out)).
func GlorotNormal() VarianceScaling {
	return VarianceScaling{Scale: 1, Mode: FanAvg, Distribution: TruncatedNormalDist}
}

// HeUniform is Keras "he_uniform": U[±sqrt(6/fan_in)].
func HeUniform() VarianceScaling {
	return VarianceScaling{Scale: 2, Mode: FanIn, Distribution: UniformDist}
}

// HeNormal is Keras "he_normal": truncated normal of std sqrt(2/fan_in).
func HeNormal() VarianceScaling {
	return VarianceScaling{Scale: 2, Mode: FanIn, Distribution: TruncatedNormalDist}
}

// LeCunUniform is Keras "lecun_uniform": U[±sqrt(3/fan_in)].
func LeCunUniform() VarianceScaling {
	return VarianceScaling{Scale: 1, Mode: FanIn, Distribution: UniformDist}
}

// LeCunNormal is Keras "lecun_normal" (the initializer SELU needs):
// truncated normal of std sqrt(1/fan_in).
func LeCunNormal() VarianceScaling {
	return VarianceScaling{Scale: 1, Mode: FanIn, Distribution: TruncatedNormalDist}
}

// Orthogonal draws a random orthogonal matrix (Keras "orthogonal"): the
// shape is flattened to [∏shape[:-1], shape[-1]], A ~ N(0,1) of shape
// (max, min) is QR-factorized, Q's columns are multiplied by the signs of
// R's diagonal, transposed when rows < cols, and scaled by Gain (zero means
// 1; it must be positive and finite). Then WᵀW = Gain²·I (rows ≥ cols) or
// WWᵀ = Gain²·I.
type Orthogonal struct{ Gain float64 }

// Initialize implements Initializer.
func (o Orthogonal) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	if len(shape) < 2 {
		return fmt.Errorf("initializers: orthogonal: shape %v: want rank ≥ 2", shape)
	}
	gain, err := checkGain("orthogonal", o.Gain)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	cols := shape[len(shape)-1]
	rows := len(dst) / max(1, cols)
	if rows == 0 || cols == 0 {
		return nil
	}
	m, n := max(rows, cols), min(rows, cols)
	a := mat.NewDense(m, n, nil)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q, r mat.Dense
	qr.QTo(&q)
	qr.RTo(&r)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 1.0
			if r.At(j, j) < 0 {
				s = -1
			}
			v := gain * s * q.At(i, j)
			if rows >= cols {
				dst[i*cols+j] = v // Q is rows×cols
			} else {
				dst[j*cols+i] = v // Qᵀ is rows×cols
			}
		}
	}
	return nil
}

// Identity fills a 2-D kernel with Gain on the diagonal (zero Gain means 1;
// it must be positive and finite) and 0 elsewhere (Keras "identity");
// rectangular kernels get the leading diagonal.
type Identity struct{ Gain float64 }

// Initialize implements Initializer.
func (id Identity) Initialize(dst []float64, shape []int, _ *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	if len(shape) != 2 {
		return fmt.Errorf("initializers: identity: shape %v: want rank 2", shape)
	}
	gain, err := checkGain("identity", id.Gain)
	if err != nil {
		return err
	}
	clear(dst)
	for i := 0; i < min(shape[0], shape[1]); i++ {
		dst[i*shape[1]+i] = gain
	}
	return nil
}

// registry maps Keras names to constructors.
var registry = map[string]func() Initializer{
	"zeros":            func() Initializer { return Zeros{} },
	"ones":             func() Initializer { return Ones{} },
	"constant":         func() Initializer { return Constant{} },
	"random_normal":    func() Initializer { return RandomNormal{} },
	"random_uniform":   func() Initializer { return RandomUniform{} },
	"truncated_normal": func() Initializer { return TruncatedNormal{} },
	"variance_scaling": func() Initializer { return VarianceScaling{} },
	"glorot_uniform":   func() Initializer { return GlorotUniform() },
	"glorot_normal":    func() Initializer { return GlorotNormal() },
	"he_uniform":       func() Initializer { return HeUniform() },
	"he_normal":        func() Initializer { return HeNormal() },
	"lecun_uniform":    func() Initializer { return LeCunUniform() },
	"lecun_normal":     func() Initializer { return LeCunNormal() },
	"orthogonal":       func() Initializer { return Orthogonal{} },
	"identity":         func() Initializer { return Identity{} },
	// PyTorch's, for [in, out] kernels unless a Layout says otherwise
	"torch_linear_default":  func() Initializer { return TorchLinearDefault{} },
	"torch_kaiming_uniform": func() Initializer { return KaimingUniform{} },
	"torch_kaiming_normal":  func() Initializer { return KaimingNormal{} },
	"torch_xavier_uniform":  func() Initializer { return XavierUniform{} },
	"torch_xavier_normal":   func() Initializer { return XavierNormal{} },
}

// aliases maps other accepted spellings (Keras class names, short forms)
// to registry names.
var aliases = map[string]string{
	"glorotuniform": "glorot_uniform", "glorotnormal": "glorot_normal",
	"heuniform": "he_uniform", "henormal": "he_normal",
	"lecununiform": "lecun_uniform", "lecunnormal": "lecun_normal",
	"randomnormal": "random_normal", "randomuniform": "random_uniform",
	"truncatednormal": "truncated_normal", "variancescaling": "variance_scaling",
	"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
	"zero": "zeros", "one": "ones",
}

// Names returns the names Lookup accepts (canonical spellings), sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the initializer of a Keras name ("he_normal",
// "lecun_uniform", ...; Keras class names such as "HeNormal" work too) with
// its default configuration.
func Lookup(name string) (Initializer, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if mk, ok := registry[key]; ok {
		return mk(), nil
	}
	if canon, ok := aliases[key]; ok {
		return registry[canon](), nil
	}
	if canon, ok := aliases[strings.ReplaceAll(key, "_", "")]; ok {
		return registry[canon](), nil
	}
	return nil, fmt.Errorf("initializers: unknown initializer %q; valid names: %s", name, strings.Join(Names(), ", "))
}

// Get is Lookup for call sites that cannot handle an error right away (the
// API's store.Init(g, 42, initializers.Get("glorot_uniform"))): an unknown
// name gives an initializer whose Initialize returns the lookup error.
func Get(name string) Initializer {
	init, err := Lookup(name)
	if err != nil {
		return invalid{err}
	}
	return init
}

type invalid struct{ err error }

func (i invalid) Initialize([]float64, []int, *rand.Rand) error { return i.err }

// Err returns the error of an initializer returned by Get for an unknown
// name, and nil for any other.
func Err(init Initializer) error {
	if i, ok := init.(invalid); ok {
		return i.err
	}
	return nil
}
