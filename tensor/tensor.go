// Package tensor provides dense, row-major, N-dimensional arrays of float32
// (kioku's working precision) or float64 (for gradient checks and for users
// who need it).
//
// A Tensor is always contiguous. Reshape and the views along the first axis
// (Slice, Index) share storage with their source; every other operation that
// returns a Tensor returns fresh storage. Misuse — mismatched shapes, an
// index out of range, the wrong element type — panics with a message naming
// the shapes involved, as slice indexing does.
//
// Random fills take an explicit *RNG; the package keeps no random state.
package tensor

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kioku-ml/kioku/internal/enum"
	"github.com/kioku-ml/kioku/internal/kernel"
)

// DType is the element type of a Tensor.
type DType uint8

const (
	// Float32 is the working precision and the fast path.
	Float32 DType = iota
	// Float64 is used for finite-difference gradient checks.
	Float64
)

// String returns "float32" or "float64".
func (d DType) String() string { return dtypeNames.String(d) }

var dtypeNames = enum.New[DType]("DType", "tensor: dtype", "float32", "float64")

// Size returns the size of one element in bytes.
func (d DType) Size() int {
	if d == Float64 {
		return 8
	}
	return 4
}

// Tensor is a dense row-major array. The zero value is not usable; create
// tensors with New, Zeros, FromFloat32, FromFloat64 or Scalar.
type Tensor struct {
	dtype DType
	shape []int
	f32   []float32
	f64   []float64
}

// New returns a zero-filled tensor of the given element type and shape.
// A tensor with no dimensions is a scalar holding one element.
func New(dtype DType, shape ...int) *Tensor {
	n := checkShape(shape)
	t := &Tensor{dtype: dtype, shape: slices.Clone(shape)}
	switch dtype {
	case Float32:
		t.f32 = make([]float32, n)
	case Float64:
		t.f64 = make([]float64, n)
	default:
		panic(fmt.Sprintf("tensor: unknown dtype %v", dtype))
	}
	return t
}

// Zeros is New with dtype Float32.
func Zeros(shape ...int) *Tensor { return New(Float32, shape...) }

// FromFloat32 wraps data, without copying, in a tensor of the given shape.
// With no shape the tensor is one-dimensional of length len(data).
func FromFloat32(data []float32, shape ...int) *Tensor {
	return &Tensor{dtype: Float32, shape: wrapShape(Float32, len(data), shape), f32: data}
}

// FromFloat64 wraps data, without copying, in a tensor of the given shape.
// With no shape the tensor is one-dimensional of length len(data).
func FromFloat64(data []float64, shape ...int) *Tensor {
	return &Tensor{dtype: Float64, shape: wrapShape(Float64, len(data), shape), f64: data}
}

// wrapShape returns a copy of the shape of a tensor wrapping n values of
// dtype: shape, or (n) for no shape. It panics unless shape holds n
// elements.
func wrapShape(dtype DType, n int, shape []int) []int {
	if len(shape) == 0 {
		return []int{n}
	}
	if m := checkShape(shape); m != n {
		panic(fmt.Sprintf("tensor: %d %v values cannot have shape %v (%d elements)", n, dtype, shape, m))
	}
	return slices.Clone(shape)
}

// Scalar returns a zero-dimensional tensor holding v.
func Scalar(dtype DType, v float64) *Tensor {
	t := New(dtype)
	t.SetFlat(0, v)
	return t
}

// checkShape panics on a negative dimension and returns the element count.
func checkShape(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the shape. The caller must not modify the returned slice.
func (t *Tensor) Shape() []int { return t.shape }

// NDim returns the number of dimensions.
func (t *Tensor) NDim() int { return len(t.shape) }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	if i < 0 || i >= len(t.shape) {
		panic(fmt.Sprintf("tensor: dimension %d out of range for shape %v", i, t.shape))
	}
	return t.shape[i]
}

// Size returns the number of elements.
func (t *Tensor) Size() int {
	if t.dtype == Float64 {
		return len(t.f64)
	}
	return len(t.f32)
}

