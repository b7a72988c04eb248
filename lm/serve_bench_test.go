package lm

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// ptbSmall is Zaremba et al.'s small PTB model: a 10,000-word
// vocabulary, embedding and two LSTM layers of 200.
var ptbSmall = Config{Cell: "lstm", Tokenizer: "word", Vocab: 10000, Emb: 200, Hidden: 200, Layers: 2}

// variedLengths returns n lengths spread evenly over [lo, hi], in a
// shuffled order.
func variedLengths(n, lo, hi int) []int {
	lengths := make([]int, n)
	for i := range lengths {
		lengths[i] = lo + i*(hi-lo)/max(n-1, 1)
	}
	tensor.NewRNG(7).Shuffle(n, func(i, j int) { lengths[i], lengths[j] = lengths[j], lengths[i] })
	return lengths
}

// servingWork is one request a goroutine of a server runs: scoring a few
// texts, or generating a few continuations. It returns the tokens
// processed.
type servingWork struct {
	name string
	run  func(m *Model) int
}

func servingWorks(vocab int) []servingWork {
	texts := randomTexts(1, vocab, variedLengths(8, 20, 80)...)
	tokens := 0
	for _, t := range texts {
		tokens += len(t)
	}
	return []servingWork{
		{"score", func(m *Model) int {
			if _, err := m.Score(context.Background(), texts, ScoreOptions{}); err != nil {
				panic(err)
			}
			return tokens
		}},
		{"generate", func(m *Model) int {
			reqs := make([]GenerateRequest, 4)
			for i := range reqs {
				reqs[i] = GenerateRequest{Prime: texts[i][:10], Config: SampleConfig{Length: 20, Temperature: 1}, RNG: tensor.NewRNG(uint64(i))}
			}
			if _, err := m.Generate(context.Background(), reqs); err != nil {
				panic(err)
			}
			return 4 * (10 + 20)
		}},
	}
}

// servingModels returns n models for n goroutines: one shared model n
// times, or n copies built separately (as n processes, or n loads of one
// checkpoint, would hold them).
func servingModels(b *testing.B, cfg Config, n int, shared bool) []*Model {
	models := make([]*Model, n)
	for g := range models {
		if shared && g > 0 {
			models[g] = models[0]
			continue
		}
		m, err := New(cfg, tensor.NewRNG(1))
		if err != nil {
			b.Fatal(err)
		}
		models[g] = m
	}
	return models
}

// BenchmarkServingThroughput is the aggregate throughput of N goroutines
// running the same requests on one shared model against N private copies
// of it (ptb-small size): sharing must not be slower. tokens/s counts the
// tokens of all goroutines.
func BenchmarkServingThroughput(b *testing.B) {
	for _, w := range servingWorks(ptbSmall.Vocab) {
		for _, n := range []int{2, 4} {
			for _, shared := range []bool{true, false} {
				b.Run(fmt.Sprintf("%s/N=%d/%s", w.name, n, sharedName(shared)), func(b *testing.B) {
					models := servingModels(b, ptbSmall, n, shared)
					b.ReportAllocs()
					var tokens atomic.Int64
					for b.Loop() {
						var wg sync.WaitGroup
						for _, m := range models {
							wg.Go(func() { tokens.Add(int64(w.run(m))) })
						}
						wg.Wait()
					}
					b.ReportMetric(float64(tokens.Load())/b.Elapsed().Seconds(), "tokens/s")
				})
			}
		}
	}
}

func sharedName(shared bool) string {
	if shared {
		return "shared"
	}
	return "copies"
}

// BenchmarkServingMemory is the live heap of the models N goroutines
// serve from (ptb-small size, after one round of scoring on each): one
// shared model against N copies. model-bytes is HeapAlloc after a
// collection, less the heap before the models were built.
func BenchmarkServingMemory(b *testing.B) {
	work := servingWorks(ptbSmall.Vocab)[0]
	for _, n := range []int{2, 4} {
		for _, shared := range []bool{true, false} {
			b.Run(fmt.Sprintf("N=%d/%s", n, sharedName(shared)), func(b *testing.B) {
				b.ReportAllocs()
				var total float64
				for b.Loop() {
					base := liveHeap()
					models := servingModels(b, ptbSmall, n, shared)
					var wg sync.WaitGroup
					for _, m := range models {
						wg.Go(func() { work.run(m) })
					}
					wg.Wait()
					total += float64(liveHeap()) - float64(base)
					runtime.KeepAlive(models)
				}
				b.ReportMetric(total/float64(b.N), "model-bytes")
			})
		}
	}
}

// liveHeap returns HeapAlloc after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkScore64 scores 64 texts of 20 to 200 tokens with a ptb-small
// model: in one batched Score call, packed, against 64 calls of one text
// each.
func BenchmarkScore64(b *testing.B) {
	m, err := New(ptbSmall, tensor.NewRNG(1))
	if err != nil {
		b.Fatal(err)
	}
	texts := randomTexts(2, ptbSmall.Vocab, variedLengths(64, 20, 200)...)
	tokens := 0
	for _, t := range texts {
		tokens += len(t) - 1
	}
	b.Run("batched", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Score(context.Background(), texts, ScoreOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("one-at-a-time", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range texts {
				if _, err := m.Score(context.Background(), [][]int{t}, ScoreOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}

// BenchmarkGenerate16 generates 16 continuations of 50 tokens (primes of
// 5 to 40 tokens) with a ptb-small model: together in one Generate call
// (one batched step per token) against 16 Sample calls.
func BenchmarkGenerate16(b *testing.B) {
	m, err := New(ptbSmall, tensor.NewRNG(1))
	if err != nil {
		b.Fatal(err)
	}
	primes := randomTexts(3, ptbSmall.Vocab, variedLengths(16, 5, 40)...)
	cfg := SampleConfig{Length: 50, Temperature: 1}
	reqs := func() []GenerateRequest {
		rs := make([]GenerateRequest, len(primes))
		for i, p := range primes {
			rs[i] = GenerateRequest{Prime: p, Config: cfg, RNG: tensor.NewRNG(uint64(i))}
		}
		return rs
	}
	const drawn = 16 * 50
	b.Run("batched", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Generate(context.Background(), reqs()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(drawn*b.N)/b.Elapsed().Seconds(), "drawn-tokens/s")
	})
	b.Run("one-at-a-time", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range reqs() {
				if _, err := m.Sample(r.Prime, r.Config, r.RNG); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(drawn*b.N)/b.Elapsed().Seconds(), "drawn-tokens/s")
	})
}
