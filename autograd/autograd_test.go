package autograd_test

import (
	"runtime"
	"slices"
	"testing"
	"weak"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

func scalar(v float64) *tensor.Tensor { return tensor.FromFloat64([]float64{v}) }

func TestBackwardAccumulatesOverMultipleUses(t *testing.T) {
	// y = x*x + x  → dy/dx = 2x + 1
	x := autograd.NewParameter(scalar(3))
	y := fn.Add(fn.Mul(x, x), x)
	y.Backward()
	if got := x.Grad.Item(); got != 7 {
		t.Fatalf("dy/dx = %v, want 7", got)
	}
	// A second Backward accumulates into leaves until cleared.
	y.Backward()
	if got := x.Grad.Item(); got != 14 {
		t.Fatalf("after second Backward dy/dx = %v, want 14", got)
	}
	autograd.ClearGrads([]*autograd.Variable{x})
	if got := x.Grad.Item(); got != 0 {
		t.Fatalf("after ClearGrads grad = %v", got)
	}
}

func TestBackwardDiamond(t *testing.T) {
	// a = 2x, b = 3x, y = a*b = 6x² → dy/dx = 12x, through a diamond.
	x := autograd.NewParameter(scalar(2))
	a := fn.MulScalar(x, 2)
	b := fn.MulScalar(x, 3)
	y := fn.Mul(a, b)
	a.RetainGrad()
	y.Backward()
	if got := x.Grad.Item(); got != 24 {
		t.Fatalf("dy/dx = %v, want 24", got)
	}
	if a.Grad == nil || a.Grad.Item() != 6 { // dy/da = b = 6
		t.Fatalf("retained dy/da = %v, want 6", a.Grad)
	}
	if b.Grad != nil {
		t.Fatal("gradient of an intermediate kept without RetainGrad")
	}
}

func TestLeafGradDoesNotAlias(t *testing.T) {
	// Add passes its output gradient through to both inputs; the leaves must
	// still get separate tensors, or clipping one would scale the other.
	a := autograd.NewParameter(scalar(1))
	b := autograd.NewParameter(scalar(2))
	fn.Add(a, b).Backward()
	a.Grad.Scale(10)
	if b.Grad.Item() != 1 {
		t.Fatalf("b.Grad = %v after scaling a.Grad; grads alias", b.Grad.Item())
	}
}

func TestNoRecordWithoutRequiresGrad(t *testing.T) {
	x := autograd.NewVariable(scalar(1))
	y := fn.Exp(x)
	if y.Creator() != nil || y.RequiresGrad() {
		t.Fatal("a graph was recorded for inputs that do not require grad")
	}
	w := autograd.NewParameter(scalar(2))
	autograd.NoGrad([]*autograd.Variable{w}, func() {
		if z := fn.Mul(w, x); z.Creator() != nil {
			t.Fatal("NoGrad recorded a graph")
		}
	})
	if !w.RequiresGrad() {
		t.Fatal("NoGrad did not restore RequiresGrad")
	}
	if z := fn.Mul(w, x); z.Creator() == nil {
		t.Fatal("no graph recorded after NoGrad")
	}
}

func TestDetach(t *testing.T) {
	w := autograd.NewParameter(scalar(2))
	d := w.Detach()
	y := fn.Mul(d, w) // only the second factor carries a gradient
	y.Backward()
	if got := w.Grad.Item(); got != 2 {
		t.Fatalf("grad through detached factor: %v, want 2", got)
	}
}

// TestUnchainBackwardStopsAtCut runs the deck's truncated-BPTT pattern: the
// state h is carried across two chunks; after UnchainBackward the second
// chunk's Backward must not reach the first chunk's inputs.
func TestUnchainBackwardStopsAtCut(t *testing.T) {
	w := autograd.NewParameter(scalar(0.5))
	x1 := autograd.NewParameter(scalar(1)) // an input of chunk 1 we can observe
	h := fn.Tanh(fn.Mul(w, x1))
	loss1 := fn.Mul(h, h)
	loss1.Backward()
	if x1.Grad == nil {
		t.Fatal("chunk 1 did not reach x1")
	}
	g1 := x1.Grad.Item()
	loss1.UnchainBackward()
	if h.Creator() != nil {
		t.Fatal("UnchainBackward left the carried state attached to its creator")
	}
	// Chunk 2 continues from h.
	h2 := fn.Tanh(fn.Mul(w, h))
	loss2 := fn.Mul(h2, h2)
	loss2.Backward()
	if got := x1.Grad.Item(); got != g1 {
		t.Fatalf("backward crossed the cut: x1.Grad changed from %v to %v", g1, got)
	}
}

// TestUnchainBackwardFreesGraph checks that the cut part of the graph
// becomes garbage while the carried state survives.
func TestUnchainBackwardFreesGraph(t *testing.T) {
	w := autograd.NewParameter(scalar(0.5))
	big := autograd.NewParameter(tensor.New(tensor.Float64, 1<<16))
	inner := fn.Sum(big)
	wp := weak.Make(inner)
	h := fn.Tanh(fn.Mul(w, inner))
	loss := fn.Mul(h, h)
	loss.Backward()
	inner, big = nil, nil
	loss.UnchainBackward()
	runtime.GC()
	runtime.GC()
	if wp.Value() != nil {
		t.Fatal("the graph behind the cut is still reachable from the carried state")
	}
	if h.Data == nil {
		t.Fatal("carried state lost its data")
	}
	_ = loss
}

func TestBackwardNonScalarNeedsGrad(t *testing.T) {
	x := autograd.NewParameter(tensor.New(tensor.Float64, 3))
	y := fn.Exp(x)
	defer func() {
		if recover() == nil {
			t.Fatal("Backward from a vector without Grad did not panic")
		}
	}()
	y.Backward()
}

func TestBackwardWithSeedGrad(t *testing.T) {
	x := autograd.NewParameter(tensor.FromFloat64([]float64{1, 2}, 2))
	y := fn.MulScalar(x, 3)
	y.Grad = tensor.FromFloat64([]float64{1, 10}, 2)
	y.Backward()
	if x.Grad.At(0) != 3 || x.Grad.At(1) != 30 {
		t.Fatalf("grad = %v, want [3 30]", x.Grad)
	}
}

func TestMultiOutputPartialGrad(t *testing.T) {
	// Only one piece of a Split receives a gradient; the other must count
	// as zero.
	x := autograd.NewParameter(tensor.FromFloat64([]float64{1, 2, 3, 4}, 4))
	parts := fn.Split(x, []int{1, 3}, 0)
	fn.Sum(parts[1]).Backward()
	want := []float64{0, 1, 1, 1}
	for i, w := range want {
		if x.Grad.At(i) != w {
			t.Fatalf("grad = %v, want %v", x.Grad, want)
		}
	}
}

func TestModeString(t *testing.T) {
	if autograd.Train.String() != "train" || autograd.Eval.String() != "eval" {
		t.Fatal("Mode.String")
	}
}

// sinkProbe is a GradAccumulator that records which inputs it was offered a
// buffer for, and returns a gradient of 1 for every input (adding it to the
// buffer where one is offered).
type sinkProbe struct{ offered []bool }

func (*sinkProbe) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	return []*tensor.Tensor{scalar(0)}
}

