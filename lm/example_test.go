package lm_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// Train a small character model on a repetitive text with truncated BPTT
// (the state carried, detached, from chunk to chunk), then score it and
// let it continue a prompt greedily.
func ExampleModel() {
	text := strings.Repeat("abcd", 200)
	ids := make([]int, len(text))
	for i, c := range text {
		ids[i] = int(c - 'a')
	}
	m, err := lm.New(lm.Config{Cell: "lstm", Tokenizer: "char", Vocab: 4, Emb: 8, Hidden: 16, Layers: 1}, tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	opt, _ := optim.NewAdam(m.NamedParams(), optim.AdamConfig{LR: 0.02})
	clip, _ := optim.NewGradientClipping(5)
	opt.AddHook(clip)
	before, _ := m.Evaluate(context.Background(), ids, 4, 20)

	// Four parallel rows of the stream, chunks of 20 steps.
	const rows, steps = 4, 20
	part := (len(ids) - 1) / rows
	var st lm.State
	for epoch := 0; epoch < 3; epoch++ {
		st = lm.State{}
		for start := 0; start+steps <= part; start += steps {
			in, tg := make([][]int, rows), make([][]int, rows)
			for r := range in {
				in[r] = ids[r*part+start : r*part+start+steps]
				tg[r] = ids[r*part+start+1 : r*part+start+steps+1]
			}
			loss, next := m.Loss(in, tg, st)
			opt.ClearGrads()
			loss.Backward()
			loss.UnchainBackward()
			if err := opt.Update(); err != nil {
				panic(err)
			}
			st = next.Detach()
		}
	}
	after, _ := m.Evaluate(context.Background(), ids, 4, 20)
	fmt.Println("loss fell by more than 10×:", after < before/10)

	out, _ := m.Sample([]int{0, 1}, lm.SampleConfig{Length: 6, Temperature: 0.01}, tensor.NewRNG(2))
	var s strings.Builder
	for _, id := range out {
		s.WriteByte(byte('a' + id))
	}
	fmt.Println("ab →", s.String())
	// Output:
	// loss fell by more than 10×: true
	// ab → cdabcd
}

// Run inference in a loop into one logits buffer: ForwardInto writes into
// the tensor it is given when the shape fits, so only the first call
// allocates.
func ExampleModel_ForwardInto() {
	m, _ := lm.New(lm.Config{Cell: "gru", Tokenizer: "word", Vocab: 100, Emb: 16, Hidden: 32, Layers: 2}, tensor.NewRNG(1))
	batch := [][]int{{1, 2, 3, 4}, {5, 6, 7, 8}} // 2 rows of 4 tokens
	var logits *tensor.Tensor
	var st lm.State
	for range 3 {
		var next *tensor.Tensor
		var err error
		if next, st, err = m.ForwardInto(logits, batch, st); err != nil {
			panic(err)
		}
		if logits != nil && next != logits {
			panic("the buffer was not reused")
		}
		logits = next
	}
	fmt.Println(logits.Shape())
	// Output: [8 100]
}

// Score several texts of different lengths in one call: they run through
// the recurrent layers as one packed batch, each from the zero state.
func ExampleModel_Score() {
	m, _ := lm.New(lm.Config{Cell: "lstm", Tokenizer: "word", Vocab: 50, Emb: 16, Hidden: 32, Layers: 2}, tensor.NewRNG(1))
	texts := [][]int{{1, 2, 3, 4, 5}, {6, 7}, {8, 9, 10}}
	scores, err := m.Score(context.Background(), texts, lm.ScoreOptions{TokenLogProbs: true})
	if err != nil {
		panic(err)
	}
	for i, s := range scores {
		// An untrained model is close to uniform: perplexity near 50.
		fmt.Printf("text %d: %d tokens predicted, %d log-probabilities, perplexity in [40, 60]: %v\n",
			i, s.Tokens, len(s.LogProbs), s.Perplexity() > 40 && s.Perplexity() < 60)
	}
	// Output:
	// text 0: 4 tokens predicted, 4 log-probabilities, perplexity in [40, 60]: true
	// text 1: 1 tokens predicted, 1 log-probabilities, perplexity in [40, 60]: true
	// text 2: 2 tokens predicted, 2 log-probabilities, perplexity in [40, 60]: true
}

// Stream a continuation token by token, as an HTTP handler would write
// it out; cancelling the context (the client going away) ends the loop
// with the context's error.
func ExampleModel_Stream() {
	m, _ := lm.New(lm.Config{Cell: "gru", Tokenizer: "char", Vocab: 20, Emb: 8, Hidden: 16, Layers: 1}, tensor.NewRNG(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	for _, err := range m.Stream(ctx, []int{1, 2, 3}, lm.SampleConfig{Length: 100, Temperature: 1}, tensor.NewRNG(2)) {
		if err != nil {
			fmt.Println("stopped:", err)
			break
		}
		if n++; n == 5 {
			cancel() // the request is cancelled after five tokens
		}
	}
	fmt.Println("tokens:", n)
	// Output:
	// stopped: context canceled
	// tokens: 5
}

// Serve one loaded model from many goroutines: inference needs no lock
// and no copy of the model, and each call gives exactly what it gives
// alone.
func ExampleModel_concurrent() {
	// In a server: m, vocab, err := lm.Load(dir), once at start-up.
	m, _ := lm.New(lm.Config{Cell: "lstm", Tokenizer: "word", Vocab: 100, Emb: 16, Hidden: 32, Layers: 2, Dropout: 0.2}, tensor.NewRNG(1))
	prime := []int{5, 6, 7}
	cfg := lm.SampleConfig{Length: 10, Temperature: 0.8}
	want, _ := m.Sample(prime, cfg, tensor.NewRNG(42))

	results := make([][]int, 16)
	var wg sync.WaitGroup
	for i := range results { // 16 handlers at once
		wg.Go(func() {
			out, err := m.Sample(prime, cfg, tensor.NewRNG(42))
			if err != nil {
				panic(err)
			}
			results[i] = out
		})
	}
	wg.Wait()
	same := true
	for _, r := range results {
		same = same && slices.Equal(r, want)
	}
	fmt.Println("every handler drew the tokens of Sample:", same)
	// Output: every handler drew the tokens of Sample: true
}
