package nn

import (
	"iter"

	"github.com/kioku-ml/kioku/autograd"
)

// Module is a layer or a model: something that holds parameters.
//
// A layer names each of its parameters in Variable.Name with PyTorch's
// name for it within the layer — "weight", "bias", "weight_ih_l0" — so
// that a state_dict maps one to one. A model made of named sub-modules
// also implements Parent, which gives nested parameters dotted names such
// as "encoder.weight_ih_l0".
type Module interface {
	// Params returns every parameter of the module, its sub-modules'
	// included, in a fixed order: the order optimizers and checkpoints
	// use.
	Params() []*autograd.Variable
}

// Parent is a Module made of named sub-modules (and perhaps parameters of
// its own). NamedParams yields each parameter with its name relative to
// the module, in the order of Params; Sub and Join build it:
//
//	type Tagger struct {
//		Embed *nn.Embedding
//		RNN   *nn.NStepLSTM
//		Out   *nn.Linear
//	}
//
//	func (m *Tagger) NamedParams() iter.Seq2[string, *autograd.Variable] {
//		return nn.Join(nn.Sub("embed", m.Embed), nn.Sub("rnn", m.RNN), nn.Sub("out", m.Out))
//	}
//
//	func (m *Tagger) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }
//
// gives "embed.weight", "rnn.weight_ih_l0", …, "out.bias", as the same
// model's named_parameters() would in PyTorch. A model whose sub-modules
// hold buffers (batch normalisation's running statistics) also implements
// Buffered, with SubBuffers in place of Sub, so that checkpoints save them.
type Parent interface {
	Module
	NamedParams() iter.Seq2[string, *autograd.Variable]
}

// NamedParams returns the parameters of m with their names, in the order
// of m.Params(): those m's NamedParams method gives if m is a Parent, and
// otherwise each parameter's Variable.Name. It is PyTorch's
// named_parameters(); pass it to an optimizer from package optim, or range
// over it:
//
//	for name, p := range nn.NamedParams(model) {
//		fmt.Println(name, p.Shape())
//	}
func NamedParams(m Module) iter.Seq2[string, *autograd.Variable] {
	if p, ok := m.(Parent); ok {
		return p.NamedParams()
	}
	return func(yield func(string, *autograd.Variable) bool) {
		for _, v := range m.Params() {
			if !yield(v.Name, v) {
				return
			}
		}
	}
}

// Sub returns the named parameters of the sub-module m held by a parent
// under name: each name becomes "name.<name in m>".
func Sub(name string, m Module) iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) {
		for n, v := range NamedParams(m) {
			if !yield(name+"."+n, v) {
				return
			}
		}
	}
}

// Join yields the pairs of each sequence in turn: named parameters (Sub)
// or named buffers (SubBuffers).
func Join[V any](seqs ...iter.Seq2[string, V]) iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for _, s := range seqs {
			for n, v := range s {
				if !yield(n, v) {
					return
				}
			}
		}
	}
}

// Vars collects the parameters of a named sequence, in order, dropping
// the names: the Params method of a Parent.
func Vars(seq iter.Seq2[string, *autograd.Variable]) []*autograd.Variable {
	var vs []*autograd.Variable
	for _, v := range seq {
		vs = append(vs, v)
	}
	return vs
}

// NumParams returns the number of scalar parameters of m: the sum of the
// sizes of its parameters.
func NumParams(m Module) int {
	n := 0
	for _, v := range m.Params() {
		n += v.Size()
	}
	return n
}
