package lm

import (
	"math"
	"testing"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// TestSetBF16 checks that bfloat16 products change evaluation only
// slightly (and do change it, where the hardware exists) and leave
// training, which records gradients, in float32.
func TestSetBF16(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		t.Run(cell, func(t *testing.T) { testSetBF16(t, cell) })
	}
}

func testSetBF16(t *testing.T, cell string) {
	m, err := New(Config{Cell: cell, Tokenizer: "word", Vocab: 300, Emb: 48, Hidden: 64, Layers: 2}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(2)
	ids := make([]int, 2000)
	for i := range ids {
		ids[i] = rng.IntN(300)
	}
	plain, err := m.Evaluate(ids, 4, 25)
	if err != nil {
		t.Fatal(err)
	}
	in, tg := [][]int{ids[:25], ids[25:50]}, [][]int{ids[1:26], ids[26:51]}
	trainLoss := func() float64 {
		loss, _ := m.Loss(in, tg, State{})
		loss.Backward()
		return loss.Data.Item()
	}
	l32 := trainLoss()

	m.SetBF16(true)
	b16, err := m.Evaluate(ids, 4, 25)
	if err != nil {
		t.Fatal(err)
	}
	if got := trainLoss(); got != l32 {
		t.Errorf("training loss with SetBF16: %v, float32 %v: training must stay float32", got, l32)
	}
	t.Logf("evaluation: float32 %.6f, bfloat16 %.6f nats", plain, b16)
	if math.Abs(b16-plain) > 0.01*plain {
		t.Fatalf("bfloat16 evaluation %v is more than 1%% from float32 %v", b16, plain)
	}
	if fn.BF16Available() && b16 == plain {
		t.Fatal("SetBF16(true) did not change evaluation on a CPU with AVX512_BF16")
	}
	m.SetBF16(false)
	if again, _ := m.Evaluate(ids, 4, 25); again != plain {
		t.Fatalf("after SetBF16(false) evaluation is %v, want %v", again, plain)
	}
}
