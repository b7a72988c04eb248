package fn

import (
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/internal/rnn"
	"github.com/kioku-ml/kioku/tensor"
)

// This file is the autograd side of the fused recurrent op: the public
// entry points, the validation of their arguments and the Function that
// delegates forward and backward to a backend of package internal/rnn,
// where the kernels, the descriptor and the cell equations live (see
// docs/recurrent.md).

// LSTMSequence runs an LSTM over a packed batch as one fused function, the
// recipe of Appleyard et al. (2016, "Optimizing performance of recurrent
// neural networks on GPUs"): one GEMM projects the inputs of all steps,
// each step adds one recurrent GEMM over the fused gate weights and one
// elementwise pass computes the cell; the backward pass forms the weight
// gradients of the whole sequence as single GEMMs.
//
// x is the packed input (N, I); h0 and c0 are the initial states (B, H)
// with B = seq.BatchSizes[0]. It returns the packed outputs ys (N, H) and
// the final states hN, cN (B, H), each row taken at that sequence's own
// last step (its first, with Reverse).
func LSTMSequence(x, h0, c0 *Variable, w RecurrentWeights, seq Sequence) (ys, hN, cN *Variable) {
	out := recurrentApply(LSTMCellKind, x, h0, c0, w, seq)
	return out[0], out[1], out[2]
}

// GRUSequence runs a GRU (GRUCellKind) over a packed batch as one fused
// function; see LSTMSequence for the layout.
func GRUSequence(x, h0 *Variable, w RecurrentWeights, seq Sequence) (ys, hN *Variable) {
	out := recurrentApply(GRUCellKind, x, h0, nil, w, seq)
	return out[0], out[1]
}

// RNNSequence runs an Elman RNN (tanh, or ReLU when relu is set) over a
// packed batch as one fused function; see LSTMSequence for the layout.
func RNNSequence(x, h0 *Variable, w RecurrentWeights, relu bool, seq Sequence) (ys, hN *Variable) {
	cell := RNNTanhCellKind
	if relu {
		cell = RNNReLUCellKind
	}
	out := recurrentApply(cell, x, h0, nil, w, seq)
	return out[0], out[1]
}

// RecurrentSequence runs the fused kernel of any cell over a packed batch:
// LSTMSequence, GRUSequence or RNNSequence by cell, for callers that hold
// the cell kind as a value. c0 is the LSTM's initial cell state (nil for
// the other cells), and cN is nil but for the LSTM.
func RecurrentSequence(cell Cell, x, h0, c0 *Variable, w RecurrentWeights, seq Sequence) (ys, hN, cN *Variable) {
	out := recurrentApply(cell, x, h0, c0, w, seq)
	if len(out) > 2 {
		cN = out[2]
	}
	return out[0], out[1], cN
}

// RecurrentLayer runs the directions of one recurrent layer of the given
// cell over the packed input x: direction d with initial states h0[d] (and,
// for the LSTM, c0[d]; c0 is nil otherwise), weights w[d] and sequence
// seqs[d], whose Reverse must be d == 1. There are one or two directions.
// They are independent, so they run at the same time on the shared worker
// pool; each is deterministic whatever the threads, so the results are
// those of running them one after the other. It returns per direction the
// packed outputs and the final states (cN nil but for the LSTM). A panic
// in either direction surfaces in the caller's goroutine.
func RecurrentLayer(cell Cell, x *Variable, h0, c0 []*Variable, w []RecurrentWeights, seqs []Sequence) (ys, hN, cN []*Variable) {
	D := len(seqs)
	if D < 1 || D > 2 || len(h0) != D || len(w) != D || (cell == LSTMCellKind) != (len(c0) == D) || (cell != LSTMCellKind && c0 != nil) {
		panic(fmt.Sprintf("fn: %v RecurrentLayer with %d sequences, %d h0, %d c0 and %d weights; want 1 or 2 of each (c0 for the LSTM only)", cell, len(seqs), len(h0), len(c0), len(w)))
	}
	for d, s := range seqs {
		if s.Reverse != (d == 1) {
			panic(fmt.Sprintf("fn: %v RecurrentLayer direction %d has Reverse %v", cell, d, s.Reverse))
		}
	}
	all := make([]*Variable, 3*D) // ys, hN, cN
	if D == 1 {
		layerDirection(cell, x, h0, c0, w, seqs, 0, all)
	} else {
		kernel.ParallelFor(D, 1, func(lo, hi int) {
			for d := lo; d < hi; d++ {
				layerDirection(cell, x, h0, c0, w, seqs, d, all)
			}
		})
	}
	ys, hN = all[:D:D], all[D:2*D:2*D]
	if cell == LSTMCellKind {
		cN = all[2*D:]
	}
	return ys, hN, cN
}

