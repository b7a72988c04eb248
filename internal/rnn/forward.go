package rnn

import (
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// final returns the tensor a final state starts in: dst (the caller's
// Seq.HY or CY) holding a copy of the initial state s0, or a clone of s0.
// The kernels update it in place, step by step.
func final(dst, s0 *tensor.Tensor) *tensor.Tensor {
	if dst == nil {
		return s0.Clone()
	}
	dst.CopyFrom(s0)
	return dst
}

// forward allocates the outputs and the workspaces of a forward pass and
// runs it.
func (f *op) forward(in *Operands) Outputs {
	a := f.args(in)
	ys := newLike(a.x, a.n, a.hidden)
	hN := final(f.hy, a.h0)
	out := Outputs{Y: ys, H: hN}
	// The gate and state workspaces are written in full before they are
	// read; float32 ones come from the pool (inference gives them back
	// after Forward, training after the first Backward).
	work := func(shape ...int) *tensor.Tensor {
		if f.recyclable() {
			return scratchTensor(shape...)
		}
		return newLike(a.x, shape...)
	}
	var cN *tensor.Tensor
	if a.c0 != nil {
		cN = final(f.cy, a.c0)
		out.C = cN
		f.cs = work(a.n, a.hidden)
		if f.masks.ZoneC != nil {
			f.cz = work(a.n, a.hidden)
		}
	}
	GH := a.gates * a.hidden
	f.act = work(a.n, GH)
	if f.cell == GRU {
		f.hhn = work(a.n, a.hidden)
	}
	if f.norm.Kind != NoNorm {
		f.xhatX, f.xhatH = newLike(a.x, a.n, GH), newLike(a.x, a.n, GH)
		T := len(f.batchSizes)
		if f.norm.Kind == LayerNorm {
			f.rsX, f.rsH = newLike(a.x, a.n), newLike(a.x, a.n)
		} else {
			f.rsX, f.rsH = newLike(a.x, T, GH), newLike(a.x, T, GH)
		}
		if a.c0 != nil {
			f.xhatC = newLike(a.x, a.n, a.hidden)
			if f.norm.Kind == LayerNorm {
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
	tensor.Dispatch(a.x, recurrentForward[float32], recurrentForward[float64])(f, a, ys, hN, cN)
	return out
}

// recurrentForward is the forward pass of one direction over the whole
// sequence: the input projection of all steps as one product, then step
// by step the recurrent product and the cell (cells.go).
func recurrentForward[T kernel.Float](f *op, a recurrentArgs, yst, hNt, cNt *tensor.Tensor) {
	H, G := a.hidden, a.gates
	GH := G * H
	x, wih, whh := tensor.Values[T](a.x), tensor.Values[T](a.wih), tensor.Values[T](a.whh)
	bih, bhh, peep := tensor.Values[T](a.bih), tensor.Values[T](a.bhh), tensor.Values[T](a.peep)
	ys, h, c := tensor.Values[T](yst), tensor.Values[T](hNt), tensor.Values[T](cNt)
	act, cs, cz, hhn := tensor.Values[T](f.act), tensor.Values[T](f.cs), tensor.Values[T](f.cz), tensor.Values[T](f.hhn)
	hmask, cand, zoneH, zoneC := tensor.Values[T](f.masks.H), tensor.Values[T](f.masks.Candidate), tensor.Values[T](f.masks.ZoneH), tensor.Values[T](f.masks.ZoneC)
	normed := f.norm.Kind != NoNorm
	nz := normalizer[T]{f.norm}
	gIH, gHH, gC, bC := tensor.Values[T](a.gIH), tensor.Values[T](a.gHH), tensor.Values[T](a.gC), tensor.Values[T](a.bC)
	steps := f.schedule()

	// Input projection of all steps at once. The GRU keeps the recurrent
	// bias apart (it sits inside r⊙(…)); the other cells fold both biases
	// in. With normalisation the biases come after it.
	var bsum []T // the biases on the input side
	if bih != nil {
		bsum = bih
		if f.cell != GRU {
			bsum = make([]T, GH)
			kernel.Add(bsum, bih, bhh)
		}
	}
	// Without normalisation the LSTM and GRU add the input-side biases in
	// the elementwise step (the rows are in cache there), which spares a
	// pass over the whole (N, G·H) buffer; the Elman RNN fills them in
	// before the product.
	rowSplit := !normed && (f.cell == LSTM || f.cell == GRU)
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
	groups := rowGroups(f.algo, rowSplit || f.norm.Kind == LayerNorm, a.batch)
	perStep := groups > 1 && rowSplit
	var wihT *kernel.PackedB[T]
	var wihB *kernel.PackedBF16
	switch {
	case perStep && f.bf16:
		wihB = f.packedIH.BF16Packing(as32(wih), GH, a.in)
	case perStep:
		if wihT = packedAs[T](f.packedIH, GH, a.in); wihT == nil {
			wihT = kernel.PackB(true, a.in, GH, wih, a.in, a.batch/groups)
			defer wihT.Release()
		}
	case f.bf16:
		pih := f.packedIH.BF16Packing(as32(wih), GH, a.in)
		kernel.GemmPackedBF16(a.n, 1, as32(x), a.in, pih, float32(beta), as32(act), GH)
	default:
		if pih := packedAs[T](f.packedIH, GH, a.in); pih != nil {
			kernel.GemmPacked(false, a.n, 1, x, a.in, pih, beta, act, GH)
		} else {
			kernel.Gemm(false, true, a.n, GH, a.in, 1, x, a.in, wih, a.in, beta, act, GH)
		}
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
		xhatX, rsX := tensor.Values[T](f.xhatX), tensor.Values[T](f.rsX)
		if nz.axis() == kernel.PerRow {
			nz.forward(act, xhatX, rsX, 0, 0, a.n, GH, 0)
		} else {
			for _, s := range steps {
				nz.forward(act[s.off*GH:(s.off+s.rows)*GH], xhatX, rsX, s.t, s.off, s.rows, GH, 0)
			}
		}
		kernel.AffineForward(act, act, gIH, bsum, a.n, GH)
	}

	// W_hh is multiplied at every step: pack it once (Appleyard et al.).
	var whhT *kernel.PackedB[T]
	var whhB *kernel.PackedBF16
	switch {
	case f.bf16:
		whhB = f.packedHH.BF16Packing(as32(whh), GH, H)
	default:
		if whhT = packedAs[T](f.packedHH, GH, H); whhT == nil {
			whhT = kernel.PackB(true, H, GH, whh, H, a.batch)
			defer whhT.Release()
		}
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
	if f.cell == GRU || normed {
		hh = make([]T, a.batch*GH)
	}
	var hm, hold, ctn []T // masked h₋₁ for W_hh; h₋₁ for zoneout; normalised cell
	if hmask != nil {
		hm = make([]T, a.batch*H)
	}
	if zoneH != nil {
		hold = make([]T, a.batch*H)
	}
	if normed && f.cell == LSTM {
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
		case LSTM:
			ct := cur.ct[lo*H : hi*H]
			lstmGatesStep(g, cur.c[lo*H:hi*H], ct, peep, m, hi-lo, H)
			lstmOutputStep(g, ct, ct, hr, peep, hi-lo, H)
		case GRU:
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
			nz.forward(hs, tensor.Values[T](f.xhatH), tensor.Values[T](f.rsH), s.t, o, b, GH, 1)
			if f.cell == GRU {
				kernel.AffineForward(hs, hs, gHH, bhh, b, GH)
			} else {
				kernel.AffineForward(hs, hs, gHH, nil, b, GH)
				kernel.Add(gates, gates, hs)
			}
		case f.cell == GRU:
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
			if f.cell == LSTM {
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
		case f.cell == GRU:
			gruForwardStep(gates, hs, hprev, hhn[o*H:(o+b)*H], m.cand, b, H)
		case f.cell == LSTM:
			ct := cs[o*H : (o+b)*H]
			lstmGatesStep(gates, c[lo*H:hi*H], ct, peep, m, b, H)
			arg := ct
			if normed {
				arg = ctn[lo*H : hi*H]
				copy(arg, ct)
				nz.forward(arg, tensor.Values[T](f.xhatC), tensor.Values[T](f.rsC), s.t, o, b, H, 2)
				kernel.AffineForward(arg, arg, gC, bC, b, H)
			}
			lstmOutputStep(gates, ct, arg, hprev, peep, b, H)
			if cz != nil {
				copy(cz[o*H:(o+b)*H], c[lo*H:hi*H])
			}
		default:
			if f.cell == RNNTanh {
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

// as32 is x as []float32; T must be float32 (the bfloat16 paths check).
func as32[T kernel.Float](x []T) []float32 { return any(x).([]float32) }
