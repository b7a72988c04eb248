package lm

import (
	"testing"

	"github.com/kioku-ml/kioku/optim"
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
	opt, _ := optim.NewSGD(m.NamedParams(), optim.SGDConfig{LR: 1})
	clip, _ := optim.NewGradientClipping(5)
	opt.AddHook(clip)
	rng := tensor.NewRNG(2)
	in, tg := make([][]int, 20), make([][]int, 20)
	for r := range in {
		in[r], tg[r] = make([]int, 20), make([]int, 20)
		for t := range in[r] {
			in[r][t], tg[r][t] = rng.IntN(10000), rng.IntN(10000)
		}
	}
	var st State
	for b.Loop() {
		loss, next := m.Loss(in, tg, st)
		opt.ClearGrads()
		loss.Backward()
		loss.UnchainBackward()
		opt.Update()
		st = next.Detach()
	}
	b.ReportMetric(400*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
