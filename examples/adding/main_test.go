package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/kioku-ml/kioku/examples/internal/figure/figuretest"
	"github.com/kioku-ml/kioku/tensor"
)

// TestReducedRun trains the LSTM and the IRNN on the adding problem with
// T = 30 and checks that both beat the constant baseline (MSE 1/6) by a
// factor of more than five, and that the learning curves are drawn.
func TestReducedRun(t *testing.T) {
	out := t.TempDir()
	o := options{lengths: []int{30}, models: []string{"lstm", "irnn"}, hidden: 32, batch: 50, steps: 600, evalEvery: 50,
		testSize: 300, lr: map[string]float64{"lstm": 1e-2, "irnn": 1e-3}, clip: 1, seed: 1, out: out}
	rs, err := run(o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if bound := baselineMSE / 5; !(r.best < bound) {
			t.Errorf("%s: best held-out MSE %.4f after %d updates, want < %.4f (a fifth of the constant baseline)", r.model, r.best, r.steps[len(r.steps)-1], bound)
		}
		t.Logf("%s: best MSE %.4f, solved after %d updates, in %v", r.model, r.best, r.solved, r.took)
	}
	figuretest.PNG(t, filepath.Join(out, "adding_T30.png"))
}

// TestBatch checks the data: two markers, one in each half, and the sum.
func TestBatch(t *testing.T) {
	rng := tensor.NewRNG(7)
	b := makeBatch(rng, 100, 11)
	for i, x := range b.xs {
		var marks []int
		sum := 0.0
		for s := range 11 {
			v, m := x.Data.At(s, 0), x.Data.At(s, 1)
			if v < 0 || v >= 1 {
				t.Fatalf("value %v outside [0, 1)", v)
			}
			if m == 1 {
				marks = append(marks, s)
				sum += v
			} else if m != 0 {
				t.Fatalf("marker %v", m)
			}
		}
		if len(marks) != 2 || marks[0] >= 5 || marks[1] < 5 {
			t.Fatalf("sequence %d: markers at %v", i, marks)
		}
		if d := b.y.Data.At(i, 0) - sum; d > 1e-6 || d < -1e-6 {
			t.Fatalf("sequence %d: target %v, sum %v", i, b.y.Data.At(i, 0), sum)
		}
	}
}

func TestBadOptions(t *testing.T) {
	good := options{lengths: []int{10}, models: []string{"lstm"}, hidden: 4, batch: 2, steps: 1, evalEvery: 1, testSize: 2,
		lr: map[string]float64{"lstm": 1e-2, "irnn": 1e-3, "rnn": 1e-3}, clip: 1}
	for name, edit := range map[string]func(*options){
		"model":  func(o *options) { o.models = []string{"gru"} },
		"T":      func(o *options) { o.lengths = []int{1} },
		"hidden": func(o *options) { o.hidden = 0 },
		"clip":   func(o *options) { o.clip = 0 },
		"lr":     func(o *options) { o.lr = map[string]float64{"lstm": -1} },
	} {
		o := good
		edit(&o)
		if _, err := run(o, io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := parseInts("100,x"); err == nil {
		t.Error("parseInts accepted x")
	}
}
