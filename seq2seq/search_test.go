package seq2seq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

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

// greedy, beam and sample run the search functions on a prefixModel with
// a background context, failing the test on an error.
func greedy(t testing.TB, m prefixModel, n int, lim Limits) []Hypothesis {
	t.Helper()
	hs, err := Greedy[[][]int](context.Background(), m, make([][]int, n), n, lim)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func beam(t testing.TB, m prefixModel, n int, lim Limits, opts BeamOptions) [][]Hypothesis {
	t.Helper()
	hs, err := BeamSearch[[][]int](context.Background(), m, make([][]int, n), n, lim, opts)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func TestBeamBeatsGreedy(t *testing.T) {
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 6}
	g := greedy(t, twoPathModel, 2, lim)
	for _, h := range g {
		if !slices.Equal(h.Tokens, []int{2}) || !h.Finished || math.Abs(h.LogProb-math.Log(0.24)) > 1e-15 {
			t.Fatalf("greedy: %+v; want [2] with log 0.24", h)
		}
	}
	for _, width := range []int{2, 3, 4} {
		for _, hs := range beam(t, twoPathModel, 2, lim, BeamOptions{Width: width}) {
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
		return beam(t, m, 1, lim, BeamOptions{Width: 3, LengthPenalty: alpha})[0][0]
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

// TestMaxLen: a model that never ends stops unfinished at MaxLen, or at
// each row's own limit.
func TestMaxLen(t *testing.T) {
	m := prefixModel{vocab: 3, probs: func(p []int) []float64 { return []float64{0.1, 0, 0.9} }}
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 4}
	g := greedy(t, m, 1, lim)[0]
	if g.Finished || len(g.Tokens) != 4 {
		t.Errorf("greedy: %+v; want 4 tokens, unfinished", g)
	}
	for _, h := range beam(t, m, 1, lim, BeamOptions{Width: 2})[0] {
		if h.Length() > 4 {
			t.Errorf("beam hypothesis of length %d > MaxLen", h.Length())
		}
	}
	rows := Limits{BOS: 1, EOS: 0, MaxLens: []int{2, 5, 1}}
	for i, h := range greedy(t, m, 3, rows) {
		if h.Finished || len(h.Tokens) != rows.MaxLens[i] {
			t.Errorf("greedy row %d: %+v; want %d tokens, unfinished", i, h, rows.MaxLens[i])
		}
	}
	for i, hs := range beam(t, m, 3, rows, BeamOptions{Width: 2}) {
		for _, h := range hs {
			if h.Length() > rows.MaxLens[i] {
				t.Errorf("beam row %d: hypothesis of length %d > its limit %d", i, h.Length(), rows.MaxLens[i])
			}
		}
	}
}

func randomModel(t testing.TB, cfg Config, seed uint64) *Model {
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

// start is Model.Start, failing the test on an error.
func start(t testing.TB, m *Model, src [][]int) *State {
	t.Helper()
	s, err := m.Start(src)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var decodeSrc = [][]int{{3, 4, 5, 6}, {7}, {8, 9, 3}, {4, 4, 4, 4, 4, 4}, {5, 6}}

// sameHypothesis reports how a and b differ, bit for bit, or "".
func sameHypothesis(a, b Hypothesis) string {
	switch {
	case !slices.Equal(a.Tokens, b.Tokens):
		return fmt.Sprintf("tokens %v and %v", a.Tokens, b.Tokens)
	case math.Float64bits(a.LogProb) != math.Float64bits(b.LogProb):
		return fmt.Sprintf("LogProb %v and %v", a.LogProb, b.LogProb)
	case math.Float64bits(a.Score) != math.Float64bits(b.Score):
		return fmt.Sprintf("Score %v and %v", a.Score, b.Score)
	case a.Finished != b.Finished:
		return fmt.Sprintf("Finished %v and %v", a.Finished, b.Finished)
	case len(a.Attention) != len(b.Attention):
		return fmt.Sprintf("%d and %d attention rows", len(a.Attention), len(b.Attention))
	}
	for k := range a.Attention {
		if !slices.EqualFunc(a.Attention[k], b.Attention[k], func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }) {
			return fmt.Sprintf("attention row %d: %v and %v", k, a.Attention[k], b.Attention[k])
		}
	}
	return ""
}

// TestBeamOneIsGreedy: width 1 gives greedy's tokens, log-probabilities
// and attention exactly.
func TestBeamOneIsGreedy(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, att := range []Attention{NoAttention, Additive} {
			t.Run(fmt.Sprintf("%v/%v", dt, att), func(t *testing.T) {
				cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Layers: 2, Bidirectional: true, Attention: att, InputFeeding: att != NoAttention, DType: dt}
				m := randomModel(t, cfg, 3)
				lim := Limits{BOS: 1, EOS: 2, MaxLen: 12}
				g, err := Greedy(t.Context(), m, start(t, m, decodeSrc), len(decodeSrc), lim)
				if err != nil {
					t.Fatal(err)
				}
				b, err := BeamSearch(t.Context(), m, start(t, m, decodeSrc), len(decodeSrc), lim, BeamOptions{Width: 1})
				if err != nil {
					t.Fatal(err)
				}
				finished := 0
				for i := range g {
					if len(b[i]) != 1 {
						t.Fatalf("sentence %d: %d beam hypotheses", i, len(b[i]))
					}
					if d := sameHypothesis(b[i][0], g[i]); d != "" {
						t.Errorf("sentence %d: beam and greedy differ: %s", i, d)
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

// batchConfigs are the models TestBatchedEqualsSingle decodes: both
// element types and cells, with and without attention and input
// feeding, one and two directions, and sizes whose products are deep
// enough (K > 256) for the matrix kernels to cut their depth.
func batchConfigs() map[string]Config {
	out := map[string]Config{}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, cell := range []Cell{LSTM, GRU} {
			for _, att := range []Attention{NoAttention, Dot, General, Additive} {
				for _, feed := range []bool{false, true} {
					for _, bi := range []bool{false, true} {
						if att == NoAttention && feed {
							continue
						}
						cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Layers: 2, Cell: cell, Bidirectional: bi, Attention: att, InputFeeding: feed, DType: dt}
						if att == Dot && bi {
							cfg.EncoderHidden = cfg.Hidden / 2
						}
						out[fmt.Sprintf("%v/%v/%v/feed=%v/bi=%v", dt, cell, att, feed, bi)] = cfg
					}
				}
			}
		}
		big := Config{SrcVocab: 10, TgtVocab: 40, BOS: 1, EOS: 2, Embed: 64, Hidden: 160, Layers: 2, Bidirectional: true, Attention: General, InputFeeding: true, DType: dt}
		out[fmt.Sprintf("%v/big", dt)] = big
	}
	return out
}

// TestBatchedEqualsSingle: decoding a batch (greedy and beam, all beams
// of all sentences at once) gives each sentence's result decoded alone,
// bit for bit: tokens, LogProb, Score, Finished and attention.
func TestBatchedEqualsSingle(t *testing.T) {
	for name, cfg := range batchConfigs() {
		t.Run(name, func(t *testing.T) {
			m := randomModel(t, cfg, 5)
			for _, opts := range []DecodeOptions{
				{MaxLen: 10},
				{}, // the default limit, per source
				{Beam: 2, MaxLen: 10, LengthPenalty: 0.5},
				{Beam: 4, MaxLen: 10, LengthPenalty: 0.5},
				{Beam: 5},
			} {
				all, err := m.Decode(t.Context(), decodeSrc, opts)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range decodeSrc {
					one, err := m.Decode(t.Context(), [][]int{s}, opts)
					if err != nil {
						t.Fatal(err)
					}
					if d := sameHypothesis(one[0], all[i]); d != "" {
						t.Errorf("%+v sentence %d: alone and in a batch differ: %s", opts, i, d)
					}
					for k, row := range all[i].Attention {
						if len(row) != len(s) {
							t.Errorf("sentence %d step %d: %d weights for %d source positions", i, k, len(row), len(s))
						}
					}
				}
			}
		})
	}
}

// TestSampleEachEqualsSingle: with one generator per source, batched
// sampling gives each source what sampling it alone with its generator
// gives; with the single RNG, rows draw in turn and the same seed still
// repeats the batch.
func TestSampleEachEqualsSingle(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Bidirectional: true, Attention: Additive, InputFeeding: true, DType: dt}
		m := randomModel(t, cfg, 7)
		rngs := func() []*tensor.RNG {
			r := make([]*tensor.RNG, len(decodeSrc))
			for i := range r {
				r[i] = tensor.NewRNG(uint64(100 + i))
			}
			return r
		}
		all, err := m.Decode(t.Context(), decodeSrc, DecodeOptions{Temperature: 1, RNGs: rngs(), MaxLen: 12})
		if err != nil {
			t.Fatal(err)
		}
		distinct := 0
		for i, s := range decodeSrc {
			one, err := m.Decode(t.Context(), [][]int{s}, DecodeOptions{Temperature: 1, RNGs: rngs()[i : i+1], MaxLen: 12})
			if err != nil {
				t.Fatal(err)
			}
			if d := sameHypothesis(one[0], all[i]); d != "" {
				t.Errorf("%v sentence %d: alone and in a batch differ: %s", dt, i, d)
			}
			g, err := m.Decode(t.Context(), [][]int{s}, DecodeOptions{MaxLen: 12})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g[0].Tokens, all[i].Tokens) {
				distinct++
			}
		}
		if distinct == 0 {
			t.Errorf("%v: every sample equals the greedy output; the test cannot tell", dt)
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
	beams, err := BeamSearch(t.Context(), m, start(t, m, decodeSrc), len(decodeSrc), lim, BeamOptions{Width: 3, LengthPenalty: alpha})
	if err != nil {
		t.Fatal(err)
	}
	for i, hs := range beams {
		for _, h := range hs {
			// Rescore by stepping the one hypothesis.
			s := start(t, m, decodeSrc[i:i+1])
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
		out, err := m.Decode(t.Context(), decodeSrc, DecodeOptions{Temperature: temp, RNG: tensor.NewRNG(seed), MaxLen: 10})
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
	g, err := m.Decode(t.Context(), decodeSrc, DecodeOptions{MaxLen: 10})
	if err != nil {
		t.Fatal(err)
	}
	if cold := run(3, 1e-6); !same(cold, g) {
		t.Error("temperature → 0 differs from greedy")
	}
}

// TestStreamEqualsDecode: Stream yields, one by one, the tokens Decode
// returns for the same source and options, greedy and sampled; stopping
// the loop early stops the decoding.
func TestStreamEqualsDecode(t *testing.T) {
	cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Layers: 2, Bidirectional: true, Attention: General, InputFeeding: true, DType: tensor.Float32}
	m := randomModel(t, cfg, 4)
	for i, s := range decodeSrc {
		for _, opts := range []func() DecodeOptions{
			func() DecodeOptions { return DecodeOptions{} },
			func() DecodeOptions { return DecodeOptions{MaxLen: 3} },
			func() DecodeOptions { return DecodeOptions{Temperature: 1.5, RNG: tensor.NewRNG(uint64(i))} },
			func() DecodeOptions {
				return DecodeOptions{Temperature: 1.5, RNGs: []*tensor.RNG{tensor.NewRNG(uint64(i))}}
			},
		} {
			want, err := m.Decode(t.Context(), [][]int{s}, opts())
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for tok, err := range m.Stream(t.Context(), s, opts()) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tok)
			}
			if !slices.Equal(got, want[0].Tokens) {
				t.Errorf("sentence %d %+v: streamed %v, decoded %v", i, opts(), got, want[0].Tokens)
			}
			if len(got) > 1 {
				n := 0
				for range m.Stream(t.Context(), s, opts()) {
					if n++; n == 1 {
						break
					}
				}
				if n != 1 {
					t.Errorf("sentence %d: break after one token gave %d", i, n)
				}
			}
		}
	}
}

// cancelAfter is a Stepper that cancels a context at its k-th step.
type cancelAfter struct {
	prefixModel
	k      int
	cancel context.CancelFunc
	steps  *int
}

func (c cancelAfter) Step(s [][]int, prev []int) (logProbs, attention *tensor.Tensor, next [][]int) {
	if *c.steps++; *c.steps == c.k {
		c.cancel()
	}
	return c.prefixModel.Step(s, prev)
}

// TestCancel: a search stops at the step after its context is done and
// returns ctx.Err(); so do Decode and Stream.
func TestCancel(t *testing.T) {
	never := prefixModel{vocab: 3, probs: func(p []int) []float64 { return []float64{0.1, 0, 0.9} }}
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 100}
	for name, run := range map[string]func(context.Context, Stepper[[][]int]) error{
		"greedy": func(ctx context.Context, m Stepper[[][]int]) error {
			_, err := Greedy(ctx, m, [][]int{{}}, 1, lim)
			return err
		},
		"sample": func(ctx context.Context, m Stepper[[][]int]) error {
			_, err := Sample(ctx, m, [][]int{{}}, 1, lim, 1, tensor.NewRNG(1))
			return err
		},
		"sample each": func(ctx context.Context, m Stepper[[][]int]) error {
			_, err := SampleEach(ctx, m, [][]int{{}}, 1, lim, 1, []*tensor.RNG{tensor.NewRNG(1)})
			return err
		},
		"beam": func(ctx context.Context, m Stepper[[][]int]) error {
			_, err := BeamSearch(ctx, m, [][]int{{}}, 1, lim, BeamOptions{Width: 3})
			return err
		},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		steps := 0
		err := run(ctx, cancelAfter{prefixModel: never, k: 5, cancel: cancel, steps: &steps})
		if !errors.Is(err, context.Canceled) || steps != 5 {
			t.Errorf("%s: %v after %d steps; want context.Canceled after 5", name, err, steps)
		}
		cancel()
	}

	m := randomModel(t, Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 4, Hidden: 4}, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, opts := range []DecodeOptions{{}, {Beam: 3}, {Temperature: 1, RNG: tensor.NewRNG(1)}} {
		if _, err := m.Decode(ctx, decodeSrc, opts); !errors.Is(err, context.Canceled) {
			t.Errorf("Decode %+v with a cancelled context: %v", opts, err)
		}
	}
	n := 0
	for tok, err := range m.Stream(ctx, decodeSrc[0], DecodeOptions{}) {
		n++
		if !errors.Is(err, context.Canceled) || tok != 0 {
			t.Errorf("Stream with a cancelled context yielded (%d, %v)", tok, err)
		}
	}
	if n != 1 {
		t.Errorf("Stream with a cancelled context yielded %d values; want the error alone", n)
	}
}

// TestInferenceErrors: the public inference entry points return errors
// for bad input and options, never panic.
func TestInferenceErrors(t *testing.T) {
	m := randomModel(t, Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 4, Hidden: 4}, 1)
	rng := tensor.NewRNG(1)
	cases := []struct {
		name   string
		src    [][]int
		opts   DecodeOptions
		source bool // the error is in src (Start reports it too)
	}{
		{"no sources", nil, DecodeOptions{}, true},
		{"empty batch", [][]int{}, DecodeOptions{}, true},
		{"empty source", [][]int{{1}, {}}, DecodeOptions{}, true},
		{"id range", [][]int{{10}}, DecodeOptions{}, true},
		{"negative id", [][]int{{3, -1}}, DecodeOptions{}, true},
		{"max len", [][]int{{1}}, DecodeOptions{MaxLen: -1}, false},
		{"beam", [][]int{{1}}, DecodeOptions{Beam: -2}, false},
		{"penalty", [][]int{{1}}, DecodeOptions{Beam: 2, LengthPenalty: -1}, false},
		{"penalty NaN", [][]int{{1}}, DecodeOptions{Beam: 2, LengthPenalty: math.NaN()}, false},
		{"temperature", [][]int{{1}}, DecodeOptions{Temperature: math.Inf(1), RNG: rng}, false},
		{"temperature NaN", [][]int{{1}}, DecodeOptions{Temperature: math.NaN(), RNG: rng}, false},
		{"no rng", [][]int{{1}}, DecodeOptions{Temperature: 1}, false},
		{"both rngs", [][]int{{1}}, DecodeOptions{Temperature: 1, RNG: rng, RNGs: []*tensor.RNG{rng}}, false},
		{"rng count", [][]int{{1}}, DecodeOptions{Temperature: 1, RNGs: []*tensor.RNG{rng, rng}}, false},
		{"nil rng", [][]int{{1}}, DecodeOptions{Temperature: 1, RNGs: []*tensor.RNG{nil}}, false},
		{"sample and beam", [][]int{{1}}, DecodeOptions{Temperature: 1, Beam: 2, RNG: rng}, false},
	}
	for _, c := range cases {
		if _, err := m.Decode(t.Context(), c.src, c.opts); err == nil {
			t.Errorf("Decode %s: no error", c.name)
		}
		if c.source {
			if s, err := m.Start(c.src); err == nil || s != nil {
				t.Errorf("Start %s: %v, %v; want an error", c.name, s, err)
			}
		}
		if len(c.src) == 1 {
			yielded := 0
			for tok, err := range m.Stream(t.Context(), c.src[0], c.opts) {
				yielded++
				if err == nil || tok != 0 {
					t.Errorf("Stream %s: yielded (%d, %v); want an error", c.name, tok, err)
				}
			}
			if yielded != 1 {
				t.Errorf("Stream %s: yielded %d values; want the error alone", c.name, yielded)
			}
		}
	}
	for tok, err := range m.Stream(t.Context(), []int{1, 2}, DecodeOptions{Beam: 4}) {
		if err == nil {
			t.Errorf("Stream with beam 4 yielded token %d; want an error", tok)
		}
	}
	for tok, err := range m.Stream(t.Context(), nil, DecodeOptions{}) {
		if err == nil {
			t.Errorf("Stream of an empty source yielded token %d; want an error", tok)
		}
	}
}

// TestSearchErrors: the search functions return errors for invalid
// limits and options.
func TestSearchErrors(t *testing.T) {
	ctx := t.Context()
	lim := Limits{BOS: 1, EOS: 0, MaxLen: 3}
	start := [][]int{{}}
	rng := tensor.NewRNG(1)
	for name, f := range map[string]func() error{
		"max len": func() error { _, err := Greedy[[][]int](ctx, twoPathModel, start, 1, Limits{}); return err },
		"row limits": func() error {
			_, err := Greedy[[][]int](ctx, twoPathModel, start, 1, Limits{MaxLens: []int{1, 2}})
			return err
		},
		"row limit": func() error {
			_, err := BeamSearch[[][]int](ctx, twoPathModel, start, 1, Limits{MaxLens: []int{0}}, BeamOptions{Width: 2})
			return err
		},
		"width": func() error {
			_, err := BeamSearch[[][]int](ctx, twoPathModel, start, 1, lim, BeamOptions{})
			return err
		},
		"penalty": func() error {
			_, err := BeamSearch[[][]int](ctx, twoPathModel, start, 1, lim, BeamOptions{Width: 2, LengthPenalty: math.NaN()})
			return err
		},
		"temperature": func() error { _, err := Sample[[][]int](ctx, twoPathModel, start, 1, lim, 0, rng); return err },
		"rng":         func() error { _, err := Sample[[][]int](ctx, twoPathModel, start, 1, lim, 1, nil); return err },
		"rngs": func() error {
			_, err := SampleEach[[][]int](ctx, twoPathModel, start, 1, lim, 1, []*tensor.RNG{rng, rng})
			return err
		},
		"nil rngs": func() error {
			_, err := SampleEach[[][]int](ctx, twoPathModel, start, 1, lim, 1, []*tensor.RNG{nil})
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestStepPanics: Step and Gather, given what no search passes them,
// panic with a message.
func TestStepPanics(t *testing.T) {
	m := randomModel(t, Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 4, Hidden: 4}, 1)
	other := randomModel(t, m.Config(), 2)
	s := start(t, m, decodeSrc[:2])
	for name, f := range map[string]func(){
		"foreign state": func() { other.Step(s, []int{1, 1}) },
		"nil state":     func() { m.Step(nil, []int{1}) },
		"rows":          func() { m.Step(s, []int{1}) },
		"token":         func() { m.Step(s, []int{1, 12}) },
		"gather":        func() { m.Gather(s, []int{2}) },
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

// TestBeams: the n-best lists' heads are Decode's beam results, each list
// is sorted by score, and Beams refuses greedy or sampled options.
func TestBeams(t *testing.T) {
	cfg := Config{SrcVocab: 10, TgtVocab: 12, BOS: 1, EOS: 2, Embed: 8, Hidden: 16, Bidirectional: true, Attention: General, InputFeeding: true}
	m := randomModel(t, cfg, 7)
	opts := DecodeOptions{Beam: 4, MaxLen: 10, LengthPenalty: 0.5}
	beams, err := m.Beams(context.Background(), decodeSrc, opts)
	if err != nil {
		t.Fatal(err)
	}
	best, err := m.Decode(context.Background(), decodeSrc, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, hs := range beams {
		if len(hs) == 0 || !slices.Equal(hs[0].Tokens, best[i].Tokens) || hs[0].Score != best[i].Score {
			t.Errorf("source %d: n-best head %+v, Decode %+v", i, hs, best[i])
		}
		for k := 1; k < len(hs); k++ {
			if hs[k].Score > hs[k-1].Score {
				t.Errorf("source %d: hypothesis %d scores above the one before it", i, k)
			}
		}
	}
	for _, bad := range []DecodeOptions{{Beam: 1}, {Beam: 3, Temperature: 1, RNG: tensor.NewRNG(1)}} {
		if _, err := m.Beams(context.Background(), decodeSrc, bad); err == nil {
			t.Errorf("Beams with %+v: no error", bad)
		}
	}
}
