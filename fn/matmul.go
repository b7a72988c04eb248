package fn

import (
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/internal/rnn"
	"github.com/kioku-ml/kioku/tensor"
)

// gemm runs kernel.Gemm on whole tensors of the tensors' element type.
func gemm(transA, transB bool, m, n, k int, alpha float64, a *tensor.Tensor, lda int, b *tensor.Tensor, ldb int, beta float64, c *tensor.Tensor, ldc int) {
	tensor.Dispatch(c, gemmOf[float32], gemmOf[float64])(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmOf is gemm for the element type T (see tensor.Dispatch).
func gemmOf[T kernel.Float](transA, transB bool, m, n, k int, alpha float64, a *tensor.Tensor, lda int, b *tensor.Tensor, ldb int, beta float64, c *tensor.Tensor, ldc int) {
	kernel.Gemm(transA, transB, m, n, k, T(alpha), tensor.Values[T](a), lda, tensor.Values[T](b), ldb, T(beta), tensor.Values[T](c), ldc)
}

// gemmGrad is gemm for gradients: kernel.GemmSplitDepth, which may split
// a deep product along its depth across threads. Forward products use
// gemm, which is batch-invariant.
func gemmGrad(transA, transB bool, m, n, k int, alpha float64, a *tensor.Tensor, lda int, b *tensor.Tensor, ldb int, beta float64, c *tensor.Tensor, ldc int) {
	tensor.Dispatch(c, gemmGradOf[float32], gemmGradOf[float64])(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmGradOf is gemmGrad for the element type T (see tensor.Dispatch).
func gemmGradOf[T kernel.Float](transA, transB bool, m, n, k int, alpha float64, a *tensor.Tensor, lda int, b *tensor.Tensor, ldb int, beta float64, c *tensor.Tensor, ldc int) {
	kernel.GemmSplitDepth(transA, transB, m, n, k, T(alpha), tensor.Values[T](a), lda, tensor.Values[T](b), ldb, T(beta), tensor.Values[T](c), ldc)
}

// MatMul returns the matrix product a·b of an m×k and a k×n matrix.
func MatMul(a, b *Variable) *Variable { return autograd.Apply1(matmul{}, a, b) }

type matmul struct{}

func (matmul) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	a, b := in[0], in[1]
	sameType("MatMul", a, b)
	if a.NDim() != 2 || b.NDim() != 2 || a.Dim(1) != b.Dim(0) {
		panic(fmt.Sprintf("fn: MatMul of shapes %v and %v", a.Shape(), b.Shape()))
	}
	m, k, n := a.Dim(0), a.Dim(1), b.Dim(1)
	y := newLike(a, m, n)
	gemm(false, false, m, n, k, 1, a, k, b, n, 0, y, n)
	return one(y)
}

func (matmul) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	a, b, g := in[0], in[1], gy[0]
	m, k, n := a.Dim(0), a.Dim(1), b.Dim(1)
	gx := make([]*tensor.Tensor, 2)
	if need[0] { // ga = g·bᵀ
		gx[0] = newLike(a, m, k)
		gemmGrad(false, true, m, k, n, 1, g, n, b, n, 0, gx[0], k)
	}
	if need[1] { // gb = aᵀ·g
		gx[1] = newLike(b, k, n)
		gemmGrad(true, false, k, n, m, 1, a, k, g, n, 0, gx[1], n)
	}
	return gx
}

// Linear returns x·Wᵀ + b, the affine map of a fully connected layer. x has
// shape (…, in) — every leading dimension is treated as batch — W has shape
// (out, in) as in PyTorch, and b, which may be nil, has shape (out). The
// result has shape (…, out).
func Linear(x, W, b *Variable) *Variable {
	if b == nil {
		return autograd.Apply1(linear{}, x, W)
	}
	return autograd.Apply1(linear{}, x, W, b)
}

type linear struct{}

func (linear) dims(in []*tensor.Tensor) (rows, nIn, nOut int) { return linearDims("Linear", in) }

// linearDims checks the operands x (…, in), W (out, in) and b (out) or
// none of the function op and returns the rows of x and the sizes.
func linearDims(op string, in []*tensor.Tensor) (rows, nIn, nOut int) {
	x, w := in[0], in[1]
	sameType(op, in...)
	if x.NDim() < 1 || w.NDim() != 2 || x.Dim(-1) != w.Dim(1) || (len(in) == 3 && (in[2].NDim() != 1 || in[2].Dim(0) != w.Dim(0))) {
		bs := "nil"
		if len(in) == 3 {
			bs = fmt.Sprint(in[2].Shape())
		}
		panic(fmt.Sprintf("fn: %s with x %v, W %v, b %s; want x (…, in), W (out, in), b (out)", op, x.Shape(), w.Shape(), bs))
	}
	nIn, nOut = w.Dim(1), w.Dim(0)
	return x.Size() / max(nIn, 1), nIn, nOut
}

func (f linear) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	return one(f.into(nil, in))
}

// into computes x·Wᵀ + b for in = x, W[, b] into dst when dst has the
// result's shape and type, else into a new tensor, and returns it.
func (f linear) into(dst *tensor.Tensor, in []*tensor.Tensor) *tensor.Tensor {
	x, w := in[0], in[1]
	rows, nIn, nOut := f.dims(in)
	y := resultLike(dst, x, nOut)
	if len(in) == 3 {
		// The bias goes into each tile of y just before its product.
		tensor.Dispatch(y, linearBias[float32], linearBias[float64])(y, x, w, in[2], rows, nIn, nOut)
		return y
	}
	gemm(false, true, rows, nOut, nIn, 1, x, nIn, w, nIn, 0, y, nOut)
	return y
}

// linearBias computes y = x·wᵀ + bias for the element type T (see
// tensor.Dispatch), the bias going into each tile of y just before its
// product.
func linearBias[T kernel.Float](y, x, w, bias *tensor.Tensor, rows, nIn, nOut int) {
	kernel.GemmBias(false, true, rows, nOut, nIn, 1, tensor.Values[T](x), nIn, tensor.Values[T](w), nIn, tensor.Values[T](bias), tensor.Values[T](y), nOut)
}

// resultLike returns dst if it has x's shape with the last dimension
// replaced by n and x's type, else a new tensor of that shape and type.
func resultLike(dst, x *tensor.Tensor, n int) *tensor.Tensor {
	shape := append([]int(nil), x.Shape()...)
	shape[len(shape)-1] = n
	if dst != nil && dst.DType() == x.DType() && slices.Equal(dst.Shape(), shape) {
		return dst
	}
	return newLike(x, shape...)
}

// LinearInto computes x·Wᵀ + b on tensors, for inference without a graph:
// the operands are those of Linear (b may be nil). The result goes into
// dst when dst has its shape and type — dst must then not overlap x, W or
// b — and into a new tensor otherwise (dst nil included); LinearInto
// returns it. A loop that passes the previous result back in reuses one
// buffer: an output layer's logits are tens of megabytes, and allocating
// them afresh (zeroed, then collected) costs as much as a third of the
// product.
func LinearInto(dst, x, W, b *tensor.Tensor) *tensor.Tensor {
	in := []*tensor.Tensor{x, W}
	if b != nil {
		in = append(in, b)
	}
	return linear{}.into(dst, in)
}

// LinearIntoAt is LinearInto with the product at precision p, from W's
// packing pw made by PackWeight at p (pw may be nil: W is then packed on
// every call). With Float32 it is LinearInto, bit for bit, faster with a
// packing (W is not packed again); with Float64 it is LinearInto.
func LinearIntoAt(dst, x, W, b *tensor.Tensor, p Precision, pw *PackedWeight) *tensor.Tensor {
	in := []*tensor.Tensor{x, W}
	if b != nil {
		in = append(in, b)
	}
	if p == BFloat16 || p == Float32 {
		return linearInference{p: p, pw: pw.packed()}.into(dst, in)
	}
	return linear{}.into(dst, in)
}

// fillRows writes the vector b into each of the rows rows of y, splitting
// the rows across the worker pool when y is large (an output layer's
// logits can be tens of megabytes).
func fillRows(y, b *tensor.Tensor, rows int) {
	tensor.Dispatch(y, fillRowsOf[float32], fillRowsOf[float64])(y, b, rows)
}

func fillRowsOf[T kernel.Float](yt, bt *tensor.Tensor, rows int) {
	y, b := tensor.Values[T](yt), tensor.Values[T](bt)
	n := len(b)
	kernel.ParallelFor(rows, max(1, (1<<16)/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(y[r*n:(r+1)*n], b)
		}
	})
}

