package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/tensor"
)

// Hook edits the gradients before an update, as Chainer's optimizer hooks
// do. Add hooks with Optimizer.AddHook; Update runs them in order.
type Hook interface {
	// BeforeUpdate is called by Update with the parameters about to be
	// updated (those with a gradient). An error skips the update.
	BeforeUpdate(params []Param) error
}

// HookFunc adapts a function to the Hook interface.
type HookFunc func(params []Param) error

// BeforeUpdate calls f(params).
func (f HookFunc) BeforeUpdate(params []Param) error { return f(params) }

// ErrNonFiniteGrad is returned (wrapped) by Update when GradientClipping
// finds a gradient holding NaN or ±Inf; the update is skipped.
var ErrNonFiniteGrad = errors.New("gradient is not finite")

// GradientClipping rescales all gradients together when their global L2
// norm exceeds a threshold (Pascanu, Mikolov & Bengio 2013, "On the
// difficulty of training recurrent neural networks"; Chainer's
// GradientClipping hook, PyTorch's clip_grad_norm_):
//
//	‖g‖ = √(Σ_p Σ_i g_{p,i}²)    over every parameter with a gradient
//	if ‖g‖ > threshold:  g ← g · threshold/‖g‖
//
// The norm is accumulated in float64 whatever the parameters' type.
// Gradients with norm at most the threshold are left untouched. When the
// norm is not finite (a NaN or an infinity in some gradient) nothing is
// scaled and BeforeUpdate returns an error wrapping ErrNonFiniteGrad, so
// Update skips the step instead of writing NaNs into the parameters; the
// training loop may carry on with the next batch.
type GradientClipping struct {
	threshold float64
	lastNorm  float64
}

// NewGradientClipping returns a clipping hook with the given threshold,
// or an error unless the threshold is positive and finite.
func NewGradientClipping(threshold float64) (*GradientClipping, error) {
	if !(threshold > 0) || math.IsInf(threshold, 1) {
		return nil, fmt.Errorf("optim: gradient clipping threshold %v; want a finite value > 0", threshold)
	}
	return &GradientClipping{threshold: threshold}, nil
}

// Threshold returns the threshold.
func (h *GradientClipping) Threshold() float64 { return h.threshold }

// LastNorm returns the global gradient norm measured by the last
// BeforeUpdate, before any clipping (0 before the first): a useful
// training statistic.
func (h *GradientClipping) LastNorm() float64 { return h.lastNorm }

// BeforeUpdate measures the global norm and clips.
func (h *GradientClipping) BeforeUpdate(params []Param) error {
	norm := GradNorm(params)
	h.lastNorm = norm
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		for _, p := range params {
			if s := p.Var.Grad.SumSquares(); math.IsNaN(s) || math.IsInf(s, 0) {
				return fmt.Errorf("gradient clipping: gradient of %q holds NaN or Inf (global norm %v): %w", p.Name, norm, ErrNonFiniteGrad)
			}
		}
		return fmt.Errorf("gradient clipping: global norm %v: %w", norm, ErrNonFiniteGrad)
	}
	if norm > h.threshold {
		rate := h.threshold / norm
		for _, p := range params {
			p.Var.Grad.Scale(rate)
		}
	}
	return nil
}

// GradNorm returns the global L2 norm of the gradients of params, √(Σ g²)
// over every element of every non-nil Grad, accumulated in float64. It is
// +Inf only if some gradient holds an infinity and NaN if one holds a NaN:
// a sum of squares that overflows float64 is recomputed with scaling.
func GradNorm(params []Param) float64 {
	var sum float64
	for _, p := range params {
		if p.Var.Grad != nil {
			sum += p.Var.Grad.SumSquares()
		}
	}
	if !math.IsInf(sum, 1) {
		return math.Sqrt(sum)
	}
	// Overflow: scale by the largest magnitude, as BLAS's nrm2 does.
	var scale float64
	for _, p := range params {
		if p.Var.Grad != nil {
			m := p.Var.Grad.MaxAbs()
			if math.IsNaN(m) {
				return m
			}
			scale = max(scale, m)
		}
	}
	if math.IsInf(scale, 1) {
		return scale
	}
	sum = 0
	for _, p := range params {
		if g := p.Var.Grad; g != nil {
			for i := 0; i < g.Size(); i++ {
				x := g.AtFlat(i) / scale
				sum += x * x
			}
		}
	}
	return scale * math.Sqrt(sum)
}

// GradientHardClipping clamps every gradient element into [lo, hi], as
// Chainer's GradientHardClipping hook and PyTorch's clip_grad_value_ (with
// lo = −hi).
type GradientHardClipping struct {
	lo, hi float64
}

// NewGradientHardClipping returns a hook clamping gradients into [lo, hi],
// or an error unless lo ≤ hi (neither NaN).
func NewGradientHardClipping(lo, hi float64) (*GradientHardClipping, error) {
	if !(lo <= hi) {
		return nil, fmt.Errorf("optim: gradient hard clipping bounds [%v, %v]; want lo ≤ hi", lo, hi)
	}
	return &GradientHardClipping{lo: lo, hi: hi}, nil
}

// Bounds returns lo and hi.
func (h *GradientHardClipping) Bounds() (lo, hi float64) { return h.lo, h.hi }

// BeforeUpdate clamps the gradients.
func (h *GradientHardClipping) BeforeUpdate(params []Param) error {
	for _, p := range params {
		tensor.Dispatch(p.Var.Grad, clamp[float32], clamp[float64])(p.Var.Grad, h.lo, h.hi)
	}
	return nil
}

// clamp clamps the elements of a tensor of element type T to [lo, hi]
// (see tensor.Dispatch).
func clamp[T float32 | float64](xt *tensor.Tensor, lo, hi float64) {
	x := tensor.Values[T](xt)
	l, h := T(lo), T(hi)
	for i, v := range x {
		x[i] = min(max(v, l), h)
	}
}

// WeightDecay adds rate·θ to each gradient — L2 regularisation, the
// gradient of (rate/2)·‖θ‖² — as Chainer's WeightDecay hook does. It
// applies to every parameter with a gradient, biases included. (For
// Adam-type optimizers prefer the decoupled decay of NewAdamW.)
type WeightDecay struct {
	rate float64
}

// NewWeightDecay returns a weight-decay hook, or an error unless rate is
// finite and ≥ 0.
func NewWeightDecay(rate float64) (*WeightDecay, error) {
	if err := checkNonNeg("WeightDecay", "rate", rate); err != nil {
		return nil, err
	}
	return &WeightDecay{rate: rate}, nil
}

// Rate returns the decay rate.
func (h *WeightDecay) Rate() float64 { return h.rate }

// BeforeUpdate adds rate·θ to each gradient.
func (h *WeightDecay) BeforeUpdate(params []Param) error {
	if h.rate == 0 {
		return nil
	}
	for _, p := range params {
		p.Var.Grad.Axpy(h.rate, p.Var.Data)
	}
	return nil
}
