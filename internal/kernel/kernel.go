// Package kernel is kioku's compute boundary: dense matrix multiplication
// (GEMM) and the elementwise vector math that the differentiable functions
// and recurrent layers are built from.
//
// Every routine works on plain slices in row-major order, so a second
// backend (assembly, or a GPU later) can replace an implementation without
// its callers changing. The generic entry points (Gemm, Axpy, Sigmoid, …)
// dispatch on the element type: float32, the working precision, goes to the
// fastest implementation the CPU supports; float64, used for gradient checks,
// goes to a portable implementation.
//
// Slices are not checked for aliasing; dst may equal an input in the
// elementwise routines. Length mismatches panic with a message naming the
// lengths, since they are always programmer errors.
package kernel

import (
	"fmt"
	"unsafe"
)

// Float is the set of element types the kernels accept.
type Float interface {
	float32 | float64
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ as
// transA and transB say, op(A) is m×k, op(B) is k×n and C is m×n. All three
// matrices are row-major with leading dimensions lda, ldb and ldc (the
// distance between the starts of consecutive rows), so sub-matrices of larger
// arrays can be passed. When beta is zero, C is not read: NaNs in C do not
// propagate. Large products run on the shared worker pool (see Threads).
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	GemmThreads(0, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmThreads is Gemm using at most threads threads (the caller and
// threads−1 pool workers); threads ≤ 0 means the default, Threads().
// Benchmarks and callers that already run in parallel use it to bound a
// product's parallelism without touching any global setting.
func GemmThreads[T Float](threads int, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if is32[T]() {
		gemmRun(sgemmImpl, threads, transA, transB, m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	gemmRun(goImpl64, threads, transA, transB, m, n, k, float64(alpha), as64(a), lda, as64(b), ldb, float64(beta), as64(c), ldc)
}

// sgemmImpl is the float32 GEMM chosen for this CPU when the package is
// initialised.
var sgemmImpl = sgemmImpls()[0]

// is32 reports whether T is float32 (else it is float64).
func is32[T Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// as32 reinterprets x as []float32; only valid when is32[T]().
func as32[T Float](x []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

// as64 reinterprets x as []float64; only valid when !is32[T]().
func as64[T Float](x []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

// checkGemm panics when the slices are too short for the shapes and leading
// dimensions given.
func checkGemm(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernel: Gemm with negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check := func(name string, rows, cols, l, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("kernel: Gemm %s is %d×%d but its leading dimension is %d", name, rows, cols, ld))
		}
		if need := (rows-1)*ld + cols; l < need {
			panic(fmt.Sprintf("kernel: Gemm %s is %d×%d with leading dimension %d and needs %d elements, has %d", name, rows, cols, ld, need, l))
		}
	}
	check("A", ar, ac, la, lda)
	check("B", br, bc, lb, ldb)
	check("C", m, n, lc, ldc)
}

func checkLen(op string, n int, lens ...int) {
	for _, l := range lens {
		if l != n {
			panic(fmt.Sprintf("kernel: %s on slices of lengths %d and %d", op, n, l))
		}
	}
}
