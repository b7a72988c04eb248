package lm

import (
	"context"
	"math"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// TestSetBF16 checks that bfloat16 products (SetPrecision) change evaluation only
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
	plain, err := m.Evaluate(context.Background(), ids, 4, 25)
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

	m.SetPrecision(fn.BFloat16)
	b16, err := m.Evaluate(context.Background(), ids, 4, 25)
	if err != nil {
		t.Fatal(err)
	}
	if got := trainLoss(); got != l32 {
		t.Errorf("training loss with SetPrecision(fn.BFloat16): %v, float32 %v: training must stay float32", got, l32)
	}
	t.Logf("evaluation: float32 %.6f, bfloat16 %.6f nats", plain, b16)
	if math.Abs(b16-plain) > 0.01*plain {
		t.Fatalf("bfloat16 evaluation %v is more than 1%% from float32 %v", b16, plain)
	}
	if fn.PrecisionAvailable(fn.BFloat16) && b16 == plain {
		t.Fatal("SetPrecision(fn.BFloat16) did not change evaluation on a CPU with AVX512_BF16")
	}
	m.SetPrecision(fn.Float32)
	if again, _ := m.Evaluate(context.Background(), ids, 4, 25); again != plain {
		t.Fatalf("after SetPrecision(fn.Float32) evaluation is %v, want %v", again, plain)
	}
}

// TestForwardInto: the inference entry point gives Forward's logits, in
// float32 and with bfloat16 products, reuses its dst, and records no graph
// even from a state that requires gradients.
func TestForwardInto(t *testing.T) {
	m, err := New(Config{Cell: "lstm", Tokenizer: "word", Vocab: 50, Emb: 8, Hidden: 16, Layers: 2}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	in := [][]int{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}}
	_, st := m.Forward(in, State{}) // st requires gradients: it came from a graph
	for _, prec := range []fn.Precision{fn.Float32, fn.BFloat16} {
		m.SetPrecision(prec)
		var want *autograd.Variable
		var wantNext State
		autograd.NoGrad(m.Params(), func() { want, wantNext = m.Forward(in, st.Detach()) })
		var dst *tensor.Tensor
		for range 2 {
			got, next, err := m.ForwardInto(dst, in, st)
			if err != nil {
				t.Fatal(err)
			}
			if dst != nil && got != dst {
				t.Fatal("ForwardInto did not reuse the logits of the previous call")
			}
			dst = got
			if !got.SameShape(want.Data) {
				t.Fatalf("ForwardInto logits %v, Forward %v", got.Shape(), want.Data.Shape())
			}
			for i := range got.Size() {
				if got.AtFlat(i) != want.Data.AtFlat(i) {
					t.Fatalf("precision %v: logit %d = %v, Forward %v", prec, i, got.AtFlat(i), want.Data.AtFlat(i))
				}
			}
			if next.H.RequiresGrad() || next.H.Data.AtFlat(3) != wantNext.H.Data.AtFlat(3) {
				t.Fatal("ForwardInto's next state records a graph or differs from Forward's")
			}
		}
	}
	m.SetPrecision(fn.Float32)
}

// TestLossMatchesForward: Loss (which runs the chunk time-major) equals the
// cross-entropy of Forward's batch-major logits against the targets in the
// same batch-major order, and its gradients match those of that
// composition (to float32 rounding: the sums run in another order).
func TestLossMatchesForward(t *testing.T) {
	m, err := New(Config{Cell: "gru", Tokenizer: "word", Vocab: 30, Emb: 6, Hidden: 10, Layers: 2}, tensor.NewRNG(4))
	if err != nil {
		t.Fatal(err)
	}
	in := [][]int{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10, 11, 12}}
	tg := [][]int{{2, 3, 4}, {5, 6, 7}, {8, 9, 10}, {11, 12, 13}}
	var flat []int
	for _, row := range tg {
		flat = append(flat, row...)
	}
	loss, _ := m.Loss(in, tg, State{})
	loss.Backward()
	want := make(map[string]*tensor.Tensor)
	for name, p := range m.NamedParams() {
		want[name] = p.Grad.Clone()
		p.ClearGrad()
	}
	logits, _ := m.Forward(in, State{})
	ref := fn.SoftmaxCrossEntropy(logits, flat, -1, fn.ReduceMean)
	ref.Backward()
	if d := math.Abs(loss.Data.Item() - ref.Data.Item()); d > 1e-6 {
		t.Fatalf("Loss %v, cross-entropy of Forward %v", loss.Data.Item(), ref.Data.Item())
	}
	for name, p := range m.NamedParams() {
		for i := range p.Grad.Size() {
			if d := math.Abs(p.Grad.AtFlat(i) - want[name].AtFlat(i)); d > 1e-6*(1+math.Abs(want[name].AtFlat(i))) {
				t.Fatalf("gradient of %s element %d: %v through Forward, %v through Loss", name, i, p.Grad.AtFlat(i), want[name].AtFlat(i))
			}
		}
	}
}
