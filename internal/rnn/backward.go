package rnn

import (
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// recurrentBackward is the backward pass of one direction: the
// elementwise backward of the cells step by step in reverse processing
// order, then the gradients of the inputs and weights over the whole
// sequence as single products.
func recurrentBackward[T kernel.Float](f *op, a recurrentArgs, out, gy Outputs, g *Operands, accW bool) {
	H, G, N, B := a.hidden, a.gates, a.n, a.batch
	GH := G * H
	steps := f.schedule()
	ys := tensor.Values[T](out.Y)
	act := tensor.Values[T](f.act)
	whh, wih, x := tensor.Values[T](a.whh), tensor.Values[T](a.wih), tensor.Values[T](a.x)
	peep := tensor.Values[T](a.peep)
	hmask, cand, zoneH, zoneC := tensor.Values[T](f.masks.H), tensor.Values[T](f.masks.Candidate), tensor.Values[T](f.masks.ZoneH), tensor.Values[T](f.masks.ZoneC)
	normed := f.norm.Kind != NoNorm
	nz := normalizer[T]{f.norm}
	gIH, gHH, gC, bC := tensor.Values[T](a.gIH), tensor.Values[T](a.gHH), tensor.Values[T](a.gC), tensor.Values[T](a.bC)

	// Running gradients of the state, seeded with those of the final state.
	dh := make([]T, B*H)
	if gy.H != nil {
		copy(dh, tensor.Values[T](gy.H))
	}
	var dc []T
	if f.cell == LSTM {
		dc = make([]T, B*H)
		if gy.C != nil {
			copy(dc, tensor.Values[T](gy.C))
		}
	}
	var gys []T
	if gy.Y != nil {
		gys = tensor.Values[T](gy.Y)
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
	gatherPrev(hprev, ys, tensor.Values[T](a.h0), steps, H)
	hin := hprev
	if hmask != nil {
		hin = newWork(N * H)
		for _, s := range steps {
			kernel.Mul(hin[s.off*H:(s.off+s.rows)*H], hprev[s.off*H:(s.off+s.rows)*H], hmask[:s.rows*H])
		}
	}
	var cprev, cs []T
	if f.cell == LSTM {
		cs = tensor.Values[T](f.cs)
		cSeries := cs
		if f.cz != nil {
			cSeries = tensor.Values[T](f.cz)
		}
		cprev = newWork(N * H)
		gatherPrev(cprev, cSeries, tensor.Values[T](a.c0), steps, H)
	}
	dgx := newWork(N * GH) // gradient of the input pre-activations
	dgh := dgx             // gradient of the recurrent pre-activations
	if f.cell == GRU || normed {
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
		if f.cell == LSTM {
			dgC, dbC, arg = make([]T, H), make([]T, H), make([]T, B*H)
		}
		if f.cell == GRU {
			dbHH = make([]T, GH)
		}
	}
	// direct says whether h₋₁ has a gradient besides the path through W_hh
	// (the GRU's z⊙h₋₁, zoneout), which the cell step leaves in dh.
	direct := f.cell == GRU || zoneH != nil
	whhP := kernel.PackB(false, GH, H, whh, H, B) // for dh₋₁ = dgh·W_hh at every step
	defer whhP.Release()
	var tmp, scratch, zbuf []T
	if hmask != nil {
		tmp = make([]T, B*H)
	}
	if zoneH != nil {
		zbuf = make([]T, B*H)
	}
	if f.cell == LSTM {
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
		case LSTM:
			ct := rh(cur.ct)
			lstmBackwardStep(rg(cur.dgx), rh(cur.dh), rh(cur.dc), rg(cur.act), ct, ct, rh(cur.cprev), nil, nil, m, rh(cur.scratch), nil, hi-lo, H)
		case GRU:
			gruBackwardStep(rg(cur.dgx), rg(cur.dgh), rh(cur.dh), rg(cur.act), rh(cur.hhn), rh(cur.hprev), m.cand, hi-lo, H)
		}
	}
	// One sequence-wide closure splits a whole step's elementwise part
	// across the worker pool; the loop sets the step's slices in whole.
	var whole cellSlices
	wholeRows := func(lo, hi int) { cellRows(&whole, lo, hi) }
	rowSplit := !normed && peep == nil && (f.cell == LSTM || f.cell == GRU)

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
			if f.cell == LSTM {
				cur.dc, cur.ct, cur.cprev, cur.scratch = dc[lo*H:hi*H], rows(cs, H), rows(cprev, H), scratch[lo*H:hi*H]
			} else {
				cur.dgh, cur.hhn, cur.hprev = rows(dgh, GH), rows(tensor.Values[T](f.hhn), H), rows(hprev, H)
			}
			if threads == 1 {
				cellRows(&cur, 0, b)
			} else {
				whole = cur
				forRows(b, H, wholeRows)
			}
			if f.cell == LSTM && direct {
				clear(dhb)
			}
		case f.cell == LSTM:
			ct := rows(cs, H)
			targ := ct // the argument of the output tanh
			var normC func(d []T)
			if normed {
				targ = arg[lo*H : hi*H]
				kernel.AffineForward(targ, rows(tensor.Values[T](f.xhatC), H), gC, bC, b, H)
				normC = func(d []T) {
					kernel.AffineBackward(d, rows(tensor.Values[T](f.xhatC), H), gC, ng.gC, ng.bC, b, H)
					nz.backward(d, tensor.Values[T](f.xhatC), tensor.Values[T](f.rsC), s.t, o, b, H)
				}
			}
			lstmBackwardStep(rows(dgx, GH), dhb, dc[lo*H:hi*H], rows(act, GH), ct, targ, rows(cprev, H), peep, dpeep, m, scratch[lo*H:hi*H], normC, b, H)
			if direct {
				clear(dhb)
			}
		case f.cell == GRU:
			gruBackwardStep(rows(dgx, GH), rows(dgh, GH), dhb, rows(act, GH), rows(tensor.Values[T](f.hhn), H), rows(hprev, H), m.cand, b, H)
		default:
			d, y := rows(dgx, GH), rows(act, H)
			if f.cell == RNNTanh {
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
			if f.cell != GRU {
				copy(d, rows(dgx, GH))
			}
			kernel.AffineBackward(d, rows(tensor.Values[T](f.xhatH), GH), gHH, ng.gHH, ng.bHH, b, GH)
			nz.backward(d, tensor.Values[T](f.xhatH), tensor.Values[T](f.rsH), s.t, o, b, GH)
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
	if groups := rowGroups(f.algo, rowSplit || (f.norm.Kind == LayerNorm && peep == nil), B); groups > 1 {
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
	if f.bias {
		gBIH, gBHH := g.BIH, g.BHH
		// Both biases' gradients are row sums of dgx, except for the GRU
		// (of dgh) and the normalised GRU (dbHH): sum dgx's rows once.
		hhFromX := dbHH == nil && (normed || len(dgh) == 0 || &dgh[0] == &dgx[0])
		if gBIH != nil || (gBHH != nil && hhFromX) {
			sum := make([]T, GH)
			kernel.SumRowsInto(sum, dgx, N, GH)
			if gBIH != nil {
				kernel.Axpy(1, sum, tensor.Values[T](gBIH))
			}
			if gBHH != nil && hhFromX {
				kernel.Axpy(1, sum, tensor.Values[T](gBHH))
			}
		}
		if gBHH != nil && !hhFromX {
			if dbHH != nil {
				copy(tensor.Values[T](gBHH), dbHH)
			} else {
				kernel.SumRowsInto(tensor.Values[T](gBHH), dgh, N, GH)
			}
		}
	}
	if f.peephole && g.Peephole != nil {
		copy(tensor.Values[T](g.Peephole), dpeep)
	}
	if normed {
		// From the gradient of γ_x⊙x̂ + b to that of W_ih·x.
		kernel.AffineBackward(dgx, tensor.Values[T](f.xhatX), gIH, dgIH, nil, N, GH)
		if nz.axis() == kernel.PerRow {
			nz.backward(dgx, tensor.Values[T](f.xhatX), tensor.Values[T](f.rsX), 0, 0, N, GH)
		} else {
			for _, s := range steps {
				nz.backward(dgx[s.off*GH:(s.off+s.rows)*GH], tensor.Values[T](f.xhatX), tensor.Values[T](f.rsX), s.t, s.off, s.rows, GH)
			}
		}
		for _, p := range [...]struct {
			d []T
			g *tensor.Tensor
		}{{dgIH, g.NormIH}, {dgHH, g.NormHH}, {dgC, g.NormC}, {dbC, g.NormCBias}} {
			if p.d != nil && p.g != nil {
				copy(tensor.Values[T](p.g), p.d)
			}
		}
	}
	if g.X != nil {
		kernel.GemmSplitDepth(false, false, N, a.in, GH, 1, dgx, GH, wih, a.in, 0, tensor.Values[T](g.X), a.in)
	}
	if g.H0 != nil {
		copy(tensor.Values[T](g.H0), dh)
	}
	if f.cell == LSTM && g.C0 != nil {
		copy(tensor.Values[T](g.C0), dc)
	}
	betaW := T(0) // with accW, the weight gradients are added to g's
	if accW {
		betaW = 1
	}
	if g.WIH != nil {
		kernel.GemmSplitDepth(true, false, GH, a.in, N, 1, dgx, GH, x, a.in, betaW, tensor.Values[T](g.WIH), a.in)
	}
	if g.WHH != nil {
		kernel.GemmSplitDepth(true, false, GH, H, N, 1, dgh, GH, hin, H, betaW, tensor.Values[T](g.WHH), H)
	}
}
