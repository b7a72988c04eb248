package seq2seq

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/kioku-ml/kioku/tensor"
)

// Stepper is what the decoding algorithms need from a model: one step of
// the decoder for a batch of rows, and a way to reorder, drop or repeat
// rows. S is the model's state type; *Model is a Stepper[*State].
//
// The search functions call Step and Gather only with tokens the model
// scored and rows the state has, so an implementation may panic on
// anything else: that is a bug in the caller, not bad input.
//
// For a batched search to give each row what searching it alone gives,
// row n of Step's results must depend only on row n of s and prev[n],
// not on the other rows or their number (as *Model's do).
type Stepper[S any] interface {
	// Step feeds prev[n], the last token of row n, and returns the
	// log-probabilities of the next token, (N, V), the attention weights
	// (N, S_src) or nil, and the next state. It must not modify s.
	Step(s S, prev []int) (logProbs, attention *tensor.Tensor, next S)
	// Gather returns a state whose row k is row idx[k] of s.
	Gather(s S, idx []int) S
}

// Limits bound a decoding.
type Limits struct {
	// BOS is the token fed at the first step and EOS the one that ends a
	// hypothesis.
	BOS, EOS int
	// MaxLen is the most decoding steps, EOS included: a hypothesis that
	// has not produced EOS after MaxLen tokens stops unfinished. It must
	// be positive unless MaxLens is set.
	MaxLen int
	// MaxLens, if not nil, holds one limit per row of the initial state
	// (each positive), in place of MaxLen: row i stops after MaxLens[i]
	// steps. Model.Decode uses it for its default limit, which depends on
	// each source's length.
	MaxLens []int
}

// check validates the limits for a search of n rows.
func (l Limits) check(op string, n int) error {
	if n < 0 {
		return fmt.Errorf("seq2seq: %s of %d rows", op, n)
	}
	if l.MaxLens == nil {
		if l.MaxLen <= 0 {
			return fmt.Errorf("seq2seq: %s with MaxLen %d; want a positive limit", op, l.MaxLen)
		}
		return nil
	}
	if len(l.MaxLens) != n {
		return fmt.Errorf("seq2seq: %s of %d rows with %d limits", op, n, len(l.MaxLens))
	}
	for i, v := range l.MaxLens {
		if v <= 0 {
			return fmt.Errorf("seq2seq: %s with limit %d for row %d; want a positive limit", op, v, i)
		}
	}
	return nil
}

// maxLen returns the limit of row i.
func (l Limits) maxLen(i int) int {
	if l.MaxLens != nil {
		return l.MaxLens[i]
	}
	return l.MaxLen
}

// longest returns the largest limit of n rows.
func (l Limits) longest(n int) int {
	if l.MaxLens == nil {
		return l.MaxLen
	}
	m := 0
	for _, v := range l.MaxLens[:n] {
		m = max(m, v)
	}
	return m
}

// Hypothesis is one decoded output sequence.
type Hypothesis struct {
	// Tokens are the output tokens, BOS and EOS excluded.
	Tokens []int
	// LogProb is the model's log-probability of Tokens followed, if
	// Finished, by EOS.
	LogProb float64
	// Score is what a beam search ranks by: LogProb divided by
	// Length()^α for a length penalty α (Score = LogProb for α = 0 and for
	// greedy and sampled hypotheses).
	Score float64
	// Finished reports whether the hypothesis ended with EOS, rather than
	// stopping at Limits.MaxLen.
	Finished bool
	// Attention holds, for each output step (one per token, then one for
	// EOS if Finished), the attention weights over the source positions;
	// nil when the model has no attention. Model.Decode gives one weight
	// per position of the hypothesis's source; the search functions give
	// the rows Step returns (for *Model, padded with zeros to the
	// longest source of the batch).
	Attention [][]float64
}

// Length returns the number of steps the hypothesis took: its tokens,
// and EOS if Finished.
func (h Hypothesis) Length() int {
	if h.Finished {
		return len(h.Tokens) + 1
	}
	return len(h.Tokens)
}

// rowReader copies row i of a 2-D tensor into dst as float64s.
func rowReader(t *tensor.Tensor, dst []float64, i int) []float64 {
	return tensor.Dispatch(t, appendRow[float32], appendRow[float64])(dst[:0], t, i)
}

