package lm

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// ScoreOptions controls Score.
type ScoreOptions struct {
	// TokenLogProbs asks for the log-probability of every predicted token
	// (Score.LogProbs).
	TokenLogProbs bool
	// BlockRows bounds the number of predicted tokens whose logits exist
	// at once: the output layer and the log-softmax run over blocks of at
	// most BlockRows packed rows, one (BlockRows, Vocab) buffer reused
	// from block to block. Zero picks about 8 MB of float32 logits
	// (209 rows for a 10,000-word vocabulary).
	BlockRows int
}

// defaultBlockValues is the number of logits a block holds by default.
const defaultBlockValues = 1 << 21

// Score is the score of one text under the model: each token after the
// first predicted from those before it, starting from the zero state.
type Score struct {
	// NLL is the summed negative log-likelihood in nats,
	// −Σₜ log p(xₜ | x₀ … xₜ₋₁) for t = 1 … n−1.
	NLL float64
	// Tokens is the number of predicted tokens, n−1.
	Tokens int
	// LogProbs holds log p(xₜ | x₀ … xₜ₋₁) for t = 1 … n−1 (LogProbs[t−1]),
	// when ScoreOptions.TokenLogProbs asks for them; NLL is minus their
	// sum, added in that order.
	LogProbs []float64
}

// NatsPerToken returns the mean negative log-likelihood, NLL / Tokens.
func (s Score) NatsPerToken() float64 { return s.NLL / float64(s.Tokens) }

// Perplexity returns exp(NatsPerToken).
func (s Score) Perplexity() float64 { return math.Exp(s.NatsPerToken()) }

// Score scores each of texts independently, from the zero state: in text
// x₀ … xₙ₋₁ every token from x₁ on is predicted from those before it, as
// Evaluate does for one stream, so a text needs at least two tokens. The
// scores come back in the order of texts.
//
// All texts go through the recurrent layers as one packed batch (the
// inputs x₀ … xₙ₋₂ of each, seq.Packing of their lengths), in evaluation
// mode without recording a graph; the output layer and the log-softmax,
// log p(xₜ₊₁ | …) = zₜ[xₜ₊₁] − max zₜ − log Σⱼ exp(zₜⱼ − max zₜ) for the
// logits zₜ, then run over the packed rows in blocks of
// opts.BlockRows, so the memory for logits stays bounded however many
// texts there are. ctx is checked before the recurrent pass and between
// blocks; once it is done Score returns ctx.Err().
//
// The per-token numbers are those of Evaluate: the same logits (without
// the bias, then the bias added) and the same stable log-softmax. A
// text's scores depend slightly on the texts it is packed with, in the
// last bits of float32 only (see docs/lm.md, "Batch invariance").
//
// Score returns an error, never panics, for no texts, a text shorter than
// two tokens or with ids outside the vocabulary (naming the text), or a
// negative BlockRows. It is safe for concurrent use (see Model).
func (m *Model) Score(ctx context.Context, texts [][]int, opts ScoreOptions) ([]Score, error) {
	if len(texts) == 0 {
		return nil, errors.New("lm: Score of no texts")
	}
	if opts.BlockRows < 0 {
		return nil, fmt.Errorf("lm: Score in blocks of %d rows; want 0 (the default) or more", opts.BlockRows)
	}
	lengths := make([]int, len(texts))
	for i, text := range texts {
		if len(text) < 2 {
			return nil, fmt.Errorf("lm: text %d has %d tokens; scoring needs at least 2", i, len(text))
		}
		if err := m.checkIDs(fmt.Sprintf("text %d: token", i), text); err != nil {
			return nil, err
		}
		lengths[i] = len(text) - 1
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := seq.NewPacking(lengths)
	if err != nil {
		return nil, err
	}
	// The inputs and targets in packed order, and whose they are.
	in, tg := make([]int, p.Rows), make([]int, p.Rows)
	text, step := make([]int, p.Rows), make([]int, p.Rows)
	for t, b := range p.BatchSizes {
		for k, i := range p.Order[:b] {
			r := p.Offsets[t] + k
			in[r], tg[r], text[r], step[r] = texts[i][t], texts[i][t+1], i, t
		}
	}
	scores := make([]Score, len(texts))
	for i, n := range lengths {
		scores[i].Tokens = n
		if opts.TokenLogProbs {
			scores[i].LogProbs = make([]float64, n)
		}
	}

	v := m.inference()
	y, _ := v.hiddenPacked(in, p, State{})
	rows := opts.BlockRows
	if rows == 0 {
		rows = max(1, defaultBlockValues/m.cfg.Vocab)
	}
	rows = min(rows, p.Rows)
	buf := tensor.New(y.Data.DType(), rows, m.cfg.Vocab)
	lp := make([]float64, rows)
	// The output weight is packed once for all blocks: at float32 when
	// there are several (one block packs it anyway), at bfloat16 always
	// (its products would round and pack it for every block).
	pw := v.out.Packing() // a packed model's
	if prec := v.out.Precision(); pw == nil && (p.Rows > rows || prec != fn.Float32) {
		pw = fn.PackWeight(v.out.Weight.Data, prec)
	}
	for lo := 0; lo < p.Rows; lo += rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+rows, p.Rows)
		v.logProbs(lp[:hi-lo], buf.Slice(0, hi-lo), y.Data.Slice(lo, hi), tg[lo:hi], pw)
		// Rows in packed order visit each text's tokens in time order, so
		// each sum runs in the order of the text.
		for r := lo; r < hi; r++ {
			s := &scores[text[r]]
			s.NLL -= lp[r-lo]
			if s.LogProbs != nil {
				s.LogProbs[step[r]] = lp[r-lo]
			}
		}
	}
	return scores, nil
}

