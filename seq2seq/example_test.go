package seq2seq_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/tensor"
)

// Token ids of the hand-built model below.
const (
	eos = iota
	bos
	tokA
	tokB
)

// twoPaths is a hand-built model over {EOS, BOS, a, b} whose next-token
// probabilities depend only on the prefix:
//
//	p(a) = 0.6, p(b) = 0.4 at the start,
//	after "a": p(EOS) = 0.4, p(a) = p(b) = 0.3,
//	after "b": p(EOS) = 0.9, p(a) = p(b) = 0.05,
//	after two tokens: p(EOS) = 1.
//
// Greedy search takes "a" and then EOS, p = 0.6·0.4 = 0.24; the best
// sequence is "b" EOS, p = 0.4·0.9 = 0.36, which a beam of two finds.
// Its state is each row's prefix.
type twoPaths struct{}

func (twoPaths) Step(s [][]int, prev []int) (logProbs, attention *tensor.Tensor, next [][]int) {
	logProbs = tensor.New(tensor.Float64, len(s), 4)
	next = make([][]int, len(s))
	for n, prefix := range s {
		if prev[n] != bos {
			prefix = append(prefix[:len(prefix):len(prefix)], prev[n])
		}
		next[n] = prefix
		var p [4]float64
		switch {
		case len(prefix) == 0:
			p[tokA], p[tokB] = 0.6, 0.4
		case len(prefix) == 1 && prefix[0] == tokA:
			p[eos], p[tokA], p[tokB] = 0.4, 0.3, 0.3
		case len(prefix) == 1 && prefix[0] == tokB:
			p[eos], p[tokA], p[tokB] = 0.9, 0.05, 0.05
		default:
			p[eos] = 1
		}
		for k, v := range p {
			logProbs.Set(math.Log(v), n, k)
		}
	}
	return logProbs, nil, next
}

func (twoPaths) Gather(s [][]int, idx []int) [][]int {
	g := make([][]int, len(idx))
	for k, i := range idx {
		g[k] = s[i]
	}
	return g
}

// Beam search keeps several hypotheses per step and so finds a sequence
// that greedy search misses.
func ExampleBeamSearch() {
	lim := seq2seq.Limits{BOS: bos, EOS: eos, MaxLen: 5}
	start := [][]int{{}} // one sentence, empty prefix
	ctx := context.Background()
	greedy, err := seq2seq.Greedy[[][]int](ctx, twoPaths{}, start, 1, lim)
	if err != nil {
		panic(err)
	}
	g := greedy[0]
	fmt.Printf("greedy: %v p=%.2f\n", g.Tokens, math.Exp(g.LogProb))
	beams, err := seq2seq.BeamSearch[[][]int](ctx, twoPaths{}, start, 1, lim, seq2seq.BeamOptions{Width: 2})
	if err != nil {
		panic(err)
	}
	for _, h := range beams[0] {
		fmt.Printf("beam:   %v p=%.2f\n", h.Tokens, math.Exp(h.LogProb))
	}
	// Output:
	// greedy: [2] p=0.24
	// beam:   [3] p=0.36
	// beam:   [2] p=0.24
}

// A model is trained with Loss under teacher forcing and used with
// Decode; here an untrained model only shows the calls.
func ExampleModel() {
	cfg := seq2seq.Config{
		SrcVocab: 10, TgtVocab: 10, BOS: 1, EOS: 2,
		Embed: 16, Hidden: 32, Layers: 1,
		Bidirectional: true, Attention: seq2seq.General, InputFeeding: true,
	}
	m, err := seq2seq.NewModel(cfg, tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	src := [][]int{{3, 4, 5}, {6, 7}}
	tgt := [][]int{{5, 4, 3}, {7, 6}}
	loss := m.Loss(src, tgt, autograd.Train) // mean −log p per target token
	loss.Backward()                          // gradients in each parameter's Grad
	fmt.Printf("loss %.1f (about log 10 = %.1f)\n", loss.Data.Item(), math.Log(10))

	out, err := m.Decode(context.Background(), src, seq2seq.DecodeOptions{Beam: 3, MaxLen: 4})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(out), "hypotheses, at most", 4, "steps each:", len(out[0].Attention) <= 4)
	// Output:
	// loss 2.4 (about log 10 = 2.3)
	// 2 hypotheses, at most 4 steps each: true
}

