package rnn

import (
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// gruOperands returns the float32 operands of a small GRU direction.
func gruOperands(bs []int, I, H int) *Operands {
	n := 0
	for _, b := range bs {
		n += b
	}
	rng := tensor.NewRNG(3)
	fill := func(shape ...int) *tensor.Tensor {
		t := tensor.New(tensor.Float32, shape...)
		for i := range t.Size() {
			t.SetFlat(i, 0.5*rng.NormFloat64())
		}
		return t
	}
	return &Operands{X: fill(n, I), H0: fill(bs[0], H), WIH: fill(3*H, I), WHH: fill(3*H, H), BIH: fill(3 * H), BHH: fill(3 * H)}
}

// TestCPUReserve checks the reserve protocol of the CPU backend: inference
// keeps none, training keeps one that Backward uses and Release spends,
// and Backward without a live reserve panics.
func TestCPUReserve(t *testing.T) {
	bs := []int{3, 2, 1}
	d := &Desc{Cell: GRU, InputSize: 4, HiddenSize: 5, Directions: 1, Bias: true}
	s := &Seq{BatchSizes: bs}
	in := *gruOperands(bs, 4, 5)
	var be Backend = CPU{}
	want, r := be.Forward(d, s, in, false)
	if r != nil {
		t.Fatal("inference kept a reserve")
	}
	out, r := be.Forward(d, s, in, true)
	if r == nil {
		t.Fatal("training kept no reserve")
	}
	if !tensor.Equal(out.Y, want.Y) || !tensor.Equal(out.H, want.H) || out.C != nil {
		t.Fatal("training and inference forward passes differ")
	}
	gy := Outputs{Y: tensor.New(tensor.Float32, out.Y.Shape()...), H: tensor.New(tensor.Float32, out.H.Shape()...)}
	gy.Y.Fill(1)
	g := Operands{X: tensor.New(tensor.Float32, in.X.Shape()...), WHH: tensor.New(tensor.Float32, in.WHH.Shape()...)}
	be.Backward(d, s, in, r, out, gy, g, false)
	nonzero := func(v []float32) bool {
		for _, x := range v {
			if x != 0 {
				return true
			}
		}
		return false
	}
	if !nonzero(g.X.Float32s()) || !nonzero(g.WHH.Float32s()) {
		t.Fatal("Backward left the gradients zero")
	}
	if !r.Release() {
		t.Fatal("a float32 reserve without normalisation was not released")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Backward with a released reserve did not panic")
		}
	}()
	be.Backward(d, s, in, r, out, gy, g, false)
}

// TestCPUPackWeight: float32 matrices pack for Float32 products, and for
// BFloat16 products on bfloat16 hardware; nothing else packs; the packing
// records its precision and serves only its own shape.
func TestCPUPackWeight(t *testing.T) {
	w := tensor.New(tensor.Float32, 6, 4)
	var be Backend = CPU{}
	if be.PackWeight(w, Float64) != nil {
		t.Error("PackWeight at float64 returned a packing")
	}
	f32 := be.PackWeight(w, Float32)
	if f32 == nil || f32.Precision() != Float32 || f32.F32Packing(6, 4) == nil || f32.F32Packing(4, 6) != nil {
		t.Errorf("PackWeight at float32: %+v", f32)
	}
	if be.PackWeight(tensor.New(tensor.Float64, 6, 4), BFloat16) != nil {
		t.Error("PackWeight of a float64 matrix returned a packing")
	}
	pw := be.PackWeight(w, BFloat16)
	if (pw != nil) != (CPU{}).Available(BFloat16) {
		t.Fatalf("PackWeight at bfloat16 returned %v with Available %v", pw, CPU{}.Available(BFloat16))
	}
	if pw != nil && pw.Precision() != BFloat16 {
		t.Errorf("packing has precision %v", pw.Precision())
	}
}
