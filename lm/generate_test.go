package lm

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// generationCases returns requests of different primes, lengths and
// settings (top-k, temperatures, stop lists, a zero length), each with a
// generator from seed 100+i.
func generationCases(vocab int) []GenerateRequest {
	primes := randomTexts(9, vocab, 1, 7, 3, 12, 2, 5, 1, 9)
	cfgs := []SampleConfig{
		{Length: 30, Temperature: 1},
		{Length: 12, Temperature: 0.7, TopK: 5},
		{Length: 40, Temperature: 1.3, Stop: []int{3, 4}},
		{Length: 0, Temperature: 1},
		{Length: 25, Temperature: 0.01},
		{Length: 18, Temperature: 1, Stop: []int{1, 2, 5, 7}},
		{Length: 1, Temperature: 1},
		{Length: 33, Temperature: 0.9, TopK: 1},
	}
	reqs := make([]GenerateRequest, len(cfgs))
	for i := range reqs {
		reqs[i] = GenerateRequest{Prime: primes[i], Config: cfgs[i], RNG: tensor.NewRNG(uint64(100 + i))}
	}
	return reqs
}

// sampled returns what Sample gives for each request alone, each from a
// fresh generator of the request's seed.
func sampled(t testing.TB, m *Model, reqs []GenerateRequest) [][]int {
	t.Helper()
	out := make([][]int, len(reqs))
	for i, r := range reqs {
		var err error
		if out[i], err = m.Sample(r.Prime, r.Config, tensor.NewRNG(uint64(100+i))); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestBatchMatchesSample drives a Batch as a server would — generations
// joining at different steps, some stopping early on a Stop token, one
// removed part-way, one of length zero — and checks that each generation
// draws exactly the tokens Sample draws for it alone, that Done comes
// with its last token, and that a removed generation's tokens are a
// prefix of its sample.
func TestBatchMatchesSample(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		t.Run(cell, func(t *testing.T) {
			m := servingModel(t, cell, 40)
			reqs := generationCases(40)
			want := sampled(t, m, reqs)
			if len(want[2]) == 40 && len(want[5]) == 18 {
				t.Fatal("no Stop token ends a generation early: the test would not test stopping")
			}
			joinAt := []int{0, 0, 1, 2, 3, 3, 5, 8} // the step before which request i joins
			const removed, removeAt = 1, 6          // request 1 leaves before step 6
			b := m.NewBatch()
			got := make([][]int, len(reqs))
			gen := map[int]int{} // generation id → request
			done := map[int]bool{}
			for step := 0; step < 100 && (step <= joinAt[len(joinAt)-1] || b.Len() > 0); step++ {
				for i, at := range joinAt {
					if at == step {
						id, err := b.Add(reqs[i].Prime, reqs[i].Config, reqs[i].RNG)
						if err != nil {
							t.Fatal(err)
						}
						gen[id] = i
					}
				}
				if step == removeAt {
					for id, i := range gen {
						if i == removed && !b.Remove(id) {
							t.Fatalf("Remove(%d) of a running generation reported false", id)
						}
					}
				}
				toks, err := b.Step(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for _, tok := range toks {
					i := gen[tok.Gen]
					if done[i] {
						t.Fatalf("step %d: request %d drew a token after it was done", step, i)
					}
					if tok.ID != NoToken {
						got[i] = append(got[i], tok.ID)
					}
					if tok.Done {
						done[i] = true
						if len(got[i]) != len(want[i]) {
							t.Errorf("request %d done after %d tokens; Sample gives %d", i, len(got[i]), len(want[i]))
						}
					}
				}
			}
			for i := range reqs {
				if i == removed {
					if done[i] || len(got[i]) != removeAt-joinAt[i] || !slices.Equal(got[i], want[i][:len(got[i])]) {
						t.Errorf("removed request: %v (done %v); want the first %d tokens of %v", got[i], done[i], removeAt-joinAt[i], want[i])
					}
					continue
				}
				if !done[i] || !slices.Equal(got[i], want[i]) {
					t.Errorf("request %d (done %v):\n batch  %v\n Sample %v", i, done[i], got[i], want[i])
				}
			}
			if b.Remove(0) || b.Len() != 0 {
				t.Errorf("after the run: Remove of a finished generation reported true or %d generations left", b.Len())
			}
		})
	}
}

// TestGenerateMatchesSample: Generate gives each request the tokens of
// Sample, and so does Stream.
func TestGenerateMatchesSample(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		m := servingModel(t, cell, 40)
		reqs := generationCases(40)
		want := sampled(t, m, reqs)
		got, err := m.Generate(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range reqs {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("%s, request %d:\n Generate %v\n Sample   %v", cell, i, got[i], want[i])
			}
			var streamed []int
			for id, err := range m.Stream(context.Background(), reqs[i].Prime, reqs[i].Config, tensor.NewRNG(uint64(100+i))) {
				if err != nil {
					t.Fatal(err)
				}
				streamed = append(streamed, id)
			}
			if !slices.Equal(streamed, want[i]) {
				t.Errorf("%s, request %d:\n Stream %v\n Sample %v", cell, i, streamed, want[i])
			}
		}
	}
}

// TestStreamCancel: Stream yields the tokens drawn before its context is
// done, then ctx.Err() and nothing more; a loop that breaks early stops
// it; Generate returns the context's error.
func TestStreamCancel(t *testing.T) {
	m := servingModel(t, "lstm", 40)
	cfg := SampleConfig{Length: 20, Temperature: 1}
	want, err := m.Sample([]int{1, 2}, cfg, tensor.NewRNG(4))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{0, 1, 5} {
		var got []int
		var errs []error
		for id, err := range m.Stream(after(n), []int{1, 2}, cfg, tensor.NewRNG(4)) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			got = append(got, id)
		}
		if !slices.Equal(got, want[:n]) || len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Errorf("cancelled after %d steps: tokens %v, errors %v; want %v and context.Canceled", n, got, errs, want[:n])
		}
	}
	var got []int
	for id := range m.Stream(context.Background(), []int{1, 2}, cfg, tensor.NewRNG(4)) {
		if got = append(got, id); len(got) == 3 {
			break
		}
	}
	if !slices.Equal(got, want[:3]) {
		t.Errorf("broken after 3: %v, want %v", got, want[:3])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Generate(ctx, []GenerateRequest{{Prime: []int{1}, Config: cfg, RNG: tensor.NewRNG(1)}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with a cancelled context: %v", err)
	}
	b := m.NewBatch()
	b.Add([]int{1}, cfg, tensor.NewRNG(1))
	if toks, err := b.Step(ctx); !errors.Is(err, context.Canceled) || toks != nil || b.Len() != 1 {
		t.Errorf("Step with a cancelled context: %v, %v, %d generations left", toks, err, b.Len())
	}
}

// TestStreamErrors: a request Stream cannot start yields one error and
// no token.
func TestStreamErrors(t *testing.T) {
	m := servingModel(t, "gru", 40)
	n := 0
	for id, err := range m.Stream(context.Background(), nil, SampleConfig{Length: 3, Temperature: 1}, tensor.NewRNG(1)) {
		n++
		if id != NoToken || err == nil {
			t.Errorf("Stream of an empty prime yielded %d, %v", id, err)
		}
	}
	if n != 1 {
		t.Errorf("Stream of an empty prime yielded %d values; want one error", n)
	}
	_, err := m.Generate(context.Background(), []GenerateRequest{{Prime: []int{1}, Config: SampleConfig{Length: 2, Temperature: 1}, RNG: tensor.NewRNG(1)}, {Prime: []int{1}, RNG: tensor.NewRNG(1)}})
	if err == nil || err.Error() != "request 1: lm: temperature 0 must be positive and finite" {
		t.Errorf("Generate with a bad second request: %v", err)
	}
}

// TestKthLargest: quickselect's threshold equals the k-th value of a
// descending sort, with ties, for every k.
func TestKthLargest(t *testing.T) {
	rng := tensor.NewRNG(4)
	for _, n := range []int{1, 2, 3, 7, 100, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.IntN(n/2 + 1)) // many ties
		}
		want := slices.Clone(x)
		slices.SortFunc(want, func(a, b float32) int { return cmp.Compare(b, a) })
		for k := 1; k <= n; k++ {
			if got := kthLargest(slices.Clone(x), k); got != want[k-1] {
				t.Fatalf("n %d k %d: %v, want %v", n, k, got, want[k-1])
			}
		}
	}
}