// layerDirection runs direction d of RecurrentLayer, writing its results
// into entries d, D+d and 2D+d of all (D = len(seqs)).
func layerDirection(cell Cell, x *Variable, h0, c0 []*Variable, w []RecurrentWeights, seqs []Sequence, d int, all []*Variable) {
	D := len(seqs)
	var c *Variable
	if c0 != nil {
		c = c0[d]
	}
	all[d], all[D+d], all[2*D+d] = RecurrentSequence(cell, x, h0[d], c, w[d], seqs[d])
}

// recurrentApply validates the arguments and applies the fused function.
// Inputs are ordered x, h0, [c0], WIH, WHH, [BIH, BHH], [Peephole],
// [NormIH, NormHH, [NormC, NormCBias]].
func recurrentApply(cell Cell, x, h0, c0 *Variable, w RecurrentWeights, seq Sequence) []*Variable {
	if x == nil || h0 == nil || w.WIH == nil || w.WHH == nil || (cell == LSTMCellKind) != (c0 != nil) {
		panic(fmt.Sprintf("fn: %v sequence needs x, h0, WIH, WHH%s", cell, map[bool]string{true: ", c0", false: " and no c0"}[cell == LSTMCellKind]))
	}
	if (w.BIH == nil) != (w.BHH == nil) {
		panic(fmt.Sprintf("fn: %v sequence needs both biases or neither", cell))
	}
	if w.Peephole != nil && cell != LSTMCellKind {
		panic(fmt.Sprintf("fn: peephole weights given to a %v", cell))
	}
	if seq.Masks.Candidate != nil && cell != LSTMCellKind && cell != GRUCellKind {
		panic(fmt.Sprintf("fn: a candidate (Semeniuta) dropout mask given to a %v, which has no candidate", cell))
	}
	if seq.Masks.ZoneC != nil && cell != LSTMCellKind {
		panic(fmt.Sprintf("fn: a cell-state zoneout mask given to a %v", cell))
	}
	if seq.Precision > Float64 || seq.Algorithm > AlgoRowGroups {
		panic(fmt.Sprintf("fn: %v sequence with unknown %v or %v", cell, seq.Precision, seq.Algorithm))
	}
	if seq.Precision == Float64 && x.Data.DType() != tensor.Float64 {
		panic(fmt.Sprintf("fn: %v sequence at precision float64 with %v input %v", cell, x.Data.DType(), x.Shape()))
	}
	checkFinal := func(name string, dst *tensor.Tensor, s0 *Variable) {
		switch {
		case dst == nil:
		case s0 == nil:
			panic(fmt.Sprintf("fn: a %v sequence has no cell state for %s", cell, name))
		case dst.DType() != s0.Data.DType() || !slices.Equal(dst.Shape(), s0.Shape()):
			panic(fmt.Sprintf("fn: %v sequence: %s is %v %v; want %v %v like the initial state", cell, name, dst.DType(), dst.Shape(), s0.Data.DType(), s0.Shape()))
		}
	}
	checkFinal("FinalH", seq.FinalH, h0)
	checkFinal("FinalC", seq.FinalC, c0)
	f := &recurrent{
		desc: rnn.Desc{Cell: cell, Directions: 1, Precision: seq.Precision, Algorithm: seq.Algorithm},
		seq:  rnn.Seq{BatchSizes: seq.BatchSizes, Masks: seq.Masks, HY: seq.FinalH, CY: seq.FinalC},
	}
	if seq.Reverse {
		f.desc.Directions, f.seq.Direction = 2, 1
	}
	recording := false
	for _, v := range []*Variable{x, h0, c0, w.WIH, w.WHH, w.BIH, w.BHH, w.Peephole} {
		recording = recording || v != nil && v.RequiresGrad()
	}
	if seq.Precision == BFloat16 && recording {
		panic(fmt.Sprintf("fn: a bfloat16 %v sequence is for inference, but an input requires a gradient (use autograd.NoGrad)", cell))
	}
	if !recording { // packings serve inference (training reads W itself)
		f.packedIH, f.packedHH = w.PackedIH.packed(), w.PackedHH.packed()
	}
	in := []*Variable{x, h0}
	if c0 != nil {
		in = append(in, c0)
	}
	in = append(in, w.WIH, w.WHH)
	if w.BIH != nil {
		f.desc.Bias = true
		in = append(in, w.BIH, w.BHH)
	}
	if w.Peephole != nil {
		f.desc.Peephole = true
		in = append(in, w.Peephole)
	}
	if seq.Norm.Kind != NoNorm {
		if cell != LSTMCellKind && cell != GRUCellKind {
			panic(fmt.Sprintf("fn: normalisation is for the LSTM and GRU, not %v", cell))
		}
		if seq.Norm.Kind > BatchNormKind {
			panic(fmt.Sprintf("fn: unknown NormKind %d", seq.Norm.Kind))
		}
		if w.NormIH == nil || w.NormHH == nil || (cell == LSTMCellKind && (w.NormC == nil || w.NormCBias == nil)) {
			panic(fmt.Sprintf("fn: a normalised %v sequence needs the gains NormIH, NormHH%s", cell, map[bool]string{true: ", NormC and NormCBias", false: ""}[cell == LSTMCellKind]))
		}
		if !f.desc.Bias {
			panic(fmt.Sprintf("fn: a normalised %v sequence needs the biases BIH and BHH", cell))
		}
		f.desc.Norm, f.desc.Eps = seq.Norm.Kind, seq.Norm.Eps
		f.seq.Population, f.seq.Observed = seq.Norm.Population, seq.Norm.Observed
		in = append(in, w.NormIH, w.NormHH)
		if cell == LSTMCellKind {
			in = append(in, w.NormC, w.NormCBias)
		}
	}
	// Without a gradient to record the backend keeps nothing for a
	// backward pass.
	for _, v := range in {
		if v.RequiresGrad() {
			f.keep = true
		}
	}
	return autograd.Apply(f, in...)
}

