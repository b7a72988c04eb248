package nn

import (
	"fmt"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

func TestNStepNormalizedGradients(t *testing.T) {
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind} {
		for _, norm := range []fn.NormKind{fn.LayerNormKind, fn.BatchNormKind} {
			t.Run(fmt.Sprintf("%v/norm%d", cell, norm), func(t *testing.T) {
				cfg := RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: true, DType: tensor.Float64, Norm: norm}
				s := newTestStack(t, cell, cfg, 1)
				params := s.Params()
				randomize(params, 5) // gains away from their initial values
				inputs := checkInputs(tensor.NewRNG(2), 3, []int{3, 2, 3}, params)
				f := func(v []*autograd.Variable) []*autograd.Variable {
					setParams(s, v[3:])
					return stackOutputs(s, v[:3])
				}
				if err := gradcheck.Check(f, inputs, nil); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestNormalizedParamsAndInit(t *testing.T) {
	s := newTestStack(t, fn.LSTMCellKind, RecurrentConfig{InputSize: 2, HiddenSize: 3, Norm: fn.BatchNormKind, DType: tensor.Float64}, 1)
	var names []string
	for _, p := range s.Params() {
		names = append(names, fmt.Sprintf("%s%v", p.Name, p.Shape()))
	}
	want := "[weight_ih_l0[12 2] weight_hh_l0[12 3] bias_ih_l0[12] bias_hh_l0[12] norm_ih_l0[12] norm_hh_l0[12] norm_c_l0[3] norm_c_bias_l0[3]]"
	if fmt.Sprint(names) != want {
		t.Fatalf("params %v, want %s", names, want)
	}
	w := s.weights[0][0]
	if w.NormIH.Data.At(0) != 0.1 || w.NormC.Data.At(2) != 0.1 || w.NormCBias.Data.MaxAbs() != 0 {
		t.Fatal("batch-norm gains must start at 0.1 and the cell bias at 0")
	}
	ln := newTestStack(t, fn.GRUCellKind, RecurrentConfig{InputSize: 2, HiddenSize: 3, Norm: fn.LayerNormKind}, 1)
	if ln.weights[0][0].NormHH.Data.At(5) != 1 || ln.weights[0][0].NormC != nil {
		t.Fatal("layer-norm gains must start at 1; the GRU has no cell norm")
	}
}

// TestBatchNormRunningStats: training updates per-step population
// statistics; evaluation uses them (deterministically, independent of the
// batch), and steps past the longest seen reuse the last step's.
func TestBatchNormRunningStats(t *testing.T) {
	m, err := NewNStepLSTM(RecurrentConfig{InputSize: 2, HiddenSize: 3, Norm: fn.BatchNormKind, DType: tensor.Float64}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(2)
	batch := func(n, T int) []*autograd.Variable {
		var xs []*autograd.Variable
		for range n {
			x := tensor.New(tensor.Float64, T, 2)
			x.RandNormal(rng, 1, 2)
			xs = append(xs, autograd.NewVariable(x))
		}
		return xs
	}
	for range 20 {
		m.Forward(batch(8, 3), State{})
	}
	st := m.Stats(0, 0)
	if len(st.X) != 3 || len(st.H) != 3 || len(st.C) != 3 {
		t.Fatalf("statistics for %d/%d/%d steps, want 3", len(st.X), len(st.H), len(st.C))
	}
	m.SetMode(autograd.Eval)
	xs := batch(1, 5) // longer than any training sequence
	y1, _ := m.Forward(xs, State{})
	y2, _ := m.Forward(append(xs, batch(3, 5)...), State{}) // other sequences alongside
	if !tensor.AllClose(y1[0].Data, y2[0].Data, 1e-12, 1e-12) {
		t.Fatal("evaluation depends on the rest of the batch")
	}
	if len(m.Stats(0, 0).X) != 3 {
		t.Fatal("evaluation changed the statistics")
	}
}

func TestLinkNormalized(t *testing.T) {
	for _, norm := range []fn.NormKind{fn.LayerNormKind, fn.BatchNormKind} {
		l, err := NewLSTM(CellConfig{InputSize: 2, HiddenSize: 3, Norm: norm, DType: tensor.Float64}, tensor.NewRNG(1))
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.New(tensor.Float64, 4, 2)
		x.RandNormal(tensor.NewRNG(2), 0, 1)
		for range 3 {
			l.Advance(autograd.NewVariable(x))
		}
		if norm == fn.BatchNormKind && len(l.Stats().X) != 3 {
			t.Fatalf("link kept statistics for %d steps, want 3", len(l.Stats().X))
		}
		l.Reset()
		l.SetMode(autograd.Eval)
		a := l.Advance(autograd.NewVariable(x))
		l.Reset()
		b := l.Advance(autograd.NewVariable(x))
		if !tensor.Equal(a.Data, b.Data) {
			t.Fatal("evaluation not deterministic")
		}
	}
	if _, err := NewGRU(CellConfig{InputSize: 2, HiddenSize: 3, Norm: fn.LayerNormKind}, GRUCho, tensor.NewRNG(1)); err == nil {
		t.Fatal("normalised Cho GRU accepted")
	}
	if _, err := NewRNN(CellConfig{InputSize: 2, HiddenSize: 3, Norm: fn.LayerNormKind}, false, tensor.NewRNG(1)); err == nil {
		t.Fatal("normalised Elman RNN accepted")
	}
}
