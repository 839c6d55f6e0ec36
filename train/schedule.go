package train

import (
	"fmt"
	"math"
)

// Learning-rate schedules
//
// A schedule is a pure function of the step: Rate(step) is the learning
// rate of the update made after step earlier updates, so step counts from
// 0 as in Keras (whose schedules receive optimizer.iterations before the
// update) — the first update uses Rate(0). Fit writes the rate into the
// store's "optimizer/learning_rate" before each update (see NewStep), so
// the compiled program is never rebuilt. Schedules per epoch are schedules
// per step with the step divided by the steps per epoch.
//
// Every schedule has a Validate method; Rate of an invalid schedule
// returns NaN rather than panicking. ValidateSchedule checks any schedule
// that has one.

// Schedule gives the learning rate of each update.
type Schedule interface {
	// Rate is the learning rate of the update made after step earlier
	// updates (step ≥ 0; a negative step counts as 0).
	Rate(step int) float64
}

// ValidateSchedule returns the schedule's Validate error, if it has a
// Validate method, and an error for a nil schedule.
func ValidateSchedule(s Schedule) error {
	if s == nil {
		return fmt.Errorf("train: nil schedule")
	}
	if v, ok := s.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// ConstantRate is a schedule that always returns its value.
type ConstantRate float64

// Rate returns r (NaN when r is invalid).
func (r ConstantRate) Rate(int) float64 {
	if r.Validate() != nil {
		return math.NaN()
	}
	return float64(r)
}

// Validate rejects a negative or non-finite rate.
func (r ConstantRate) Validate() error { return schedCheckRate("constant rate", "rate", float64(r)) }

// ExponentialDecay is Keras's ExponentialDecay:
//
//	η(step) = InitialRate · DecayRate^(step/DecaySteps)
//
// with step/DecaySteps rounded down when Staircase is set (the rate then
// drops every DecaySteps steps). Géron's exponential scheduling
// η₀·0.1^(t/s) is DecayRate 0.1.
type ExponentialDecay struct {
	InitialRate float64 // η₀ ≥ 0
	DecaySteps  int     // s > 0
	DecayRate   float64 // > 0
	Staircase   bool
}

// Validate checks the fields.
func (e ExponentialDecay) Validate() error {
	if err := schedCheckRate("exponential decay", "initial rate", e.InitialRate); err != nil {
		return err
	}
	if e.DecaySteps <= 0 {
		return fmt.Errorf("train: exponential decay: decay steps %d: want > 0", e.DecaySteps)
	}
	if !(e.DecayRate > 0) || math.IsInf(e.DecayRate, 0) {
		return fmt.Errorf("train: exponential decay: decay rate %g: want a finite number > 0", e.DecayRate)
	}
	return nil
}

// Rate implements Schedule.
func (e ExponentialDecay) Rate(step int) float64 {
	if e.Validate() != nil {
		return math.NaN()
	}
	p := float64(max(step, 0)) / float64(e.DecaySteps)
	if e.Staircase {
		p = math.Floor(p)
	}
	return e.InitialRate * math.Pow(e.DecayRate, p)
}

// PiecewiseConstant is Keras's PiecewiseConstantDecay: Values[0] up to and
// including step Boundaries[0], Values[i] for Boundaries[i−1] < step ≤
// Boundaries[i], and the last value after the last boundary. Boundaries
// increase strictly and there is one more value than boundaries.
type PiecewiseConstant struct {
	Boundaries []int
	Values     []float64
}

// Validate checks the fields.
func (p PiecewiseConstant) Validate() error {
	if len(p.Values) != len(p.Boundaries)+1 {
		return fmt.Errorf("train: piecewise constant: %d boundaries need %d values, got %d", len(p.Boundaries), len(p.Boundaries)+1, len(p.Values))
	}
	for i := 1; i < len(p.Boundaries); i++ {
		if p.Boundaries[i] <= p.Boundaries[i-1] {
			return fmt.Errorf("train: piecewise constant: boundaries %v do not increase", p.Boundaries)
		}
	}
	for _, v := range p.Values {
		if err := schedCheckRate("piecewise constant", "value", v); err != nil {
			return err
		}
	}
	return nil
}

// Rate implements Schedule.
func (p PiecewiseConstant) Rate(step int) float64 {
	if p.Validate() != nil {
		return math.NaN()
	}
	for i, b := range p.Boundaries {
		if step <= b {
			return p.Values[i]
		}
	}
	return p.Values[len(p.Values)-1]
}

// PowerDecay is Géron's power scheduling:
//
//	η(step) = InitialRate / (1 + step/DecaySteps)^Power
//
// The rate halves after DecaySteps steps (with Power 1), then falls more
// and more slowly. Keras's InverseTimeDecay(η₀, decay_steps, decay_rate)
// is the Power = 1 case with DecaySteps = decay_steps/decay_rate. Power 0
// means 1.
type PowerDecay struct {
	InitialRate float64 // η₀ ≥ 0
	DecaySteps  float64 // s > 0
	Power       float64 // c > 0; 0 means 1
}

// Validate checks the fields.
func (d PowerDecay) Validate() error {
	if err := schedCheckRate("power decay", "initial rate", d.InitialRate); err != nil {
		return err
	}
	if !(d.DecaySteps > 0) || math.IsInf(d.DecaySteps, 0) {
		return fmt.Errorf("train: power decay: decay steps %g: want a finite number > 0", d.DecaySteps)
	}
	if !(d.Power >= 0) || math.IsInf(d.Power, 0) {
		return fmt.Errorf("train: power decay: power %g: want a finite number > 0", d.Power)
	}
	return nil
}

// Rate implements Schedule.
func (d PowerDecay) Rate(step int) float64 {
	if d.Validate() != nil {
		return math.NaN()
	}
	c := d.Power
	if c == 0 {
		c = 1
	}
	return d.InitialRate / math.Pow(1+float64(max(step, 0))/d.DecaySteps, c)
}

// OneCycle is Smith's 1cycle policy as Géron implements it
// (OneCycleScheduler in the Hands-On ML notebooks), piecewise linear in
// three phases over TotalSteps updates. With F = FinalSteps and
// h = ⌊(TotalSteps − F)/2⌋:
//
//	steps [0, h):           StartRate → MaxRate, linearly
//	steps [h, 2h):          MaxRate → StartRate, linearly
//	steps [2h, TotalSteps): StartRate → EndRate, linearly (annealing)
//	steps ≥ TotalSteps:     EndRate
//
// Each phase starts exactly at its first rate and stops one step short of
// its last (Rate(h) = MaxRate, Rate(2h) = StartRate). Zero fields take
// Géron's defaults: StartRate = MaxRate/10, EndRate = StartRate/1000,
// FinalSteps = ⌊TotalSteps/10⌋ + 1. Géron's callback extrapolates past
// the end; this one holds EndRate. (PyTorch's OneCycleLR anneals with
// cosines and, by default, also cycles the momentum; it is not this
// schedule.)
type OneCycle struct {
	MaxRate    float64 // the peak rate, > 0
	TotalSteps int     // the number of updates in the cycle, > 0
	StartRate  float64 // 0 means MaxRate/10
	EndRate    float64 // 0 means StartRate/1000
	FinalSteps int     // the annealing phase's length; 0 means TotalSteps/10 + 1
}

// resolve applies the defaults.
func (o OneCycle) resolve() (start, end float64, final, half int) {
	start = o.StartRate
	if start == 0 {
		start = o.MaxRate / 10
	}
	end = o.EndRate
	if end == 0 {
		end = start / 1000
	}
	final = o.FinalSteps
	if final == 0 {
		final = o.TotalSteps/10 + 1
	}
	return start, end, final, (o.TotalSteps - final) / 2
}

// Validate checks the fields.
func (o OneCycle) Validate() error {
	if !(o.MaxRate > 0) || math.IsInf(o.MaxRate, 0) {
		return fmt.Errorf("train: one cycle: max rate %g: want a finite number > 0", o.MaxRate)
	}
	if o.TotalSteps <= 0 {
		return fmt.Errorf("train: one cycle: total steps %d: want > 0", o.TotalSteps)
	}
	start, end, final, _ := o.resolve()
	if err := schedCheckRate("one cycle", "start rate", start); err != nil {
		return err
	}
	if err := schedCheckRate("one cycle", "end rate", end); err != nil {
		return err
	}
	if final < 0 || final > o.TotalSteps {
		return fmt.Errorf("train: one cycle: final steps %d: want 0 … total steps (%d)", final, o.TotalSteps)
	}
	return nil
}

// Rate implements Schedule.
func (o OneCycle) Rate(step int) float64 {
	if o.Validate() != nil {
		return math.NaN()
	}
	start, end, _, half := o.resolve()
	step = max(step, 0)
	lerp := func(s0, s1 int, r0, r1 float64) float64 {
		return r0 + (r1-r0)*float64(step-s0)/float64(s1-s0)
	}
	switch {
	case step < half:
		return lerp(0, half, start, o.MaxRate)
	case step < 2*half:
		return lerp(half, 2*half, o.MaxRate, start)
	case step < o.TotalSteps:
		return lerp(2*half, o.TotalSteps, start, end)
	}
	return end
}

// ReduceOnPlateau is performance scheduling, the logic of Keras's
// ReduceLROnPlateau callback as a small state machine: after Patience
// epochs without an improvement of the monitored metric by more than
// MinDelta, the rate is multiplied by Factor (not below MinRate), and
// then Cooldown epochs pass before waiting starts again. The Fit callback
// calls Update once per epoch with the validation metric and the current
// rate, and writes the rate it returns into the store.
//
// Zero fields take Keras's defaults: Factor 0.1, Patience 10, MinDelta
// 1e-4; Cooldown and MinRate default to 0. Lower is better unless
// Maximize (for an accuracy). A NaN metric never counts as an
// improvement.
type ReduceOnPlateau struct {
	Factor   float64 // in (0, 1); 0 means 0.1
	Patience int     // epochs without improvement before a reduction; 0 means 10
	MinDelta float64 // the smallest change that counts as an improvement; 0 means 1e-4
	Cooldown int     // epochs after a reduction before counting again
	MinRate  float64 // the rate never goes below this
	Maximize bool    // the metric improves upwards (accuracy)

	started  bool
	best     float64
	wait     int
	cooldown int
}

// Validate checks the fields.
func (r *ReduceOnPlateau) Validate() error {
	f := optOrDefault(r.Factor, 0.1)
	if !(f > 0 && f < 1) {
		return fmt.Errorf("train: reduce on plateau: factor %g: want a number in (0, 1)", r.Factor)
	}
	if r.Patience < 0 || r.Cooldown < 0 {
		return fmt.Errorf("train: reduce on plateau: patience %d and cooldown %d: want ≥ 0", r.Patience, r.Cooldown)
	}
	if !(r.MinDelta >= 0) || math.IsInf(r.MinDelta, 0) {
		return fmt.Errorf("train: reduce on plateau: min delta %g: want a finite number ≥ 0", r.MinDelta)
	}
	return schedCheckRate("reduce on plateau", "min rate", r.MinRate)
}

// Reset forgets the best metric and the counters (Keras's on_train_begin).
func (r *ReduceOnPlateau) Reset() { r.started, r.best, r.wait, r.cooldown = false, 0, 0, 0 }

// Update takes the epoch's metric and the current rate and returns the
// rate for the next epoch: current, or current·Factor (at least MinRate)
// after Patience epochs without improvement. An invalid configuration
// returns current unchanged (call Validate first).
func (r *ReduceOnPlateau) Update(metric float64, current float64) (newRate float64) {
	if r.Validate() != nil {
		return current
	}
	patience := r.Patience
	if patience == 0 {
		patience = 10
	}
	delta := optOrDefault(r.MinDelta, 1e-4)
	if !r.started {
		r.started = true
		r.best = math.Inf(1)
		if r.Maximize {
			r.best = math.Inf(-1)
		}
	}
	if r.cooldown > 0 {
		r.cooldown--
		r.wait = 0
	}
	improved := metric < r.best-delta
	if r.Maximize {
		improved = metric > r.best+delta
	}
	switch {
	case improved:
		r.best = metric
		r.wait = 0
	case r.cooldown == 0:
		r.wait++
		if r.wait >= patience && current > r.MinRate {
			r.wait = 0
			r.cooldown = r.Cooldown
			return max(current*optOrDefault(r.Factor, 0.1), r.MinRate)
		}
	}
	return current
}

// schedCheckRate rejects a negative or non-finite rate.
func schedCheckRate(name, what string, v float64) error {
	if !(v >= 0) || math.IsInf(v, 0) {
		return fmt.Errorf("train: %s: %s %g: want a finite number ≥ 0", name, what, v)
	}
	return nil
}
