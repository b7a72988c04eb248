package lm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/kioku-ml/kioku/internal/kernel"
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

// pick draws a token from the logits z with temperature T and top-k: it
// samples i with probability exp(zᵢ/T − m) / Σⱼ exp(zⱼ/T − m) (m the
// largest zⱼ/T), over the k largest logits only when TopK is k > 0, by
// inverting the cumulative sum with one uniform number. The weights are
// computed in float32 on the vector kernels and summed in blocks of
// pickBlock (float32 within a block, float64 across blocks); the draw
// walks the blocks, then the weights of its block. v and sel are scratch
// buffers (either may be reused from call to call), returned with the
// token.
func pick(logits []float32, cfg SampleConfig, rng *tensor.RNG, v, sel []float32) (int, []float32, []float32) {
	v = append(v[:0], logits...)
	kernel.Scale(float32(1/cfg.Temperature), v)
	if cfg.TopK > 0 && cfg.TopK < len(v) {
		sel = append(sel[:0], v...)
		thr := kthLargest(sel, cfg.TopK)
		for i, x := range v {
			if x < thr {
				v[i] = float32(math.Inf(-1))
			}
		}
	}
	kernel.Shift(-kernel.Max(v), v)
	kernel.Exp(v, v)
	var sum float64
	for b := 0; b < len(v); b += pickBlock {
		sum += float64(kernel.Sum(v[b:min(b+pickBlock, len(v))]))
	}
	r := rng.Float64() * sum
	last := 0
	for b := 0; b < len(v); b += pickBlock {
		blk := v[b:min(b+pickBlock, len(v))]
		bs := float64(kernel.Sum(blk))
		if bs > 0 {
			last = b + len(blk) - 1
		}
		if r >= bs {
			r -= bs
			continue
		}
		for i, p := range blk {
			r -= float64(p)
			if r < 0 {
				return b + i, v, sel
			}
		}
	}
	for last > 0 && v[last] == 0 { // rounding left r ≥ 0: the last token with any weight
		last--
	}
	return last, v, sel
}

// pickBlock is the block of weights pick sums at a time.
const pickBlock = 256

// kthLargest returns the k-th largest value of x (1 ≤ k ≤ len(x)),
// reordering x: quickselect (Hoare partition, middle pivot), linear in
// len(x) on average, and deterministic.
func kthLargest(x []float32, k int) float32 {
	lo, hi, want := 0, len(x)-1, k-1 // want: the index in descending order
	for lo < hi {
		pivot := x[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for x[i] > pivot {
				i++
			}
			for x[j] < pivot {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case want <= j:
			hi = j
		case want >= i:
			lo = i
		default:
			return x[want]
		}
	}
	return x[want]
}
