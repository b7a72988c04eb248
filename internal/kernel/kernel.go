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

import "fmt"

// Float is the set of element types the kernels accept.
type Float interface {
	float32 | float64
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ as
// transA and transB say, op(A) is m×k, op(B) is k×n and C is m×n. All three
// matrices are row-major with leading dimensions lda, ldb and ldc (the
// distance between the starts of consecutive rows), so sub-matrices of larger
// arrays can be passed. When beta is zero, C is not read: NaNs in C do not
// propagate.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	switch a := any(a).(type) {
	case []float32:
		sgemm(transA, transB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		dgemm(transA, transB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
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
