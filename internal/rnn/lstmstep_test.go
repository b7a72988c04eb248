package rnn

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// TestLSTMBackwardStepSIMD: the plain LSTM cell's backward step, whose
// leading columns go through kernel.LSTMBackwardRow, gives bit for bit the
// results of the Go loops alone, for widths with and without a tail and
// inputs from tiny to saturating.
func TestLSTMBackwardStepSIMD(t *testing.T) {
	rng := tensor.NewRNG(5)
	val := func(scale float64) float32 {
		v := rng.NormFloat64() * scale
		if rng.IntN(50) == 0 {
			v *= 1e4 // saturate tanh now and then
		}
		return float32(v)
	}
	for _, H := range []int{1, 8, 16, 37, 200, 512} {
		t.Run(fmt.Sprint(H), func(t *testing.T) {
			const b = 3
			G := 4 * H
			act, ct, cp, dh, dc := make([]float32, b*G), make([]float32, b*H), make([]float32, b*H), make([]float32, b*H), make([]float32, b*H)
			for i := range act {
				act[i] = float32(1 / (1 + math.Exp(-float64(val(3))))) // gate activations in (0, 1)
				if (i/H)%4 == 2 {
					act[i] = 2*act[i] - 1 // g in (−1, 1)
				}
			}
			for _, v := range [][]float32{ct, cp, dh, dc} {
				for i := range v {
					v[i] = val(2)
				}
			}
			dWant, dGot := make([]float32, b*G), make([]float32, b*G)
			dcWant, dcGot := slices.Clone(dc), slices.Clone(dc)
			scratch := make([]float32, b*H)
			lstmBackwardCols(dWant, dh, dcWant, act, ct, ct, cp, nil, nil, stepMasks[float32]{}, scratch, nil, b, H, 0)
			lstmBackwardStep(dGot, dh, dcGot, act, ct, ct, cp, nil, nil, stepMasks[float32]{}, scratch, nil, b, H)
			for i := range dWant {
				if math.Float32bits(dGot[i]) != math.Float32bits(dWant[i]) {
					t.Fatalf("d[%d] = %v, Go loops %v", i, dGot[i], dWant[i])
				}
			}
			for i := range dcWant {
				if math.Float32bits(dcGot[i]) != math.Float32bits(dcWant[i]) {
					t.Fatalf("dc[%d] = %v, Go loops %v", i, dcGot[i], dcWant[i])
				}
			}
		})
	}
}
