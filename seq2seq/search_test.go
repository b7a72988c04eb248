package seq2seq

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// prefixModel is a hand-built model whose next-token log-probabilities
// depend only on each row's prefix, given as a table.
type prefixModel struct {
	vocab int
	probs func(prefix []int) []float64
}

func (m prefixModel) Step(s [][]int, prev []int) (logProbs, attention *tensor.Tensor, next [][]int) {
	logProbs = tensor.New(tensor.Float64, len(s), m.vocab)
	next = make([][]int, len(s))
	for n, prefix := range s {
		if prev[n] != 1 { // BOS
			prefix = append(prefix[:len(prefix):len(prefix)], prev[n])
		}
		next[n] = prefix
		for k, p := range m.probs(prefix) {
			logProbs.Set(math.Log(p), n, k)
		}
	}
	return logProbs, nil, next
}

func (prefixModel) Gather(s [][]int, idx []int) [][]int {
	g := make([][]int, len(idx))
	for k, i := range idx {
		g[k] = s[i]
	}
	return g
}

// twoPathModel: greedy takes token 2 (p 0.6) then EOS (0.4), total 0.24;
// token 3 (0.4) then EOS (0.9) is the best sequence, 0.36.
var twoPathModel = prefixModel{vocab: 4, probs: func(p []int) []float64 {
	switch {
	case len(p) == 0:
		return []float64{0, 0, 0.6, 0.4}
	case len(p) == 1 && p[0] == 2:
		return []float64{0.4, 0, 0.3, 0.3}
	case len(p) == 1 && p[0] == 3:
		return []float64{0.9, 0, 0.05, 0.05}
	}
	return []float64{1, 0, 0, 0}
}}

func TestBeamBeatsGreedy(t *testing.T) {
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 6}
	start := [][]int{{}, {}}
	g := Greedy[[][]int](twoPathModel, start, 2, lim)
	for _, h := range g {
		if !slices.Equal(h.Tokens, []int{2}) || !h.Finished || math.Abs(h.LogProb-math.Log(0.24)) > 1e-15 {
			t.Fatalf("greedy: %+v; want [2] with log 0.24", h)
		}
	}
	for _, width := range []int{2, 3, 4} {
		beams := BeamSearch[[][]int](twoPathModel, start, 2, lim, BeamOptions{Width: width})
		for _, hs := range beams {
			best := hs[0]
			if !slices.Equal(best.Tokens, []int{3}) || !best.Finished || math.Abs(best.LogProb-math.Log(0.36)) > 1e-15 {
				t.Fatalf("width %d: best %+v; want [3] with log 0.36", width, best)
			}
			if best.LogProb <= g[0].LogProb {
				t.Errorf("width %d: beam log p %g not above greedy %g", width, best.LogProb, g[0].LogProb)
			}
			for i := 1; i < len(hs); i++ {
				if hs[i].Score > hs[i-1].Score {
					t.Errorf("width %d: hypotheses not sorted: %v", width, hs)
				}
			}
		}
	}
}

// TestLengthPenalty: from the start, EOS has p 0.5 and token 2 p 0.5;
// after 2, token 2 again has p 0.9. Ranked by log p the empty output wins
// (log 0.5 > log 0.45·…); with α = 1 the longer one, whose mean log p is
// higher, does.
func TestLengthPenalty(t *testing.T) {
	m := prefixModel{vocab: 3, probs: func(p []int) []float64 {
		switch len(p) {
		case 0:
			return []float64{0.5, 0, 0.5}
		case 1, 2:
			return []float64{0.05, 0, 0.95}
		}
		return []float64{1, 0, 0}
	}}
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 10}
	best := func(alpha float64) Hypothesis {
		return BeamSearch[[][]int](m, [][]int{{}}, 1, lim, BeamOptions{Width: 3, LengthPenalty: alpha})[0][0]
	}
	if h := best(0); len(h.Tokens) != 0 || h.Score != math.Log(0.5) {
		t.Errorf("α=0: %+v; want the empty output", h)
	}
	h := best(1)
	want := math.Log(0.5 * 0.95 * 0.95 * 1)
	if len(h.Tokens) != 3 || math.Abs(h.LogProb-want) > 1e-12 || math.Abs(h.Score-want/4) > 1e-12 {
		t.Errorf("α=1: %+v; want 3 tokens, log p %g, score %g", h, want, want/4)
	}
}

