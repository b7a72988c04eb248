package fn

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// Cell names the recurrent cells the fused sequence kernels compute. Gate
// blocks are laid out as in PyTorch and cuDNN: a weight matrix of a cell
// with G gates has shape (G·H, ·), block k holding rows k·H … (k+1)·H−1.
type Cell uint8

const (
	// LSTMCellKind is the LSTM of Hochreiter & Schmidhuber (1997) with the
	// forget gate of Gers et al. (2000), gate blocks i, f, g, o:
	//
	//	i = σ(W_ii·x + b_ii + W_hi·h₋₁ + b_hi)
	//	f = σ(W_if·x + b_if + W_hf·h₋₁ + b_hf)
	//	g = tanh(W_ig·x + b_ig + W_hg·h₋₁ + b_hg)
	//	o = σ(W_io·x + b_io + W_ho·h₋₁ + b_ho)
	//	c = f⊙c₋₁ + i⊙g
	//	h = o⊙tanh(c)
	//
	// With diagonal peephole weights p_i, p_f, p_o (Gers & Schmidhuber
	// 2000) the gates also see the cell: p_i⊙c₋₁ and p_f⊙c₋₁ are added to
	// the pre-activations of i and f, and p_o⊙c to that of o.
	LSTMCellKind Cell = iota
	// GRUCellKind is the gated recurrent unit of Cho et al. (2014) in the
	// form PyTorch and cuDNN use, gate blocks r, z, n:
	//
	//	r = σ(W_ir·x + b_ir + W_hr·h₋₁ + b_hr)
	//	z = σ(W_iz·x + b_iz + W_hz·h₋₁ + b_hz)
	//	n = tanh(W_in·x + b_in + r⊙(W_hn·h₋₁ + b_hn))
	//	h = (1−z)⊙n + z⊙h₋₁
	GRUCellKind
	// RNNTanhCellKind is the Elman RNN h = tanh(W_ih·x + b_ih + W_hh·h₋₁ + b_hh).
	RNNTanhCellKind
	// RNNReLUCellKind is the Elman RNN with ReLU, h = max(0, W_ih·x + b_ih +
	// W_hh·h₋₁ + b_hh); with identity W_hh and zero biases it is the IRNN of
	// Le et al. (2015).
	RNNReLUCellKind
)

// Gates returns the number of gate blocks of the cell: 4, 3, 1 or 1.
func (c Cell) Gates() int {
	switch c {
	case LSTMCellKind:
		return 4
	case GRUCellKind:
		return 3
	}
	return 1
}

// String returns "lstm", "gru", "rnn_tanh" or "rnn_relu".
func (c Cell) String() string {
	switch c {
	case LSTMCellKind:
		return "lstm"
	case GRUCellKind:
		return "gru"
	case RNNTanhCellKind:
		return "rnn_tanh"
	case RNNReLUCellKind:
		return "rnn_relu"
	}
	return fmt.Sprintf("Cell(%d)", uint8(c))
}

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
	// PackedIH and PackedHH are optional bfloat16 roundings of WIH and WHH
	// made by PackBF16Weight, used instead of packing the weights again
	// when Sequence.BF16 is on. They must have been made from the current
	// values of WIH and WHH.
	PackedIH, PackedHH *BF16Weight
}

// BF16Weight is a weight matrix W (out, in), in PyTorch's layout, rounded
// to bfloat16 and packed for the bfloat16 products of Sequence.BF16 and
// LinearBF16 (as the right operand of x·Wᵀ). It is a snapshot: it does not
// follow later changes of W.
type BF16Weight struct {
	p       *kernel.PackedBF16
	out, in int
}

// PackBF16Weight rounds and packs the float32 matrix w (out, in) for
// bfloat16 products, once, for loops that call them many times with the
// same weights (generating a sequence one step at a time, say). It returns
// nil for other element types or shapes, or where BF16Available is false
// (the products then run in float32).
func PackBF16Weight(w *tensor.Tensor) *BF16Weight {
	if w == nil || w.DType() != tensor.Float32 || w.NDim() != 2 || !kernel.HasBF16() {
		return nil
	}
	out, in := w.Dim(0), w.Dim(1)
	return &BF16Weight{p: kernel.PackBF16(true, in, out, w.Float32s(), in), out: out, in: in}
}

// packedOr returns pw's packing if it fits a weight of out×in, else a
// fresh packing of w.
func packedOr(pw *BF16Weight, w []float32, out, in int) *kernel.PackedBF16 {
	if pw != nil && pw.out == out && pw.in == in {
		return pw.p
	}
	return kernel.PackBF16(true, in, out, w, in)
}

// NormKind selects the normalisation inside a fused recurrent kernel.
type NormKind uint8

const (
	// NoNorm is the plain cell.
	NoNorm NormKind = iota
	// LayerNormKind is the layer-normalised LSTM or GRU of Ba et al. (2016):
	// each row of W_ih·x and of W_hh·h₋₁ is normalised over its G·H units
	// separately, with gains NormIH and NormHH, before the biases are
	// added; the LSTM's h = o⊙tanh(LN(c)) normalises c over its H units
	// with gain NormC and bias NormCBias.
	LayerNormKind
	// BatchNormKind is the recurrent batch normalisation of Cooijmans et
	// al. (2016): the same three places, but each unit is normalised over
	// the batch, with statistics kept per time step.
	BatchNormKind
)

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
type RecurrentNormStats struct {
	X, H, C []BatchNormStats
}

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
	// BF16 computes the matrix products W_ih·x and W_hh·h₋₁ from
	// bfloat16 roundings of the weights and of x and h₋₁, with float32
	// accumulation (AVX512_BF16's VDPBF16PS): about twice the speed of
	// float32 products, each term rounded with relative error up to 2⁻⁸.
	// It is for inference: a sequence that would record a gradient panics.
	// The weights are rounded and packed once per call, so it pays off on
	// whole sequences rather than one step at a time. It is ignored for
	// float64, with normalisation, and on CPUs without AVX512_BF16 (where
	// float32 is the faster path; see BF16Available).
	BF16 bool
}

// BF16Available reports whether Sequence.BF16 and LinearBF16 run on
// bfloat16 hardware (AVX512_BF16) on this machine. Without it they fall
// back to float32.
func BF16Available() bool { return kernel.HasBF16() }

// RecurrentMasks are the regularisation masks the fused kernels apply
// inside the recurrence. They are constants (no gradient flows to them);
// nil fields apply nothing. Rows follow the packed layout: a (B, H) mask
// is indexed by sorted sequence (row i of step t is sequence i), an (N, H)
// mask by packed row.
type RecurrentMasks struct {
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

// recurrentApply validates the arguments and applies the fused function.
// Inputs are ordered x, h0, [c0], WIH, WHH, [BIH, BHH], [Peephole].
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
	f := &recurrent{cell: cell, batchSizes: seq.BatchSizes, reverse: seq.Reverse, masks: seq.Masks}
	if seq.BF16 {
		for _, v := range []*Variable{x, h0, c0, w.WIH, w.WHH, w.BIH, w.BHH, w.Peephole} {
			if v != nil && v.RequiresGrad() {
				panic(fmt.Sprintf("fn: a bfloat16 %v sequence is for inference, but an input requires a gradient (use autograd.NoGrad)", cell))
			}
		}
		f.bf16 = seq.Norm.Kind == NoNorm && x.DType() == tensor.Float32 && kernel.HasBF16()
		f.packedIH, f.packedHH = w.PackedIH, w.PackedHH
	}
	in := []*Variable{x, h0}
	if c0 != nil {
		in = append(in, c0)
	}
	in = append(in, w.WIH, w.WHH)
	if w.BIH != nil {
		f.bias = true
		in = append(in, w.BIH, w.BHH)
	}
	if w.Peephole != nil {
		f.peephole = true
		in = append(in, w.Peephole)
	}
	// Without a gradient to record nothing needs the forward pass's
	// workspaces afterwards: take them from a pool and give them back.
	f.scratch = seq.Norm.Kind == NoNorm && x.DType() == tensor.Float32
	for _, v := range in {
		if v.RequiresGrad() {
			f.scratch = false
		}
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
		if !f.bias {
			panic(fmt.Sprintf("fn: a normalised %v sequence needs the biases BIH and BHH", cell))
		}
		f.norm = seq.Norm
		if f.norm.Eps == 0 {
			f.norm.Eps = 1e-5
		}
		in = append(in, w.NormIH, w.NormHH)
		if cell == LSTMCellKind {
			in = append(in, w.NormC, w.NormCBias)
		}
	}
	out := autograd.Apply(f, in...)
	if f.scratch {
		f.release()
	}
	return out
}

