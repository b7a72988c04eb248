package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate for each epoch, counted from 0. Set it
// at the start of every epoch:
//
//	for epoch := 0; epoch < epochs; epoch++ {
//		opt.SetLR(sched.LR(epoch))
//		…
//	}
type Schedule interface {
	LR(epoch int) float64
}

func checkEpoch(epoch int) {
	if epoch < 0 {
		panic(fmt.Sprintf("optim: learning rate asked for epoch %d", epoch))
	}
}

func checkBase(name string, base float64) error {
	if !(base > 0) || math.IsInf(base, 1) {
		return fmt.Errorf("optim: %s base learning rate %v; want a finite value > 0", name, base)
	}
	return nil
}

func checkFactor(name, what string, v float64) error {
	if !(v > 0) || math.IsInf(v, 1) {
		return fmt.Errorf("optim: %s %s %v; want a finite value > 0", name, what, v)
	}
	return nil
}

// StepLR multiplies the learning rate by gamma every stepSize epochs, as
// torch.optim.lr_scheduler.StepLR:
//
//	η(e) = base · gamma^⌊e/stepSize⌋
type StepLR struct {
	base, gamma float64
	stepSize    int
}

// NewStepLR returns a step schedule, or an error unless base and gamma are
// positive and finite and stepSize ≥ 1.
func NewStepLR(base float64, stepSize int, gamma float64) (*StepLR, error) {
	if err := firstError(checkBase("StepLR", base), checkFactor("StepLR", "gamma", gamma)); err != nil {
		return nil, err
	}
	if stepSize < 1 {
		return nil, fmt.Errorf("optim: StepLR step size %d; want ≥ 1", stepSize)
	}
	return &StepLR{base: base, gamma: gamma, stepSize: stepSize}, nil
}

// LR returns the learning rate of epoch e (from 0). It panics for e < 0.
func (s *StepLR) LR(e int) float64 {
	checkEpoch(e)
	return s.base * math.Pow(s.gamma, float64(e/s.stepSize))
}

// ExponentialLR multiplies the learning rate by gamma every epoch, as
// torch.optim.lr_scheduler.ExponentialLR:
//
//	η(e) = base · gamma^e
type ExponentialLR struct {
	base, gamma float64
}

// NewExponentialLR returns an exponential schedule, or an error unless
// base and gamma are positive and finite.
func NewExponentialLR(base, gamma float64) (*ExponentialLR, error) {
	if err := firstError(checkBase("ExponentialLR", base), checkFactor("ExponentialLR", "gamma", gamma)); err != nil {
		return nil, err
	}
	return &ExponentialLR{base: base, gamma: gamma}, nil
}

// LR returns the learning rate of epoch e (from 0). It panics for e < 0.
func (s *ExponentialLR) LR(e int) float64 {
	checkEpoch(e)
	return s.base * math.Pow(s.gamma, float64(e))
}

// ZarembaLR keeps the learning rate for a number of epochs, then divides
// it by a constant after every further epoch: the schedule of Zaremba,
// Sutskever & Vinyals (2014), "Recurrent neural network regularization",
// for their Penn Treebank language models (base 1, kept for 4 epochs then
// divided by 2 for the small model; 6 and 1.2 for the medium; 14 and 1.15
// for the large):
//
//	η(e) = base                      for e < keep
//	η(e) = base / divisor^(e−keep+1) for e ≥ keep
type ZarembaLR struct {
	base, divisor float64
	keep          int
}

// NewZarembaLR returns the schedule, or an error unless base is positive
// and finite, keep ≥ 0 and divisor ≥ 1 (and finite).
func NewZarembaLR(base float64, keep int, divisor float64) (*ZarembaLR, error) {
	if err := checkBase("ZarembaLR", base); err != nil {
		return nil, err
	}
	if keep < 0 {
		return nil, fmt.Errorf("optim: ZarembaLR keeps the rate for %d epochs; want ≥ 0", keep)
	}
	if !(divisor >= 1) || math.IsInf(divisor, 1) {
		return nil, fmt.Errorf("optim: ZarembaLR divisor %v; want a finite value ≥ 1", divisor)
	}
	return &ZarembaLR{base: base, divisor: divisor, keep: keep}, nil
}

// LR returns the learning rate of epoch e (from 0). It panics for e < 0.
func (s *ZarembaLR) LR(e int) float64 {
	checkEpoch(e)
	if e < s.keep {
		return s.base
	}
	return s.base / math.Pow(s.divisor, float64(e-s.keep+1))
}
