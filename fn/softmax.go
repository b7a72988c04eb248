package fn

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// Softmax returns exp(x_j)/Σ_k exp(x_k) along the last axis of x, computed
// stably by subtracting the row maximum.
func Softmax(x *Variable) *Variable { return autograd.Apply1(&softmax{}, x) }

// LogSoftmax returns x_j − log Σ_k exp(x_k) along the last axis of x.
func LogSoftmax(x *Variable) *Variable { return autograd.Apply1(&softmax{log: true}, x) }

type softmax struct{ log bool }

func lastDim(op string, x *tensor.Tensor) (rows, n int) {
	if x.NDim() == 0 {
		panic(fmt.Sprintf("fn: %s of a scalar", op))
	}
	n = x.Dim(-1)
	if n == 0 {
		return 0, 0
	}
	return x.Size() / n, n
}

func (f *softmax) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	rows, n := lastDim("Softmax", x)
	y := newLike(x, x.Shape()...)
	tensor.Dispatch(x, softmaxRows[float32], softmaxRows[float64])(y, x, rows, n, f.log)
	return one(y)
}

// softmaxRows writes the softmax (or log-softmax) of each length-n row of x
// into y.
func softmaxRows[T kernel.Float](yt, xt *tensor.Tensor, rows, n int, log bool) {
	y, x := tensor.Values[T](yt), tensor.Values[T](xt)
	for r := 0; r < rows; r++ {
		xr, yr := x[r*n:(r+1)*n], y[r*n:(r+1)*n]
		copy(yr, xr)
		kernel.Shift(-kernel.Max(xr), yr)
		if log {
			var s float64
			for _, v := range yr {
				s += math.Exp(float64(v))
			}
			ls := T(math.Log(s))
			for i := range yr {
				yr[i] -= ls
			}
			continue
		}
		kernel.Exp(yr, yr)
		kernel.Scale(1/kernel.Sum(yr), yr)
	}
}

func (f *softmax) Backward(_, out, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	y := out[0]
	rows, n := lastDim("Softmax", y)
	gx := newLike(y, y.Shape()...)
	tensor.Dispatch(y, softmaxBackward[float32], softmaxBackward[float64])(gx, gy[0], y, rows, n, f.log)
	return one(gx)
}

// softmaxBackward: for y = softmax(x), gx = y ⊙ (gy − ⟨gy, y⟩); for
// y = log-softmax(x), gx = gy − exp(y)·Σ gy.
func softmaxBackward[T kernel.Float](gxt, gyt, yt *tensor.Tensor, rows, n int, log bool) {
	gx, gy, y := tensor.Values[T](gxt), tensor.Values[T](gyt), tensor.Values[T](yt)
	for r := 0; r < rows; r++ {
		g, yr, gr := gy[r*n:(r+1)*n], y[r*n:(r+1)*n], gx[r*n:(r+1)*n]
		if log {
			s := kernel.Sum(g)
			for i, v := range yr {
				gr[i] = g[i] - T(math.Exp(float64(v)))*s
			}
			continue
		}
		d := kernel.Dot(g, yr)
		for i, v := range yr {
			gr[i] = v * (g[i] - d)
		}
	}
}
