package lm

import (
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// BenchmarkTrainStepPTBSmall times one training step of Zaremba's small
// PTB model (10000 words, 2×200 LSTM, batch 20, 20 steps): forward,
// backward, clipping and an SGD update.
func BenchmarkTrainStepPTBSmall(b *testing.B) {
	m, err := New(Config{Cell: "lstm", Tokenizer: "word", Vocab: 10000, Emb: 200, Hidden: 200, Layers: 2}, tensor.NewRNG(1))
	if err != nil {
		b.Fatal(err)
	}
	opt := clippedSGD(m, 1)
	in, tg := batchOf(20, 20)
	fillBatch(tensor.NewRNG(2), in, tg, 10000)
	var st State
	for b.Loop() {
		st, _ = trainStep(m, opt, in, tg, st)
	}
	b.ReportMetric(400*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
