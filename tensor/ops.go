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

// parallelGrain is the number of elements per task of the elementwise
// operations below: smaller tensors stay on the calling goroutine, larger
// ones (gradients and weights of big layers, which optimizers sweep every
// step) are split across the kernel worker pool.
const parallelGrain = 1 << 16

// Axpy computes t += alpha·x in place. t and x must have the same element
// type and number of elements.
func (t *Tensor) Axpy(alpha float64, x *Tensor) {
	t.mustMatch("Axpy", x)
	if t.Size() <= parallelGrain { // no closure for small tensors
		if t.dtype == Float64 {
			kernel.Axpy(alpha, x.f64, t.f64)
		} else {
			kernel.Axpy(float32(alpha), x.f32, t.f32)
		}
		return
	}
	if t.dtype == Float64 {
		kernel.ParallelFor(len(t.f64), parallelGrain, func(lo, hi int) {
			kernel.Axpy(alpha, x.f64[lo:hi], t.f64[lo:hi])
		})
		return
	}
	a := float32(alpha)
	kernel.ParallelFor(len(t.f32), parallelGrain, func(lo, hi int) {
		kernel.Axpy(a, x.f32[lo:hi], t.f32[lo:hi])
	})
}

// Scale computes t *= alpha in place.
func (t *Tensor) Scale(alpha float64) {
	if t.Size() <= parallelGrain { // no closure for small tensors
		if t.dtype == Float64 {
			kernel.Scale(alpha, t.f64)
		} else {
			kernel.Scale(float32(alpha), t.f32)
		}
		return
	}
	if t.dtype == Float64 {
		kernel.ParallelFor(len(t.f64), parallelGrain, func(lo, hi int) {
			kernel.Scale(alpha, t.f64[lo:hi])
		})
		return
	}
	a := float32(alpha)
	kernel.ParallelFor(len(t.f32), parallelGrain, func(lo, hi int) {
		kernel.Scale(a, t.f32[lo:hi])
	})
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
// float64 whatever the element type, as gradient-norm clipping needs. The
// elements are summed in fixed blocks of parallelGrain, in parallel on
// large tensors, and the block sums are added in order, so the result does
// not depend on the number of threads.
func (t *Tensor) SumSquares() float64 {
	n := t.Size()
	if n <= parallelGrain {
		return t.sumSquares(0, n)
	}
	blocks := make([]float64, (n+parallelGrain-1)/parallelGrain)
	kernel.ParallelFor(len(blocks), 1, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			blocks[b] = t.sumSquares(b*parallelGrain, min((b+1)*parallelGrain, n))
		}
	})
	var s float64
	for _, v := range blocks {
		s += v
	}
	return s
}

// sumSquares returns the sum of the squares of elements [lo, hi), with the
// vector kernel (float64 accumulation in a fixed order).
func (t *Tensor) sumSquares(lo, hi int) float64 {
	if t.dtype == Float64 {
		return kernel.SumSquares(t.f64[lo:hi])
	}
	return kernel.SumSquares(t.f32[lo:hi])
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