// logProbs writes into lp the log-probability of each target under the
// logits of the hidden rows y, computed in buf (rows × Vocab). In float32
// the logits are x·Wᵀ with the bias added after the product, as Evaluate's
// fused output layer and loss compute them (from the packing pw of the
// weight when there is one, with the same bits); at a lower precision
// they are the output layer's (fn.LinearIntoAt with the bias).
func (m *Model) logProbs(lp []float64, buf, y *tensor.Tensor, targets []int, pw *fn.PackedWeight) {
	w := m.out.Weight.Data
	if m.out.Precision() != fn.Float32 || m.out.Bias == nil {
		var b *tensor.Tensor
		if m.out.Bias != nil {
			b = m.out.Bias.Data
		}
		fn.LinearIntoAt(buf, y, w, b, m.out.Precision(), pw)
		tensor.Dispatch(buf, logSoftmaxRows[float32], logSoftmaxRows[float64])(lp, buf, nil, targets)
		return
	}
	fn.LinearIntoAt(buf, y, w, nil, fn.Float32, pw)
	tensor.Dispatch(buf, logSoftmaxRows[float32], logSoftmaxRows[float64])(lp, buf, m.out.Bias.Data, targets)
}

// logSoftmaxRows adds bias (if any) to each row of z and writes the row's
// log-softmax at its target into lp, as fn.SoftmaxCrossEntropy computes
// the negative: log Σ exp(z − max) in the element type, then
// (z[target] − max) − log Σ in float64. The rows are split across the
// worker pool; each is computed alone, so the split changes nothing.
func logSoftmaxRows[T kernel.Float](lp []float64, zt, biast *tensor.Tensor, targets []int) {
	z := tensor.Values[T](zt)
	var bias []T
	if biast != nil {
		bias = tensor.Values[T](biast)
	}
	n := zt.Dim(1)
	kernel.ParallelFor(len(targets), max(1, (1<<15)/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := z[r*n : (r+1)*n]
			if bias != nil {
				kernel.Add(row, row, bias)
			}
			mx := kernel.Max(row)
			zt := row[targets[r]]
			kernel.Shift(-mx, row)
			kernel.Exp(row, row)
			s := kernel.Sum(row)
			lp[r] = float64(zt-mx) - math.Log(float64(s))
		}
	})
}
