package autograd

import (
	"container/heap"
	"fmt"

	"github.com/kioku-ml/kioku/tensor"
)

// Function is a differentiable operation. Implementations keep whatever
// they need for the backward pass (masks, workspaces) in their own fields;
// a Function value is used for one application only.
type Function interface {
	// Forward computes the outputs from the inputs' data. It must not
	// modify the inputs.
	Forward(inputs []*tensor.Tensor) []*tensor.Tensor
	// Backward returns the gradients of the inputs given the inputs, the
	// outputs computed by Forward, and the gradients of the outputs. gy[i]
	// is nil when output i received no gradient (only possible with several
	// outputs). need[i] reports whether input i requires a gradient; the
	// returned slice has one entry per input, nil where not needed.
	// Backward must not modify gy, inputs or outputs; the returned tensors
	// may alias gy.
	Backward(inputs, outputs, gy []*tensor.Tensor, need []bool) []*tensor.Tensor
}

// GradAccumulator is implemented by Functions that can add the gradient of
// an input straight into a buffer instead of returning it. Backward uses
// it for leaves whose Grad already exists (from the second step on, since
// ClearGrads keeps the buffers): a linear layer's weight gradient is then
// a product accumulated into Grad, an embedding's a scatter-add into
// Grad, with no temporary the size of the parameter and no separate pass
// adding it.
type GradAccumulator interface {
	Function
	// BackwardInto is Backward, except that for an input i with into[i]
	// non-nil (only where need[i]) it may add the gradient to into[i] — a
	// tensor of the input's shape and type that aliases none of the
	// arguments — and return nil in its place; it may also ignore into[i]
	// and return the gradient as Backward does.
	BackwardInto(inputs, outputs, gy, into []*tensor.Tensor, need []bool) []*tensor.Tensor
}

// Node records one application of a Function in the graph.
type Node struct {
	fn         Function
	inputs     []*Variable
	outputs    []*Variable
	generation int
}

// Function returns the function the node applied (nil once the graph was
// unchained).
func (n *Node) Function() Function { return n.fn }

// Inputs returns the node's input variables (nil once unchained).
func (n *Node) Inputs() []*Variable { return n.inputs }

// Apply runs f on the inputs and returns its outputs as variables. When any
// input requires a gradient, a node is recorded so that Backward can reach
// the inputs; otherwise the outputs are leaves and nothing is kept.
func Apply(f Function, inputs ...*Variable) []*Variable {
	xs := make([]*tensor.Tensor, len(inputs))
	record := false
	gen := 0
	for i, x := range inputs {
		if x == nil {
			panic(fmt.Sprintf("autograd: input %d of %T is nil", i, f))
		}
		xs[i] = x.Data
		if x.requiresGrad {
			record = true
		}
		gen = max(gen, x.generation)
	}
	ys := f.Forward(xs)
	outs := make([]*Variable, len(ys))
	for i, y := range ys {
		outs[i] = &Variable{Data: y}
	}
	if !record {
		return outs
	}
	n := &Node{fn: f, inputs: inputs, outputs: outs, generation: gen}
	for _, o := range outs {
		o.creator = n
		o.requiresGrad = true
		o.generation = gen + 1
	}
	return outs
}

// Apply1 is Apply for functions with exactly one output.
func Apply1(f Function, inputs ...*Variable) *Variable {
	outs := Apply(f, inputs...)
	if len(outs) != 1 {
		panic(fmt.Sprintf("autograd: Apply1 on %T, which returned %d outputs", f, len(outs)))
	}
	return outs[0]
}

// gradEntry is a gradient being accumulated during one backward pass.
// owned says the tensor was allocated by the accumulation and may be
// updated in place.
type gradEntry struct {
	g     *tensor.Tensor
	owned bool
}

// nodeHeap orders nodes by decreasing generation, so a node is processed
// only after every node that consumes its outputs.
type nodeHeap []*Node

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return h[i].generation > h[j].generation }
func (h nodeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)        { *h = append(*h, x.(*Node)) }
func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}

