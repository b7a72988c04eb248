// Package fn holds kioku's differentiable functions: arithmetic with
// broadcasting, matrix products, reductions, shape manipulation,
// activations, softmax and losses, embedding lookup, where and dropout.
//
// Each function takes and returns *autograd.Variable and is implemented as
// an autograd.Function with a hand-written backward pass, checked against
// finite differences in float64 (see package autograd/gradcheck). All
// functions work in float32 and float64; the inputs of one call must share
// an element type. Shape and type mismatches are programmer errors and
// panic with a message naming the shapes.
//
// Broadcasting is deliberately narrow, covering what recurrent networks
// need: in a binary elementwise function one operand may have a shape that
// is a suffix of the other's (a row broadcast over a batch, for example a
// bias of shape (H) against (B, H)), or hold a single element.
package fn

import (
	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

type (
	// Variable is autograd.Variable, aliased for brevity in signatures.
	Variable = autograd.Variable
)

// sameType panics unless all tensors share one element type.
func sameType(op string, ts ...*tensor.Tensor) { tensor.CheckDTypes("fn", op, ts...) }

// newLike returns a zero tensor with t's element type and the given shape.
func newLike(t *tensor.Tensor, shape ...int) *tensor.Tensor {
	return tensor.New(t.DType(), shape...)
}

// one wraps a single tensor in a slice.
func one(t *tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{t} }