// Sampling draws from the model's distribution; the same seed gives the
// same samples.
func ExampleSample() {
	lim := seq2seq.Limits{BOS: bos, EOS: eos, MaxLen: 5}
	start := [][]int{{}, {}, {}, {}}
	hyps, err := seq2seq.Sample[[][]int](context.Background(), twoPaths{}, start, len(start), lim, 1, tensor.NewRNG(3))
	if err != nil {
		panic(err)
	}
	for _, h := range hyps {
		fmt.Printf("%v p=%.2f\n", h.Tokens, math.Exp(h.LogProb))
	}
	// Output:
	// [3] p=0.36
	// [3] p=0.36
	// [2 2] p=0.18
	// [2] p=0.24
}

// reverser returns a small model trained briefly to reverse strings of
// the symbols 3…9 (ids 1 and 2 are BOS and EOS), trained once for the
// examples that use it.
var reverser = sync.OnceValue(trainReverser)

func trainReverser() *seq2seq.Model {
	cfg := seq2seq.Config{
		SrcVocab: 10, TgtVocab: 10, BOS: 1, EOS: 2, Embed: 16, Hidden: 32,
		Bidirectional: true, Attention: seq2seq.General, InputFeeding: true, Dropout: 0.1,
	}
	rng := tensor.NewRNG(1)
	m, err := seq2seq.NewModel(cfg, rng)
	if err != nil {
		panic(err)
	}
	opt, err := optim.NewAdam(m.NamedParams(), optim.AdamConfig{LR: 0.01})
	if err != nil {
		panic(err)
	}
	for range 300 {
		var src, tgt [][]int
		for range 16 {
			s := make([]int, 2+rng.IntN(4))
			for i := range s {
				s[i] = 3 + rng.IntN(7)
			}
			r := slices.Clone(s)
			slices.Reverse(r)
			src, tgt = append(src, s), append(tgt, r)
		}
		loss := m.Loss(src, tgt, autograd.Train)
		opt.ClearGrads()
		loss.Backward()
		if err := opt.Update(); err != nil {
			panic(err)
		}
	}
	return m
}

// One model serves many goroutines at once: each handler decodes with its
// request's context, and a batch of sources decoded in one call gives
// each exactly what decoding it alone gives.
func ExampleModel_Decode_concurrent() {
	m := reverser() // load once (seq2seq.Load), share everywhere
	requests := [][]int{{3, 4, 5}, {6, 7, 8, 9}, {9, 3}, {5, 5, 6}}
	answers := make([][]int, len(requests))
	var wg sync.WaitGroup
	for i, src := range requests {
		wg.Go(func() { // one goroutine per request, as an HTTP server runs them
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			hyps, err := m.Decode(ctx, [][]int{src}, seq2seq.DecodeOptions{Beam: 4})
			if err != nil {
				panic(err) // bad input, or ctx done
			}
			answers[i] = hyps[0].Tokens
		})
	}
	wg.Wait()
	for i, a := range answers {
		fmt.Println(requests[i], "→", a)
	}

	// What a dynamic batcher calls: all requests in one Decode.
	batch, err := m.Decode(context.Background(), requests, seq2seq.DecodeOptions{Beam: 4})
	if err != nil {
		panic(err)
	}
	same := true
	for i, h := range batch {
		same = same && slices.Equal(h.Tokens, answers[i])
	}
	fmt.Println("batched equals one at a time:", same)
	// Output:
	// [3 4 5] → [5 4 3]
	// [6 7 8 9] → [9 8 7 6]
	// [9 3] → [3 9]
	// [5 5 6] → [6 5 5]
	// batched equals one at a time: true
}

// Stream yields the output tokens one at a time as the decoder produces
// them, and stops when the context is done or the loop breaks.
func ExampleModel_Stream() {
	m := reverser()
	ctx := context.Background()
	sep := ""
	for tok, err := range m.Stream(ctx, []int{3, 4, 5, 6, 7}, seq2seq.DecodeOptions{}) {
		if err != nil {
			panic(err) // bad input, Beam > 1, or ctx done
		}
		fmt.Print(sep, tok) // and flush it to the client
		sep = " "
	}
	fmt.Println()

	// A cancelled context ends the stream with ctx.Err().
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, err := range m.Stream(cancelled, []int{3, 4}, seq2seq.DecodeOptions{}) {
		fmt.Println(err)
	}
	// Output:
	// 7 6 5 4 3
	// context canceled
}
