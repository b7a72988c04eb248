package fn

import (
	"github.com/kioku-ml/kioku/internal/rnn"
	"github.com/kioku-ml/kioku/tensor"
)

// This file holds the types that describe a call of the fused recurrent
// op: the cell, the weights of a direction, the packed sequence with its
// masks and normalisation, the precision of the products and the
// algorithm. The value types are those of package internal/rnn, where the
// op's kernels live.

// Cell names the recurrent cells the fused sequence kernels compute. Gate
// blocks are laid out as in PyTorch and cuDNN: a weight matrix of a cell
// with G gates has shape (G·H, ·), block k holding rows k·H … (k+1)·H−1.
// Gates returns G, String the cell's name ("lstm", "gru", "rnn_tanh",
// "rnn_relu") and HasCellState whether it carries a cell state c (the
// LSTM).
type Cell = rnn.Cell

const (
	// LSTMCellKind is the LSTM of Hochreiter & Schmidhuber (1997) with the
	// forget gate of Gers et al. (2000), gate blocks i, f, g, o:
	//
	//	c = f⊙c₋₁ + i⊙g,  h = o⊙tanh(c)
	//
	// optionally with diagonal peepholes (RecurrentWeights.Peephole).
	LSTMCellKind = rnn.LSTM
	// GRUCellKind is the gated recurrent unit of Cho et al. (2014) in the
	// form PyTorch and cuDNN use, gate blocks r, z, n:
	//
	//	n = tanh(W_in·x + b_in + r⊙(W_hn·h₋₁ + b_hn)),  h = (1−z)⊙n + z⊙h₋₁
	GRUCellKind = rnn.GRU
	// RNNTanhCellKind is the Elman RNN h = tanh(W_ih·x + b_ih + W_hh·h₋₁ + b_hh).
	RNNTanhCellKind = rnn.RNNTanh
	// RNNReLUCellKind is the Elman RNN with ReLU, h = max(0, W_ih·x + b_ih +
	// W_hh·h₋₁ + b_hh); with identity W_hh and zero biases it is the IRNN of
	// Le et al. (2015).
	RNNReLUCellKind = rnn.RNNReLU
)

// NormKind selects the normalisation inside a fused recurrent kernel.
type NormKind = rnn.NormKind

const (
	// NoNorm is the plain cell.
	NoNorm = rnn.NoNorm
	// LayerNormKind is the layer-normalised LSTM or GRU of Ba et al. (2016):
	// each row of W_ih·x and of W_hh·h₋₁ is normalised over its G·H units
	// separately, with gains NormIH and NormHH, before the biases are
	// added; the LSTM's h = o⊙tanh(LN(c)) normalises c over its H units
	// with gain NormC and bias NormCBias.
	LayerNormKind = rnn.LayerNorm
	// BatchNormKind is the recurrent batch normalisation of Cooijmans et
	// al. (2016): the same three places, but each unit is normalised over
	// the batch, with statistics kept per time step.
	BatchNormKind = rnn.BatchNorm
)

// Precision is the precision of the matrix products of the fused
// recurrent kernels and of LinearAt. String returns its name.
type Precision = rnn.Precision

const (
	// Float32 is the default: products in the element type of the tensors
	// (float32, or float64 for float64 tensors).
	Float32 = rnn.Float32
	// BFloat16 computes the products from bfloat16 roundings of both
	// operands with float32 accumulation (AVX512_BF16's VDPBF16PS): about
	// twice the speed of float32 products, each term rounded with relative
	// error up to 2⁻⁸. It is for inference: a pass that would record a
	// gradient panics. It runs as Float32 for float64 tensors, with
	// normalisation, and on CPUs without AVX512_BF16 (where float32 is
	// the faster path; see PrecisionAvailable).
	BFloat16 = rnn.BFloat16
	// Float64 is the precision of float64 tensors.
	Float64 = rnn.Float64
)

// PrecisionAvailable reports whether products at precision p run as asked
// on this machine (BFloat16 needs AVX512_BF16; without it, it falls back
// to Float32).
func PrecisionAvailable(p Precision) bool { return rnn.CPU{}.Available(p) }

// Algorithm selects how a fused recurrent kernel schedules its steps:
// AlgoAuto (the default) lets the backend choose; AlgoSequential runs each
// step over the whole batch with the products split across threads;
// AlgoRowGroups runs groups of rows through the whole sequence
// concurrently where the rows of the recurrence are independent. The
// choice changes results only by rounding; each is deterministic.
type Algorithm = rnn.Algorithm

const (
	// AlgoAuto lets the backend choose (row groups for large enough
	// batches where they apply).
	AlgoAuto = rnn.Auto
	// AlgoSequential runs the steps one after the other over the whole
	// batch.
	AlgoSequential = rnn.Sequential
	// AlgoRowGroups runs one group of rows per thread through the whole
	// sequence where the rows are independent, else as AlgoSequential.
	AlgoRowGroups = rnn.RowGroups
)

// PackedWeight is a weight matrix W (out, in), in PyTorch's layout,
// prepared once by PackWeight for products at one precision. It is a
// snapshot: it does not follow later changes of W.
type PackedWeight struct{ p *rnn.PackedWeight }

