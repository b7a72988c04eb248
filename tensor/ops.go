package tensor

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/internal/kernel"
)

func (t *Tensor) mustMatch(op string, u *Tensor) {
	if t.dtype != u.dtype || t.Size() != u.Size() {
		panic(fmt.Sprintf("tensor: %s of %v %v and %v %v", op, t.dtype, t.shape, u.dtype, u.shape))
	}
}

// Axpy computes t += alpha·x in place. t and x must have the same element
// type and number of elements.
func (t *Tensor) Axpy(alpha float64, x *Tensor) {
	t.mustMatch("Axpy", x)
	if t.dtype == Float64 {
		kernel.Axpy(alpha, x.f64, t.f64)
		return
	}
	kernel.Axpy(float32(alpha), x.f32, t.f32)
}

// Scale computes t *= alpha in place.
func (t *Tensor) Scale(alpha float64) {
	if t.dtype == Float64 {
		kernel.Scale(alpha, t.f64)
		return
	}
	kernel.Scale(float32(alpha), t.f32)
}

// Sum returns the sum of the elements, accumulated in the tensor's
// precision.
func (t *Tensor) Sum() float64 {
	if t.dtype == Float64 {
		return kernel.Sum(t.f64)
	}
	return float64(kernel.Sum(t.f32))
}

// Dot returns the sum of the elementwise products of t and u.
func (t *Tensor) Dot(u *Tensor) float64 {
	t.mustMatch("Dot", u)
	if t.dtype == Float64 {
		return kernel.Dot(t.f64, u.f64)
	}
	return float64(kernel.Dot(t.f32, u.f32))
}

// SumSquares returns the sum of the squares of the elements, accumulated in
// float64 whatever the element type, as gradient-norm clipping needs.
func (t *Tensor) SumSquares() float64 {
	var s float64
	if t.dtype == Float64 {
		for _, v := range t.f64 {
			s += v * v
		}
		return s
	}
	for _, v := range t.f32 {
		s += float64(v) * float64(v)
	}
	return s
}

// MaxAbs returns the largest absolute value of the elements (0 for an empty
// tensor); NaN if any element is NaN.
func (t *Tensor) MaxAbs() float64 {
	m := 0.0
	for i := 0; i < t.Size(); i++ {
		v := math.Abs(t.AtFlat(i))
		if v > m || math.IsNaN(v) {
			m = v
			if math.IsNaN(v) {
				return v
			}
		}
	}
	return m
}
