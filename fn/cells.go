package fn

import (
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/internal/rnn"
	"github.com/kioku-ml/kioku/tensor"
)

// LSTMCell is the fused LSTM cell on precomputed gate pre-activations, the
// counterpart of Chainer's F.lstm: gates (B, 4H) holds W_x·x + W_h·h₋₁ + b
// in PyTorch's gate blocks i, f, g, o (Chainer interleaves a, i, f, o per
// unit instead), cPrev (B, H) is c₋₁, and it returns
//
//	c = σ(f)⊙c₋₁ + σ(i)⊙tanh(g)
//	h = σ(o)⊙tanh(c)
//
// in one pass forward and one backward.
func LSTMCell(cPrev, gates *Variable) (c, h *Variable) {
	out := autograd.Apply(&lstmCell{}, cPrev, gates)
	return out[0], out[1]
}

type lstmCell struct {
	act *tensor.Tensor // gate activations (B, 4H)
}

func (f *lstmCell) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	cp, g := in[0], in[1]
	sameType("LSTMCell", cp, g)
	if cp.NDim() != 2 || g.NDim() != 2 || g.Dim(0) != cp.Dim(0) || g.Dim(1) != 4*cp.Dim(1) {
		panic(fmt.Sprintf("fn: LSTMCell with c %v and gates %v; want (B, H) and (B, 4H)", cp.Shape(), g.Shape()))
	}
	b, H := cp.Dim(0), cp.Dim(1)
	f.act = g.Clone()
	c, h := cp.Clone(), newLike(cp, b, H)
	ct := newLike(cp, b, H) // the candidate cell, equal to c here
	tensor.Dispatch(cp, lstmCellForward[float32], lstmCellForward[float64])(f.act, c, h, ct, b, H)
	return []*tensor.Tensor{c, h}
}

// lstmCellForward runs rnn.LSTMCellForward on the tensors' storage.
func lstmCellForward[T kernel.Float](act, c, h, ct *tensor.Tensor, b, H int) {
	rnn.LSTMCellForward(tensor.Values[T](act), tensor.Values[T](c), tensor.Values[T](h), tensor.Values[T](ct), b, H)
}

func (f *lstmCell) Backward(in, out, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	cp := in[0]
	b, H := cp.Dim(0), cp.Dim(1)
	dc := newLike(cp, b, H)
	if gy[0] != nil {
		dc.CopyFrom(gy[0])
	}
	dh := gy[1]
	if dh == nil {
		dh = newLike(cp, b, H)
	}
	dg := newLike(cp, b, 4*H)
	tensor.Dispatch(cp, lstmCellBackward[float32], lstmCellBackward[float64])(dg, dh, dc, f.act, out[0], cp, b, H)
	return []*tensor.Tensor{dc, dg}
}

// lstmCellBackward runs rnn.LSTMCellBackward on the tensors' storage.
func lstmCellBackward[T kernel.Float](dg, dh, dc, act, c, cp *tensor.Tensor, b, H int) {
	rnn.LSTMCellBackward(tensor.Values[T](dg), tensor.Values[T](dh), tensor.Values[T](dc), tensor.Values[T](act), tensor.Values[T](c), tensor.Values[T](cp), b, H)
}

// GRUChoCell is one step of the GRU as Cho et al. (2014) wrote it, with
// the reset gate applied to the state before the recurrent product:
//
//	r = σ(x_r + W_hr·h₋₁ + b_hr),  z = σ(x_z + W_hz·h₋₁ + b_hz)
//	n = tanh(x_n + W_hn·(r⊙h₋₁) + b_hn)
//	h = (1−z)⊙n + z⊙h₋₁
//
// xProj (B, 3H) holds the input projections x_r, x_z, x_n (W_i·x + b_i,
// blocks r, z, n), whh is (3H, H) and bhh (3H) may be nil. PyTorch and
// cuDNN instead apply r after the product (GRUCellKind); the two differ
// whenever r ≠ 1, so their weights are not interchangeable.
func GRUChoCell(xProj, h, whh, bhh *Variable) *Variable {
	if bhh == nil {
		return autograd.Apply1(&gruCho{}, xProj, h, whh)
	}
	return autograd.Apply1(&gruCho{}, xProj, h, whh, bhh)
}

type gruCho struct {
	act, u *tensor.Tensor // activations r, z, n (B, 3H) and r⊙h₋₁ (B, H)
}

func (f *gruCho) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	sameType("GRUChoCell", in...)
	xp, h, w := in[0], in[1], in[2]
	if h.NDim() != 2 || xp.NDim() != 2 || xp.Dim(0) != h.Dim(0) || xp.Dim(1) != 3*h.Dim(1) || !slices.Equal(w.Shape(), []int{3 * h.Dim(1), h.Dim(1)}) || (len(in) == 4 && !slices.Equal(in[3].Shape(), []int{3 * h.Dim(1)})) {
		panic(fmt.Sprintf("fn: GRUChoCell with xProj %v, h %v, W_hh %v; want (B, 3H), (B, H), (3H, H)", xp.Shape(), h.Shape(), w.Shape()))
	}
	b, H := h.Dim(0), h.Dim(1)
	f.act, f.u = xp.Clone(), newLike(h, b, H)
	y := newLike(h, b, H)
	var bias *tensor.Tensor
	if len(in) == 4 {
		bias = in[3]
	}
	tensor.Dispatch(h, gruChoForward[float32], gruChoForward[float64])(f.act, f.u, y, h, w, bias, b, H)
	return one(y)
}

