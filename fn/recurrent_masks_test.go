package fn_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// binaryMask returns a (rows, cols) float64 mask of 0 and 1/(1−p) values.
func binaryMask(seed uint64, p float64, rows, cols int) *tensor.Tensor {
	rng := tensor.NewRNG(seed)
	m := tensor.New(tensor.Float64, rows, cols)
	for i := range m.Size() {
		if rng.Float64() >= p {
			m.SetFlat(i, 1/(1-p))
		}
	}
	return m
}

// zoneMask returns a (rows, cols) zoneout mask of 0s and 1s (train) or the
// constant p (eval).
func zoneMask(seed uint64, p float64, rows, cols int, eval bool) *tensor.Tensor {
	m := tensor.New(tensor.Float64, rows, cols)
	if eval {
		m.Fill(p)
		return m
	}
	rng := tensor.NewRNG(seed)
	for i := range m.Size() {
		if rng.Float64() < p {
			m.SetFlat(i, 1)
		}
	}
	return m
}

func TestRecurrentMaskGradients(t *testing.T) {
	bs := []int{3, 3, 2, 1}
	const I, H, N, B = 3, 4, 9, 3
	type maskSet struct {
		name                  string
		h, cand, zoneH, zoneC bool
		evalZone              bool
	}
	sets := []maskSet{
		{name: "variational", h: true},
		{name: "semeniuta", cand: true},
		{name: "zoneoutH", zoneH: true},
		{name: "zoneoutHC", zoneH: true, zoneC: true},
		{name: "zoneoutEval", zoneH: true, zoneC: true, evalZone: true},
		{name: "all", h: true, cand: true, zoneH: true, zoneC: true},
	}
	cells := []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind, fn.RNNReLUCellKind}
	for _, cell := range cells {
		for _, ms := range sets {
			if (ms.cand && cell != fn.LSTMCellKind && cell != fn.GRUCellKind) || (ms.zoneC && cell != fn.LSTMCellKind) {
				continue
			}
			for _, rev := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%s/rev%v", cell, ms.name, rev), func(t *testing.T) {
					var m fn.RecurrentMasks
					if ms.h {
						m.H = binaryMask(1, 0.3, B, H)
					}
					if ms.cand {
						m.Candidate = binaryMask(2, 0.3, N, H)
					}
					if ms.zoneH {
						m.ZoneH = zoneMask(3, 0.3, N, H, ms.evalZone)
					}
					if ms.zoneC {
						m.ZoneC = zoneMask(4, 0.4, N, H, ms.evalZone)
					}
					inputs := recurrentCase(cell, bs, I, H, true, false, 21)
					f := recurrentFunc(cell, fn.Sequence{BatchSizes: bs, Reverse: rev, Masks: m}, true, false)
					opts := &gradcheck.Options{}
					if cell == fn.RNNReLUCellKind {
						opts.Eps = 1e-7
					}
					if err := gradcheck.Check(f, inputs, opts); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// runLSTM runs a one-sequence LSTM with the given masks and returns the
// outputs and final cell state.
func runLSTM(t *testing.T, in []*tensor.Tensor, bs []int, m fn.RecurrentMasks) (ys, c *tensor.Tensor) {
	t.Helper()
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x)
	}
	y, _, cN := fn.LSTMSequence(v[0], v[1], v[2], fn.RecurrentWeights{WIH: v[3], WHH: v[4], BIH: v[5], BHH: v[6]}, fn.Sequence{BatchSizes: bs, Masks: m})
	return y.Data, cN.Data
}

