package fn

import (
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// Reshape returns x with a new shape holding the same elements; one
// dimension may be -1 and is inferred. The result shares storage with x.
func Reshape(x *Variable, shape ...int) *Variable {
	return autograd.Apply1(&reshape{shape: slices.Clone(shape)}, x)
}

type reshape struct{ shape []int }

func (f *reshape) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	return one(in[0].Reshape(f.shape...))
}

func (f *reshape) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	return one(gy[0].Reshape(in[0].Shape()...))
}

// Transpose permutes the axes of x: axis i of the result is axis axes[i] of
// x. With no axes, the order of the axes is reversed.
func Transpose(x *Variable, axes ...int) *Variable {
	if len(axes) == 0 {
		axes = make([]int, x.Data.NDim())
		for i := range axes {
			axes[i] = len(axes) - 1 - i
		}
	}
	return autograd.Apply1(&transpose{axes: slices.Clone(axes)}, x)
}

type transpose struct{ axes []int }

func (f *transpose) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	return one(in[0].Transpose(f.axes...))
}

func (f *transpose) Backward(_, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	inv := make([]int, len(f.axes))
	for i, a := range f.axes {
		inv[a] = i
	}
	return one(gy[0].Transpose(inv...))
}

// normAxis resolves a possibly negative axis against ndim dimensions.
func normAxis(op string, axis int, shape []int) int {
	a := axis
	if a < 0 {
		a += len(shape)
	}
	if a < 0 || a >= len(shape) {
		panic(fmt.Sprintf("fn: %s axis %d out of range for shape %v", op, axis, shape))
	}
	return a
}

// blocks returns, for shape and axis, the number of outer blocks and the
// number of elements per index of axis (the product of the later
// dimensions).
func blocks(shape []int, axis int) (outer, inner int) {
	outer, inner = 1, 1
	for i, d := range shape {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	return outer, inner
}

// copyBlocks copies, for each of outer blocks, n elements from src (block
// stride srcStride, offset srcOff) to dst (block stride dstStride, offset
// dstOff). It moves a slab of one tensor along an axis into another.
func copyBlocks(dst *tensor.Tensor, dstOff, dstStride int, src *tensor.Tensor, srcOff, srcStride, outer, n int) {
	tensor.Dispatch(dst, copyBlocksOf[float32], copyBlocksOf[float64])(dst, dstOff, dstStride, src, srcOff, srcStride, outer, n)
}

// copyBlocksOf is copyBlocks for the element type T (see tensor.Dispatch).
func copyBlocksOf[T float32 | float64](dst *tensor.Tensor, dstOff, dstStride int, src *tensor.Tensor, srcOff, srcStride, outer, n int) {
	d, s := tensor.Values[T](dst), tensor.Values[T](src)
	for o := 0; o < outer; o++ {
		copy(d[dstOff+o*dstStride:][:n], s[srcOff+o*srcStride:][:n])
	}
}

// Concat joins xs along axis. All inputs must have the same shape except
// along axis.
func Concat(xs []*Variable, axis int) *Variable {
	if len(xs) == 0 {
		panic("fn: Concat of no variables")
	}
	return autograd.Apply1(&concat{axis: axis}, xs...)
}

type concat struct{ axis int }

func (f *concat) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	sameType("Concat", in...)
	s0 := in[0].Shape()
	ax := normAxis("Concat", f.axis, s0)
	total := 0
	for _, x := range in {
		s := x.Shape()
		ok := len(s) == len(s0)
		for i := 0; ok && i < len(s); i++ {
			ok = i == ax || s[i] == s0[i]
		}
		if !ok {
			panic(fmt.Sprintf("fn: Concat along axis %d of shapes %v and %v", f.axis, s0, s))
		}
		total += s[ax]
	}
	shape := slices.Clone(s0)
	shape[ax] = total
	y := newLike(in[0], shape...)
	outer, inner := blocks(shape, ax)
	off := 0
	for _, x := range in {
		n := x.Dim(ax) * inner
		copyBlocks(y, off, total*inner, x, 0, n, outer, n)
		off += n
	}
	return one(y)
}

func (f *concat) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	g := gy[0]
	ax := normAxis("Concat", f.axis, g.Shape())
	outer, inner := blocks(g.Shape(), ax)
	stride := g.Dim(ax) * inner
	gx := make([]*tensor.Tensor, len(in))
	off := 0
	for i, x := range in {
		n := x.Dim(ax) * inner
		if need[i] {
			gx[i] = newLike(x, x.Shape()...)
			copyBlocks(gx[i], 0, n, g, off, stride, outer, n)
		}
		off += n
	}
	return gx
}

// Split cuts x along axis into pieces of the given sizes, which must add up
// to the length of that axis.
func Split(x *Variable, sizes []int, axis int) []*Variable {
	return autograd.Apply(&split{sizes: slices.Clone(sizes), axis: axis, keep: -1}, x)
}

