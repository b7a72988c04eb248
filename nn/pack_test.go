package nn

import (
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

func TestPackUnpackRoundTrip(t *testing.T) {
	rng := tensor.NewRNG(1)
	var xs []*autograd.Variable
	for _, n := range []int{2, 5, 1, 3} {
		x := tensor.New(tensor.Float32, n, 3)
		x.RandNormal(rng, 0, 1)
		xs = append(xs, autograd.NewVariable(x))
	}
	packed, p := PackSequences(xs)
	if !slices.Equal(packed.Shape(), []int{11, 3}) || !slices.Equal(p.BatchSizes, []int{4, 3, 2, 1, 1}) {
		t.Fatalf("packed %v, batch sizes %v", packed.Shape(), p.BatchSizes)
	}
	if !tensor.Equal(packed.Data.Index(p.Row(3, 2)), xs[3].Data.Index(2)) {
		t.Fatal("packed row holds the wrong step")
	}
	back := UnpackSequences(packed, p)
	for i := range xs {
		if !tensor.Equal(back[i].Data, xs[i].Data) {
			t.Fatalf("sequence %d did not round-trip", i)
		}
	}
	padded, mask := PadSequences(xs)
	if !slices.Equal(padded.Shape(), []int{5, 4, 3}) || len(mask) != 5 || mask[2][0] || !mask[1][0] {
		t.Fatalf("padded %v mask %v", padded.Shape(), mask)
	}
	if padded.Data.Index(4).Index(0).MaxAbs() != 0 || !tensor.Equal(padded.Data.Index(1).Index(3), xs[3].Data.Index(1)) {
		t.Fatal("padding wrong")
	}
}

// TestPaddingWithMaskEqualsNStep is the deck's demonstration: stepping a
// zero-padded batch with fn.Where masking gives the same final states,
// outputs and gradients as NStepLSTM on the unpadded list.
func TestPaddingWithMaskEqualsNStep(t *testing.T) {
	const I, H = 3, 4
	lengths := []int{2, 5, 1, 4}
	link, _ := NewLSTM(CellConfig{InputSize: I, HiddenSize: H, DType: tensor.Float64}, tensor.NewRNG(1))
	ns, _ := NewNStepLSTM(RecurrentConfig{InputSize: I, HiddenSize: H, DType: tensor.Float64}, tensor.NewRNG(2))
	ns.weights[0][0] = link.W
	rng := tensor.NewRNG(3)
	var xs []*autograd.Variable
	for _, n := range lengths {
		x := tensor.New(tensor.Float64, n, I)
		x.RandNormal(rng, 0, 1)
		xs = append(xs, autograd.NewParameter(x))
	}

	// NStep.
	ys, sthN := ns.Forward(xs, State{})
	hN, cN := sthN.H, sthN.C
	loss := fn.Add(fn.Sum(fn.Mul(hN, hN)), fn.Sum(cN))
	for _, y := range ys {
		loss = fn.Add(loss, fn.Sum(fn.Tanh(y)))
	}
	loss.Backward()
	var want []*tensor.Tensor
	for _, v := range append(append([]*autograd.Variable{}, xs...), link.Params()...) {
		want = append(want, v.Grad.Clone())
		v.ClearGrad()
	}

	// Padding and masking by hand.
	padded, mask := PadSequences(xs)
	B := len(lengths)
	st := link.Initial(B)
	h, c := st.H, st.C
	var outs []*autograd.Variable
	for step := range mask {
		x := fn.Reshape(fn.Slice(padded, 0, step, step+1), B, I)
		_, next := link.Step(x, State{H: h, C: c})
		h = fn.Where(mask[step], next.H, h)
		c = fn.Where(mask[step], next.C, c)
		outs = append(outs, next.H)
	}
	if !tensor.AllClose(h.Data, hN.Data.Reshape(B, H), 1e-12, 1e-12) || !tensor.AllClose(c.Data, cN.Data.Reshape(B, H), 1e-12, 1e-12) {
		t.Fatal("final states differ")
	}
	loss2 := fn.Add(fn.Sum(fn.Mul(h, h)), fn.Sum(c))
	for i, n := range lengths {
		for step := 0; step < n; step++ {
			y := fn.Slice(outs[step], 0, i, i+1)
			if !tensor.AllClose(y.Data.Reshape(H), ys[i].Data.Index(step), 1e-12, 1e-12) {
				t.Fatalf("output of sequence %d step %d differs", i, step)
			}
			loss2 = fn.Add(loss2, fn.Sum(fn.Tanh(y)))
		}
	}
	loss2.Backward()
	for k, v := range append(append([]*autograd.Variable{}, xs...), link.Params()...) {
		if !tensor.AllClose(v.Grad, want[k], 1e-10, 1e-12) {
			t.Fatalf("gradient %d (%s) differs", k, v.Name)
		}
	}
}
