package rnn

import "github.com/kioku-ml/kioku/internal/kernel"

// This file holds the elementwise part of the cells, forward and backward,
// for some rows of one step; the products around them are in forward.go
// and backward.go. The Elman RNN's step, h = tanh(a) or max(0, a) of the
// pre-activation a = W_ih·x + b_ih + W_hh·h₋₁ + b_hh, is inline there.

// The LSTM (Cell LSTM), gate blocks i, f, g, o:
//
//	i = σ(W_ii·x + b_ii + W_hi·h₋₁ + b_hi)
//	f = σ(W_if·x + b_if + W_hf·h₋₁ + b_hf)
//	g = tanh(W_ig·x + b_ig + W_hg·h₋₁ + b_hg)
//	o = σ(W_io·x + b_io + W_ho·h₋₁ + b_ho)
//	c = f⊙c₋₁ + i⊙g
//	h = o⊙tanh(c)
//
// With diagonal peephole weights p_i, p_f, p_o (Gers & Schmidhuber 2000)
// the gates also see the cell: p_i⊙c₋₁ and p_f⊙c₋₁ are added to the
// pre-activations of i and f, and p_o⊙c to that of o. With layer or batch
// normalisation (NormKind) W_ih·x and W_hh·h₋₁ are normalised and scaled
// by their gains before the biases are added, and h = o⊙tanh(γ_c⊙N(c) +
// β_c). The masks (Masks) enter as documented there: m⊙g for the
// candidate, zoneout of c and h after the update, m_h⊙h₋₁ in the product.

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

// The GRU (Cell GRU), gate blocks r, z, n, with the reset gate applied to
// W_hn·h₋₁ + b_hn as in PyTorch and cuDNN:
//
//	r = σ(W_ir·x + b_ir + W_hr·h₋₁ + b_hr)
//	z = σ(W_iz·x + b_iz + W_hz·h₋₁ + b_hz)
//	n = tanh(W_in·x + b_in + r⊙(W_hn·h₋₁ + b_hn))
//	h = (1−z)⊙n + z⊙h₋₁
//
// With normalisation, W_ih·x and W_hh·h₋₁ are normalised and scaled
// before their biases are added; a candidate mask m turns n into m⊙n.

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

// LSTMCellForward is the plain LSTM step (no peepholes, masks or
// normalisation) on b rows of precomputed pre-activations, for the
// single-step LSTMCell function of package fn: gates (b, 4H) becomes the
// activations i, f, g, o, c (b, H) is updated from c₋₁ to c, ct (b, H)
// receives c and h (b, H) the output o⊙tanh(c).
func LSTMCellForward[T kernel.Float](gates, c, h, ct []T, b, H int) {
	lstmForwardStep(gates, c, h, ct, nil, stepMasks[T]{}, b, H)
}

// LSTMCellBackward is the backward pass of LSTMCellForward: from dh and dc
// (the gradients of h and c) and the saved activations act, the cells c
// and c₋₁ (cprev), it writes the gradients of the pre-activations into d
// (b, 4H) and replaces dc with the gradient of c₋₁.
func LSTMCellBackward[T kernel.Float](d, dh, dc, act, c, cprev []T, b, H int) {
	lstmBackwardStep(d, dh, dc, act, c, c, cprev, nil, nil, stepMasks[T]{}, make([]T, b*H), nil, b, H)
}
