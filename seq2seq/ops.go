package seq2seq

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// This file holds the attention kernels as autograd functions with
// hand-written backward passes (checked against finite differences in
// ops_test.go). They work on a memory of B padded source sentences,
// (B, S, D), read by N ≥ 1 decoder rows; rows[n] names the sentence row n
// attends to, so the hypotheses of a beam share one copy of the memory. A
// nil rows means rows[n] = n. Each kernel is generic over the element type
// T of the tensors it takes and is picked by tensor.Dispatch.

// rowOf returns rows[n], or n for nil rows.
func rowOf(rows []int, n int) int {
	if rows == nil {
		return n
	}
	return rows[n]
}

// checkRows panics unless rows maps n rows into [0, b).
func checkRows(op string, rows []int, n, b int) {
	if rows == nil {
		if n != b {
			panic(fmt.Sprintf("seq2seq: %s of %d query rows against a memory of %d sentences without a row map", op, n, b))
		}
		return
	}
	if len(rows) != n {
		panic(fmt.Sprintf("seq2seq: %s of %d query rows with a row map of %d", op, n, len(rows)))
	}
	for k, r := range rows {
		if r < 0 || r >= b {
			panic(fmt.Sprintf("seq2seq: %s row map entry %d is %d, outside [0, %d)", op, k, r, b))
		}
	}
}

func sameDType(op string, ts ...*tensor.Tensor) { tensor.CheckDTypes("seq2seq", op, ts...) }

// dotScores returns s[n, t] = ⟨keys[rows[n], t], q[n]⟩ for keys (B, S, D)
// and q (N, D): Luong's dot score (keys = memory) and general score (keys
// = memory·W_aᵀ).
func dotScores(keys, q *autograd.Variable, rows []int) *autograd.Variable {
	return autograd.Apply1(&dotScore{rows: rows}, keys, q)
}

type dotScore struct{ rows []int }

func (f *dotScore) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	k, q := in[0], in[1]
	sameDType("dot score", k, q)
	if k.NDim() != 3 || q.NDim() != 2 || q.Dim(1) != k.Dim(2) {
		panic(fmt.Sprintf("seq2seq: dot score of keys %v and queries %v; want (B, S, D) and (N, D)", k.Shape(), q.Shape()))
	}
	checkRows("dot score", f.rows, q.Dim(0), k.Dim(0))
	y := tensor.New(k.DType(), q.Dim(0), k.Dim(1))
	tensor.Dispatch(k, dotScoreFwd[float32], dotScoreFwd[float64])(y, k, q, f.rows, q.Dim(0), k.Dim(1), k.Dim(2))
	return []*tensor.Tensor{y}
}

func dotScoreFwd[T kernel.Float](yt, kt, qt *tensor.Tensor, rows []int, n, s, d int) {
	y, k, q := tensor.Values[T](yt), tensor.Values[T](kt), tensor.Values[T](qt)
	for i := 0; i < n; i++ {
		kb := k[rowOf(rows, i)*s*d:]
		qi := q[i*d : (i+1)*d]
		for t := 0; t < s; t++ {
			y[i*s+t] = kernel.Dot(kb[t*d:(t+1)*d], qi)
		}
	}
}

func (f *dotScore) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	k, q := in[0], in[1]
	gk, gq := tensor.ZerosLike(k), tensor.ZerosLike(q)
	tensor.Dispatch(k, dotScoreBwd[float32], dotScoreBwd[float64])(gk, gq, gy[0], k, q, f.rows, q.Dim(0), k.Dim(1), k.Dim(2))
	return []*tensor.Tensor{gk, gq}
}

func dotScoreBwd[T kernel.Float](gkt, gqt, gyt, kt, qt *tensor.Tensor, rows []int, n, s, d int) {
	gk, gq, gy, k, q := tensor.Values[T](gkt), tensor.Values[T](gqt), tensor.Values[T](gyt), tensor.Values[T](kt), tensor.Values[T](qt)
	for i := 0; i < n; i++ {
		b := rowOf(rows, i)
		kb, gkb := k[b*s*d:], gk[b*s*d:]
		qi, gqi := q[i*d:(i+1)*d], gq[i*d:(i+1)*d]
		for t := 0; t < s; t++ {
			g := gy[i*s+t]
			if g == 0 {
				continue
			}
			kernel.Axpy(g, qi, gkb[t*d:(t+1)*d])
			kernel.Axpy(g, kb[t*d:(t+1)*d], gqi)
		}
	}
}

