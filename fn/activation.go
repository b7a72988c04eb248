package fn

import (
	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// unaryKind names the elementwise unary functions.
type unaryKind uint8

const (
	kindSigmoid unaryKind = iota
	kindTanh
	kindReLU
	kindExp
	kindLog
	kindSquare
)

// Sigmoid returns σ(x) = 1/(1+exp(−x)) elementwise; σ'(x) = σ(x)(1−σ(x)).
func Sigmoid(x *Variable) *Variable { return autograd.Apply1(&unary{kind: kindSigmoid}, x) }

// Tanh returns tanh(x) elementwise; tanh'(x) = 1 − tanh²(x).
func Tanh(x *Variable) *Variable { return autograd.Apply1(&unary{kind: kindTanh}, x) }

// ReLU returns max(x, 0) elementwise; its gradient is 1 where x > 0 and 0
// elsewhere.
func ReLU(x *Variable) *Variable { return autograd.Apply1(&unary{kind: kindReLU}, x) }

// Exp returns exp(x) elementwise.
func Exp(x *Variable) *Variable { return autograd.Apply1(&unary{kind: kindExp}, x) }

// Log returns the natural logarithm of x elementwise.
func Log(x *Variable) *Variable { return autograd.Apply1(&unary{kind: kindLog}, x) }

// Square returns x² elementwise; its gradient is 2x. Mul(x, x) gives the
// same values, but Square keeps one input and forms one gradient.
func Square(x *Variable) *Variable { return autograd.Apply1(&unary{kind: kindSquare}, x) }

type unary struct{ kind unaryKind }

func (f *unary) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	y := newLike(x, x.Shape()...)
	tensor.Dispatch(x, unaryForward[float32], unaryForward[float64])(f.kind, y, x)
	return one(y)
}

func unaryForward[T kernel.Float](kind unaryKind, yt, xt *tensor.Tensor) {
	y, x := tensor.Values[T](yt), tensor.Values[T](xt)
	switch kind {
	case kindSigmoid:
		kernel.Sigmoid(y, x)
	case kindTanh:
		kernel.Tanh(y, x)
	case kindReLU:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	case kindExp:
		kernel.Exp(y, x)
	case kindLog:
		kernel.Log(y, x)
	case kindSquare:
		kernel.Mul(y, x, x)
	}
}

func (f *unary) Backward(in, out, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	x := in[0]
	gx := newLike(x, x.Shape()...)
	tensor.Dispatch(x, unaryBackward[float32], unaryBackward[float64])(f.kind, gx, gy[0], x, out[0])
	return one(gx)
}

func unaryBackward[T kernel.Float](kind unaryKind, gxt, gyt, xt, yt *tensor.Tensor) {
	gx, gy, x, y := tensor.Values[T](gxt), tensor.Values[T](gyt), tensor.Values[T](xt), tensor.Values[T](yt)
	switch kind {
	case kindSigmoid:
		for i, g := range gy {
			gx[i] = g * y[i] * (1 - y[i])
		}
	case kindTanh:
		for i, g := range gy {
			gx[i] = g * (1 - y[i]*y[i])
		}
	case kindReLU:
		for i, g := range gy {
			if x[i] > 0 {
				gx[i] = g
			}
		}
	case kindExp:
		kernel.Mul(gx, gy, y)
	case kindLog:
		kernel.Div(gx, gy, x)
	case kindSquare:
		for i, g := range gy {
			gx[i] = 2 * g * x[i]
		}
	}
}
