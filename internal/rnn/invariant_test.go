package rnn

import (
	"fmt"
	"math"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// TestForwardBatchInvariant checks that the recurrent op is
// batch-invariant in inference: each sequence of a packed batch of
// sequences of different lengths gets bit for bit the outputs and final
// states it gets alone (a batch of one), for every cell, both directions,
// float32 and bfloat16 products, with the Auto algorithm (row groups on
// the larger batch) and Sequential.
func TestForwardBatchInvariant(t *testing.T) {
	batches := [][]int{
		{5, 3, 3, 2, 1},
		{9, 9, 8, 7, 7, 7, 6, 5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1}, // 20 sequences: row groups
	}
	sizes := []struct{ I, H int }{{13, 37}, {40, 64}}
	for _, cell := range []Cell{LSTM, GRU, RNNTanh, RNNReLU} {
		for _, prec := range []Precision{Float32, BFloat16} {
			if !(CPU{}).Available(prec) {
				continue
			}
			for _, algo := range []Algorithm{Auto, Sequential} {
				for dir := 0; dir < 2; dir++ {
					for _, sz := range sizes {
						for bi, lens := range batches {
							name := fmt.Sprintf("%v/%v/%v/dir=%d/I=%d,H=%d/batch%d", cell, prec, algo, dir, sz.I, sz.H, bi)
							t.Run(name, func(t *testing.T) {
								d := &Desc{Cell: cell, InputSize: sz.I, HiddenSize: sz.H, Directions: 1, Bias: true, Precision: prec, Algorithm: algo}
								checkBatchInvariant(t, d, lens, dir)
							})
						}
					}
				}
			}
		}
	}
}

// checkBatchInvariant runs the sequences of lengths lens (non-increasing)
// packed together and one by one, and compares.
func checkBatchInvariant(t *testing.T, d *Desc, lens []int, dir int) {
	I, H := d.InputSize, d.HiddenSize
	G := map[Cell]int{LSTM: 4, GRU: 3, RNNTanh: 1, RNNReLU: 1}[d.Cell]
	B, T := len(lens), lens[0]
	bs := make([]int, T)
	for _, l := range lens {
		for s := 0; s < l; s++ {
			bs[s]++
		}
	}
	rng := tensor.NewRNG(uint64(7 + B + H))
	fill := func(scale float64, shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		for i := range x.Size() {
			x.SetFlat(i, scale*rng.NormFloat64())
		}
		return x
	}
	// Sequence b's input at step s is row s*B+b of xs (unpacked).
	xs := fill(1, T*B, I)
	h0, c0 := fill(0.5, B, H), fill(0.5, B, H)
	w := Operands{WIH: fill(0.3, G*H, I), WHH: fill(0.3, G*H, H), BIH: fill(0.2, G*H), BHH: fill(0.2, G*H)}
	if d.Precision == BFloat16 {
		w.PackedIH, w.PackedHH = CPU{}.PackWeight(w.WIH, BFloat16), CPU{}.PackWeight(w.WHH, BFloat16)
	}
	row := func(x *tensor.Tensor, r int) []float32 { return x.Float32s()[r*x.Dim(1) : (r+1)*x.Dim(1)] }
	run := func(bs []int, x, h0, c0 *tensor.Tensor) Outputs {
		in := w
		in.X, in.H0 = x, h0
		if d.Cell == LSTM {
			in.C0 = c0
		}
		out, _ := CPU{}.Forward(d, &Seq{BatchSizes: bs, Direction: dir}, in, false)
		return out
	}
	// Packed: step s holds the sequences still running, in order.
	n := 0
	for _, b := range bs {
		n += b
	}
	x := tensor.New(tensor.Float32, n, I)
	off := make([]int, T) // first packed row of each step
	for s, o := 0, 0; s < T; s++ {
		off[s] = o
		for b := 0; b < bs[s]; b++ {
			copy(row(x, o+b), row(xs, s*B+b))
		}
		o += bs[s]
	}
	all := run(bs, x, h0, c0)
	for b, l := range lens {
		one := make([]int, l)
		x1 := tensor.New(tensor.Float32, l, I)
		for s := range l {
			one[s] = 1
			copy(row(x1, s), row(xs, s*B+b))
		}
		h01, c01 := tensor.New(tensor.Float32, 1, H), tensor.New(tensor.Float32, 1, H)
		copy(h01.Float32s(), row(h0, b))
		copy(c01.Float32s(), row(c0, b))
		alone := run(one, x1, h01, c01)
		same := func(what string, got, want []float32) {
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("sequence %d (length %d): %s[%d] = %g in the batch, %g alone", b, l, what, j, got[j], want[j])
				}
			}
		}
		for s := range l {
			same(fmt.Sprintf("y at step %d", s), row(all.Y, off[s]+b), row(alone.Y, s))
		}
		same("final h", row(all.H, b), row(alone.H, 0))
		if d.Cell == LSTM {
			same("final c", row(all.C, b), row(alone.C, 0))
		}
	}
}