// additiveScores returns s[n, t] = ⟨v, tanh(keys[rows[n], t] + q[n])⟩ for
// keys (B, S, A), q (N, A) and v (A): Bahdanau's score with keys = U·h̄ + b
// and q = W·h.
func additiveScores(keys, q, v *autograd.Variable, rows []int) *autograd.Variable {
	return autograd.Apply1(&additiveScore{rows: rows}, keys, q, v)
}

type additiveScore struct {
	rows []int
	th   *tensor.Tensor // tanh(keys + q), (N, S, A), kept for backward
}

func (f *additiveScore) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	k, q, v := in[0], in[1], in[2]
	sameDType("additive score", k, q, v)
	if k.NDim() != 3 || q.NDim() != 2 || v.NDim() != 1 || q.Dim(1) != k.Dim(2) || v.Dim(0) != k.Dim(2) {
		panic(fmt.Sprintf("seq2seq: additive score of keys %v, queries %v and v %v; want (B, S, A), (N, A) and (A)", k.Shape(), q.Shape(), v.Shape()))
	}
	n, s, a := q.Dim(0), k.Dim(1), k.Dim(2)
	checkRows("additive score", f.rows, n, k.Dim(0))
	y := tensor.New(k.DType(), n, s)
	f.th = tensor.New(k.DType(), n, s, a)
	tensor.Dispatch(k, additiveFwd[float32], additiveFwd[float64])(y, f.th, k, q, v, f.rows, n, s, a)
	return []*tensor.Tensor{y}
}

func additiveFwd[T kernel.Float](yt, tht, kt, qt, vt *tensor.Tensor, rows []int, n, s, a int) {
	y, th, k, q, v := tensor.Values[T](yt), tensor.Values[T](tht), tensor.Values[T](kt), tensor.Values[T](qt), tensor.Values[T](vt)
	for i := 0; i < n; i++ {
		kb := k[rowOf(rows, i)*s*a:]
		qi := q[i*a : (i+1)*a]
		for t := 0; t < s; t++ {
			e := th[(i*s+t)*a : (i*s+t+1)*a]
			kernel.Add(e, kb[t*a:(t+1)*a], qi)
			kernel.Tanh(e, e)
			y[i*s+t] = kernel.Dot(e, v)
		}
	}
}

func (f *additiveScore) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	k, q, v := in[0], in[1], in[2]
	gk, gq, gv := tensor.ZerosLike(k), tensor.ZerosLike(q), tensor.ZerosLike(v)
	n, s, a := q.Dim(0), k.Dim(1), k.Dim(2)
	tensor.Dispatch(k, additiveBwd[float32], additiveBwd[float64])(gk, gq, gv, gy[0], f.th, v, f.rows, n, s, a)
	return []*tensor.Tensor{gk, gq, gv}
}

func additiveBwd[T kernel.Float](gkt, gqt, gvt, gyt, tht, vt *tensor.Tensor, rows []int, n, s, a int) {
	gk, gq, gv, gy, th, v := tensor.Values[T](gkt), tensor.Values[T](gqt), tensor.Values[T](gvt), tensor.Values[T](gyt), tensor.Values[T](tht), tensor.Values[T](vt)
	d := make([]T, a)
	for i := 0; i < n; i++ {
		gkb := gk[rowOf(rows, i)*s*a:]
		gqi := gq[i*a : (i+1)*a]
		for t := 0; t < s; t++ {
			g := gy[i*s+t]
			if g == 0 {
				continue
			}
			e := th[(i*s+t)*a : (i*s+t+1)*a]
			kernel.Axpy(g, e, gv)
			for j, ej := range e {
				d[j] = g * v[j] * (1 - ej*ej)
			}
			kernel.Axpy(1, d, gkb[t*a:(t+1)*a])
			kernel.Axpy(1, d, gqi)
		}
	}
}

// maskedSoftmax returns the softmax of each row n of x (N, S) over its
// first lengths[n] entries; the others get exactly zero weight and no
// gradient.
func maskedSoftmax(x *autograd.Variable, lengths []int) *autograd.Variable {
	return autograd.Apply1(&maskedSoftmaxFn{lengths: lengths}, x)
}

type maskedSoftmaxFn struct{ lengths []int }

func (f *maskedSoftmaxFn) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	if x.NDim() != 2 || x.Dim(0) != len(f.lengths) {
		panic(fmt.Sprintf("seq2seq: masked softmax of %v with %d lengths; want (N, S) and N lengths", x.Shape(), len(f.lengths)))
	}
	for n, l := range f.lengths {
		if l < 1 || l > x.Dim(1) {
			panic(fmt.Sprintf("seq2seq: masked softmax length %d of row %d outside [1, %d]", l, n, x.Dim(1)))
		}
	}
	y := tensor.ZerosLike(x)
	tensor.Dispatch(x, maskedSoftmaxFwd[float32], maskedSoftmaxFwd[float64])(y, x, f.lengths, x.Dim(1))
	return []*tensor.Tensor{y}
}

