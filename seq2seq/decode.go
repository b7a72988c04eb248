package seq2seq

import (
	"context"
	"fmt"
	"iter"
	"math"

	"github.com/kioku-ml/kioku/tensor"
)

// DecodeOptions select a decoding algorithm for Model.Decode and
// Model.Stream.
type DecodeOptions struct {
	// MaxLen is the most output steps (EOS included); 0 means twice the
	// source's length plus 10, for each source.
	MaxLen int
	// Beam is the beam width; 0 or 1 decodes greedily (unless sampling).
	Beam int
	// LengthPenalty is the beam search's α (see BeamOptions).
	LengthPenalty float64
	// Temperature, if positive, samples each token with this temperature
	// using RNG or RNGs instead of searching.
	Temperature float64
	// RNG is the random source for sampling when RNGs is nil. The sources
	// of a batch draw from it in turn (see Sample), so a source's sample
	// depends on the others decoded with it.
	RNG *tensor.RNG
	// RNGs, if not nil, holds one random source per source sentence:
	// source i draws only from RNGs[i], so its sample is the one decoding
	// it alone with RNGs[i] gives, whatever else is in the batch (see
	// SampleEach). Set RNG or RNGs, not both.
	RNGs []*tensor.RNG
}

// checkSources returns an error unless there is at least one source and
// every source is non-empty with ids in [0, SrcVocab).
func (m *Model) checkSources(src [][]int) error {
	if len(src) == 0 {
		return fmt.Errorf("seq2seq: no source sentences")
	}
	for i, s := range src {
		if len(s) == 0 {
			return fmt.Errorf("seq2seq: source %d is empty", i)
		}
		for _, id := range s {
			if id < 0 || id >= m.cfg.SrcVocab {
				return fmt.Errorf("seq2seq: source %d has id %d outside [0, %d)", i, id, m.cfg.SrcVocab)
			}
		}
	}
	return nil
}

// check validates the options for decoding n sources.
func (o DecodeOptions) check(n int) error {
	switch {
	case o.MaxLen < 0:
		return fmt.Errorf("seq2seq: negative MaxLen %d", o.MaxLen)
	case o.Beam < 0:
		return fmt.Errorf("seq2seq: negative beam width %d", o.Beam)
	case !(o.LengthPenalty >= 0) || math.IsInf(o.LengthPenalty, 1):
		return fmt.Errorf("seq2seq: length penalty %v; want a finite value ≥ 0", o.LengthPenalty)
	case !(o.Temperature >= 0) || math.IsInf(o.Temperature, 1):
		return fmt.Errorf("seq2seq: temperature %v; want a finite value ≥ 0", o.Temperature)
	case o.RNG != nil && o.RNGs != nil:
		return fmt.Errorf("seq2seq: both RNG and RNGs set; choose one")
	case o.Temperature > 0 && o.RNG == nil && o.RNGs == nil:
		return fmt.Errorf("seq2seq: sampling needs an RNG")
	case o.Temperature > 0 && o.Beam > 1:
		return fmt.Errorf("seq2seq: choose sampling or beam search, not both")
	}
	if o.Temperature > 0 && o.RNGs != nil {
		return checkRNGs("Decode", o.RNGs, n)
	}
	return nil
}

// limits returns the search limits for the sources src.
func (m *Model) limits(src [][]int, o DecodeOptions) Limits {
	lim := Limits{BOS: m.cfg.BOS, EOS: m.cfg.EOS, MaxLen: o.MaxLen}
	if o.MaxLen == 0 {
		lim.MaxLens = make([]int, len(src))
		for i, s := range src {
			lim.MaxLens[i] = 2*len(s) + 10
		}
	}
	return lim
}

