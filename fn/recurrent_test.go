package fn_test

import (
	"fmt"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// recurrentCase builds the inputs of a fused sequence function: x, h0,
// [c0], WIH, WHH, [BIH, BHH], [peephole], all float64.
func recurrentCase(cell fn.Cell, batchSizes []int, in, hidden int, bias, peep bool, seed uint64) []*tensor.Tensor {
	n, b := 0, batchSizes[0]
	for _, s := range batchSizes {
		n += s
	}
	g := cell.Gates()
	scaled := func(s uint64, scale float64, shape ...int) *tensor.Tensor {
		t := randn(s, shape...)
		t.Scale(scale)
		return t
	}
	ts := []*tensor.Tensor{randn(seed, n, in), scaled(seed+1, 0.5, b, hidden)}
	if cell == fn.LSTMCellKind {
		ts = append(ts, scaled(seed+2, 0.5, b, hidden))
	}
	ts = append(ts, scaled(seed+3, 0.5, g*hidden, in), scaled(seed+4, 0.5, g*hidden, hidden))
	if bias {
		ts = append(ts, scaled(seed+5, 0.3, g*hidden), scaled(seed+6, 0.3, g*hidden))
	}
	if peep {
		ts = append(ts, scaled(seed+7, 0.5, 3, hidden))
	}
	return ts
}

func recurrentFunc(cell fn.Cell, seq fn.Sequence, bias, peep bool) gradcheck.Func {
	return func(v []*V) []*V { return runSequence(cell, seq, v, bias, peep, false) }
}

// runSequence runs the cell's sequence function on the variables v: x,
// h0, c0 for the LSTM, W_ih, W_hh, then b_ih and b_hh with bias, the
// peepholes with peep and, with norm, the gains NormIH, NormHH and for the
// LSTM NormC and NormCBias. It returns the outputs, h and, for the LSTM, c.
func runSequence(cell fn.Cell, seq fn.Sequence, v []*V, bias, peep, norm bool) []*V {
	k := 2
	var c0 *V
	if cell == fn.LSTMCellKind {
		c0 = v[2]
		k = 3
	}
	w := fn.RecurrentWeights{WIH: v[k], WHH: v[k+1]}
	k += 2
	if bias {
		w.BIH, w.BHH = v[k], v[k+1]
		k += 2
	}
	if peep {
		w.Peephole = v[k]
		k++
	}
	if norm {
		w.NormIH, w.NormHH = v[k], v[k+1]
		if cell == fn.LSTMCellKind {
			w.NormC, w.NormCBias = v[k+2], v[k+3]
		}
	}
	switch cell {
	case fn.LSTMCellKind:
		ys, h, c := fn.LSTMSequence(v[0], v[1], c0, w, seq)
		return []*V{ys, h, c}
	case fn.GRUCellKind:
		ys, h := fn.GRUSequence(v[0], v[1], w, seq)
		return []*V{ys, h}
	default:
		ys, h := fn.RNNSequence(v[0], v[1], w, cell == fn.RNNReLUCellKind, seq)
		return []*V{ys, h}
	}
}

func TestRecurrentSequenceGradients(t *testing.T) {
	cells := []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind, fn.RNNReLUCellKind}
	shapes := []struct {
		batchSizes     []int
		in, hidden     int
		bias, peephole bool
	}{
		{[]int{1}, 2, 3, true, false},
		{[]int{3, 3, 2, 1}, 4, 5, true, false},
		{[]int{2, 2, 2}, 3, 2, false, false},
		{[]int{1, 1, 1, 1, 1}, 2, 3, true, false},
		{[]int{3, 2, 2, 1}, 3, 3, true, true}, // peephole (LSTM only)
	}
	for _, cell := range cells {
		for _, sh := range shapes {
			if sh.peephole && cell != fn.LSTMCellKind {
				continue
			}
			for _, rev := range []bool{false, true} {
				name := fmt.Sprintf("%v/bs%v/I%d/H%d/bias%v/peep%v/rev%v", cell, sh.batchSizes, sh.in, sh.hidden, sh.bias, sh.peephole, rev)
				t.Run(name, func(t *testing.T) {
					inputs := recurrentCase(cell, sh.batchSizes, sh.in, sh.hidden, sh.bias, sh.peephole, 11)
					f := recurrentFunc(cell, fn.Sequence{BatchSizes: sh.batchSizes, Reverse: rev}, sh.bias, sh.peephole)
					if err := gradcheck.Check(f, inputs, nil); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// TestRecurrentSequenceMatchesSteps checks the fused LSTM kernel against a
// step-by-step composition of elementary functions, on a packed batch with
// a shrinking batch size, in both directions.
func TestRecurrentSequenceMatchesSteps(t *testing.T) {
	bs := []int{3, 2, 2, 1}
	const I, H = 3, 4
	for _, rev := range []bool{false, true} {
		in := recurrentCase(fn.LSTMCellKind, bs, I, H, true, false, 5)
		v := make([]*V, len(in))
		for i, x := range in {
			v[i] = autograd.NewVariable(x)
		}
		ys, hN, cN := fn.LSTMSequence(v[0], v[1], v[2], fn.RecurrentWeights{WIH: v[3], WHH: v[4], BIH: v[5], BHH: v[6]}, fn.Sequence{BatchSizes: bs, Reverse: rev})

		// Reference: unpack and run each sequence alone.
		offs := []int{0, 3, 5, 7}
		for seqi := 0; seqi < 3; seqi++ {
			length := 0
			for _, b := range bs {
				if b > seqi {
					length++
				}
			}
			h := fn.Slice(v[1], 0, seqi, seqi+1)
			c := fn.Slice(v[2], 0, seqi, seqi+1)
			for k := 0; k < length; k++ {
				tt := k
				if rev {
					tt = length - 1 - k
				}
				x := fn.Slice(v[0], 0, offs[tt]+seqi, offs[tt]+seqi+1)
				gates := fn.Add(fn.Linear(x, v[3], v[5]), fn.Linear(h, v[4], v[6]))
				parts := fn.Split(gates, []int{H, H, H, H}, 1)
				i, f, g, o := fn.Sigmoid(parts[0]), fn.Sigmoid(parts[1]), fn.Tanh(parts[2]), fn.Sigmoid(parts[3])
				c = fn.Add(fn.Mul(f, c), fn.Mul(i, g))
				h = fn.Mul(o, fn.Tanh(c))
				want := h.Data
				got := ys.Data.Index(offs[tt] + seqi)
				if !tensor.AllClose(got, want.Reshape(H), 1e-12, 1e-12) {
					t.Fatalf("rev %v seq %d step %d: fused %v, steps %v", rev, seqi, tt, got, want)
				}
			}
			if !tensor.AllClose(hN.Data.Index(seqi), h.Data.Reshape(H), 1e-12, 1e-12) || !tensor.AllClose(cN.Data.Index(seqi), c.Data.Reshape(H), 1e-12, 1e-12) {
				t.Fatalf("rev %v seq %d: final state differs", rev, seqi)
			}
		}
	}
}

func TestRecurrentSequenceFloat32(t *testing.T) {
	bs := []int{2, 2, 1}
	in := recurrentCase(fn.GRUCellKind, bs, 3, 4, true, false, 3)
	run := func(dt tensor.DType) []*tensor.Tensor {
		v := make([]*V, len(in))
		for i, x := range in {
			v[i] = autograd.NewParameter(x.AsType(dt))
		}
		ys, h := fn.GRUSequence(v[0], v[1], fn.RecurrentWeights{WIH: v[2], WHH: v[3], BIH: v[4], BHH: v[5]}, fn.Sequence{BatchSizes: bs})
		fn.Add(fn.Sum(ys), fn.Sum(h)).Backward()
		return []*tensor.Tensor{ys.Data, h.Data, v[0].Grad, v[3].Grad}
	}
	a, b := run(tensor.Float32), run(tensor.Float64)
	for i := range a {
		if !tensor.AllClose(a[i], b[i], 1e-4, 1e-5) {
			t.Fatalf("output %d: float32 %v, float64 %v", i, a[i], b[i])
		}
	}
}

func TestRecurrentSequenceBadShapes(t *testing.T) {
	in := recurrentCase(fn.LSTMCellKind, []int{2, 1}, 3, 4, true, false, 1)
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x)
	}
	w := fn.RecurrentWeights{WIH: v[3], WHH: v[4], BIH: v[5], BHH: v[6]}
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"increasing", func() { fn.LSTMSequence(v[0], v[1], v[2], w, fn.Sequence{BatchSizes: []int{1, 2}}) }, "non-increasing"},
		{"rows", func() { fn.LSTMSequence(v[0], v[1], v[2], w, fn.Sequence{BatchSizes: []int{2, 2}}) }, "x has 3 rows"},
		{"state", func() { fn.LSTMSequence(v[0], v[2], v[2], w, fn.Sequence{BatchSizes: []int{1, 1, 1}}) }, "(1, 4)"},
		{"weights", func() { fn.GRUSequence(v[0], v[1], w, fn.Sequence{BatchSizes: []int{2, 1}}) }, "WHH must be (3·H, H)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); r == nil || !containsStr(s, tc.want) {
					t.Fatalf("panic %v, want one mentioning %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestCellGradients(t *testing.T) {
	tests := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
	}{
		{"LSTMCell", func(v []*V) []*V { c, h := fn.LSTMCell(v[0], v[1]); return []*V{c, h} }, []*tensor.Tensor{randn(1, 3, 5), randn(2, 3, 20)}},
		{"LSTMCellOnlyH", func(v []*V) []*V { _, h := fn.LSTMCell(v[0], v[1]); return []*V{h} }, []*tensor.Tensor{randn(1, 2, 3), randn(2, 2, 12)}},
		{"GRUChoCell", func(v []*V) []*V { return []*V{fn.GRUChoCell(v[0], v[1], v[2], v[3])} }, []*tensor.Tensor{randn(1, 3, 15), randn(2, 3, 5), randn(3, 15, 5), randn(4, 15)}},
		{"GRUChoCellNoBias", func(v []*V) []*V { return []*V{fn.GRUChoCell(v[0], v[1], v[2], nil)} }, []*tensor.Tensor{randn(1, 2, 9), randn(2, 2, 3), randn(3, 9, 3)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := gradcheck.Check(tc.f, tc.inputs, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLSTMCellMatchesSequence checks the cell function against a one-step
// fused sequence.
func TestLSTMCellMatchesSequence(t *testing.T) {
	in := recurrentCase(fn.LSTMCellKind, []int{3}, 4, 5, true, false, 2)
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x)
	}
	ys, _, cN := fn.LSTMSequence(v[0], v[1], v[2], fn.RecurrentWeights{WIH: v[3], WHH: v[4], BIH: v[5], BHH: v[6]}, fn.Sequence{BatchSizes: []int{3}})
	gates := fn.Add(fn.Linear(v[0], v[3], v[5]), fn.Linear(v[1], v[4], v[6]))
	c, h := fn.LSTMCell(v[2], gates)
	if !tensor.AllClose(h.Data, ys.Data, 1e-13, 1e-13) || !tensor.AllClose(c.Data, cN.Data, 1e-13, 1e-13) {
		t.Fatal("LSTMCell differs from the fused sequence")
	}
}

// TestGRUChoDiffersFromPyTorchForm: with r ≠ 1 the two GRU forms differ, and
// with W_hn's product independent of r (zero W_hn, zero b_hn) they agree.
func TestGRUChoVersusPyTorchForm(t *testing.T) {
	in := recurrentCase(fn.GRUCellKind, []int{2}, 3, 4, true, false, 8)
	run := func(zeroN bool) (cho, torch *tensor.Tensor) {
		v := make([]*V, len(in))
		for i, x := range in {
			x = x.Clone()
			if zeroN && (i == 3) {
				x.Slice(8, 12).Zero()
			}
			if zeroN && i == 5 {
				for j := 8; j < 12; j++ {
					x.SetFlat(j, 0)
				}
			}
			v[i] = autograd.NewVariable(x)
		}
		_, h := fn.GRUSequence(v[0], v[1], fn.RecurrentWeights{WIH: v[2], WHH: v[3], BIH: v[4], BHH: v[5]}, fn.Sequence{BatchSizes: []int{2}})
		return fn.GRUChoCell(fn.Linear(v[0], v[2], v[4]), v[1], v[3], v[5]).Data, h.Data
	}
	if a, b := run(false); tensor.AllClose(a, b, 1e-6, 1e-6) {
		t.Fatal("Cho and PyTorch GRU forms agree with a non-zero W_hn")
	}
	if a, b := run(true); !tensor.AllClose(a, b, 1e-13, 1e-13) {
		t.Fatalf("Cho and PyTorch GRU forms differ with W_hn = 0: %v vs %v", a, b)
	}
}