// TestSemeniutaMaskKeepsMemory: with the candidate dropped to zero at every
// step, the cell state still carries c₋₁ through the forget gate:
// c_t = f_t⊙c_{t−1}, so c never changes sign and shrinks monotonically.
func TestSemeniutaMaskKeepsMemory(t *testing.T) {
	bs := []int{1, 1, 1, 1}
	in := recurrentCase(fn.LSTMCellKind, bs, 2, 3, true, false, 5)
	in[2].Fill(1) // c0 = 1
	zero := tensor.New(tensor.Float64, 4, 3)
	_, c := runLSTM(t, in, bs, fn.RecurrentMasks{Candidate: zero})
	for j := 0; j < 3; j++ {
		if v := c.At(0, j); !(v > 0 && v < 1) {
			t.Fatalf("c[%d] = %v; with g dropped the state must be c0 times forget gates in (0, 1)", j, v)
		}
	}
	// And it equals the product of the forget gates computed separately.
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x)
	}
	h := v[1]
	cs := v[2]
	for step := 0; step < 4; step++ {
		gates := fn.Add(fn.Linear(fn.Slice(v[0], 0, step, step+1), v[3], v[5]), fn.Linear(h, v[4], v[6]))
		parts := fn.Split(gates, []int{3, 3, 3, 3}, 1)
		cs = fn.Mul(fn.Sigmoid(parts[1]), cs)
		h = fn.Mul(fn.Sigmoid(parts[3]), fn.Tanh(cs))
	}
	if !tensor.AllClose(c, cs.Data, 1e-12, 1e-12) {
		t.Fatalf("c = %v, want f⊙…⊙f⊙c0 = %v", c, cs.Data)
	}
}

// TestZoneoutAllKeep: zoneout weights of 1 keep h and c at their initial
// values at every step.
func TestZoneoutAllKeep(t *testing.T) {
	bs := []int{2, 2, 1}
	in := recurrentCase(fn.LSTMCellKind, bs, 2, 3, true, false, 6)
	one := tensor.New(tensor.Float64, 5, 3)
	one.Fill(1)
	ys, c := runLSTM(t, in, bs, fn.RecurrentMasks{ZoneH: one, ZoneC: one})
	for r := 0; r < 5; r++ {
		seqi := []int{0, 1, 0, 1, 0}[r]
		if !tensor.Equal(ys.Index(r), in[1].Index(seqi)) {
			t.Fatalf("row %d: output %v, want h0 %v", r, ys.Index(r), in[1].Index(seqi))
		}
	}
	if !tensor.Equal(c, in[2]) {
		t.Fatal("cell state moved under full zoneout")
	}
}

// TestVariationalMaskCutsRecurrence: an all-zero recurrent mask removes
// W_hh·h₋₁, which is the same as running with W_hh = 0.
func TestVariationalMaskCutsRecurrence(t *testing.T) {
	bs := []int{2, 1, 1}
	in := recurrentCase(fn.LSTMCellKind, bs, 2, 3, true, false, 7)
	a, _ := runLSTM(t, in, bs, fn.RecurrentMasks{H: tensor.New(tensor.Float64, 2, 3)})
	in[4] = tensor.New(tensor.Float64, in[4].Shape()...)
	b, _ := runLSTM(t, in, bs, fn.RecurrentMasks{})
	if !tensor.AllClose(a, b, 1e-14, 1e-14) {
		t.Fatal("zero recurrent mask differs from zero W_hh")
	}
}

// rowsCase is a batch for the tests of row independence: the inputs of a
// fused sequence function (x, h0, [c0], weights, as recurrentCase makes
// them), its masks, and the weights of a loss Σ lw⊙outputs.
type rowsCase struct {
	cell    fn.Cell
	full    []*tensor.Tensor
	masks   fn.RecurrentMasks
	lw      []*tensor.Tensor // for ys (N, H), hN and cN (B, H)
	reverse bool
	layer   bool // layer-normalised (full as normCase makes it)
}

// pickRows returns the given rows of the 2-D float64 tensor x.
func pickRows(x *tensor.Tensor, rows []int) *tensor.Tensor {
	w := x.Dim(1)
	out := tensor.New(tensor.Float64, len(rows), w)
	for i, r := range rows {
		copy(out.Float64s()[i*w:(i+1)*w], x.Float64s()[r*w:(r+1)*w])
	}
	return out
}

// states is the number of inputs before the weights: x, h0 and, for the
// LSTM, c0.
func (c rowsCase) states() int {
	if c.cell == fn.LSTMCellKind {
		return 3
	}
	return 2
}

