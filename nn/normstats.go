package nn

import (
	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
)

// runningStats keeps the population statistics of recurrent batch
// normalisation for one layer and direction, per time step.
type runningStats struct {
	kind     fn.NormKind
	momentum float64
	pop      fn.RecurrentNormStats
	seen     []int // batches seen per step (the first sets the statistics)
}

func newRunningStats(kind fn.NormKind, momentum float64) *runningStats {
	if momentum == 0 {
		momentum = 0.1
	}
	return &runningStats{kind: kind, momentum: momentum}
}

// spec returns the kernel's normalisation for mode: batch statistics with
// a slot to observe them in training, the population in evaluation (the
// last step's statistics serve later steps; before any training, batch
// statistics are used).
func (r *runningStats) spec(mode autograd.Mode) fn.RecurrentNorm { return r.specFrom(mode, 0) }

// specFrom is spec for a sequence whose first step is time step t0 (a
// stepped link's step count since Reset).
func (r *runningStats) specFrom(mode autograd.Mode, t0 int) fn.RecurrentNorm {
	n := fn.RecurrentNorm{Kind: r.kind}
	if r.kind != fn.BatchNormKind {
		return n
	}
	if mode == autograd.Eval && len(r.pop.X) > 0 {
		k := min(t0, len(r.pop.X)-1)
		p := fn.RecurrentNormStats{X: r.pop.X[k:], H: r.pop.H[k:]}
		if r.pop.C != nil {
			p.C = r.pop.C[k:]
		}
		n.Population = &p
		return n
	}
	if mode == autograd.Train {
		n.Observed = &fn.RecurrentNormStats{}
	}
	return n
}

// update folds the statistics a training step observed into the running
// averages: running = (1−m)·running + m·batch, the variance made unbiased
// by n/(n−1) as PyTorch does (n the step's batch size).
func (r *runningStats) update(n fn.RecurrentNorm, batchSizes []int) { r.updateFrom(n, batchSizes, 0) }

// updateFrom is update for a sequence whose first step is time step t0.
func (r *runningStats) updateFrom(n fn.RecurrentNorm, batchSizes []int, t0 int) {
	obs := n.Observed
	if obs == nil {
		return
	}
	for k := range obs.X {
		t := t0 + k
		for len(r.pop.X) <= t {
			r.pop.X = append(r.pop.X, fn.BatchNormStats{})
			r.pop.H = append(r.pop.H, fn.BatchNormStats{})
			if obs.C != nil {
				r.pop.C = append(r.pop.C, fn.BatchNormStats{})
			}
			r.seen = append(r.seen, 0)
		}
		unbias := 1.0
		if b := batchSizes[k]; b > 1 {
			unbias = float64(b) / float64(b-1)
		}
		fold := func(dst *fn.BatchNormStats, src fn.BatchNormStats) {
			if r.seen[t] == 0 {
				dst.Mean = append([]float64(nil), src.Mean...)
				dst.Var = make([]float64, len(src.Var))
				for i, v := range src.Var {
					dst.Var[i] = v * unbias
				}
				return
			}
			m := r.momentum
			for i := range dst.Mean {
				dst.Mean[i] = (1-m)*dst.Mean[i] + m*src.Mean[i]
				dst.Var[i] = (1-m)*dst.Var[i] + m*src.Var[i]*unbias
			}
		}
		fold(&r.pop.X[t], obs.X[k])
		fold(&r.pop.H[t], obs.H[k])
		if obs.C != nil {
			fold(&r.pop.C[t], obs.C[k])
		}
		r.seen[t]++
	}
}

// Stats returns the population statistics (per time step) for layer l and
// direction d of a batch-normalised stack, or nil for other stacks. The
// slices are the layer's own; callers saving them must copy.
func (s *stack) Stats(l, d int) *fn.RecurrentNormStats {
	if s.running == nil {
		return nil
	}
	return &s.running[l][d].pop
}

// Stats returns the population statistics (per time step) of a
// batch-normalised link, or nil.
func (s *state) Stats() *fn.RecurrentNormStats {
	if s.norm == nil {
		return nil
	}
	return &s.norm.pop
}

// normSpec returns the normalisation of the link's next step.
func (s *state) normSpec() fn.RecurrentNorm {
	if s.norm == nil {
		return fn.RecurrentNorm{}
	}
	return s.norm.specFrom(s.mode, s.t)
}

// normDone records a step's batch statistics and advances the step count.
func (s *state) normDone(n fn.RecurrentNorm, b int) {
	if s.norm != nil {
		s.norm.updateFrom(n, []int{b}, s.t)
	}
	s.t++
}