// PackWeight prepares the float32 matrix w (out, in) for products at
// precision p, once, for loops that call them many times with the same
// weights (generating a sequence one step at a time, say): Float32 keeps
// the values and the results (the products give the bits of unpacked
// ones) and only spares the packing; BFloat16 also rounds. It returns nil
// where there is nothing to prepare: for Float64, for other element types
// or shapes, or where PrecisionAvailable(p) is false (the products then
// run in float32). The packing is a copy, which the products read instead
// of w: it does not follow later changes of w.
func PackWeight(w *tensor.Tensor, p Precision) *PackedWeight {
	pw := backendFor(w).PackWeight(w, p)
	if pw == nil {
		return nil
	}
	return &PackedWeight{pw}
}

// packed returns w's packing, nil for a nil w.
func (w *PackedWeight) packed() *rnn.PackedWeight {
	if w == nil {
		return nil
	}
	return w.p
}

// backendFor returns the backend that runs the recurrent op on x: the
// CPU's, today. A GPU backend is chosen here by the device of x.
func backendFor(*tensor.Tensor) rnn.Backend { return rnn.CPU{} }

// RecurrentWeights are the parameters of one direction of one recurrent
// layer, in PyTorch's layout: WIH is (G·H, I), WHH is (G·H, H), BIH and
// BHH are (G·H) and may both be nil (no bias). Peephole, for the LSTM only
// and optional, is (3, H): the diagonal peephole weights p_i, p_f, p_o.
type RecurrentWeights struct {
	WIH, WHH, BIH, BHH *Variable
	Peephole           *Variable
	// NormIH and NormHH (G·H) are the gains of the normalisation of W_ih·x
	// and W_hh·h₋₁, and NormC and NormCBias (H) the gain and bias of the
	// LSTM's normalised cell, used when Sequence.Norm is on (the biases of
	// the projections are BIH and BHH).
	NormIH, NormHH, NormC, NormCBias *Variable
	// PackedIH and PackedHH are optional packings of WIH and WHH made by
	// PackWeight at Sequence.Precision, used instead of packing the
	// weights again. They must have been made from the current values of
	// WIH and WHH.
	PackedIH, PackedHH *PackedWeight
}

// RecurrentNorm configures the normalisation of a fused recurrent kernel.
type RecurrentNorm struct {
	Kind NormKind
	// Eps is added to the variance (0 means 1e-5).
	Eps float64
	// For BatchNormKind: with Population set (evaluation), its statistics
	// are used — step t uses entry t, steps past the last entry reuse the
	// last — and no batch statistics are computed; otherwise each step is
	// normalised with its own batch statistics, written into Observed when
	// it is non-nil (for the layer's running averages).
	Population, Observed *RecurrentNormStats
}

// RecurrentNormStats holds batch-normalisation statistics per time step
// (in time order): of the input projection (G·H units), of the recurrent
// projection (G·H) and of the LSTM's cell (H).
type RecurrentNormStats = rnn.NormStats

// RecurrentMasks are the regularisation masks the fused kernels apply
// inside the recurrence: H (B, H), variational dropout of h₋₁ in W_hh·h₋₁
// (Gal & Ghahramani 2016); Candidate (N, H), dropout of the candidate g or
// n (Semeniuta et al. 2016; not for the Elman RNN); ZoneH and ZoneC
// (N, H), zoneout of h and of the LSTM's c (Krueger et al. 2017). They are
// constants (no gradient flows to them); nil fields apply nothing. Rows
// follow the packed layout: a (B, H) mask is indexed by sorted sequence,
// an (N, H) mask by packed row.
type RecurrentMasks = rnn.Masks

// Sequence describes a packed batch of sequences: time-major, sorted by
// decreasing length, so step t holds the first BatchSizes[t] sequences and
// BatchSizes is non-increasing. The packed input has Σ BatchSizes rows.
// With Reverse the cell runs from each sequence's last step to its first.
type Sequence struct {
	BatchSizes []int
	Reverse    bool
	// Masks holds optional regularisation masks applied inside the fused
	// kernel; the zero value applies none.
	Masks RecurrentMasks
	// Norm turns on layer or batch normalisation inside the kernel.
	Norm RecurrentNorm
	// Precision is the precision of the products W_ih·x and W_hh·h₋₁
	// (Float32 by default). With BFloat16 the weights are rounded and
	// packed once per call (unless RecurrentWeights carries packings), so
	// it pays off on whole sequences rather than one step at a time.
	Precision Precision
	// Algorithm is the schedule of the steps (AlgoAuto by default).
	Algorithm Algorithm
	// FinalH and FinalC, when not nil, are the tensors (B, H) the final
	// states hN and cN are written into and returned as — cuDNN's hy and
	// cy — instead of new ones. A stack passes views of one
	// (Layers·D, B, H) tensor and joins them with JoinViews, so that its
	// final state costs no copy. They must not share storage with any
	// input, and FinalC is for the LSTM only.
	FinalH, FinalC *tensor.Tensor
}
