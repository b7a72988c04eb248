package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strings"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// defaultGenerate is the number of tokens a generation request without
// max_tokens gets.
const defaultGenerate = 100

// generate answers POST /v1/models/{name}/generate.
func (s *Server) generate(ctx context.Context, m *served, w http.ResponseWriter, r *http.Request) (int, error) {
	var req GenerateRequest
	if err := decodeJSON(r, s.opts.MaxBodyBytes, &req); err != nil {
		return 0, err
	}
	prime := req.Prime
	if prime == "" {
		prime = "\n"
	}
	ids, _ := m.encodeLM(prime)
	if len(ids) == 0 { // white space only, for a word model
		ids = []int{m.vocab.ID(seq.EOS)}
	}
	n := req.MaxTokens
	if n == 0 {
		n = defaultGenerate
	}
	temp := 1.0
	if req.Temperature != nil {
		temp = *req.Temperature
	}
	switch {
	case n < 0:
		return 0, badRequest(`"max_tokens" %d must be positive`, n)
	case len(ids)+n > s.opts.MaxTokens:
		return 0, errorf(http.StatusRequestEntityTooLarge, "too_many_tokens", "a prime of %d tokens and %d to generate; this server takes at most %d per request", len(ids), n, s.opts.MaxTokens)
	case !(temp > 0 && temp <= 100):
		return 0, badRequest(`"temperature" %v must be in (0, 100]`, temp)
	case req.TopK < 0 || req.TopK > m.vocab.Len():
		return 0, badRequest(`"top_k" %d must be in [0, %d] (0: all tokens)`, req.TopK, m.vocab.Len())
	}
	cfg := lm.SampleConfig{Length: n, Temperature: temp, TopK: req.TopK}
	for _, t := range req.Stop {
		id := m.vocab.ID(t)
		if id == m.vocab.UnknownID() && t != m.vocab.Token(id) {
			return 0, badRequest("stop token %q is not in the model's vocabulary", t)
		}
		cfg.Stop = append(cfg.Stop, id)
	}
	seed := s.seeds.Add(0x9e3779b97f4a7c15)
	if req.Seed != nil {
		seed = *req.Seed
	}
	rng := tensor.NewRNG(seed)

	// next yields the generated ids in turn, batched or not.
	var next func() (int, bool)
	var finalErr func() error
	if m.gen != nil {
		job, err := m.gen.submit(ctx, ids, cfg, rng)
		if err != nil {
			return 0, err
		}
		next = func() (int, bool) {
			id, ok := <-job.tokens
			return id, ok
		}
		finalErr = func() error { return job.err }
	} else {
		pull, stop := iter.Pull2(m.lm.Stream(ctx, ids, cfg, rng))
		defer stop()
		var streamErr error
		next = func() (int, bool) {
			id, err, ok := pull()
			if !ok || err != nil {
				streamErr = err
				return 0, false
			}
			return id, true
		}
		finalErr = func() error { return streamErr }
	}

	prev := m.vocab.Token(ids[len(ids)-1])
	var text strings.Builder
	count, last := 0, -1
	var sse *eventWriter
	if req.Stream {
		sse = newEventWriter(w, r)
	}
	for id, ok := next(); ok; id, ok = next() {
		tok := m.vocab.Token(id)
		piece := m.tok.Join([]string{prev, tok})[len(m.tok.Join([]string{prev})):]
		prev, last = tok, id
		text.WriteString(piece)
		count++
		if sse != nil {
			if err := sse.event(TokenEvent{Token: piece}); err != nil {
				return count, err // the client is gone; the context ends the job
			}
		}
	}
	if err := finalErr(); err != nil {
		if sse != nil {
			sse.fail(contextError(err))
		}
		return count, err
	}
	resp := GenerateResponse{Model: m.Name, Text: text.String(), Tokens: count, FinishReason: "length", Seed: seed}
	if count > 0 && slices.Contains(cfg.Stop, last) {
		resp.FinishReason = "stop"
	}
	if sse != nil {
		resp.Done = true
		return len(ids) + count, sse.event(resp)
	}
	writeJSON(w, http.StatusOK, resp)
	return len(ids) + count, nil
}

// eventWriter writes a stream of JSON events: server-sent events, or
// NDJSON when the client's Accept header asks for application/x-ndjson.
type eventWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	ndjson bool
}

func newEventWriter(w http.ResponseWriter, r *http.Request) *eventWriter {
	e := &eventWriter{w: w, rc: http.NewResponseController(w), ndjson: strings.Contains(r.Header.Get("Accept"), "application/x-ndjson")}
	if e.ndjson {
		w.Header().Set("Content-Type", "application/x-ndjson")
	} else {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return e
}

// event writes v as one event and flushes it to the client.
func (e *eventWriter) event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if e.ndjson {
		_, err = fmt.Fprintf(e.w, "%s\n", b)
	} else {
		_, err = fmt.Fprintf(e.w, "data: %s\n\n", b)
	}
	if err != nil {
		return err
	}
	return e.rc.Flush()
}

// fail ends a stream whose status was already sent with an error event.
func (e *eventWriter) fail(err error) {
	var body errorBody
	body.Error.Code, body.Error.Message = errorCode(err), err.Error()
	b, _ := json.Marshal(body)
	if e.ndjson {
		fmt.Fprintf(e.w, "%s\n", b)
	} else {
		fmt.Fprintf(e.w, "event: error\ndata: %s\n\n", b)
	}
	_ = e.rc.Flush()
}
