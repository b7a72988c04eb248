package fn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// Sum returns the sum of all elements of x as a scalar (a tensor with no
// dimensions).
func Sum(x *Variable) *Variable { return autograd.Apply1(&sumAll{}, x) }

// Mean returns the mean of all elements of x as a scalar.
func Mean(x *Variable) *Variable { return autograd.Apply1(&sumAll{mean: true}, x) }

type sumAll struct{ mean bool }

func (f *sumAll) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	s := in[0].Sum()
	if f.mean {
		if in[0].Size() == 0 {
			panic(fmt.Sprintf("fn: Mean of an empty tensor of shape %v", in[0].Shape()))
		}
		s /= float64(in[0].Size())
	}
	return one(tensor.Scalar(in[0].DType(), s))
}

func (f *sumAll) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	g := gy[0].Item()
	if f.mean {
		g /= float64(in[0].Size())
	}
	gx := newLike(in[0], in[0].Shape()...)
	gx.Fill(g)
	return one(gx)
}

// SumAxis returns the sum of x along axis, which is removed from the shape.
// A negative axis counts from the end.
func SumAxis(x *Variable, axis int) *Variable { return autograd.Apply1(&sumAxis{axis: axis}, x) }

// MeanAxis returns the mean of x along axis, which is removed from the
// shape. A negative axis counts from the end.
func MeanAxis(x *Variable, axis int) *Variable {
	return autograd.Apply1(&sumAxis{axis: axis, mean: true}, x)
}

type sumAxis struct {
	axis int
	mean bool
}

// split returns the sizes before, along and after the axis.
func (f *sumAxis) split(x *tensor.Tensor) (outer, n, inner int, shape []int) {
	ax := f.axis
	if ax < 0 {
		ax += x.NDim()
	}
	if ax < 0 || ax >= x.NDim() {
		panic(fmt.Sprintf("fn: SumAxis axis %d out of range for shape %v", f.axis, x.Shape()))
	}
	outer, inner = 1, 1
	for i, d := range x.Shape() {
		switch {
		case i < ax:
			outer *= d
		case i > ax:
			inner *= d
		}
		if i != ax {
			shape = append(shape, d)
		}
	}
	return outer, x.Dim(ax), inner, shape
}

func (f *sumAxis) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	outer, n, inner, shape := f.split(x)
	if f.mean && n == 0 {
		panic(fmt.Sprintf("fn: MeanAxis over an empty axis of shape %v", x.Shape()))
	}
	y := newLike(x, shape...)
	xr := x.Reshape(outer, n*inner)
	yr := y.Reshape(outer, inner)
	for o := 0; o < outer; o++ {
		row, acc := xr.Index(o), yr.Index(o)
		for k := 0; k < n; k++ {
			acc.Axpy(1, row.Reshape(n, inner).Index(k))
		}
	}
	if f.mean {
		y.Scale(1 / float64(n))
	}
	return one(y)
}

func (f *sumAxis) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	x := in[0]
	outer, n, inner, _ := f.split(x)
	gx := newLike(x, x.Shape()...)
	gr := gy[0].Reshape(outer, inner)
	xr := gx.Reshape(outer, n, inner)
	scale := 1.0
	if f.mean {
		scale = 1 / float64(n)
	}
	for o := 0; o < outer; o++ {
		for k := 0; k < n; k++ {
			xr.Index(o).Index(k).Axpy(scale, gr.Index(o))
		}
	}
	return one(gx)
}
