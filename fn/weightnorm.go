package fn

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// WeightNorm returns the weight matrix w = g·v/‖v‖ with one norm per
// output row (Salimans & Kingma 2016, "Weight Normalization"): v has shape
// (Out, …) and g shape (Out); row r of w is g_r·v_r/‖v_r‖. The gradients
// are, with ŵ_r = v_r/‖v_r‖,
//
//	∂L/∂g_r = ⟨∂L/∂w_r, ŵ_r⟩
//	∂L/∂v_r = (g_r/‖v_r‖)·(∂L/∂w_r − ⟨∂L/∂w_r, ŵ_r⟩·ŵ_r)
//
// A row of v that is all zero panics: its direction is undefined.
func WeightNorm(v, g *Variable) *Variable { return autograd.Apply1(&weightNorm{}, v, g) }

type weightNorm struct {
	norms []float64 // ‖v_r‖
}

func (f *weightNorm) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	v, g := in[0], in[1]
	sameType("WeightNorm", v, g)
	if v.NDim() < 1 || g.NDim() != 1 || g.Dim(0) != v.Dim(0) {
		panic(fmt.Sprintf("fn: WeightNorm of v %v with g %v; want v (Out, …) and g (Out)", v.Shape(), g.Shape()))
	}
	rows := v.Dim(0)
	w := v.Clone()
	f.norms = make([]float64, rows)
	for r := 0; r < rows; r++ {
		row := w.Index(r)
		n := math.Sqrt(row.SumSquares())
		if n == 0 {
			panic(fmt.Sprintf("fn: WeightNorm: row %d of v %v is zero", r, v.Shape()))
		}
		f.norms[r] = n
		row.Scale(g.AtFlat(r) / n)
	}
	return one(w)
}

func (f *weightNorm) Backward(in, out, gy []*tensor.Tensor, need []bool) []*tensor.Tensor {
	v, g := in[0], in[1]
	dv, dg := newLike(v, v.Shape()...), newLike(g, g.Shape()...)
	for r := range f.norms {
		vr, dw := v.Index(r), gy[0].Index(r)
		n := f.norms[r]
		proj := dw.Dot(vr) / n // ⟨dw, ŵ⟩
		dg.SetFlat(r, proj)
		d := dv.Index(r)
		d.CopyFrom(dw)
		d.Axpy(-proj/n, vr)
		d.Scale(g.AtFlat(r) / n)
	}
	gx := []*tensor.Tensor{dv, dg}
	for i := range gx {
		if !need[i] {
			gx[i] = nil
		}
	}
	return gx
}