// Decode translates a batch of source sentences, returning the best
// hypothesis for each: by greedy search, beam search (Beam > 1) or
// sampling (Temperature > 0). It runs on an inference view of the model
// (see Start), so any number of goroutines may decode with one model at
// once.
//
// Decoding many sources in one call is what a server's dynamic batcher
// should do: all sources advance together, one decoder step per output
// token for the whole batch. The result for each source is bit-identical
// to decoding it alone with the same options — tokens, LogProb, Score and
// attention — because every row of the decoder is computed independently
// of the others (see Step). For sampling this holds with RNGs, one
// generator per source; with the single RNG the sources draw from it in
// turn.
//
// Each hypothesis's Attention rows hold one weight per position of its
// source. Decode returns ctx.Err() if ctx is done before it finishes (it
// checks once per decoding step), and an error for bad input: an empty
// batch or source, an id out of range, or invalid options. Unlike the
// lower-level Step and Gather it never panics on input.
func (m *Model) Decode(ctx context.Context, src [][]int, opts DecodeOptions) ([]Hypothesis, error) {
	if err := m.checkSources(src); err != nil {
		return nil, err
	}
	if err := opts.check(len(src)); err != nil {
		return nil, err
	}
	if opts.Beam > 1 { // check has refused sampling with it
		beams, err := m.Beams(ctx, src, opts)
		if err != nil {
			return nil, err
		}
		out := make([]Hypothesis, len(beams))
		for i, hs := range beams {
			if len(hs) > 0 { // a model that gives every token −∞ leaves none
				out[i] = hs[0]
			}
		}
		return out, nil
	}
	s, err := m.start(ctx, src)
	if err != nil {
		return nil, err
	}
	lim := m.limits(src, opts)
	var out []Hypothesis
	switch {
	case opts.Temperature > 0 && opts.RNGs != nil:
		out, err = SampleEach(ctx, m, s, len(src), lim, opts.Temperature, opts.RNGs)
	case opts.Temperature > 0:
		out, err = Sample(ctx, m, s, len(src), lim, opts.Temperature, opts.RNG)
	default:
		out, err = Greedy(ctx, m, s, len(src), lim)
	}
	if err != nil {
		return nil, err
	}
	for i := range out {
		trimAttention(out[i].Attention, len(src[i]))
	}
	return out, nil
}

// Beams decodes a batch of source sentences by beam search of width
// opts.Beam (at least 2; sampling is refused) and returns, for each
// source, its finished beam hypotheses best first — the n-best list
// whose head Decode returns — with the attention rows trimmed as Decode
// trims them. Its checks, limits and errors are Decode's.
func (m *Model) Beams(ctx context.Context, src [][]int, opts DecodeOptions) ([][]Hypothesis, error) {
	if opts.Beam < 2 || opts.Temperature > 0 {
		return nil, fmt.Errorf("seq2seq: Beams needs a beam width of at least 2 and no sampling (beam %d, temperature %v)", opts.Beam, opts.Temperature)
	}
	if err := m.checkSources(src); err != nil {
		return nil, err
	}
	if err := opts.check(len(src)); err != nil {
		return nil, err
	}
	s, err := m.start(ctx, src)
	if err != nil {
		return nil, err
	}
	beams, err := BeamSearch(ctx, m, s, len(src), m.limits(src, opts), BeamOptions{Width: opts.Beam, LengthPenalty: opts.LengthPenalty})
	if err != nil {
		return nil, err
	}
	for i, hs := range beams {
		for _, h := range hs {
			trimAttention(h.Attention, len(src[i]))
		}
	}
	return beams, nil
}

// trimAttention cuts each row of attention weights to the source's
// length n (the rows of a batch are as long as its longest source).
func trimAttention(a [][]float64, n int) {
	for k, row := range a {
		a[k] = row[:n:n]
	}
}

// Stream decodes one source sentence greedily or by sampling and yields
// the output tokens as they are produced, EOS excluded: the tokens Decode
// returns for the same source and options. It stops when the consumer
// stops, at EOS or MaxLen, or when ctx is done, which it yields as
// (0, ctx.Err()) — it checks ctx once per step. Bad input or options,
// including a beam width above 1 (beam search only knows its output at
// the end), are yielded as (0, err) before any token. Sampling uses
// opts.RNG, or opts.RNGs[0] if RNGs holds one generator.
//
// Like Decode it runs on an inference view, so any number of goroutines
// may stream from one model at once.
func (m *Model) Stream(ctx context.Context, src []int, opts DecodeOptions) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		batch := [][]int{src}
		if err := m.checkSources(batch); err != nil {
			yield(0, err)
			return
		}
		if err := opts.check(1); err != nil {
			yield(0, err)
			return
		}
		if opts.Beam > 1 {
			yield(0, fmt.Errorf("seq2seq: Stream with beam width %d: beam search cannot stream (use Decode)", opts.Beam))
			return
		}
		s, err := m.start(ctx, batch)
		if err != nil {
			yield(0, err)
			return
		}
		choose := greedyChoice
		if opts.Temperature > 0 {
			rng := opts.RNG
			if rng == nil {
				rng = opts.RNGs[0]
			}
			choose = sampleChoice(opts.Temperature, func(int) *tensor.RNG { return rng })
		}
		stopped := false
		_, err = walk(ctx, m, s, 1, m.limits(batch, opts), choose, func(_, tok int) bool {
			if !yield(tok, nil) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil && !stopped {
			yield(0, err)
		}
	}
}
