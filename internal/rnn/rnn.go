// Package rnn is the recurrent op behind the kernel boundary: the fused
// LSTM, GRU and Elman RNN sequence kernels of kioku, forward and backward,
// described the way cuDNN's RNN API and oneDNN's RNN primitive describe
// theirs.
//
// A Desc describes one recurrent layer with all its directions (one, or
// two for a bidirectional layer): the cell kind, the input and hidden
// sizes, bias and peepholes, the normalisation, the precision of the
// matrix products and the algorithm. A stack of layers is a list of
// per-layer descriptors held by package nn, which also applies the dropout
// between layers (an ordinary autograd function). A Seq is one call of one
// direction: the packed batch (its batch sizes), which direction to run,
// the regularisation masks and the batch-normalisation statistics — the
// data that changes from call to call, kept apart from the descriptor as
// cuDNN keeps its RNN data descriptor apart from the RNN descriptor.
//
// A Backend runs the op: Forward over a packed sequence, keeping a Reserve
// (cuDNN's reserve space) for Backward, and PackWeight, which prepares a
// weight matrix for products at a precision once (cuDNN's packed weight
// space). CPU is the backend of this package, the kernels that package fn
// has always run: one GEMM projects the inputs of all steps, each step adds
// one recurrent GEMM over the fused gate weights and one elementwise pass
// computes the cell, and the backward pass forms the weight gradients of
// the whole sequence as single GEMMs (Appleyard et al. 2016). A second
// backend — a GPU one — implements the same interface; package fn picks
// the backend and keeps the autograd wrapper and the argument validation,
// so callers do not change.
//
// The cell equations are documented next to the kernels that compute them
// (cells.go).
package rnn

import (
	"github.com/kioku-ml/kioku/internal/enum"
	"github.com/kioku-ml/kioku/tensor"
)

// Cell names the recurrent cells of the op. Gate blocks are laid out as in
// PyTorch and cuDNN: a weight matrix of a cell with G gates has shape
// (G·H, ·), block k holding rows k·H … (k+1)·H−1. The equations are with
// the kernels: lstmGatesStep and lstmOutputStep (LSTM), gruForwardStep
// (GRU), and the Elman step in forward.
type Cell uint8

const (
	// LSTM is the LSTM of Hochreiter & Schmidhuber (1997) with the forget
	// gate of Gers et al. (2000), gate blocks i, f, g, o, optionally with
	// diagonal peepholes (Gers & Schmidhuber 2000).
	LSTM Cell = iota
	// GRU is the gated recurrent unit of Cho et al. (2014) in the form
	// PyTorch and cuDNN use, gate blocks r, z, n.
	GRU
	// RNNTanh is the Elman RNN h = tanh(W_ih·x + b_ih + W_hh·h₋₁ + b_hh).
	RNNTanh
	// RNNReLU is the Elman RNN with ReLU, h = max(0, W_ih·x + b_ih +
	// W_hh·h₋₁ + b_hh); with identity W_hh and zero biases it is the IRNN of
	// Le et al. (2015).
	RNNReLU
)

// Gates returns the number of gate blocks of the cell: 4, 3, 1 or 1.
func (c Cell) Gates() int {
	switch c {
	case LSTM:
		return 4
	case GRU:
		return 3
	}
	return 1
}

// HasCellState reports whether the cell carries a cell state c beside
// its hidden state h — the LSTM does; the GRU and the Elman RNNs carry h
// only — so that its operands have c0 and its outputs C, and the states
// built above the op have C as well as H.
func (c Cell) HasCellState() bool { return c == LSTM }

// NormKind selects the normalisation inside the recurrent op.
type NormKind uint8

const (
	// NoNorm is the plain cell.
	NoNorm NormKind = iota
	// LayerNorm is the layer-normalised LSTM or GRU of Ba et al. (2016):
	// each row of W_ih·x and of W_hh·h₋₁ is normalised over its G·H units
	// separately, with gains NormIH and NormHH, before the biases are
	// added; the LSTM's h = o⊙tanh(LN(c)) normalises c over its H units
	// with gain NormC and bias NormCBias.
	LayerNorm
	// BatchNorm is the recurrent batch normalisation of Cooijmans et al.
	// (2016): the same three places, but each unit is normalised over the
	// batch, with statistics kept per time step.
	BatchNorm
)