// Slice returns x[start:end] along axis, as a new variable.
func Slice(x *Variable, axis, start, end int) *Variable {
	ax := normAxis("Slice", axis, x.Shape())
	n := x.Shape()[ax]
	if start < 0 || end < start || end > n {
		panic(fmt.Sprintf("fn: Slice [%d:%d] along axis %d out of range for shape %v", start, end, axis, x.Shape()))
	}
	f := &split{sizes: []int{start, end - start, n - end}, axis: ax, keep: 1}
	return autograd.Apply1(f, x)
}

// split cuts its input along an axis. With keep ≥ 0 only that piece is
// returned (Slice).
type split struct {
	sizes []int
	axis  int
	keep  int
}

func (f *split) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	x := in[0]
	ax := normAxis("Split", f.axis, x.Shape())
	total := 0
	for _, s := range f.sizes {
		if s < 0 {
			panic(fmt.Sprintf("fn: Split sizes %v contain a negative size", f.sizes))
		}
		total += s
	}
	if total != x.Dim(ax) {
		panic(fmt.Sprintf("fn: Split sizes %v add up to %d, not %d (axis %d of shape %v)", f.sizes, total, x.Dim(ax), f.axis, x.Shape()))
	}
	outer, inner := blocks(x.Shape(), ax)
	var ys []*tensor.Tensor
	off := 0
	for i, s := range f.sizes {
		if f.keep < 0 || i == f.keep {
			shape := slices.Clone(x.Shape())
			shape[ax] = s
			y := newLike(x, shape...)
			copyBlocks(y, 0, s*inner, x, off, total*inner, outer, s*inner)
			ys = append(ys, y)
		}
		off += s * inner
	}
	return ys
}

func (f *split) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	x := in[0]
	ax := normAxis("Split", f.axis, x.Shape())
	outer, inner := blocks(x.Shape(), ax)
	stride := x.Dim(ax) * inner
	gx := newLike(x, x.Shape()...)
	off, k := 0, 0
	for i, s := range f.sizes {
		if f.keep < 0 || i == f.keep {
			if g := gy[k]; g != nil {
				copyBlocks(gx, off, stride, g, 0, s*inner, outer, s*inner)
			}
			k++
		}
		off += s * inner
	}
	return one(gx)
}

// JoinViews returns whole as a variable whose row k (along the first
// axis) is parts[k], without copying anything: each part's data must
// already be the view whole.Index(k), as the final states a recurrent
// stack has the fused kernels write into (Sequence.FinalH) are. It is
// Stack(parts) for data that is already in place; its gradient hands
// part k the view gy[k]. It panics unless len(parts) == whole.Dim(0) and
// every part is that view.
func JoinViews(whole *tensor.Tensor, parts []*Variable) *Variable {
	if whole == nil || whole.NDim() == 0 || len(parts) != whole.Dim(0) {
		panic(fmt.Sprintf("fn: JoinViews of %d parts into %v", len(parts), shapeOf(whole)))
	}
	for k, p := range parts {
		if !tensor.Dispatch(whole, sameRow[float32], sameRow[float64])(whole, k, p.Data) {
			panic(fmt.Sprintf("fn: JoinViews part %d (%v %v) is not the view of row %d of %v %v", k, p.Data.DType(), p.Shape(), k, whole.DType(), whole.Shape()))
		}
	}
	return autograd.Apply1(&joinViews{whole: whole}, parts...)
}

// shapeOf returns t's shape, or nil for a nil t.
func shapeOf(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

// sameRow reports whether p is the view whole.Index(k): the same shape,
// element type and storage.
func sameRow[T float32 | float64](whole *tensor.Tensor, k int, p *tensor.Tensor) bool {
	if p.DType() != whole.DType() || !slices.Equal(p.Shape(), whole.Shape()[1:]) {
		return false
	}
	row, v := tensor.Values[T](whole.Index(k)), tensor.Values[T](p)
	return len(v) == len(row) && (len(v) == 0 || &v[0] == &row[0])
}

type joinViews struct{ whole *tensor.Tensor }

func (f *joinViews) Forward([]*tensor.Tensor) []*tensor.Tensor { return one(f.whole) }

func (f *joinViews) Backward(in, _, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	g := make([]*tensor.Tensor, len(in))
	for k := range in {
		if need[k] {
			g[k] = gy[0].Index(k)
		}
	}
	return g
}

// Rows returns rows [start, end) of x along its first axis as a view that
// shares x's storage (Slice copies): x itself for all of its rows. Its
// gradient is gy in those rows and zero elsewhere.
func Rows(x *Variable, start, end int) *Variable {
	if x.Data.NDim() == 0 || start < 0 || end < start || end > x.Data.Dim(0) {
		panic(fmt.Sprintf("fn: Rows [%d:%d] of shape %v", start, end, x.Shape()))
	}
	if start == 0 && end == x.Data.Dim(0) {
		return x
	}
	return autograd.Apply1(&rows{start: start, end: end}, x)
}

type rows struct{ start, end int }

func (f *rows) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	return one(in[0].Slice(f.start, f.end))
}

func (f *rows) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	gx := newLike(in[0], in[0].Shape()...)
	gx.Slice(f.start, f.end).CopyFrom(gy[0])
	return one(gx)
}
