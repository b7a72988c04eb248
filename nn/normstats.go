package nn

import (
	"fmt"
	"iter"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// The three normalised quantities of recurrent batch normalisation: the
// input projection W_ih·x, the recurrent projection W_hh·h and the
// LSTM's cell.
const (
	statX = iota
	statH
	statC
)

// runningStats keeps the population statistics of recurrent batch
// normalisation for one layer and direction, per time step. Each
// quantity's means and variances are kept apart, one row per step, so
// that its buffers can be set one at a time; the statistics cover the
// steps every row list covers (steps).
type runningStats struct {
	kind     fn.NormKind
	momentum float64
	cols     [3]int         // row widths of X, H and C (C 0 without a cell state)
	mean     [3][][]float64 // mean[q][t]: quantity q, step t
	vari     [3][][]float64 // the variances, likewise
	seen     []int          // batches seen per step (the first sets the statistics)
}

// newRunningStats returns empty statistics for a cell with the given
// number of gates and hidden size (the cell statistics when cell is set).
func newRunningStats(kind fn.NormKind, momentum float64, gates, hidden int, cell bool) *runningStats {
	if momentum == 0 {
		momentum = 0.1
	}
	r := &runningStats{kind: kind, momentum: momentum, cols: [3]int{gates * hidden, gates * hidden, 0}}
	if cell {
		r.cols[statC] = hidden
	}
	return r
}

// steps returns the number of time steps the statistics cover.
func (r *runningStats) steps() int {
	n := len(r.seen)
	for q, w := range r.cols {
		if w > 0 {
			n = min(n, len(r.mean[q]), len(r.vari[q]))
		}
	}
	return n
}

// population returns the statistics of steps k onwards as the kernel
// takes them; the rows are the layer's own.
func (r *runningStats) population(k int) *fn.RecurrentNormStats {
	T := r.steps()
	list := func(q int) []fn.BatchNormStats {
		if r.cols[q] == 0 {
			return nil
		}
		l := make([]fn.BatchNormStats, 0, max(T-k, 0))
		for t := k; t < T; t++ {
			l = append(l, fn.BatchNormStats{Mean: r.mean[q][t], Var: r.vari[q][t]})
		}
		return l
	}
	return &fn.RecurrentNormStats{X: list(statX), H: list(statH), C: list(statC)}
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
	if T := r.steps(); mode == autograd.Eval && T > 0 {
		n.Population = r.population(min(t0, T-1))
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
	// Drop rows that not every list has (buffers set to different
	// lengths), then grow every list to the steps observed; a step never
	// observed gets mean 0, variance 1 and no batches.
	T := r.steps()
	r.seen = r.seen[:T]
	for q := range r.cols {
		r.mean[q], r.vari[q] = r.mean[q][:min(T, len(r.mean[q]))], r.vari[q][:min(T, len(r.vari[q]))]
	}
	for len(r.seen) < t0+len(obs.X) {
		for q, w := range r.cols {
			if w > 0 {
				v := make([]float64, w)
				for i := range v {
					v[i] = 1
				}
				r.mean[q] = append(r.mean[q], make([]float64, w))
				r.vari[q] = append(r.vari[q], v)
			}
		}
		r.seen = append(r.seen, 0)
	}
	for k := range obs.X {
		t := t0 + k
		unbias := 1.0
		if b := batchSizes[k]; b > 1 {
			unbias = float64(b) / float64(b-1)
		}
		fold := func(q int, src fn.BatchNormStats) {
			mean, vari := r.mean[q][t], r.vari[q][t]
			m := r.momentum
			if r.seen[t] == 0 {
				m = 1
			}
			for i := range mean {
				mean[i] = (1-m)*mean[i] + m*src.Mean[i]
				vari[i] = (1-m)*vari[i] + m*src.Var[i]*unbias
			}
		}
		fold(statX, obs.X[k])
		fold(statH, obs.H[k])
		if obs.C != nil && r.cols[statC] > 0 {
			fold(statC, obs.C[k])
		}
		r.seen[t]++
	}
}

// buffers yields the statistics as buffers named
// bn_running_{x,h,c}_{mean,var}+suffix, each (T, width) with one row per
// time step, and bn_num_batches_tracked+suffix (T), the batches folded
// into each step's statistics. Layer normalisation has none.
func (r *runningStats) buffers(suffix string) iter.Seq2[string, Buffer] {
	return func(yield func(string, Buffer) bool) {
		if r == nil || r.kind != fn.BatchNormKind {
			return
		}
		for q, letter := range []string{"x", "h", "c"} {
			if r.cols[q] == 0 {
				continue
			}
			for _, v := range []bool{false, true} {
				name := "bn_running_" + letter + "_mean" + suffix
				if v {
					name = "bn_running_" + letter + "_var" + suffix
				}
				if !yield(name, r.rowsBuffer(name, q, v)) {
					return
				}
			}
		}
		name := "bn_num_batches_tracked" + suffix
		yield(name, funcBuffer{
			value: func() *tensor.Tensor {
				t := tensor.New(tensor.Float64, r.steps())
				for i := range t.Float64s() {
					t.Float64s()[i] = float64(r.seen[i])
				}
				return t
			},
			set: func(t *tensor.Tensor) error {
				if t == nil || t.NDim() != 1 {
					return fmt.Errorf("nn: buffer %s has shape %v, want (T)", name, shapeOfTensor(t))
				}
				if err := checkBufferValues(name, t, true, true); err != nil {
					return err
				}
				seen := make([]int, t.Size())
				for i, v := range t.Values() {
					seen[i] = int(v)
				}
				r.seen = seen
				return nil
			},
		})
	}
}

// rowsBuffer is the buffer of quantity q's means (or variances).
func (r *runningStats) rowsBuffer(name string, q int, variance bool) Buffer {
	rows := &r.mean[q]
	if variance {
		rows = &r.vari[q]
	}
	w := r.cols[q]
	return funcBuffer{
		value: func() *tensor.Tensor {
			T := r.steps()
			t := tensor.New(tensor.Float64, T, w)
			for i := range T {
				copy(t.Float64s()[i*w:(i+1)*w], (*rows)[i])
			}
			return t
		},
		set: func(t *tensor.Tensor) error {
			if t == nil || t.NDim() != 2 || t.Dim(1) != w {
				return fmt.Errorf("nn: buffer %s has shape %v, want (T, %d)", name, shapeOfTensor(t), w)
			}
			if err := checkBufferValues(name, t, variance, false); err != nil {
				return err
			}
			v := t.Values()
			out := make([][]float64, t.Dim(0))
			for i := range out {
				out[i] = v[i*w : (i+1)*w : (i+1)*w]
			}
			*rows = out
			return nil
		},
	}
}

// shapeOfTensor prints t's shape, or nil.
func shapeOfTensor(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	return shapeOf(t.Shape())
}

// Stats returns the population statistics (per time step) for layer l and
// direction d of a batch-normalised stack, or nil for other stacks. The
// rows are the layer's own; callers saving them must copy (or use
// NamedBuffers).
func (s *stack) Stats(l, d int) *fn.RecurrentNormStats {
	if s.running == nil || s.cfg.Norm != fn.BatchNormKind {
		return nil
	}
	return s.running[l][d].population(0)
}

// NamedBuffers yields the running statistics of batch normalisation (see
// RecurrentConfig.Norm) of each layer k and direction, named as the
// parameters are: bn_running_x_mean_l{k}, bn_running_x_var_l{k} (T, G·H)
// for W_ih·x, bn_running_h_mean_l{k}, bn_running_h_var_l{k} (T, G·H) for
// W_hh·h, for the LSTM bn_running_c_mean_l{k}, bn_running_c_var_l{k}
// (T, H) for the cell, and bn_num_batches_tracked_l{k} (T), the batches
// folded into each step's statistics; suffix _reverse for the backward
// direction. T is the number of time steps seen in training (0 before
// any). A stack without batch normalisation has no buffers.
func (s *stack) NamedBuffers() iter.Seq2[string, Buffer] {
	return func(yield func(string, Buffer) bool) {
		for l := range s.running {
			for d, r := range s.running[l] {
				suffix := fmt.Sprintf("_l%d", l)
				if d == 1 {
					suffix += "_reverse"
				}
				for n, b := range r.buffers(suffix) {
					if !yield(n, b) {
						return
					}
				}
			}
		}
	}
}

// Stats returns the population statistics (per time step) of a
// batch-normalised link, or nil.
func (s *state) Stats() *fn.RecurrentNormStats {
	if s.norm == nil || s.norm.kind != fn.BatchNormKind {
		return nil
	}
	return s.norm.population(0)
}

// NamedBuffers yields the running statistics of a batch-normalised link,
// named as a stack's without the layer suffix: bn_running_x_mean,
// bn_running_x_var, bn_running_h_mean, bn_running_h_var, for the LSTMs
// bn_running_c_mean, bn_running_c_var, and bn_num_batches_tracked (see
// NStepLSTM.NamedBuffers). Other links have none.
func (s *state) NamedBuffers() iter.Seq2[string, Buffer] { return s.norm.buffers("") }

// normSpec returns the normalisation of the link's next step.
func (s *state) normSpec() fn.RecurrentNorm {
	if s.norm == nil {
		return fn.RecurrentNorm{}
	}
	return s.norm.specFrom(s.mode, s.t)
}

// normDone records the batch statistics of the steps of batchSizes and
// advances the step count.
func (s *state) normDone(n fn.RecurrentNorm, batchSizes []int) {
	if s.norm == nil || s.norm.kind != fn.BatchNormKind {
		return // only batch normalisation picks its statistics by step
	}
	s.norm.updateFrom(n, batchSizes, s.t)
	s.t += len(batchSizes)
}