// recurrent is the fused sequence function for every cell kind: the
// autograd wrapper of one direction of the recurrent op.
type recurrent struct {
	desc rnn.Desc
	seq  rnn.Seq
	keep bool // a gradient is recorded: keep the reserve for Backward
	// Optional pre-packed weights (RecurrentWeights.PackedIH/HH).
	packedIH, packedHH *rnn.PackedWeight
	reserve            rnn.Reserve // of the last Forward, nil once released
}

// operands names the tensors of in (or of their gradients), ordered as
// recurrentApply orders its inputs; absent ones are nil.
func (f *recurrent) operands(in []*tensor.Tensor) rnn.Operands {
	var o rnn.Operands
	o.X, o.H0 = in[0], in[1]
	k := 2
	if f.desc.Cell == LSTMCellKind {
		o.C0 = in[2]
		k = 3
	}
	o.WIH, o.WHH = in[k], in[k+1]
	k += 2
	if f.desc.Bias {
		o.BIH, o.BHH = in[k], in[k+1]
		k += 2
	}
	if f.desc.Peephole {
		o.Peephole = in[k]
		k++
	}
	if f.desc.Norm != NoNorm {
		o.NormIH, o.NormHH = in[k], in[k+1]
		if f.desc.Cell == LSTMCellKind {
			o.NormC, o.NormCBias = in[k+2], in[k+3]
		}
	}
	return o
}

