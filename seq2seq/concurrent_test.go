package seq2seq

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// decodeJob is one kind of request a server would run: Decode by greedy
// search, beam search or sampling, or Stream.
type decodeJob struct {
	name string
	run  func(t *testing.T, m *Model, seed uint64) []Hypothesis
}

var decodeJobs = []decodeJob{
	{"greedy", func(t *testing.T, m *Model, _ uint64) []Hypothesis {
		return decodeOrFail(t, m, decodeSrc, DecodeOptions{})
	}},
	{"beam", func(t *testing.T, m *Model, _ uint64) []Hypothesis {
		return decodeOrFail(t, m, decodeSrc, DecodeOptions{Beam: 4, LengthPenalty: 1})
	}},
	{"sample", func(t *testing.T, m *Model, seed uint64) []Hypothesis {
		rngs := make([]*tensor.RNG, len(decodeSrc))
		for i := range rngs {
			rngs[i] = tensor.NewRNG(seed*100 + uint64(i))
		}
		return decodeOrFail(t, m, decodeSrc, DecodeOptions{Temperature: 1, RNGs: rngs})
	}},
	{"stream", func(t *testing.T, m *Model, seed uint64) []Hypothesis {
		var h Hypothesis
		for tok, err := range m.Stream(t.Context(), decodeSrc[seed%uint64(len(decodeSrc))], DecodeOptions{Temperature: 0.8, RNG: tensor.NewRNG(seed)}) {
			if err != nil {
				t.Error(err)
				return nil
			}
			h.Tokens = append(h.Tokens, tok)
		}
		return []Hypothesis{h}
	}},
}

func decodeOrFail(t *testing.T, m *Model, src [][]int, opts DecodeOptions) []Hypothesis {
	out, err := m.Decode(t.Context(), src, opts)
	if err != nil {
		t.Error(err) // not Fatal: it may run on another goroutine
	}
	return out
}

// TestConcurrentDecode shares one model between 32 goroutines running
// greedy, beam and sampled decoding and streaming at once (run it with
// -race): each result is bit-identical to the same request run alone,
// and afterwards a training step on the same model changes every
// parameter, which still requires its gradient.
func TestConcurrentDecode(t *testing.T) {
	const goroutines = 32
	for name, cfg := range map[string]Config{
		"lstm": {Cell: LSTM, Layers: 2, Bidirectional: true, Attention: General, InputFeeding: true, Dropout: 0.3},
		"gru":  {Cell: GRU, Layers: 2, Attention: Additive, InputFeeding: true, Dropout: 0.2},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.SrcVocab, cfg.TgtVocab, cfg.BOS, cfg.EOS, cfg.Embed, cfg.Hidden, cfg.DType = 10, 12, 1, 2, 8, 16, tensor.Float32
			m := randomModel(t, cfg, 11)
			want := make([][]Hypothesis, goroutines)
			for g := range goroutines {
				want[g] = decodeJobs[g%len(decodeJobs)].run(t, m, uint64(g))
			}
			got := make([][]Hypothesis, goroutines)
			var wg sync.WaitGroup
			ready := make(chan struct{})
			for g := range goroutines {
				wg.Go(func() {
					<-ready
					got[g] = decodeJobs[g%len(decodeJobs)].run(t, m, uint64(g))
				})
			}
			close(ready)
			wg.Wait()
			for g := range goroutines {
				job := decodeJobs[g%len(decodeJobs)].name
				if len(got[g]) != len(want[g]) {
					t.Fatalf("goroutine %d (%s): %d hypotheses, alone %d", g, job, len(got[g]), len(want[g]))
				}
				for i := range want[g] {
					if d := sameHypothesis(got[g][i], want[g][i]); d != "" {
						t.Errorf("goroutine %d (%s) sentence %d: concurrent and alone differ: %s", g, job, i, d)
					}
				}
			}

			// The model still trains.
			before := map[string][]float32{}
			for n, p := range m.NamedParams() {
				before[n] = slices.Clone(tensor.Values[float32](p.Data))
			}
			opt, err := optim.NewSGD(m.NamedParams(), optim.SGDConfig{LR: 0.1})
			if err != nil {
				t.Fatal(err)
			}
			tgt := [][]int{{3, 4}, {5}, {6, 7, 8}, {9, 9, 9}, {10}}
			loss := m.Loss(decodeSrc, tgt, autograd.Train)
			opt.ClearGrads()
			loss.Backward()
			if err := opt.Update(); err != nil {
				t.Fatal(err)
			}
			for n, p := range m.NamedParams() {
				if !p.RequiresGrad() {
					t.Errorf("%s no longer requires its gradient", n)
				}
				if slices.Equal(before[n], tensor.Values[float32](p.Data)) {
					t.Errorf("%s unchanged by the training step", n)
				}
			}
		})
	}
}

// TestConcurrentStates: goroutines stepping one shared State at once get
// the results of stepping it alone (a State is never modified).
func TestConcurrentStates(t *testing.T) {
	cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Attention: Dot, InputFeeding: true, DType: tensor.Float64}
	m := randomModel(t, cfg, 3)
	s := start(t, m, decodeSrc)
	prev := []int{1, 3, 4, 5, 6}
	want, _, _ := m.Step(s, prev)
	var wg sync.WaitGroup
	errs := make([]string, 16)
	for g := range errs {
		wg.Go(func() {
			got, _, next := m.Step(s, prev)
			m.Gather(next, []int{4, 0})
			if !slices.Equal(tensor.Values[float64](got), tensor.Values[float64](want)) {
				errs[g] = fmt.Sprintf("goroutine %d: log-probabilities differ", g)
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
}
