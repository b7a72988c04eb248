package main

import (
	"io"
	"testing"
	"time"

	"github.com/kioku-ml/kioku/tensor"
)

// TestReducedRun checks on a small problem that the padded and the packed
// classifiers agree — to rounding at initialisation, and along the whole
// training trajectory in float64 — and that both learn the task.
func TestReducedRun(t *testing.T) {
	start := time.Now()
	o := options{pattern: "abc", minLen: 4, maxLen: 16, train: 1600, test: 400, emb: 8, hidden: 16,
		batch: 32, epochs: 3, lr: 2e-2, clip: 5, seed: 1, dtypes: []tensor.DType{tensor.Float32, tensor.Float64}, out: t.TempDir()}
	trs, err := run(o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f32, f64 := trs[0], trs[1]
	if f32.dLogits > 1e-5 || f32.dLoss > 1e-5 || f32.dGrad > 1e-5 {
		t.Errorf("float32 at initialisation: logits, loss, gradients differ by %g, %g, %g", f32.dLogits, f32.dLoss, f32.dGrad)
	}
	if f64.dLogits > 1e-12 || f64.dLoss > 1e-12 || f64.dGrad > 1e-12 {
		t.Errorf("float64 at initialisation: logits, loss, gradients differ by %g, %g, %g", f64.dLogits, f64.dLoss, f64.dGrad)
	}
	if f64.maxLossDiff > 1e-7 || f64.maxParamDiff > 1e-6 {
		t.Errorf("float64 trajectories: losses differ by up to %g, parameters by %g at the end", f64.maxLossDiff, f64.maxParamDiff)
	}
	for _, tr := range trs {
		for k, acc := range tr.accuracy {
			if acc < 0.9 {
				t.Errorf("%v, form %d: test accuracy %.3f, want ≥ 0.9 (chance is 0.5)", tr.dtype, k, acc)
			}
		}
	}
	t.Logf("accuracies %v %v in %v", f32.accuracy, f64.accuracy, time.Since(start))
}

func TestBadOptions(t *testing.T) {
	good := options{pattern: "abc", minLen: 4, maxLen: 16, train: 10, test: 10, emb: 2, hidden: 2, batch: 2, epochs: 1, lr: 1e-2, clip: 1, dtypes: []tensor.DType{tensor.Float32}}
	for name, edit := range map[string]func(*options){
		"pattern letter": func(o *options) { o.pattern = "abx" },
		"empty pattern":  func(o *options) { o.pattern = "" },
		"too short":      func(o *options) { o.minLen = 2 },
		"min > max":      func(o *options) { o.minLen, o.maxLen = 9, 8 },
		"lr":             func(o *options) { o.lr = 0 },
	} {
		o := good
		edit(&o)
		if _, err := run(o, io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestGenerate(t *testing.T) {
	pat := []int{0, 1, 2}
	exs := generate(tensor.NewRNG(3), 200, "abc", 3, 10)
	pos := 0
	for _, ex := range exs {
		if len(ex.ids) < 3 || len(ex.ids) > 10 {
			t.Fatalf("length %d outside 3–10", len(ex.ids))
		}
		if contains(ex.ids, pat) != (ex.label == 1) {
			t.Fatalf("%v labelled %d", ex.ids, ex.label)
		}
		pos += ex.label
	}
	if pos != 100 {
		t.Errorf("%d positives of 200", pos)
	}
}