// TestMaxLen: a model that never ends stops unfinished at MaxLen.
func TestMaxLen(t *testing.T) {
	m := prefixModel{vocab: 3, probs: func(p []int) []float64 { return []float64{0.1, 0, 0.9} }}
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 4}
	g := Greedy[[][]int](m, [][]int{{}}, 1, lim)[0]
	if g.Finished || len(g.Tokens) != 4 {
		t.Errorf("greedy: %+v; want 4 tokens, unfinished", g)
	}
	for _, h := range BeamSearch[[][]int](m, [][]int{{}}, 1, lim, BeamOptions{Width: 2})[0] {
		if h.Length() > 4 {
			t.Errorf("beam hypothesis of length %d > MaxLen", h.Length())
		}
	}
}

func randomModel(t *testing.T, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := NewModel(cfg, tensor.NewRNG(seed))
	if err != nil {
		t.Fatal(err)
	}
	// Sharpen the generator so decodings differ from row to row.
	for _, p := range m.generator.Params() {
		p.Data.Scale(4)
	}
	return m
}

var decodeSrc = [][]int{{3, 4, 5, 6}, {7}, {8, 9, 3}, {4, 4, 4, 4, 4, 4}, {5, 6}}

// TestBeamOneIsGreedy: width 1 gives greedy's tokens, log-probabilities
// and attention exactly.
func TestBeamOneIsGreedy(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, att := range []Attention{NoAttention, Additive} {
			t.Run(fmt.Sprintf("%v/%v", dt, att), func(t *testing.T) {
				cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Layers: 2, Bidirectional: true, Attention: att, InputFeeding: att != NoAttention, DType: dt}
				m := randomModel(t, cfg, 3)
				lim := Limits{BOS: 1, EOS: 2, MaxLen: 12}
				var g []Hypothesis
				var b [][]Hypothesis
				autograd.NoGrad(m.Params(), func() {
					g = Greedy(m, m.Start(decodeSrc), len(decodeSrc), lim)
					b = BeamSearch(m, m.Start(decodeSrc), len(decodeSrc), lim, BeamOptions{Width: 1})
				})
				finished := 0
				for i := range g {
					if len(b[i]) != 1 {
						t.Fatalf("sentence %d: %d beam hypotheses", i, len(b[i]))
					}
					h := b[i][0]
					if !slices.Equal(h.Tokens, g[i].Tokens) || h.LogProb != g[i].LogProb || h.Finished != g[i].Finished || len(h.Attention) != len(g[i].Attention) {
						t.Errorf("sentence %d: beam %v %g %v, greedy %v %g %v", i, h.Tokens, h.LogProb, h.Finished, g[i].Tokens, g[i].LogProb, g[i].Finished)
					}
					for k := range h.Attention {
						if !slices.Equal(h.Attention[k], g[i].Attention[k]) {
							t.Errorf("sentence %d step %d: attention differs", i, k)
						}
					}
					if g[i].Finished {
						finished++
					}
				}
				if finished == 0 || finished == len(g) {
					t.Logf("%d of %d greedy hypotheses finished; the test is stronger with a mix", finished, len(g))
				}
			})
		}
	}
}