// gruChoForward computes the GRUChoCell step into y, keeping the gate
// activations in act and u = r⊙h₋₁ for the backward pass; T is the
// tensors' element type (see tensor.Dispatch).
func gruChoForward[T kernel.Float](actt, ut, yt, ht, wt, biast *tensor.Tensor, b, H int) {
	act, u, y, h, w, bias := tensor.Values[T](actt), tensor.Values[T](ut), tensor.Values[T](yt), tensor.Values[T](ht), tensor.Values[T](wt), tensor.Values[T](biast)
	G := 3 * H
	q := make([]T, b*G) // recurrent pre-activations: r, z blocks from h, n block from r⊙h
	if bias != nil {
		for r := 0; r < b; r++ {
			copy(q[r*G:(r+1)*G], bias)
		}
	}
	beta := T(0)
	if bias != nil {
		beta = 1
	}
	kernel.Gemm(false, true, b, 2*H, H, 1, h, H, w[:2*H*H], H, beta, q, G)
	for r := 0; r < b; r++ {
		a, qr := act[r*G:(r+1)*G], q[r*G:(r+1)*G]
		kernel.Add(a[:2*H], a[:2*H], qr[:2*H])
		kernel.Sigmoid(a[:2*H], a[:2*H])
		kernel.Mul(u[r*H:(r+1)*H], a[:H], h[r*H:(r+1)*H])
	}
	kernel.Gemm(false, true, b, H, H, 1, u, H, w[2*H*H:], H, beta, q[2*H:], G)
	for r := 0; r < b; r++ {
		a, qr := act[r*G:(r+1)*G], q[r*G:(r+1)*G]
		n, z := a[2*H:], a[H:2*H]
		kernel.Add(n, n, qr[2*H:])
		kernel.Tanh(n, n)
		hr, yr := h[r*H:(r+1)*H], y[r*H:(r+1)*H]
		for j := range H {
			yr[j] = n[j] + z[j]*(hr[j]-n[j])
		}
	}
}

func (f *gruCho) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	h := in[1]
	b, H := h.Dim(0), h.Dim(1)
	gx := []*tensor.Tensor{newLike(h, b, 3*H), newLike(h, b, H), newLike(h, 3*H, H)}
	var gb *tensor.Tensor
	if len(in) == 4 {
		gb = newLike(h, 3*H)
		gx = append(gx, gb)
	}
	tensor.Dispatch(h, gruChoBackward[float32], gruChoBackward[float64])(gx[0], gx[1], gx[2], gb, gy[0], f.act, f.u, h, in[2], b, H)
	for i := range gx {
		if !need[i] {
			gx[i] = nil
		}
	}
	return gx
}

// gruChoBackward computes the gradients of the Cho GRU step:
//
//	dâ_n = dy⊙(1−z)⊙(1−n²);  dâ_z = dy⊙(h₋₁−n)⊙z(1−z)
//	du = dâ_n·W_hn;  dâ_r = du⊙h₋₁⊙r(1−r)
//	dh₋₁ = dy⊙z + du⊙r + [dâ_r, dâ_z]·W_h{r,z}
//	dW_hn = dâ_nᵀ·u,  dW_h{r,z} = [dâ_r, dâ_z]ᵀ·h₋₁
func gruChoBackward[T kernel.Float](dxpt, dht, dwt, dbt, dyt, actt, ut, ht, wt *tensor.Tensor, b, H int) {
	dxp, dh, dw, db, dy, act, u, h, w := tensor.Values[T](dxpt), tensor.Values[T](dht), tensor.Values[T](dwt), tensor.Values[T](dbt), tensor.Values[T](dyt), tensor.Values[T](actt), tensor.Values[T](ut), tensor.Values[T](ht), tensor.Values[T](wt)
	G := 3 * H
	for r := 0; r < b; r++ {
		a, d := act[r*G:(r+1)*G], dxp[r*G:(r+1)*G]
		z, n := a[H:2*H], a[2*H:]
		yr, hr := dy[r*H:(r+1)*H], h[r*H:(r+1)*H]
		for j := range H {
			d[2*H+j] = yr[j] * (1 - z[j]) * (1 - n[j]*n[j])
			d[H+j] = yr[j] * (hr[j] - n[j]) * z[j] * (1 - z[j])
			dh[r*H+j] = yr[j] * z[j]
		}
	}
	du := make([]T, b*H)
	kernel.Gemm(false, false, b, H, H, 1, dxp[2*H:], G, w[2*H*H:], H, 0, du, H)
	for r := 0; r < b; r++ {
		a, d := act[r*G:(r+1)*G], dxp[r*G:(r+1)*G]
		rr := a[:H]
		hr, dur, dhr := h[r*H:(r+1)*H], du[r*H:(r+1)*H], dh[r*H:(r+1)*H]
		for j := range H {
			d[j] = dur[j] * hr[j] * rr[j] * (1 - rr[j])
			dhr[j] += dur[j] * rr[j]
		}
	}
	kernel.Gemm(false, false, b, H, 2*H, 1, dxp, G, w[:2*H*H], H, 1, dh, H)
	kernel.Gemm(true, false, 2*H, H, b, 1, dxp, G, h, H, 0, dw[:2*H*H], H)
	kernel.Gemm(true, false, H, H, b, 1, dxp[2*H:], G, u, H, 0, dw[2*H*H:], H)
	if db != nil {
		kernel.SumRowsInto(db, dxp, b, G)
	}
}
