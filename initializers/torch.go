package initializers

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// PyTorch's initializers (torch/nn/init.py). They differ from Keras's in
// two ways that matter: normals are untruncated, and the scale comes from a
// gain table (CalculateGain) rather than a variance scale. Their Layout
// field says how the kernel is ordered: the zero value is tapegrad's
// [in, out] (KerasLayout); TorchLayout reads PyTorch's [out, in, k…].

// CalculateGain is torch.nn.init.calculate_gain: the recommended gain for a
// nonlinearity. param is the negative slope of leaky_relu (NaN means
// PyTorch's default 0.01; an infinite slope, which PyTorch turns into a gain
// of 0 and so weights of 0, is an error) and is ignored otherwise.
//
//	linear, identity, conv*, sigmoid: 1    tanh: 5/3    relu: √2
//	leaky_relu: √(2/(1+a²))                selu: 3/4
func CalculateGain(nonlinearity string, param float64) (float64, error) {
	switch nonlinearity {
	case "linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid":
		return 1, nil
	case "tanh":
		return 5.0 / 3, nil
	case "relu":
		return math.Sqrt2, nil
	case "leaky_relu":
		a := param
		if math.IsNaN(a) {
			a = 0.01
		}
		if math.IsInf(a, 0) {
			return 0, fmt.Errorf("initializers: calculate_gain: leaky_relu's negative slope is %v: want a finite number", param)
		}
		g := math.Sqrt(2 / (1 + a*a))
		if g == 0 { // a² overflowed
			g = math.Sqrt2 / math.Hypot(1, a)
		}
		return g, nil
	case "selu":
		return 0.75, nil
	}
	return 0, fmt.Errorf("initializers: calculate_gain: unknown nonlinearity %q (want linear, conv1d…, sigmoid, tanh, relu, leaky_relu or selu)", nonlinearity)
}

// KaimingNormal is torch.nn.init.kaiming_normal_: N(0, std²) with
// std = gain/sqrt(fan), gain = CalculateGain(Nonlinearity, A). Zero values:
// A 0, Mode fan_in, Nonlinearity "leaky_relu" (so gain √2, PyTorch's
// defaults).
type KaimingNormal struct {
	A            float64
	Mode         Mode
	Nonlinearity string
	Layout       Layout
}

// KaimingUniform is torch.nn.init.kaiming_uniform_: U[±sqrt(3)·std], std as
// for KaimingNormal.
type KaimingUniform KaimingNormal

func (k KaimingNormal) std(shape []int) (float64, error) {
	nl := k.Nonlinearity
	if nl == "" {
		nl = "leaky_relu"
	}
	gain, err := CalculateGain(nl, k.A)
	if err != nil {
		return 0, err
	}
	fi, fo, err := Fans(shape, k.Layout)
	if err != nil {
		return 0, err
	}
	fan := fi
	switch k.Mode {
	case "", FanIn:
	case FanOut:
		fan = fo
	default:
		return 0, fmt.Errorf("initializers: kaiming: mode %q: want fan_in or fan_out", k.Mode)
	}
	if fan == 0 {
		return 0, fmt.Errorf("initializers: kaiming: shape %v has a zero fan", shape)
	}
	return gain / math.Sqrt(fan), nil
}

// Initialize implements Initializer.
func (k KaimingNormal) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	sd, err := k.std(shape)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	for i := range dst {
		dst[i] = sd * rng.NormFloat64()
	}
	return nil
}

// Initialize implements Initializer.
func (k KaimingUniform) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	sd, err := KaimingNormal(k).std(shape)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	b := math.Sqrt(3) * sd
	fillUniform(dst, -b, b, rng)
	return nil
}

// XavierNormal is torch.nn.init.xavier_normal_: N(0, std²) with
// std = Gain·sqrt(2/(fan_in+fan_out)) (zero Gain means 1; it must be
// positive and finite).
type XavierNormal struct {
	Gain   float64
	Layout Layout
}

// XavierUniform is torch.nn.init.xavier_uniform_: U[±sqrt(3)·std].
type XavierUniform XavierNormal

func (x XavierNormal) std(shape []int) (float64, error) {
	gain, err := checkGain("xavier", x.Gain)
	if err != nil {
		return 0, err
	}
	fi, fo, err := Fans(shape, x.Layout)
	if err != nil {
		return 0, err
	}
	if fi+fo == 0 {
		return 0, fmt.Errorf("initializers: xavier: shape %v has zero fans", shape)
	}
	return gain * math.Sqrt(2/(fi+fo)), nil
}

// Initialize implements Initializer.
func (x XavierNormal) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	sd, err := x.std(shape)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	for i := range dst {
		dst[i] = sd * rng.NormFloat64()
	}
	return nil
}

// Initialize implements Initializer.
func (x XavierUniform) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	if err := checkLen(dst, shape); err != nil {
		return err
	}
	sd, err := XavierNormal(x).std(shape)
	if err != nil {
		return err
	}
	if rng == nil {
		return errNoRNG
	}
	b := math.Sqrt(3) * sd
	fillUniform(dst, -b, b, rng)
	return nil
}

// TorchLinearDefault is how torch.nn.Linear and Conv initialize their
// weight: kaiming_uniform_(a=√5), which is U[±1/sqrt(fan_in)]. (PyTorch
// draws the bias from the same range; for a bias use RandomUniform with that
// limit.)
type TorchLinearDefault struct{ Layout Layout }

// Initialize implements Initializer.
func (t TorchLinearDefault) Initialize(dst []float64, shape []int, rng *rand.Rand) error {
	return KaimingUniform{A: math.Sqrt(5), Layout: t.Layout}.Initialize(dst, shape, rng)
}
