package fn_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// run applies recurrentFunc to float32 copies of in (as parameters), with a
// weighted sum of the outputs as loss, and returns the outputs and the
// gradients of the inputs.
func runRecurrent(cell fn.Cell, seq fn.Sequence, in []*tensor.Tensor, norm bool) (outs, grads []*tensor.Tensor) {
	vs := make([]*V, len(in))
	for i, x := range in {
		vs[i] = autograd.NewParameter(x.AsType(tensor.Float32))
	}
	var ys []*V
	if norm {
		ys = normFunc(cell, seq, false)(vs)
	} else {
		ys = recurrentFunc(cell, seq, true, false)(vs)
	}
	return backwardWeighted(ys, randomWeights(90), vs)
}

// backwardWeighted backpropagates the loss Σ_k Σ ys[k]⊙w(k, ys[k]),
// summed in order, and returns the outputs' data and the gradients of vs.
func backwardWeighted(ys []*V, w func(k int, y *V) *V, vs []*V) (outs, grads []*tensor.Tensor) {
	var loss *V
	for k, y := range ys {
		l := fn.Sum(fn.Mul(y, w(k, y)))
		if loss == nil {
			loss = l
		} else {
			loss = fn.Add(loss, l)
		}
		outs = append(outs, y.Data)
	}
	loss.Backward()
	for _, v := range vs {
		grads = append(grads, v.Grad)
	}
	return outs, grads
}

// randomWeights returns the weights of backwardWeighted drawn from N(0, 1)
// with seeds seed, seed+1, … as float32.
func randomWeights(seed uint64) func(k int, y *V) *V {
	return func(k int, y *V) *V {
		return autograd.NewVariable(randn(seed+uint64(k), y.Shape()...).AsType(tensor.Float32))
	}
}

// TestAlgorithms: the schedules of the steps give the same outputs and
// gradients up to the rounding of the products (row groups project the
// inputs step by step, with other kernels) and of the normalisation
// parameters' gradients (which row groups sum per group).
func TestAlgorithms(t *testing.T) {
	bs := []int{40, 40, 33, 17, 3}
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind} {
		for _, norm := range []bool{false, true} {
			if norm && cell == fn.RNNTanhCellKind {
				continue
			}
			for _, reverse := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/norm=%v/reverse=%v", cell, norm, reverse), func(t *testing.T) {
					var in []*tensor.Tensor
					seq := fn.Sequence{BatchSizes: bs, Reverse: reverse}
					if norm {
						in = normCase(cell, bs, 5, 24, false, 11)
						seq.Norm = fn.RecurrentNorm{Kind: fn.LayerNormKind}
					} else {
						in = recurrentCase(cell, bs, 5, 24, true, false, 11)
					}
					wantOut, wantGrad := runRecurrent(cell, seq, in, norm)
					for _, algo := range []fn.Algorithm{fn.AlgoSequential, fn.AlgoRowGroups} {
						seq.Algorithm = algo
						out, grad := runRecurrent(cell, seq, in, norm)
						for k := range out {
							if d := maxDiff(out[k].AsType(tensor.Float64), wantOut[k].AsType(tensor.Float64)); d > 1e-5 {
								t.Errorf("%v: output %d differs from AlgoAuto's by %g", algo, k, d)
							}
						}
						for k := range grad {
							if d := maxDiff(grad[k].AsType(tensor.Float64), wantGrad[k].AsType(tensor.Float64)); d > 1e-4 {
								t.Errorf("%v: gradient %d differs from AlgoAuto's by %g", algo, k, d)
							}
						}
					}
				})
			}
		}
	}
}

