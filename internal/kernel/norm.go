package kernel

import "math"

// The numeric passes of layer and batch normalisation, shared by the
// normalisation functions of package fn and the normalised recurrent
// kernels of package rnn.

// StatAxis says along which axis of a (rows, cols) block statistics are
// taken: over each row (layer normalisation) or over each column (batch
// normalisation).
type StatAxis uint8

const (
	// PerRow is layer normalisation: one mean and variance per row.
	PerRow StatAxis = iota
	// PerColumn is batch normalisation: one mean and variance per column.
	PerColumn
)

// NormForward normalises the block v (rows × cols) in place to
// x̂ = (v − μ)/√(σ² + eps) and writes the reciprocal standard deviations
// into rs (rows entries per row, cols per column). With mean and variance
// given (fixed statistics, batch normalisation in evaluation) they are used
// instead of the block's; otherwise, for batch normalisation, the block's
// statistics are written into obsMean and obsVar when those are non-nil.
// The passes run on the vector kernels in the block's precision (two-pass
// variance, so no cancellation).
func NormForward[T Float](axis StatAxis, v []T, rows, cols int, eps float64, rs []T, mean, variance, obsMean, obsVar []float64) {
	if axis == PerRow {
		n := T(cols)
		for r := 0; r < rows; r++ {
			x := v[r*cols : (r+1)*cols]
			Shift(-Sum(x)/n, x)
			inv := T(1 / math.Sqrt(float64(Dot(x, x)/n)+eps))
			rs[r] = inv
			Scale(inv, x)
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
			Sub(x, x, mu)
			Mul(x, x, rs[:cols])
		}
		return
	}
	for r := 0; r < rows; r++ {
		Axpy(1, v[r*cols:(r+1)*cols], mu)
	}
	Scale(1/T(rows), mu)
	sq := make([]T, cols)
	vr := make([]T, cols)
	for r := 0; r < rows; r++ {
		x := v[r*cols : (r+1)*cols]
		Sub(x, x, mu)
		Mul(sq, x, x)
		Axpy(1, sq, vr)
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
		Mul(x, x, rs[:cols])
	}
}

// NormBackward turns d, the gradient with respect to x̂ (rows × cols), into
// the gradient with respect to the block before normalisation, in place:
//
//	dv = rs·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂))
//
// with the means taken along the normalised axis, or dv = rs·dx̂ with fixed
// statistics.
func NormBackward[T Float](axis StatAxis, fixed bool, d, xhat []T, rows, cols int, rs []T) {
	if axis == PerRow {
		n := T(cols)
		for r := 0; r < rows; r++ {
			g, x := d[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
			s := Sum(g) / n
			sx := Dot(g, x) / n
			Shift(-s, g)
			Axpy(-sx, x, g)
			Scale(rs[r], g)
		}
		return
	}
	if fixed {
		for r := 0; r < rows; r++ {
			g := d[r*cols : (r+1)*cols]
			Mul(g, g, rs[:cols])
		}
		return
	}
	s, sx, tmp := make([]T, cols), make([]T, cols), make([]T, cols)
	for r := 0; r < rows; r++ {
		g, x := d[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		Axpy(1, g, s)
		Mul(tmp, g, x)
		Axpy(1, tmp, sx)
	}
	Scale(1/T(rows), s)
	Scale(1/T(rows), sx)
	for r := 0; r < rows; r++ {
		g, x := d[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		Sub(g, g, s)
		Mul(tmp, x, sx)
		Sub(g, g, tmp)
		Mul(g, g, rs[:cols])
	}
}

// AffineForward computes y = g⊙x̂ + b row by row (g and b of length cols;
// either may be nil, meaning 1 and 0).
func AffineForward[T Float](y, xhat, g, b []T, rows, cols int) {
	for r := 0; r < rows; r++ {
		yr, xr := y[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		if g != nil {
			Mul(yr, xr, g)
		} else {
			copy(yr, xr)
		}
		if b != nil {
			Axpy(1, b, yr)
		}
	}
}

// AffineBackward accumulates dg += Σ dy⊙x̂ and db += Σ dy over rows (each
// may be nil) and turns dy into dx̂ = dy⊙g in place (g nil means 1).
func AffineBackward[T Float](dy, xhat, g, dg, db []T, rows, cols int) {
	var tmp []T
	if dg != nil {
		tmp = make([]T, cols)
	}
	for r := 0; r < rows; r++ {
		d, x := dy[r*cols:(r+1)*cols], xhat[r*cols:(r+1)*cols]
		if dg != nil {
			Mul(tmp, d, x)
			Axpy(1, tmp, dg)
		}
		if db != nil {
			Axpy(1, d, db)
		}
		if g != nil {
			Mul(d, d, g)
		}
	}
}
