package lm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"

	"github.com/kioku-ml/kioku/tensor"
)

// SampleConfig controls sampling.
type SampleConfig struct {
	// Length is the number of tokens to generate.
	Length int
	// Temperature divides the logits (1 samples from the model; → 0 is
	// greedy). It must be positive and finite.
	Temperature float64
	// TopK, when positive, samples only among the K most likely tokens.
	TopK int
	// Stop lists token ids (an end-of-sequence token, say) that end
	// sampling once one of them is drawn; it is returned as the last
	// generated id. The zero value never stops early, so the zero
	// SampleConfig with a Length and a Temperature generates exactly
	// Length tokens.
	Stop []int
}

// checkSample returns an error for a prime, configuration or generator
// that sampling cannot start from.
func (m *Model) checkSample(prime []int, cfg SampleConfig, rng *tensor.RNG) error {
	switch {
	case len(prime) == 0:
		return errors.New("lm: sampling needs at least one prime token")
	case !(cfg.Temperature > 0) || math.IsInf(cfg.Temperature, 1):
		return fmt.Errorf("lm: temperature %v must be positive and finite", cfg.Temperature)
	case cfg.Length < 0 || cfg.TopK < 0:
		return fmt.Errorf("lm: length %d and top-k %d must not be negative", cfg.Length, cfg.TopK)
	case rng == nil:
		return errors.New("lm: sampling needs a random generator")
	}
	if err := m.checkIDs("prime token", prime); err != nil {
		return err
	}
	return m.checkIDs("stop token", cfg.Stop)
}

// Sample continues the prime (at least one token id) with cfg.Length
// tokens drawn from the model with rng, and returns the generated ids:
// one generation run alone through a Batch. It returns an error, never
// panics, for what Batch.Add refuses. It is safe for concurrent use (see
// Model).
func (m *Model) Sample(prime []int, cfg SampleConfig, rng *tensor.RNG) ([]int, error) {
	var out []int
	for id, err := range m.Stream(context.Background(), prime, cfg, rng) {
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// GenerateRequest is one generation for Generate.
type GenerateRequest struct {
	// Prime is the text to continue, at least one token id.
	Prime []int
	// Config says how many tokens to draw, and how.
	Config SampleConfig
	// RNG draws the tokens; requests need generators of their own.
	RNG *tensor.RNG
}

// Generate runs the independent generations reqs together through one
// Batch — all primes prefilled in one packed pass, then one batched step
// per token, each request leaving the batch when it is done — and returns
// the generated ids of each request in the order of reqs. Each request's
// tokens are those Sample draws for it (see Batch on rounding). It
// returns an error naming the request, before generating anything, for
// what Batch.Add refuses, and ctx.Err() once ctx is done (checked before
// each step). It is safe for concurrent use (see Model).
func (m *Model) Generate(ctx context.Context, reqs []GenerateRequest) ([][]int, error) {
	if len(reqs) == 0 {
		return nil, errors.New("lm: Generate of no requests")
	}
	b := m.NewBatch()
	for i, r := range reqs {
		if _, err := b.Add(r.Prime, r.Config, r.RNG); err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
	}
	out := make([][]int, len(reqs)) // ids are the request indices
	for b.Len() > 0 {
		toks, err := b.Step(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			if t.ID != NoToken {
				out[t.Gen] = append(out[t.Gen], t.ID)
			}
		}
	}
	return out, nil
}

// Stream generates as Sample does and yields each token as it is drawn,
// with a nil error. It checks ctx before each step; once ctx is done it
// yields (NoToken, ctx.Err()) and stops. A prime or configuration that
// Batch.Add refuses yields (NoToken, the error) and nothing else. The
// generation runs as the sequence is iterated and stops when the loop
// does; iterate it once (a second loop would continue from rng where the
// first left it). It is safe for concurrent use (see Model).
func (m *Model) Stream(ctx context.Context, prime []int, cfg SampleConfig, rng *tensor.RNG) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		b := m.NewBatch()
		if _, err := b.Add(prime, cfg, rng); err != nil {
			yield(NoToken, err)
			return
		}
		for b.Len() > 0 {
			toks, err := b.Step(ctx)
			if err != nil {
				yield(NoToken, err)
				return
			}
			for _, t := range toks {
				if t.ID != NoToken && !yield(t.ID, nil) {
					return
				}
			}
		}
	}
}

// pick draws a token from one row of logits with temperature and top-k,
// in float64: each logit divided by the temperature, those below the
// k-th largest dropped, then a draw from the softmax of the rest by
// inverting its cumulative sum. v is scratch of the row's length, and
// sorted scratch for top-k (either may be reused from call to call);
// pick returns the token and the scratch.
func pick(logits []float32, cfg SampleConfig, rng *tensor.RNG, v, sorted []float64) (int, []float64, []float64) {
	v = slices.Grow(v[:0], len(logits))[:len(logits)]
	for i, z := range logits {
		v[i] = float64(z) / cfg.Temperature
	}
	if cfg.TopK > 0 && cfg.TopK < len(v) {
		// The k-th largest value is the threshold.
		sorted = append(sorted[:0], v...)
		slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
		thr := sorted[cfg.TopK-1]
		for i := range v {
			if v[i] < thr {
				v[i] = math.Inf(-1)
			}
		}
	}
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, x)
	}
	var sum float64
	for i := range v {
		v[i] = math.Exp(v[i] - mx)
		sum += v[i]
	}
	r := rng.Float64() * sum
	for i, p := range v {
		r -= p
		if r < 0 {
			return i, v, sorted
		}
	}
	return len(v) - 1, v, sorted
}
