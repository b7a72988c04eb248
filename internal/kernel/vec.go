package kernel

import "math"

// The elementwise and reduction routines. Float32 goes to the AVX2+FMA
// kernels in vec_amd64.s when the CPU has them (and the purego tag is not
// set); everything else runs the portable loops in this file. The
// vectorised exp, sigmoid and tanh stay within about 2e-7 relative error of
// the exact values (1e-6 is tested), saturate exactly (sigmoid to 0 and 1,
// tanh to ±1), propagate NaN and handle ±Inf; Sum and Dot add in a
// different order than a plain loop, so their float32 results may differ
// from it in the last bits. SumSquares accumulates in float64 with AVX-512
// or AVX2 kernels whose order of additions is fixed, so every path gives
// the same result.

// Axpy computes y += alpha·x.
func Axpy[T Float](alpha T, x, y []T) {
	checkLen("Axpy", len(x), len(y))
	if is32[T]() {
		axpy32(float32(alpha), as32(x), as32(y))
		return
	}
	axpyGo(alpha, x, y)
}

// Scale computes x *= alpha.
func Scale[T Float](alpha T, x []T) {
	if is32[T]() {
		scale32(float32(alpha), as32(x))
		return
	}
	scaleGo(alpha, x)
}

// Add computes dst = a + b elementwise.
func Add[T Float](dst, a, b []T) { binary("Add", dst, a, b, add32, addGo[T]) }

// Sub computes dst = a − b elementwise.
func Sub[T Float](dst, a, b []T) { binary("Sub", dst, a, b, sub32, subGo[T]) }

// Mul computes dst = a ⊙ b elementwise.
func Mul[T Float](dst, a, b []T) { binary("Mul", dst, a, b, mul32, mulGo[T]) }

// Div computes dst = a / b elementwise.
func Div[T Float](dst, a, b []T) { binary("Div", dst, a, b, div32, divGo[T]) }

// binary checks the lengths of the elementwise operation op and runs
// f32 on float32 slices, f otherwise.
func binary[T Float](op string, dst, a, b []T, f32 func(dst, a, b []float32), f func(dst, a, b []T)) {
	checkLen(op, len(dst), len(a), len(b))
	if is32[T]() {
		f32(as32(dst), as32(a), as32(b))
		return
	}
	f(dst, a, b)
}

// Sum returns the sum of the elements of x.
func Sum[T Float](x []T) T {
	if is32[T]() {
		return T(sum32(as32(x)))
	}
	return sumGo(x)
}

// sumSqLanes is the number of partial sums SumSquares keeps: element i is
// added into lane i mod sumSqLanes.
const sumSqLanes = 32

// SumSquares returns Σ x[i]², accumulated in float64 whatever T is, as the
// global gradient norm of gradient clipping needs.
//
// Each float32 element is converted to float64 before squaring, so the
// squares are exact and cannot overflow (3.4e38² ≈ 1.2e77). They are added
// into 32 float64 partial sums, element i into sum i mod 32, in order, and
// the partial sums are then added pairwise (sum j gets sum j+16, then j+8,
// j+4, j+2, j+1). The terms being non-negative, the result is within a
// relative (⌈n/32⌉+4)·2⁻⁵³ of the exact sum for float32 (plus 2⁻⁵³ for
// float64, whose squares round, and overflow beyond about 1.3e154) — below
// 4e-10 for n = 10⁸. The order is fixed, so the AVX-512, AVX2 and
// portable implementations return the same bits; it differs from a plain
// sequential loop in the last bits. NaN gives NaN and ±Inf gives +Inf.
func SumSquares[T Float](x []T) float64 {
	var acc [sumSqLanes]float64
	n := len(x) &^ (sumSqLanes - 1)
	if is32[T]() {
		sumSquares32(&acc, as32(x[:n]))
	} else {
		sumSquaresGo(&acc, x[:n])
	}
	for j, v := range x[n:] {
		f := float64(v)
		acc[j] += f * f
	}
	for w := sumSqLanes / 2; w >= 1; w /= 2 {
		for j := 0; j < w; j++ {
			acc[j] += acc[j+w]
		}
	}
	return acc[0]
}

// Shift computes x += c for every element.
func Shift[T Float](c T, x []T) {
	if is32[T]() {
		shift32(float32(c), as32(x))
		return
	}
	shiftGo(c, x)
}

