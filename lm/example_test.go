package lm_test

import (
	"context"
	"fmt"
	"strings"

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
