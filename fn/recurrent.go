package fn

import (
	"fmt"

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
}

// Sequence describes a packed batch of sequences: time-major, sorted by
// decreasing length, so step t holds the first BatchSizes[t] sequences and
// BatchSizes is non-increasing. The packed input has Σ BatchSizes rows.
// With Reverse the cell runs from each sequence's last step to its first.
type Sequence struct {
	BatchSizes []int
	Reverse    bool
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
	f := &recurrent{cell: cell, batchSizes: seq.BatchSizes, reverse: seq.Reverse}
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
	return autograd.Apply(f, in...)
}

// recurrent is the fused sequence function for every cell kind.
type recurrent struct {
	cell           Cell
	batchSizes     []int
	reverse        bool
	bias, peephole bool

	// Saved by Forward for Backward.
	act *tensor.Tensor // (N, G·H): gate activations (LSTM i,f,g,o; GRU r,z,n)
	cs  *tensor.Tensor // LSTM: (N, H) cell states
	hhn *tensor.Tensor // GRU: (N, H) W_hn·h₋₁ + b_hn
}

// recurrentArgs unpacks the input tensors of a recurrent function.
type recurrentArgs struct {
	x, h0, c0, wih, whh, bih, bhh, peep *tensor.Tensor
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
	var cN *tensor.Tensor
	if a.c0 != nil {
		cN = a.c0.Clone()
		out = append(out, cN)
		f.cs = newLike(a.x, a.n, a.hidden)
	}
	f.act = newLike(a.x, a.n, a.gates*a.hidden)
	if f.cell == GRUCellKind {
		f.hhn = newLike(a.x, a.n, a.hidden)
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

func recurrentForward[T kernel.Float](f *recurrent, a recurrentArgs, yst, hNt, cNt *tensor.Tensor) {
	H, G := a.hidden, a.gates
	GH := G * H
	x, wih, whh := data[T](a.x), data[T](a.wih), data[T](a.whh)
	bih, bhh, peep := opt[T](a.bih), opt[T](a.bhh), opt[T](a.peep)
	ys, h, c := data[T](yst), data[T](hNt), opt[T](cNt)
	act, cs, hhn := data[T](f.act), opt[T](f.cs), opt[T](f.hhn)

	// Input projection of all steps at once. The GRU keeps the recurrent
	// bias apart (it sits inside r⊙(…)); the other cells fold both biases in.
	if bih != nil {
		for r := 0; r < a.n; r++ {
			row := act[r*GH : (r+1)*GH]
			copy(row, bih)
			if f.cell != GRUCellKind {
				kernel.Axpy(1, bhh, row)
			}
		}
	}
	beta := T(0)
	if bih != nil {
		beta = 1
	}
	kernel.Gemm(false, true, a.n, GH, a.in, 1, x, a.in, wih, a.in, beta, act, GH)

	var hh []T // GRU: recurrent pre-activations of one step
	if f.cell == GRUCellKind {
		hh = make([]T, a.batch*GH)
	}
	for _, s := range f.schedule() {
		b := s.rows
		gates := act[s.off*GH : (s.off+b)*GH]
		hprev := h[:b*H] // the running state: rows not yet active still hold h0
		if f.cell == GRUCellKind {
			hs := hh[:b*GH]
			if bhh != nil {
				for r := 0; r < b; r++ {
					copy(hs[r*GH:(r+1)*GH], bhh)
				}
			}
			kernel.Gemm(false, true, b, GH, H, 1, hprev, H, whh, H, beta, hs, GH)
			gruForwardStep(gates, hs, hprev, hhn[s.off*H:(s.off+b)*H], b, H)
		} else {
			kernel.Gemm(false, true, b, GH, H, 1, hprev, H, whh, H, 1, gates, GH)
			switch f.cell {
			case LSTMCellKind:
				lstmForwardStep(gates, c[:b*H], hprev, peep, b, H)
				copy(cs[s.off*H:(s.off+b)*H], c[:b*H])
			case RNNTanhCellKind:
				kernel.Tanh(gates, gates)
				copy(hprev, gates)
			case RNNReLUCellKind:
				for i, v := range gates {
					gates[i] = max(v, 0)
				}
				copy(hprev, gates)
			}
		}
		copy(ys[s.off*H:(s.off+b)*H], hprev)
	}
}

// lstmForwardStep turns the pre-activations in gates (b, 4H) into the gate
// activations i, f, g, o in place, updates the cell state c (b, H) from
// c₋₁ to c, and writes h = o⊙tanh(c) into h.
func lstmForwardStep[T kernel.Float](gates, c, h, peep []T, b, H int) {
	G := 4 * H
	for r := 0; r < b; r++ {
		g := gates[r*G : (r+1)*G]
		ai, af, ag, ao := g[:H], g[H:2*H], g[2*H:3*H], g[3*H:]
		cr, hr := c[r*H:(r+1)*H], h[r*H:(r+1)*H]
		if peep != nil {
			for j := range H {
				ai[j] += peep[j] * cr[j]
				af[j] += peep[H+j] * cr[j]
			}
		}
		kernel.Sigmoid(g[:2*H], g[:2*H])
		kernel.Tanh(ag, ag)
		for j := range H {
			cr[j] = af[j]*cr[j] + ai[j]*ag[j]
		}
		if peep != nil {
			for j := range H {
				ao[j] += peep[2*H+j] * cr[j]
			}
		}
		kernel.Sigmoid(ao, ao)
		kernel.Tanh(hr, cr)
		kernel.Mul(hr, hr, ao)
	}
}

// gruForwardStep computes a GRU step: xg (b, 3H) holds the input
// pre-activations and becomes the activations r, z, n; hh (b, 3H) holds
// W_hh·h₋₁ + b_hh; hhn receives its n block for the backward pass; h is
// updated from h₋₁ to h in place.
func gruForwardStep[T kernel.Float](xg, hh, h, hhn []T, b, H int) {
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
		for j := range H {
			hr[j] = n[j] + z[j]*(hr[j]-n[j])
		}
	}
}

func (f *recurrent) Backward(in, out, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	a := f.args(in)
	gx := make([]*tensor.Tensor, len(in))
	for i, t := range in {
		if need[i] {
			gx[i] = newLike(t, t.Shape()...)
		}
	}
	if a.x.DType() == tensor.Float64 {
		recurrentBackward[float64](f, a, out, gy, gx)
	} else {
		recurrentBackward[float32](f, a, out, gy, gx)
	}
	for i := range gx {
		if !need[i] {
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

func recurrentBackward[T kernel.Float](f *recurrent, a recurrentArgs, out, gyt, gxt []*tensor.Tensor) {
	H, G, N, B := a.hidden, a.gates, a.n, a.batch
	GH := G * H
	steps := f.schedule()
	ys := data[T](out[0])
	act := data[T](f.act)
	whh, wih, x := data[T](a.whh), data[T](a.wih), data[T](a.x)
	peep := opt[T](a.peep)

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

	hprev := make([]T, N*H)
	gatherPrev(hprev, ys, data[T](a.h0), steps, H)
	var cprev, cs []T
	if f.cell == LSTMCellKind {
		cs = data[T](f.cs)
		cprev = make([]T, N*H)
		gatherPrev(cprev, cs, data[T](a.c0), steps, H)
	}
	dgx := make([]T, N*GH) // gradient of the input pre-activations
	dgh := dgx             // gradient of the recurrent pre-activations
	if f.cell == GRUCellKind {
		dgh = make([]T, N*GH)
	}
	var dpeep []T
	if peep != nil {
		dpeep = make([]T, 3*H)
	}

	for k := len(steps) - 1; k >= 0; k-- {
		s := steps[k]
		b, o := s.rows, s.off
		if gys != nil {
			kernel.Axpy(1, gys[o*H:(o+b)*H], dh[:b*H])
		}
		rows := func(v []T, w int) []T { return v[o*w : (o+b)*w] }
		switch f.cell {
		case LSTMCellKind:
			lstmBackwardStep(rows(dgx, GH), dh[:b*H], dc[:b*H], rows(act, GH), rows(cs, H), rows(cprev, H), peep, dpeep, b, H)
		case GRUCellKind:
			gruBackwardStep(rows(dgx, GH), rows(dgh, GH), dh[:b*H], rows(act, GH), rows(data[T](f.hhn), H), rows(hprev, H), b, H)
		case RNNTanhCellKind:
			d, y := rows(dgx, GH), rows(ys, H)
			for i, g := range dh[:b*H] {
				d[i] = g * (1 - y[i]*y[i])
			}
		case RNNReLUCellKind:
			d, y := rows(dgx, GH), rows(ys, H)
			for i, g := range dh[:b*H] {
				if y[i] > 0 {
					d[i] = g
				} else {
					d[i] = 0
				}
			}
		}
		// dh₋₁ = dgh·W_hh (+ the GRU's direct term, already in dh).
		beta := T(0)
		if f.cell == GRUCellKind {
			beta = 1
		}
		kernel.Gemm(false, false, b, H, GH, 1, rows(dgh, GH), GH, whh, H, beta, dh[:b*H], H)
	}

	// Gradients of the inputs and weights over the whole sequence.
	idx := 2
	if f.cell == LSTMCellKind {
		idx = 3
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
	if g := gxt[idx]; g != nil {
		kernel.Gemm(true, false, GH, a.in, N, 1, dgx, GH, x, a.in, 0, data[T](g), a.in)
	}
	if g := gxt[idx+1]; g != nil {
		kernel.Gemm(true, false, GH, H, N, 1, dgh, GH, hprev, H, 0, data[T](g), H)
	}
	idx += 2
	if f.bias {
		if g := gxt[idx]; g != nil {
			sumRowsInto(data[T](g), dgx, N, GH)
		}
		if g := gxt[idx+1]; g != nil {
			sumRowsInto(data[T](g), dgh, N, GH)
		}
		idx += 2
	}
	if f.peephole && gxt[idx] != nil {
		copy(data[T](gxt[idx]), dpeep)
	}
}

// lstmBackwardStep computes, for one step of b rows, the gradients of the
// gate pre-activations d (b, 4H) from the running dh and dc, and replaces
// dc with the gradient of c₋₁. With peepholes it accumulates their
// gradients into dpeep (3H).
//
//	tc = tanh(c)
//	do = dh⊙tc,                 dâ_o = do⊙o(1−o)
//	dc ← dc + dh⊙o⊙(1−tc²) + dâ_o⊙p_o
//	dâ_i = dc⊙g⊙i(1−i),  dâ_f = dc⊙c₋₁⊙f(1−f),  dâ_g = dc⊙i⊙(1−g²)
//	dc₋₁ = dc⊙f + dâ_i⊙p_i + dâ_f⊙p_f
func lstmBackwardStep[T kernel.Float](d, dh, dc, act, c, cprev, peep, dpeep []T, b, H int) {
	G := 4 * H
	for r := 0; r < b; r++ {
		a := act[r*G : (r+1)*G]
		i, f, g, o := a[:H], a[H:2*H], a[2*H:3*H], a[3*H:]
		dr := d[r*G : (r+1)*G]
		di, df, dg, do := dr[:H], dr[H:2*H], dr[2*H:3*H], dr[3*H:]
		cr, cp := c[r*H:(r+1)*H], cprev[r*H:(r+1)*H]
		dhr, dcr := dh[r*H:(r+1)*H], dc[r*H:(r+1)*H]
		kernel.Tanh(do, cr) // tc, kept in do until replaced below
		for j := range H {
			tc := do[j]
			dao := dhr[j] * tc * o[j] * (1 - o[j])
			dct := dcr[j] + dhr[j]*o[j]*(1-tc*tc)
			if peep != nil {
				dct += dao * peep[2*H+j]
			}
			do[j] = dao
			di[j] = dct * g[j] * i[j] * (1 - i[j])
			df[j] = dct * cp[j] * f[j] * (1 - f[j])
			dg[j] = dct * i[j] * (1 - g[j]*g[j])
			dcr[j] = dct * f[j]
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
// (b, 3H), and replaces dh with the direct part of the gradient of h₋₁
// (z⊙dh; the part through W_hh is added by the caller).
//
//	dn = dh⊙(1−z),  dâ_n = dn⊙(1−n²)
//	dz = dh⊙(h₋₁−n), dâ_z = dz⊙z(1−z)
//	dr = dâ_n⊙(W_hn·h₋₁+b_hn), dâ_r = dr⊙r(1−r)
//	dx = [dâ_r, dâ_z, dâ_n],  dhh = [dâ_r, dâ_z, dâ_n⊙r]
func gruBackwardStep[T kernel.Float](dx, dhh, dh, act, hhn, hprev []T, b, H int) {
	G := 3 * H
	for r := 0; r < b; r++ {
		a := act[r*G : (r+1)*G]
		rr, z, n := a[:H], a[H:2*H], a[2*H:]
		ddx, ddh := dx[r*G:(r+1)*G], dhh[r*G:(r+1)*G]
		q, hp, dhr := hhn[r*H:(r+1)*H], hprev[r*H:(r+1)*H], dh[r*H:(r+1)*H]
		for j := range H {
			g := dhr[j]
			dan := g * (1 - z[j]) * (1 - n[j]*n[j])
			daz := g * (hp[j] - n[j]) * z[j] * (1 - z[j])
			dar := dan * q[j] * rr[j] * (1 - rr[j])
			ddx[j], ddx[H+j], ddx[2*H+j] = dar, daz, dan
			ddh[j], ddh[H+j], ddh[2*H+j] = dar, daz, dan*rr[j]
			dhr[j] = g * z[j]
		}
	}
}
