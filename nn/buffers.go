package nn

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"

	"github.com/kioku-ml/kioku/tensor"
)

// Buffer is one buffer of a module: state that belongs to the module
// and is saved with it but is not trained, as the running statistics of
// batch normalisation (PyTorch's register_buffer).
type Buffer interface {
	// Value returns a copy of the buffer's current contents.
	Value() *tensor.Tensor
	// Set replaces the contents with t's values. It returns an error, and
	// changes nothing, when t does not fit: a wrong shape, or values the
	// buffer cannot hold (a negative variance, a fractional count).
	Set(t *tensor.Tensor) error
}

// Buffered is a Module with buffers. NamedBuffers yields each buffer with
// its name relative to the module, in a fixed order; the names share one
// namespace with the parameters' (package modelio saves both in one
// state dict). A layer names its buffers as PyTorch does where PyTorch
// has them ("running_mean"); a model made of named sub-modules composes
// theirs with SubBuffers and Join, as NamedParams does with Sub:
//
//	func (m *Tagger) NamedBuffers() iter.Seq2[string, nn.Buffer] {
//		return nn.Join(nn.SubBuffers("embed", m.Embed), nn.SubBuffers("rnn", m.RNN), nn.SubBuffers("out", m.Out))
//	}
//
// A parent that does not implement Buffered has no buffers as far as
// checkpoints are concerned, whatever its sub-modules hold.
type Buffered interface {
	Module
	NamedBuffers() iter.Seq2[string, Buffer]
}

// NamedBuffers returns the buffers of m with their names: those of m's
// NamedBuffers method if m is Buffered, and none otherwise. It is
// PyTorch's named_buffers().
func NamedBuffers(m Module) iter.Seq2[string, Buffer] {
	if b, ok := m.(Buffered); ok {
		return b.NamedBuffers()
	}
	return func(func(string, Buffer) bool) {}
}

// SubBuffers returns the named buffers of the sub-module m held by a
// parent under name: each name becomes "name.<name in m>". Modules
// without buffers give none, so a parent may list every sub-module.
func SubBuffers(name string, m Module) iter.Seq2[string, Buffer] {
	return func(yield func(string, Buffer) bool) {
		for n, b := range NamedBuffers(m) {
			if !yield(name+"."+n, b) {
				return
			}
		}
	}
}

// SetBuffer sets the buffer of m named name (as NamedBuffers names it)
// to t's values. It returns an error naming the buffer for an unknown
// name or a tensor that does not fit, and then changes nothing.
func SetBuffer(m Module, name string, t *tensor.Tensor) error {
	var names []string
	for n, b := range NamedBuffers(m) {
		if n == name {
			if t == nil {
				return fmt.Errorf("nn: SetBuffer %s: nil tensor", name)
			}
			return b.Set(t)
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return fmt.Errorf("nn: no buffer named %q (the module has no buffers)", name)
	}
	return fmt.Errorf("nn: no buffer named %q (buffers: %s)", name, strings.Join(names, ", "))
}

// TensorBuffer returns a Buffer named name (for error messages) kept in
// t, for modules of one's own: Value copies t; Set copies into t, in t's
// element type, a tensor of the same shape with finite values.
func TensorBuffer(name string, t *tensor.Tensor) Buffer { return tensorBuffer{name, t} }

type tensorBuffer struct {
	name string
	t    *tensor.Tensor
}

// Value returns a copy of the tensor.
func (b tensorBuffer) Value() *tensor.Tensor { return b.t.Clone() }

// Set copies t into the tensor if the shapes are equal.
func (b tensorBuffer) Set(t *tensor.Tensor) error {
	if err := checkBufferShape(b.name, t, b.t.Shape()); err != nil {
		return err
	}
	if err := checkBufferValues(b.name, t, false, false); err != nil {
		return err
	}
	b.t.CopyFrom(t.AsType(b.t.DType()))
	return nil
}

// funcBuffer is a Buffer made of two functions.
type funcBuffer struct {
	value func() *tensor.Tensor
	set   func(t *tensor.Tensor) error
}

// Value returns the buffer's contents.
func (b funcBuffer) Value() *tensor.Tensor { return b.value() }

// Set replaces the buffer's contents.
func (b funcBuffer) Set(t *tensor.Tensor) error { return b.set(t) }

// checkBufferShape returns an error unless t has the given shape.
func checkBufferShape(name string, t *tensor.Tensor, want []int) error {
	if t == nil {
		return fmt.Errorf("nn: buffer %s: nil tensor", name)
	}
	if !slices.Equal(t.Shape(), want) {
		return fmt.Errorf("nn: buffer %s has shape %v, want %v", name, shapeOf(t.Shape()), shapeOf(want))
	}
	return nil
}

// checkBufferValues returns an error if a value of t is not finite, or,
// with nonNegative, negative, or, with integer, not a whole number.
func checkBufferValues(name string, t *tensor.Tensor, nonNegative, integer bool) error {
	for i, v := range t.Values() {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return fmt.Errorf("nn: buffer %s: value %d is %v", name, i, v)
		case nonNegative && v < 0:
			return fmt.Errorf("nn: buffer %s: value %d is negative (%v)", name, i, v)
		case integer && (v != math.Trunc(v) || v > 1<<53):
			return fmt.Errorf("nn: buffer %s: value %d (%v) is not a count", name, i, v)
		}
	}
	return nil
}

// shapeOf prints a shape, [] for a scalar.
func shapeOf(s []int) string {
	if s == nil {
		s = []int{}
	}
	return fmt.Sprint(s)
}
