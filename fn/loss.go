package fn

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// Reduction says how a loss combines its per-example values.
type Reduction uint8

const (
	// ReduceMean averages over the examples that count (for
	// SoftmaxCrossEntropy, those whose label is not ignored).
	ReduceMean Reduction = iota
	// ReduceSum adds the per-example values.
	ReduceSum
)

// SoftmaxCrossEntropy returns the cross-entropy between softmax(x) along
// the last axis and integer labels t: the loss of row r is
// −log softmax(x_r)[t_r]. x has shape (…, C) with one label per row;
// rows whose label equals ignoreLabel (commonly -1, or a padding id)
// contribute nothing to the loss or the gradient, and are not counted by
// ReduceMean. When every label is ignored the loss is 0. A label outside
// [0, C) that is not ignoreLabel panics.
//
// The softmax and the loss are fused: the backward pass is
// (softmax(x) − onehot(t))·g/N without forming the one-hot matrix.
func SoftmaxCrossEntropy(x *Variable, t []int, ignoreLabel int, reduce Reduction) *Variable {
	return autograd.Apply1(&softmaxCE{t: t, ignore: ignoreLabel, reduce: reduce}, x)
}

type softmaxCE struct {
	t      []int
	ignore int
	reduce Reduction
	prob   *tensor.Tensor // softmax(x), kept for backward
	count  int            // labels not ignored
}

func (f *softmaxCE) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	rows, n := lastDim("SoftmaxCrossEntropy", x)
	f.checkLabels("SoftmaxCrossEntropy", rows, n, x)
	f.prob = newLike(x, x.Shape()...)
	var loss float64
	loss = tensor.Dispatch(x, crossEntropyForward[float32], crossEntropyForward[float64])(f.prob, x, f.t, f.ignore, n)
	return one(tensor.Scalar(x.DType(), f.reduced(loss)))
}

// checkLabels panics unless there is one label per row and every label
// not ignored is a class in [0, n); x (the input named in the message)
// has rows rows.
func (f *softmaxCE) checkLabels(op string, rows, n int, x *tensor.Tensor) {
	if rows != len(f.t) {
		panic(fmt.Sprintf("fn: %s of x %v (%d rows) with %d labels", op, x.Shape(), rows, len(f.t)))
	}
	for i, l := range f.t {
		if l != f.ignore && (l < 0 || l >= n) {
			panic(fmt.Sprintf("fn: %s label %d at row %d is outside [0, %d) for x %v", op, l, i, n, x.Shape()))
		}
	}
}

// reduced counts the labels that are not ignored and returns the summed
// loss under f's reduction.
func (f *softmaxCE) reduced(loss float64) float64 {
	f.count = 0
	for _, l := range f.t {
		if l != f.ignore {
			f.count++
		}
	}
	if f.reduce == ReduceMean && f.count > 0 {
		loss /= float64(f.count)
	}
	return loss
}

// softmaxGrain is the number of elements below which the softmax kernels
// stay on one thread.
const softmaxGrain = 1 << 15

// crossEntropyForward writes softmax(x) into prob row by row and returns
// the summed negative log-likelihood of the labels that are not ignored
// (in float64). Rows are split across the worker pool when there are many.
func crossEntropyForward[T kernel.Float](probt, xt *tensor.Tensor, t []int, ignore, n int) float64 {
	prob, x := tensor.Values[T](probt), tensor.Values[T](xt)
	nll := make([]float64, len(t))
	kernel.ParallelFor(len(t), max(1, softmaxGrain/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			nll[r] = softmaxRow(prob[r*n:(r+1)*n], x[r*n:(r+1)*n], t[r], ignore)
		}
	})
	var loss float64
	for _, v := range nll {
		loss += v
	}
	return loss
}

// softmaxRow writes softmax(x) into p (which may be x itself) and returns
// −log p[label] computed stably as log Σ exp(x − max) − (x[label] − max),
// or 0 when label is ignore.
func softmaxRow[T kernel.Float](p, x []T, label, ignore int) float64 {
	m := kernel.Max(x)
	var xl T
	if label != ignore {
		xl = x[label]
	}
	if &p[0] != &x[0] {
		copy(p, x)
	}
	kernel.Shift(-m, p)
	kernel.Exp(p, p)
	s := kernel.Sum(p)
	kernel.Scale(1/s, p)
	if label == ignore {
		return 0
	}
	return math.Log(float64(s)) - float64(xl-m)
}

func (f *softmaxCE) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	x := in[0]
	_, n := lastDim("SoftmaxCrossEntropy", x)
	return one(f.logitGrad(gy[0], n, func() *tensor.Tensor {
		p := newLike(x, x.Shape()...)
		tensor.Dispatch(x, crossEntropyForward[float32], crossEntropyForward[float64])(p, x, f.t, f.ignore, n)
		return p
	}))
}