// appendRow appends row i of a 2-D tensor of element type T to dst as
// float64s (see tensor.Dispatch).
func appendRow[T float32 | float64](dst []float64, t *tensor.Tensor, i int) []float64 {
	w := t.Dim(1)
	for _, v := range tensor.Values[T](t)[i*w : (i+1)*w] {
		dst = append(dst, float64(v))
	}
	return dst
}

// descending orders a before b when a > b, for sorting by decreasing
// score; unordered (NaN) pairs compare equal.
func descending(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// argmax returns the index of the largest value, the first on ties.
func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// Greedy decodes the n rows of init by taking the most probable token at
// every step (the first on ties) until EOS or the row's limit, dropping
// finished rows from the batch as it goes. It returns one hypothesis per
// row, or ctx.Err() if ctx is done before it finishes (it checks once per
// step), or an error for invalid limits.
func Greedy[S any](ctx context.Context, m Stepper[S], init S, n int, lim Limits) ([]Hypothesis, error) {
	if err := lim.check("Greedy", n); err != nil {
		return nil, err
	}
	return walk(ctx, m, init, n, lim, greedyChoice, nil)
}

// greedyChoice picks the most probable token, the first on ties.
func greedyChoice(_ int, logp []float64) int { return argmax(logp) }

// checkTemperature validates a sampling temperature.
func checkTemperature(op string, temperature float64) error {
	if !(temperature > 0) || math.IsInf(temperature, 1) {
		return fmt.Errorf("seq2seq: %s with temperature %v; want a positive finite value", op, temperature)
	}
	return nil
}

// Sample decodes the n rows of init by drawing each token from the
// model's distribution sharpened or flattened by temperature τ,
// p ∝ exp(log p / τ), with random numbers from rng (so the same seed gives
// the same samples). τ must be positive; τ → 0 approaches Greedy. The rows
// draw from rng in turn, one number per live row and step in row order,
// so a row's sample depends on the rows decoded with it; SampleEach gives
// each row a generator of its own. It returns ctx.Err() if ctx is done
// before it finishes (it checks once per step), or an error for invalid
// arguments.
func Sample[S any](ctx context.Context, m Stepper[S], init S, n int, lim Limits, temperature float64, rng *tensor.RNG) ([]Hypothesis, error) {
	if err := lim.check("Sample", n); err != nil {
		return nil, err
	}
	if err := checkTemperature("Sample", temperature); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("seq2seq: Sample needs an RNG")
	}
	return walk(ctx, m, init, n, lim, sampleChoice(temperature, func(int) *tensor.RNG { return rng }), nil)
}

// SampleEach is Sample with one generator per row: row i draws only from
// rngs[i], so its sample is the one Sample gives decoding it alone with
// that generator, whatever else is in the batch (for a Stepper whose rows
// are independent, as *Model's are).
func SampleEach[S any](ctx context.Context, m Stepper[S], init S, n int, lim Limits, temperature float64, rngs []*tensor.RNG) ([]Hypothesis, error) {
	if err := lim.check("SampleEach", n); err != nil {
		return nil, err
	}
	if err := checkTemperature("SampleEach", temperature); err != nil {
		return nil, err
	}
	if err := checkRNGs("SampleEach", rngs, n); err != nil {
		return nil, err
	}
	return walk(ctx, m, init, n, lim, sampleChoice(temperature, func(i int) *tensor.RNG { return rngs[i] }), nil)
}

// checkRNGs validates one generator per row.
func checkRNGs(op string, rngs []*tensor.RNG, n int) error {
	if len(rngs) != n {
		return fmt.Errorf("seq2seq: %s of %d rows with %d RNGs", op, n, len(rngs))
	}
	for i, r := range rngs {
		if r == nil {
			return fmt.Errorf("seq2seq: %s: RNG %d is nil", op, i)
		}
	}
	return nil
}

// sampleChoice draws a token at temperature τ with a number from the
// generator rng(row) gives.
func sampleChoice(temperature float64, rng func(row int) *tensor.RNG) func(int, []float64) int {
	var p []float64
	return func(row int, logp []float64) int {
		p = p[:0]
		hi := math.Inf(-1)
		for _, v := range logp {
			hi = max(hi, v/temperature)
		}
		var sum float64
		for _, v := range logp {
			e := math.Exp(v/temperature - hi)
			p = append(p, e)
			sum += e
		}
		u := rng(row).Float64() * sum
		last := 0
		for i, e := range p {
			if e > 0 {
				last = i
			}
			if u < e {
				return i
			}
			u -= e
		}
		return last // rounding
	}
}