// getWork returns a workspace of n values with arbitrary contents: a
// recycled buffer for float32, a new slice for float64.
func getWork[T kernel.Float](n int) []T {
	var w []T
	if _, ok := any(w).([]float32); ok {
		return any(getScratch(n).Float32s()).([]T)
	}
	return make([]T, n)
}

// putWork gives a workspace from getWork back to the pool.
func putWork[T kernel.Float](w []T) {
	if f, ok := any(w).([]float32); ok {
		putScratchBuf(f)
	}
}

// The scratch pool recycles float32 workspaces — of inference, of the
// training step's recurrent layers, the output layer's probabilities —
// sparing the allocator's zeroing of tens of megabytes per call. The
// buffers come back uninitialised: their users write every element before
// reading it. Buffers are kept by size class (four classes per power of
// two, so a buffer is at most 25% larger than asked for), so that a
// request is served by a buffer of about its size and small buffers do not
// crowd out large ones; workspaces under minScratch values are simply
// allocated.
const minScratch = 1 << 12

var scratchPools [4 * 48]sync.Pool

// scratchClass returns the class of the buffers that can hold n ≥
// minScratch values, and their capacity: m·2^e with m in 4…7.
func scratchClass(n int) (class, capacity int) {
	e := bits.Len(uint(n)) - 3
	m := (n + 1<<e - 1) >> e // ⌈n/2^e⌉ in 4…8
	if m == 8 {
		m, e = 4, e+1
	}
	return 4*e + m - 4, m << e
}

// getScratch returns a float32 tensor of the given shape with arbitrary
// contents, reusing a pooled buffer of its size class when there is one.
func getScratch(shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n < minScratch {
		return tensor.New(tensor.Float32, shape...)
	}
	c, capacity := scratchClass(n)
	if c >= len(scratchPools) {
		return tensor.New(tensor.Float32, shape...)
	}
	if b, ok := scratchPools[c].Get().(*[]float32); ok {
		return tensor.FromFloat32((*b)[:n], shape...)
	}
	return tensor.FromFloat32(make([]float32, n, capacity), shape...)
}

// putScratch gives t's storage back to the pool (nil is ignored).
func putScratch(t *tensor.Tensor) {
	if t != nil {
		putScratchBuf(t.Float32s())
	}
}

// putScratchBuf files b under the largest class whose capacity it has.
func putScratchBuf(b []float32) {
	if cap(b) < minScratch {
		return
	}
	if c := fileClass(cap(b)); c < len(scratchPools) {
		b = b[:0]
		scratchPools[c].Put(&b)
	}
}

// fileClass returns the largest class whose capacity is at most n ≥
// minScratch.
func fileClass(n int) int {
	e := bits.Len(uint(n)) - 3
	m := n >> e // ⌊n/2^e⌋ in 4…7
	return 4*e + m - 4
}

// recurrent is the fused sequence function for every cell kind.
type recurrent struct {
	cell           Cell
	batchSizes     []int
	reverse        bool
	bias, peephole bool
	bf16           bool // products from bfloat16 roundings (inference)
	scratch        bool // no gradient recorded: workspaces go back to the scratch pool after Forward
	// Optional pre-packed bfloat16 weights (RecurrentWeights.PackedIH/HH).
	packedIH, packedHH *BF16Weight
	masks              RecurrentMasks
	norm               RecurrentNorm

	// Saved by Forward for Backward.
	act *tensor.Tensor // (N, G·H): gate activations (LSTM i,f,g,o; GRU r,z,n; RNN h̃)
	cs  *tensor.Tensor // LSTM: (N, H) candidate cell states c̃
	cz  *tensor.Tensor // LSTM with cell zoneout: (N, H) cell states after zoneout
	hhn *tensor.Tensor // GRU: (N, H) W_hn·h₋₁ + b_hn
	// With normalisation: the normalised projections and cell (x̂) and
	// their reciprocal standard deviations (per row for layer norm; per
	// step and unit, T×width, for batch norm).
	xhatX, xhatH, xhatC *tensor.Tensor
	rsX, rsH, rsC       *tensor.Tensor
}

// recurrentArgs unpacks the input tensors of a recurrent function.
type recurrentArgs struct {
	x, h0, c0, wih, whh, bih, bhh, peep *tensor.Tensor
	gIH, gHH, gC, bC                    *tensor.Tensor
	n, in, hidden, batch, gates         int
}

func (f *recurrent) args(in []*tensor.Tensor) recurrentArgs {
	var a recurrentArgs
	a.x, a.h0 = in[0], in[1]
	k := 2
	if f.cell == LSTMCellKind {
		a.c0 = in[2]
		k = 3
	}
	a.wih, a.whh = in[k], in[k+1]
	k += 2
	if f.bias {
		a.bih, a.bhh = in[k], in[k+1]
		k += 2
	}
	if f.peephole {
		a.peep = in[k]
		k++
	}
	if f.norm.Kind != NoNorm {
		a.gIH, a.gHH = in[k], in[k+1]
		if f.cell == LSTMCellKind {
			a.gC, a.bC = in[k+2], in[k+3]
		}
	}
	sameType(f.cell.String()+" sequence", in...)
	a.gates = f.cell.Gates()
	bad := func(what string) {
		panic(fmt.Sprintf("fn: %v sequence: %s (x %v, h0 %v, WIH %v, WHH %v, batch sizes %v)", f.cell, what, a.x.Shape(), a.h0.Shape(), a.wih.Shape(), a.whh.Shape(), f.batchSizes))
	}
	if a.whh.NDim() != 2 || a.whh.Dim(0)%a.gates != 0 || a.whh.Dim(0) != a.gates*a.whh.Dim(1) {
		bad(fmt.Sprintf("WHH must be (%d·H, H)", a.gates))
	}
	a.hidden = a.whh.Dim(1)
	if a.x.NDim() != 2 || a.wih.NDim() != 2 || a.wih.Dim(0) != a.gates*a.hidden || a.wih.Dim(1) != a.x.Dim(1) {
		bad("x must be (N, I) and WIH (G·H, I)")
	}
	a.in = a.x.Dim(1)
	if len(f.batchSizes) == 0 {
		bad("no time steps")
	}
	a.n = 0
	for t, b := range f.batchSizes {
		if b <= 0 || (t > 0 && b > f.batchSizes[t-1]) {
			bad("batch sizes must be positive and non-increasing")
		}
		a.n += b
	}
	if a.x.Dim(0) != a.n {
		bad(fmt.Sprintf("x has %d rows but the batch sizes add up to %d", a.x.Dim(0), a.n))
	}
	a.batch = f.batchSizes[0]
	state := []int{a.batch, a.hidden}
	if !sliceEq(a.h0.Shape(), state) || (a.c0 != nil && !sliceEq(a.c0.Shape(), state)) {
		bad(fmt.Sprintf("initial states must be (%d, %d)", a.batch, a.hidden))
	}
	if a.bih != nil && (!sliceEq(a.bih.Shape(), []int{a.gates * a.hidden}) || !sliceEq(a.bhh.Shape(), []int{a.gates * a.hidden})) {
		bad(fmt.Sprintf("biases must be (%d) (got %v and %v)", a.gates*a.hidden, a.bih.Shape(), a.bhh.Shape()))
	}
	if a.peep != nil && !sliceEq(a.peep.Shape(), []int{3, a.hidden}) {
		bad(fmt.Sprintf("peephole weights must be (3, %d), got %v", a.hidden, a.peep.Shape()))
	}
	if a.gIH != nil {
		GH := a.gates * a.hidden
		if !sliceEq(a.gIH.Shape(), []int{GH}) || !sliceEq(a.gHH.Shape(), []int{GH}) || (a.gC != nil && (!sliceEq(a.gC.Shape(), []int{a.hidden}) || !sliceEq(a.bC.Shape(), []int{a.hidden}))) {
			bad(fmt.Sprintf("normalisation gains must be (%d) and the cell's (%d)", GH, a.hidden))
		}
	}
	m := f.masks
	for _, mk := range []struct {
		name string
		t    *tensor.Tensor
		rows int
	}{{"H", m.H, a.batch}, {"Candidate", m.Candidate, a.n}, {"ZoneH", m.ZoneH, a.n}, {"ZoneC", m.ZoneC, a.n}} {
		if mk.t != nil && (!sliceEq(mk.t.Shape(), []int{mk.rows, a.hidden}) || mk.t.DType() != a.x.DType()) {
			bad(fmt.Sprintf("mask %s is %v %v; want %v (%d, %d)", mk.name, mk.t.DType(), mk.t.Shape(), a.x.DType(), mk.rows, a.hidden))
		}
	}
	return a
}