func maskedSoftmaxFwd[T kernel.Float](yt, xt *tensor.Tensor, lengths []int, s int) {
	y, x := tensor.Values[T](yt), tensor.Values[T](xt)
	for n, l := range lengths {
		xr, yr := x[n*s:n*s+l], y[n*s:n*s+l]
		m := xr[0]
		for _, v := range xr[1:] {
			m = max(m, v)
		}
		var sum float64
		for t, v := range xr {
			e := math.Exp(float64(v - m))
			yr[t] = T(e)
			sum += e
		}
		kernel.Scale(T(1/sum), yr)
	}
}

func (f *maskedSoftmaxFn) Backward(in, out, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	gx := tensor.ZerosLike(in[0])
	s := in[0].Dim(1)
	tensor.Dispatch(gx, softmaxBwd[float32], softmaxBwd[float64])(gx, out[0], gy[0], f.lengths, s)
	return []*tensor.Tensor{gx}
}

func softmaxBwd[T kernel.Float](gxt, yt, gyt *tensor.Tensor, lengths []int, s int) {
	gx, y, gy := tensor.Values[T](gxt), tensor.Values[T](yt), tensor.Values[T](gyt)
	for n, l := range lengths {
		yr, gr, gxr := y[n*s:n*s+l], gy[n*s:n*s+l], gx[n*s:n*s+l]
		dot := kernel.Dot(yr, gr)
		for t := range yr {
			gxr[t] = yr[t] * (gr[t] - dot)
		}
	}
}

// contextVectors returns c[n] = Σ_t w[n, t]·memory[rows[n], t] for
// weights w (N, S) and memory (B, S, D): the attention's context.
func contextVectors(w, memory *autograd.Variable, rows []int) *autograd.Variable {
	return autograd.Apply1(&contextFn{rows: rows}, w, memory)
}

type contextFn struct{ rows []int }

func (f *contextFn) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	w, m := in[0], in[1]
	sameDType("context", w, m)
	if w.NDim() != 2 || m.NDim() != 3 || w.Dim(1) != m.Dim(1) {
		panic(fmt.Sprintf("seq2seq: context of weights %v and memory %v; want (N, S) and (B, S, D)", w.Shape(), m.Shape()))
	}
	n, s, d := w.Dim(0), m.Dim(1), m.Dim(2)
	checkRows("context", f.rows, n, m.Dim(0))
	y := tensor.New(m.DType(), n, d)
	tensor.Dispatch(m, contextFwd[float32], contextFwd[float64])(y, w, m, f.rows, n, s, d)
	return []*tensor.Tensor{y}
}

func contextFwd[T kernel.Float](yt, wt, mt *tensor.Tensor, rows []int, n, s, d int) {
	y, w, m := tensor.Values[T](yt), tensor.Values[T](wt), tensor.Values[T](mt)
	for i := 0; i < n; i++ {
		mb := m[rowOf(rows, i)*s*d:]
		yi := y[i*d : (i+1)*d]
		for t := 0; t < s; t++ {
			if a := w[i*s+t]; a != 0 {
				kernel.Axpy(a, mb[t*d:(t+1)*d], yi)
			}
		}
	}
}

func (f *contextFn) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	w, m := in[0], in[1]
	gw, gm := tensor.ZerosLike(w), tensor.ZerosLike(m)
	n, s, d := w.Dim(0), m.Dim(1), m.Dim(2)
	tensor.Dispatch(m, contextBwd[float32], contextBwd[float64])(gw, gm, gy[0], w, m, f.rows, n, s, d)
	return []*tensor.Tensor{gw, gm}
}

func contextBwd[T kernel.Float](gwt, gmt, gyt, wt, mt *tensor.Tensor, rows []int, n, s, d int) {
	gw, gm, gy, w, m := tensor.Values[T](gwt), tensor.Values[T](gmt), tensor.Values[T](gyt), tensor.Values[T](wt), tensor.Values[T](mt)
	for i := 0; i < n; i++ {
		b := rowOf(rows, i)
		mb, gmb := m[b*s*d:], gm[b*s*d:]
		gi := gy[i*d : (i+1)*d]
		for t := 0; t < s; t++ {
			gw[i*s+t] = kernel.Dot(gi, mb[t*d:(t+1)*d])
			if a := w[i*s+t]; a != 0 {
				kernel.Axpy(a, gi, gmb[t*d:(t+1)*d])
			}
		}
	}
}
