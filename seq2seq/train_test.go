package seq2seq

import (
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// TestLearnsToReverse trains small models briefly on reversing strings of
// 2 to 6 symbols and checks that greedy and beam search then reverse
// unseen strings: the reduced, seconds-long version of the benchmark in
// docs/seq2seq.md.
func TestLearnsToReverse(t *testing.T) {
	if testing.Short() {
		t.Skip("training run")
	}
	const vocab, bos, eos = 10, 0, 1 // symbols 2…9
	sample := func(rng *tensor.RNG) []int {
		s := make([]int, 2+rng.IntN(5))
		for i := range s {
			s[i] = 2 + rng.IntN(vocab-2)
		}
		return s
	}
	reversed := func(s []int) []int {
		r := slices.Clone(s)
		slices.Reverse(r)
		return r
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want float64
	}{
		{"attention", Config{Attention: General, InputFeeding: true, Bidirectional: true}, 0.9},
		{"additive-gru", Config{Attention: Additive, Cell: GRU}, 0.9},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.SrcVocab, cfg.TgtVocab, cfg.BOS, cfg.EOS, cfg.Embed, cfg.Hidden = vocab, vocab, bos, eos, 16, 32
			rng := tensor.NewRNG(1)
			m, err := NewModel(cfg, rng)
			if err != nil {
				t.Fatal(err)
			}
			opt, err := optim.NewAdam(m.NamedParams(), optim.AdamConfig{LR: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			clip, _ := optim.NewGradientClipping(5)
			opt.AddHook(clip)
			for range 400 {
				var src, tgt [][]int
				for range 32 {
					s := sample(rng)
					src, tgt = append(src, s), append(tgt, reversed(s))
				}
				loss := m.Loss(src, tgt, autograd.Train)
				opt.ClearGrads()
				loss.Backward()
				if err := opt.Update(); err != nil {
					t.Fatal(err)
				}
			}
			test := tensor.NewRNG(99)
			var src [][]int
			for range 200 {
				src = append(src, sample(test))
			}
			for _, beam := range []int{1, 4} {
				out, err := m.Decode(t.Context(), src, DecodeOptions{Beam: beam})
				if err != nil {
					t.Fatal(err)
				}
				ok := 0
				for i, h := range out {
					if slices.Equal(h.Tokens, reversed(src[i])) {
						ok++
					}
				}
				if acc := float64(ok) / float64(len(src)); acc < c.want {
					t.Errorf("beam %d: accuracy %.3f < %.2f", beam, acc, c.want)
				} else {
					t.Logf("beam %d: accuracy %.3f", beam, acc)
				}
			}
		})
	}
}
