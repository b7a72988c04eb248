package fn_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// roundBF16 returns a float64 copy of t with every element rounded to
// bfloat16, as the bfloat16 products use it.
func roundBF16(t *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(tensor.Float64, t.Shape()...)
	for i := range t.Size() {
		out.SetFlat(i, float64(kernel.RoundBF16(float32(t.AtFlat(i)))))
	}
	return out
}

// TestLSTMSequenceBF16 checks the bfloat16 inference path of the fused LSTM
// against a float64 step-by-step LSTM whose products use the same
// bfloat16 roundings of x, W_ih, W_hh and of h₋₁ at every step: they must
// agree to float32 accumulation error. Without bfloat16 hardware the path
// must equal float32.
func TestLSTMSequenceBF16(t *testing.T) {
	const T, B, I, H = 6, 5, 24, 32
	bs := []int{B, B, B, B, B, B}
	in := recurrentCase(fn.LSTMCellKind, bs, I, H, true, false, 60) // x, h0, c0, Wih, Whh, bih, bhh
	v32 := make([]*V, len(in))
	for i, x := range in {
		v32[i] = autograd.NewVariable(x.AsType(tensor.Float32))
	}
	w := fn.RecurrentWeights{WIH: v32[3], WHH: v32[4], BIH: v32[5], BHH: v32[6]}
	ys, hN, _ := fn.LSTMSequence(v32[0], v32[1], v32[2], w, fn.Sequence{BatchSizes: bs, Precision: fn.BFloat16})
	plain, _, _ := fn.LSTMSequence(v32[0], v32[1], v32[2], w, fn.Sequence{BatchSizes: bs})
	if !fn.PrecisionAvailable(fn.BFloat16) {
		if !tensor.Equal(ys.Data, plain.Data) {
			t.Fatal("without bfloat16 hardware the BF16 sequence differs from float32")
		}
		t.Skip("no AVX512_BF16 on this CPU: checked the float32 fallback only")
	}
	// Reference: float64, products of bf16-rounded operands.
	x64 := make([]*tensor.Tensor, len(in))
	for i, x := range in {
		x64[i] = x.AsType(tensor.Float32).AsType(tensor.Float64)
	}
	wih, whh := autograd.NewVariable(roundBF16(x64[3])), autograd.NewVariable(roundBF16(x64[4]))
	bih, bhh := autograd.NewVariable(x64[5]), autograd.NewVariable(x64[6])
	h, c := x64[1], autograd.NewVariable(x64[2])
	var maxDiff, maxOut float64
	for step := 0; step < T; step++ {
		xt := autograd.NewVariable(roundBF16(x64[0].Slice(step*B, (step+1)*B)))
		pre := fn.Add(fn.Linear(xt, wih, bih), fn.Linear(autograd.NewVariable(roundBF16(h)), whh, bhh))
		var hv *V
		c, hv = fn.LSTMCell(c, pre)
		h = hv.Data
		got := ys.Data.Slice(step*B, (step+1)*B)
		for i := range h.Size() {
			maxDiff = max(maxDiff, math.Abs(got.AtFlat(i)-h.AtFlat(i)))
			maxOut = max(maxOut, math.Abs(h.AtFlat(i)))
		}
	}
	if maxDiff > 2e-5 {
		t.Fatalf("bfloat16 LSTM differs by %g from the float64 reference on rounded operands", maxDiff)
	}
	for i := range h.Size() {
		if d := math.Abs(hN.Data.AtFlat(i) - h.AtFlat(i)); d > 2e-5 {
			t.Fatalf("final state differs by %g from the reference", d)
		}
	}
	// And it really is a different, rounded computation from float32.
	d := 0.0
	for i := range ys.Data.Size() {
		d = max(d, math.Abs(ys.Data.AtFlat(i)-plain.Data.AtFlat(i)))
	}
	if d == 0 || d > 0.05 {
		t.Fatalf("bfloat16 and float32 outputs differ by %g; want a small non-zero difference", d)
	}
	t.Logf("max |bf16 − reference| %.2g, max |bf16 − float32| %.2g (outputs up to %.2g)", maxDiff, d, maxOut)
}

// TestLinearBF16 compares LinearAt at BFloat16 with a float64 product of the
// bfloat16-rounded operands, and checks the inference-only guards.
func TestLinearBF16(t *testing.T) {
	x, w, b := randn(70, 37, 50), randn(71, 90, 50), randn(72, 90)
	y := fn.LinearAt(autograd.NewVariable(x.AsType(tensor.Float32)), autograd.NewVariable(w.AsType(tensor.Float32)), autograd.NewVariable(b.AsType(tensor.Float32)), fn.BFloat16, nil)
	want := fn.Linear(autograd.NewVariable(roundBF16(x)), autograd.NewVariable(roundBF16(w)), autograd.NewVariable(b.AsType(tensor.Float32).AsType(tensor.Float64)))
	exact := fn.Linear(autograd.NewVariable(x), autograd.NewVariable(w), autograd.NewVariable(b))
	tol := 2e-5
	if !fn.PrecisionAvailable(fn.BFloat16) {
		want, tol = exact, 1e-4
	}
	for i := range want.Data.Size() {
		if d := math.Abs(y.Data.AtFlat(i) - want.Data.AtFlat(i)); d > tol*(1+math.Abs(want.Data.AtFlat(i))) {
			t.Fatalf("element %d: %v, want %v", i, y.Data.AtFlat(i), want.Data.AtFlat(i))
		}
	}
	for _, f := range []func(){
		func() {
			fn.LinearAt(autograd.NewParameter(x.AsType(tensor.Float32)), autograd.NewVariable(w.AsType(tensor.Float32)), nil, fn.BFloat16, nil)
		},
		func() {
			in := recurrentCase(fn.GRUCellKind, []int{2}, 3, 4, false, false, 1)
			p := autograd.NewParameter(in[2].AsType(tensor.Float32))
			fn.GRUSequence(autograd.NewVariable(in[0].AsType(tensor.Float32)), autograd.NewVariable(in[1].AsType(tensor.Float32)), fn.RecurrentWeights{WIH: p, WHH: autograd.NewVariable(in[3].AsType(tensor.Float32))}, fn.Sequence{BatchSizes: []int{2}, Precision: fn.BFloat16})
		},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "inference") {
					t.Errorf("panic %v; want one saying bfloat16 is for inference", r)
				}
			}()
			f()
		}()
	}
}