func sliceEq(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// schedule lists the steps in processing order with each step's row
// offset into the packed arrays and the number of its rows whose previous
// state comes from the previous processed step (the rest start from the
// initial state).
type step struct{ t, off, rows, fromPrev, prevOff int }

func (f *recurrent) schedule() []step {
	bs := f.batchSizes
	offs := make([]int, len(bs))
	for t := 1; t < len(bs); t++ {
		offs[t] = offs[t-1] + bs[t-1]
	}
	steps := make([]step, 0, len(bs))
	for k := range bs {
		t := k
		if f.reverse {
			t = len(bs) - 1 - k
		}
		s := step{t: t, off: offs[t], rows: bs[t], prevOff: -1}
		switch {
		case !f.reverse && t > 0:
			s.fromPrev, s.prevOff = bs[t], offs[t-1]
		case f.reverse && t < len(bs)-1:
			s.fromPrev, s.prevOff = bs[t+1], offs[t+1]
		}
		steps = append(steps, s)
	}
	return steps
}

func (f *recurrent) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	a := f.args(in)
	ys := newLike(a.x, a.n, a.hidden)
	hN := a.h0.Clone()
	out := []*tensor.Tensor{ys, hN}
	// The gate and state workspaces are written in full before they are
	// read; float32 ones come from the pool (inference gives them back
	// after Forward, training after the first Backward).
	work := func(shape ...int) *tensor.Tensor {
		if f.recyclable(a.x) {
			return getScratch(shape...)
		}
		return newLike(a.x, shape...)
	}
	var cN *tensor.Tensor
	if a.c0 != nil {
		cN = a.c0.Clone()
		out = append(out, cN)
		f.cs = work(a.n, a.hidden)
		if f.masks.ZoneC != nil {
			f.cz = work(a.n, a.hidden)
		}
	}
	GH := a.gates * a.hidden
	f.act = work(a.n, GH)
	if f.cell == GRUCellKind {
		f.hhn = work(a.n, a.hidden)
	}
	if f.norm.Kind != NoNorm {
		f.xhatX, f.xhatH = newLike(a.x, a.n, GH), newLike(a.x, a.n, GH)
		T := len(f.batchSizes)
		if f.norm.Kind == LayerNormKind {
			f.rsX, f.rsH = newLike(a.x, a.n), newLike(a.x, a.n)
		} else {
			f.rsX, f.rsH = newLike(a.x, T, GH), newLike(a.x, T, GH)
		}
		if a.c0 != nil {
			f.xhatC = newLike(a.x, a.n, a.hidden)
			if f.norm.Kind == LayerNormKind {
				f.rsC = newLike(a.x, a.n)
			} else {
				f.rsC = newLike(a.x, T, a.hidden)
			}
		}
		if obs := f.norm.Observed; obs != nil && f.norm.Population == nil {
			obs.X, obs.H = make([]BatchNormStats, T), make([]BatchNormStats, T)
			if a.c0 != nil {
				obs.C = make([]BatchNormStats, T)
			}
		}
	}
	if a.x.DType() == tensor.Float64 {
		recurrentForward[float64](f, a, ys, hN, cN)
	} else {
		recurrentForward[float32](f, a, ys, hN, cN)
	}
	return out
}

// opt returns t's data, or nil for a nil tensor.
func opt[T kernel.Float](t *tensor.Tensor) []T {
	if t == nil {
		return nil
	}
	return data[T](t)
}

// rowsOf returns rows [off, off+b) of a (·, w) matrix, or nil for nil.
func rowsOf[T kernel.Float](v []T, off, b, w int) []T {
	if v == nil {
		return nil
	}
	return v[off*w : (off+b)*w]
}

// stepMasks are the masks of one step, nil where absent.
type stepMasks[T kernel.Float] struct{ cand, zh, zc []T }

// rows returns the masks of rows [lo, hi) of a step of width H.
func (m stepMasks[T]) rows(lo, hi, H int) stepMasks[T] {
	cut := func(v []T) []T {
		if v == nil {
			return nil
		}
		return v[lo*H : hi*H]
	}
	return stepMasks[T]{cut(m.cand), cut(m.zh), cut(m.zc)}
}

// cellGrain is the number of elements (rows × hidden units) of a step's
// elementwise cell update below which it stays on the calling goroutine.
const cellGrain = 1 << 12

// forRows runs f over the rows [0, b) of a step of width H, split across
// the worker pool when the step is large. The cell updates are independent
// row by row, so the result does not depend on the split.
func forRows(b, H int, f func(lo, hi int)) {
	kernel.ParallelFor(b, max(1, cellGrain/max(H, 1)), f)
}

// minGroupRows is the fewest batch rows a row group of a recurrent layer
// gets (see rowGroups).
const minGroupRows = 8

// rowGroups returns the number of row groups that run a recurrent layer's
// steps concurrently, each with single-threaded products: the worker
// pool's thread count when the rows are independent (separable) and the
// batch gives each group at least minGroupRows rows, else 1 (one group,
// whose products and cell updates use the pool step by step). A step's
// product is small — (B, H)·(H, G·H) — so splitting it across threads
// costs a synchronisation per step and duplicated packing of its left
// operand; whole groups synchronise once per sequence.
func rowGroups(separable bool, batch int) int {
	if !separable {
		return 1
	}
	return max(1, min(kernel.Threads(), batch/minGroupRows))
}

// normalizer applies the normalisation of a fused kernel to blocks of one
// step (or, for layer norm, of any rows).
type normalizer[T kernel.Float] struct {
	norm RecurrentNorm
}

func (n normalizer[T]) axis() statAxis {
	if n.norm.Kind == LayerNormKind {
		return perRow
	}
	return perColumn
}

// stats picks the statistics of step t from a list (fixed, population) or
// the slot to record them in (observed).
func pickStats(list []BatchNormStats, t int) *BatchNormStats {
	if len(list) == 0 {
		return nil
	}
	return &list[min(t, len(list)-1)]
}

// forward normalises block v (b rows × w) of step t, whose first packed row
// is off, into x̂ (saved in xhat rows) and leaves x̂ in v. which selects the
// statistics: 0 input projection, 1 recurrent projection, 2 cell.
func (n normalizer[T]) forward(v, xhat, rs []T, t, off, b, w, which int) {
	var mean, variance, om, ov []float64
	r := rs
	if n.norm.Kind == LayerNormKind {
		r = rs[off : off+b]
	} else {
		r = rs[t*w : (t+1)*w]
		pick := func(st *RecurrentNormStats) *BatchNormStats {
			if st == nil {
				return nil
			}
			return pickStats([][]BatchNormStats{st.X, st.H, st.C}[which], t)
		}
		if p := pick(n.norm.Population); p != nil {
			mean, variance = p.Mean, p.Var
		} else if o := pick(n.norm.Observed); o != nil {
			o.Mean, o.Var = make([]float64, w), make([]float64, w)
			om, ov = o.Mean, o.Var
		}
	}
	normForward(n.axis(), v, b, w, n.norm.Eps, r, mean, variance, om, ov)
	copy(xhat[off*w:(off+b)*w], v)
}

