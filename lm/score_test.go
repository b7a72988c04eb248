package lm

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// servingModel returns a 2-layer model of the cell with dropout, as the
// concurrency and batching tests use (the dropout must stay off in
// inference).
func servingModel(t testing.TB, cell string, vocab int) *Model {
	t.Helper()
	m, err := New(Config{Cell: cell, Tokenizer: "word", Vocab: vocab, Emb: 12, Hidden: 16, Layers: 2, Dropout: 0.3}, tensor.NewRNG(11))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomTexts returns texts of the given lengths with ids drawn from
// [0, vocab).
func randomTexts(seed uint64, vocab int, lengths ...int) [][]int {
	rng := tensor.NewRNG(seed)
	texts := make([][]int, len(lengths))
	for i, n := range lengths {
		texts[i] = make([]int, n)
		for j := range texts[i] {
			texts[i][j] = rng.IntN(vocab)
		}
	}
	return texts
}

// TestScoreBatchedMatchesAlone: texts of different lengths scored in one
// packed call get the scores (summed NLL, count, per-token
// log-probabilities) each gets alone, to the bit, whatever the block size
// of the output layer (the kernels are batch-invariant; docs/lm.md). NLL
// is minus the sum of the log-probabilities.
func TestScoreBatchedMatchesAlone(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		t.Run(cell, func(t *testing.T) {
			m := servingModel(t, cell, 40)
			texts := randomTexts(3, 40, 2, 17, 5, 40, 3, 23, 23, 9)
			for _, block := range []int{0, 1, 7, 1000} {
				got, err := m.Score(context.Background(), texts, ScoreOptions{TokenLogProbs: true, BlockRows: block})
				if err != nil {
					t.Fatal(err)
				}
				for i, text := range texts {
					alone, err := m.Score(context.Background(), [][]int{text}, ScoreOptions{TokenLogProbs: true})
					if err != nil {
						t.Fatal(err)
					}
					want, g := alone[0], got[i]
					if g.Tokens != len(text)-1 || len(g.LogProbs) != g.Tokens {
						t.Fatalf("block %d, text %d of %d tokens: %d predicted, %d log-probabilities", block, i, len(text), g.Tokens, len(g.LogProbs))
					}
					if g.NLL != want.NLL {
						t.Errorf("block %d, text %d: NLL %v batched, %v alone", block, i, g.NLL, want.NLL)
					}
					var sum float64
					for k, lp := range g.LogProbs {
						sum += lp
						if !(lp <= 0) || lp != want.LogProbs[k] {
							t.Errorf("block %d, text %d, token %d: log-probability %v batched, %v alone", block, i, k+1, lp, want.LogProbs[k])
						}
					}
					if -sum != g.NLL {
						t.Errorf("block %d, text %d: NLL %v, minus the sum of the log-probabilities %v", block, i, g.NLL, -sum)
					}
				}
			}
		})
	}
}

// TestScoreMatchesEvaluate: one text scored alone is the computation of
// Evaluate reading it as one stream in one chunk (batch 1, steps ≥ n−1):
// the same packed recurrent pass, logits and log-softmax. Evaluate keeps
// its chunk's mean loss as a float32 scalar, so the two agree exactly at
// float32: float32(NLL/Tokens) is Evaluate's value.
func TestScoreMatchesEvaluate(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		m := servingModel(t, cell, 40)
		for _, text := range randomTexts(5, 40, 2, 30, 77) {
			got, err := m.Score(context.Background(), [][]int{text}, ScoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Evaluate(context.Background(), text, 1, len(text))
			if err != nil {
				t.Fatal(err)
			}
			if float32(got[0].NatsPerToken()) != float32(want) {
				t.Errorf("%s, %d tokens: Score %v nats/token, Evaluate %v", cell, len(text), got[0].NatsPerToken(), want)
			}
			if p := got[0].Perplexity(); math.Abs(p-math.Exp(want)) > 1e-5*p {
				t.Errorf("%s: perplexity %v, exp(Evaluate) %v", cell, p, math.Exp(want))
			}
		}
	}
}

// countdown is a context whose Err turns to context.Canceled after n
// calls: it cancels a call at a known point.
type countdown struct {
	context.Context
	n atomic.Int64
}

func (c *countdown) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func after(n int64) *countdown {
	c := &countdown{Context: context.Background()}
	c.n.Store(n)
	return c
}

// TestScoreCancel: Score checks its context before the recurrent pass and
// between blocks and returns its error.
func TestScoreCancel(t *testing.T) {
	m := servingModel(t, "lstm", 40)
	texts := randomTexts(3, 40, 20, 30)
	for _, n := range []int64{0, 1, 3} {
		if _, err := m.Score(after(n), texts, ScoreOptions{BlockRows: 5}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled after %d checks: error %v, want context.Canceled", n, err)
		}
	}
	if _, err := m.Score(after(100), texts, ScoreOptions{BlockRows: 5}); err != nil {
		t.Errorf("not cancelled: %v", err)
	}
}

// TestScoreErrors: what Score cannot score is an error naming the text.
func TestScoreErrors(t *testing.T) {
	m := servingModel(t, "gru", 40)
	for _, tc := range []struct {
		name  string
		texts [][]int
		opts  ScoreOptions
		want  string
	}{
		{"no texts", nil, ScoreOptions{}, "no texts"},
		{"one token", [][]int{{1, 2, 3}, {4}}, ScoreOptions{}, "text 1 has 1 tokens; scoring needs at least 2"},
		{"empty text", [][]int{{}}, ScoreOptions{}, "text 0 has 0 tokens"},
		{"negative id", [][]int{{1, 2}, {3, 4}, {5, -1}}, ScoreOptions{}, "text 2: token -1 (at 1) is outside the vocabulary of 40"},
		{"id past the vocabulary", [][]int{{40, 2}}, ScoreOptions{}, "text 0: token 40 (at 0)"},
		{"negative block", [][]int{{1, 2}}, ScoreOptions{BlockRows: -1}, "blocks of -1 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Score(context.Background(), tc.texts, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// TestScoreMemoryIsBounded: scoring 4,000 tokens over a 5,000-word
// vocabulary allocates far less than their 80 MB of logits, which the
// output layer never holds at once (blocks of 419 rows, 8 MB).
func TestScoreMemoryIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation")
	}
	m, err := New(Config{Cell: "gru", Tokenizer: "word", Vocab: 5000, Emb: 8, Hidden: 16, Layers: 1}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	lengths := make([]int, 40)
	for i := range lengths {
		lengths[i] = 101
	}
	texts := randomTexts(4, 5000, lengths...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := m.Score(context.Background(), texts, ScoreOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	const logits = 4000 * 5000 * 4
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("Score of 4,000 tokens allocated %d bytes; all their logits are %d", got, logits)
	if got > logits/4 {
		t.Fatalf("Score of 4,000 tokens allocated %d bytes, more than a quarter of their %d bytes of logits", got, logits)
	}
}