// walk runs a decoding that extends each row by one chosen token per
// step. If emit is not nil, it is called with each token (EOS excluded)
// as it is chosen; walk stops early, without an error, when it returns
// false.
func walk[S any](ctx context.Context, m Stepper[S], s S, n int, lim Limits, choose func(row int, logp []float64) int, emit func(row, tok int) bool) ([]Hypothesis, error) {
	hyps := make([]Hypothesis, n)
	active := make([]int, n) // active[k]: the hypothesis in row k
	prev := make([]int, n)
	for i := range active {
		active[i], prev[i] = i, lim.BOS
	}
	var buf []float64
	for t := 0; len(active) > 0; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logp, attn, next := m.Step(s, prev)
		var keep, kept, nextPrev []int
		for k, i := range active {
			buf = rowReader(logp, buf, k)
			tok := choose(i, buf)
			h := &hyps[i]
			h.LogProb += buf[tok]
			if attn != nil {
				h.Attention = append(h.Attention, rowReader(attn, nil, k))
			}
			if tok == lim.EOS {
				h.Finished = true
				continue
			}
			h.Tokens = append(h.Tokens, tok)
			if emit != nil && !emit(i, tok) {
				return nil, nil
			}
			if t+1 < lim.maxLen(i) {
				keep, kept, nextPrev = append(keep, k), append(kept, i), append(nextPrev, tok)
			}
		}
		if len(keep) > 0 && len(keep) < len(active) {
			next = m.Gather(next, keep)
		}
		active, prev, s = kept, nextPrev, next
	}
	for i := range hyps {
		hyps[i].Score = hyps[i].LogProb
	}
	return hyps, nil
}

// BeamOptions configure BeamSearch.
type BeamOptions struct {
	// Width is the beam width K ≥ 1: the number of hypotheses kept per
	// sentence at every step.
	Width int
	// LengthPenalty is α ≥ 0: finished hypotheses are ranked by
	// LogProb / Length()^α. 0 ranks by log-probability alone, which
	// favours short outputs; 1 by the mean log-probability per token.
	LengthPenalty float64
}

// beamHyp is a live hypothesis of a beam.
type beamHyp struct {
	tokens []int
	attn   [][]float64
	logp   float64
}

// candidate is an extension of a live hypothesis by one token.
type candidate struct {
	hyp, tok int
	logp     float64
}

