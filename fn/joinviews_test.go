package fn_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/tensor"
)

// lstmFinalInto runs a float64 LSTM over x (T·B rows, B sequences of
// length T) from h0, c0 with its final states written into rows k of the
// (K, B, H) tensors wh and wc, and returns the outputs and final states.
func lstmFinalInto(x, h0, c0, wih, whh *V, T, k int, wh, wc *tensor.Tensor) (ys, hN, cN *V) {
	B := h0.Data.Dim(0)
	bs := make([]int, T)
	for t := range bs {
		bs[t] = B
	}
	seq := fn.Sequence{BatchSizes: bs}
	if wh != nil {
		seq.FinalH, seq.FinalC = wh.Index(k), wc.Index(k)
	}
	return fn.LSTMSequence(x, h0, c0, fn.RecurrentWeights{WIH: wih, WHH: whh}, seq)
}

// TestFinalStatesInPlace: with Sequence.FinalH and FinalC the final
// states are written into the given rows and returned as them, with the
// same values as without; a second backward pass (which recomputes the
// forward pass) gives the same gradients and leaves the rows alone.
func TestFinalStatesInPlace(t *testing.T) {
	const T, B, I, H = 3, 2, 3, 4
	f32 := func(seed uint64, shape ...int) *tensor.Tensor { return randn(seed, shape...).AsType(tensor.Float32) }
	x, h0, c0 := f32(1, T*B, I), f32(2, B, H), f32(3, B, H)
	wih, whh := f32(4, 4*H, I), f32(5, 4*H, H)
	_, wantH, wantC := lstmFinalInto(autograd.NewVariable(x), autograd.NewVariable(h0), autograd.NewVariable(c0), autograd.NewVariable(wih), autograd.NewVariable(whh), T, 0, nil, nil)

	// float32, whose workspaces go back to the pool after a backward pass,
	// so that a second one runs the forward pass again.
	wh, wc := tensor.New(tensor.Float32, 2, B, H), tensor.New(tensor.Float32, 2, B, H)
	w := autograd.NewParameter(wih.Clone())
	_, hN, cN := lstmFinalInto(autograd.NewVariable(x), autograd.NewVariable(h0), autograd.NewVariable(c0), w, autograd.NewVariable(whh), T, 1, wh, wc)
	if &hN.Data.Float32s()[0] != &wh.Index(1).Float32s()[0] || &cN.Data.Float32s()[0] != &wc.Index(1).Float32s()[0] {
		t.Fatal("the final states are not the rows of FinalH and FinalC")
	}
	if !tensor.AllClose(hN.Data, wantH.Data, 0, 0) || !tensor.AllClose(cN.Data, wantC.Data, 0, 0) {
		t.Fatal("final states written in place differ from new ones")
	}
	for _, v := range wh.Index(0).Float32s() {
		if v != 0 {
			t.Fatal("row 0 of FinalH's tensor was written")
		}
	}
	loss := fn.Add(fn.Sum(hN), fn.Sum(cN))
	loss.Backward()
	first := w.Grad.Clone()
	wh.Fill(7) // a recomputation must not write here again
	w.Grad = nil
	loss.Backward() // the workspaces were released: the forward pass runs again
	if !tensor.AllClose(w.Grad, first, 0, 0) || wh.Float32s()[0] != 7 || wh.Float32s()[wh.Size()-1] != 7 {
		t.Fatal("a second backward pass changed the gradients or the final states")
	}
}

// TestJoinViewsGradient checks the gradient of a stack joined from the
// final states of two LSTM runs written into one tensor.
func TestJoinViewsGradient(t *testing.T) {
	const T, B, I, H = 2, 2, 2, 3
	f := func(v []*V) []*V {
		wh, wc := tensor.New(tensor.Float64, 2, B, H), tensor.New(tensor.Float64, 2, B, H)
		var hs, cs []*V
		for k := range 2 {
			_, h, c := lstmFinalInto(v[0], v[1], v[2], v[3+k], v[5], T, k, wh, wc)
			hs, cs = append(hs, h), append(cs, c)
		}
		return []*V{fn.JoinViews(wh, hs), fn.JoinViews(wc, cs)}
	}
	in := []*tensor.Tensor{randn(1, T*B, I), randn(2, B, H), randn(3, B, H), randn(4, 4*H, I), randn(5, 4*H, I), randn(6, 4*H, H)}
	if err := gradcheck.Check(f, in, nil); err != nil {
		t.Fatal(err)
	}
}