// Float32s returns the backing storage of a Float32 tensor. It panics for
// other element types.
func (t *Tensor) Float32s() []float32 {
	if t.dtype != Float32 {
		panic(fmt.Sprintf("tensor: Float32s on a %v tensor of shape %v", t.dtype, t.shape))
	}
	return t.f32
}

// Float64s returns the backing storage of a Float64 tensor. It panics for
// other element types.
func (t *Tensor) Float64s() []float64 {
	if t.dtype != Float64 {
		panic(fmt.Sprintf("tensor: Float64s on a %v tensor of shape %v", t.dtype, t.shape))
	}
	return t.f64
}

// Values returns the backing storage of t as []T, for code generic over
// the element type: T is float32 for a Float32 tensor and float64 for a
// Float64 one. It returns nil for a nil t (an absent optional operand) and
// panics if T does not match t's element type.
func Values[T float32 | float64](t *Tensor) []T {
	if t == nil {
		return nil
	}
	var z T
	if _, ok := any(z).(float64); ok {
		return any(t.Float64s()).([]T)
	}
	return any(t.Float32s()).([]T)
}

// Dispatch returns f64 for a Float64 tensor t and f32 otherwise: the
// float32/float64 dispatch of code generic over the element type, written
// once. f32 and f64 are the two instantiations of one generic function
// taking tensors, which reads them with Values:
//
//	tensor.Dispatch(x, relu[float32], relu[float64])(y, x) // relu(y, x *Tensor)
func Dispatch[F any](t *Tensor, f32, f64 F) F {
	if t.dtype == Float64 {
		return f64
	}
	return f32
}

// CheckDTypes panics unless all of ts share one element type, with a
// message that names the package pkg, the operation op and the first
// mismatched types and shapes ("fn: MatMul mixes float32 [2 3] and
// float64 [3 4]"). It allocates nothing when the types agree.
func CheckDTypes(pkg, op string, ts ...*Tensor) {
	for _, u := range ts[1:] {
		if u.dtype != ts[0].dtype {
			panic(fmt.Sprintf("%s: %s mixes %v %v and %v %v", pkg, op, ts[0].dtype, ts[0].shape, u.dtype, u.shape))
		}
	}
}

// SameShape reports whether t and u have equal shapes.
func (t *Tensor) SameShape(u *Tensor) bool { return slices.Equal(t.shape, u.shape) }

// offset converts a multi-index to a flat offset, panicking when out of range.
func (t *Tensor) offset(idx []int) int {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("tensor: %d indices for shape %v", len(idx), t.shape))
	}
	off := 0
	for i, x := range idx {
		if x < 0 || x >= t.shape[i] {
			panic(fmt.Sprintf("tensor: index %v out of range for shape %v", idx, t.shape))
		}
		off = off*t.shape[i] + x
	}
	return off
}

// At returns the element at the multi-index idx as a float64.
func (t *Tensor) At(idx ...int) float64 { return t.AtFlat(t.offset(idx)) }

// Set stores v at the multi-index idx.
func (t *Tensor) Set(v float64, idx ...int) { t.SetFlat(t.offset(idx), v) }

// AtFlat returns the i-th element in row-major order.
func (t *Tensor) AtFlat(i int) float64 {
	if t.dtype == Float64 {
		return t.f64[i]
	}
	return float64(t.f32[i])
}

// SetFlat stores v as the i-th element in row-major order.
func (t *Tensor) SetFlat(i int, v float64) {
	if t.dtype == Float64 {
		t.f64[i] = v
		return
	}
	t.f32[i] = float32(v)
}

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() float64 {
	if t.Size() != 1 {
		panic(fmt.Sprintf("tensor: Item on a tensor of shape %v", t.shape))
	}
	return t.AtFlat(0)
}

// Values returns a copy of the elements as float64s, in row-major order.
func (t *Tensor) Values() []float64 {
	if t.dtype == Float64 {
		return slices.Clone(t.f64)
	}
	out := make([]float64, len(t.f32))
	for i, v := range t.f32 {
		out[i] = float64(v)
	}
	return out
}

