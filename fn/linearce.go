package fn

import (
	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// LinearSoftmaxCrossEntropy returns SoftmaxCrossEntropy(Linear(x, W, b),
// t, ignoreLabel, reduce) — the output layer and loss of a language model
// or classifier — computed as one function. x has shape (…, in), W (C, in),
// b (C) or nil, and there is one label per row of x.
//
// The result and its gradients equal the composition's (up to rounding),
// but the logits are never stored apart from the probabilities: the bias
// is added, and the softmax taken, in place in one buffer of rows×C
// written once by the matrix product, and the backward pass turns that
// buffer into (softmax − onehot(t))·g/N in place before the two products
// gx = G·W and gW = Gᵀ·x. Against the composition this saves one rows×C
// buffer and two passes over it, which for a 10,000-word vocabulary is
// most of the memory traffic of a training step outside the matrix
// products.
func LinearSoftmaxCrossEntropy(x, W, b *Variable, t []int, ignoreLabel int, reduce Reduction) *Variable {
	f := &linearCE{softmaxCE: softmaxCE{t: t, ignore: ignoreLabel, reduce: reduce}}
	if b == nil {
		return autograd.Apply1(f, x, W)
	}
	return autograd.Apply1(f, x, W, b)
}

type linearCE struct {
	softmaxCE // labels, reduction, the probabilities and the count
}

func (f *linearCE) dims(in []*tensor.Tensor) (rows, nIn, nOut int) {
	rows, nIn, nOut = linearDims("LinearSoftmaxCrossEntropy", in)
	f.checkLabels("LinearSoftmaxCrossEntropy", rows, nOut, in[0])
	return rows, nIn, nOut
}

// probabilities computes softmax(x·Wᵀ + b) into a new rows×C tensor and
// returns it with the summed negative log-likelihood.
func (f *linearCE) probabilities(in []*tensor.Tensor, rows, nIn, nOut int) (*tensor.Tensor, float64) {
	x, w := in[0], in[1]
	// The product overwrites every element, so a recycled buffer will do
	// (Backward gives it back once it has served as the logits' gradient).
	var p *tensor.Tensor
	if x.DType() == tensor.Float32 {
		p = getScratch(rows, nOut)
	} else {
		p = newLike(x, rows, nOut)
	}
	gemm(false, true, rows, nOut, nIn, 1, x, nIn, w, nIn, 0, p, nOut)
	var bias *tensor.Tensor
	if len(in) == 3 {
		bias = in[2]
	}
	var loss float64
	if x.DType() == tensor.Float64 {
		loss = softmaxRowsInPlace(data[float64](p), optData[float64](bias), f.t, f.ignore, nOut)
	} else {
		loss = softmaxRowsInPlace(data[float32](p), optData[float32](bias), f.t, f.ignore, nOut)
	}
	return p, loss
}

// optData is data for a tensor that may be nil.
func optData[T kernel.Float](t *tensor.Tensor) []T {
	if t == nil {
		return nil
	}
	return data[T](t)
}

func (f *linearCE) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	rows, nIn, nOut := f.dims(in)
	var loss float64
	f.prob, loss = f.probabilities(in, rows, nIn, nOut)
	return one(tensor.Scalar(in[0].DType(), f.reduced(loss)))
}

// softmaxRowsInPlace adds bias (if any) to each row of the rows×n matrix p
// and replaces the row by its softmax, returning the summed negative
// log-likelihood of the labels that are not ignored. Rows are split
// across the worker pool when there are many.
func softmaxRowsInPlace[T kernel.Float](p, bias []T, t []int, ignore, n int) float64 {
	nll := make([]float64, len(t))
	kernel.ParallelFor(len(t), max(1, softmaxGrain/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			pr := p[r*n : (r+1)*n]
			if bias != nil {
				kernel.Add(pr, pr, bias)
			}
			nll[r] = softmaxRow(pr, pr, t[r], ignore)
		}
	})
	var loss float64
	for _, v := range nll {
		loss += v
	}
	return loss
}

func (f *linearCE) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	return f.backward(in, gy[0], nil, need)
}

// BackwardInto adds the gradients of the inputs with a buffer in into to
// it (see Linear).
func (f *linearCE) BackwardInto(in, _, gy, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	return f.backward(in, gy[0], into, need)
}

func (f *linearCE) backward(in []*tensor.Tensor, gy *tensor.Tensor, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	rows, nIn, nOut := f.dims(in)
	g := f.logitGrad(gy, nOut, func() *tensor.Tensor {
		p, _ := f.probabilities(in, rows, nIn, nOut)
		return p
	})
	// From the gradient of the logits on, this is Linear's backward pass,
	// whose results are new tensors or into's: g is not needed afterwards.
	gx := linear{}.backward(in, g, into, need)
	if g.DType() == tensor.Float32 {
		putScratch(g)
	}
	return gx
}
