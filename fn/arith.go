package fn

import (
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// binOp names the four elementwise binary operations.
type binOp uint8

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
)

var binOpNames = [...]string{"Add", "Sub", "Mul", "Div"}

// Add returns a + b elementwise, broadcasting as the package comment
// describes.
func Add(a, b *Variable) *Variable { return autograd.Apply1(&binary{op: opAdd}, a, b) }

// Sub returns a − b elementwise, with broadcasting.
func Sub(a, b *Variable) *Variable { return autograd.Apply1(&binary{op: opSub}, a, b) }

// Mul returns a ⊙ b elementwise, with broadcasting.
func Mul(a, b *Variable) *Variable { return autograd.Apply1(&binary{op: opMul}, a, b) }

// Div returns a / b elementwise, with broadcasting.
func Div(a, b *Variable) *Variable { return autograd.Apply1(&binary{op: opDiv}, a, b) }

// broadcastShape returns the output shape of a binary operation on shapes
// a and b, and whether a or b is the broadcast (repeated) operand.
func broadcastShape(op string, a, b *tensor.Tensor) (shape []int, repeatA, repeatB bool) {
	as, bs := a.Shape(), b.Shape()
	switch {
	case slices.Equal(as, bs):
		return as, false, false
	case b.Size() == 1 || isSuffix(bs, as):
		return as, false, true
	case a.Size() == 1 || isSuffix(as, bs):
		return bs, true, false
	}
	panic(fmt.Sprintf("fn: %s cannot broadcast shapes %v and %v", op, as, bs))
}

// isSuffix reports whether s equals the trailing dimensions of t, after
// dropping leading 1s from s.
func isSuffix(s, t []int) bool {
	for len(s) > 0 && s[0] == 1 {
		s = s[1:]
	}
	return len(s) <= len(t) && slices.Equal(s, t[len(t)-len(s):])
}

// binary is an elementwise binary operation with suffix broadcasting.
type binary struct {
	op               binOp
	repeatA, repeatB bool
}

func (f *binary) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	a, b := in[0], in[1]
	name := binOpNames[f.op]
	sameType(name, a, b)
	var shape []int
	shape, f.repeatA, f.repeatB = broadcastShape(name, a, b)
	y := newLike(a, shape...)
	tensor.Dispatch(a, binaryForward[float32], binaryForward[float64])(f.op, y, a, b)
	return one(y)
}

// binaryForward computes y = a op b, where the shorter of a and b (a
// single element or a suffix) repeats along y.
func binaryForward[T kernel.Float](op binOp, yt, at, bt *tensor.Tensor) {
	y, a, b := tensor.Values[T](yt), tensor.Values[T](at), tensor.Values[T](bt)
	switch {
	case len(a) == len(y) && len(b) == len(y):
		vectorOp(op, y, a, b)
	case len(b) == 1:
		for i := range y {
			y[i] = apply(op, a[i], b[0])
		}
	case len(a) == 1:
		for i := range y {
			y[i] = apply(op, a[0], b[i])
		}
	case len(b) < len(y):
		m := len(b)
		for off := 0; off < len(y); off += m {
			vectorOp(op, y[off:off+m], a[off:off+m], b)
		}
	default:
		m := len(a)
		for off := 0; off < len(y); off += m {
			vectorOp(op, y[off:off+m], a, b[off:off+m])
		}
	}
}

func vectorOp[T kernel.Float](op binOp, y, a, b []T) {
	switch op {
	case opAdd:
		kernel.Add(y, a, b)
	case opSub:
		kernel.Sub(y, a, b)
	case opMul:
		kernel.Mul(y, a, b)
	case opDiv:
		kernel.Div(y, a, b)
	}
}

func apply[T kernel.Float](op binOp, a, b T) T {
	switch op {
	case opAdd:
		return a + b
	case opSub:
		return a - b
	case opMul:
		return a * b
	}
	return a / b
}

func (f *binary) Backward(in, _, gys []*tensor.Tensor, need []bool) []*tensor.Tensor {
	a, b, gy := in[0], in[1], gys[0]
	gx := make([]*tensor.Tensor, 2)
	tensor.Dispatch(a, binaryBackward[float32], binaryBackward[float64])(f, a, b, gy, need, gx)
	return gx
}

func binaryBackward[T kernel.Float](f *binary, at, bt, gyt *tensor.Tensor, need []bool, gx []*tensor.Tensor) {
	a, b, gy := tensor.Values[T](at), tensor.Values[T](bt), tensor.Values[T](gyt)
	n := len(gy)
	// Full-size gradients first, then reduce the broadcast operand.
	var ga, gb []T
	if need[0] {
		ga = make([]T, n)
	}
	if need[1] {
		gb = make([]T, n)
	}
	at1 := func(x []T, i int) T { return x[i%len(x)] }
	for i, g := range gy {
		switch f.op {
		case opAdd:
			if ga != nil {
				ga[i] = g
			}
			if gb != nil {
				gb[i] = g
			}
		case opSub:
			if ga != nil {
				ga[i] = g
			}
			if gb != nil {
				gb[i] = -g
			}
		case opMul:
			if ga != nil {
				ga[i] = g * at1(b, i)
			}
			if gb != nil {
				gb[i] = g * at1(a, i)
			}
		case opDiv:
			bv := at1(b, i)
			if ga != nil {
				ga[i] = g / bv
			}
			if gb != nil {
				gb[i] = -g * at1(a, i) / (bv * bv)
			}
		}
	}
	reduce := func(full []T, like *tensor.Tensor) *tensor.Tensor {
		out := newLike(like, like.Shape()...)
		o := tensor.Values[T](out)
		if len(o) == len(full) {
			copy(o, full)
			return out
		}
		for off := 0; off < len(full); off += len(o) {
			kernel.Axpy(1, full[off:off+len(o)], o)
		}
		return out
	}
	if ga != nil {
		gx[0] = reduce(ga, at)
	}
	if gb != nil {
		gx[1] = reduce(gb, bt)
	}
}

// MulScalar returns c·x.
func MulScalar(x *Variable, c float64) *Variable {
	return autograd.Apply1(&affine{scale: c}, x)
}

// AddScalar returns x + c.
func AddScalar(x *Variable, c float64) *Variable {
	return autograd.Apply1(&affine{scale: 1, shift: c}, x)
}

// Neg returns −x.
func Neg(x *Variable) *Variable { return MulScalar(x, -1) }

// affine computes scale·x + shift elementwise.
type affine struct{ scale, shift float64 }

func (f *affine) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	y := in[0].Clone()
	if f.scale != 1 {
		y.Scale(f.scale)
	}
	if f.shift != 0 {
		for i := 0; i < y.Size(); i++ {
			y.SetFlat(i, y.AtFlat(i)+f.shift)
		}
	}
	return one(y)
}

func (f *affine) Backward(_, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	if f.scale == 1 {
		return one(gy[0])
	}
	g := gy[0].Clone()
	g.Scale(f.scale)
	return one(g)
}
