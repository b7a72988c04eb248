package fn_test

import (
	"sync"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// TestRecurrentConcurrentInference runs the fused kernels of every cell
// from 16 goroutines at once on shared float32 weights that record no
// gradient (inference), each on its own input, with row groups and pooled
// workspaces in play (batch 32, two directions): every result equals the
// sequential one bit for bit, and under -race nothing shared is written.
func TestRecurrentConcurrentInference(t *testing.T) {
	const T, B, I, H, workers = 5, 32, 6, 16, 16
	f32 := func(seed uint64, shape ...int) *V {
		return autograd.NewVariable(randn(seed, shape...).AsType(tensor.Float32))
	}
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind} {
		t.Run(cell.String(), func(t *testing.T) {
			G := cell.Gates()
			var w []fn.RecurrentWeights
			for d := range 2 {
				s := uint64(10 * (d + 1))
				w = append(w, fn.RecurrentWeights{WIH: f32(s, G*H, I), WHH: f32(s+1, G*H, H), BIH: f32(s+2, G*H), BHH: f32(s+3, G*H)})
			}
			bs := make([]int, T)
			for i := range bs {
				bs[i] = B
			}
			run := func(seed uint64) []*tensor.Tensor {
				x := f32(seed, T*B, I)
				h0 := []*V{f32(seed+1, B, H), f32(seed+2, B, H)}
				var c0 []*V
				if cell.HasCellState() {
					c0 = []*V{f32(seed+3, B, H), f32(seed+4, B, H)}
				}
				ys, hN, cN := fn.RecurrentLayer(cell, x, h0, c0, w, []fn.Sequence{{BatchSizes: bs}, {BatchSizes: bs, Reverse: true}})
				var out []*tensor.Tensor
				for _, v := range append(append(ys, hN...), cN...) {
					out = append(out, v.Data)
				}
				return out
			}
			want := make([][]*tensor.Tensor, workers)
			for g := range want {
				want[g] = run(uint64(100 * (g + 1)))
			}
			got := make([][]*tensor.Tensor, workers)
			var wg sync.WaitGroup
			for g := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 3 {
						got[g] = run(uint64(100 * (g + 1)))
					}
				}()
			}
			wg.Wait()
			for g := range got {
				for k := range want[g] {
					if !tensor.AllClose(got[g][k], want[g][k], 0, 0) {
						t.Fatalf("goroutine %d, output %d differs from the sequential run", g, k)
					}
				}
			}
		})
	}
}
