package train_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tapegrad/tapegrad/train"
)

// schedTol: the expected values below are exact decimal fractions or
// one rounding of a power; the schedules compute them with a few more
// roundings.
const schedTol = 1e-15

func TestSchedules(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    train.Schedule
		want map[int]float64 // step → rate, derived by hand from the formulas
	}{
		{"constant", train.ConstantRate(0.3), map[int]float64{0: 0.3, 1000: 0.3}},
		// 0.1·0.5^(step/10)
		{"exponential", train.ExponentialDecay{InitialRate: 0.1, DecaySteps: 10, DecayRate: 0.5},
			map[int]float64{0: 0.1, 5: 0.1 * math.Sqrt(0.5), 10: 0.05, 15: 0.05 * math.Sqrt(0.5), 30: 0.0125, -3: 0.1}},
		// drops at multiples of 10 only
		{"exponential staircase", train.ExponentialDecay{InitialRate: 0.1, DecaySteps: 10, DecayRate: 0.5, Staircase: true},
			map[int]float64{0: 0.1, 9: 0.1, 10: 0.05, 19: 0.05, 20: 0.025}},
		// Keras's boundaries are inclusive on the left value's side
		{"piecewise", train.PiecewiseConstant{Boundaries: []int{100, 200}, Values: []float64{1, 0.5, 0.1}},
			map[int]float64{0: 1, 100: 1, 101: 0.5, 200: 0.5, 201: 0.1, 1e6: 0.1}},
		{"piecewise single", train.PiecewiseConstant{Values: []float64{0.2}}, map[int]float64{0: 0.2, 50: 0.2}},
		// 0.01/(1 + step/20)
		{"power c=1", train.PowerDecay{InitialRate: 0.01, DecaySteps: 20},
			map[int]float64{0: 0.01, 20: 0.005, 60: 0.0025, 180: 0.001}},
		// 0.01/(1 + step/20)²
		{"power c=2", train.PowerDecay{InitialRate: 0.01, DecaySteps: 20, Power: 2},
			map[int]float64{0: 0.01, 20: 0.0025, 20 * 9: 0.0001}},
		// MaxRate 0.1 over 100 steps: start 0.01, end 1e-5, 11 final
		// steps, half h = ⌊89/2⌋ = 44
		{"one cycle defaults", train.OneCycle{MaxRate: 0.1, TotalSteps: 100},
			map[int]float64{0: 0.01, 22: 0.055, 44: 0.1, 66: 0.055, 88: 0.01, 94: 0.01 + (1e-5-0.01)*6/12, 100: 1e-5, 1000: 1e-5}},
		// explicit: 1 → 4 over [0,10), 4 → 1 over [10,20), 1 → 0.5 over [20,30)
		{"one cycle explicit", train.OneCycle{MaxRate: 4, TotalSteps: 30, StartRate: 1, EndRate: 0.5, FinalSteps: 10},
			map[int]float64{0: 1, 5: 2.5, 10: 4, 15: 2.5, 20: 1, 25: 0.75, 29: 0.55, 30: 0.5}},
	} {
		assert.NoError(t, train.ValidateSchedule(tc.s), tc.name)
		for step, want := range tc.want {
			if got := tc.s.Rate(step); math.Abs(got-want) > schedTol {
				t.Errorf("%s: Rate(%d) = %.17g, want %.17g", tc.name, step, got, want)
			}
		}
	}
}