// Max returns the largest element of x. With NaNs in x the result is
// unspecified (the vector path, like the MAXPS instruction, may skip
// them). It panics on an empty slice.
func Max[T Float](x []T) T {
	if len(x) == 0 {
		panic("kernel: Max of an empty slice")
	}
	if is32[T]() {
		return T(max32(as32(x)))
	}
	return maxGo(x)
}

// Dot returns the inner product of x and y.
func Dot[T Float](x, y []T) T {
	checkLen("Dot", len(x), len(y))
	if is32[T]() {
		return T(dot32(as32(x), as32(y)))
	}
	return dotGo(x, y)
}

// Exp computes dst = exp(x) elementwise.
func Exp[T Float](dst, x []T) { unary("Exp", dst, x, exp32, expGo[T]) }

// unary is binary for the elementwise functions of one operand.
func unary[T Float](op string, dst, x []T, f32 func(dst, x []float32), f func(dst, x []T)) {
	checkLen(op, len(dst), len(x))
	if is32[T]() {
		f32(as32(dst), as32(x))
		return
	}
	f(dst, x)
}

// Log computes dst = log(x) elementwise.
func Log[T Float](dst, x []T) {
	checkLen("Log", len(dst), len(x))
	for i, v := range x {
		dst[i] = T(math.Log(float64(v)))
	}
}

// Sigmoid computes dst = σ(x) = 1/(1+exp(−x)) elementwise, saturating to
// exactly 0 and 1 for large |x|.
func Sigmoid[T Float](dst, x []T) { unary("Sigmoid", dst, x, sigmoid32, sigmoidGo[T]) }

// Tanh computes dst = tanh(x) elementwise.
func Tanh[T Float](dst, x []T) { unary("Tanh", dst, x, tanh32, tanhGo[T]) }

// The portable implementations. The transcendental ones evaluate in
// float64 and round once, so they are the accuracy reference too.

func axpyGo[T Float](alpha T, x, y []T) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func scaleGo[T Float](alpha T, x []T) {
	for i := range x {
		x[i] *= alpha
	}
}

func addGo[T Float](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func subGo[T Float](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

func mulGo[T Float](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func divGo[T Float](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] / b[i]
	}
}

func shiftGo[T Float](c T, x []T) {
	for i := range x {
		x[i] += c
	}
}

func maxGo[T Float](x []T) T {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

func sumGo[T Float](x []T) T {
	var s T
	for _, v := range x {
		s += v
	}
	return s
}

func dotGo[T Float](x, y []T) T {
	y = y[:len(x)]
	var s T
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// sumSquaresGo adds x[i]² (in float64) into acc[i mod sumSqLanes]; len(x)
// is a multiple of sumSqLanes.
func sumSquaresGo[T Float](acc *[sumSqLanes]float64, x []T) {
	for ; len(x) >= sumSqLanes; x = x[sumSqLanes:] {
		for j, v := range x[:sumSqLanes:sumSqLanes] {
			f := float64(v)
			acc[j] += f * f
		}
	}
}

func expGo[T Float](dst, x []T) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = T(math.Exp(float64(v)))
	}
}

func sigmoidGo[T Float](dst, x []T) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = T(sigmoid64(float64(v)))
	}
}

func tanhGo[T Float](dst, x []T) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = T(math.Tanh(float64(v)))
	}
}

// sigmoid64 is σ(x) computed without overflow for either sign of x.
func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// LSTMBackwardRow computes, on the columns it can vectorise, the
// elementwise backward step of one LSTM row without peepholes, masks,
// zoneout or normalisation, and returns how many leading columns it did
// (a multiple of 16; 0 without AVX-512 or for float64): act holds the
// gate activations i, f, g, o (4h), ct the candidate cell c̃, cp the
// previous cell c₋₁ and dh the gradient of h (h each); it writes the
// gradients of the gate pre-activations into d (4h, same layout) and
// replaces dc, the gradient of c, with that of c₋₁:
//
//	tc = tanh(c̃), do = dh·tc·o·(1−o), dc̃ = dc + dh·o·(1−tc²)
//	di = dc̃·g·i·(1−i), df = dc̃·c₋₁·f·(1−f), dg = dc̃·i·(1−g²), dc ← dc̃·f
//
// evaluated left to right with one rounding per operation, as the plain
// Go loops of the caller compute the remaining columns, so that the
// results do not depend on the split.
func LSTMBackwardRow[T Float](d, dh, dc, act, ct, cp []T, h int) int {
	if !is32[T]() {
		return 0
	}
	return lstmBackwardCols(as32(d), as32(dh), as32(dc), as32(act), as32(ct), as32(cp), h)
}
