// Package optim updates parameters from their gradients: the optimizers
// SGD, MomentumSGD (with Nesterov's variant), Adam, AdamW, RMSprop and
// AdaGrad; hooks that edit the gradients first (GradientClipping by global
// norm, GradientHardClipping, WeightDecay); and learning-rate schedules.
//
// The update rules and their default hyperparameters are PyTorch's
// torch.optim; each constructor's documentation gives its equations and
// the paper it comes from. All of them work on float32 and float64
// parameters; per-parameter state (moment estimates, momentum buffers)
// has the parameter's element type.
//
// # The training step
//
// An optimizer is built over a model's named parameters — for a model from
// package nn, nn.NamedParams(model); for bare variables, Named(w, b, …) —
// and a configuration. Each step is then, as in Chainer:
//
//	loss := …                 // forward
//	opt.ClearGrads()          // zero the gradients kept from the last step
//	loss.Backward()           // accumulate new ones
//	err := opt.Update()       // run the hooks, then update every parameter
//
// Update skips parameters whose Grad is nil (they took no part in any
// Backward) or that do not require a gradient (frozen).
//
// # Configuration and errors
//
// Hyperparameters usually come from flags or files, so every constructor
// validates them and returns an error naming the bad value: a negative
// learning rate, a β outside [0, 1), Nesterov momentum with dampening, and
// so on. Fields left at zero in a configuration take PyTorch's defaults;
// each configuration type lists them. Misuse in code — a parameter whose
// gradient has a different shape from its value — panics, as elsewhere in
// kioku.
//
// # Checkpoints
//
// State returns everything needed to resume: the learning rate, the step
// counters and the per-parameter buffers as named tensors
// ("<parameter>.exp_avg", …) with the scalars in a JSON-friendly struct.
// LoadState restores it into a fresh optimizer of the same kind over the
// same parameters, after which training continues exactly as if it had
// never stopped.
//
// An Optimizer is not safe for concurrent use.
package optim

import (
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// Param is a parameter with the name its optimizer state is kept under.
type Param struct {
	// Name identifies the parameter in State ("encoder.weight").
	Name string
	// Var is the parameter itself.
	Var *autograd.Variable
}

// Named returns vars as named parameters for an optimizer, in the given
// order: each is named by its Variable.Name, or by its index ("0", "1", …,
// as in a PyTorch optimizer's state_dict) when that is empty. For the
// parameters of an nn model use nn.NamedParams instead, which gives nested
// names.
func Named(vars ...*autograd.Variable) iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) {
		for i, v := range vars {
			name := strconv.Itoa(i)
			if v != nil && v.Name != "" {
				name = v.Name
			}
			if !yield(name, v) {
				return
			}
		}
	}
}

// rule is one optimisation algorithm: the per-parameter state it keeps and
// the update it makes.
type rule interface {
	// kind is the algorithm's name in State ("adam").
	kind() string
	// slots names the per-parameter state tensors, PyTorch's names.
	slots() []string
	// init sets the initial values of a parameter's state tensors (they
	// start at zero).
	init(bufs []*tensor.Tensor)
	// update changes p in place from its gradient g, its state bufs, the
	// learning rate and the parameter's step number t (1 on its first
	// update).
	update(p, g *tensor.Tensor, bufs []*tensor.Tensor, lr float64, t int)
	// String describes the hyperparameters other than the learning rate.
	String() string
}

// Optimizer updates a fixed, ordered list of parameters by one rule. Build
// one with NewSGD, NewMomentumSGD, NewAdam, NewAdamW, NewRMSprop or
// NewAdaGrad.
type Optimizer struct {
	rule   rule
	params []Param
	bufs   [][]*tensor.Tensor // bufs[i][k]: slot k of parameter i
	steps  []int              // updates made to each parameter
	hooks  []Hook
	lr     float64
	t      int // completed calls of Update
}

