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
