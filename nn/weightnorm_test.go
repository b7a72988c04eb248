package nn

import (
	"math"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// TestWeightNormLinear: wrapping keeps the layer's output, names g and v
// like PyTorch, and gives exact gradients for g and v.
func TestWeightNormLinear(t *testing.T) {
	lin, _ := NewLinear(LinearConfig{In: 3, Out: 2, DType: tensor.Float64}, tensor.NewRNG(1))
	x := tensor.New(tensor.Float64, 4, 3)
	x.RandNormal(tensor.NewRNG(2), 0, 1)
	before := lin.Forward(autograd.NewVariable(x)).Data.Clone()
	wn, err := NewWeightNorm(lin, "weight")
	if err != nil {
		t.Fatal(err)
	}
	after := lin.Forward(autograd.NewVariable(x)).Data
	if !tensor.AllClose(before, after, 1e-14, 1e-14) {
		t.Fatal("wrapping changed the layer's output")
	}
	var names []string
	for n := range wn.NamedParams() {
		names = append(names, n)
	}
	if len(names) != 3 || names[0] != "weight_g" || names[1] != "weight_v" || names[2] != "bias" {
		t.Fatalf("parameters %v", names)
	}
	params := wn.Params()
	inputs := []*tensor.Tensor{x}
	for _, p := range params {
		inputs = append(inputs, p.Data)
	}
	f := func(v []*autograd.Variable) []*autograd.Variable {
		wn.targets[0].g, wn.targets[0].v = v[1], v[2]
		lin.Bias = v[3]
		lin.Bias.Name = "bias"
		wn.Apply()
		return []*autograd.Variable{lin.Forward(v[0])}
	}
	if err := gradcheck.Check(f, inputs, nil); err != nil {
		t.Fatal(err)
	}
	// The norm of each row of the effective weight is g.
	wn.targets[0].g.Data.Fill(3)
	wn.Apply()
	for r := 0; r < 2; r++ {
		if n := math.Sqrt(lin.Weight.Data.Index(r).SumSquares()); math.Abs(n-3) > 1e-12 {
			t.Fatalf("row %d has norm %v, want g = 3", r, n)
		}
	}
}

// TestWeightNormRecurrent wraps the recurrent weights of an NStep layer and
// trains one step through them.
func TestWeightNormRecurrent(t *testing.T) {
	m, _ := NewNStepGRU(RecurrentConfig{InputSize: 2, HiddenSize: 3, Layers: 2}, tensor.NewRNG(1))
	wn, err := NewWeightNorm(m, "weight_hh_l0", "weight_hh_l1")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(wn.Params()); got != len(m.Params())+2 {
		t.Fatalf("%d parameters, want %d", got, len(m.Params())+2)
	}
	x := tensor.New(tensor.Float32, 5, 2)
	x.RandNormal(tensor.NewRNG(2), 0, 1)
	wn.Apply()
	ys, _ := m.Forward([]*autograd.Variable{autograd.NewVariable(x)}, State{})
	fn.Sum(ys[0]).Backward()
	for _, p := range wn.Params() {
		if p.Grad == nil {
			t.Fatalf("%s got no gradient", p.Name)
		}
	}
	if _, err := NewWeightNorm(m, "bias_ih_l0"); err == nil {
		t.Fatal("a 1-D parameter accepted")
	}
	if _, err := NewWeightNorm(m, "nope"); err == nil {
		t.Fatal("an unknown name accepted")
	}
}

func TestNormalizationLayers(t *testing.T) {
	ln, err := NewLayerNormalization(NormConfig{Size: 4, DType: tensor.Float64})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromFloat64([]float64{1, 2, 3, 4, 2, 2, 2, 6}, 2, 4)
	y := ln.Forward(autograd.NewVariable(x)).Data
	for r := 0; r < 2; r++ {
		row := y.Index(r)
		if math.Abs(row.Sum()) > 1e-12 || math.Abs(row.SumSquares()/4-1) > 1e-4 {
			t.Fatalf("row %d not normalised: %v", r, row)
		}
	}
	bn, _ := NewBatchNormalization(NormConfig{Size: 4, DType: tensor.Float64, Momentum: 0.5})
	bn.Forward(autograd.NewVariable(x))
	// column 0: mean 1.5, biased var 0.25 → unbiased 0.5
	if math.Abs(bn.RunningMean[0]-0.75) > 1e-12 || math.Abs(bn.RunningVar[0]-(0.5*1+0.5*0.5)) > 1e-12 {
		t.Fatalf("running stats %v %v", bn.RunningMean, bn.RunningVar)
	}
	bn.SetMode(autograd.Eval)
	e := bn.Forward(autograd.NewVariable(x)).Data
	want := (1 - 0.75) / math.Sqrt(0.75+1e-5)
	if math.Abs(e.At(0, 0)-want) > 1e-12 {
		t.Fatalf("eval output %v, want %v", e.At(0, 0), want)
	}
	if _, err := NewBatchNormalization(NormConfig{Size: 0}); err == nil {
		t.Fatal("size 0 accepted")
	}
}
