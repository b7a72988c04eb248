package rnn

import (
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// Backend runs the recurrent op on one kind of device. The caller (package
// fn) validates the operands against the descriptor before it calls a
// backend — shapes, element types, which operands are present — so a
// backend may trust them.
type Backend interface {
	// Forward runs direction s.Direction of the layer d over the packed
	// sequence in s and returns the outputs. With keep it also returns the
	// Reserve that Backward needs (a training pass); without, it returns
	// a nil Reserve and keeps nothing (inference).
	Forward(d *Desc, s *Seq, in Operands, keep bool) (Outputs, Reserve)
	// Backward computes the gradients of the operands from those of the
	// outputs, gy (nil fields: no gradient), given the inputs in, the
	// outputs out and the reserve r of the forward pass. It writes the
	// gradients into the non-nil tensors of g, which the caller allocates
	// with zeros: the gradients of WIH and WHH are added to g's tensors
	// when accumulate is set, and those of BIH and BHH are added to them
	// without normalisation; the others overwrite them.
	Backward(d *Desc, s *Seq, in Operands, r Reserve, out, gy Outputs, g Operands, accumulate bool)
	// PackWeight prepares the weight matrix w (out, in), in PyTorch's
	// layout, for products at precision p: once, for loops that reuse the
	// same weights many times (generating a sequence one step at a time).
	// It returns nil where the backend has nothing to prepare for p (the
	// products then pack the weights on every call).
	PackWeight(w *tensor.Tensor, p Precision) *PackedWeight
}

// Reserve is what a forward pass keeps for its backward pass (cuDNN's
// reserve space): activations and workspaces.
type Reserve interface {
	// Release is called once a backward pass is done with the reserve. It
	// gives the reserve's memory back to the backend and reports true —
	// a later backward pass over the same graph must run Forward again —
	// or keeps it and reports false where a second forward pass would not
	// reproduce it exactly (batch statistics would be recorded again).
	Release() bool
}

// PackedWeight is a weight matrix (out, in) prepared by a backend's
// PackWeight for products at one precision. It is a snapshot: it does not
// follow later changes of the weights.
type PackedWeight struct {
	precision Precision
	out, in   int
	bf16      *kernel.PackedBF16       // the CPU's bfloat16 packing
	f32       *kernel.PackedB[float32] // the CPU's float32 packing
}

// Precision returns the precision the weight was prepared for.
func (p *PackedWeight) Precision() Precision { return p.precision }

// BF16Packing returns p's bfloat16 packing if p is one for a weight of
// out×in, else a fresh packing of w (out×in, row-major), for the CPU's
// bfloat16 products; p may be nil.
func (p *PackedWeight) BF16Packing(w []float32, out, in int) *kernel.PackedBF16 {
	if p != nil && p.bf16 != nil && p.out == out && p.in == in {
		return p.bf16
	}
	return kernel.PackBF16(true, in, out, w, in)
}

// F32Packing returns p's float32 packing if p is one for a weight of
// out×in, else nil (the caller then packs, or multiplies unpacked); p may
// be nil.
func (p *PackedWeight) F32Packing(out, in int) *kernel.PackedB[float32] {
	if p != nil && p.f32 != nil && p.out == out && p.in == in {
		return p.f32
	}
	return nil
}

// CPU is the backend that runs the op on this machine's CPU, on the
// kernels of package kernel and its worker pool. It holds no state: the
// zero value is ready, and any number of goroutines may use it at once.
type CPU struct{}

// PackWeight packs a float32 matrix (out, in) once into the matrix
// kernels' panel layout: for Float32 products (the float32 micro-kernels'
// layout; the products give the bits of unpacked ones), and for BFloat16
// products on CPUs with AVX512_BF16 (rounded to bfloat16). It returns nil
// for Float64, for other element types or shapes, and for BFloat16 on
// CPUs without AVX512_BF16.
func (CPU) PackWeight(w *tensor.Tensor, p Precision) *PackedWeight {
	if w == nil || w.DType() != tensor.Float32 || w.NDim() != 2 || w.Size() == 0 {
		return nil
	}
	out, in := w.Dim(0), w.Dim(1)
	switch {
	case p == Float32:
		// rows only picks the depth blocking, which does not change the
		// results: packed weights serve the products of few rows.
		return &PackedWeight{precision: Float32, out: out, in: in, f32: kernel.PackB(true, in, out, w.Float32s(), in, 1)}
	case p == BFloat16 && kernel.HasBF16():
		return &PackedWeight{precision: BFloat16, out: out, in: in, bf16: kernel.PackBF16(true, in, out, w.Float32s(), in)}
	}
	return nil
}

// Available reports whether the CPU backend runs precision p as asked
// (BFloat16 needs AVX512_BF16; elsewhere it runs as Float32).
func (CPU) Available(p Precision) bool {
	switch p {
	case Float32, Float64:
		return true
	case BFloat16:
		return kernel.HasBF16()
	}
	return false
}

// Forward implements Backend.
func (CPU) Forward(d *Desc, s *Seq, in Operands, keep bool) (Outputs, Reserve) {
	f := newOp(d, s, &in)
	// Without a gradient to record nothing needs the forward pass's
	// workspaces afterwards: take them from a pool and give them back.
	f.scratch = !keep && f.norm.Kind == NoNorm && in.X.DType() == tensor.Float32
	out := f.forward(&in)
	if !keep {
		if f.scratch {
			f.release()
		}
		return out, nil
	}
	return out, f
}

// Backward implements Backend. r must be the Reserve of a Forward of the
// same call, not yet released.
func (CPU) Backward(d *Desc, s *Seq, in Operands, r Reserve, out, gy Outputs, g Operands, accumulate bool) {
	f, ok := r.(*op)
	if !ok || f.act == nil {
		panic("rnn: CPU Backward without the live reserve of a CPU Forward")
	}
	a := f.args(&in)
	tensor.Dispatch(a.x, recurrentBackward[float32], recurrentBackward[float64])(f, a, out, gy, &g, accumulate)
}

// op is one direction's call on the CPU: its configuration and, after the
// forward pass, the workspaces it keeps for the backward pass (its
// Reserve).
type op struct {
	cell           Cell
	batchSizes     []int
	reverse        bool
	bias, peephole bool
	bf16           bool // products from bfloat16 roundings (inference)
	scratch        bool // no gradient recorded: workspaces go back to the scratch pool after Forward
	f32            bool // float32 operands
	algo           Algorithm
	// Optional pre-packed bfloat16 weights (Operands.PackedIH/HH).
	packedIH, packedHH *PackedWeight
	masks              Masks
	norm               normSpec
	hy, cy             *tensor.Tensor // Seq.HY, Seq.CY: where the final states go, or nil

	// Saved by Forward for Backward.
	act *tensor.Tensor // (N, G·H): gate activations (LSTM i,f,g,o; GRU r,z,n; RNN h̃)
	cs  *tensor.Tensor // LSTM: (N, H) candidate cell states c̃
	cz  *tensor.Tensor // LSTM with cell zoneout: (N, H) cell states after zoneout
	hhn *tensor.Tensor // GRU: (N, H) W_hn·h₋₁ + b_hn
	// With normalisation: the normalised projections and cell (x̂) and
	// their reciprocal standard deviations (per row for layer norm; per
	// step and unit, T×width, for batch norm).
	xhatX, xhatH, xhatC *tensor.Tensor
	rsX, rsH, rsC       *tensor.Tensor
}

// normSpec is the normalisation of one call: the descriptor's kind and eps
// with the call's statistics.
type normSpec struct {
	Kind                 NormKind
	Eps                  float64
	Population, Observed *NormStats
}

func newOp(d *Desc, s *Seq, in *Operands) *op {
	f := &op{cell: d.Cell, batchSizes: s.BatchSizes, reverse: s.Direction == 1, bias: d.Bias, peephole: d.Peephole,
		f32: in.X.DType() == tensor.Float32, algo: d.Algorithm, masks: s.Masks, hy: s.HY, cy: s.CY}
	if d.Norm != NoNorm {
		f.norm = normSpec{Kind: d.Norm, Eps: d.Eps, Population: s.Population, Observed: s.Observed}
		if f.norm.Eps == 0 {
			f.norm.Eps = 1e-5
		}
	}
	switch d.Precision {
	case BFloat16:
		f.bf16 = d.Norm == NoNorm && f.f32 && kernel.HasBF16()
		f.packedIH, f.packedHH = in.PackedIH, in.PackedHH
	case Float32:
		f.packedIH, f.packedHH = in.PackedIH, in.PackedHH // float32 packings, used where they fit
	}
	return f
}

// packedAs returns p's float32 packing of an out×in weight as the
// packing of the operands' type T when that is float32, else nil: the
// products then pack the weight themselves.
func packedAs[T kernel.Float](p *PackedWeight, out, in int) *kernel.PackedB[T] {
	pb, _ := any(p.F32Packing(out, in)).(*kernel.PackedB[T])
	return pb
}

// Release implements Reserve: float32 workspaces go back to the scratch
// pool, except those of a normalised layer in training (whose batch
// statistics a recomputation would record again).
func (f *op) Release() bool {
	if f.recyclable() {
		f.release()
		return true
	}
	return false
}

// recyclable reports whether the workspaces of f's forward pass come from
// the scratch pool and go back to it: float32 workspaces of inference, or
// of training without normalisation.
func (f *op) recyclable() bool {
	return f.f32 && (f.scratch || f.norm.Kind == NoNorm)
}

// release gives the forward pass's workspaces back to the scratch pool.
func (f *op) release() {
	for _, t := range []*tensor.Tensor{f.act, f.cs, f.cz, f.hhn} {
		releaseScratch(t)
	}
	f.act, f.cs, f.cz, f.hhn = nil, nil, nil, nil
}

// recurrentArgs are the operands of a call as the kernels use them, with
// the sizes.
type recurrentArgs struct {
	x, h0, c0, wih, whh, bih, bhh, peep *tensor.Tensor
	gIH, gHH, gC, bC                    *tensor.Tensor
	n, in, hidden, batch, gates         int
}

func (f *op) args(o *Operands) recurrentArgs {
	a := recurrentArgs{x: o.X, h0: o.H0, c0: o.C0, wih: o.WIH, whh: o.WHH, bih: o.BIH, bhh: o.BHH, peep: o.Peephole,
		gIH: o.NormIH, gHH: o.NormHH, gC: o.NormC, bC: o.NormCBias}
	a.gates = f.cell.Gates()
	a.hidden = a.whh.Dim(1)
	a.in = a.x.Dim(1)
	for _, b := range f.batchSizes {
		a.n += b
	}
	a.batch = f.batchSizes[0]
	return a
}

// newLike returns a zero tensor with t's element type and the given shape.
func newLike(t *tensor.Tensor, shape ...int) *tensor.Tensor {
	return tensor.New(t.DType(), shape...)
}

// scratchTensor returns a float32 tensor of the given shape with arbitrary
// contents from the scratch pool (kernel.GetScratch).
func scratchTensor(shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.FromFloat32(kernel.GetScratch(n), shape...)
}

// releaseScratch gives t's storage back to the scratch pool (nil is
// ignored).
func releaseScratch(t *tensor.Tensor) {
	if t != nil {
		kernel.PutScratch(t.Float32s())
	}
}

// getWork returns a workspace of n values with arbitrary contents: a
// recycled buffer for float32, a new slice for float64.
func getWork[T kernel.Float](n int) []T {
	var w []T
	if _, ok := any(w).([]float32); ok {
		return any(kernel.GetScratch(n)).([]T)
	}
	return make([]T, n)
}

// putWork gives a workspace from getWork back to the pool.
func putWork[T kernel.Float](w []T) {
	if f, ok := any(w).([]float32); ok {
		kernel.PutScratch(f)
	}
}