// BeamSearch decodes the n rows of init with a beam of opts.Width
// hypotheses per row, all rows and beams advancing together as one batch
// of at most n·Width rows.
//
// At each step every live hypothesis of a sentence proposes its Width
// most probable next tokens; of these candidates, ranked by total
// log-probability, those ending in EOS that rank within the first Width
// are set aside as finished and the best Width others stay live. A
// sentence is done when no live hypothesis can still outscore its best
// finished one — log-probabilities only fall, so a live hypothesis's final
// score is at most LogProb / MaxLen^α, and for α = 0 at most its current
// LogProb: the search then stops as soon as the best finished hypothesis
// beats every live one — or at MaxLen. Done sentences leave the batch.
//
// It returns, for each row of init, up to Width hypotheses best first:
// the finished ones by Score, then, if there were fewer than Width, the
// unfinished ones left at MaxLen. With Width 1 the result equals Greedy's.
// It returns ctx.Err() if ctx is done before it finishes (it checks once
// per step), or an error for invalid limits or options.
func BeamSearch[S any](ctx context.Context, m Stepper[S], init S, n int, lim Limits, opts BeamOptions) ([][]Hypothesis, error) {
	if err := lim.check("BeamSearch", n); err != nil {
		return nil, err
	}
	K := opts.Width
	if K < 1 {
		return nil, fmt.Errorf("seq2seq: BeamSearch with width %d; want at least 1", K)
	}
	alpha := opts.LengthPenalty
	if !(alpha >= 0) || math.IsInf(alpha, 1) {
		return nil, fmt.Errorf("seq2seq: BeamSearch with length penalty %v; want a finite value ≥ 0", alpha)
	}
	norm := func(logp float64, length int) float64 {
		if alpha == 0 || length == 0 {
			return logp
		}
		return logp / math.Pow(float64(length), alpha)
	}
	live := make([][]beamHyp, n)
	finished := make([][]Hypothesis, n)
	active := make([]int, n) // sentences in the batch, in row order
	prev := make([]int, n)
	for i := range n {
		live[i] = []beamHyp{{}}
		active[i], prev[i] = i, lim.BOS
	}
	s := init
	var buf []float64
	var cands []candidate
	for t := 0; len(active) > 0; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logp, attn, next := m.Step(s, prev)
		var gather, newPrev, newActive []int
		row := 0
		for _, b := range active {
			hyps := live[b]
			cands = cands[:0]
			for j, h := range hyps {
				buf = rowReader(logp, buf, row+j)
				for _, tok := range topK(buf, K) {
					cands = append(cands, candidate{hyp: j, tok: tok, logp: h.logp + buf[tok]})
				}
			}
			slices.SortStableFunc(cands, func(x, y candidate) int { return descending(x.logp, y.logp) })
			var nl []beamHyp
			for rank, c := range cands {
				if len(nl) == K {
					break
				}
				if c.logp == math.Inf(-1) {
					break
				}
				parent := hyps[c.hyp]
				var a [][]float64
				if attn != nil {
					a = append(slices.Clip(parent.attn), rowReader(attn, nil, row+c.hyp))
				}
				if c.tok == lim.EOS {
					if rank < K {
						finished[b] = append(finished[b], Hypothesis{
							Tokens: slices.Clone(parent.tokens), LogProb: c.logp,
							Score: norm(c.logp, len(parent.tokens)+1), Finished: true, Attention: a,
						})
					}
					continue
				}
				nl = append(nl, beamHyp{tokens: append(slices.Clip(parent.tokens), c.tok), attn: a, logp: c.logp})
				gather = append(gather, row+c.hyp)
				newPrev = append(newPrev, c.tok)
			}
			row += len(hyps)
			live[b] = nl
			done := beamDone(finished[b], nl, norm(1, lim.maxLen(b)))
			if done || t+1 >= lim.maxLen(b) {
				gather = gather[:len(gather)-len(nl)]
				newPrev = newPrev[:len(newPrev)-len(nl)]
				if done {
					live[b] = nil
				} // else kept: the unfinished hypotheses left at the limit
				continue
			}
			newActive = append(newActive, b)
		}
		active, prev = newActive, newPrev
		if len(gather) > 0 {
			s = m.Gather(next, gather)
		}
	}
	out := make([][]Hypothesis, n)
	for b := range n {
		fin := finished[b]
		slices.SortStableFunc(fin, func(x, y Hypothesis) int { return descending(x.Score, y.Score) })
		if len(fin) > K {
			fin = fin[:K]
		}
		for _, h := range live[b] {
			if len(fin) == K {
				break
			}
			fin = append(fin, Hypothesis{Tokens: h.tokens, LogProb: h.logp, Score: norm(h.logp, len(h.tokens)), Attention: h.attn})
		}
		out[b] = fin
	}
	return out, nil
}

// beamDone reports whether a sentence's search is over: it has no live
// hypotheses, or none that can still beat the best finished one. scale is
// 1/MaxLen^α, the factor bounding a live hypothesis's final normalised
// score.
func beamDone(fin []Hypothesis, live []beamHyp, scale float64) bool {
	if len(live) == 0 {
		return true
	}
	if len(fin) == 0 {
		return false
	}
	best := math.Inf(-1)
	for _, h := range fin {
		best = max(best, h.Score)
	}
	for _, h := range live {
		if h.logp*scale > best {
			return false
		}
	}
	return true
}

// topK returns the indices of the k largest values of x, largest first,
// the lower index first on ties.
func topK(x []float64, k int) []int {
	k = min(k, len(x))
	idx := make([]int, 0, k)
	for i, v := range x {
		if len(idx) == k && v <= x[idx[k-1]] {
			continue
		}
		pos := len(idx)
		for pos > 0 && v > x[idx[pos-1]] {
			pos--
		}
		if len(idx) < k {
			idx = append(idx, 0)
		}
		copy(idx[pos+1:], idx[pos:len(idx)-1])
		idx[pos] = i
	}
	return idx
}
