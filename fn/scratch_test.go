package fn

import (
	"math"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// TestInferenceScratchIsOverwritten fills the workspace pool with NaNs and
// checks that inference (which takes its workspaces from the pool) gives
// the same outputs as a pass that records a gradient (which allocates
// zeroed ones), for every cell kind, with and without biases, masks and
// peepholes — so no element of a pooled workspace is read before it is
// written.
func TestInferenceScratchIsOverwritten(t *testing.T) {
	const B, T, I, H = 3, 4, 5, 6
	bs := []int{3, 3, 2, 1}
	N := 9
	rng := tensor.NewRNG(1)
	randn := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		x.RandNormal(rng, 0, 0.5)
		return x
	}
	mask := func(p float32) *tensor.Tensor {
		m := tensor.New(tensor.Float32, N, H)
		for i := range m.Size() {
			if rng.Float64() < 0.3 {
				m.SetFlat(i, float64(p))
			}
		}
		return m
	}
	for _, cell := range []Cell{LSTMCellKind, GRUCellKind, RNNTanhCellKind, RNNReLUCellKind} {
		for _, bias := range []bool{false, true} {
			G := cell.Gates()
			x, h0, c0 := randn(N, I), randn(B, H), randn(B, H)
			wih, whh, bih, bhh := randn(G*H, I), randn(G*H, H), randn(G*H), randn(G*H)
			seq := Sequence{BatchSizes: bs}
			var peep *tensor.Tensor
			if cell == LSTMCellKind {
				peep = randn(3, H)
				seq.Masks = RecurrentMasks{Candidate: mask(2), ZoneH: mask(1), ZoneC: mask(1)}
			}
			run := func(record bool) []*tensor.Tensor {
				v := func(t *tensor.Tensor) *Variable {
					if t == nil {
						return nil
					}
					if record {
						return autograd.NewParameter(t.Clone())
					}
					return autograd.NewVariable(t.Clone())
				}
				w := RecurrentWeights{WIH: v(wih), WHH: v(whh), Peephole: v(peep)}
				if bias {
					w.BIH, w.BHH = v(bih), v(bhh)
				}
				var c *Variable
				if cell == LSTMCellKind {
					c = v(c0)
				}
				var outs []*tensor.Tensor
				for _, o := range recurrentApply(cell, v(x), v(h0), c, w, seq) {
					outs = append(outs, o.Data)
				}
				return outs
			}
			want := run(true)
			for range 4 { // poison the pool
				b := make([]float32, 4*N*G*H)
				for i := range b {
					b[i] = float32(math.NaN())
				}
				scratchPool.Put(&b)
			}
			got := run(false)
			for k := range want {
				if !tensor.Equal(got[k], want[k]) {
					t.Fatalf("%v bias %v: output %d of inference differs from the recorded pass: %v vs %v", cell, bias, k, got[k], want[k])
				}
			}
		}
	}
}
