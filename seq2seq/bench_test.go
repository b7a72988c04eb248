package seq2seq

import (
	"fmt"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// benchModel is a mid-sized translation model: a bidirectional LSTM
// encoder, general attention with input feeding, a 4000-word target
// vocabulary.
func benchModel(b *testing.B) (*Model, [][]int) {
	cfg := Config{SrcVocab: 4000, TgtVocab: 4000, BOS: 1, EOS: 2, Embed: 128, Hidden: 256, Bidirectional: true, Attention: General, InputFeeding: true}
	m := randomModel(b, cfg, 1)
	rng := tensor.NewRNG(2)
	src := make([][]int, 64)
	for i := range src {
		src[i] = make([]int, 8+rng.IntN(12))
		for j := range src[i] {
			src[i][j] = 3 + rng.IntN(cfg.SrcVocab-3)
		}
	}
	return m, src
}

// BenchmarkDecode decodes 64 sources (up to 20 output steps each) in one
// batched call and one at a time, greedily and with a beam of 4.
func BenchmarkDecode(b *testing.B) {
	m, src := benchModel(b)
	for _, beam := range []int{1, 4} {
		opts := DecodeOptions{Beam: beam, MaxLen: 20}
		b.Run(fmt.Sprintf("beam=%d/batched", beam), func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Decode(b.Context(), src, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("beam=%d/one-at-a-time", beam), func(b *testing.B) {
			for b.Loop() {
				for _, s := range src {
					if _, err := m.Decode(b.Context(), [][]int{s}, opts); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