// TestBatchedEqualsSingle: decoding a batch (greedy and beam, all beams
// of all sentences at once) gives each sentence's result decoded alone.
func TestBatchedEqualsSingle(t *testing.T) {
	cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Bidirectional: true, Attention: General, InputFeeding: true, DType: tensor.Float64}
	m := randomModel(t, cfg, 5)
	for _, width := range []int{1, 4} {
		all, err := m.Decode(decodeSrc, DecodeOptions{Beam: width, MaxLen: 10, LengthPenalty: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range decodeSrc {
			one, err := m.Decode([][]int{s}, DecodeOptions{Beam: width, MaxLen: 10, LengthPenalty: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(one[0].Tokens, all[i].Tokens) || math.Abs(one[0].LogProb-all[i].LogProb) > 1e-9 {
				t.Errorf("width %d sentence %d: alone %v %g, in batch %v %g", width, i, one[0].Tokens, one[0].LogProb, all[i].Tokens, all[i].LogProb)
			}
			for k, row := range all[i].Attention {
				for s := len(decodeSrc[i]); s < len(row); s++ {
					if row[s] != 0 {
						t.Errorf("sentence %d step %d: weight %g on padding", i, k, row[s])
					}
				}
			}
		}
	}
}

// TestBeamScoresAreConsistent: every beam hypothesis's LogProb is the sum
// of the model's log-probabilities along it, and Score its normalisation.
func TestBeamScoresAreConsistent(t *testing.T) {
	cfg := Config{SrcVocab: 10, TgtVocab: 7, BOS: 1, EOS: 2, Embed: 6, Hidden: 8, Attention: Dot, DType: tensor.Float64}
	m := randomModel(t, cfg, 9)
	lim := Limits{BOS: 1, EOS: 2, MaxLen: 8}
	const alpha = 0.7
	var beams [][]Hypothesis
	autograd.NoGrad(m.Params(), func() {
		beams = BeamSearch(m, m.Start(decodeSrc), len(decodeSrc), lim, BeamOptions{Width: 3, LengthPenalty: alpha})
	})
	for i, hs := range beams {
		for _, h := range hs {
			// Rescore by stepping the one hypothesis.
			s := m.Start(decodeSrc[i : i+1])
			prev, lp := lim.BOS, 0.0
			steps := append(slices.Clone(h.Tokens), lim.EOS)[:h.Length()]
			for _, tok := range steps {
				logp, _, next := m.Step(s, []int{prev})
				lp += logp.At(0, tok)
				s, prev = next, tok
			}
			if math.Abs(lp-h.LogProb) > 1e-9 {
				t.Errorf("sentence %d %v: LogProb %g, rescored %g", i, h.Tokens, h.LogProb, lp)
			}
			if want := h.LogProb / math.Pow(float64(h.Length()), alpha); math.Abs(h.Score-want) > 1e-12 {
				t.Errorf("sentence %d: Score %g, want %g", i, h.Score, want)
			}
		}
	}
}

func TestSampleIsSeeded(t *testing.T) {
	cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Attention: Additive, DType: tensor.Float32}
	m := randomModel(t, cfg, 2)
	run := func(seed uint64, temp float64) []Hypothesis {
		out, err := m.Decode(decodeSrc, DecodeOptions{Temperature: temp, RNG: tensor.NewRNG(seed), MaxLen: 10})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := run(1, 1), run(1, 1), run(2, 1)
	same := func(x, y []Hypothesis) bool {
		for i := range x {
			if !slices.Equal(x[i].Tokens, y[i].Tokens) {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("same seed, different samples")
	}
	if same(a, c) {
		t.Error("different seeds, same samples")
	}
	g, err := m.Decode(decodeSrc, DecodeOptions{MaxLen: 10})
	if err != nil {
		t.Fatal(err)
	}
	if cold := run(3, 1e-6); !same(cold, g) {
		t.Error("temperature → 0 differs from greedy")
	}
}

func TestDecodeErrors(t *testing.T) {
	m := randomModel(t, Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 4, Hidden: 4}, 1)
	cases := map[string]struct {
		src  [][]int
		opts DecodeOptions
	}{
		"no sources":   {nil, DecodeOptions{}},
		"empty source": {[][]int{{1}, {}}, DecodeOptions{}},
		"id range":     {[][]int{{10}}, DecodeOptions{}},
		"negative id":  {[][]int{{-1}}, DecodeOptions{}},
		"max len":      {[][]int{{1}}, DecodeOptions{MaxLen: -1}},
		"beam":         {[][]int{{1}}, DecodeOptions{Beam: -2}},
		"penalty":      {[][]int{{1}}, DecodeOptions{Beam: 2, LengthPenalty: -1}},
		"temperature":  {[][]int{{1}}, DecodeOptions{Temperature: math.Inf(1), RNG: tensor.NewRNG(1)}},
		"no rng":       {[][]int{{1}}, DecodeOptions{Temperature: 1}},
		"both":         {[][]int{{1}}, DecodeOptions{Temperature: 1, Beam: 2, RNG: tensor.NewRNG(1)}},
	}
	for name, c := range cases {
		if _, err := m.Decode(c.src, c.opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSearchPanics(t *testing.T) {
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 3}
	for name, f := range map[string]func(){
		"max len": func() { Greedy[[][]int](twoPathModel, [][]int{{}}, 1, Limits{}) },
		"width":   func() { BeamSearch[[][]int](twoPathModel, [][]int{{}}, 1, lim, BeamOptions{}) },
		"penalty": func() {
			BeamSearch[[][]int](twoPathModel, [][]int{{}}, 1, lim, BeamOptions{Width: 2, LengthPenalty: math.NaN()})
		},
		"temperature": func() { Sample[[][]int](twoPathModel, [][]int{{}}, 1, lim, 0, tensor.NewRNG(1)) },
		"rng":         func() { Sample[[][]int](twoPathModel, [][]int{{}}, 1, lim, 1, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestTopK(t *testing.T) {
	cases := []struct {
		x    []float64
		k    int
		want []int
	}{
		{[]float64{1, 3, 2}, 2, []int{1, 2}},
		{[]float64{1, 1, 1}, 2, []int{0, 1}},
		{[]float64{0, 5}, 5, []int{1, 0}},
		{[]float64{2, 1, 3, 3, 0}, 3, []int{2, 3, 0}},
		{[]float64{math.Inf(-1), -1, math.Inf(-1)}, 2, []int{1, 0}},
	}
	for _, c := range cases {
		if got := topK(c.x, c.k); !slices.Equal(got, c.want) {
			t.Errorf("topK(%v, %d) = %v; want %v", c.x, c.k, got, c.want)
		}
	}
}
