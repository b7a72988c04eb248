package kernel

import "math"

// Axpy computes y += alpha·x.
func Axpy[T Float](alpha T, x, y []T) {
	checkLen("Axpy", len(x), len(y))
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale computes x *= alpha.
func Scale[T Float](alpha T, x []T) {
	for i := range x {
		x[i] *= alpha
	}
}

// Add computes dst = a + b elementwise.
func Add[T Float](dst, a, b []T) {
	checkLen("Add", len(dst), len(a), len(b))
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// Sub computes dst = a − b elementwise.
func Sub[T Float](dst, a, b []T) {
	checkLen("Sub", len(dst), len(a), len(b))
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

// Mul computes dst = a ⊙ b elementwise.
func Mul[T Float](dst, a, b []T) {
	checkLen("Mul", len(dst), len(a), len(b))
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

// Div computes dst = a / b elementwise.
func Div[T Float](dst, a, b []T) {
	checkLen("Div", len(dst), len(a), len(b))
	for i := range dst {
		dst[i] = a[i] / b[i]
	}
}

// Sum returns the sum of the elements of x.
func Sum[T Float](x []T) T {
	var s T
	for _, v := range x {
		s += v
	}
	return s
}

// Dot returns the inner product of x and y.
func Dot[T Float](x, y []T) T {
	checkLen("Dot", len(x), len(y))
	var s T
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// Exp computes dst = exp(x) elementwise.
func Exp[T Float](dst, x []T) {
	checkLen("Exp", len(dst), len(x))
	for i, v := range x {
		dst[i] = T(math.Exp(float64(v)))
	}
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
func Sigmoid[T Float](dst, x []T) {
	checkLen("Sigmoid", len(dst), len(x))
	for i, v := range x {
		dst[i] = T(sigmoid64(float64(v)))
	}
}

// Tanh computes dst = tanh(x) elementwise.
func Tanh[T Float](dst, x []T) {
	checkLen("Tanh", len(dst), len(x))
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