// TestPackedBF16Weights checks that weights packed once by PackWeight
// give the same bits as packing on every call, in LinearAt with a packing and in
// a sequence, and that a packing of the wrong shape is not used.
func TestPackedBF16Weights(t *testing.T) {
	if !fn.PrecisionAvailable(fn.BFloat16) {
		if fn.PackWeight(randn(1, 3, 4).AsType(tensor.Float32), fn.BFloat16) != nil {
			t.Fatal("PackWeight without bfloat16 hardware returned a packing")
		}
		t.Skip("no AVX512_BF16")
	}
	x := autograd.NewVariable(randn(80, 9, 40).AsType(tensor.Float32))
	w := autograd.NewVariable(randn(81, 70, 40).AsType(tensor.Float32))
	b := autograd.NewVariable(randn(82, 70).AsType(tensor.Float32))
	want := fn.LinearAt(x, w, b, fn.BFloat16, nil)
	if got := fn.LinearAt(x, w, b, fn.BFloat16, fn.PackWeight(w.Data, fn.BFloat16)); !tensor.Equal(got.Data, want.Data) {
		t.Fatal("LinearAt with a packing differs from LinearAt without one")
	}
	other := fn.PackWeight(randn(83, 40, 70).AsType(tensor.Float32), fn.BFloat16) // 40×70: wrong shape
	if got := fn.LinearAt(x, w, b, fn.BFloat16, other); !tensor.Equal(got.Data, want.Data) {
		t.Fatal("a packing of the wrong shape was used")
	}

	bs := []int{4, 4, 3}
	in := recurrentCase(fn.LSTMCellKind, bs, 12, 16, true, false, 84)
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x.AsType(tensor.Float32))
	}
	wts := fn.RecurrentWeights{WIH: v[3], WHH: v[4], BIH: v[5], BHH: v[6]}
	ys, _, _ := fn.LSTMSequence(v[0], v[1], v[2], wts, fn.Sequence{BatchSizes: bs, Precision: fn.BFloat16})
	wts.PackedIH, wts.PackedHH = fn.PackWeight(v[3].Data, fn.BFloat16), fn.PackWeight(v[4].Data, fn.BFloat16)
	ys2, _, _ := fn.LSTMSequence(v[0], v[1], v[2], wts, fn.Sequence{BatchSizes: bs, Precision: fn.BFloat16})
	if !tensor.Equal(ys.Data, ys2.Data) {
		t.Fatal("a sequence with pre-packed weights differs from one packing them itself")
	}
}

// TestLinearPackedFloat32: a float32 packing of W gives Linear's bits,
// for any number of rows, with and without a bias, through LinearIntoAt
// and LinearAt; a packing of another shape is ignored.
func TestLinearPackedFloat32(t *testing.T) {
	rng := tensor.NewRNG(12)
	for _, shape := range [][2]int{{7, 5}, {40, 300}, {1000, 200}, {33, 17}} {
		out, in := shape[0], shape[1]
		w := tensor.New(tensor.Float32, out, in)
		w.RandNormal(rng, 0, 1)
		b := tensor.New(tensor.Float32, out)
		b.RandNormal(rng, 0, 1)
		pw := fn.PackWeight(w, fn.Float32)
		if pw == nil {
			t.Fatal("no float32 packing")
		}
		for _, rows := range []int{1, 2, 3, 13, 64} {
			x := tensor.New(tensor.Float32, rows, in)
			x.RandNormal(rng, 0, 1)
			for _, bias := range []*tensor.Tensor{nil, b} {
				want := fn.LinearInto(nil, x, w, bias)
				if got := fn.LinearIntoAt(nil, x, w, bias, fn.Float32, pw); !slices.Equal(got.Float32s(), want.Float32s()) {
					t.Errorf("%v, %d rows, bias %v: LinearIntoAt with a packing differs from LinearInto", shape, rows, bias != nil)
				}
				var bv *autograd.Variable
				if bias != nil {
					bv = autograd.NewVariable(bias)
				}
				if got := fn.LinearAt(autograd.NewVariable(x), autograd.NewVariable(w), bv, fn.Float32, pw); !slices.Equal(got.Data.Float32s(), want.Float32s()) {
					t.Errorf("%v, %d rows, bias %v: LinearAt with a packing differs", shape, rows, bias != nil)
				}
			}
		}
		other := fn.PackWeight(tensor.New(tensor.Float32, in+1, out), fn.Float32)
		x := tensor.New(tensor.Float32, 3, in)
		x.RandNormal(rng, 0, 1)
		if got, want := fn.LinearIntoAt(nil, x, w, b, fn.Float32, other), fn.LinearInto(nil, x, w, b); !slices.Equal(got.Float32s(), want.Float32s()) {
			t.Errorf("%v: a packing of another shape was used", shape)
		}
	}
}
