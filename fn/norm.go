package fn

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// statAxis says along which axis of a (rows, cols) block statistics are
// taken: over each row (layer normalisation) or over each column (batch
// normalisation).
type statAxis uint8

const (
	perRow    statAxis = iota // layer normalisation: one mean and variance per row
	perColumn                 // batch normalisation: one mean and variance per column
)

// normForward normalises the block v (rows × cols) in place to
// x̂ = (v − μ)/√(σ² + eps) and writes the reciprocal standard deviations
// into rs (rows entries per row, cols per column). With mean and variance
// given (fixed statistics, batch normalisation in evaluation) they are used
// instead of the block's; otherwise, for batch normalisation, the block's
// statistics are written into obsMean and obsVar when those are non-nil.
// The passes run on the vector kernels in the block's precision (two-pass
// variance, so no cancellation).
func normForward[T kernel.Float](axis statAxis, v []T, rows, cols int, eps float64, rs []T, mean, variance, obsMean, obsVar []float64) {
	if axis == perRow {
		n := T(cols)
		for r := 0; r < rows; r++ {
			x := v[r*cols : (r+1)*cols]
			kernel.Shift(-kernel.Sum(x)/n, x)
			inv := T(1 / math.Sqrt(float64(kernel.Dot(x, x)/n)+eps))
			rs[r] = inv
			kernel.Scale(inv, x)
		}
		return
	}
	mu := make([]T, cols)
	if mean != nil {
		for c := range mu {
			mu[c] = T(mean[c])
			rs[c] = T(1 / math.Sqrt(variance[c]+eps))
		}
		for r := 0; r < rows; r++ {
			x := v[r*cols : (r+1)*cols]
			kernel.Sub(x, x, mu)
			kernel.Mul(x, x, rs[:cols])
		}
		return
	}
	for r := 0; r < rows; r++ {
		kernel.Axpy(1, v[r*cols:(r+1)*cols], mu)
	}
	kernel.Scale(1/T(rows), mu)
	sq := make([]T, cols)
	vr := make([]T, cols)
	for r := 0; r < rows; r++ {
		x := v[r*cols : (r+1)*cols]
		kernel.Sub(x, x, mu)
		kernel.Mul(sq, x, x)
		kernel.Axpy(1, sq, vr)
	}
	for c := range vr {
		vc := float64(vr[c]) / float64(rows)
		rs[c] = T(1 / math.Sqrt(vc+eps))
		if obsMean != nil {
			obsMean[c], obsVar[c] = float64(mu[c]), vc
		}
	}
	for r := 0; r < rows; r++ {
		x := v[r*cols : (r+1)*cols]
		kernel.Mul(x, x, rs[:cols])
	}
}

