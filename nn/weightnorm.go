package nn

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// ParamSetter is a Module whose parameters can be replaced by computed
// variables, as weight normalisation needs. SetParam replaces the parameter
// named name (as in Params) with v, which must have the same shape.
type ParamSetter interface {
	Module
	SetParam(name string, v *autograd.Variable) error
}

// setIn replaces, among the pointers ps, the variable named name by v.
func setIn(ps []**autograd.Variable, name string, v *autograd.Variable) error {
	for _, p := range ps {
		if *p != nil && (*p).Name == name {
			if !slices.Equal((*p).Shape(), v.Shape()) {
				return fmt.Errorf("nn: SetParam %s: shape %v, want %v", name, v.Shape(), (*p).Shape())
			}
			v.Name = name
			*p = v
			return nil
		}
	}
	return fmt.Errorf("nn: no parameter named %q", name)
}

func weightRefs(w *fn.RecurrentWeights) []**autograd.Variable {
	return []**autograd.Variable{&w.WIH, &w.WHH, &w.BIH, &w.BHH, &w.Peephole, &w.NormIH, &w.NormHH, &w.NormC, &w.NormCBias}
}

// SetParam replaces the parameter named name; see ParamSetter.
func (s *stack) SetParam(name string, v *autograd.Variable) error {
	var refs []**autograd.Variable
	for l := range s.weights {
		for d := range s.weights[l] {
			refs = append(refs, weightRefs(&s.weights[l][d])...)
		}
	}
	return setIn(refs, name, v)
}

// SetParam replaces the parameter named name; see ParamSetter.
func (l *LSTM) SetParam(name string, v *autograd.Variable) error {
	return setIn(weightRefs(&l.W), name, v)
}

// SetParam replaces the parameter named name; see ParamSetter.
func (l *PeepholeLSTM) SetParam(name string, v *autograd.Variable) error {
	refs := weightRefs(&l.W)
	for k := range l.Peep {
		refs = append(refs, &l.Peep[k])
	}
	return setIn(refs, name, v)
}

// SetParam replaces the parameter named name; see ParamSetter.
func (l *GRU) SetParam(name string, v *autograd.Variable) error {
	return setIn(weightRefs(&l.W), name, v)
}

// SetParam replaces the parameter named name; see ParamSetter.
func (l *RNN) SetParam(name string, v *autograd.Variable) error {
	return setIn(weightRefs(&l.W), name, v)
}

// SetParam replaces "weight" or "bias"; see ParamSetter.
func (l *Linear) SetParam(name string, v *autograd.Variable) error {
	return setIn([]**autograd.Variable{&l.Weight, &l.Bias}, name, v)
}

// WeightNorm reparameterises weights of a layer as w = g·v/‖v‖ with one
// norm per output row (Salimans & Kingma 2016), like PyTorch's
// torch.nn.utils.weight_norm: each wrapped weight "name" is replaced by the
// parameters "name_g" (Out) and "name_v" (the weight's shape), initialised
// so that w is unchanged. WeightNorm is itself a Module: its Params are the
// layer's other parameters and the g, v pairs, and are what an optimizer
// should update.
//
// Call Apply before each forward pass (or each truncated-BPTT chunk): it
// computes every w from its g and v as a graph node and installs it in the
// layer, so gradients reach g and v exactly.
type WeightNorm struct {
	layer   ParamSetter
	targets []wnTarget
}

type wnTarget struct {
	name string
	g, v *autograd.Variable
}

// NewWeightNorm wraps the weights of layer with the given names (for
// example "weight", or "weight_ih_l0" and "weight_hh_l0"). It returns an
// error for an unknown name, a weight with fewer than two dimensions, or a
// zero row.
func NewWeightNorm(layer ParamSetter, names ...string) (*WeightNorm, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("nn: WeightNorm of no weights")
	}
	w := &WeightNorm{layer: layer}
	for _, name := range names {
		var p *autograd.Variable
		for _, q := range layer.Params() {
			if q.Name == name {
				p = q
			}
		}
		if p == nil {
			return nil, fmt.Errorf("nn: WeightNorm: no parameter named %q", name)
		}
		if p.Data.NDim() < 2 {
			return nil, fmt.Errorf("nn: WeightNorm: %s has shape %v; it needs at least two dimensions", name, p.Shape())
		}
		v := autograd.NewParameter(p.Data.Clone())
		v.Name = name + "_v"
		g := autograd.NewParameter(tensor.New(p.DType(), p.Data.Dim(0)))
		g.Name = name + "_g"
		for r := 0; r < p.Data.Dim(0); r++ {
			n := math.Sqrt(p.Data.Index(r).SumSquares())
			if n == 0 {
				return nil, fmt.Errorf("nn: WeightNorm: row %d of %s is zero", r, name)
			}
			g.Data.SetFlat(r, n)
		}
		w.targets = append(w.targets, wnTarget{name: name, g: g, v: v})
	}
	w.Apply()
	return w, nil
}

// Apply computes each wrapped weight from its g and v and installs it in
// the layer.
func (w *WeightNorm) Apply() {
	for _, t := range w.targets {
		if err := w.layer.SetParam(t.name, fn.WeightNorm(t.v, t.g)); err != nil {
			panic(err) // the names were checked by NewWeightNorm
		}
	}
}

// NamedParams yields the layer's parameters with each wrapped weight
// replaced by its name_g and name_v.
func (w *WeightNorm) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) {
		for name, p := range NamedParams(w.layer) {
			k := slices.IndexFunc(w.targets, func(t wnTarget) bool { return t.name == name || strings.HasSuffix(name, "."+t.name) })
			if k < 0 {
				if !yield(name, p) {
					return
				}
				continue
			}
			if !yield(name+"_g", w.targets[k].g) || !yield(name+"_v", w.targets[k].v) {
				return
			}
		}
	}
}

// Params returns the parameters of NamedParams.
func (w *WeightNorm) Params() []*autograd.Variable { return Vars(w.NamedParams()) }

// NamedBuffers yields the wrapped layer's buffers, under the same names.
func (w *WeightNorm) NamedBuffers() iter.Seq2[string, Buffer] { return NamedBuffers(w.layer) }
