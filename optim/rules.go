package optim

import (
	"fmt"
	"iter"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// orDefault returns v, or def when v is zero.
func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// checkRange returns an error unless lo ≤ v < hi (v ≤ hi when closed).
func checkRange(opt, name string, v, lo, hi float64, closed bool) error {
	ok := v >= lo && v < hi
	if closed {
		ok = v >= lo && v <= hi
	}
	if !ok {
		r := ")"
		if closed {
			r = "]"
		}
		return fmt.Errorf("optim: %s %s %v outside [%v, %v%s", opt, name, v, lo, hi, r)
	}
	return nil
}

// checkNonNeg returns an error unless v is finite and ≥ 0.
func checkNonNeg(opt, name string, v float64) error {
	if !(v >= 0) || math.IsInf(v, 1) {
		return fmt.Errorf("optim: %s %s %v; want a finite value ≥ 0", opt, name, v)
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ---- SGD ----

// SGDConfig configures plain stochastic gradient descent. Zero fields take
// the defaults shown.
type SGDConfig struct {
	// LR is the learning rate η (default 1e-3, PyTorch's).
	LR float64
	// WeightDecay is the L2 coefficient λ added to the gradient (default
	// 0).
	WeightDecay float64
}

// NewSGD returns a stochastic gradient descent optimizer (Robbins & Monro
// 1951), torch.optim.SGD without momentum:
//
//	θ ← θ − η·(g + λ·θ)
//
// It returns an error for a negative learning rate or weight decay, and for
// an empty, unnamed or duplicated parameter list.
func NewSGD(params iter.Seq2[string, *autograd.Variable], cfg SGDConfig) (*Optimizer, error) {
	r := &sgdRule{wd: cfg.WeightDecay}
	if err := checkNonNeg("SGD", "weight decay", r.wd); err != nil {
		return nil, err
	}
	return newOptimizer(params, orDefault(cfg.LR, 1e-3), r)
}

type sgdRule struct{ wd float64 }

func (*sgdRule) kind() string          { return "sgd" }
func (*sgdRule) slots() []string       { return nil }
func (*sgdRule) init([]*tensor.Tensor) {}
func (r *sgdRule) String() string      { return fmt.Sprintf("SGD(weight_decay=%v)", r.wd) }
func (r *sgdRule) update(p, g *tensor.Tensor, _ []*tensor.Tensor, lr float64, _ int) {
	if r.wd == 0 {
		p.Axpy(-lr, g) // the vector kernel
		return
	}
	tensor.Dispatch(p, sgdStep[float32], sgdStep[float64])(p, g, lr, r.wd)
}

// sgdStep is the SGD update with weight decay for parameters of element
// type T (see tensor.Dispatch), as are the other rules' steps.
func sgdStep[T float32 | float64](pt, gt *tensor.Tensor, lr, wd float64) {
	p, g := tensor.Values[T](pt), tensor.Values[T](gt)
	nlr, w := T(-lr), T(wd)
	for i, gi := range g {
		p[i] += nlr * (gi + w*p[i])
	}
}

// ---- MomentumSGD ----

// MomentumSGDConfig configures stochastic gradient descent with momentum.
// Zero fields take the defaults shown.
type MomentumSGDConfig struct {
	// LR is the learning rate η (default 1e-3, PyTorch's SGD default).
	LR float64
	// Momentum is μ, in [0, 1) (default 0.9, Chainer's; PyTorch's SGD
	// has no momentum by default). A zero value means the default: use
	// NewSGD for no momentum.
	Momentum float64
	// Dampening is τ, in [0, 1] (default 0).
	Dampening float64
	// Nesterov selects Nesterov's accelerated gradient; it requires zero
	// dampening.
	Nesterov bool
	// WeightDecay is the L2 coefficient λ added to the gradient (default
	// 0).
	WeightDecay float64
}

// NewMomentumSGD returns stochastic gradient descent with momentum
// (Polyak 1964), torch.optim.SGD with momentum. With d = g + λ·θ, the
// momentum buffer b (state "momentum_buffer") and the parameter follow
//
//	b ← d on the first step, then b ← μ·b + (1−τ)·d
//	θ ← θ − η·b                 (classical momentum)
//	θ ← θ − η·(d + μ·b)         (Nesterov)
//
// The Nesterov form is the reformulation of Nesterov's accelerated
// gradient by Sutskever, Martens, Dahl & Hinton (2013), "On the importance
// of initialization and momentum in deep learning", as PyTorch implements
// it. It returns an error for a learning rate, momentum, dampening or
// weight decay out of range, or Nesterov with dampening.
func NewMomentumSGD(params iter.Seq2[string, *autograd.Variable], cfg MomentumSGDConfig) (*Optimizer, error) {
	r := &momentumRule{mu: orDefault(cfg.Momentum, 0.9), damp: cfg.Dampening, nesterov: cfg.Nesterov, wd: cfg.WeightDecay}
	err := firstError(
		checkRange("MomentumSGD", "momentum", r.mu, 0, 1, false),
		checkRange("MomentumSGD", "dampening", r.damp, 0, 1, true),
		checkNonNeg("MomentumSGD", "weight decay", r.wd),
	)
	if err == nil && r.nesterov && r.damp != 0 {
		err = fmt.Errorf("optim: Nesterov momentum requires zero dampening, got %v", r.damp)
	}
	if err != nil {
		return nil, err
	}
	return newOptimizer(params, orDefault(cfg.LR, 1e-3), r)
}

type momentumRule struct {
	mu, damp, wd float64
	nesterov     bool
}

func (*momentumRule) kind() string          { return "momentum_sgd" }
func (*momentumRule) slots() []string       { return []string{"momentum_buffer"} }
func (*momentumRule) init([]*tensor.Tensor) {}
func (r *momentumRule) String() string {
	return fmt.Sprintf("MomentumSGD(momentum=%v, dampening=%v, nesterov=%v, weight_decay=%v)", r.mu, r.damp, r.nesterov, r.wd)
}

func (r *momentumRule) update(p, g *tensor.Tensor, s []*tensor.Tensor, lr float64, t int) {
	tensor.Dispatch(p, momentumStep[float32], momentumStep[float64])(r, p, g, s[0], lr, t)
}

func momentumStep[T float32 | float64](r *momentumRule, pt, gt, bt *tensor.Tensor, lr float64, t int) {
	p, g, b := tensor.Values[T](pt), tensor.Values[T](gt), tensor.Values[T](bt)
	nlr, w, mu, keep := T(-lr), T(r.wd), T(r.mu), T(1-r.damp)
	for i, gi := range g {
		d := gi + w*p[i]
		if t == 1 {
			b[i] = d
		} else {
			b[i] = mu*b[i] + keep*d
		}
		if r.nesterov {
			d += mu * b[i]
		} else {
			d = b[i]
		}
		p[i] += nlr * d
	}
}

// ---- Adam and AdamW ----

// AdamConfig configures Adam and AdamW. Zero fields take the defaults
// shown.
type AdamConfig struct {
	// LR is the learning rate η (default 1e-3).
	LR float64
	// Beta1 and Beta2 are the decay rates β₁, β₂ of the first and second
	// moment estimates, in [0, 1) (defaults 0.9 and 0.999).
	Beta1, Beta2 float64
	// Eps is ε, added to the denominator (default 1e-8).
	Eps float64
	// WeightDecay is λ (default 0 for Adam, where it is an L2 term added
	// to the gradient, and 1e-2 for AdamW, where it is decoupled).
	WeightDecay float64
	// AMSGrad uses the maximum of the second-moment estimates so far
	// (Reddi, Kale & Kumar 2018, "On the convergence of Adam and beyond").
	AMSGrad bool
}

// NewAdam returns the Adam optimizer of Kingma & Ba (2015), "Adam: a
// method for stochastic optimization", as torch.optim.Adam. With
// d = g + λ·θ, step number t, the first and second moment estimates m
// and v (states "exp_avg", "exp_avg_sq"):
//
//	m ← β₁·m + (1−β₁)·d
//	v ← β₂·v + (1−β₂)·d²
//	θ ← θ − η/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
//
// With AMSGrad, v̂ ← max(v̂, v) (state "max_exp_avg_sq") replaces v in the
// last line. It returns an error for hyperparameters out of range.
func NewAdam(params iter.Seq2[string, *autograd.Variable], cfg AdamConfig) (*Optimizer, error) {
	r, err := newAdamRule("Adam", cfg, false)
	if err != nil {
		return nil, err
	}
	return newOptimizer(params, orDefault(cfg.LR, 1e-3), r)
}

// NewAdamW returns Adam with decoupled weight decay, AdamW, of Loshchilov &
// Hutter (2019), "Decoupled weight decay regularization", as
// torch.optim.AdamW: each step first shrinks the parameter,
//
//	θ ← θ·(1 − η·λ)
//
// then makes Adam's update with d = g (no L2 term in the gradient). λ
// defaults to 1e-2; to train without decay use NewAdam. It returns an
// error for hyperparameters out of range.
func NewAdamW(params iter.Seq2[string, *autograd.Variable], cfg AdamConfig) (*Optimizer, error) {
	cfg.WeightDecay = orDefault(cfg.WeightDecay, 1e-2)
	r, err := newAdamRule("AdamW", cfg, true)
	if err != nil {
		return nil, err
	}
	return newOptimizer(params, orDefault(cfg.LR, 1e-3), r)
}

func newAdamRule(name string, cfg AdamConfig, decoupled bool) (*adamRule, error) {
	r := &adamRule{
		name: name, b1: orDefault(cfg.Beta1, 0.9), b2: orDefault(cfg.Beta2, 0.999),
		eps: orDefault(cfg.Eps, 1e-8), wd: cfg.WeightDecay, amsgrad: cfg.AMSGrad, decoupled: decoupled,
	}
	err := firstError(
		checkRange(name, "beta1", r.b1, 0, 1, false),
		checkRange(name, "beta2", r.b2, 0, 1, false),
		checkNonNeg(name, "eps", r.eps),
		checkNonNeg(name, "weight decay", r.wd),
	)
	return r, err
}

type adamRule struct {
	name               string
	b1, b2, eps, wd    float64
	amsgrad, decoupled bool
}

func (r *adamRule) kind() string {
	if r.decoupled {
		return "adamw"
	}
	return "adam"
}

func (r *adamRule) slots() []string {
	if r.amsgrad {
		return []string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
	}
	return []string{"exp_avg", "exp_avg_sq"}
}

func (*adamRule) init([]*tensor.Tensor) {}

func (r *adamRule) String() string {
	s := fmt.Sprintf("%s(betas=(%v, %v), eps=%v, weight_decay=%v", r.name, r.b1, r.b2, r.eps, r.wd)
	if r.amsgrad {
		s += ", amsgrad=true"
	}
	return s + ")"
}

// adamCoef holds the scalars of one Adam step.
type adamCoef struct {
	shrink   float64 // AdamW: 1 − η·λ
	l2       float64 // Adam: λ
	b1, b2   float64
	stepSize float64 // η/(1−β₁ᵗ)
	bc2Sqrt  float64 // √(1−β₂ᵗ)
	eps      float64
}

func (r *adamRule) update(p, g *tensor.Tensor, s []*tensor.Tensor, lr float64, t int) {
	c := adamCoef{shrink: 1, b1: r.b1, b2: r.b2, eps: r.eps,
		stepSize: lr / (1 - math.Pow(r.b1, float64(t))),
		bc2Sqrt:  math.Sqrt(1 - math.Pow(r.b2, float64(t)))}
	if r.decoupled {
		c.shrink = 1 - lr*r.wd
	} else {
		c.l2 = r.wd
	}
	tensor.Dispatch(p, adamStep[float32], adamStep[float64])(p, g, s, c)
}

func adamStep[T float32 | float64](pt, gt *tensor.Tensor, s []*tensor.Tensor, c adamCoef) {
	p, g := tensor.Values[T](pt), tensor.Values[T](gt)
	m, v := tensor.Values[T](s[0]), tensor.Values[T](s[1])
	var vmax []T
	if len(s) == 3 {
		vmax = tensor.Values[T](s[2])
	}
	shrink, l2, b2, a1, a2 := T(c.shrink), T(c.l2), T(c.b2), T(1-c.b1), T(1-c.b2)
	nstep, bc2, eps := T(-c.stepSize), T(c.bc2Sqrt), T(c.eps)
	for i, d := range g {
		if c.shrink != 1 {
			p[i] *= shrink
		}
		d += l2 * p[i]
		m[i] += a1 * (d - m[i]) // lerp, as PyTorch
		v[i] = b2*v[i] + a2*d*d
		vi := v[i]
		if vmax != nil {
			vmax[i] = max(vmax[i], vi)
			vi = vmax[i]
		}
		denom := T(math.Sqrt(float64(vi)))/bc2 + eps
		p[i] += nstep * m[i] / denom
	}
}

// ---- RMSprop ----

// RMSpropConfig configures RMSprop. Zero fields take the defaults shown.
type RMSpropConfig struct {
	// LR is the learning rate η (default 1e-2).
	LR float64
	// Alpha is the decay rate α of the squared-gradient average, in
	// [0, 1) (default 0.99).
	Alpha float64
	// Eps is ε, added to the denominator (default 1e-8).
	Eps float64
	// WeightDecay is the L2 coefficient λ added to the gradient (default
	// 0).
	WeightDecay float64
	// Momentum is μ, in [0, 1) (default 0: none).
	Momentum float64
	// Centered divides by an estimate of the variance of the gradient
	// instead of its second moment (Graves 2013).
	Centered bool
}

// NewRMSprop returns RMSprop, from Tieleman & Hinton (2012), "Lecture 6.5
// — RMSprop: divide the gradient by a running average of its recent
// magnitude" (COURSERA: Neural Networks for Machine Learning), as
// torch.optim.RMSprop. With d = g + λ·θ and the average of squares s
// (state "square_avg"):
//
//	s ← α·s + (1−α)·d²
//	a = √s + ε                         (plain)
//	ḡ ← α·ḡ + (1−α)·d; a = √(s − ḡ²) + ε  (Centered, state "grad_avg")
//	θ ← θ − η·d/a                      (no momentum)
//	b ← μ·b + d/a; θ ← θ − η·b        (Momentum, state "momentum_buffer")
//
// Note that ε is added outside the square root, as in PyTorch (Chainer and
// Keras add it inside). It returns an error for hyperparameters out of
// range.
func NewRMSprop(params iter.Seq2[string, *autograd.Variable], cfg RMSpropConfig) (*Optimizer, error) {
	r := &rmspropRule{alpha: orDefault(cfg.Alpha, 0.99), eps: orDefault(cfg.Eps, 1e-8), wd: cfg.WeightDecay, mu: cfg.Momentum, centered: cfg.Centered}
	err := firstError(
		checkRange("RMSprop", "alpha", r.alpha, 0, 1, false),
		checkNonNeg("RMSprop", "eps", r.eps),
		checkNonNeg("RMSprop", "weight decay", r.wd),
		checkRange("RMSprop", "momentum", r.mu, 0, 1, false),
	)
	if err != nil {
		return nil, err
	}
	return newOptimizer(params, orDefault(cfg.LR, 1e-2), r)
}

type rmspropRule struct {
	alpha, eps, wd, mu float64
	centered           bool
}

func (*rmspropRule) kind() string { return "rmsprop" }

// slots are square_avg, then momentum_buffer and grad_avg when used.
func (r *rmspropRule) slots() []string {
	s := []string{"square_avg"}
	if r.mu > 0 {
		s = append(s, "momentum_buffer")
	}
	if r.centered {
		s = append(s, "grad_avg")
	}
	return s
}

func (*rmspropRule) init([]*tensor.Tensor) {}

func (r *rmspropRule) String() string {
	return fmt.Sprintf("RMSprop(alpha=%v, eps=%v, weight_decay=%v, momentum=%v, centered=%v)", r.alpha, r.eps, r.wd, r.mu, r.centered)
}

func (r *rmspropRule) update(p, g *tensor.Tensor, s []*tensor.Tensor, lr float64, _ int) {
	tensor.Dispatch(p, rmspropStep[float32], rmspropStep[float64])(r, p, g, s, lr)
}

func rmspropStep[T float32 | float64](r *rmspropRule, pt, gt *tensor.Tensor, s []*tensor.Tensor, lr float64) {
	p, g, sq := tensor.Values[T](pt), tensor.Values[T](gt), tensor.Values[T](s[0])
	var buf, ga []T
	k := 1
	if r.mu > 0 {
		buf = tensor.Values[T](s[k])
		k++
	}
	if r.centered {
		ga = tensor.Values[T](s[k])
	}
	nlr, w, alpha, a1, eps, mu := T(-lr), T(r.wd), T(r.alpha), T(1-r.alpha), T(r.eps), T(r.mu)
	for i, gi := range g {
		d := gi + w*p[i]
		sq[i] = alpha*sq[i] + a1*d*d
		avg := sq[i]
		if ga != nil {
			ga[i] += a1 * (d - ga[i])
			avg -= ga[i] * ga[i]
		}
		den := T(math.Sqrt(float64(avg))) + eps
		if buf != nil {
			buf[i] = mu*buf[i] + d/den
			p[i] += nlr * buf[i]
		} else {
			p[i] += nlr * d / den
		}
	}
}

// ---- AdaGrad ----

// AdaGradConfig configures AdaGrad. Zero fields take the defaults shown.
type AdaGradConfig struct {
	// LR is the learning rate η (default 1e-2).
	LR float64
	// LRDecay is κ: step t uses η/(1 + (t−1)·κ) (default 0).
	LRDecay float64
	// WeightDecay is the L2 coefficient λ added to the gradient (default
	// 0).
	WeightDecay float64
	// InitialAccumulatorValue is the starting value of the sum of squares
	// (default 0).
	InitialAccumulatorValue float64
	// Eps is ε, added to the denominator (default 1e-10).
	Eps float64
}

// NewAdaGrad returns AdaGrad, of Duchi, Hazan & Singer (2011), "Adaptive
// subgradient methods for online learning and stochastic optimization",
// as torch.optim.Adagrad. With d = g + λ·θ and the running sum of squares
// S (state "sum"):
//
//	S ← S + d²
//	θ ← θ − η/(1 + (t−1)·κ) · d/(√S + ε)
//
// It returns an error for hyperparameters out of range.
func NewAdaGrad(params iter.Seq2[string, *autograd.Variable], cfg AdaGradConfig) (*Optimizer, error) {
	r := &adagradRule{decay: cfg.LRDecay, wd: cfg.WeightDecay, init0: cfg.InitialAccumulatorValue, eps: orDefault(cfg.Eps, 1e-10)}
	err := firstError(
		checkNonNeg("AdaGrad", "lr decay", r.decay),
		checkNonNeg("AdaGrad", "weight decay", r.wd),
		checkNonNeg("AdaGrad", "initial accumulator value", r.init0),
		checkNonNeg("AdaGrad", "eps", r.eps),
	)
	if err != nil {
		return nil, err
	}
	return newOptimizer(params, orDefault(cfg.LR, 1e-2), r)
}

type adagradRule struct{ decay, wd, init0, eps float64 }

func (*adagradRule) kind() string    { return "adagrad" }
func (*adagradRule) slots() []string { return []string{"sum"} }
func (r *adagradRule) init(s []*tensor.Tensor) {
	s[0].Fill(r.init0)
}
func (r *adagradRule) String() string {
	return fmt.Sprintf("AdaGrad(lr_decay=%v, weight_decay=%v, initial_accumulator_value=%v, eps=%v)", r.decay, r.wd, r.init0, r.eps)
}

func (r *adagradRule) update(p, g *tensor.Tensor, s []*tensor.Tensor, lr float64, t int) {
	clr := lr / (1 + float64(t-1)*r.decay)
	tensor.Dispatch(p, adagradStep[float32], adagradStep[float64])(p, g, s[0], clr, r.wd, r.eps)
}

func adagradStep[T float32 | float64](pt, gt, st *tensor.Tensor, clr, wd, eps float64) {
	p, g, sum := tensor.Values[T](pt), tensor.Values[T](gt), tensor.Values[T](st)
	nlr, w, e := T(-clr), T(wd), T(eps)
	for i, gi := range g {
		d := gi + w*p[i]
		sum[i] += d * d
		p[i] += nlr * d / (T(math.Sqrt(float64(sum[i]))) + e)
	}
}
