package fn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// Dropout zeroes each element of x with probability ratio and scales the
// survivors by 1/(1−ratio) ("inverted" dropout, so evaluation needs no
// rescaling), drawing the mask from rng. In autograd.Eval mode, or with
// ratio 0, it returns x itself. ratio must lie in [0, 1).
func Dropout(x *Variable, ratio float64, rng *tensor.RNG, mode autograd.Mode) *Variable {
	if !(ratio >= 0 && ratio < 1) {
		panic(fmt.Sprintf("fn: Dropout ratio %v outside [0, 1) for x %v", ratio, x.Shape()))
	}
	if mode == autograd.Eval || ratio == 0 {
		return x
	}
	if rng == nil {
		panic(fmt.Sprintf("fn: Dropout in train mode needs an RNG (x %v)", x.Shape()))
	}
	mask := tensor.New(x.DType(), x.Shape()...)
	mask.FillDropoutMask(rng, ratio)
	return DropoutMask(x, mask)
}

// DropoutMask multiplies x by a given mask of the same shape, as Dropout
// does with its random mask; the gradient is masked the same way. It lets
// callers reuse one mask across steps (variational dropout) or fix a mask
// for gradient checks.
func DropoutMask(x *Variable, mask *tensor.Tensor) *Variable {
	return autograd.Apply1(&dropoutMask{mask: mask}, x)
}

type dropoutMask struct{ mask *tensor.Tensor }

func (f *dropoutMask) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	if !x.SameShape(f.mask) || x.DType() != f.mask.DType() {
		panic(fmt.Sprintf("fn: DropoutMask of x %v %v with mask %v %v", x.DType(), x.Shape(), f.mask.DType(), f.mask.Shape()))
	}
	y := x.Clone()
	mulInto(y, f.mask)
	return one(y)
}

func (f *dropoutMask) Backward(_, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	g := gy[0].Clone()
	mulInto(g, f.mask)
	return one(g)
}

// mulInto computes y ⊙= m.
func mulInto(y, m *tensor.Tensor) { tensor.Dispatch(y, mulIntoOf[float32], mulIntoOf[float64])(y, m) }

// mulIntoOf is mulInto for the element type T (see tensor.Dispatch).
func mulIntoOf[T kernel.Float](y, m *tensor.Tensor) {
	yd := tensor.Values[T](y)
	kernel.Mul(yd, yd, tensor.Values[T](m))
}
