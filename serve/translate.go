package serve

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/tensor"
)

// translateItem is one source sentence of a translation batch, with the
// options of its request (equal within a batch: the batcher's key) and
// its own generator for sampling.
type translateItem struct {
	src  []int
	opts translateOptions
	rng  *tensor.RNG
}

// translateOptions are a request's decoding options.
type translateOptions struct {
	beam, nBest, maxLen int
	lengthPenalty, temp float64
}

func (o translateOptions) key() string {
	return fmt.Sprintf("%d/%d/%d/%g/%g", o.beam, o.nBest, o.maxLen, o.lengthPenalty, o.temp)
}

// translateHandler answers POST /v1/models/{name}/translate.
func (s *Server) translateHandler(ctx context.Context, m *served, w http.ResponseWriter, r *http.Request) (int, error) {
	var req TranslateRequest
	if err := decodeJSON(r, s.opts.MaxBodyBytes, &req); err != nil {
		return 0, err
	}
	o := translateOptions{beam: max(req.Beam, 1), nBest: max(req.NBest, 1), maxLen: req.MaxLen, lengthPenalty: req.LengthPenalty, temp: req.Temperature}
	switch {
	case len(req.Sources) == 0:
		return 0, badRequest(`"sources" is empty: give at least one sentence to translate`)
	case len(req.Sources) > s.opts.MaxTexts:
		return 0, errorf(http.StatusRequestEntityTooLarge, "too_many_texts", "%d sources; this server translates at most %d per request", len(req.Sources), s.opts.MaxTexts)
	case req.Beam < 0 || req.Beam > 64:
		return 0, badRequest(`"beam" %d must be in [0, 64]`, req.Beam)
	case req.NBest < 0 || o.nBest > o.beam:
		return 0, badRequest(`"n_best" %d must be in [0, beam] (beam %d)`, req.NBest, o.beam)
	case req.MaxLen < 0 || req.MaxLen > s.opts.MaxTokens:
		return 0, badRequest(`"max_len" %d must be in [0, %d]`, req.MaxLen, s.opts.MaxTokens)
	case !(req.LengthPenalty >= 0 && req.LengthPenalty <= 10):
		return 0, badRequest(`"length_penalty" %v must be in [0, 10]`, req.LengthPenalty)
	case !(req.Temperature >= 0 && req.Temperature <= 100):
		return 0, badRequest(`"temperature" %v must be in [0, 100] (0: search)`, req.Temperature)
	case req.Temperature > 0 && o.beam > 1:
		return 0, badRequest("choose sampling (temperature > 0) or beam search (beam > 1), not both")
	}
	seed := s.seeds.Add(0x9e3779b97f4a7c15)
	if req.Seed != nil {
		seed = *req.Seed
	}
	loaded := m.s2s
	items := make([]translateItem, len(req.Sources))
	unknown := make([]int, len(req.Sources))
	in, budget := 0, 0 // source tokens, and the most output tokens they may get
	for i, text := range req.Sources {
		toks := m.srcTokens(text)
		if len(toks) == 0 {
			return 0, badRequest("source %d is empty", i)
		}
		ids := loaded.Src.Encode(toks)
		for _, id := range ids {
			if id == loaded.Src.UnknownID() {
				unknown[i]++
			}
		}
		in, budget = in+len(ids), budget+outputLen(o, len(ids))
		items[i] = translateItem{src: ids, opts: o, rng: tensor.NewRNG(mix(seed, uint64(i)))}
	}
	if in+budget > s.opts.MaxTokens {
		return 0, errorf(http.StatusRequestEntityTooLarge, "too_many_tokens", "%d tokens in and out; this server takes at most %d per request (lower max_len or send fewer sources)", in+budget, s.opts.MaxTokens)
	}
	var hyps [][]seq2seq.Hypothesis
	var err error
	if m.translate != nil {
		hyps, err = m.translate.submit(ctx, o.key(), items)
	} else {
		hyps, err = translateBatch(ctx, loaded.Model, items)
	}
	if err != nil {
		return 0, err
	}
	resp := TranslateResponse{Model: m.Name, Results: make([]TranslateResult, len(hyps))}
	out := 0
	for i, hs := range hyps {
		res := TranslateResult{Unknown: unknown[i], Hypotheses: []Hypothesis{}}
		for _, h := range hs {
			res.Hypotheses = append(res.Hypotheses, Hypothesis{Text: m.joinTgt(loaded.Tgt.Decode(h.Tokens)), LogProb: h.LogProb, Score: h.Score, Finished: h.Finished})
			out += len(h.Tokens)
		}
		resp.Results[i] = res
	}
	writeJSON(w, http.StatusOK, resp)
	return in + out, nil
}

// outputLen is the most output tokens a source of n tokens may get.
func outputLen(o translateOptions, n int) int {
	if o.maxLen > 0 {
		return o.maxLen
	}
	return 2*n + 10
}

// mix derives the seed of source i of a request from the request's seed
// (splitmix64), so that each source samples from a generator of its own.
func mix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// translateBatch decodes the items (all with the same options) as one
// batch and returns each source's hypotheses, best first.
func translateBatch(ctx context.Context, model *seq2seq.Model, items []translateItem) ([][]seq2seq.Hypothesis, error) {
	o := items[0].opts
	src := make([][]int, len(items))
	for i, it := range items {
		src[i] = it.src
	}
	if o.beam <= 1 {
		opts := seq2seq.DecodeOptions{MaxLen: o.maxLen, Temperature: o.temp}
		if o.temp > 0 {
			for _, it := range items {
				opts.RNGs = append(opts.RNGs, it.rng)
			}
		}
		best, err := model.Decode(ctx, src, opts)
		if err != nil {
			return nil, err
		}
		out := make([][]seq2seq.Hypothesis, len(best))
		for i, h := range best {
			out[i] = []seq2seq.Hypothesis{h}
		}
		return out, nil
	}
	all, err := model.Beams(ctx, src, seq2seq.DecodeOptions{MaxLen: o.maxLen, Beam: o.beam, LengthPenalty: o.lengthPenalty})
	if err != nil {
		return nil, err
	}
	for i := range all {
		all[i] = all[i][:min(o.nBest, len(all[i]))]
	}
	return all, nil
}