func (p *sinkProbe) Backward(in, out, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	return p.BackwardInto(in, out, gy, make([]*tensor.Tensor, len(in)), need)
}

func (p *sinkProbe) BackwardInto(in, _, _, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	gx := make([]*tensor.Tensor, len(in))
	p.offered = make([]bool, len(in))
	for i := range in {
		if !need[i] {
			continue
		}
		if into[i] != nil {
			p.offered[i] = true
			into[i].SetFlat(0, into[i].Item()+1)
			continue
		}
		gx[i] = scalar(1)
	}
	return gx
}

// TestGradAccumulatorSinks: Backward offers a GradAccumulator the Grad of
// each leaf that has one and appears once among its inputs — not leaves
// without a Grad yet, leaves used twice by the node, intermediate
// variables or inputs that need no gradient — and the gradients come out
// the same either way.
func TestGradAccumulatorSinks(t *testing.T) {
	a, b, c := autograd.NewParameter(scalar(1)), autograd.NewParameter(scalar(2)), autograd.NewParameter(scalar(3))
	frozen := autograd.NewVariable(scalar(4))
	mid := fn.Mul(c, c) // not a leaf
	run := func() *sinkProbe {
		p := &sinkProbe{}
		autograd.Apply1(p, a, b, b, mid, frozen).Backward()
		return p
	}
	if p := run(); p.offered != nil && (p.offered[0] || p.offered[1] || p.offered[2]) {
		t.Fatalf("offered buffers %v before any Grad existed", p.offered)
	}
	p := run()
	if want := []bool{true, false, false, false, false}; !slices.Equal(p.offered, want) {
		t.Fatalf("offered buffers for inputs %v, want %v", p.offered, want)
	}
	// Two passes: da = 1+1, db = 2·(1+1), dc = 2c·(1+1).
	for _, tc := range []struct {
		v    *autograd.Variable
		want float64
	}{{a, 2}, {b, 4}, {c, 12}} {
		if got := tc.v.Grad.Item(); got != tc.want {
			t.Fatalf("gradient %v, want %v", got, tc.want)
		}
	}
}