func TestJoinViewsErrors(t *testing.T) {
	whole := tensor.New(tensor.Float32, 2, 3)
	other := tensor.New(tensor.Float32, 2, 3)
	row := func(t *tensor.Tensor, k int) *V { return autograd.NewVariable(t.Index(k)) }
	cases := []struct {
		name  string
		whole *tensor.Tensor
		parts []*V
		want  string
	}{
		{"too few parts", whole, []*V{row(whole, 0)}, "JoinViews of 1 parts"},
		{"no tensor", nil, nil, "JoinViews of 0 parts"},
		{"a copy", whole, []*V{row(whole, 0), autograd.NewVariable(whole.Index(1).Clone())}, "part 1"},
		{"another tensor", whole, []*V{row(other, 0), row(whole, 1)}, "part 0"},
		{"rows swapped", whole, []*V{row(whole, 1), row(whole, 0)}, "part 0"},
		{"element type", whole, []*V{row(whole, 0), autograd.NewVariable(tensor.New(tensor.Float64, 3))}, "part 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Recover(func() { fn.JoinViews(tc.whole, tc.parts) })
			if msg := fmt.Sprint(r); r == nil || !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %v; want one mentioning %q", r, tc.want)
			}
		})
	}
	ok := fn.JoinViews(whole, []*V{row(whole, 0), row(whole, 1)})
	if ok.Data != whole {
		t.Fatal("JoinViews of the rows is not the tensor itself")
	}
}

func TestFinalStatesErrors(t *testing.T) {
	x, h0, c0 := autograd.NewVariable(randn(1, 2, 3)), autograd.NewVariable(randn(2, 2, 4)), autograd.NewVariable(randn(3, 2, 4))
	w := fn.RecurrentWeights{WIH: autograd.NewVariable(randn(4, 4*4, 3)), WHH: autograd.NewVariable(randn(5, 4*4, 4))}
	g := fn.RecurrentWeights{WIH: autograd.NewVariable(randn(4, 3*4, 3)), WHH: autograd.NewVariable(randn(5, 3*4, 4))}
	cases := []struct {
		name string
		run  func()
		want string
	}{
		{"FinalH shape", func() {
			fn.LSTMSequence(x, h0, c0, w, fn.Sequence{BatchSizes: []int{2}, FinalH: tensor.New(tensor.Float64, 2, 5)})
		}, "FinalH is float64 [2 5]"},
		{"FinalC type", func() {
			fn.LSTMSequence(x, h0, c0, w, fn.Sequence{BatchSizes: []int{2}, FinalC: tensor.New(tensor.Float32, 2, 4)})
		}, "FinalC is float32 [2 4]"},
		{"FinalC of a GRU", func() {
			fn.GRUSequence(x, h0, g, fn.Sequence{BatchSizes: []int{2}, FinalC: tensor.New(tensor.Float64, 2, 4)})
		}, "no cell state for FinalC"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Recover(tc.run)
			if msg := fmt.Sprint(r); r == nil || !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %v; want one mentioning %q", r, tc.want)
			}
		})
	}
}

func TestRows(t *testing.T) {
	x := randn(1, 4, 3)
	f := func(v []*V) []*V { return []*V{fn.Mul(fn.Rows(v[0], 1, 3), fn.Rows(v[0], 2, 4))} }
	if err := gradcheck.Check(f, []*tensor.Tensor{x}, nil); err != nil {
		t.Fatal(err)
	}
	v := autograd.NewVariable(x)
	if r := fn.Rows(v, 1, 3); &r.Data.Float64s()[0] != &x.Float64s()[3] || r.Data.Dim(0) != 2 {
		t.Fatal("Rows is not a view of the rows")
	}
	if fn.Rows(v, 0, 4) != v {
		t.Fatal("Rows of every row is not x itself")
	}
	for _, r := range [][2]int{{-1, 2}, {3, 2}, {0, 5}} {
		if p := testutil.Recover(func() { fn.Rows(v, r[0], r[1]) }); p == nil || !strings.Contains(fmt.Sprint(p), "fn: Rows") {
			t.Errorf("Rows%v: panic %v", r, p)
		}
	}
}
