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
// written once by the matrix product. The backward pass subtracts 1 at
// each label (softmax − onehot(t), touching only the labels) and hands the
// factor g/N to the two products gx = G·W and gW = Gᵀ·x as their alpha;
// the bias's gradient, g/N·(Σ_rows softmax − the count of each label),
// comes from column sums the forward pass takes while each row is in
// cache. Against the composition this saves one rows×C buffer and the
// passes over it that form, scale and sum the logits' gradient, which for
// a 10,000-word vocabulary is most of the memory traffic of a training
// step outside the matrix products.
func LinearSoftmaxCrossEntropy(x, W, b *Variable, t []int, ignoreLabel int, reduce Reduction) *Variable {
	f := &linearCE{softmaxCE: softmaxCE{t: t, ignore: ignoreLabel, reduce: reduce}}
	if b == nil {
		return autograd.Apply1(f, x, W)
	}
	// The bias's gradient is the column sum of the logits' gradient; the
	// forward pass sums the probabilities' columns while the rows are in
	// cache, when there will be a gradient to compute.
	f.sumCols = b.RequiresGrad()
	return autograd.Apply1(f, x, W, b)
}

type linearCE struct {
	softmaxCE // labels, reduction, the probabilities and the count
	// sumCols asks Forward for colSum, the column sums of the
	// probabilities over the rows whose label is not ignored.
	sumCols bool
	colSum  []float64
}

func (f *linearCE) dims(in []*tensor.Tensor) (rows, nIn, nOut int) {
	rows, nIn, nOut = linearDims("LinearSoftmaxCrossEntropy", in)
	f.checkLabels("LinearSoftmaxCrossEntropy", rows, nOut, in[0])
	return rows, nIn, nOut
}

// probabilities computes softmax(x·Wᵀ + b) into a new rows×C tensor and
// returns it with the summed negative log-likelihood (and, with sumCols,
// the probabilities' column sums in f.colSum).
func (f *linearCE) probabilities(in []*tensor.Tensor, rows, nIn, nOut int, sumCols bool) (*tensor.Tensor, float64) {
	x, w := in[0], in[1]
	// The product overwrites every element, so a recycled buffer will do
	// (Backward gives it back once it has served as the logits' gradient).
	var p *tensor.Tensor
	if x.DType() == tensor.Float32 {
		p = tensor.FromFloat32(kernel.GetScratch(rows*nOut), rows, nOut)
	} else {
		p = newLike(x, rows, nOut)
	}
	gemm(false, true, rows, nOut, nIn, 1, x, nIn, w, nIn, 0, p, nOut)
	var bias *tensor.Tensor
	if len(in) == 3 {
		bias = in[2]
	}
	f.colSum = nil
	if sumCols {
		f.colSum = make([]float64, nOut)
	}
	var loss float64
	loss = tensor.Dispatch(x, softmaxRowsInPlace[float32], softmaxRowsInPlace[float64])(p, bias, f.t, f.ignore, nOut, f.colSum)
	return p, loss
}

func (f *linearCE) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	rows, nIn, nOut := f.dims(in)
	var loss float64
	f.prob, loss = f.probabilities(in, rows, nIn, nOut, f.sumCols)
	return one(tensor.Scalar(in[0].DType(), f.reduced(loss)))
}

// colBlock is the number of rows whose column sums softmaxRowsInPlace adds
// up together: a fixed block, so that the sums, added block after block,
// do not depend on the number of threads.
const colBlock = 64

// softmaxRowsInPlace adds bias (if any) to each row of the rows×n matrix p
// and replaces the row by its softmax, returning the summed negative
// log-likelihood of the labels that are not ignored. With colSum non-nil
// it also sums the softmax rows whose label is not ignored into colSum.
// Rows are split across the worker pool when there are many.
func softmaxRowsInPlace[T kernel.Float](pt, biast *tensor.Tensor, t []int, ignore, n int, colSum []float64) float64 {
	p, bias := tensor.Values[T](pt), tensor.Values[T](biast)
	rows := len(t)
	nll := make([]float64, rows)
	var partial []T // per block of colBlock rows
	if colSum != nil {
		partial = make([]T, (rows+colBlock-1)/colBlock*n)
	}
	blocks := (rows + colBlock - 1) / colBlock
	grain := max(1, softmaxGrain/max(n, 1)/colBlock)
	kernel.ParallelFor(blocks, grain, func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			for r := blk * colBlock; r < min(rows, (blk+1)*colBlock); r++ {
				pr := p[r*n : (r+1)*n]
				if bias != nil {
					kernel.Add(pr, pr, bias)
				}
				nll[r] = softmaxRow(pr, pr, t[r], ignore)
				if partial != nil && t[r] != ignore {
					ps := partial[blk*n : (blk+1)*n]
					kernel.Add(ps, ps, pr)
				}
			}
		}
	})
	for blk := 0; blk < len(partial)/max(n, 1); blk++ {
		for j, v := range partial[blk*n : (blk+1)*n] {
			colSum[j] += float64(v)
		}
	}
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
	scale := gy.Item()
	if f.reduce == ReduceMean && f.count > 0 {
		scale /= float64(f.count)
	}
	p, colSum := f.prob, f.colSum
	f.prob, f.colSum = nil, nil
	wantBias := len(in) == 3 && need[2]
	if p == nil { // a second Backward: recompute
		p, _ = f.probabilities(in, rows, nIn, nOut, wantBias)
		colSum, f.colSum = f.colSum, nil
	}
	// p − onehot(t), with the rows of ignored labels zero, is the logits'
	// gradient up to the factor scale, which the products take as alpha:
	// the rows×C buffer is touched only at the labels.
	tensor.Dispatch(p, crossEntropyBackward[float32], crossEntropyBackward[float64])(p, f.t, f.ignore, nOut, 1)
	var into2 []*tensor.Tensor
	if into != nil {
		into2 = into[:2]
	}
	gx := linear{}.backward(in[:2], p, scale, into2, need[:2])
	if len(in) == 3 {
		gx = append(gx, nil)
	}
	if wantBias {
		// gb = scale·(Σ_rows softmax − the count of each label), where
		// the sum runs over the rows whose label is not ignored; p now
		// holds softmax − onehot on those rows and zero on the others.
		var gb *tensor.Tensor
		if into != nil && into[2] != nil {
			gb = into[2]
		} else {
			gb = newLike(in[2], nOut)
			gx[2] = gb
		}
		tensor.Dispatch(p, addBiasGrad[float32], addBiasGrad[float64])(gb, p, colSum, f.t, f.ignore, rows, scale)
	}
	if p.DType() == tensor.Float32 {
		kernel.PutScratch(p.Float32s())
	}
	return gx
}

// addBiasGrad adds scale·(colSum − the count of each label) to gb, or,
// when colSum is nil, scale times the column sums of g (rows×len(gb)).
func addBiasGrad[T kernel.Float](gbt, gt *tensor.Tensor, colSum []float64, t []int, ignore, rows int, scale float64) {
	gb, g := tensor.Values[T](gbt), tensor.Values[T](gt)
	if colSum == nil {
		sum := make([]T, len(gb))
		kernel.SumRowsInto(sum, g, rows, len(gb))
		for j, v := range sum {
			gb[j] += T(scale * float64(v))
		}
		return
	}
	for _, l := range t {
		if l != ignore {
			colSum[l]--
		}
	}
	for j, v := range colSum {
		gb[j] += T(scale * v)
	}
}