func (f linear) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	return f.backward(in, gy[0], 1, nil, need)
}

// BackwardInto adds the gradients of the inputs with a buffer in into to
// it: the products run with beta = 1 on the buffer.
func (f linear) BackwardInto(in, _, gy, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	return f.backward(in, gy[0], 1, into, need)
}

// backward returns the gradients of x, W and b from that of the output,
// alpha·g, adding those with a buffer in into (which may be nil) to it.
func (f linear) backward(in []*tensor.Tensor, g *tensor.Tensor, alpha float64, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	x, w := in[0], in[1]
	rows, nIn, nOut := f.dims(in)
	gx := make([]*tensor.Tensor, len(in))
	// dst returns the buffer for input i and the beta that adds into it.
	dst := func(i int, shape ...int) (*tensor.Tensor, float64) {
		if into != nil && into[i] != nil {
			return into[i], 1
		}
		gx[i] = newLike(in[i], shape...)
		return gx[i], 0
	}
	if need[0] { // gx = g·W
		d, beta := dst(0, x.Shape()...)
		gemmGrad(false, false, rows, nIn, nOut, alpha, g, nOut, w, nIn, beta, d, nIn)
	}
	if need[1] { // gW = gᵀ·x
		d, beta := dst(1, nOut, nIn)
		gemmGrad(true, false, nOut, nIn, rows, alpha, g, nOut, x, nIn, beta, d, nIn)
	}
	if len(in) == 3 && need[2] { // gb = Σ_rows g
		if alpha != 1 {
			panic("fn: linear.backward with a bias and alpha ≠ 1")
		}
		d, _ := dst(2, nOut)
		tensor.Dispatch(g, sumRowsInto[float32], sumRowsInto[float64])(d, g, rows, nOut)
	}
	return gx
}