// Backward computes the gradient of v with respect to every variable in its
// graph that requires one. If v.Grad is nil, v must hold a single element
// and its gradient is taken as 1. Gradients of leaves accumulate into their
// Grad (call ClearGrads between steps); gradients of intermediate variables
// are discarded unless RetainGrad was called. The graph is kept, so
// Backward may be called again; UnchainBackward releases it.
func (v *Variable) Backward() {
	seed := v.Grad
	if seed == nil {
		if v.Size() != 1 {
			panic(fmt.Sprintf("autograd: Backward from a variable of shape %v needs its Grad set; only one-element variables get an implicit gradient of 1", v.Shape()))
		}
		seed = tensor.New(v.DType(), v.Shape()...)
		seed.Fill(1)
	} else if !seed.SameShape(v.Data) || seed.DType() != v.DType() {
		panic(fmt.Sprintf("autograd: Backward with Grad %v %v for data %v %v", seed.DType(), seed.Shape(), v.DType(), v.Shape()))
	}
	if v.creator == nil {
		if v.requiresGrad && v.Grad == nil {
			v.Grad = seed
		}
		return
	}
	grads := map[*Variable]*gradEntry{v: {g: seed}}
	h := nodeHeap{v.creator}
	seen := map[*Node]bool{v.creator: true}
	for len(h) > 0 {
		n := heap.Pop(&h).(*Node)
		if n.fn == nil {
			continue // unchained meanwhile
		}
		gy := make([]*tensor.Tensor, len(n.outputs))
		ys := make([]*tensor.Tensor, len(n.outputs))
		any := false
		for i, o := range n.outputs {
			ys[i] = o.Data
			if e := grads[o]; e != nil {
				gy[i] = e.g
				any = true
				delete(grads, o)
				if o.retainGrad {
					o.Grad = e.g
				}
			}
		}
		if !any {
			continue
		}
		xs := make([]*tensor.Tensor, len(n.inputs))
		need := make([]bool, len(n.inputs))
		for i, x := range n.inputs {
			xs[i] = x.Data
			need[i] = x.requiresGrad
		}
		var gx []*tensor.Tensor
		if acc, ok := n.fn.(GradAccumulator); ok {
			if into := leafSinks(n.inputs, need); into != nil {
				gx = acc.BackwardInto(xs, ys, gy, into, need)
			}
		}
		if gx == nil {
			gx = n.fn.Backward(xs, ys, gy, need)
		}
		if len(gx) != len(n.inputs) {
			panic(fmt.Sprintf("autograd: %T.Backward returned %d gradients for %d inputs", n.fn, len(gx), len(n.inputs)))
		}
		for i, x := range n.inputs {
			g := gx[i]
			if g == nil || !need[i] {
				continue
			}
			if !g.SameShape(x.Data) || g.DType() != x.DType() {
				panic(fmt.Sprintf("autograd: %T.Backward returned gradient %v %v for input %d of %v %v", n.fn, g.DType(), g.Shape(), i, x.DType(), x.Shape()))
			}
			if x.creator == nil {
				accumulateLeaf(x, g)
				continue
			}
			if e := grads[x]; e != nil {
				if !e.owned {
					e.g, e.owned = e.g.Clone(), true
				}
				addInto(e.g, g)
			} else {
				grads[x] = &gradEntry{g: g}
			}
			if !seen[x.creator] {
				seen[x.creator] = true
				heap.Push(&h, x.creator)
			}
		}
	}
}

// leafSinks returns, for a node's inputs, the Grad of each leaf that needs
// a gradient, has one allocated (of its shape and type) and appears only
// once among the inputs (nil elsewhere), or nil when there is none.
func leafSinks(inputs []*Variable, need []bool) []*tensor.Tensor {
	var into []*tensor.Tensor
	for i, x := range inputs {
		if !need[i] || x.creator != nil || x.Grad == nil || !x.Grad.SameShape(x.Data) || x.Grad.DType() != x.DType() {
			continue
		}
		once := true
		for j, y := range inputs {
			if j != i && y == x {
				once = false
			}
		}
		if !once {
			continue
		}
		if into == nil {
			into = make([]*tensor.Tensor, len(inputs))
		}
		into[i] = x.Grad
	}
	return into
}

// accumulateLeaf adds g to the persistent gradient of a leaf, copying it the
// first time so that Grad never aliases a tensor owned by a function.
func accumulateLeaf(x *Variable, g *tensor.Tensor) {
	if x.Grad == nil {
		x.Grad = g.Clone()
		return
	}
	addInto(x.Grad, g)
}

// addInto computes dst += src for tensors of equal size and type.
func addInto(dst, src *tensor.Tensor) { dst.Axpy(1, src) }
