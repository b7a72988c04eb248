package fn_test

import (
	"fmt"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// TestGradAccumulators: the functions that add parameter gradients
// straight into Grad (autograd.GradAccumulator) give the same gradients as
// their plain backward pass. The first Backward allocates each Grad (the
// plain path); after ClearGrads the second adds into the zeroed buffers
// and must give the same values, and a third without clearing must give
// twice them.
func TestGradAccumulators(t *testing.T) {
	ids := []int{3, 1, 3, 0, -1, 2}
	cases := []struct {
		name   string
		params []*tensor.Tensor
		loss   func(p []*V) *V
	}{
		{"Linear", []*tensor.Tensor{randn(1, 6, 5), randn(2, 4, 5), randn(3, 4)}, func(p []*V) *V {
			return fn.Sum(fn.Square(fn.Linear(p[0], p[1], p[2])))
		}},
		{"LinearNoBias", []*tensor.Tensor{randn(1, 6, 5), randn(2, 4, 5)}, func(p []*V) *V {
			return fn.Sum(fn.Square(fn.Linear(p[0], p[1], nil)))
		}},
		{"LinearSoftmaxCrossEntropy", []*tensor.Tensor{randn(4, 6, 5), randn(5, 4, 5), randn(6, 4)}, func(p []*V) *V {
			return fn.LinearSoftmaxCrossEntropy(p[0], p[1], p[2], ids, -1, fn.ReduceMean)
		}},
		{"EmbedID", []*tensor.Tensor{randn(7, 4, 3)}, func(p []*V) *V {
			return fn.Sum(fn.Square(fn.EmbedID(ids, p[0], -1)))
		}},
		{"EmbedIDTwice", []*tensor.Tensor{randn(7, 4, 3)}, func(p []*V) *V {
			// One table used by two nodes: both add into its Grad.
			return fn.Add(fn.Sum(fn.Square(fn.EmbedID(ids, p[0], -1))), fn.Sum(fn.EmbedID(ids[:3], p[0], -1)))
		}},
	}
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind} {
		params := recurrentCase(cell, []int{3, 2, 2}, 4, 5, true, false, 9)
		cases = append(cases, struct {
			name   string
			params []*tensor.Tensor
			loss   func(p []*V) *V
		}{fmt.Sprintf("%vSequence", cell), params, func(p []*V) *V {
			ys := recurrentFunc(cell, fn.Sequence{BatchSizes: []int{3, 2, 2}}, true, false)(p)
			l := fn.Sum(fn.Square(ys[0]))
			for _, y := range ys[1:] {
				l = fn.Add(l, fn.Sum(y))
			}
			return l
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := make([]*V, len(c.params))
			for i, x := range c.params {
				p[i] = autograd.NewParameter(x)
			}
			c.loss(p).Backward()
			first := make([]*tensor.Tensor, len(p))
			for i, v := range p {
				first[i] = v.Grad.Clone()
			}
			autograd.ClearGrads(p)
			c.loss(p).Backward()
			for i, v := range p {
				if d := maxDiff(v.Grad, first[i]); d > 1e-12 {
					t.Fatalf("gradient %d accumulated into a cleared Grad differs by %g", i, d)
				}
			}
			c.loss(p).Backward()
			for i, v := range p {
				twice := first[i].Clone()
				twice.Scale(2)
				if d := maxDiff(v.Grad, twice); d > 1e-12 {
					t.Fatalf("gradient %d after two passes differs from twice one pass by %g", i, d)
				}
			}
		})
	}
}

// TestLinearInto: LinearInto equals Linear, writes into dst when dst has the
// result's shape and type (and returns it), and allocates otherwise;
// LinearIntoAt equals LinearAt at BFloat16.
func TestLinearInto(t *testing.T) {
	x, w, b := randn(1, 2, 3, 5), randn(2, 4, 5), randn(3, 4)
	for _, bias := range []*tensor.Tensor{b, nil} {
		var bv *V
		if bias != nil {
			bv = autograd.NewVariable(bias)
		}
		want := fn.Linear(autograd.NewVariable(x), autograd.NewVariable(w), bv).Data
		got := fn.LinearInto(nil, x, w, bias)
		if !got.SameShape(want) || maxDiff(got, want) != 0 {
			t.Fatalf("LinearInto(nil, …) = %v %v, want %v %v", got.Shape(), got.Float64s(), want.Shape(), want.Float64s())
		}
		dst := randn(9, 2, 3, 4) // old contents must not leak in
		if again := fn.LinearInto(dst, x, w, bias); again != dst || maxDiff(dst, want) != 0 {
			t.Fatal("LinearInto did not reuse a dst of the right shape, or differs from Linear")
		}
		for _, wrong := range []*tensor.Tensor{randn(9, 6, 4), randn(9, 2, 3, 4).AsType(tensor.Float32)} {
			if r := fn.LinearInto(wrong, x, w, bias); r == wrong || !r.SameShape(want) || maxDiff(r, want) != 0 {
				t.Fatalf("LinearInto with a dst %v %v: reused it or computed wrongly", wrong.DType(), wrong.Shape())
			}
		}
	}
	x32, w32, b32 := x.AsType(tensor.Float32), w.AsType(tensor.Float32), b.AsType(tensor.Float32)
	want := fn.LinearAt(autograd.NewVariable(x32), autograd.NewVariable(w32), autograd.NewVariable(b32), fn.BFloat16, nil).Data
	dst := tensor.New(tensor.Float32, 2, 3, 4)
	if got := fn.LinearIntoAt(dst, x32, w32, b32, fn.BFloat16, nil); got != dst || !got.SameShape(want) {
		t.Fatal("LinearIntoAt did not reuse dst")
	}
	for i := range want.Size() {
		if dst.AtFlat(i) != want.AtFlat(i) {
			t.Fatalf("LinearIntoAt element %d = %v, LinearAt %v", i, dst.AtFlat(i), want.AtFlat(i))
		}
	}
}

// TestLinearSoftmaxCrossEntropyLateBias: a bias that starts needing a
// gradient only after the forward pass (so the forward pass did not sum
// the probabilities' columns) still gets the composition's gradient.
func TestLinearSoftmaxCrossEntropyLateBias(t *testing.T) {
	x, w, b0 := randn(1, 7, 4), randn(2, 9, 4), randn(3, 9)
	labels := []int{0, 8, -1, 3, 3, 5, 1}
	ref := autograd.NewParameter(b0.Clone())
	fn.SoftmaxCrossEntropy(fn.Linear(autograd.NewVariable(x), autograd.NewVariable(w), ref), labels, -1, fn.ReduceMean).Backward()
	b := autograd.NewVariable(b0.Clone())
	loss := fn.LinearSoftmaxCrossEntropy(autograd.NewParameter(x), autograd.NewVariable(w), b, labels, -1, fn.ReduceMean)
	b.SetRequiresGrad(true)
	loss.Backward()
	if b.Grad == nil || maxDiff(b.Grad, ref.Grad) > 1e-12 {
		t.Fatalf("bias gradient %v, composition %v", b.Grad, ref.Grad)
	}
}

// TestRecurrentBackwardTwice: the float32 fused kernels give their
// workspaces back to the pool after the first backward pass; a second
// Backward on the same graph recomputes them and must add the same
// gradients again.
func TestRecurrentBackwardTwice(t *testing.T) {
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind} {
		for _, batch := range []int{3, 20} { // 20 rows run as row groups
			t.Run(fmt.Sprintf("%v/batch%d", cell, batch), func(t *testing.T) {
				sizes := []int{batch, batch, batch - 1}
				ts := recurrentCase(cell, sizes, 4, 5, true, false, 11)
				p := make([]*V, len(ts))
				for i, x := range ts {
					p[i] = autograd.NewParameter(x.AsType(tensor.Float32))
				}
				ys := recurrentFunc(cell, fn.Sequence{BatchSizes: sizes}, true, false)(p)
				loss := fn.Sum(fn.Square(ys[0]))
				loss.Backward()
				once := make([]*tensor.Tensor, len(p))
				for i, v := range p {
					once[i] = v.Grad.AsType(tensor.Float64)
				}
				// Recycle a buffer of garbage of the right size through the
				// pool, as other work would between the two passes.
				fn.Sum(fn.Square(recurrentFunc(cell, fn.Sequence{BatchSizes: sizes}, true, false)(p)[0])).Backward()
				autograd.ClearGrads(p)
				loss.Backward()
				loss.Backward()
				for i, v := range p {
					twice := once[i].Clone()
					twice.Scale(2)
					if d := maxDiff(v.Grad.AsType(tensor.Float64), twice); d > 1e-4 {
						t.Fatalf("gradient %d after two Backwards on one graph differs from twice one by %g", i, d)
					}
				}
			})
		}
	}
}