// run computes the sequences whose packed rows are xRows and whose batch
// rows are stRows, with step batch sizes sizes, and returns the outputs
// and the gradients of the loss.
func (c rowsCase) run(xRows, stRows, sizes []int) (outs, grads []*tensor.Tensor) {
	in := make([]*V, len(c.full))
	for i, x := range c.full {
		switch {
		case i == 0:
			x = pickRows(x, xRows)
		case i < c.states():
			x = pickRows(x, stRows)
		}
		in[i] = autograd.NewParameter(x)
	}
	var sm fn.RecurrentMasks
	for _, mk := range []struct {
		dst **tensor.Tensor
		src *tensor.Tensor
		ro  []int
	}{{&sm.H, c.masks.H, stRows}, {&sm.Candidate, c.masks.Candidate, xRows}, {&sm.ZoneH, c.masks.ZoneH, xRows}, {&sm.ZoneC, c.masks.ZoneC, xRows}} {
		if mk.src != nil {
			*mk.dst = pickRows(mk.src, mk.ro)
		}
	}
	seq := fn.Sequence{BatchSizes: sizes, Reverse: c.reverse, Masks: sm}
	var ys []*V
	if c.layer {
		seq.Norm = fn.RecurrentNorm{Kind: fn.LayerNormKind}
		ys = normFunc(c.cell, seq, false)(in)
	} else {
		ys = recurrentFunc(c.cell, seq, true, false)(in)
	}
	return backwardWeighted(ys, func(k int, _ *V) *V {
		rows := stRows
		if k == 0 {
			rows = xRows
		}
		return autograd.NewVariable(pickRows(c.lw[k], rows))
	}, in)
}

// rowsPart is a part of the batch: its packed rows, batch rows and step
// batch sizes.
type rowsPart struct{ xRows, stRows, sizes []int }

// checkParts runs the whole batch and each part alone and checks that the
// outputs and the gradients of x, h0 and c0 agree row by row and that the
// weight gradients of the whole are the sums over the parts.
func (c rowsCase) checkParts(t *testing.T, whole rowsPart, parts []rowsPart) {
	t.Helper()
	gotOuts, gotGrads := c.run(whole.xRows, whole.stRows, whole.sizes)
	wSums := make([]*tensor.Tensor, len(c.full))
	for _, pt := range parts {
		outs, grads := c.run(pt.xRows, pt.stRows, pt.sizes)
		for k, o := range outs {
			rows := pt.stRows
			if k == 0 {
				rows = pt.xRows
			}
			if d := maxDiff(pickRows(gotOuts[k], rows), o); d > 1e-13 {
				t.Fatalf("output %d of batch rows %v: differs by %g from their run alone", k, pt.stRows, d)
			}
		}
		for i, g := range grads {
			if i < c.states() {
				rows := pt.stRows
				if i == 0 {
					rows = pt.xRows
				}
				if d := maxDiff(pickRows(gotGrads[i], rows), g); d > 1e-12 {
					t.Fatalf("gradient of input %d, batch rows %v: differs by %g from their run alone", i, pt.stRows, d)
				}
				continue
			}
			if wSums[i] == nil {
				wSums[i] = g.Clone()
			} else {
				wSums[i].Axpy(1, g)
			}
		}
	}
	for i := c.states(); i < len(c.full); i++ {
		if d := maxDiff(gotGrads[i], wSums[i]); d > 1e-11 {
			t.Fatalf("gradient of weight %d differs by %g from the sum over the parts", i, d)
		}
	}
}

