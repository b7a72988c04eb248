package serve

import (
	"context"
	"net/http"

	"github.com/kioku-ml/kioku/lm"
)

// score answers POST /v1/models/{name}/score.
func (s *Server) score(ctx context.Context, m *served, w http.ResponseWriter, r *http.Request) (int, error) {
	var req ScoreRequest
	if err := decodeJSON(r, s.opts.MaxBodyBytes, &req); err != nil {
		return 0, err
	}
	switch {
	case len(req.Texts) == 0:
		return 0, badRequest(`"texts" is empty: give at least one text to score`)
	case len(req.Texts) > s.opts.MaxTexts:
		return 0, errorf(http.StatusRequestEntityTooLarge, "too_many_texts", "%d texts; this server scores at most %d per request", len(req.Texts), s.opts.MaxTexts)
	}
	ids := make([][]int, len(req.Texts))
	unknown := make([]int, len(req.Texts))
	total := 0
	for i, t := range req.Texts {
		ids[i], unknown[i] = m.encodeLM(t)
		if len(ids[i]) < 2 {
			return 0, badRequest("text %d has %d token(s); scoring predicts each token from those before it, so a text needs at least two", i, len(ids[i]))
		}
		total += len(ids[i])
	}
	if total > s.opts.MaxTokens {
		return 0, errorf(http.StatusRequestEntityTooLarge, "too_many_tokens", "%d tokens; this server takes at most %d per request", total, s.opts.MaxTokens)
	}
	var scores []lm.Score
	var err error
	if m.score != nil {
		scores, err = m.score.submit(ctx, "", ids)
	} else {
		scores, err = m.lm.Score(ctx, ids, lm.ScoreOptions{TokenLogProbs: true})
	}
	if err != nil {
		return 0, err
	}
	resp := ScoreResponse{Model: m.Name, Results: make([]ScoreResult, len(scores))}
	for i, sc := range scores {
		res := ScoreResult{Tokens: sc.Tokens, Unknown: unknown[i], NLL: sc.NLL, NatsPerToken: sc.NatsPerToken(), Perplexity: sc.Perplexity()}
		if req.LogProbs {
			res.LogProbs = sc.LogProbs
		}
		if !finite(res.Perplexity) { // JSON has no infinity
			res.Perplexity = 0
		}
		resp.Results[i] = res
	}
	writeJSON(w, http.StatusOK, resp)
	return total, nil
}
