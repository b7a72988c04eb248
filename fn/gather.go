package fn

import (
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// GatherRows returns the rows of x (indices along its first axis) listed in
// idx, in that order: y[k] = x[idx[k]]. A negative index gives a zero row
// (padding). Rows may repeat; their gradients add up. This is how packed
// and padded batches are formed from a list of sequences and turned back.
func GatherRows(x *Variable, idx []int) *Variable {
	return autograd.Apply1(&gatherRows{idx: idx}, x)
}

type gatherRows struct{ idx []int }

func (f *gatherRows) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	if x.NDim() == 0 {
		panic("fn: GatherRows of a scalar")
	}
	n := x.Dim(0)
	shape := slices.Clone(x.Shape())
	shape[0] = len(f.idx)
	y := newLike(x, shape...)
	d := x.Size() / max(n, 1)
	for k, i := range f.idx {
		if i >= n {
			panic(fmt.Sprintf("fn: GatherRows index %d at position %d out of range for shape %v", i, k, x.Shape()))
		}
	}
	tensor.Dispatch(x, gather[float32], gather[float64])(y, x, f.idx, -1, d)
	return one(y)
}

func (f *gatherRows) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	x := in[0]
	gx := newLike(x, x.Shape()...)
	d := x.Size() / max(x.Dim(0), 1)
	tensor.Dispatch(x, scatterAdd[float32], scatterAdd[float64])(gx, gy[0], f.idx, -1, d)
	return one(gx)
}