// newOptimizer collects and checks the parameters and allocates the state.
func newOptimizer(params iter.Seq2[string, *autograd.Variable], lr float64, r rule) (*Optimizer, error) {
	if err := checkLR(lr); err != nil {
		return nil, err
	}
	o := &Optimizer{rule: r, lr: lr}
	names := map[string]bool{}
	vars := map[*autograd.Variable]string{}
	if params == nil {
		return nil, fmt.Errorf("optim: %s got no parameters", r.kind())
	}
	for name, v := range params {
		i := len(o.params)
		switch {
		case name == "":
			return nil, fmt.Errorf("optim: parameter %d has no name", i)
		case v == nil:
			return nil, fmt.Errorf("optim: parameter %q is nil", name)
		case v.Data == nil:
			return nil, fmt.Errorf("optim: parameter %q has no data", name)
		case names[name]:
			return nil, fmt.Errorf("optim: two parameters are named %q", name)
		case vars[v] != "":
			return nil, fmt.Errorf("optim: parameters %q and %q are the same variable", vars[v], name)
		case v.DType() != tensor.Float32 && v.DType() != tensor.Float64:
			return nil, fmt.Errorf("optim: parameter %q has unsupported dtype %v", name, v.DType())
		}
		names[name], vars[v] = true, name
		o.params = append(o.params, Param{Name: name, Var: v})
		bufs := make([]*tensor.Tensor, len(r.slots()))
		for k := range bufs {
			bufs[k] = tensor.ZerosLike(v.Data)
		}
		r.init(bufs)
		o.bufs = append(o.bufs, bufs)
	}
	if len(o.params) == 0 {
		return nil, fmt.Errorf("optim: %s got an empty parameter list", r.kind())
	}
	o.steps = make([]int, len(o.params))
	return o, nil
}

func checkLR(lr float64) error {
	if !(lr >= 0) || math.IsInf(lr, 1) {
		return fmt.Errorf("optim: invalid learning rate %v; want a finite value ≥ 0", lr)
	}
	return nil
}

// Kind returns the name of the algorithm: "sgd", "momentum_sgd", "adam",
// "adamw", "rmsprop" or "adagrad".
func (o *Optimizer) Kind() string { return o.rule.kind() }

// String describes the optimizer and its hyperparameters, e.g.
// "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)".
func (o *Optimizer) String() string {
	s := o.rule.String()
	i := strings.IndexByte(s, '(')
	sep := ", "
	if strings.HasSuffix(s, "()") {
		sep = ""
	}
	return fmt.Sprintf("%s(lr=%v%s%s", s[:i], o.lr, sep, s[i+1:])
}

// LR returns the learning rate.
func (o *Optimizer) LR() float64 { return o.lr }

// SetLR sets the learning rate, as a schedule does at the start of each
// epoch. It panics for a negative, infinite or NaN rate.
func (o *Optimizer) SetLR(lr float64) {
	if err := checkLR(lr); err != nil {
		panic(err.Error())
	}
	o.lr = lr
}

// Steps returns the number of completed calls of Update.
func (o *Optimizer) Steps() int { return o.t }

// Params returns the parameters in their fixed order. The slice is a
// copy.
func (o *Optimizer) Params() []Param { return append([]Param(nil), o.params...) }

// AddHook appends h to the hooks that Update runs, in order, before
// changing the parameters.
func (o *Optimizer) AddHook(h Hook) {
	if h == nil {
		panic("optim: AddHook(nil)")
	}
	o.hooks = append(o.hooks, h)
}

// ClearGrads zeroes the gradients of all parameters in place, keeping
// their storage (autograd.ClearGrads). Call it before each Backward.
func (o *Optimizer) ClearGrads() {
	for _, p := range o.params {
		p.Var.ClearGrad()
	}
}

// Update performs one optimisation step. The parameters taking part are
// those with a non-nil Grad that require a gradient. The hooks run first,
// in the order they were added, on those parameters; if one returns an
// error, Update stops and returns it wrapped, leaving every parameter, the
// state and the step counters as they were (though hooks that ran before
// it may have changed the gradients). Otherwise each parameter is updated
// by the rule and the counters advance.
func (o *Optimizer) Update() error {
	active := make([]Param, 0, len(o.params))
	index := make([]int, 0, len(o.params))
	for i, p := range o.params {
		if p.Var.Grad == nil || !p.Var.RequiresGrad() {
			continue
		}
		g, d := p.Var.Grad, p.Var.Data
		if !g.SameShape(d) || g.DType() != d.DType() {
			panic(fmt.Sprintf("optim: parameter %q is %v %v but its gradient is %v %v", p.Name, d.DType(), d.Shape(), g.DType(), g.Shape()))
		}
		if bufs := o.bufs[i]; len(bufs) > 0 && (!bufs[0].SameShape(d) || bufs[0].DType() != d.DType()) {
			panic(fmt.Sprintf("optim: parameter %q is now %v %v but its optimizer state is %v %v", p.Name, d.DType(), d.Shape(), bufs[0].DType(), bufs[0].Shape()))
		}
		active = append(active, p)
		index = append(index, i)
	}
	for _, h := range o.hooks {
		if err := h.BeforeUpdate(active); err != nil {
			return fmt.Errorf("optim: update %d skipped: %w", o.t+1, err)
		}
	}
	for k, p := range active {
		i := index[k]
		o.steps[i]++
		o.rule.update(p.Var.Data, p.Var.Grad, o.bufs[i], o.lr, o.steps[i])
	}
	o.t++
	return nil
}
