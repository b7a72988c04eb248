package seq2seq

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/tensor"
)

// DecodeOptions select a decoding algorithm for Model.Decode.
type DecodeOptions struct {
	// MaxLen is the most output steps (EOS included); 0 means twice the
	// longest source plus 10.
	MaxLen int
	// Beam is the beam width; 0 or 1 decodes greedily (unless sampling).
	Beam int
	// LengthPenalty is the beam search's α (see BeamOptions).
	LengthPenalty float64
	// Temperature, if positive, samples each token with this temperature
	// using RNG instead of searching.
	Temperature float64
	// RNG is the random source for sampling.
	RNG *tensor.RNG
}

// Decode translates a batch of source sentences, returning the best
// hypothesis for each: by greedy search, beam search (Beam > 1) or
// sampling (Temperature > 0). It runs in evaluation mode without
// recording a graph. Unlike the lower-level Start, Step and the search
// functions, which panic on misuse, it returns an error for bad input:
// an empty batch or source, an id out of range, or invalid options.
func (m *Model) Decode(src [][]int, opts DecodeOptions) ([]Hypothesis, error) {
	if len(src) == 0 {
		return nil, fmt.Errorf("seq2seq: no source sentences to decode")
	}
	longest := 0
	for i, s := range src {
		if len(s) == 0 {
			return nil, fmt.Errorf("seq2seq: source %d is empty", i)
		}
		for _, id := range s {
			if id < 0 || id >= m.cfg.SrcVocab {
				return nil, fmt.Errorf("seq2seq: source %d has id %d outside [0, %d)", i, id, m.cfg.SrcVocab)
			}
		}
		longest = max(longest, len(s))
	}
	switch {
	case opts.MaxLen < 0:
		return nil, fmt.Errorf("seq2seq: negative MaxLen %d", opts.MaxLen)
	case opts.Beam < 0:
		return nil, fmt.Errorf("seq2seq: negative beam width %d", opts.Beam)
	case !(opts.LengthPenalty >= 0) || math.IsInf(opts.LengthPenalty, 1):
		return nil, fmt.Errorf("seq2seq: length penalty %v; want a finite value ≥ 0", opts.LengthPenalty)
	case !(opts.Temperature >= 0) || math.IsInf(opts.Temperature, 1):
		return nil, fmt.Errorf("seq2seq: temperature %v; want a finite value ≥ 0", opts.Temperature)
	case opts.Temperature > 0 && opts.RNG == nil:
		return nil, fmt.Errorf("seq2seq: sampling needs an RNG")
	case opts.Temperature > 0 && opts.Beam > 1:
		return nil, fmt.Errorf("seq2seq: choose sampling or beam search, not both")
	}
	lim := Limits{BOS: m.cfg.BOS, EOS: m.cfg.EOS, MaxLen: opts.MaxLen}
	if lim.MaxLen == 0 {
		lim.MaxLen = 2*longest + 10
	}
	var out []Hypothesis
	s := m.Start(src)
	switch {
	case opts.Temperature > 0:
		out = Sample(m, s, len(src), lim, opts.Temperature, opts.RNG)
	case opts.Beam > 1:
		for _, hs := range BeamSearch(m, s, len(src), lim, BeamOptions{Width: opts.Beam, LengthPenalty: opts.LengthPenalty}) {
			var best Hypothesis // a model that gives every token −∞ leaves none
			if len(hs) > 0 {
				best = hs[0]
			}
			out = append(out, best)
		}
	default:
		out = Greedy(m, s, len(src), lim)
	}
	return out, nil
}
