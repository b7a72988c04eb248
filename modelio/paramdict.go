package modelio

import (
	"fmt"
	"iter"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// ParamDict is a Module made of named parameters in the order they were
// added: a stand-in for layers kioku does not have, so that their tensors
// load from a PyTorch state dict with the same checks as any layer's. For
// PyTorch's nn.LayerNorm(D):
//
//	ln := modelio.NewParamDict()
//	gamma := ln.Add("weight", tensor.Float32, D)
//	beta := ln.Add("bias", tensor.Float32, D)
//	err := modelio.LoadStateDict(ln, file.Tensors, "norm.", nil)
//	y := fn.LayerNorm(x, gamma, beta, 1e-5)
type ParamDict struct {
	names []string
	vars  []*autograd.Variable
	index map[string]int
}

// NewParamDict returns an empty ParamDict.
func NewParamDict() *ParamDict { return &ParamDict{index: map[string]int{}} }

// Add appends a zero parameter of the given element type and shape named
// name, and returns it. It panics if name is empty or already taken.
func (d *ParamDict) Add(name string, dtype tensor.DType, shape ...int) *autograd.Variable {
	if name == "" {
		panic("modelio: ParamDict.Add with an empty name")
	}
	if _, dup := d.index[name]; dup {
		panic(fmt.Sprintf("modelio: ParamDict.Add(%q) twice", name))
	}
	v := autograd.NewParameter(tensor.New(dtype, shape...))
	v.Name = name
	d.index[name] = len(d.vars)
	d.names = append(d.names, name)
	d.vars = append(d.vars, v)
	return v
}

// Get returns the parameter named name, or nil.
func (d *ParamDict) Get(name string) *autograd.Variable {
	i, ok := d.index[name]
	if !ok {
		return nil
	}
	return d.vars[i]
}

// Params returns the parameters in the order they were added.
func (d *ParamDict) Params() []*autograd.Variable {
	return append([]*autograd.Variable(nil), d.vars...)
}

// NamedParams yields each parameter with its name, in the order they were
// added.
func (d *ParamDict) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) {
		for i, n := range d.names {
			if !yield(n, d.vars[i]) {
				return
			}
		}
	}
}