// backward turns d (b × w), the gradient with respect to x̂ of the block of
// step t, into the gradient before normalisation, in place.
func (n normalizer[T]) backward(d, xhat, rs []T, t, off, b, w int) {
	r := rs
	if n.norm.Kind == LayerNormKind {
		r = rs[off : off+b]
	} else {
		r = rs[t*w : (t+1)*w]
	}
	fixed := n.norm.Kind == BatchNormKind && n.norm.Population != nil
	normBackward(n.axis(), fixed, d, xhat[off*w:(off+b)*w], b, w, r)
}

func recurrentForward[T kernel.Float](f *recurrent, a recurrentArgs, yst, hNt, cNt *tensor.Tensor) {
	H, G := a.hidden, a.gates
	GH := G * H
	x, wih, whh := data[T](a.x), data[T](a.wih), data[T](a.whh)
	bih, bhh, peep := opt[T](a.bih), opt[T](a.bhh), opt[T](a.peep)
	ys, h, c := data[T](yst), data[T](hNt), opt[T](cNt)
	act, cs, cz, hhn := data[T](f.act), opt[T](f.cs), opt[T](f.cz), opt[T](f.hhn)
	hmask, cand, zoneH, zoneC := opt[T](f.masks.H), opt[T](f.masks.Candidate), opt[T](f.masks.ZoneH), opt[T](f.masks.ZoneC)
	normed := f.norm.Kind != NoNorm
	nz := normalizer[T]{f.norm}
	gIH, gHH, gC, bC := opt[T](a.gIH), opt[T](a.gHH), opt[T](a.gC), opt[T](a.bC)
	steps := f.schedule()

	// Input projection of all steps at once. The GRU keeps the recurrent
	// bias apart (it sits inside r⊙(…)); the other cells fold both biases
	// in. With normalisation the biases come after it.
	var bsum []T // the biases on the input side
	if bih != nil {
		bsum = bih
		if f.cell != GRUCellKind {
			bsum = make([]T, GH)
			kernel.Add(bsum, bih, bhh)
		}
	}
	// Without normalisation the LSTM and GRU add the input-side biases in
	// the elementwise step (the rows are in cache there), which spares a
	// pass over the whole (N, G·H) buffer; the Elman RNN fills them in
	// before the product.
	rowSplit := !normed && (f.cell == LSTMCellKind || f.cell == GRUCellKind)
	beta := T(0)
	if bsum != nil && !normed && !rowSplit {
		for r := 0; r < a.n; r++ {
			copy(act[r*GH:(r+1)*GH], bsum)
		}
		beta = 1
	}
	// With row groups (below) each group projects its own rows step by
	// step, just before the recurrent product, instead of all rows at once
	// here: single-threaded products of a few rows against a packed W_ih
	// run nearer the core's peak than one two-thread product, and the
	// group's x_t and gates stay in cache.
	// Layer norm works row by row too, so its steps can run in row groups;
	// its input projection is normalised up front, so it stays whole.
	groups := rowGroups(rowSplit || f.norm.Kind == LayerNormKind, a.batch)
	perStep := groups > 1 && rowSplit
	var wihT *kernel.PackedB[T]
	var wihB *kernel.PackedBF16
	switch {
	case perStep && f.bf16:
		wihB = packedOr(f.packedIH, as32(wih), GH, a.in)
	case perStep:
		wihT = kernel.PackB(true, a.in, GH, wih, a.in, a.batch/groups)
		defer wihT.Release()
	case f.bf16:
		pih := packedOr(f.packedIH, as32(wih), GH, a.in)
		kernel.GemmPackedBF16(a.n, 1, as32(x), a.in, pih, float32(beta), as32(act), GH)
	default:
		kernel.Gemm(false, true, a.n, GH, a.in, 1, x, a.in, wih, a.in, beta, act, GH)
	}
	// ihProduct computes c = W_ih·x for the b rows of x on one thread (row
	// groups only).
	ihProduct := func(b int, x []T, c []T) {
		if wihB != nil {
			kernel.GemmPackedBF16Threads(1, b, 1, as32(x), a.in, wihB, 0, as32(c), GH)
			return
		}
		kernel.GemmPackedThreads(1, false, b, 1, x, a.in, wihT, 0, c, GH)
	}
	if normed {
		xhatX, rsX := data[T](f.xhatX), data[T](f.rsX)
		if nz.axis() == perRow {
			nz.forward(act, xhatX, rsX, 0, 0, a.n, GH, 0)
		} else {
			for _, s := range steps {
				nz.forward(act[s.off*GH:(s.off+s.rows)*GH], xhatX, rsX, s.t, s.off, s.rows, GH, 0)
			}
		}
		affineForward(act, act, gIH, bsum, a.n, GH)
	}

	// W_hh is multiplied at every step: pack it once (Appleyard et al.).
	var whhT *kernel.PackedB[T]
	var whhB *kernel.PackedBF16
	if f.bf16 {
		whhB = packedOr(f.packedHH, as32(whh), GH, H)
	} else {
		whhT = kernel.PackB(true, H, GH, whh, H, a.batch)
		defer whhT.Release()
	}
	// hhProduct computes c = W_hh·hin (+ beta·c) for b rows on up to
	// threads threads.
	hhProduct := func(threads, b int, hin []T, beta T, c []T) {
		if whhB != nil {
			kernel.GemmPackedBF16Threads(threads, b, 1, as32(hin), H, whhB, float32(beta), as32(c), GH)
			return
		}
		kernel.GemmPackedThreads(threads, false, b, 1, hin, H, whhT, beta, c, GH)
	}
	var hh []T // recurrent pre-activations of one step (GRU, or normalised)
	if f.cell == GRUCellKind || normed {
		hh = make([]T, a.batch*GH)
	}
	var hm, hold, ctn []T // masked h₋₁ for W_hh; h₋₁ for zoneout; normalised cell
	if hmask != nil {
		hm = make([]T, a.batch*H)
	}
	if zoneH != nil {
		hold = make([]T, a.batch*H)
	}
	if normed && f.cell == LSTMCellKind {
		ctn = make([]T, a.batch*H)
	}
	// cellSlices are the operands of the elementwise part of a step
	// without normalisation, for some of its rows.
	type cellSlices struct {
		gates, hs, c, ct, h, hhn []T
		m                        stepMasks[T]
	}
	// cellRows runs that elementwise part on rows [lo, hi) of cur.
	cellRows := func(cur *cellSlices, lo, hi int) {
		g, hr := cur.gates[lo*GH:hi*GH], cur.h[lo*H:hi*H]
		m := cur.m.rows(lo, hi, H)
		if bsum != nil {
			for r := range hi - lo {
				gr := g[r*GH : (r+1)*GH]
				kernel.Add(gr, gr, bsum)
			}
		}
		switch f.cell {
		case LSTMCellKind:
			ct := cur.ct[lo*H : hi*H]
			lstmGatesStep(g, cur.c[lo*H:hi*H], ct, peep, m, hi-lo, H)
			lstmOutputStep(g, ct, ct, hr, peep, hi-lo, H)
		case GRUCellKind:
			gruForwardStep(g, cur.hs[lo*GH:hi*GH], hr, cur.hhn[lo*H:hi*H], m.cand, hi-lo, H)
		}
	}
	// One sequence-wide closure splits a whole step's elementwise part
	// across the worker pool; the loop sets the step's slices in whole.
	var whole cellSlices
	wholeRows := func(lo, hi int) { cellRows(&whole, lo, hi) }

	// stepRows runs rows [lo, hi) of step s (clipped to its active rows),
	// with products on up to threads threads (≤ 0: the pool's default).
	// Rows of the recurrence never mix without normalisation or with
	// layer norm, so then disjoint row groups may run the whole sequence
	// concurrently; otherwise it is called with the full batch.
	stepRows := func(s step, lo, hi, threads int) {
		hi = min(hi, s.rows)
		if lo >= hi {
			return
		}
		b := hi - lo
		o := s.off + lo // the first packed row
		gates := act[o*GH : (o+b)*GH]
		hprev := h[lo*H : hi*H] // the running state: rows not yet active still hold h0
		hin := hprev
		if hmask != nil {
			hin = hm[lo*H : hi*H]
			kernel.Mul(hin, hprev, hmask[lo*H:hi*H])
		}
		if hold != nil {
			copy(hold[lo*H:hi*H], hprev)
		}
		m := stepMasks[T]{rowsOf(cand, o, b, H), rowsOf(zoneH, o, b, H), rowsOf(zoneC, o, b, H)}
		var hs []T
		switch {
		case normed:
			// W_hh·h₋₁, normalised, then scaled; the GRU adds b_hh here, the
			// others had both biases folded into the input side.
			hs = hh[lo*GH : hi*GH]
			kernel.GemmPackedThreads(threads, false, b, 1, hin, H, whhT, 0, hs, GH)
			nz.forward(hs, data[T](f.xhatH), data[T](f.rsH), s.t, o, b, GH, 1)
			if f.cell == GRUCellKind {
				affineForward(hs, hs, gHH, bhh, b, GH)
			} else {
				affineForward(hs, hs, gHH, nil, b, GH)
				kernel.Add(gates, gates, hs)
			}
		case f.cell == GRUCellKind:
			if perStep {
				ihProduct(b, x[o*a.in:(o+b)*a.in], gates)
			}
			hs = hh[lo*GH : hi*GH]
			hb := T(0) // W_hh·h₋₁ + b_hh
			if bhh != nil {
				for r := 0; r < b; r++ {
					copy(hs[r*GH:(r+1)*GH], bhh)
				}
				hb = 1
			}
			hhProduct(threads, b, hin, hb, hs)
		default:
			if perStep {
				ihProduct(b, x[o*a.in:(o+b)*a.in], gates)
			}
			hhProduct(threads, b, hin, 1, gates)
		}
		switch {
		case rowSplit:
			cur := cellSlices{gates: gates, hs: hs, h: hprev, m: m}
			if f.cell == LSTMCellKind {
				cur.c, cur.ct = c[lo*H:hi*H], cs[o*H:(o+b)*H]
			} else {
				cur.hhn = hhn[o*H : (o+b)*H]
			}
			if threads == 1 {
				cellRows(&cur, 0, b)
			} else {
				whole = cur
				forRows(b, H, wholeRows)
			}
			if cz != nil {
				copy(cz[o*H:(o+b)*H], c[lo*H:hi*H])
			}
		case f.cell == GRUCellKind:
			gruForwardStep(gates, hs, hprev, hhn[o*H:(o+b)*H], m.cand, b, H)
		case f.cell == LSTMCellKind:
			ct := cs[o*H : (o+b)*H]
			lstmGatesStep(gates, c[lo*H:hi*H], ct, peep, m, b, H)
			arg := ct
			if normed {
				arg = ctn[lo*H : hi*H]
				copy(arg, ct)
				nz.forward(arg, data[T](f.xhatC), data[T](f.rsC), s.t, o, b, H, 2)
				affineForward(arg, arg, gC, bC, b, H)
			}
			lstmOutputStep(gates, ct, arg, hprev, peep, b, H)
			if cz != nil {
				copy(cz[o*H:(o+b)*H], c[lo*H:hi*H])
			}
		default:
			if f.cell == RNNTanhCellKind {
				kernel.Tanh(gates, gates)
			} else {
				for i, v := range gates {
					gates[i] = max(v, 0)
				}
			}
			copy(hprev, gates)
		}
		if m.zh != nil { // h = z⊙h₋₁ + (1−z)⊙h̃
			old := hold[lo*H : hi*H]
			for i, z := range m.zh {
				hprev[i] = z*old[i] + (1-z)*hprev[i]
			}
		}
		copy(ys[o*H:(o+b)*H], hprev)
	}
	if groups > 1 {
		kernel.ParallelFor(a.batch, a.batch/groups, func(lo, hi int) {
			for _, s := range steps {
				stepRows(s, lo, hi, 1)
			}
		})
		return
	}
	for _, s := range steps {
		stepRows(s, 0, s.rows, 0)
	}
}

