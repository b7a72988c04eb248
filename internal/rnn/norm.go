package rnn

import "github.com/kioku-ml/kioku/internal/kernel"

// normalizer applies the normalisation of a call to blocks of one step
// (or, for layer norm, of any rows).
type normalizer[T kernel.Float] struct {
	norm normSpec
}

func (n normalizer[T]) axis() kernel.StatAxis {
	if n.norm.Kind == LayerNorm {
		return kernel.PerRow
	}
	return kernel.PerColumn
}

// pickStats picks the statistics of step t from a list (fixed, population) or
// the slot to record them in (observed).
func pickStats(list []BatchNormStats, t int) *BatchNormStats {
	if len(list) == 0 {
		return nil
	}
	return &list[min(t, len(list)-1)]
}

// forward normalises block v (b rows × w) of step t, whose first packed row
// is off, into x̂ (saved in xhat rows) and leaves x̂ in v. which selects the
// statistics: 0 input projection, 1 recurrent projection, 2 cell.
func (n normalizer[T]) forward(v, xhat, rs []T, t, off, b, w, which int) {
	var mean, variance, om, ov []float64
	r := rs
	if n.norm.Kind == LayerNorm {
		r = rs[off : off+b]
	} else {
		r = rs[t*w : (t+1)*w]
		pick := func(st *NormStats) *BatchNormStats {
			if st == nil {
				return nil
			}
			return pickStats([][]BatchNormStats{st.X, st.H, st.C}[which], t)
		}
		if p := pick(n.norm.Population); p != nil {
			mean, variance = p.Mean, p.Var
		} else if o := pick(n.norm.Observed); o != nil {
			o.Mean, o.Var = make([]float64, w), make([]float64, w)
			om, ov = o.Mean, o.Var
		}
	}
	kernel.NormForward(n.axis(), v, b, w, n.norm.Eps, r, mean, variance, om, ov)
	copy(xhat[off*w:(off+b)*w], v)
}

// backward turns d (b × w), the gradient with respect to x̂ of the block of
// step t, into the gradient before normalisation, in place.
func (n normalizer[T]) backward(d, xhat, rs []T, t, off, b, w int) {
	r := rs
	if n.norm.Kind == LayerNorm {
		r = rs[off : off+b]
	} else {
		r = rs[t*w : (t+1)*w]
	}
	fixed := n.norm.Kind == BatchNorm && n.norm.Population != nil
	kernel.NormBackward(n.axis(), fixed, d, xhat[off*w:(off+b)*w], b, w, r)
}