// Reshape returns a view of t with a new shape and the same elements. One
// dimension may be -1; it is inferred from the others.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = slices.Clone(shape)
	infer, n := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.shape, shape))
		default:
			n *= d
		}
	}
	if infer >= 0 {
		if n == 0 || t.Size()%n != 0 {
			panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.shape, shape))
		}
		shape[infer] = t.Size() / n
		n *= shape[infer]
	}
	if n != t.Size() {
		panic(fmt.Sprintf("tensor: cannot reshape %v (%d elements) to %v (%d elements)", t.shape, t.Size(), shape, n))
	}
	return &Tensor{dtype: t.dtype, shape: shape, f32: t.f32, f64: t.f64}
}

// rowSize is the number of elements in one index of the first axis.
func (t *Tensor) rowSize() int {
	if len(t.shape) == 0 {
		panic("tensor: a scalar has no first axis")
	}
	n := 1
	for _, d := range t.shape[1:] {
		n *= d
	}
	return n
}

// Slice returns the view t[start:end] along the first axis. It shares
// storage with t.
func (t *Tensor) Slice(start, end int) *Tensor {
	if len(t.shape) == 0 || start < 0 || end < start || end > t.shape[0] {
		panic(fmt.Sprintf("tensor: slice [%d:%d] out of range for shape %v", start, end, t.shape))
	}
	r := t.rowSize()
	shape := slices.Clone(t.shape)
	shape[0] = end - start
	u := &Tensor{dtype: t.dtype, shape: shape}
	if t.dtype == Float64 {
		u.f64 = t.f64[start*r : end*r : end*r]
	} else {
		u.f32 = t.f32[start*r : end*r : end*r]
	}
	return u
}

// Index returns the view t[i] along the first axis, with one dimension
// fewer. It shares storage with t.
func (t *Tensor) Index(i int) *Tensor {
	if len(t.shape) == 0 || i < 0 || i >= t.shape[0] {
		panic(fmt.Sprintf("tensor: index %d out of range for shape %v", i, t.shape))
	}
	u := t.Slice(i, i+1)
	u.shape = u.shape[1:]
	return u
}

// Clone returns a copy of t with its own storage.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{dtype: t.dtype, shape: slices.Clone(t.shape), f32: slices.Clone(t.f32), f64: slices.Clone(t.f64)}
}

// ZerosLike returns a zero tensor with t's element type and shape.
func ZerosLike(t *Tensor) *Tensor { return New(t.dtype, t.shape...) }

// CopyFrom copies the elements of src into t. The two must have the same
// number of elements and element type; shapes may differ.
func (t *Tensor) CopyFrom(src *Tensor) {
	if t.dtype != src.dtype || t.Size() != src.Size() {
		panic(fmt.Sprintf("tensor: CopyFrom %v %v into %v %v", src.dtype, src.shape, t.dtype, t.shape))
	}
	copy(t.f32, src.f32)
	copy(t.f64, src.f64)
}

// AsType returns t converted to dtype; if t already has that type it is
// returned as is.
func (t *Tensor) AsType(dtype DType) *Tensor {
	if t.dtype == dtype {
		return t
	}
	u := New(dtype, t.shape...)
	switch dtype {
	case Float32:
		for i, v := range t.f64 {
			u.f32[i] = float32(v)
		}
	case Float64:
		for i, v := range t.f32 {
			u.f64[i] = float64(v)
		}
	}
	return u
}

