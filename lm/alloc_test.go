package lm

import (
	"testing"

	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// trainStepAllocs returns the objects a steady-state training step
// allocates for chunks of T steps.
func trainStepAllocs(t *testing.T, T int) float64 {
	m, err := New(Config{Cell: "lstm", Tokenizer: "word", Vocab: 50, Emb: 8, Hidden: 16, Layers: 2, Dropout: 0.1}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := optim.NewSGD(m.NamedParams(), optim.SGDConfig{LR: 0.1})
	clip, _ := optim.NewGradientClipping(5)
	opt.AddHook(clip)
	rng := tensor.NewRNG(2)
	in, tg := make([][]int, 4), make([][]int, 4)
	for r := range in {
		in[r], tg[r] = make([]int, T), make([]int, T)
		for i := range in[r] {
			in[r][i], tg[r][i] = rng.IntN(50), rng.IntN(50)
		}
	}
	var st State
	step := func() {
		loss, next := m.Loss(in, tg, st)
		opt.ClearGrads()
		loss.Backward()
		loss.UnchainBackward()
		if err := opt.Update(); err != nil {
			t.Fatal(err)
		}
		st = next.Detach()
	}
	step() // the first step allocates the gradients and optimizer state
	return testing.AllocsPerRun(5, step)
}

// TestTrainStepAllocationsIndependentOfLength: the fused sequence kernels
// allocate per sequence, not per time step, so a training step makes the
// same number of allocations for 10 and for 80 steps of BPTT, up to a few
// from pooled buffers (one allocation per time step would add at least 70).
func TestTrainStepAllocationsIndependentOfLength(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	short, long := trainStepAllocs(t, 10), trainStepAllocs(t, 80)
	t.Logf("allocations per step: %v (T=10), %v (T=80)", short, long)
	if long > short+5 {
		t.Fatalf("a step of 80 time steps makes %v allocations, one of 10 makes %v: allocation grows with sequence length", long, short)
	}
}