// lstmForwardStep is a whole LSTM step without normalisation: see
// lstmGatesStep and lstmOutputStep.
func lstmForwardStep[T kernel.Float](gates, c, h, ct, peep []T, m stepMasks[T], b, H int) {
	lstmGatesStep(gates, c, ct, peep, m, b, H)
	lstmOutputStep(gates, ct, ct, h, peep, b, H)
}

// lstmGatesStep turns the pre-activations in gates (b, 4H) into the gate
// activations i, f, g in place, writes the candidate cell
// c̃ = f⊙c₋₁ + i⊙(m⊙g) into ct and updates the cell state c (b, H) from
// c₋₁ to c (= c̃, or z_c⊙c₋₁ + (1−z_c)⊙c̃ with zoneout). Peephole
// weights, when given, add p_i⊙c₋₁ and p_f⊙c₋₁ to i and f.
func lstmGatesStep[T kernel.Float](gates, c, ct, peep []T, m stepMasks[T], b, H int) {
	G := 4 * H
	for r := 0; r < b; r++ {
		g := gates[r*G : (r+1)*G]
		ai, af, ag := g[:H], g[H:2*H], g[2*H:3*H]
		cr, ctr := c[r*H:(r+1)*H], ct[r*H:(r+1)*H]
		if peep != nil {
			for j := range H {
				ai[j] += peep[j] * cr[j]
				af[j] += peep[H+j] * cr[j]
			}
		}
		kernel.Sigmoid(g[:2*H], g[:2*H])
		kernel.Tanh(ag, ag)
		if m.cand != nil {
			mr := m.cand[r*H : (r+1)*H]
			for j := range H {
				ctr[j] = af[j]*cr[j] + ai[j]*ag[j]*mr[j]
			}
		} else {
			for j := range H {
				ctr[j] = af[j]*cr[j] + ai[j]*ag[j]
			}
		}
		if m.zc != nil {
			zr := m.zc[r*H : (r+1)*H]
			for j := range H {
				cr[j] = zr[j]*cr[j] + (1-zr[j])*ctr[j]
			}
		} else {
			copy(cr, ctr)
		}
	}
}

// lstmOutputStep computes the output gate o = σ(a_o + p_o⊙c̃) in place in
// gates and h̃ = o⊙tanh(arg), where arg is c̃ or, with normalisation,
// γ_c⊙LN(c̃) + β_c.
func lstmOutputStep[T kernel.Float](gates, ct, arg, h, peep []T, b, H int) {
	G := 4 * H
	for r := 0; r < b; r++ {
		ao := gates[r*G+3*H : (r+1)*G]
		ctr, hr := ct[r*H:(r+1)*H], h[r*H:(r+1)*H]
		if peep != nil {
			for j := range H {
				ao[j] += peep[2*H+j] * ctr[j]
			}
		}
		kernel.Sigmoid(ao, ao)
		kernel.Tanh(hr, arg[r*H:(r+1)*H])
		kernel.Mul(hr, hr, ao)
	}
}

// gruForwardStep computes a GRU step: xg (b, 3H) holds the input
// pre-activations and becomes the activations r, z, n; hh (b, 3H) holds
// W_hh·h₋₁ + b_hh; hhn receives its n block for the backward pass; h is
// updated from h₋₁ to h̃ = (1−z)⊙(m⊙n) + z⊙h₋₁ in place (m = 1 without
// a candidate mask).
func gruForwardStep[T kernel.Float](xg, hh, h, hhn, cand []T, b, H int) {
	G := 3 * H
	for r := 0; r < b; r++ {
		g, q := xg[r*G:(r+1)*G], hh[r*G:(r+1)*G]
		kernel.Add(g[:2*H], g[:2*H], q[:2*H])
		kernel.Sigmoid(g[:2*H], g[:2*H])
		rr, z, n := g[:H], g[H:2*H], g[2*H:]
		qn := q[2*H:]
		copy(hhn[r*H:(r+1)*H], qn)
		for j := range H {
			n[j] += rr[j] * qn[j]
		}
		kernel.Tanh(n, n)
		hr := h[r*H : (r+1)*H]
		if cand != nil {
			mr := cand[r*H : (r+1)*H]
			for j := range H {
				nd := n[j] * mr[j]
				hr[j] = nd + z[j]*(hr[j]-nd)
			}
			continue
		}
		for j := range H {
			hr[j] = n[j] + z[j]*(hr[j]-n[j])
		}
	}
}

func (f *recurrent) Backward(in, out, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	return f.BackwardInto(in, out, gy, nil, need)
}