// Precision is the precision of the op's matrix products.
type Precision uint8

const (
	// Float32 is the default: products in the element type of the tensors
	// (float32, or float64 for float64 tensors).
	Float32 Precision = iota
	// BFloat16 computes the products W_ih·x and W_hh·h₋₁ from bfloat16
	// roundings of the weights and of x and h₋₁, with float32 accumulation
	// (AVX512_BF16's VDPBF16PS on the CPU): about twice the speed of
	// float32 products, each term rounded with relative error up to 2⁻⁸.
	// It is for inference, for float32 tensors without normalisation; the
	// CPU backend runs Float32 where it does not apply or where the CPU
	// has no AVX512_BF16.
	BFloat16
	// Float64 is the precision of float64 tensors (gradient checks).
	Float64
)

// Algorithm selects how a backend schedules the steps of a sequence.
type Algorithm uint8

const (
	// Auto lets the backend choose. The CPU backend uses RowGroups when
	// the rows are separable and the batch gives every thread at least
	// minGroupRows rows, Sequential otherwise.
	Auto Algorithm = iota
	// Sequential runs the steps one after the other over the whole batch,
	// each step's products and cell update split across the worker pool.
	Sequential
	// RowGroups splits the batch into one group of rows per thread, each
	// running the whole sequence with single-threaded products: one
	// synchronisation per sequence instead of one per step. It applies
	// where the rows of the recurrence never mix — without normalisation
	// or with layer norm, and (backward) without peepholes — and falls back
	// to Sequential elsewhere. The choice changes results only by the
	// rounding of the products (with row groups the input projection runs
	// step by step, on other kernels) and of the normalisation parameters'
	// gradients (summed per group); each choice is deterministic.
	RowGroups
)

// The names of the enumerations, for their String methods.
var (
	cellNames      = enum.New[Cell]("Cell", "rnn: cell", "lstm", "gru", "rnn_tanh", "rnn_relu")
	precisionNames = enum.New[Precision]("Precision", "rnn: precision", "float32", "bfloat16", "float64")
	algorithmNames = enum.New[Algorithm]("Algorithm", "rnn: algorithm", "auto", "sequential", "row-groups")
)

// String returns "lstm", "gru", "rnn_tanh" or "rnn_relu".
func (c Cell) String() string { return cellNames.String(c) }

// String returns "float32", "bfloat16" or "float64".
func (p Precision) String() string { return precisionNames.String(p) }

// String returns "auto", "sequential" or "row-groups".
func (a Algorithm) String() string { return algorithmNames.String(a) }

// Desc describes one recurrent layer with all its directions. It is a
// value the caller fills; the backend reads it.
type Desc struct {
	// Cell is the cell kind.
	Cell Cell
	// InputSize and HiddenSize are I and H: the input projection W_ih is
	// (G·H, I), the recurrent one W_hh (G·H, H).
	InputSize, HiddenSize int
	// Directions is 1, or 2 for a bidirectional layer (direction 1 runs
	// from each sequence's last step to its first).
	Directions int
	// Bias says the layer has the biases b_ih and b_hh (G·H each).
	Bias bool
	// Peephole says the LSTM has diagonal peephole weights (3, H).
	Peephole bool
	// Norm is the normalisation, with Eps added to the variance; a
	// normalised layer has biases and the gains of Operands.
	Norm NormKind
	Eps  float64
	// Precision is the precision of the matrix products.
	Precision Precision
	// Algorithm is the schedule of the steps (Auto by default).
	Algorithm Algorithm
}

// Gates returns the number of gate blocks, G.
func (d *Desc) Gates() int { return d.Cell.Gates() }

