package optim

import (
	"fmt"
	"maps"
	"slices"

	"github.com/kioku-ml/kioku/tensor"
)

// State is an optimizer's state for a checkpoint: the scalars, which
// encode as a small JSON object, and the per-parameter tensors, which are
// not encoded with them (write them to a tensor file such as
// safetensors).
type State struct {
	// Kind is the algorithm (Optimizer.Kind), checked on load.
	Kind string `json:"kind"`
	// LR is the learning rate.
	LR float64 `json:"lr"`
	// Steps is the number of completed updates (Optimizer.Steps).
	Steps int `json:"steps"`
	// ParamSteps holds the number of updates made to each parameter, by
	// name; Adam's bias correction and AdaGrad's rate decay use it.
	ParamSteps map[string]int `json:"param_steps"`
	// Tensors holds each parameter's state tensors under
	// "<parameter>.<slot>", with PyTorch's slot names: "exp_avg",
	// "exp_avg_sq", "max_exp_avg_sq" (Adam, AdamW), "momentum_buffer"
	// (MomentumSGD, RMSprop), "square_avg", "grad_avg" (RMSprop), "sum"
	// (AdaGrad). SGD has none.
	Tensors map[string]*tensor.Tensor `json:"-"`
}

// TensorNames returns the names of the tensors in sorted order.
func (s *State) TensorNames() []string { return slices.Sorted(maps.Keys(s.Tensors)) }

// State returns a copy of the optimizer's state: later updates do not
// change it.
func (o *Optimizer) State() *State {
	s := &State{
		Kind:       o.rule.kind(),
		LR:         o.lr,
		Steps:      o.t,
		ParamSteps: make(map[string]int, len(o.params)),
		Tensors:    map[string]*tensor.Tensor{},
	}
	slots := o.rule.slots()
	for i, p := range o.params {
		s.ParamSteps[p.Name] = o.steps[i]
		for k, slot := range slots {
			s.Tensors[p.Name+"."+slot] = o.bufs[i][k].Clone()
		}
	}
	return s
}

// LoadState replaces the optimizer's learning rate, counters and
// per-parameter tensors with copies of those in s, which must come from
// an optimizer of the same kind and configuration over parameters of the
// same names and shapes. Tensors of the other element type are converted.
// It returns an error, changing nothing, when s is of another kind, when a
// name is missing or unexpected, when a shape differs, or when a value is
// out of range.
func (o *Optimizer) LoadState(s *State) error {
	if s == nil {
		return fmt.Errorf("optim: LoadState(nil)")
	}
	if s.Kind != o.rule.kind() {
		return fmt.Errorf("optim: state of a %q optimizer loaded into %q", s.Kind, o.rule.kind())
	}
	if checkLR(s.LR) != nil {
		return fmt.Errorf("optim: state has learning rate %v; want a finite value ≥ 0", s.LR)
	}
	if s.Steps < 0 {
		return fmt.Errorf("optim: state has %d steps", s.Steps)
	}
	slots := o.rule.slots()
	known := make(map[string]bool, len(o.params))
	wantTensors := make(map[string]bool, len(o.params)*len(slots))
	for i, p := range o.params {
		known[p.Name] = true
		n, ok := s.ParamSteps[p.Name]
		switch {
		case !ok:
			return fmt.Errorf("optim: state has no step count for parameter %q", p.Name)
		case n < 0 || n > s.Steps:
			return fmt.Errorf("optim: state has step count %d for parameter %q, outside [0, %d]", n, p.Name, s.Steps)
		}
		for k, slot := range slots {
			name := p.Name + "." + slot
			wantTensors[name] = true
			t, ok := s.Tensors[name]
			switch {
			case !ok || t == nil:
				return fmt.Errorf("optim: state has no tensor %q", name)
			case !t.SameShape(o.bufs[i][k]):
				return fmt.Errorf("optim: state tensor %q has shape %v; parameter %q has shape %v", name, t.Shape(), p.Name, o.bufs[i][k].Shape())
			case t.DType() != tensor.Float32 && t.DType() != tensor.Float64:
				return fmt.Errorf("optim: state tensor %q has unsupported dtype %v", name, t.DType())
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.ParamSteps)) {
		if !known[name] {
			return fmt.Errorf("optim: state has a step count for unknown parameter %q", name)
		}
	}
	for _, name := range s.TensorNames() {
		if !wantTensors[name] {
			return fmt.Errorf("optim: state has unexpected tensor %q", name)
		}
	}
	// Everything checked: apply.
	for i, p := range o.params {
		o.steps[i] = s.ParamSteps[p.Name]
		for k, slot := range slots {
			o.bufs[i][k].CopyFrom(s.Tensors[p.Name+"."+slot].AsType(o.bufs[i][k].DType()))
		}
	}
	o.lr, o.t = s.LR, s.Steps
	return nil
}