// TestPickTopK: with top-k, only the k most likely tokens are ever drawn.
func TestPickTopK(t *testing.T) {
	logits := []float32{0.1, 3, -1, 2.5, 0, 2.9, -4}
	allowed := map[int]bool{1: true, 5: true, 3: true}
	rng := tensor.NewRNG(5)
	var v, sel []float32
	seen := map[int]bool{}
	for range 2000 {
		var id int
		id, v, sel = pick(logits, SampleConfig{Temperature: 2, TopK: 3}, rng, v, sel)
		if !allowed[id] {
			t.Fatalf("drew token %d outside the top 3", id)
		}
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Errorf("drew %v; want each of the top 3", seen)
	}
}

// TestPackedModelMatches: a packed view of the model (Pack) scores,
// evaluates and generates exactly as the model does, and the model
// trains on as before.
func TestPackedModelMatches(t *testing.T) {
	m := servingModel(t, "lstm", 40)
	p := m.Pack()
	if p.Pack() != p {
		t.Error("Pack of a packed view made another view (or wrote to the shared one)")
	}
	texts := randomTexts(8, 40, 3, 17, 30)
	want, err := m.Score(context.Background(), texts, ScoreOptions{TokenLogProbs: true, BlockRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Score(context.Background(), texts, ScoreOptions{TokenLogProbs: true, BlockRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i].NLL != want[i].NLL || !slices.Equal(got[i].LogProbs, want[i].LogProbs) {
			t.Errorf("text %d: packed %v, model %v", i, got[i].NLL, want[i].NLL)
		}
	}
	e1, _ := m.Evaluate(context.Background(), texts[2], 2, 5)
	e2, _ := p.Evaluate(context.Background(), texts[2], 2, 5)
	if e1 != e2 {
		t.Errorf("Evaluate: packed %v, model %v", e2, e1)
	}
	cfg := SampleConfig{Length: 30, Temperature: 0.9, TopK: 5}
	s1, _ := m.Sample(texts[0], cfg, tensor.NewRNG(3))
	s2, _ := p.Sample(texts[0], cfg, tensor.NewRNG(3))
	if !slices.Equal(s1, s2) {
		t.Errorf("Sample: packed %v, model %v", s2, s1)
	}
	for _, q := range m.Params() {
		if !q.RequiresGrad() {
			t.Fatalf("parameter %s of the model no longer requires a gradient", q.Name)
		}
	}
}
