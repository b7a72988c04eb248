package nn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// Regularization selects the dropout variants and zoneout of a recurrent
// layer; every field is a probability in [0, 1) and zero turns it off.
// All masks come from the layer's seeded RNG. In autograd.Eval mode every
// dropout is the identity and zoneout uses its expectation (each unit keeps
// a fraction p of its previous value).
type Regularization struct {
	// InputDropout and OutputDropout are ordinary dropout on the input of
	// the first layer and the output of the last: the non-recurrent
	// connections of Zaremba et al. (2014). (Dropout between stacked
	// layers is RecurrentConfig.Dropout.)
	InputDropout, OutputDropout float64
	// VariationalInput and VariationalHidden are the variational dropout
	// of Gal & Ghahramani (2016): one mask per sequence, reused at every
	// step, on the input of every layer and on the state h₋₁ where it
	// enters W_hh.
	VariationalInput, VariationalHidden float64
	// RecurrentDropout is recurrent dropout without memory loss (Semeniuta
	// et al. 2016): dropout on the candidate only — c = f⊙c₋₁ + i⊙d(g) in
	// the LSTM, h = (1−z)⊙d(n) + z⊙h₋₁ in the GRU — with a fresh mask at
	// every step, so the memory is never dropped. Not for the Elman RNN.
	RecurrentDropout float64
	// ZoneoutH and ZoneoutC are zoneout (Krueger et al. 2017): each unit of
	// h (and, for the LSTM, of c) keeps its previous value with this
	// probability at every step. ZoneoutC is for the LSTM only.
	ZoneoutH, ZoneoutC float64
	// WeightDrop is DropConnect on the recurrent weights W_hh, as in
	// AWD-LSTM (Merity et al. 2018; Wan et al. 2013): one mask over the
	// matrix per forward pass (per sequence batch for NStep layers; per
	// state, until Reset or ResampleMasks, for stepped links).
	WeightDrop float64
}

func (r Regularization) validate(cell fn.Cell) error {
	for _, f := range []struct {
		name string
		p    float64
	}{{"InputDropout", r.InputDropout}, {"OutputDropout", r.OutputDropout}, {"VariationalInput", r.VariationalInput}, {"VariationalHidden", r.VariationalHidden}, {"RecurrentDropout", r.RecurrentDropout}, {"ZoneoutH", r.ZoneoutH}, {"ZoneoutC", r.ZoneoutC}, {"WeightDrop", r.WeightDrop}} {
		if !(f.p >= 0 && f.p < 1) {
			return fmt.Errorf("nn: %v %s %v outside [0, 1)", cell, f.name, f.p)
		}
	}
	if r.RecurrentDropout > 0 && cell != fn.LSTMCellKind && cell != fn.GRUCellKind {
		return fmt.Errorf("nn: RecurrentDropout (on the candidate) needs an LSTM or GRU, not %v", cell)
	}
	if r.ZoneoutC > 0 && cell != fn.LSTMCellKind {
		return fmt.Errorf("nn: ZoneoutC needs an LSTM, not %v", cell)
	}
	return nil
}

// dropoutMask returns a (rows, cols) mask of 0 and 1/(1−p) entries.
func dropoutMask(dt tensor.DType, rng *tensor.RNG, p float64, rows, cols int) *tensor.Tensor {
	m := tensor.New(dt, rows, cols)
	m.FillDropoutMask(rng, p)
	return m
}

// zoneoutMask returns a (rows, cols) zoneout mask: 1 (keep the previous
// value) with probability p in training, the constant p in evaluation.
func zoneoutMask(dt tensor.DType, rng *tensor.RNG, p float64, rows, cols int, mode autograd.Mode) *tensor.Tensor {
	m := tensor.New(dt, rows, cols)
	if mode == autograd.Eval {
		m.Fill(p)
		return m
	}
	m.FillBernoulli(rng, p)
	return m
}

// stepMasks draws the per-step masks (candidate dropout, zoneout) for n
// rows of a layer with H units.
func (r Regularization) stepMasks(cell fn.Cell, dt tensor.DType, rng *tensor.RNG, n, H int, mode autograd.Mode) fn.RecurrentMasks {
	var m fn.RecurrentMasks
	if r.RecurrentDropout > 0 && mode == autograd.Train {
		m.Candidate = dropoutMask(dt, rng, r.RecurrentDropout, n, H)
	}
	if r.ZoneoutH > 0 {
		m.ZoneH = zoneoutMask(dt, rng, r.ZoneoutH, n, H, mode)
	}
	if r.ZoneoutC > 0 && cell == fn.LSTMCellKind {
		m.ZoneC = zoneoutMask(dt, rng, r.ZoneoutC, n, H, mode)
	}
	return m
}

// dropWeights applies DropConnect to W_hh in training mode.
func (r Regularization) dropWeights(w fn.RecurrentWeights, rng *tensor.RNG, mode autograd.Mode) fn.RecurrentWeights {
	if r.WeightDrop > 0 && mode == autograd.Train {
		w.WHH = fn.Dropout(w.WHH, r.WeightDrop, rng, mode)
	}
	return w
}