// Fill sets every element to v.
func (t *Tensor) Fill(v float64) {
	if t.dtype == Float64 {
		for i := range t.f64 {
			t.f64[i] = v
		}
		return
	}
	f := float32(v)
	for i := range t.f32 {
		t.f32[i] = f
	}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() {
	if t.Size() <= parallelGrain {
		clear(t.f32)
		clear(t.f64)
		return
	}
	kernel.ParallelFor(len(t.f32), parallelGrain, func(lo, hi int) { clear(t.f32[lo:hi]) })
	kernel.ParallelFor(len(t.f64), parallelGrain, func(lo, hi int) { clear(t.f64[lo:hi]) })
}

// Transpose returns a copy of t with its axes permuted: axis i of the result
// is axis axes[i] of t. With no axes the order of all axes is reversed, so
// for a matrix Transpose() is the usual transpose.
func (t *Tensor) Transpose(axes ...int) *Tensor {
	nd := len(t.shape)
	if len(axes) == 0 {
		axes = make([]int, nd)
		for i := range axes {
			axes[i] = nd - 1 - i
		}
	}
	if !IsPermutation(axes, nd) {
		panic(fmt.Sprintf("tensor: transpose axes %v invalid for shape %v", axes, t.shape))
	}
	shape := make([]int, nd)
	for i, a := range axes {
		shape[i] = t.shape[a]
	}
	u := New(t.dtype, shape...)
	if t.dtype == Float64 {
		permute(u.f64, t.f64, t.shape, axes)
	} else {
		permute(u.f32, t.f32, t.shape, axes)
	}
	return u
}

// IsPermutation reports whether axes is a permutation of 0..n-1.
func IsPermutation(axes []int, n int) bool {
	if len(axes) != n {
		return false
	}
	seen := make([]bool, n)
	for _, a := range axes {
		if a < 0 || a >= n || seen[a] {
			return false
		}
		seen[a] = true
	}
	return true
}

// Permute writes src, of shape srcShape, into dst with its axes permuted so
// that axis i of dst is axis axes[i] of src.
func Permute[T float32 | float64](dst, src []T, srcShape, axes []int) {
	permute(dst, src, srcShape, axes)
}

func permute[T float32 | float64](dst, src []T, srcShape, axes []int) {
	nd := len(srcShape)
	if nd == 0 {
		copy(dst, src)
		return
	}
	strides := make([]int, nd) // strides of src, row-major
	s := 1
	for i := nd - 1; i >= 0; i-- {
		strides[i] = s
		s *= srcShape[i]
	}
	// dst is walked in order; pstride[i] is the src stride of dst axis i.
	dshape := make([]int, nd)
	pstride := make([]int, nd)
	for i, a := range axes {
		dshape[i] = srcShape[a]
		pstride[i] = strides[a]
	}
	idx := make([]int, nd)
	off := 0
	inner := dshape[nd-1]
	is := pstride[nd-1]
	for k := 0; k < len(dst); k += inner {
		for j := 0; j < inner; j++ {
			dst[k+j] = src[off+j*is]
		}
		// advance the multi-index over all but the last axis
		for ax := nd - 2; ax >= 0; ax-- {
			idx[ax]++
			off += pstride[ax]
			if idx[ax] < dshape[ax] {
				break
			}
			off -= pstride[ax] * dshape[ax]
			idx[ax] = 0
		}
	}
}

// Equal reports whether t and u have the same element type, shape and
// elements (NaNs compare unequal).
func Equal(t, u *Tensor) bool {
	return t.dtype == u.dtype && slices.Equal(t.shape, u.shape) && slices.Equal(t.f32, u.f32) && slices.Equal(t.f64, u.f64)
}

// AllClose reports whether t and u have the same shape and every pair of
// elements satisfies |a−b| ≤ atol + rtol·|b|. Element types may differ.
func AllClose(t, u *Tensor, rtol, atol float64) bool {
	if !slices.Equal(t.shape, u.shape) {
		return false
	}
	for i := 0; i < t.Size(); i++ {
		a, b := t.AtFlat(i), u.AtFlat(i)
		if !(math.Abs(a-b) <= atol+rtol*math.Abs(b)) {
			return false
		}
	}
	return true
}

// String formats the tensor's type, shape and (up to 64) elements.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor(%v, %v, [", t.dtype, t.shape)
	n := t.Size()
	for i := 0; i < n && i < 64; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.6g", t.AtFlat(i))
	}
	if n > 64 {
		fmt.Fprintf(&b, " … (%d more)", n-64)
	}
	b.WriteString("])")
	return b.String()
}
