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
// nil rows means rows[n] = n.

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
	if k.DType() == tensor.Float64 {
		dotScoreFwd(tensor.Values[float64](y), tensor.Values[float64](k), tensor.Values[float64](q), f.rows, q.Dim(0), k.Dim(1), k.Dim(2))
	} else {
		dotScoreFwd(tensor.Values[float32](y), tensor.Values[float32](k), tensor.Values[float32](q), f.rows, q.Dim(0), k.Dim(1), k.Dim(2))
	}
	return []*tensor.Tensor{y}
}

func dotScoreFwd[T kernel.Float](y, k, q []T, rows []int, n, s, d int) {
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
	if k.DType() == tensor.Float64 {
		dotScoreBwd(tensor.Values[float64](gk), tensor.Values[float64](gq), tensor.Values[float64](gy[0]), tensor.Values[float64](k), tensor.Values[float64](q), f.rows, q.Dim(0), k.Dim(1), k.Dim(2))
	} else {
		dotScoreBwd(tensor.Values[float32](gk), tensor.Values[float32](gq), tensor.Values[float32](gy[0]), tensor.Values[float32](k), tensor.Values[float32](q), f.rows, q.Dim(0), k.Dim(1), k.Dim(2))
	}
	return []*tensor.Tensor{gk, gq}
}

func dotScoreBwd[T kernel.Float](gk, gq, gy, k, q []T, rows []int, n, s, d int) {
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
	if k.DType() == tensor.Float64 {
		additiveFwd(tensor.Values[float64](y), tensor.Values[float64](f.th), tensor.Values[float64](k), tensor.Values[float64](q), tensor.Values[float64](v), f.rows, n, s, a)
	} else {
		additiveFwd(tensor.Values[float32](y), tensor.Values[float32](f.th), tensor.Values[float32](k), tensor.Values[float32](q), tensor.Values[float32](v), f.rows, n, s, a)
	}
	return []*tensor.Tensor{y}
}

func additiveFwd[T kernel.Float](y, th, k, q, v []T, rows []int, n, s, a int) {
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
	if k.DType() == tensor.Float64 {
		additiveBwd(tensor.Values[float64](gk), tensor.Values[float64](gq), tensor.Values[float64](gv), tensor.Values[float64](gy[0]), tensor.Values[float64](f.th), tensor.Values[float64](v), f.rows, n, s, a)
	} else {
		additiveBwd(tensor.Values[float32](gk), tensor.Values[float32](gq), tensor.Values[float32](gv), tensor.Values[float32](gy[0]), tensor.Values[float32](f.th), tensor.Values[float32](v), f.rows, n, s, a)
	}
	return []*tensor.Tensor{gk, gq, gv}
}

func additiveBwd[T kernel.Float](gk, gq, gv, gy, th, v []T, rows []int, n, s, a int) {
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
	if x.DType() == tensor.Float64 {
		maskedSoftmaxFwd(tensor.Values[float64](y), tensor.Values[float64](x), f.lengths, x.Dim(1))
	} else {
		maskedSoftmaxFwd(tensor.Values[float32](y), tensor.Values[float32](x), f.lengths, x.Dim(1))
	}
	return []*tensor.Tensor{y}
}

func maskedSoftmaxFwd[T kernel.Float](y, x []T, lengths []int, s int) {
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
	if gx.DType() == tensor.Float64 {
		softmaxBwd(tensor.Values[float64](gx), tensor.Values[float64](out[0]), tensor.Values[float64](gy[0]), f.lengths, s)
	} else {
		softmaxBwd(tensor.Values[float32](gx), tensor.Values[float32](out[0]), tensor.Values[float32](gy[0]), f.lengths, s)
	}
	return []*tensor.Tensor{gx}
}

func softmaxBwd[T kernel.Float](gx, y, gy []T, lengths []int, s int) {
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
	if m.DType() == tensor.Float64 {
		contextFwd(tensor.Values[float64](y), tensor.Values[float64](w), tensor.Values[float64](m), f.rows, n, s, d)
	} else {
		contextFwd(tensor.Values[float32](y), tensor.Values[float32](w), tensor.Values[float32](m), f.rows, n, s, d)
	}
	return []*tensor.Tensor{y}
}

func contextFwd[T kernel.Float](y, w, m []T, rows []int, n, s, d int) {
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
	if m.DType() == tensor.Float64 {
		contextBwd(tensor.Values[float64](gw), tensor.Values[float64](gm), tensor.Values[float64](gy[0]), tensor.Values[float64](w), tensor.Values[float64](m), f.rows, n, s, d)
	} else {
		contextBwd(tensor.Values[float32](gw), tensor.Values[float32](gm), tensor.Values[float32](gy[0]), tensor.Values[float32](w), tensor.Values[float32](m), f.rows, n, s, d)
	}
	return []*tensor.Tensor{gw, gm}
}

func contextBwd[T kernel.Float](gw, gm, gy, w, m []T, rows []int, n, s, d int) {
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
