package fn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/internal/rnn"
	"github.com/kioku-ml/kioku/tensor"
)

// LayerNorm normalises x over its last axis (Ba et al. 2016, "Layer
// Normalization"): y = γ⊙(x − μ)/√(σ² + eps) + β with μ and σ² the mean
// and variance of each row. gamma and beta have the size of the last axis
// and may be nil.
func LayerNorm(x, gamma, beta *Variable, eps float64) *Variable {
	return normApply(&normFunc{axis: kernel.PerRow, eps: eps}, x, gamma, beta)
}

// BatchNormStats receives the batch statistics a training-mode
// BatchNorm computed, for a layer's running averages: the mean and
// (biased) variance of each column. The fused recurrent kernels use the
// same type per time step (RecurrentNormStats).
type BatchNormStats = rnn.BatchNormStats

// BatchNorm normalises x (N, C) over its batch axis (Ioffe & Szegedy
// 2015): y = γ⊙(x − μ)/√(σ² + eps) + β with μ and σ² the (biased) mean and
// variance of each column. When stats is non-nil the batch statistics are
// written into it. gamma and beta have length C and may be nil.
func BatchNorm(x, gamma, beta *Variable, eps float64, stats *BatchNormStats) *Variable {
	return normApply(&normFunc{axis: kernel.PerColumn, eps: eps, obs: stats}, x, gamma, beta)
}

// FixedBatchNorm is batch normalisation with given statistics (evaluation
// mode): y = γ⊙(x − mean)/√(variance + eps) + β.
func FixedBatchNorm(x, gamma, beta *Variable, mean, variance []float64, eps float64) *Variable {
	return normApply(&normFunc{axis: kernel.PerColumn, eps: eps, mean: mean, variance: variance}, x, gamma, beta)
}

func normApply(f *normFunc, x, gamma, beta *Variable) *Variable {
	in := []*Variable{x}
	if gamma != nil {
		f.hasGamma = true
		in = append(in, gamma)
	}
	if beta != nil {
		f.hasBeta = true
		in = append(in, beta)
	}
	return autograd.Apply1(f, in...)
}

type normFunc struct {
	axis              kernel.StatAxis
	eps               float64
	mean, variance    []float64
	obs               *BatchNormStats
	hasGamma, hasBeta bool
	xhat, rs          *tensor.Tensor
}

func (f *normFunc) parts(in []*tensor.Tensor) (x, g, b *tensor.Tensor, rows, cols int) {
	x = in[0]
	sameType("normalisation", in...)
	k := 1
	if f.hasGamma {
		g = in[k]
		k++
	}
	if f.hasBeta {
		b = in[k]
	}
	if x.NDim() < 1 || (f.axis == kernel.PerColumn && x.NDim() != 2) {
		panic(fmt.Sprintf("fn: normalisation of shape %v; LayerNorm needs (…, C), BatchNorm (N, C)", x.Shape()))
	}
	cols = x.Dim(-1)
	rows = x.Size() / max(cols, 1)
	for _, p := range []*tensor.Tensor{g, b} {
		if p != nil && (p.NDim() != 1 || p.Dim(0) != cols) {
			panic(fmt.Sprintf("fn: normalisation of x %v with a gain or bias of shape %v; want (%d)", x.Shape(), p.Shape(), cols))
		}
	}
	if f.mean != nil && (len(f.mean) != cols || len(f.variance) != cols) {
		panic(fmt.Sprintf("fn: FixedBatchNorm of x %v with %d means and %d variances", x.Shape(), len(f.mean), len(f.variance)))
	}
	if f.axis == kernel.PerColumn && f.mean == nil && rows == 0 {
		panic(fmt.Sprintf("fn: BatchNorm of an empty batch %v", x.Shape()))
	}
	return x, g, b, rows, cols
}

func (f *normFunc) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x, g, b, rows, cols := f.parts(in)
	f.xhat = x.Clone()
	n := rows
	if f.axis == kernel.PerColumn {
		n = cols
	}
	f.rs = newLike(x, n)
	var om, ov []float64
	if f.obs != nil {
		f.obs.Mean, f.obs.Var = make([]float64, cols), make([]float64, cols)
		om, ov = f.obs.Mean, f.obs.Var
	}
	y := newLike(x, x.Shape()...)
	tensor.Dispatch(x, normForward[float32], normForward[float64])(f, y, g, b, rows, cols, om, ov)
	return one(y)
}

// normForward normalises f.xhat in place, recording the reciprocal
// standard deviations in f.rs (and the batch statistics in om, ov), and
// writes y = g⊙x̂ + b.
func normForward[T kernel.Float](f *normFunc, y, g, b *tensor.Tensor, rows, cols int, om, ov []float64) {
	xhat := tensor.Values[T](f.xhat)
	kernel.NormForward(f.axis, xhat, rows, cols, f.eps, tensor.Values[T](f.rs), f.mean, f.variance, om, ov)
	kernel.AffineForward(tensor.Values[T](y), xhat, tensor.Values[T](g), tensor.Values[T](b), rows, cols)
}

func (f *normFunc) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	x, g, b, rows, cols := f.parts(in)
	d := gy[0].Clone()
	gx := make([]*tensor.Tensor, len(in))
	var dg, db *tensor.Tensor
	k := 1
	if g != nil {
		dg = newLike(g, cols)
		gx[k] = dg
		k++
	}
	if b != nil {
		db = newLike(b, cols)
		gx[k] = db
	}
	tensor.Dispatch(x, normBackward[float32], normBackward[float64])(f, d, g, dg, db, rows, cols)
	gx[0] = d
	for i := range gx {
		if !need[i] {
			gx[i] = nil
		}
	}
	return gx
}

// normBackward turns d, the gradient of y, into that of x in place,
// accumulating the gradients of the gain and bias into dg and db (either
// may be nil).
func normBackward[T kernel.Float](f *normFunc, d, g, dg, db *tensor.Tensor, rows, cols int) {
	dv, xhat := tensor.Values[T](d), tensor.Values[T](f.xhat)
	kernel.AffineBackward(dv, xhat, tensor.Values[T](g), tensor.Values[T](dg), tensor.Values[T](db), rows, cols)
	kernel.NormBackward(f.axis, f.mean != nil, dv, xhat, rows, cols, tensor.Values[T](f.rs))
}
