//go:build amd64 && !purego

package kernel

import (
	"math"
	"testing"
)

// TestUnaryAVX512MatchesAVX2: the AVX-512 exp, sigmoid and tanh do the
// same operations as the AVX2 ones on twice the lanes, so they must agree
// bit for bit (NaN with NaN) on every input, including the special values.
func TestUnaryAVX512MatchesAVX2(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512F on this CPU")
	}
	xs := denseInputs(40009)
	xs = xs[:len(xs)&^15]
	for _, op := range []struct {
		name string
		op   int
	}{{"exp", unaryExp}, {"sigmoid", unarySigmoid}, {"tanh", unaryTanh}} {
		want, got := make([]float32, len(xs)), make([]float32, len(xs))
		unaryAVX2(op.op, want, xs)
		unarySIMD(op.op, got, xs)
		for i := range xs {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
				t.Fatalf("%s(%g): AVX-512 %g, AVX2 %g", op.name, xs[i], got[i], want[i])
			}
		}
	}
}