// TestRecurrentLayer: the two directions run together give bit for bit the
// outputs and gradients of two separate calls, and a panic in a direction
// surfaces in the caller.
func TestRecurrentLayer(t *testing.T) {
	bs := []int{4, 3, 3, 1}
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNReLUCellKind} {
		t.Run(cell.String(), func(t *testing.T) {
			lstm := cell == fn.LSTMCellKind
			fw, bw := recurrentCase(cell, bs, 3, 5, true, false, 21), recurrentCase(cell, bs, 3, 5, true, false, 31)
			k := 2 // the index of W_ih
			if lstm {
				k = 3
			}
			params := func(ts []*tensor.Tensor) []*V {
				vs := make([]*V, len(ts))
				for i, x := range ts {
					vs[i] = autograd.NewParameter(x.AsType(tensor.Float32))
				}
				return vs
			}
			weights := func(v []*V) fn.RecurrentWeights {
				return fn.RecurrentWeights{WIH: v[k], WHH: v[k+1], BIH: v[k+2], BHH: v[k+3]}
			}
			// x is shared: the forward case's input serves both directions.
			run := func(together bool) (outs, grads []*tensor.Tensor) {
				vf, vb := params(fw), params(bw)
				vb[0] = vf[0]
				seqs := []fn.Sequence{{BatchSizes: bs}, {BatchSizes: bs, Reverse: true}}
				var ys, hs, cs []*V
				if together {
					var c0 []*V
					if lstm {
						c0 = []*V{vf[2], vb[2]}
					}
					ys, hs, cs = fn.RecurrentLayer(cell, vf[0], []*V{vf[1], vb[1]}, c0, []fn.RecurrentWeights{weights(vf), weights(vb)}, seqs)
				} else {
					for d, v := range [][]*V{vf, vb} {
						var y, h, c *V
						switch cell {
						case fn.LSTMCellKind:
							y, h, c = fn.LSTMSequence(v[0], v[1], v[2], weights(v), seqs[d])
						case fn.GRUCellKind:
							y, h = fn.GRUSequence(v[0], v[1], weights(v), seqs[d])
						default:
							y, h = fn.RNNSequence(v[0], v[1], weights(v), true, seqs[d])
						}
						ys, hs = append(ys, y), append(hs, h)
						if lstm {
							cs = append(cs, c)
						}
					}
				}
				all := append(append(ys, hs...), cs...)
				return backwardWeighted(all, randomWeights(50), append(vf, vb[1:]...))
			}
			wantOut, wantGrad := run(false)
			out, grad := run(true)
			for i := range wantOut {
				if !tensor.Equal(out[i], wantOut[i]) {
					t.Errorf("output %d differs from separate calls", i)
				}
			}
			for i := range wantGrad {
				if !tensor.Equal(grad[i], wantGrad[i]) {
					t.Errorf("gradient %d differs from separate calls", i)
				}
			}
		})
	}
	t.Run("panic", func(t *testing.T) {
		in := recurrentCase(fn.GRUCellKind, bs, 3, 5, false, false, 41)
		x, h0 := autograd.NewVariable(in[0].AsType(tensor.Float32)), autograd.NewVariable(in[1].AsType(tensor.Float32))
		w := fn.RecurrentWeights{WIH: autograd.NewVariable(in[2].AsType(tensor.Float32)), WHH: autograd.NewVariable(in[3].AsType(tensor.Float32))}
		bad := w
		bad.WHH = autograd.NewVariable(tensor.New(tensor.Float32, 15, 4)) // not (3·H, H)
		defer func() {
			msg, _ := recover().(string)
			if !strings.Contains(msg, "WHH must be") {
				t.Fatalf("recovered %q; want the reverse direction's shape panic", msg)
			}
		}()
		fn.RecurrentLayer(fn.GRUCellKind, x, []*V{h0, h0}, nil, []fn.RecurrentWeights{w, bad}, []fn.Sequence{{BatchSizes: bs}, {BatchSizes: bs, Reverse: true}})
	})
}

// TestRecurrentPrecisionArguments checks the precision and algorithm
// arguments: unknown values and float64 products of float32 tensors
// panic, Float32 packs nothing, and LinearAt at Float32 is Linear.
func TestRecurrentPrecisionArguments(t *testing.T) {
	in := recurrentCase(fn.RNNTanhCellKind, []int{2, 1}, 3, 4, false, false, 3)
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x.AsType(tensor.Float32))
	}
	w := fn.RecurrentWeights{WIH: v[2], WHH: v[3]}
	for name, seq := range map[string]fn.Sequence{
		"float64":   {BatchSizes: []int{2, 1}, Precision: fn.Float64},
		"precision": {BatchSizes: []int{2, 1}, Precision: fn.Float64 + 1},
		"algorithm": {BatchSizes: []int{2, 1}, Algorithm: fn.AlgoRowGroups + 1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn.RNNSequence(v[0], v[1], w, false, seq)
		}()
	}
	if fn.PackWeight(in[2].AsType(tensor.Float32), fn.Float64) != nil {
		t.Error("PackWeight at Float64 returned a packing")
	}
	if !fn.PrecisionAvailable(fn.Float32) || !fn.PrecisionAvailable(fn.Float64) || fn.PrecisionAvailable(fn.Float64+1) {
		t.Error("PrecisionAvailable is wrong for float32, float64 or an unknown precision")
	}
	x, wt := autograd.NewParameter(randn(7, 3, 4)), autograd.NewParameter(randn(8, 2, 4))
	if got, want := fn.LinearAt(x, wt, nil, fn.Float32, nil), fn.Linear(x, wt, nil); !tensor.Equal(got.Data, want.Data) || !got.RequiresGrad() {
		t.Error("LinearAt at Float32 is not Linear")
	}
}

// TestRecurrentSequence: the cell-generic entry gives the results of the
// cell's own function, bit for bit, with cN only for the LSTM.
func TestRecurrentSequence(t *testing.T) {
	const B, I, H = 2, 3, 4
	seq := fn.Sequence{BatchSizes: []int{2, 2, 1}}
	x, h0, c0 := autograd.NewVariable(randn(1, 5, I)), autograd.NewVariable(randn(2, B, H)), autograd.NewVariable(randn(3, B, H))
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind, fn.RNNReLUCellKind} {
		G := cell.Gates()
		w := fn.RecurrentWeights{WIH: autograd.NewVariable(randn(4, G*H, I)), WHH: autograd.NewVariable(randn(5, G*H, H))}
		var want []*V
		var c *V
		switch cell {
		case fn.LSTMCellKind:
			c = c0
			ys, hN, cN := fn.LSTMSequence(x, h0, c0, w, seq)
			want = []*V{ys, hN, cN}
		case fn.GRUCellKind:
			ys, hN := fn.GRUSequence(x, h0, w, seq)
			want = []*V{ys, hN}
		default:
			ys, hN := fn.RNNSequence(x, h0, w, cell == fn.RNNReLUCellKind, seq)
			want = []*V{ys, hN}
		}
		ys, hN, cN := fn.RecurrentSequence(cell, x, h0, c, w, seq)
		got := []*V{ys, hN}
		if cN != nil {
			got = append(got, cN)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d results; want %d", cell, len(got), len(want))
		}
		for k := range got {
			if !tensor.AllClose(got[k].Data, want[k].Data, 0, 0) {
				t.Fatalf("%v: result %d differs from the cell's own function", cell, k)
			}
		}
	}
}
