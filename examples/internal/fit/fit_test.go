package fit

import (
	"math"
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

func TestAdamErrors(t *testing.T) {
	w := autograd.NewParameter(tensor.FromFloat32([]float32{1}, 1))
	for _, c := range []struct {
		name     string
		lr, clip float64
	}{{"lr", -1, 1}, {"clip", 1e-2, 0}, {"NaN clip", 1e-2, math.NaN()}} {
		if _, err := Adam(optim.Named(w), c.lr, c.clip); err == nil {
			t.Errorf("%s: lr %v, clip %v accepted", c.name, c.lr, c.clip)
		}
	}
}

// TestStep minimises (w − 3)² and checks that clipping holds each Adam
// step's gradient to the threshold: Adam's first step moves every weight
// by the learning rate whatever the gradient's size, so the test compares
// the clipped gradient directly.
func TestStep(t *testing.T) {
	w := autograd.NewParameter(tensor.FromFloat32([]float32{10, -10}, 2))
	opt, err := Adam(optim.Named(w), 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	target := autograd.NewVariable(tensor.FromFloat32([]float32{3, 3}, 2))
	loss := func() *autograd.Variable { return fn.MeanSquaredError(w, target) }
	if err := Step(opt, loss()); err != nil {
		t.Fatal(err)
	}
	if n := math.Hypot(w.Grad.At(0), w.Grad.At(1)); math.Abs(n-1) > 1e-5 {
		t.Errorf("gradient norm %v after clipping to 1", n)
	}
	for range 200 {
		if err := Step(opt, loss()); err != nil {
			t.Fatal(err)
		}
	}
	if l := loss().Data.Item(); !(l < 1e-2) {
		t.Errorf("loss %v after 201 steps, want < 0.01", l)
	}
}

func TestBatches(t *testing.T) {
	for _, c := range []struct{ n, size, batches int }{{10, 3, 4}, {9, 3, 3}, {2, 5, 1}, {0, 4, 0}} {
		bs := Batches(tensor.NewRNG(1), c.n, c.size)
		if len(bs) != c.batches {
			t.Errorf("n %d, size %d: %d batches, want %d", c.n, c.size, len(bs), c.batches)
		}
		var all []int
		for k, b := range bs {
			if len(b) > c.size || (len(b) < c.size && k != len(bs)-1) {
				t.Errorf("n %d, size %d: batch %d has %d items", c.n, c.size, k, len(b))
			}
			all = append(all, b...)
		}
		slices.Sort(all)
		for i, v := range all {
			if v != i {
				t.Fatalf("n %d, size %d: items %v, want each of 0…%d once", c.n, c.size, all, c.n-1)
			}
		}
		if len(all) != c.n {
			t.Errorf("n %d, size %d: %d items", c.n, c.size, len(all))
		}
	}
	// The same generator state gives the same batches as its Perm.
	want := tensor.NewRNG(5).Perm(7)
	if got := slices.Concat(Batches(tensor.NewRNG(5), 7, 2)...); !slices.Equal(got, want) {
		t.Errorf("batches %v, want the permutation %v in order", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("batch size 0 did not panic")
		}
	}()
	Batches(tensor.NewRNG(1), 3, 0)
}

// TestEpoch checks that one pass visits every item once, in the order of
// Batches from the same generator state, and returns the mean loss per
// item weighted by batch size.
func TestEpoch(t *testing.T) {
	w := autograd.NewParameter(tensor.FromFloat32([]float32{0}, 1))
	opt, err := Adam(optim.Named(w), 1e-3, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Batches(tensor.NewRNG(9), 7, 3)
	var got [][]int
	// Each batch's loss is the mean of its item numbers plus w (a
	// constant gradient): the weighted mean over the epoch is 3 + w's
	// values, which move by at most 1e-3 a step.
	mean, err := Epoch(opt, tensor.NewRNG(9), 7, 3, func(idx []int) *autograd.Variable {
		got = append(got, idx)
		s := 0.0
		for _, i := range idx {
			s += float64(i)
		}
		c := autograd.NewVariable(tensor.FromFloat32([]float32{float32(s / float64(len(idx)))}, 1))
		return fn.Sum(fn.Add(w, c))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for k := range want {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("batch %d: %v, want %v", k, got[k], want[k])
		}
	}
	if math.Abs(mean-3) > 3e-3 {
		t.Errorf("mean loss %v, want 3 ± 0.003", mean)
	}
	if w.Data.At(0) >= 0 {
		t.Errorf("w = %v after three updates down a gradient of 1", w.Data.At(0))
	}
}
