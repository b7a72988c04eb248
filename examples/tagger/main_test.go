package main

import (
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/kioku-ml/kioku/examples/internal/figure/figuretest"
	"github.com/kioku-ml/kioku/tensor"
)

// TestReducedRun trains the three taggers on a small version of the task
// and checks that the bidirectional one learns it while the
// unidirectional ones stay near the left-to-right ceiling.
func TestReducedRun(t *testing.T) {
	out := t.TempDir()
	o := options{vocab: 6, minLen: 4, maxLen: 12, train: 3000, test: 500, emb: 8, hidden: 16, batch: 32, epochs: 10,
		lr: 1e-2, clip: 5, seed: 1, out: out}
	outs, err := run(o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ceiling, _ := causalCeiling(o.vocab, o.minLen, o.maxLen)
	uni, bi := outs[0], outs[2]
	for _, oc := range outs {
		t.Logf("%s: token accuracy %.4f, sequences %.4f, in %v", oc.name, oc.tokenAcc, oc.seqAcc, oc.took)
	}
	if !(bi.tokenAcc > 0.95) {
		t.Errorf("bidirectional token accuracy %.4f, want > 0.95", bi.tokenAcc)
	}
	if !(bi.tokenAcc > uni.tokenAcc+0.15) {
		t.Errorf("bidirectional %.4f is not 0.15 above unidirectional %.4f", bi.tokenAcc, uni.tokenAcc)
	}
	if uni.tokenAcc > ceiling+0.03 {
		t.Errorf("unidirectional %.4f beats the left-to-right ceiling %.4f", uni.tokenAcc, ceiling)
	}
	figuretest.PNG(t, filepath.Join(out, "tagger.png"))
}

// TestCausalCeiling compares the exact ceiling with the accuracy of its
// rule (predict 1 where the probability of a repeat after that position
// exceeds one half) on simulated data.
func TestCausalCeiling(t *testing.T) {
	const V, lo, hi = 5, 3, 15
	exact, _ := causalCeiling(V, lo, hi)
	q := 1 - 1/float64(V)
	predict := make([]int, hi)
	for i := range hi {
		p, n := 0.0, 0
		for L := max(lo, i+1); L <= hi; L++ {
			p += 1 - math.Pow(q, float64(L-1-i))
			n++
		}
		if p/float64(n) > 0.5 {
			predict[i] = 1
		}
	}
	right, tokens := 0, 0
	for _, ex := range generate(tensor.NewRNG(2), 40000, V, lo, hi) {
		for i, tag := range ex.tags {
			if predict[i] == tag {
				right++
			}
			tokens++
		}
	}
	if sim := float64(right) / float64(tokens); math.Abs(sim-exact) > 0.005 {
		t.Errorf("simulated %.4f, exact %.4f", sim, exact)
	}
}

func TestGenerate(t *testing.T) {
	for _, ex := range generate(tensor.NewRNG(1), 100, 4, 1, 9) {
		for i, tag := range ex.tags {
			want := 0
			for _, s := range ex.ids[i+1:] {
				if s == ex.ids[i] {
					want = 1
				}
			}
			if tag != want {
				t.Fatalf("%v: tag %d at %d", ex.ids, tag, i)
			}
		}
	}
}

func TestBadOptions(t *testing.T) {
	good := options{vocab: 4, minLen: 2, maxLen: 5, train: 4, test: 4, emb: 2, hidden: 2, batch: 2, epochs: 1, lr: 1e-2, clip: 1}
	for name, edit := range map[string]func(*options){
		"vocab":     func(o *options) { o.vocab = 1 },
		"min > max": func(o *options) { o.minLen = 6 },
		"epochs":    func(o *options) { o.epochs = 0 },
		"clip":      func(o *options) { o.clip = math.NaN() },
	} {
		o := good
		edit(&o)
		if _, err := run(o, io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
