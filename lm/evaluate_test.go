package lm

import (
	"context"
	"errors"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// evaluateByRows is Evaluate as it was written before it read seq.BPTT:
// its own split of the stream into rows, each chunk through Loss.
func evaluateByRows(m *Model, ids []int, batch, steps int) float64 {
	batch = max(1, min(batch, (len(ids)-1)/max(steps, 1)))
	partLen := (len(ids) - 1) / batch
	m.SetMode(autograd.Eval)
	defer m.SetMode(autograd.Train)
	var total float64
	n := 0
	autograd.NoGrad(m.Params(), func() {
		var st State
		for start := 0; start < partLen; start += steps {
			k := min(steps, partLen-start)
			in, tg := make([][]int, batch), make([][]int, batch)
			for b := range in {
				base := b*partLen + start
				in[b], tg[b] = ids[base:base+k], ids[base+1:base+k+1]
			}
			loss, next := m.Loss(in, tg, st)
			total += loss.Data.Item() * float64(batch*k)
			n += batch * k
			st = next
		}
	})
	return total / float64(n)
}

// TestEvaluateMatchesRows: Evaluate gives exactly the numbers of the row
// by row evaluation, for both cells and for streams that shrink the batch
// or end in a short chunk; and it rejects what it cannot evaluate.
func TestEvaluateMatchesRows(t *testing.T) {
	rng := tensor.NewRNG(3)
	ids := make([]int, 203)
	for i := range ids {
		ids[i] = rng.IntN(20)
	}
	for _, cell := range []string{"lstm", "gru"} {
		m, err := New(Config{Cell: cell, Tokenizer: "word", Vocab: 20, Emb: 6, Hidden: 5, Layers: 2, Dropout: 0.2}, tensor.NewRNG(1))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			ids          []int
			batch, steps int
		}{{ids, 4, 7}, {ids, 3, 50}, {ids[:9], 8, 3}, {ids, 1, 202}, {ids[:2], 5, 5}} {
			got, err := m.Evaluate(context.Background(), tc.ids, tc.batch, tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			if want := evaluateByRows(m, tc.ids, tc.batch, tc.steps); got != want {
				t.Errorf("%s, %d tokens, batch %d, steps %d: Evaluate %v, by rows %v", cell, len(tc.ids), tc.batch, tc.steps, got, want)
			}
		}
		if _, err := m.Evaluate(context.Background(), ids[:1], 2, 3); !errors.Is(err, ErrEmpty) {
			t.Errorf("one token: error %v, want ErrEmpty", err)
		}
		for _, steps := range []int{0, -1} {
			if _, err := m.Evaluate(context.Background(), ids, 2, steps); err == nil {
				t.Errorf("steps %d accepted", steps)
			}
		}
	}
}