// Masks are the regularisation masks the op applies inside the
// recurrence. They are constants (no gradient flows to them); nil fields
// apply nothing. Rows follow the packed layout: a (B, H) mask is indexed
// by sorted sequence (row i of step t is sequence i), an (N, H) mask by
// packed row.
type Masks struct {
	// H (B, H) multiplies h₋₁ where it enters the recurrent product W_hh·h₋₁
	// at every step: variational dropout of the recurrent connections (Gal
	// & Ghahramani 2016), one mask per sequence, entries 0 or 1/(1−p).
	H *tensor.Tensor
	// Candidate (N, H) multiplies the candidate before it enters the
	// state — g in c = f⊙c₋₁ + i⊙(m⊙g) for the LSTM, n in
	// h = (1−z)⊙(m⊙n) + z⊙h₋₁ for the GRU: recurrent dropout without
	// memory loss (Semeniuta et al. 2016). Not for the Elman RNN.
	Candidate *tensor.Tensor
	// ZoneH and ZoneC (N, H) are zoneout weights (Krueger et al. 2017):
	// h = z⊙h₋₁ + (1−z)⊙h̃ and, for the LSTM, c = z_c⊙c₋₁ + (1−z_c)⊙c̃,
	// where h̃ = o⊙tanh(c̃) uses the candidate cell c̃ = f⊙c₋₁ + i⊙g. In
	// training the entries are 0 or 1 (1 keeps the unit's previous value);
	// in evaluation they are the zoneout probability.
	ZoneH, ZoneC *tensor.Tensor
}

// BatchNormStats are the batch statistics of one normalised block: the
// mean and (biased) variance of each unit.
type BatchNormStats struct {
	Mean, Var []float64
}

// NormStats holds batch-normalisation statistics per time step (in time
// order): of the input projection (G·H units), of the recurrent
// projection (G·H) and of the LSTM's cell (H).
type NormStats struct {
	X, H, C []BatchNormStats
}

// Seq is one call of one direction of a layer on a packed batch of
// sequences: time-major, sorted by decreasing length, so step t holds the
// first BatchSizes[t] sequences and BatchSizes is non-increasing. The
// packed input has N = Σ BatchSizes rows.
type Seq struct {
	BatchSizes []int
	// Direction is 0 (first step to last) or 1 (last to first).
	Direction int
	// Masks are the regularisation masks of this call.
	Masks Masks
	// For BatchNorm: with Population set (evaluation), its statistics are
	// used — step t uses entry t, steps past the last entry reuse the last
	// — and no batch statistics are computed; otherwise each step is
	// normalised with its own batch statistics, written into Observed when
	// it is non-nil.
	Population, Observed *NormStats
	// HY and CY, when not nil, are where the final states (B, H) go —
	// cuDNN's hy and cy — instead of new tensors: the caller can make
	// them views of one (Layers·D, B, H) state, so that a stack's final
	// state needs no copy. They must not share storage with an operand.
	HY, CY *tensor.Tensor
}

// Operands are the tensors of one direction of a layer, in PyTorch's
// layout: X (N, I) the packed input, H0 and C0 (B, H) the initial states
// (C0 for the LSTM only), WIH (G·H, I), WHH (G·H, H), BIH and BHH (G·H),
// Peephole (3, H): p_i, p_f, p_o; NormIH and NormHH (G·H) the gains of the
// normalised projections, NormC and NormCBias (H) the gain and bias of the
// LSTM's normalised cell. Absent ones are nil. The same struct carries the
// gradients of Backward.
type Operands struct {
	X, H0, C0                        *tensor.Tensor
	WIH, WHH, BIH, BHH, Peephole     *tensor.Tensor
	NormIH, NormHH, NormC, NormCBias *tensor.Tensor
	// PackedIH and PackedHH are optional packings of WIH and WHH from
	// PackWeight at the descriptor's precision, used instead of packing
	// the weights on every call. They must have been made from the current
	// values of WIH and WHH. (Inputs only.)
	PackedIH, PackedHH *PackedWeight
}

// Outputs are the results of a forward pass: Y (N, H) the packed outputs,
// H and C (B, H) the final states, each row taken at that sequence's own
// last step (its first, for direction 1); C is nil but for the LSTM. The
// same struct carries their gradients into Backward (nil where none).
type Outputs struct {
	Y, H, C *tensor.Tensor
}
