// Package autograd is kioku's define-by-run automatic differentiation, in
// the manner of Chainer: the graph is recorded while the forward computation
// runs, so a loop over time steps is a plain Go loop, and Backward walks the
// recorded graph in reverse.
//
// A Variable holds a tensor (Data), its gradient (Grad) and the Node that
// created it. A Function computes outputs from inputs and, given the
// gradients of its outputs, the gradients of its inputs; Apply runs a
// Function on Variables and records a Node when any input requires a
// gradient. A Function may do as much work as it likes in one node — the
// fused LSTM cell and whole-sequence kernels are Functions with hand-written
// backward passes.
//
// # Modes
//
// kioku keeps no global or goroutine-local mode, so two goroutines can train
// and evaluate at once. Recording follows the data instead: a node is
// recorded only when some input requires a gradient (parameters do, input
// data does not). Inference on a model that several goroutines share runs
// on parameter twins — Detach gives a variable with the same Data that
// requires no gradient — which package nn's layers build as inference
// views, so that nothing is recorded and no flag is written. NoGrad runs a
// function with a set of parameters temporarily not requiring gradients,
// for code that has the parameters to itself. Whether stochastic functions (dropout) and
// batch normalisation behave as in training is a Mode value that those
// functions and the layers holding them take explicitly.
//
// # Truncated backpropagation through time
//
// The deck's loop — accumulate the loss over k steps, Backward, then
// UnchainBackward, then update — works as in Chainer: UnchainBackward cuts
// every creator link behind a variable, so the next chunk's graph starts at
// the carried state and the old graph becomes garbage.
package autograd

import (
	"fmt"

	"github.com/kioku-ml/kioku/tensor"
)

// Mode says whether stochastic functions and batch statistics behave as in
// training or as in evaluation. The zero value is Train.
type Mode uint8

const (
	// Train: dropout drops, batch normalisation uses and updates batch
	// statistics.
	Train Mode = iota
	// Eval: dropout is the identity, batch normalisation uses population
	// statistics.
	Eval
)

// String returns "train" or "eval".
func (m Mode) String() string {
	if m == Eval {
		return "eval"
	}
	return "train"
}

// Variable is a node of the computational graph: a tensor, its gradient and
// the Node that produced it (nil for leaves).
type Variable struct {
	// Data is the value. Functions never modify their inputs' Data.
	Data *tensor.Tensor
	// Grad is the gradient of the last Backward's output with respect to
	// Data. It is kept for variables that require a gradient and have no
	// creator (leaves, such as parameters), accumulating across Backward
	// calls until ClearGrad, and for variables marked with RetainGrad.
	Grad *tensor.Tensor
	// Name is an optional label, used in error messages and by layers to
	// name parameters.
	Name string

	requiresGrad bool
	retainGrad   bool
	creator      *Node
	generation   int
}

// NewVariable wraps data as a leaf that does not require a gradient, such as
// an input batch.
func NewVariable(data *tensor.Tensor) *Variable {
	if data == nil {
		panic("autograd: NewVariable with nil data")
	}
	return &Variable{Data: data}
}

// NewParameter wraps data as a leaf that requires a gradient, such as a
// weight matrix.
func NewParameter(data *tensor.Tensor) *Variable {
	if data == nil {
		panic("autograd: NewParameter with nil data")
	}
	return &Variable{Data: data, requiresGrad: true}
}

// Shape returns the shape of Data.
func (v *Variable) Shape() []int { return v.Data.Shape() }

// DType returns the element type of Data.
func (v *Variable) DType() tensor.DType { return v.Data.DType() }

// Size returns the number of elements of Data.
func (v *Variable) Size() int { return v.Data.Size() }

// RequiresGrad reports whether gradients flow to v.
func (v *Variable) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad turns gradient flow to a leaf on or off. It panics for a
// variable with a creator, whose flag follows from its inputs.
func (v *Variable) SetRequiresGrad(b bool) {
	if v.creator != nil {
		panic(fmt.Sprintf("autograd: SetRequiresGrad on non-leaf variable %q of shape %v", v.Name, v.Shape()))
	}
	v.requiresGrad = b
}

// RetainGrad asks Backward to keep v's gradient in Grad although v is not a
// leaf.
func (v *Variable) RetainGrad() { v.retainGrad = true }

// Creator returns the node that produced v, or nil for a leaf or a variable
// whose graph was cut.
func (v *Variable) Creator() *Node { return v.creator }

// ClearGrad zeroes v's gradient in place, keeping its storage for the next
// Backward.
func (v *Variable) ClearGrad() {
	if v.Grad != nil {
		v.Grad.Zero()
	}
}

// ClearGrads zeroes the gradients of vars, as Chainer's cleargrads does
// before each Backward.
func ClearGrads(vars []*Variable) {
	for _, v := range vars {
		v.ClearGrad()
	}
}

// Detach returns a leaf sharing v's Data that does not require a gradient:
// computations on it record nothing and no gradient flows back to v.
func (v *Variable) Detach() *Variable {
	return &Variable{Data: v.Data, Name: v.Name}
}

// Unchain cuts the link from v to its creator, making v a leaf. The graph
// behind v stays as it is for other variables that reach it.
func (v *Variable) Unchain() { v.creator = nil }

// UnchainBackward cuts every creator link in the graph behind v, including
// v's own, so that nothing reachable from v refers to the old graph and it
// can be collected. This is the truncation step of truncated BPTT: the
// carried state keeps its value but becomes a leaf.
func (v *Variable) UnchainBackward() {
	stack := []*Variable{v}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := x.creator
		x.creator = nil
		if n == nil {
			continue
		}
		stack = append(stack, n.inputs...)
		for _, o := range n.outputs {
			o.creator = nil
		}
		n.inputs, n.outputs, n.fn = nil, nil, nil
	}
}

// NoGrad runs f with every variable in vars not requiring a gradient, then
// restores their flags. Pass a model's parameters to evaluate it without
// recording a graph when nothing else uses the model: NoGrad writes the
// flags, so vars must not be used by another goroutine meanwhile, for
// inference or training. A model shared between goroutines runs inference
// on views instead, whose parameters are twins made with Detach (see the
// Inference methods of package nn's layers).
func NoGrad(vars []*Variable, f func()) {
	saved := make([]bool, len(vars))
	for i, v := range vars {
		saved[i] = v.requiresGrad
		v.requiresGrad = false
	}
	defer func() {
		for i, v := range vars {
			v.requiresGrad = saved[i]
		}
	}()
	f()
}