func TestSchedulesInvalid(t *testing.T) {
	for _, tc := range []struct {
		s    train.Schedule
		want string
	}{
		{train.ConstantRate(-1), "rate -1"},
		{train.ExponentialDecay{InitialRate: 0.1, DecayRate: 0.5}, "decay steps 0"},
		{train.ExponentialDecay{InitialRate: 0.1, DecaySteps: 1}, "decay rate 0"},
		{train.ExponentialDecay{InitialRate: -0.1, DecaySteps: 1, DecayRate: 0.5}, "initial rate -0.1"},
		{train.PiecewiseConstant{Boundaries: []int{1}, Values: []float64{1}}, "need 2 values"},
		{train.PiecewiseConstant{Boundaries: []int{5, 5}, Values: []float64{1, 2, 3}}, "do not increase"},
		{train.PiecewiseConstant{Boundaries: []int{5}, Values: []float64{1, math.NaN()}}, "value NaN"},
		{train.PowerDecay{InitialRate: 0.1}, "decay steps 0"},
		{train.PowerDecay{InitialRate: 0.1, DecaySteps: 10, Power: -1}, "power -1"},
		{train.OneCycle{TotalSteps: 10}, "max rate 0"},
		{train.OneCycle{MaxRate: 1}, "total steps 0"},
		{train.OneCycle{MaxRate: 1, TotalSteps: 10, FinalSteps: 11}, "final steps 11"},
		{train.OneCycle{MaxRate: 1, TotalSteps: 10, StartRate: -1}, "start rate -1"},
	} {
		err := train.ValidateSchedule(tc.s)
		if assert.Error(t, err, "%#v", tc.s) {
			assert.Contains(t, err.Error(), tc.want)
		}
		assert.True(t, math.IsNaN(tc.s.Rate(3)), "%#v.Rate(3) = %v, want NaN", tc.s, tc.s.Rate(3))
	}
	assert.Error(t, train.ValidateSchedule(nil))
}

// TestReduceOnPlateau follows Keras's ReduceLROnPlateau epoch by epoch
// (values worked out by hand from its rules).
func TestReduceOnPlateau(t *testing.T) {
	type epoch struct {
		metric, want float64
	}
	for _, tc := range []struct {
		name   string
		r      *train.ReduceOnPlateau
		lr     float64
		epochs []epoch
	}{
		{
			// patience 2: two epochs without improvement (≥ best − 1e-4)
			// halve the rate, and counting starts again
			name: "patience", r: &train.ReduceOnPlateau{Factor: 0.5, Patience: 2}, lr: 1,
			epochs: []epoch{{1, 1}, {0.9, 1}, {0.95, 1}, {0.89995, 0.5}, {0.95, 0.5}, {0.95, 0.25}, {0.5, 0.25}},
		},
		{
			// cooldown 2: Keras decrements the counter before testing it,
			// so the first epoch after a reduction is not counted and the
			// second is
			name: "cooldown", r: &train.ReduceOnPlateau{Factor: 0.5, Patience: 1, Cooldown: 2}, lr: 1,
			epochs: []epoch{{1, 1}, {1, 0.5}, {1, 0.5}, {1, 0.25}, {1, 0.25}, {1, 0.125}},
		},
		{
			// never below MinRate, and no more reductions once there
			name: "min rate", r: &train.ReduceOnPlateau{Patience: 1, MinRate: 0.05}, lr: 1,
			epochs: []epoch{{1, 1}, {2, 0.1}, {2, 0.05}, {2, 0.05}},
		},
		{
			// an accuracy: higher is better; MinDelta 0.01
			name: "maximize", r: &train.ReduceOnPlateau{Factor: 0.5, Patience: 1, MinDelta: 0.01, Maximize: true}, lr: 1,
			epochs: []epoch{{0.5, 1}, {0.6, 1}, {0.605, 0.5}, {0.7, 0.5}},
		},
		{
			// Keras's defaults: factor 0.1, patience 10; NaN never improves
			name: "defaults", r: &train.ReduceOnPlateau{}, lr: 1,
			epochs: []epoch{{1, 1}, {math.NaN(), 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 0.1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.NoError(t, tc.r.Validate())
			lr := tc.lr
			for i, e := range tc.epochs {
				lr = tc.r.Update(e.metric, lr)
				if math.Abs(lr-e.want) > schedTol {
					t.Errorf("epoch %d: Update(%v) = %v, want %v", i, e.metric, lr, e.want)
				}
			}
		})
	}
	// Reset forgets the best value
	r := &train.ReduceOnPlateau{Patience: 1, Factor: 0.5}
	r.Update(0.1, 1)
	r.Reset()
	assert.Equal(t, 1.0, r.Update(5, 1), "the first metric after Reset is the best")
}

func TestReduceOnPlateauInvalid(t *testing.T) {
	for _, r := range []*train.ReduceOnPlateau{
		{Factor: 1}, {Factor: -0.5}, {Patience: -1}, {Cooldown: -1}, {MinDelta: -1}, {MinRate: -1},
	} {
		err := r.Validate()
		assert.Error(t, err, "%+v", *r)
		assert.Equal(t, 0.7, r.Update(1, 0.7), fmt.Sprintf("%+v leaves the rate alone", *r))
	}
}