// args names and validates the input tensors and fills in the
// descriptor's sizes.
func (f *recurrent) args(in []*tensor.Tensor) rnn.Operands {
	o := f.operands(in)
	o.PackedIH, o.PackedHH = f.packedIH, f.packedHH
	cell, bs := f.desc.Cell, f.seq.BatchSizes
	sameType(cell.String()+" sequence", in...)
	gates := cell.Gates()
	bad := func(what string) {
		panic(fmt.Sprintf("fn: %v sequence: %s (x %v, h0 %v, WIH %v, WHH %v, batch sizes %v)", cell, what, o.X.Shape(), o.H0.Shape(), o.WIH.Shape(), o.WHH.Shape(), bs))
	}
	if o.WHH.NDim() != 2 || o.WHH.Dim(0)%gates != 0 || o.WHH.Dim(0) != gates*o.WHH.Dim(1) {
		bad(fmt.Sprintf("WHH must be (%d·H, H)", gates))
	}
	hidden := o.WHH.Dim(1)
	if o.X.NDim() != 2 || o.WIH.NDim() != 2 || o.WIH.Dim(0) != gates*hidden || o.WIH.Dim(1) != o.X.Dim(1) {
		bad("x must be (N, I) and WIH (G·H, I)")
	}
	f.desc.InputSize, f.desc.HiddenSize = o.X.Dim(1), hidden
	if len(bs) == 0 {
		bad("no time steps")
	}
	n := 0
	for t, b := range bs {
		if b <= 0 || (t > 0 && b > bs[t-1]) {
			bad("batch sizes must be positive and non-increasing")
		}
		n += b
	}
	if o.X.Dim(0) != n {
		bad(fmt.Sprintf("x has %d rows but the batch sizes add up to %d", o.X.Dim(0), n))
	}
	batch, GH := bs[0], gates*hidden
	state := []int{batch, hidden}
	if !slices.Equal(o.H0.Shape(), state) || (o.C0 != nil && !slices.Equal(o.C0.Shape(), state)) {
		bad(fmt.Sprintf("initial states must be (%d, %d)", batch, hidden))
	}
	if o.BIH != nil && (!slices.Equal(o.BIH.Shape(), []int{GH}) || !slices.Equal(o.BHH.Shape(), []int{GH})) {
		bad(fmt.Sprintf("biases must be (%d) (got %v and %v)", GH, o.BIH.Shape(), o.BHH.Shape()))
	}
	if o.Peephole != nil && !slices.Equal(o.Peephole.Shape(), []int{3, hidden}) {
		bad(fmt.Sprintf("peephole weights must be (3, %d), got %v", hidden, o.Peephole.Shape()))
	}
	if o.NormIH != nil {
		if !slices.Equal(o.NormIH.Shape(), []int{GH}) || !slices.Equal(o.NormHH.Shape(), []int{GH}) || (o.NormC != nil && (!slices.Equal(o.NormC.Shape(), []int{hidden}) || !slices.Equal(o.NormCBias.Shape(), []int{hidden}))) {
			bad(fmt.Sprintf("normalisation gains must be (%d) and the cell's (%d)", GH, hidden))
		}
	}
	m := f.seq.Masks
	for _, mk := range []struct {
		name string
		t    *tensor.Tensor
		rows int
	}{{"H", m.H, batch}, {"Candidate", m.Candidate, n}, {"ZoneH", m.ZoneH, n}, {"ZoneC", m.ZoneC, n}} {
		if mk.t != nil && (!slices.Equal(mk.t.Shape(), []int{mk.rows, hidden}) || mk.t.DType() != o.X.DType()) {
			bad(fmt.Sprintf("mask %s is %v %v; want %v (%d, %d)", mk.name, mk.t.DType(), mk.t.Shape(), o.X.DType(), mk.rows, hidden))
		}
	}
	return o
}

func (f *recurrent) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	out, r := backendFor(in[0]).Forward(&f.desc, &f.seq, f.args(in), f.keep)
	f.reserve = r
	if out.C != nil {
		return []*tensor.Tensor{out.Y, out.H, out.C}
	}
	return []*tensor.Tensor{out.Y, out.H}
}

func (f *recurrent) Backward(in, out, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	return f.BackwardInto(in, out, gy, nil, need)
}

// BackwardInto adds the gradients of W_ih and W_hh (products with beta =
// 1), and of the biases without normalisation (row sums), straight into
// their buffers in into; the other gradients are returned.
func (f *recurrent) BackwardInto(in, out, gy, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	w := 2 // the index of W_ih: after x, h0 (and c0)
	if f.desc.Cell == LSTMCellKind {
		w = 3
	}
	additive := func(i int) bool {
		return i == w || i == w+1 || (f.desc.Bias && f.desc.Norm == NoNorm && (i == w+2 || i == w+3))
	}
	gx := make([]*tensor.Tensor, len(in))
	acc := false // a weight gradient accumulates into into
	for i, t := range in {
		switch {
		case !need[i]:
		case into != nil && into[i] != nil && additive(i):
			gx[i] = into[i]
			acc = acc || i == w || i == w+1
		default:
			gx[i] = newLike(t, t.Shape()...)
		}
	}
	// With acc the weight products run with beta = 1; a new buffer is
	// zero, so adding to it is writing it.
	if f.reserve == nil {
		// A second Backward: the reserve was released. The recomputation
		// writes its final states into new tensors, not into the caller's
		// FinalH and FinalC, which are the outputs the graph holds.
		f.seq.HY, f.seq.CY = nil, nil
		f.Forward(in)
	}
	o, g := f.args(in), f.operands(gx)
	outs, gys := rnn.Outputs{Y: out[0], H: out[1]}, rnn.Outputs{Y: gy[0], H: gy[1]}
	if len(out) > 2 {
		outs.C, gys.C = out[2], gy[2]
	}
	backendFor(in[0]).Backward(&f.desc, &f.seq, o, f.reserve, outs, gys, g, acc)
	if f.reserve.Release() {
		f.reserve = nil
	}
	for i := range gx {
		if !need[i] || (into != nil && into[i] != nil && additive(i)) {
			gx[i] = nil
		}
	}
	return gx
}
