package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/kioku-ml/kioku/examples/internal/figure/figuretest"
	"github.com/kioku-ml/kioku/tensor"
)

// TestReducedRun trains a smaller generator briefly and checks that it
// learned: the held-out loss is under half that of predicting each image's
// mean intensity, and images generated from the learned h0s resemble
// their own digit more often than chance (1 in 10) would give.
func TestReducedRun(t *testing.T) {
	out := t.TempDir()
	o := options{size: 16, perClass: 100, minHeight: 0.6, maxHeight: 0.8, jitter: 1, hidden: 64, batch: 50, epochs: 20,
		lr: 3e-3, clip: 5, gen: genMean, noise: 0.3, randomN: 10, seed: 1, out: out, testCount: 20}
	s, err := run(o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.4f → %.4f, held-out %.4f; learned h0s %d/10, noisy %d/%d; in %v", s.firstLoss, s.lastLoss, s.testLoss, s.learnedHits, s.noisyHits, s.noisyN, s.took)
	if base := s.baseline; !(s.testLoss < 0.5*base) {
		t.Errorf("held-out MSE %.4f, want < half the %.4f of predicting each image's mean", s.testLoss, base)
	}
	if s.learnedHits < 3 {
		t.Errorf("%d of 10 images from the learned h0s nearest their own digit; want at least 3", s.learnedHits)
	}
	for _, name := range []string{"rowimage_train.png", "rowimage_learned.png", "rowimage_random.png"} {
		figuretest.PNG(t, filepath.Join(out, name))
	}
}

// TestRender checks that every digit in every font and size fits the
// image and leaves ink, and that two digits differ.
func TestRender(t *testing.T) {
	r, err := newRenderer(16, 0.6, 0.8, 2)
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(1)
	var first [classes][]float32
	for range 20 {
		for d := range classes {
			px, err := r.render(rng, d)
			if err != nil {
				t.Fatal(err)
			}
			ink := 0.0
			for _, v := range px {
				if v < 0 || v > 1 {
					t.Fatalf("intensity %v", v)
				}
				ink += float64(v)
			}
			if ink < 5 {
				t.Errorf("digit %d has only %.1f pixels of ink", d, ink)
			}
			if first[d] == nil {
				first[d] = px
			}
		}
	}
	same := true
	for i := range first[0] {
		same = same && first[0][i] == first[1][i]
	}
	if same {
		t.Error("0 and 1 render alike")
	}
	for _, bad := range [][3]float64{{4, 0.6, 0.8}, {16, 0, 0.8}, {16, 0.8, 0.6}, {16, 0.6, 1.2}} {
		if _, err := newRenderer(int(bad[0]), bad[1], bad[2], 1); err == nil {
			t.Errorf("newRenderer%v: no error", bad)
		}
	}
}

func TestBadOptions(t *testing.T) {
	good := options{size: 16, perClass: 1, minHeight: 0.6, maxHeight: 0.8, hidden: 4, batch: 2, epochs: 1,
		lr: 1e-3, clip: 1, gen: genMean, randomN: 1, testCount: 1}
	for name, edit := range map[string]func(*options){
		"size":   func(o *options) { o.size = 4 },
		"gen":    func(o *options) { o.gen = "beam" },
		"hidden": func(o *options) { o.hidden = 0 },
		"noise":  func(o *options) { o.noise = -1 },
		"height": func(o *options) { o.minHeight = 0.9 },
	} {
		o := good
		edit(&o)
		if _, err := run(o, io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
