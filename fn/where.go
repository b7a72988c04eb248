package fn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// Where returns, elementwise, x where cond is true and y where it is false;
// the gradient flows to x or to y accordingly. x and y must have the same
// shape. cond holds either one flag per element of x or one flag per index
// of x's first axis (a per-row mask, as used to keep the state of padded
// sequences unchanged: h = Where(mask, hNew, hOld)).
func Where(cond []bool, x, y *Variable) *Variable {
	return autograd.Apply1(&where{cond: cond}, x, y)
}

type where struct{ cond []bool }

// inner returns how many consecutive elements one flag covers.
func (f *where) inner(x, y *tensor.Tensor) int {
	sameType("Where", x, y)
	if !x.SameShape(y) {
		panic(fmt.Sprintf("fn: Where of shapes %v and %v", x.Shape(), y.Shape()))
	}
	switch {
	case len(f.cond) == x.Size():
		return 1
	case x.NDim() > 0 && len(f.cond) == x.Dim(0):
		return x.Size() / max(x.Dim(0), 1)
	}
	panic(fmt.Sprintf("fn: Where with %d conditions for shape %v; want one per element or one per row", len(f.cond), x.Shape()))
}

func (f *where) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x, y := in[0], in[1]
	k := f.inner(x, y)
	out := newLike(x, x.Shape()...)
	for i, c := range f.cond {
		src := y
		if c {
			src = x
		}
		copyBlocks(out, i*k, 0, src, i*k, 0, 1, k)
	}
	return one(out)
}

func (f *where) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	x, g := in[0], gy[0]
	k := f.inner(x, in[1])
	gx := make([]*tensor.Tensor, 2)
	for j := range gx {
		if !need[j] {
			continue
		}
		gx[j] = newLike(x, x.Shape()...)
		for i, c := range f.cond {
			if c == (j == 0) {
				copyBlocks(gx[j], i*k, 0, g, i*k, 0, 1, k)
			}
		}
	}
	return gx
}