// recyclable reports whether the workspaces of f's forward pass on x come
// from the scratch pool and go back to it: float32 workspaces of
// inference, or of training without normalisation (whose batch
// statistics a recomputation would record again).
func (f *recurrent) recyclable(x *tensor.Tensor) bool {
	return x.DType() == tensor.Float32 && (f.scratch || f.norm.Kind == NoNorm)
}

// release gives the forward pass's workspaces back to the scratch pool
// once a backward pass is done with them; a later Backward on the same
// graph recomputes them (the masks are kept, so the recomputation is
// exact).
func (f *recurrent) release() {
	for _, t := range []*tensor.Tensor{f.act, f.cs, f.cz, f.hhn} {
		putScratch(t)
	}
	f.act, f.cs, f.cz, f.hhn = nil, nil, nil, nil
}

// BackwardInto adds the gradients of W_ih and W_hh (products with beta =
// 1), and of the biases without normalisation (row sums), straight into
// their buffers in into; the other gradients are returned.
func (f *recurrent) BackwardInto(in, out, gy, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	a := f.args(in)
	w := 2 // the index of W_ih: after x, h0 (and c0)
	if f.cell == LSTMCellKind {
		w = 3
	}
	additive := func(i int) bool {
		return i == w || i == w+1 || (f.bias && f.norm.Kind == NoNorm && (i == w+2 || i == w+3))
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
	if f.act == nil {
		f.Forward(in) // a second Backward: the workspaces were released
	}
	if a.x.DType() == tensor.Float64 {
		recurrentBackward[float64](f, a, out, gy, gx, acc)
	} else {
		recurrentBackward[float32](f, a, out, gy, gx, acc)
	}
	if f.recyclable(a.x) {
		f.release()
	}
	for i := range gx {
		if !need[i] || (into != nil && into[i] != nil && additive(i)) {
			gx[i] = nil
		}
	}
	return gx
}

// gatherPrev fills prev (N, H) with the previous state of every packed row:
// the output of the previous processed step for rows that have one, the
// initial state for the rest.
func gatherPrev[T kernel.Float](prev, seqOut, init []T, steps []step, H int) {
	for _, s := range steps {
		dst := prev[s.off*H : (s.off+s.rows)*H]
		k := 0
		if s.prevOff >= 0 {
			k = s.fromPrev
			copy(dst[:k*H], seqOut[s.prevOff*H:(s.prevOff+k)*H])
		}
		copy(dst[k*H:], init[k*H:s.rows*H])
	}
}

func recurrentBackward[T kernel.Float](f *recurrent, a recurrentArgs, out, gyt, gxt []*tensor.Tensor, accW bool) {
	H, G, N, B := a.hidden, a.gates, a.n, a.batch
	GH := G * H
	steps := f.schedule()
	ys := data[T](out[0])
	act := data[T](f.act)
	whh, wih, x := data[T](a.whh), data[T](a.wih), data[T](a.x)
	peep := opt[T](a.peep)
	hmask, cand, zoneH, zoneC := opt[T](f.masks.H), opt[T](f.masks.Candidate), opt[T](f.masks.ZoneH), opt[T](f.masks.ZoneC)
	normed := f.norm.Kind != NoNorm
	nz := normalizer[T]{f.norm}
	gIH, gHH, gC, bC := opt[T](a.gIH), opt[T](a.gHH), opt[T](a.gC), opt[T](a.bC)

	// Running gradients of the state, seeded with those of the final state.
	dh := make([]T, B*H)
	if gyt[1] != nil {
		copy(dh, data[T](gyt[1]))
	}
	var dc []T
	if f.cell == LSTMCellKind {
		dc = make([]T, B*H)
		if len(gyt) > 2 && gyt[2] != nil {
			copy(dc, data[T](gyt[2]))
		}
	}
	var gys []T
	if gyt[0] != nil {
		gys = data[T](gyt[0])
	}

	// hprev: the state each row started from; hin: what entered W_hh.
	// The workspaces below are written in full before they are read, so
	// recycled float32 buffers do (no zeroing of tens of megabytes).
	var work [][]T
	defer func() {
		for _, w := range work {
			putWork(w)
		}
	}()
	newWork := func(n int) []T {
		w := getWork[T](n)
		work = append(work, w)
		return w
	}
	hprev := newWork(N * H)
	gatherPrev(hprev, ys, data[T](a.h0), steps, H)
	hin := hprev
	if hmask != nil {
		hin = newWork(N * H)
		for _, s := range steps {
			kernel.Mul(hin[s.off*H:(s.off+s.rows)*H], hprev[s.off*H:(s.off+s.rows)*H], hmask[:s.rows*H])
		}
	}
	var cprev, cs []T
	if f.cell == LSTMCellKind {
		cs = data[T](f.cs)
		cSeries := cs
		if f.cz != nil {
			cSeries = data[T](f.cz)
		}
		cprev = newWork(N * H)
		gatherPrev(cprev, cSeries, data[T](a.c0), steps, H)
	}
	dgx := newWork(N * GH) // gradient of the input pre-activations
	dgh := dgx             // gradient of the recurrent pre-activations
	if f.cell == GRUCellKind || normed {
		dgh = newWork(N * GH)
	}
	var dpeep []T
	if peep != nil {
		dpeep = make([]T, 3*H)
	}
	// Gradients of the normalisation parameters, and of b_hh for a
	// normalised GRU (accumulated per step, before dgh is turned into the
	// gradient of the unnormalised projection).
	var dgIH, dgHH, dgC, dbC, dbHH, arg []T
	if normed {
		dgIH, dgHH = make([]T, GH), make([]T, GH)
		if f.cell == LSTMCellKind {
			dgC, dbC, arg = make([]T, H), make([]T, H), make([]T, B*H)
		}
		if f.cell == GRUCellKind {
			dbHH = make([]T, GH)
		}
	}
	// direct says whether h₋₁ has a gradient besides the path through W_hh
	// (the GRU's z⊙h₋₁, zoneout), which the cell step leaves in dh.
	direct := f.cell == GRUCellKind || zoneH != nil
	whhP := kernel.PackB(false, GH, H, whh, H, B) // for dh₋₁ = dgh·W_hh at every step
	defer whhP.Release()
	var tmp, scratch, zbuf []T
	if hmask != nil {
		tmp = make([]T, B*H)
	}
	if zoneH != nil {
		zbuf = make([]T, B*H)
	}
	if f.cell == LSTMCellKind {
		scratch = make([]T, B*H)
	}

	// The elementwise backward of a step without normalisation or
	// peepholes (whose gradients sum over rows), for some of its rows.
	type cellSlices struct {
		dgx, dgh, dh, dc, act, ct, cprev, hhn, hprev, scratch []T
		m                                                     stepMasks[T]
	}
	cellRows := func(cur *cellSlices, lo, hi int) {
		m := cur.m.rows(lo, hi, H)
		rh := func(v []T) []T { return v[lo*H : hi*H] }
		rg := func(v []T) []T { return v[lo*GH : hi*GH] }
		switch f.cell {
		case LSTMCellKind:
			ct := rh(cur.ct)
			lstmBackwardStep(rg(cur.dgx), rh(cur.dh), rh(cur.dc), rg(cur.act), ct, ct, rh(cur.cprev), nil, nil, m, rh(cur.scratch), nil, hi-lo, H)
		case GRUCellKind:
			gruBackwardStep(rg(cur.dgx), rg(cur.dgh), rh(cur.dh), rg(cur.act), rh(cur.hhn), rh(cur.hprev), m.cand, hi-lo, H)
		}
	}
	// One sequence-wide closure splits a whole step's elementwise part
	// across the worker pool; the loop sets the step's slices in whole.
	var whole cellSlices
	wholeRows := func(lo, hi int) { cellRows(&whole, lo, hi) }
	rowSplit := !normed && peep == nil && (f.cell == LSTMCellKind || f.cell == GRUCellKind)

	// stepRows runs the backward pass of rows [lo, hi) of step s (clipped
	// to its active rows) with products on up to threads threads, as
	// stepRows does forward.
	// normGrads are the sums over rows of the normalisation parameters'
	// gradients (and of b_hh for a normalised GRU) that the steps add to;
	// row groups keep their own and add them up in order at the end.
	type normGrads struct{ gHH, bHH, gC, bC []T }
	all := normGrads{dgHH, dbHH, dgC, dbC}
	stepRows := func(s step, lo, hi, threads int, ng *normGrads) {
		hi = min(hi, s.rows)
		if lo >= hi {
			return
		}
		b, o := hi-lo, s.off+lo
		if gys != nil {
			kernel.Axpy(1, gys[o*H:(o+b)*H], dh[lo*H:hi*H])
		}
		rows := func(v []T, w int) []T { return rowsOf(v, o, b, w) }
		m := stepMasks[T]{rows(cand, H), rows(zoneH, H), rows(zoneC, H)}
		dhb := dh[lo*H : hi*H]
		// Zoneout on h: h = z⊙h₋₁ + (1−z)⊙h̃. Split dh into the part for
		// h̃ (kept in dh) and the direct part for h₋₁ (in zdh).
		var zdh []T
		if m.zh != nil {
			zdh = zbuf[lo*H : hi*H]
			for i, z := range m.zh {
				zdh[i] = z * dhb[i]
				dhb[i] -= zdh[i]
			}
		}
		switch {
		case rowSplit:
			cur := cellSlices{dgx: rows(dgx, GH), dh: dhb, act: rows(act, GH), m: m}
			if f.cell == LSTMCellKind {
				cur.dc, cur.ct, cur.cprev, cur.scratch = dc[lo*H:hi*H], rows(cs, H), rows(cprev, H), scratch[lo*H:hi*H]
			} else {
				cur.dgh, cur.hhn, cur.hprev = rows(dgh, GH), rows(data[T](f.hhn), H), rows(hprev, H)
			}
			if threads == 1 {
				cellRows(&cur, 0, b)
			} else {
				whole = cur
				forRows(b, H, wholeRows)
			}
			if f.cell == LSTMCellKind && direct {
				clear(dhb)
			}
		case f.cell == LSTMCellKind:
			ct := rows(cs, H)
			targ := ct // the argument of the output tanh
			var normC func(d []T)
			if normed {
				targ = arg[lo*H : hi*H]
				affineForward(targ, rows(data[T](f.xhatC), H), gC, bC, b, H)
				normC = func(d []T) {
					affineBackward(d, rows(data[T](f.xhatC), H), gC, ng.gC, ng.bC, b, H)
					nz.backward(d, data[T](f.xhatC), data[T](f.rsC), s.t, o, b, H)
				}
			}
			lstmBackwardStep(rows(dgx, GH), dhb, dc[lo*H:hi*H], rows(act, GH), ct, targ, rows(cprev, H), peep, dpeep, m, scratch[lo*H:hi*H], normC, b, H)
			if direct {
				clear(dhb)
			}
		case f.cell == GRUCellKind:
			gruBackwardStep(rows(dgx, GH), rows(dgh, GH), dhb, rows(act, GH), rows(data[T](f.hhn), H), rows(hprev, H), m.cand, b, H)
		default:
			d, y := rows(dgx, GH), rows(act, H)
			if f.cell == RNNTanhCellKind {
				for i, g := range dhb {
					d[i] = g * (1 - y[i]*y[i])
				}
			} else {
				for i, g := range dhb {
					if y[i] > 0 {
						d[i] = g
					} else {
						d[i] = 0
					}
				}
			}
			if direct {
				clear(dhb)
			}
		}
		if normed {
			// From the gradient of γ_h⊙ĥ (+ b_hh) to that of W_hh·h₋₁.
			d := rows(dgh, GH)
			if f.cell != GRUCellKind {
				copy(d, rows(dgx, GH))
			}
			affineBackward(d, rows(data[T](f.xhatH), GH), gHH, ng.gHH, ng.bHH, b, GH)
			nz.backward(d, data[T](f.xhatH), data[T](f.rsH), s.t, o, b, GH)
		}
		if zdh != nil {
			kernel.Axpy(1, zdh, dhb)
		}
		// dh₋₁ = (dgh·W_hh)⊙m_h + the direct part already in dh.
		beta := T(0)
		if direct {
			beta = 1
		}
		if hmask == nil {
			kernel.GemmPackedThreads(threads, false, b, 1, rows(dgh, GH), GH, whhP, beta, dhb, H)
		} else {
			t := tmp[lo*H : hi*H]
			kernel.GemmPackedThreads(threads, false, b, 1, rows(dgh, GH), GH, whhP, 0, t, H)
			kernel.Mul(t, t, hmask[lo*H:hi*H])
			if direct {
				kernel.Axpy(1, t, dhb)
			} else {
				copy(dhb, t)
			}
		}
	}
	// Layer norm works row by row too (peepholes sum over rows, as do the
	// normalisation parameters, kept apart per group).
	if groups := rowGroups(rowSplit || (f.norm.Kind == LayerNormKind && peep == nil), B); groups > 1 {
		chunk := (B + groups - 1) / groups
		parts := make([]normGrads, groups)
		for g := range parts {
			if normed {
				parts[g] = normGrads{gHH: make([]T, GH), gC: make([]T, len(dgC)), bC: make([]T, len(dbC))}
				if dbHH != nil {
					parts[g].bHH = make([]T, GH)
				}
			}
		}
		kernel.ParallelFor(groups, 1, func(g0, g1 int) {
			for g := g0; g < g1; g++ {
				lo, hi := g*chunk, min(B, (g+1)*chunk)
				for k := len(steps) - 1; k >= 0; k-- {
					stepRows(steps[k], lo, hi, 1, &parts[g])
				}
			}
		})
		for _, pg := range parts {
			for _, v := range [][2][]T{{all.gHH, pg.gHH}, {all.bHH, pg.bHH}, {all.gC, pg.gC}, {all.bC, pg.bC}} {
				if v[0] != nil {
					kernel.Add(v[0], v[0], v[1])
				}
			}
		}
	} else {
		for k := len(steps) - 1; k >= 0; k-- {
			stepRows(steps[k], 0, steps[k].rows, 0, &all)
		}
	}

	// Gradients of the inputs and weights over the whole sequence.
	idx := 2
	if f.cell == LSTMCellKind {
		idx = 3
	}
	gIdxW := idx // weight_ih, weight_hh, then biases
	idx += 2
	if f.bias {
		gIH, gHH := gxt[idx], gxt[idx+1]
		// Both biases' gradients are row sums of dgx, except for the GRU
		// (of dgh) and the normalised GRU (dbHH): sum dgx's rows once.
		hhFromX := dbHH == nil && (normed || len(dgh) == 0 || &dgh[0] == &dgx[0])
		if gIH != nil || (gHH != nil && hhFromX) {
			sum := make([]T, GH)
			sumRowsInto(sum, dgx, N, GH)
			if gIH != nil {
				kernel.Axpy(1, sum, data[T](gIH))
			}
			if gHH != nil && hhFromX {
				kernel.Axpy(1, sum, data[T](gHH))
			}
		}
		if gHH != nil && !hhFromX {
			if dbHH != nil {
				copy(data[T](gHH), dbHH)
			} else {
				sumRowsInto(data[T](gHH), dgh, N, GH)
			}
		}
		idx += 2
	}
	if f.peephole {
		if gxt[idx] != nil {
			copy(data[T](gxt[idx]), dpeep)
		}
		idx++
	}
	if normed {
		// From the gradient of γ_x⊙x̂ + b to that of W_ih·x.
		affineBackward(dgx, data[T](f.xhatX), gIH, dgIH, nil, N, GH)
		if nz.axis() == perRow {
			nz.backward(dgx, data[T](f.xhatX), data[T](f.rsX), 0, 0, N, GH)
		} else {
			for _, s := range steps {
				nz.backward(dgx[s.off*GH:(s.off+s.rows)*GH], data[T](f.xhatX), data[T](f.rsX), s.t, s.off, s.rows, GH)
			}
		}
		for i, g := range [][]T{dgIH, dgHH, dgC, dbC} {
			if g != nil && gxt[idx+i] != nil {
				copy(data[T](gxt[idx+i]), g)
			}
		}
	}
	if g := gxt[0]; g != nil {
		kernel.Gemm(false, false, N, a.in, GH, 1, dgx, GH, wih, a.in, 0, data[T](g), a.in)
	}
	if g := gxt[1]; g != nil {
		copy(data[T](g), dh)
	}
	if f.cell == LSTMCellKind && gxt[2] != nil {
		copy(data[T](gxt[2]), dc)
	}
	betaW := T(0) // with accW, the weight gradients are added to gxt's
	if accW {
		betaW = 1
	}
	if g := gxt[gIdxW]; g != nil {
		kernel.Gemm(true, false, GH, a.in, N, 1, dgx, GH, x, a.in, betaW, data[T](g), a.in)
	}
	if g := gxt[gIdxW+1]; g != nil {
		kernel.Gemm(true, false, GH, H, N, 1, dgh, GH, hin, H, betaW, data[T](g), H)
	}
}

// lstmBackwardStep computes, for one step of b rows, the gradients of the
// gate pre-activations d (b, 4H) from dh (the gradient of h̃) and dc (of
// the cell state c), and replaces dc with the gradient of c₋₁. ct holds the
// candidate cells c̃ and arg the argument of the output tanh (c̃, or its
// normalisation γ_c⊙LN(c̃) + β_c, in which case normC turns a gradient with
// respect to arg into one with respect to c̃). With peepholes it
// accumulates their gradients into dpeep (3H). With a candidate mask m, g
// enters as m⊙g; with cell zoneout z_c, c = z_c⊙c₋₁ + (1−z_c)⊙c̃. scratch
// holds b×H values.
//
//	dc̃ = (1−z_c)⊙dc,              tc = tanh(arg)
//	dâ_o = dh⊙tc⊙o(1−o)
//	dc̃ ← dc̃ + ∂arg/∂c̃ᵀ(dh⊙o⊙(1−tc²)) + dâ_o⊙p_o
//	dâ_i = dc̃⊙m⊙g⊙i(1−i),  dâ_f = dc̃⊙c₋₁⊙f(1−f),  dâ_g = dc̃⊙i⊙m⊙(1−g²)
//	dc₋₁ = dc̃⊙f + z_c⊙dc + dâ_i⊙p_i + dâ_f⊙p_f
func lstmBackwardStep[T kernel.Float](d, dh, dc, act, ct, arg, cprev, peep, dpeep []T, m stepMasks[T], scratch []T, normC func([]T), b, H int) {
	G := 4 * H
	if peep == nil && m.cand == nil && m.zc == nil && normC == nil && len(arg) > 0 && &arg[0] == &ct[0] {
		// The plain cell: the leading columns of each row in SIMD
		// (kernel.LSTMBackwardRow), the rest below, same arithmetic.
		for r := 0; r < b; r++ {
			rg, rh := d[r*G:(r+1)*G], dh[r*H:(r+1)*H]
			ra, rc, rp := act[r*G:(r+1)*G], ct[r*H:(r+1)*H], cprev[r*H:(r+1)*H]
			rd := dc[r*H : (r+1)*H]
			if j0 := kernel.LSTMBackwardRow(rg, rh, rd, ra, rc, rp, H); j0 < H {
				lstmBackwardCols(rg, rh, rd, ra, rc, rc, rp, nil, nil, m, scratch[r*H:(r+1)*H], nil, 1, H, j0)
			}
		}
		return
	}
	lstmBackwardCols(d, dh, dc, act, ct, arg, cprev, peep, dpeep, m, scratch, normC, b, H, 0)
}

// lstmBackwardCols is lstmBackwardStep on the columns [j0, H) of each row
// (j0 > 0 only without peepholes, masks and normalisation).
func lstmBackwardCols[T kernel.Float](d, dh, dc, act, ct, arg, cprev, peep, dpeep []T, m stepMasks[T], scratch []T, normC func([]T), b, H, j0 int) {
	G := 4 * H
	// Phase 1: the output gate and the gradient reaching arg through h.
	for r := 0; r < b; r++ {
		o := act[r*G+3*H : (r+1)*G]
		do := d[r*G+3*H : (r+1)*G]
		dhr, dar := dh[r*H:(r+1)*H], scratch[r*H:(r+1)*H]
		kernel.Tanh(do[j0:], arg[r*H+j0:(r+1)*H]) // tc, kept in do until replaced below
		for j := j0; j < H; j++ {
			tc := do[j]
			do[j] = dhr[j] * tc * o[j] * (1 - o[j])
			dar[j] = dhr[j] * o[j] * (1 - tc*tc)
		}
	}
	if normC != nil {
		normC(scratch)
	}
	// Phase 2: the cell and the other gates.
	for r := 0; r < b; r++ {
		a := act[r*G : (r+1)*G]
		i, f, g := a[:H], a[H:2*H], a[2*H:3*H]
		dr := d[r*G : (r+1)*G]
		di, df, dg, do := dr[:H], dr[H:2*H], dr[2*H:3*H], dr[3*H:]
		cr, cp := ct[r*H:(r+1)*H], cprev[r*H:(r+1)*H]
		dcr, dar := dc[r*H:(r+1)*H], scratch[r*H:(r+1)*H]
		var mr, zr []T
		if m.cand != nil {
			mr = m.cand[r*H : (r+1)*H]
		}
		if m.zc != nil {
			zr = m.zc[r*H : (r+1)*H]
		}
		for j := j0; j < H; j++ {
			dcIn, keep := dcr[j], T(0)
			if zr != nil {
				keep = zr[j] * dcIn
				dcIn -= keep
			}
			dct := dcIn + dar[j]
			if peep != nil {
				dct += do[j] * peep[2*H+j]
			}
			gm, mj := g[j], T(1)
			if mr != nil {
				mj = mr[j]
				gm *= mj
			}
			di[j] = dct * gm * i[j] * (1 - i[j])
			df[j] = dct * cp[j] * f[j] * (1 - f[j])
			dg[j] = dct * i[j] * mj * (1 - g[j]*g[j])
			dcr[j] = dct*f[j] + keep
		}
		if peep != nil {
			for j := range H {
				dcr[j] += di[j]*peep[j] + df[j]*peep[H+j]
				dpeep[j] += di[j] * cp[j]
				dpeep[H+j] += df[j] * cp[j]
				dpeep[2*H+j] += do[j] * cr[j]
			}
		}
	}
}

// gruBackwardStep computes, for one step of b rows, the gradients of the
// input pre-activations dx (b, 3H) and the recurrent pre-activations dhh
// (b, 3H) from dh (the gradient of h̃), and replaces dh with the direct
// part of the gradient of h₋₁ (z⊙dh; the part through W_hh is added by
// the caller). With a candidate mask m, n enters as m⊙n.
//
//	dn = dh⊙(1−z)⊙m,  dâ_n = dn⊙(1−n²)
//	dz = dh⊙(h₋₁−m⊙n), dâ_z = dz⊙z(1−z)
//	dr = dâ_n⊙(W_hn·h₋₁+b_hn), dâ_r = dr⊙r(1−r)
//	dx = [dâ_r, dâ_z, dâ_n],  dhh = [dâ_r, dâ_z, dâ_n⊙r]
func gruBackwardStep[T kernel.Float](dx, dhh, dh, act, hhn, hprev, cand []T, b, H int) {
	G := 3 * H
	for r := 0; r < b; r++ {
		a := act[r*G : (r+1)*G]
		rr, z, n := a[:H], a[H:2*H], a[2*H:]
		ddx, ddh := dx[r*G:(r+1)*G], dhh[r*G:(r+1)*G]
		q, hp, dhr := hhn[r*H:(r+1)*H], hprev[r*H:(r+1)*H], dh[r*H:(r+1)*H]
		for j := range H {
			g, mj := dhr[j], T(1)
			if cand != nil {
				mj = cand[r*H+j]
			}
			dan := g * (1 - z[j]) * mj * (1 - n[j]*n[j])
			daz := g * (hp[j] - mj*n[j]) * z[j] * (1 - z[j])
			dar := dan * q[j] * rr[j] * (1 - rr[j])
			ddx[j], ddx[H+j], ddx[2*H+j] = dar, daz, dan
			ddh[j], ddh[H+j], ddh[2*H+j] = dar, daz, dan*rr[j]
			dhr[j] = g * z[j]
		}
	}
}

// as32 is x as []float32; T must be float32 (the bfloat16 paths check).
func as32[T kernel.Float](x []T) []float32 { return any(x).([]float32) }
