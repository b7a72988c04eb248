package lm

import (
	"runtime"
	"testing"

	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// trainStepAllocs returns the objects a steady-state training step
// allocates for chunks of T steps of batch rows with hidden units.
func trainStepAllocs(t *testing.T, T, batch, hidden int) float64 {
	m, err := New(Config{Cell: "lstm", Tokenizer: "word", Vocab: 50, Emb: 8, Hidden: hidden, Layers: 2, Dropout: 0.1}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	opt := clippedSGD(m, 0.1)
	in, tg := batchOf(batch, T)
	fillBatch(tensor.NewRNG(2), in, tg, 50)
	var st State
	step := func() {
		var err error
		if st, err = trainStep(m, opt, in, tg, st); err != nil {
			t.Fatal(err)
		}
	}
	step() // the first step allocates the gradients and optimizer state
	return testing.AllocsPerRun(5, step)
}

// TestTrainStepAllocationsIndependentOfLength: the fused sequence kernels
// allocate per sequence, not per time step, so a training step makes the
// same number of allocations for 10 and for 80 steps of BPTT, up to a few
// dozen from pooled buffers refilled after a garbage collection (the longer
// chunk allocates more bytes, so it sees more collections); one allocation
// per time step would add at least 70.
// The larger model is big enough for the per-step products and cell
// updates to be split across the worker pool, whose tasks are pooled too.
func TestTrainStepAllocationsIndependentOfLength(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for _, size := range []struct{ batch, hidden int }{{4, 16}, {32, 256}} {
		short, long := trainStepAllocs(t, 10, size.batch, size.hidden), trainStepAllocs(t, 80, size.batch, size.hidden)
		t.Logf("batch %d, hidden %d: allocations per step: %v (T=10), %v (T=80)", size.batch, size.hidden, short, long)
		if long > short+35 {
			t.Fatalf("batch %d, hidden %d: a step of 80 time steps makes %v allocations, one of 10 makes %v: allocation grows with sequence length", size.batch, size.hidden, long, short)
		}
	}
}

// TestTruncatedBPTTMemoryIsBounded trains chunk after chunk with the state
// carried across chunks (detached, and the graph unchained after each
// backward pass) and checks that the live heap after 60 chunks is no larger
// than after 20: memory is bounded by the chunk, not by the stream.
func TestTruncatedBPTTMemoryIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector keeps shadow memory")
	}
	m, err := New(Config{Cell: "lstm", Tokenizer: "word", Vocab: 200, Emb: 32, Hidden: 64, Layers: 2, Dropout: 0.2}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := optim.NewSGD(m.NamedParams(), optim.SGDConfig{LR: 0.1})
	rng := tensor.NewRNG(3)
	in, tg := batchOf(8, 35)
	var st State
	live := func(chunks int) uint64 {
		for range chunks {
			fillBatch(rng, in, tg, 200)
			if st, err = trainStep(m, opt, in, tg, st); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	after20 := live(20)
	after60 := live(40)
	t.Logf("live heap after 20 chunks %d bytes, after 60 %d bytes", after20, after60)
	if after60 > after20+after20/5 {
		t.Fatalf("live heap grew from %d bytes after 20 chunks to %d after 60: something from earlier chunks is kept", after20, after60)
	}
}

// clippedSGD returns SGD at rate lr over m's parameters with the gradient
// norm clipped to 5, as the language model's training does.
func clippedSGD(m *Model, lr float64) *optim.Optimizer {
	opt, _ := optim.NewSGD(m.NamedParams(), optim.SGDConfig{LR: lr})
	clip, _ := optim.NewGradientClipping(5)
	opt.AddHook(clip)
	return opt
}

// batchOf returns the inputs and targets of batch rows of T tokens.
func batchOf(batch, T int) (in, tg [][]int) {
	in, tg = make([][]int, batch), make([][]int, batch)
	for r := range in {
		in[r], tg[r] = make([]int, T), make([]int, T)
	}
	return in, tg
}

// fillBatch draws the tokens of in and tg from [0, vocab), an input and
// its target at a time.
func fillBatch(rng *tensor.RNG, in, tg [][]int, vocab int) {
	for r := range in {
		for i := range in[r] {
			in[r][i], tg[r][i] = rng.IntN(vocab), rng.IntN(vocab)
		}
	}
}

// trainStep is one step of truncated BPTT from st: the loss, its
// gradients (the graph unchained after), the update, and the next state
// detached.
func trainStep(m *Model, opt *optim.Optimizer, in, tg [][]int, st State) (State, error) {
	loss, next := m.Loss(in, tg, st)
	opt.ClearGrads()
	loss.Backward()
	loss.UnchainBackward()
	err := opt.Update()
	return next.Detach(), err
}
