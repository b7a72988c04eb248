package nn

import (
	"fmt"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

var allRegularization = Regularization{
	InputDropout: 0.1, OutputDropout: 0.2, VariationalInput: 0.3, VariationalHidden: 0.25,
	RecurrentDropout: 0.2, ZoneoutH: 0.3, ZoneoutC: 0.2, WeightDrop: 0.3,
}

func regFor(cell fn.Cell) Regularization {
	r := allRegularization
	if cell != fn.LSTMCellKind {
		r.ZoneoutC = 0
	}
	if cell != fn.LSTMCellKind && cell != fn.GRUCellKind {
		r.RecurrentDropout = 0
	}
	return r
}

// TestNStepRegularizationGradients checks NStep stacks with every option
// on, in training mode, with the masks fixed by re-seeding the layer's RNG
// on every evaluation.
func TestNStepRegularizationGradients(t *testing.T) {
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind, fn.RNNTanhCellKind} {
		for _, bi := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/bi%v", cell, bi), func(t *testing.T) {
				cfg := RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: bi, Dropout: 0.2, DType: tensor.Float64, Regularization: regFor(cell)}
				s := newTestStack(t, cell, cfg, 1)
				params := s.Params()
				inputs := checkInputs(tensor.NewRNG(2), 3, []int{3, 1, 2}, params)
				f := func(v []*autograd.Variable) []*autograd.Variable {
					setParams(s, v[3:])
					s.rng = tensor.NewRNG(77) // the same masks on every call
					return stackOutputs(s, v[:3])
				}
				if err := gradcheck.Check(f, inputs, nil); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestRegularizationEvalMode: in evaluation every dropout is the identity
// and zoneout uses its expectation, so a regularised layer in Eval mode
// equals the plain fused kernel with constant zoneout masks, and is
// deterministic.
func TestRegularizationEvalMode(t *testing.T) {
	cfg := RecurrentConfig{InputSize: 3, HiddenSize: 4, DType: tensor.Float64, Regularization: allRegularization}
	m, err := NewNStepLSTM(cfg, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	m.SetMode(autograd.Eval)
	rng := tensor.NewRNG(3)
	var xs []*autograd.Variable
	for _, n := range []int{4, 2} {
		x := tensor.New(tensor.Float64, n, 3)
		x.RandNormal(rng, 0, 1)
		xs = append(xs, autograd.NewVariable(x))
	}
	y1, sth1 := m.Forward(xs, State{})
	h1, c1 := sth1.H, sth1.C
	_, sth2 := m.Forward(xs, State{})
	h2 := sth2.H
	if !tensor.Equal(h1.Data, h2.Data) {
		t.Fatal("eval mode is not deterministic")
	}
	// The expectation by hand: zoneout weights fixed at p, nothing dropped.
	packed, p := PackSequences(xs)
	zh := tensor.New(tensor.Float64, p.Rows, 4)
	zh.Fill(allRegularization.ZoneoutH)
	zc := tensor.New(tensor.Float64, p.Rows, 4)
	zc.Fill(allRegularization.ZoneoutC)
	zero := autograd.NewVariable(tensor.New(tensor.Float64, 2, 4))
	ys, hN, cN := fn.LSTMSequence(packed, zero, zero, m.weights[0][0], fn.Sequence{BatchSizes: p.BatchSizes, Masks: fn.RecurrentMasks{ZoneH: zh, ZoneC: zc}})
	if !tensor.AllClose(h1.Data.Reshape(2, 4), fn.GatherRows(hN, p.Rank).Data, 1e-14, 1e-14) ||
		!tensor.AllClose(c1.Data.Reshape(2, 4), fn.GatherRows(cN, p.Rank).Data, 1e-14, 1e-14) {
		t.Fatal("eval mode differs from the expectation of zoneout")
	}
	back := UnpackSequences(ys, p)
	for i := range y1 {
		if !tensor.AllClose(y1[i].Data, back[i].Data, 1e-14, 1e-14) {
			t.Fatal("eval outputs differ from the expectation")
		}
	}
	// Train mode differs from eval and is seeded.
	m.SetMode(autograd.Train)
	_, sth3 := m.Forward(xs, State{})
	h3 := sth3.H
	if tensor.Equal(h3.Data, h1.Data) {
		t.Fatal("train mode equals eval mode")
	}
}

// TestVariationalInputMaskPerSequence: the variational input mask repeats
// each sequence's row at every step of that sequence.
func TestVariationalInputMaskPerSequence(t *testing.T) {
	p := seq.MustPacking([]int{3, 1, 2})
	m := tensor.FromFloat64([]float64{1, 2, 3, 4, 5, 6}, 3, 2) // sorted positions 0,1,2
	e := expandPerSequence(m, p)
	want := []float64{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 1, 2}
	for i, w := range want {
		if e.AtFlat(i) != w {
			t.Fatalf("expanded mask %v, want %v", e, want)
		}
	}
}

// TestWeightDropMasksRecurrentWeights: with DropConnect, the dropped
// entries of W_hh get no gradient; the stepped link keeps one mask per state
// until Reset.
func TestWeightDropMasksRecurrentWeights(t *testing.T) {
	l, err := NewLSTM(CellConfig{InputSize: 2, HiddenSize: 3, DType: tensor.Float64, Regularization: Regularization{WeightDrop: 0.5}}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float64, 2, 2)
	x.RandNormal(tensor.NewRNG(2), 0, 1)
	var loss *autograd.Variable
	for range 3 {
		y := fn.Sum(l.Advance(autograd.NewVariable(x)))
		if loss == nil {
			loss = y
		} else {
			loss = fn.Add(loss, y)
		}
	}
	loss.Backward()
	mask := l.wd
	zeros := 0
	for i := range mask.Size() {
		if mask.AtFlat(i) == 0 {
			zeros++
			if l.W.WHH.Grad.AtFlat(i) != 0 {
				t.Fatalf("dropped weight %d has gradient %v", i, l.W.WHH.Grad.AtFlat(i))
			}
		}
	}
	if zeros == 0 || zeros == mask.Size() {
		t.Fatalf("%d of %d weights dropped", zeros, mask.Size())
	}
	l.Reset()
	if l.wd != nil {
		t.Fatal("Reset kept the DropConnect mask")
	}
}

// TestLinkRegularizationGradients runs every link form that supports the
// in-kernel variants with all options on, stepping three times with masks
// fixed by re-seeding.
func TestLinkRegularizationGradients(t *testing.T) {
	build := map[string]func(CellConfig) (stepper, error){
		"LSTM":             func(c CellConfig) (stepper, error) { return NewLSTM(c, tensor.NewRNG(1)) },
		"PeepholeDiagonal": func(c CellConfig) (stepper, error) { return NewPeepholeLSTM(c, PeepholeDiagonal, tensor.NewRNG(1)) },
		"GRU":              func(c CellConfig) (stepper, error) { return NewGRU(c, GRUPyTorch, tensor.NewRNG(1)) },
		"RNN":              func(c CellConfig) (stepper, error) { return NewRNN(c, false, tensor.NewRNG(1)) },
	}
	cells := map[string]fn.Cell{"LSTM": fn.LSTMCellKind, "PeepholeDiagonal": fn.LSTMCellKind, "GRU": fn.GRUCellKind, "RNN": fn.RNNTanhCellKind}
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			link, err := mk(CellConfig{InputSize: 3, HiddenSize: 4, DType: tensor.Float64, Regularization: regFor(cells[name])})
			if err != nil {
				t.Fatal(err)
			}
			params := link.Params()
			randomize(params, 3)
			inputs := checkInputs(tensor.NewRNG(4), 3, []int{2, 2, 2}, params)
			st := stateField(link)
			f := func(v []*autograd.Variable) []*autograd.Variable {
				return linkSteps(link, params, v, 3, func() { st.rng = tensor.NewRNG(99) })
			}
			if err := gradcheck.Check(f, inputs, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func stateField(link stepper) *state {
	switch l := link.(type) {
	case *LSTM:
		return &l.state
	case *PeepholeLSTM:
		return &l.state
	case *GRU:
		return &l.state
	case *RNN:
		return &l.state
	}
	return nil
}

func TestRegularizationConfigErrors(t *testing.T) {
	rng := tensor.NewRNG(1)
	if _, err := NewNStepRNN(RecurrentConfig{InputSize: 2, HiddenSize: 3, Regularization: Regularization{RecurrentDropout: 0.1}}, false, rng); err == nil {
		t.Error("RecurrentDropout accepted for an Elman RNN")
	}
	if _, err := NewNStepGRU(RecurrentConfig{InputSize: 2, HiddenSize: 3, Regularization: Regularization{ZoneoutC: 0.1}}, rng); err == nil {
		t.Error("ZoneoutC accepted for a GRU")
	}
	if _, err := NewNStepLSTM(RecurrentConfig{InputSize: 2, HiddenSize: 3, Regularization: Regularization{ZoneoutH: 1}}, rng); err == nil {
		t.Error("zoneout 1 accepted")
	}
	if _, err := NewGRU(CellConfig{InputSize: 2, HiddenSize: 3, Regularization: Regularization{ZoneoutH: 0.1}}, GRUCho, rng); err == nil {
		t.Error("zoneout accepted for the Cho GRU")
	}
	if _, err := NewPeepholeLSTM(CellConfig{InputSize: 2, HiddenSize: 3, Regularization: Regularization{RecurrentDropout: 0.1}}, PeepholeFull, rng); err == nil {
		t.Error("recurrent dropout accepted for the full peephole form")
	}
}
