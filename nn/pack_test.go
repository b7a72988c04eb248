package nn

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/seq"
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

// paddedBatch returns a (T, B, F) batch whose column i holds a sequence of
// lengths[i] steps, padding included (with non-zero values, which packing
// must drop), and the sequences themselves.
func paddedBatch(rng *tensor.RNG, dt tensor.DType, T, F int, lengths []int) (*autograd.Variable, []*autograd.Variable) {
	B := len(lengths)
	padded := tensor.New(dt, T, B, F)
	padded.RandNormal(rng, 0, 1)
	xs := make([]*autograd.Variable, B)
	for i, n := range lengths {
		x := tensor.New(dt, n, F)
		for t := range n {
			x.Index(t).CopyFrom(padded.Index(t).Index(i))
		}
		xs[i] = autograd.NewVariable(x)
	}
	return autograd.NewVariable(padded), xs
}

// TestPackPaddedRoundTrip: PackPadded gives PackSequences' layout and
// packing, PadPacked gives the padded batch back with zeros in the padding,
// to the longest length or to a longer one.
func TestPackPaddedRoundTrip(t *testing.T) {
	for _, lengths := range [][]int{{2, 5, 1, 3}, {4, 4, 4}, {1}, {3, 3, 1, 2}} {
		t.Run(fmt.Sprint(lengths), func(t *testing.T) {
			T := slices.Max(lengths) + 1 // one padded step past the longest
			padded, xs := paddedBatch(tensor.NewRNG(1), tensor.Float32, T, 3, lengths)
			packed, p, err := PackPadded(padded, lengths)
			if err != nil {
				t.Fatal(err)
			}
			want, wp := PackSequences(xs)
			if !tensor.Equal(packed.Data, want.Data) || !slices.Equal(p.BatchSizes, wp.BatchSizes) || !slices.Equal(p.Order, wp.Order) {
				t.Fatalf("packed %v with batch sizes %v, order %v; PackSequences gives %v, %v", packed.Shape(), p.BatchSizes, p.Order, wp.BatchSizes, wp.Order)
			}
			for _, steps := range []int{0, T, T + 2} {
				back := PadPacked(packed, p, steps)
				n := max(steps, p.Steps())
				if !slices.Equal(back.Shape(), []int{n, len(lengths), 3}) {
					t.Fatalf("PadPacked to %d steps: shape %v", steps, back.Shape())
				}
				for i, l := range lengths {
					for s := range n {
						got := back.Data.Index(s).Index(i)
						switch {
						case s < l && !tensor.Equal(got, padded.Data.Index(s).Index(i)):
							t.Fatalf("steps %d: sequence %d step %d did not round-trip", steps, i, s)
						case s >= l && got.MaxAbs() != 0:
							t.Fatalf("steps %d: padding of sequence %d at step %d is %v", steps, i, s, got)
						}
					}
				}
			}
		})
	}
}

// TestPackPaddedErrors: lengths that do not fit the batch are errors;
// misusing PadPacked panics with the shapes.
func TestPackPaddedErrors(t *testing.T) {
	padded := autograd.NewVariable(tensor.New(tensor.Float32, 4, 3, 2))
	for _, tc := range []struct {
		name    string
		x       *autograd.Variable
		lengths []int
		want    string
	}{
		{"too few lengths", padded, []int{1, 2}, "2 lengths for a batch"},
		{"zero length", padded, []int{1, 0, 2}, "sequence 1 has length 0"},
		{"longer than padded", padded, []int{1, 5, 2}, "sequence 1 has length 5; want 1 to 4"},
		{"no batch axis", autograd.NewVariable(tensor.New(tensor.Float32, 4)), []int{4}, "want (T, B, …)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := PackPadded(tc.x, tc.lengths)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
	p := seq.MustPacking([]int{3, 1})
	for _, tc := range []struct {
		name   string
		packed *autograd.Variable
		steps  int
		want   string
	}{
		{"wrong rows", autograd.NewVariable(tensor.New(tensor.Float32, 5, 2)), 0, "of [5 2] with a packing of 4 rows"},
		{"too few steps", autograd.NewVariable(tensor.New(tensor.Float32, 4, 2)), 2, "to 2 steps of sequences up to 3 long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Fatalf("panic %v; want one containing %q", r, tc.want)
				}
			}()
			PadPacked(tc.packed, p, tc.steps)
		})
	}
}

// TestPackPaddedGradients checks the gradients through PackPadded and
// PadPacked by finite differences in float64: padded steps get none.
func TestPackPaddedGradients(t *testing.T) {
	lengths := []int{2, 4, 1}
	padded, _ := paddedBatch(tensor.NewRNG(2), tensor.Float64, 4, 2, lengths)
	f := func(v []*autograd.Variable) []*autograd.Variable {
		packed, p, err := PackPadded(v[0], lengths)
		if err != nil {
			t.Fatal(err)
		}
		y := fn.Tanh(packed)
		return []*autograd.Variable{y, PadPacked(fn.Mul(y, y), p, 5)}
	}
	if err := gradcheck.Check(f, []*tensor.Tensor{padded.Data}, nil); err != nil {
		t.Fatal(err)
	}
	padded = autograd.NewParameter(padded.Data)
	packed, _, _ := PackPadded(padded, lengths)
	fn.Sum(packed).Backward()
	if g := padded.Grad.Index(3).Index(0); g.MaxAbs() != 0 {
		t.Fatalf("padded step 3 of a sequence of length 2 got gradient %v", g)
	}
}

// TestPackPaddedThroughRecurrent: PackPadded, ForwardPacked and PadPacked
// give Forward's outputs and final states (in column order) on the
// unpadded list, for a stack and for a link.
func TestPackPaddedThroughRecurrent(t *testing.T) {
	lengths := []int{2, 5, 3, 5}
	stack, err := NewNStepLSTM(RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: true, DType: tensor.Float64}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	link, err := NewGRU(CellConfig{InputSize: 3, HiddenSize: 4, DType: tensor.Float64, LearnInitialState: true}, GRUPyTorch, tensor.NewRNG(2))
	if err != nil {
		t.Fatal(err)
	}
	randomize(link.Params(), 3)
	for name, r := range map[string]Recurrent{"NStepLSTM": stack, "GRU": link} {
		t.Run(name, func(t *testing.T) {
			padded, xs := paddedBatch(tensor.NewRNG(4), tensor.Float64, 5, 3, lengths)
			ys, want := r.Forward(xs, State{})
			packed, p, err := PackPadded(padded, lengths)
			if err != nil {
				t.Fatal(err)
			}
			y, got := r.ForwardPacked(packed, p, State{})
			out := PadPacked(y, p, 0)
			for i, n := range lengths {
				for s := range n {
					if !tensor.AllClose(out.Data.Index(s).Index(i), ys[i].Data.Index(s), 1e-12, 1e-12) {
						t.Fatalf("sequence %d step %d: output differs from Forward", i, s)
					}
				}
			}
			if !tensor.AllClose(got.H.Data, want.H.Data, 1e-12, 1e-12) || (want.C != nil && !tensor.AllClose(got.C.Data, want.C.Data, 1e-12, 1e-12)) {
				t.Fatal("final states differ from Forward's")
			}
		})
	}
}