// TestRecurrentRowSplitMatchesGroups runs a batch large enough for the
// fused kernels to run row groups concurrently, and checks the outputs and
// gradients against the same batch computed in small groups of rows
// (too small to be split, so each runs as one): rows are independent,
// so the outputs and the gradients of x, h0 and c0 must agree row by row,
// and the weight gradients must be the sums over the groups.
func TestRecurrentRowSplitMatchesGroups(t *testing.T) {
	const T, B, I, H, group = 3, 130, 5, 64, 10
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind} {
		for _, masked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/masks%v", cell, masked), func(t *testing.T) {
				c := rowsCase{cell: cell, full: recurrentCase(cell, []int{B, B, B}, I, H, true, false, 40),
					lw: []*tensor.Tensor{randn(50, T*B, H), randn(51, B, H), randn(52, B, H)}}
				if masked {
					c.masks.H = binaryMask(41, 0.3, B, H)
					c.masks.Candidate = binaryMask(42, 0.3, T*B, H)
					c.masks.ZoneH = zoneMask(43, 0.3, T*B, H, false)
					if cell == fn.LSTMCellKind {
						c.masks.ZoneC = zoneMask(44, 0.4, T*B, H, false)
					}
				}
				// part returns batch rows [g0, g1) of the T equal steps.
				part := func(g0, g1 int) rowsPart {
					var p rowsPart
					for t := 0; t < T; t++ {
						for j := g0; j < g1; j++ {
							p.xRows = append(p.xRows, t*B+j)
						}
						p.sizes = append(p.sizes, g1-g0)
					}
					for j := g0; j < g1; j++ {
						p.stRows = append(p.stRows, j)
					}
					return p
				}
				var parts []rowsPart
				for g0 := 0; g0 < B; g0 += group {
					parts = append(parts, part(g0, g0+group))
				}
				c.checkParts(t, part(0, B), parts)
			})
		}
	}
}

// maxDiff returns the largest absolute elementwise difference of two
// float64 tensors of the same size.
func maxDiff(a, b *tensor.Tensor) float64 {
	d := 0.0
	for i, v := range a.Float64s() {
		d = max(d, math.Abs(v-b.Float64s()[i]))
	}
	return d
}

// TestRecurrentRowGroupsPacked runs a packed batch of sequences of unequal
// lengths large enough for the fused kernels to run row groups
// concurrently (forward and backward), and checks it against each
// sequence run alone: outputs and the gradients of x, h0 and c0 must agree
// row by row, the weight gradients must be the sums over the sequences.
func TestRecurrentRowGroupsPacked(t *testing.T) {
	const B, I, H = 20, 3, 8
	lengths := make([]int, B) // non-increasing, 7 down to 1
	for j := range lengths {
		lengths[j] = 7 - j*6/(B-1)
	}
	var bs []int // the batch size of each step
	for s := 0; s < lengths[0]; s++ {
		n := 0
		for _, l := range lengths {
			if l > s {
				n++
			}
		}
		bs = append(bs, n)
	}
	offs := make([]int, len(bs))
	for s := 1; s < len(bs); s++ {
		offs[s] = offs[s-1] + bs[s-1]
	}
	N := offs[len(bs)-1] + bs[len(bs)-1]
	whole := rowsPart{sizes: bs}
	for i := 0; i < N; i++ {
		whole.xRows = append(whole.xRows, i)
	}
	var parts []rowsPart // each sequence alone
	for j := 0; j < B; j++ {
		whole.stRows = append(whole.stRows, j)
		p := rowsPart{stRows: []int{j}}
		for s := 0; s < lengths[j]; s++ {
			p.xRows = append(p.xRows, offs[s]+j)
			p.sizes = append(p.sizes, 1)
		}
		parts = append(parts, p)
	}
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind} {
		for _, masked := range []bool{false, true} {
			for _, reverse := range []bool{false, true} {
				for _, layer := range []bool{false, true} {
					if layer && cell == fn.RNNTanhCellKind {
						continue // normalisation is for the gated cells
					}
					t.Run(fmt.Sprintf("%v/masks%v/reverse%v/layernorm%v", cell, masked, reverse, layer), func(t *testing.T) {
						full := recurrentCase(cell, bs, I, H, true, false, 60)
						if layer {
							full = normCase(cell, bs, I, H, false, 60)
						}
						c := rowsCase{cell: cell, full: full, reverse: reverse, layer: layer,
							lw: []*tensor.Tensor{randn(70, N, H), randn(71, B, H), randn(72, B, H)}}
						if masked {
							c.masks.H = binaryMask(61, 0.3, B, H)
							if cell != fn.RNNTanhCellKind { // the Elman RNN has no candidate
								c.masks.Candidate = binaryMask(62, 0.3, N, H)
							}
							c.masks.ZoneH = zoneMask(63, 0.3, N, H, false)
							if cell == fn.LSTMCellKind {
								c.masks.ZoneC = zoneMask(64, 0.4, N, H, false)
							}
						}
						c.checkParts(t, whole, parts)
					})
				}
			}
		}
	}
}