// normBackward turns d, the gradient with respect to x̂ (rows × cols), into
// the gradient with respect to the block before normalisation, in place:
//
//	dv = rs·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂))
//
// with the means taken along the normalised axis, or dv = rs·dx̂ with fixed
// statistics.
func normBackward[T kernel.Float](axis statAxis, fixed bool, d, xhat []T, rows, cols int, rs []T) {
	if axis == perRow {
		n := T(cols)
		for r := 0; r < rows; r++ {
			g, x := d[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
			s := kernel.Sum(g) / n
			sx := kernel.Dot(g, x) / n
			kernel.Shift(-s, g)
			kernel.Axpy(-sx, x, g)
			kernel.Scale(rs[r], g)
		}
		return
	}
	if fixed {
		for r := 0; r < rows; r++ {
			g := d[r*cols : (r+1)*cols]
			kernel.Mul(g, g, rs[:cols])
		}
		return
	}
	s, sx, tmp := make([]T, cols), make([]T, cols), make([]T, cols)
	for r := 0; r < rows; r++ {
		g, x := d[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		kernel.Axpy(1, g, s)
		kernel.Mul(tmp, g, x)
		kernel.Axpy(1, tmp, sx)
	}
	kernel.Scale(1/T(rows), s)
	kernel.Scale(1/T(rows), sx)
	for r := 0; r < rows; r++ {
		g, x := d[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		kernel.Sub(g, g, s)
		kernel.Mul(tmp, x, sx)
		kernel.Sub(g, g, tmp)
		kernel.Mul(g, g, rs[:cols])
	}
}

// affineForward computes y = g⊙x̂ + b row by row (g and b of length cols;
// either may be nil, meaning 1 and 0).
func affineForward[T kernel.Float](y, xhat, g, b []T, rows, cols int) {
	for r := 0; r < rows; r++ {
		yr, xr := y[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		if g != nil {
			kernel.Mul(yr, xr, g)
		} else {
			copy(yr, xr)
		}
		if b != nil {
			kernel.Axpy(1, b, yr)
		}
	}
}

// affineBackward accumulates dg += Σ dy⊙x̂ and db += Σ dy over rows (each
// may be nil) and turns dy into dx̂ = dy⊙g in place (g nil means 1).
func affineBackward[T kernel.Float](dy, xhat, g, dg, db []T, rows, cols int) {
	var tmp []T
	if dg != nil {
		tmp = make([]T, cols)
	}
	for r := 0; r < rows; r++ {
		d, x := dy[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		if dg != nil {
			kernel.Mul(tmp, d, x)
			kernel.Axpy(1, tmp, dg)
		}
		if db != nil {
			kernel.Axpy(1, d, db)
		}
		if g != nil {
			kernel.Mul(d, d, g)
		}
	}
}

// LayerNorm normalises x over its last axis (Ba et al. 2016, "Layer
// Normalization"): y = γ⊙(x − μ)/√(σ² + eps) + β with μ and σ² the mean
// and variance of each row. gamma and beta have the size of the last axis
// and may be nil.
func LayerNorm(x, gamma, beta *Variable, eps float64) *Variable {
	return normApply(&normFunc{axis: perRow, eps: eps}, x, gamma, beta)
}

// BatchNormStats receives the batch statistics a training-mode
// BatchNorm computed, for a layer's running averages.
type BatchNormStats struct {
	Mean, Var []float64
}

// BatchNorm normalises x (N, C) over its batch axis (Ioffe & Szegedy
// 2015): y = γ⊙(x − μ)/√(σ² + eps) + β with μ and σ² the (biased) mean and
// variance of each column. When stats is non-nil the batch statistics are
// written into it. gamma and beta have length C and may be nil.
func BatchNorm(x, gamma, beta *Variable, eps float64, stats *BatchNormStats) *Variable {
	return normApply(&normFunc{axis: perColumn, eps: eps, obs: stats}, x, gamma, beta)
}

// FixedBatchNorm is batch normalisation with given statistics (evaluation
// mode): y = γ⊙(x − mean)/√(variance + eps) + β.
func FixedBatchNorm(x, gamma, beta *Variable, mean, variance []float64, eps float64) *Variable {
	return normApply(&normFunc{axis: perColumn, eps: eps, mean: mean, variance: variance}, x, gamma, beta)
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
	axis              statAxis
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
	if x.NDim() < 1 || (f.axis == perColumn && x.NDim() != 2) {
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
	if f.axis == perColumn && f.mean == nil && rows == 0 {
		panic(fmt.Sprintf("fn: BatchNorm of an empty batch %v", x.Shape()))
	}
	return x, g, b, rows, cols
}

func (f *normFunc) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x, g, b, rows, cols := f.parts(in)
	f.xhat = x.Clone()
	n := rows
	if f.axis == perColumn {
		n = cols
	}
	f.rs = newLike(x, n)
	var om, ov []float64
	if f.obs != nil {
		f.obs.Mean, f.obs.Var = make([]float64, cols), make([]float64, cols)
		om, ov = f.obs.Mean, f.obs.Var
	}
	y := newLike(x, x.Shape()...)
	if x.DType() == tensor.Float64 {
		normForward(f.axis, data[float64](f.xhat), rows, cols, f.eps, data[float64](f.rs), f.mean, f.variance, om, ov)
		affineForward(data[float64](y), data[float64](f.xhat), opt[float64](g), opt[float64](b), rows, cols)
	} else {
		normForward(f.axis, data[float32](f.xhat), rows, cols, f.eps, data[float32](f.rs), f.mean, f.variance, om, ov)
		affineForward(data[float32](y), data[float32](f.xhat), opt[float32](g), opt[float32](b), rows, cols)
	}
	return one(y)
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
	if x.DType() == tensor.Float64 {
		affineBackward(data[float64](d), data[float64](f.xhat), opt[float64](g), opt[float64](dg), opt[float64](db), rows, cols)
		normBackward(f.axis, f.mean != nil, data[float64](d), data[float64](f.xhat), rows, cols, data[float64](f.rs))
	} else {
		affineBackward(data[float32](d), data[float32](f.xhat), opt[float32](g), opt[float32](dg), opt[float32](db), rows, cols)
		normBackward(f.axis, f.mean != nil, data[float32](d), data[float32](f.xhat), rows, cols, data[float32](f.rs))
	}
	gx[0] = d
	for i := range gx {
		if !need[i] {
			gx[i] = nil
		}
	}
	return gx
}
