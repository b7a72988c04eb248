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
	if x.DType() == tensor.Float64 {
		unaryForward(f.kind, tensor.Values[float64](y), tensor.Values[float64](x))
	} else {
		unaryForward(f.kind, tensor.Values[float32](y), tensor.Values[float32](x))
	}
	return one(y)
}

func unaryForward[T kernel.Float](kind unaryKind, y, x []T) {
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
	if x.DType() == tensor.Float64 {
		unaryBackward(f.kind, tensor.Values[float64](gx), tensor.Values[float64](gy[0]), tensor.Values[float64](x), tensor.Values[float64](out[0]))
	} else {
		unaryBackward(f.kind, tensor.Values[float32](gx), tensor.Values[float32](gy[0]), tensor.Values[float32](x), tensor.Values[float32](out[0]))
	}
	return one(gx)
}

func unaryBackward[T kernel.Float](kind unaryKind, gx, gy, x, y []T) {
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