// logitGrad returns the gradient of the logits, (softmax − onehot(t))·g/N
// for the incoming gradient g, formed in place of the probabilities saved
// by the forward pass (rows of n classes), which are needed nowhere else.
// A second backward pass through the same graph finds them consumed and
// recomputes them with probs.
func (f *softmaxCE) logitGrad(g *tensor.Tensor, n int, probs func() *tensor.Tensor) *tensor.Tensor {
	scale := g.Item()
	if f.reduce == ReduceMean && f.count > 0 {
		scale /= float64(f.count)
	}
	p := f.prob
	f.prob = nil
	if p == nil {
		p = probs()
	}
	tensor.Dispatch(p, crossEntropyBackward[float32], crossEntropyBackward[float64])(p, f.t, f.ignore, n, scale)
	return p
}

// crossEntropyBackward turns softmax probabilities into the gradient
// (p − onehot(t))·scale in place, zeroing ignored rows. With scale 1 it
// touches only the labels and the ignored rows. T is the element type of
// the probabilities p (see tensor.Dispatch).
func crossEntropyBackward[T kernel.Float](p *tensor.Tensor, t []int, ignore, n int, scale64 float64) {
	g, scale := tensor.Values[T](p), T(scale64)
	kernel.ParallelFor(len(t), max(1, softmaxGrain/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gr := g[r*n : (r+1)*n]
			if l := t[r]; l == ignore {
				clear(gr)
			} else {
				gr[l] -= 1
				if scale != 1 {
					kernel.Scale(scale, gr)
				}
			}
		}
	})
}

// MeanSquaredError returns the mean over all elements of (x − y)². x and y
// must have the same shape.
func MeanSquaredError(x, y *Variable) *Variable { return autograd.Apply1(mse{}, x, y) }

type mse struct{}

func (mse) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x, y := in[0], in[1]
	sameType("MeanSquaredError", x, y)
	if !x.SameShape(y) || x.Size() == 0 {
		panic(fmt.Sprintf("fn: MeanSquaredError of shapes %v and %v", x.Shape(), y.Shape()))
	}
	d := x.Clone()
	d.Axpy(-1, y)
	return one(tensor.Scalar(x.DType(), d.SumSquares()/float64(x.Size())))
}

func (mse) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	x, y := in[0], in[1]
	d := x.Clone()
	d.Axpy(-1, y)
	d.Scale(2 * gy[0].Item() / float64(x.Size()))
	gx := make([]*tensor.Tensor, 2)
	if need[0] {
		gx[0] = d
	}
	if need[1] {
		gx[1] = d.Clone()
		gx[1].Scale(-1)
	}
	return gx
}

// SigmoidCrossEntropy returns the binary cross-entropy between σ(x) and
// targets t in [0, 1] of x's shape, computed from the logits without
// overflow: each element contributes max(x, 0) − x·t + log(1 + exp(−|x|)).
// ReduceMean averages over all elements, ReduceSum adds them. The gradient
// is (σ(x) − t), divided by the element count for ReduceMean.
func SigmoidCrossEntropy(x *Variable, t *tensor.Tensor, reduce Reduction) *Variable {
	return autograd.Apply1(&sigmoidCE{t: t, reduce: reduce}, x)
}

type sigmoidCE struct {
	t      *tensor.Tensor
	reduce Reduction
}

func (f *sigmoidCE) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	if !x.SameShape(f.t) || x.DType() != f.t.DType() || x.Size() == 0 {
		panic(fmt.Sprintf("fn: SigmoidCrossEntropy of x %v %v with targets %v %v", x.DType(), x.Shape(), f.t.DType(), f.t.Shape()))
	}
	var loss float64
	for i := 0; i < x.Size(); i++ {
		v, t := x.AtFlat(i), f.t.AtFlat(i)
		loss += max(v, 0) - v*t + math.Log1p(math.Exp(-math.Abs(v)))
	}
	if f.reduce == ReduceMean {
		loss /= float64(x.Size())
	}
	return one(tensor.Scalar(x.DType(), loss))
}

func (f *sigmoidCE) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	x := in[0]
	g := newLike(x, x.Shape()...)
	tensor.Dispatch(x, unaryForward[float32], unaryForward[float64])(kindSigmoid, g, x) // σ(x)
	g.Axpy(-1, f.t)
	scale := gy[0].Item()
	if f.reduce == ReduceMean {
		scale /= float64(x.Size())
	}
	g.Scale(scale)
	return one(g)
}
