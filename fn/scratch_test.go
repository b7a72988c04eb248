package fn

import (
	"math"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/tensor"
)

// poisonScratch fills the scratch pool's classes for buffers of the given
// sizes with NaN buffers, so that a workspace read before it is written
// shows up as NaN in the results.
func poisonScratch(sizes ...int) {
	for _, n := range sizes {
		if n < kernel.MinScratch {
			continue
		}
		_, capacity := kernel.ScratchClass(n)
		for range 4 {
			b := make([]float32, capacity)
			for i := range b {
				b[i] = float32(math.NaN())
			}
			kernel.PutScratch(b)
		}
	}
}

// TestScratchIsOverwritten fills the workspace pool with NaNs and checks
// that float32 inference and training (forward and backward), which take
// their workspaces from the pool, agree with float64 passes (never pooled),
// for every cell kind, with and without biases, masks and peepholes, with
// and without row groups — so no element of a pooled workspace is read
// before it is written.
func TestScratchIsOverwritten(t *testing.T) {
	const I, H = 5, 64
	for _, bs := range [][]int{{3, 3, 2, 1}, {70, 70, 61, 20}} {
		B, N := bs[0], 0
		for _, b := range bs {
			N += b
		}
		rng := tensor.NewRNG(1)
		randn := func(shape ...int) *tensor.Tensor {
			x := tensor.New(tensor.Float64, shape...)
			x.RandNormal(rng, 0, 0.5)
			return x
		}
		mask := func(p float64) *tensor.Tensor {
			m := tensor.New(tensor.Float64, N, H)
			for i := range m.Size() {
				if rng.Float64() < 0.3 {
					m.SetFlat(i, p)
				}
			}
			return m
		}
		for _, cell := range []Cell{LSTMCellKind, GRUCellKind, RNNTanhCellKind, RNNReLUCellKind} {
			for _, bias := range []bool{false, true} {
				G := cell.Gates()
				x, h0, c0 := randn(N, I), randn(B, H), randn(B, H)
				wih, whh, bih, bhh := randn(G*H, I), randn(G*H, H), randn(G*H), randn(G*H)
				var peep *tensor.Tensor
				var masks RecurrentMasks
				if cell == LSTMCellKind {
					peep = randn(3, H)
					masks = RecurrentMasks{Candidate: mask(2), ZoneH: mask(1), ZoneC: mask(1)}
				}
				// run returns the outputs and, with record, the gradients of
				// the sum of the outputs' squares.
				run := func(dt tensor.DType, record bool) []*tensor.Tensor {
					var params []*Variable
					v := func(t *tensor.Tensor) *Variable {
						if t == nil {
							return nil
						}
						if record {
							p := autograd.NewParameter(t.AsType(dt))
							params = append(params, p)
							return p
						}
						return autograd.NewVariable(t.AsType(dt))
					}
					w := RecurrentWeights{WIH: v(wih), WHH: v(whh)}
					if bias {
						w.BIH, w.BHH = v(bih), v(bhh)
					}
					seq := Sequence{BatchSizes: bs}
					if masks.Candidate != nil {
						seq.Masks = RecurrentMasks{Candidate: masks.Candidate.AsType(dt), ZoneH: masks.ZoneH.AsType(dt), ZoneC: masks.ZoneC.AsType(dt)}
						w.Peephole = v(peep)
					}
					var c *Variable
					if cell == LSTMCellKind {
						c = v(c0)
					}
					outs := recurrentApply(cell, v(x), v(h0), c, w, seq)
					var res []*tensor.Tensor
					var loss *Variable
					for _, o := range outs {
						res = append(res, o.Data.AsType(tensor.Float64))
						if record {
							l := Sum(Square(o))
							if loss == nil {
								loss = l
							} else {
								loss = Add(loss, l)
							}
						}
					}
					if record {
						poisonScratch(N*H, N*G*H)
						loss.Backward()
						for _, p := range params {
							res = append(res, p.Grad.AsType(tensor.Float64))
						}
					}
					return res
				}
				for _, record := range []bool{false, true} {
					want := run(tensor.Float64, record)
					poisonScratch(N*H, N*G*H)
					got := run(tensor.Float32, record)
					for k := range want {
						for i := range want[k].Size() {
							g, w := got[k].AtFlat(i), want[k].AtFlat(i)
							if !(math.Abs(g-w) <= 2e-3*(1+math.Abs(w))) {
								t.Fatalf("%v bias %v batch %d record %v: result %d element %d = %v, float64 %v", cell, bias, B, record, k, i, g, w)
							}
						}
					}
				}
			}
		}
	}
}