// sumRowsInto sets d to the sum of the rows of g (rows×n) for the element
// type T (see tensor.Dispatch).
func sumRowsInto[T kernel.Float](d, g *tensor.Tensor, rows, n int) {
	kernel.SumRowsInto(tensor.Values[T](d), tensor.Values[T](g), rows, n)
}

// LinearAt is Linear with the product x·Wᵀ at precision p, from W's
// packing pw made by PackWeight at p (pw may be nil: W is then packed on
// every call). With Float32 and Float64 it is Linear, bit for bit; with a
// float32 packing and no gradient to record, W is not packed again. With
// BFloat16 the
// product is computed from bfloat16 roundings of x and W and accumulated
// in float32 (see BFloat16 for the accuracy): about twice as fast as
// Linear on CPUs with AVX512_BF16, and the same as Linear for float64 or
// without that hardware (PrecisionAvailable). BFloat16 is for inference:
// it panics if an input requires a gradient (use autograd.NoGrad).
func LinearAt(x, W, b *Variable, p Precision, pw *PackedWeight) *Variable {
	in := []*Variable{x, W}
	if b != nil {
		in = append(in, b)
	}
	var recorded *Variable // an input that requires a gradient
	for _, v := range in {
		if recorded == nil && v.RequiresGrad() {
			recorded = v
		}
	}
	switch {
	case p == BFloat16 && recorded != nil:
		panic(fmt.Sprintf("fn: a bfloat16 Linear is for inference, but an input of shape %v requires a gradient (use autograd.NoGrad)", recorded.Shape()))
	case p == BFloat16 || p == Float32 && pw != nil && recorded == nil:
		return autograd.Apply1(linearInference{p: p, pw: pw.packed()}, in...)
	}
	return Linear(x, W, b)
}

// linearInference is Linear for inference at precision p (Float32 or
// BFloat16) from W's packing pw (which may be nil): with BFloat16 the
// products run on bfloat16 roundings where the CPU has them; with Float32
// a float32 packing spares packing W again, with Linear's bits. Without
// what it needs (another type, no packing at Float32, no AVX512_BF16) it
// is Linear.
type linearInference struct {
	linear
	p  Precision
	pw *rnn.PackedWeight
}

func (f linearInference) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	return one(f.into(nil, in))
}

// into computes the product into dst (see linear.into): the bias goes
// into y first and the packed product adds to it, which is what the
// unpacked kernels do tile by tile.
func (f linearInference) into(dst *tensor.Tensor, in []*tensor.Tensor) *tensor.Tensor {
	x, w := in[0], in[1]
	rows, nIn, nOut := f.dims(in)
	var product func(y []float32, beta float32)
	switch {
	case x.DType() != tensor.Float32:
	case f.p == BFloat16 && kernel.HasBF16():
		pb := f.pw.BF16Packing(tensor.Values[float32](w), nOut, nIn)
		product = func(y []float32, beta float32) {
			kernel.GemmPackedBF16(rows, 1, tensor.Values[float32](x), nIn, pb, beta, y, nOut)
		}
	case f.p == Float32:
		if pb := f.pw.F32Packing(nOut, nIn); pb != nil {
			product = func(y []float32, beta float32) {
				kernel.GemmPacked(false, rows, 1, tensor.Values[float32](x), nIn, pb, beta, y, nOut)
			}
		}
	}
	if product == nil {
		return f.linear.into(dst, in)
	}
	y := resultLike(dst, x, nOut)
	beta := float32(0)
	if len(in) == 3 {
		fillRows(y, in[2], rows)
		beta = 1
	}
	product(tensor.Values[float32](y), beta)
	return y
}

func (linearInference) Backward(_, _, _ []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	panic("fn: a Linear at an inference precision, or from a packed weight, has no backward pass")
}
