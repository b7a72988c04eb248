package seqmodel

import (
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

func TestEmbed(t *testing.T) {
	e, err := nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 5, Dim: 3}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, seqs := range [][][]int{{{1, 2, 3}}, {{0}, {4, 4}, {2, 1, 0, 3}}} {
		xs := Embed(e, seqs)
		if len(xs) != len(seqs) {
			t.Fatalf("%v: %d variables", seqs, len(xs))
		}
		for i, s := range seqs {
			if sh := xs[i].Shape(); !slices.Equal(sh, []int{len(s), 3}) {
				t.Fatalf("%v: sequence %d has shape %v", seqs, i, sh)
			}
			for r, id := range s {
				for j := range 3 {
					if got, want := xs[i].Data.At(r, j), e.Weight.Data.At(id, j); got != want {
						t.Fatalf("%v: sequence %d row %d: %v, want row %d of the table (%v)", seqs, i, r, got, id, want)
					}
				}
			}
		}
	}
}

// TestPerStep checks the shapes of both directions and that Forward is the
// composition it stands for, with the state carried in and out.
func TestPerStep(t *testing.T) {
	seqs := [][]int{{1, 2, 3}, {0, 4}}
	for _, bi := range []bool{false, true} {
		m, err := NewPerStep(5, 4, nn.RecurrentConfig{HiddenSize: 6, Bidirectional: bi}, 2, tensor.NewRNG(2))
		if err != nil {
			t.Fatal(err)
		}
		D := 1
		if bi {
			D = 2
		}
		if got, want := nn.NumParams(m), 5*4+D*(4*6*(4+6)+8*6)+(D*6+1)*2; got != want {
			t.Errorf("bidirectional %v: %d parameters, want %d", bi, got, want)
		}
		y, st := m.Forward(seqs, nn.State{})
		if sh := y.Shape(); !slices.Equal(sh, []int{5, 2}) {
			t.Fatalf("bidirectional %v: scores of shape %v, want [5 2]", bi, sh)
		}
		y2, _ := m.Forward(seqs, st)
		ys, _ := m.RNN.Forward(Embed(m.Emb, seqs), st)
		want := m.Out.Forward(fn.Concat(ys, 0))
		for i := range 5 {
			for j := range 2 {
				if y2.Data.At(i, j) != want.Data.At(i, j) {
					t.Fatalf("bidirectional %v: score (%d, %d) %v, want %v", bi, i, j, y2.Data.At(i, j), want.Data.At(i, j))
				}
			}
		}
	}
	if _, err := NewPerStep(0, 4, nn.RecurrentConfig{HiddenSize: 6}, 2, tensor.NewRNG(1)); err == nil {
		t.Error("an empty vocabulary was accepted")
	}
}

func TestFinal(t *testing.T) {
	xs := []*autograd.Variable{
		autograd.NewVariable(tensor.FromFloat32([]float32{0.5, -1, 0.25, 2, -0.75, 1, 0, -0.5}, 4, 2)),
		autograd.NewVariable(tensor.FromFloat32([]float32{1, 0.5, -0.25, -1}, 2, 2)),
	}
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.RNNTanhCellKind, fn.RNNReLUCellKind} {
		m, err := NewFinal(cell, nn.RecurrentConfig{InputSize: 2, HiddenSize: 3}, 1, tensor.NewRNG(4))
		if err != nil {
			t.Fatal(err)
		}
		y := m.Forward(xs)
		if sh := y.Shape(); !slices.Equal(sh, []int{2, 1}) {
			t.Fatalf("%v: predictions of shape %v, want [2 1]", cell, sh)
		}
		// The second sequence alone gives its own prediction.
		if got, want := m.Forward(xs[1:]).Data.At(0, 0), y.Data.At(1, 0); got != want {
			t.Errorf("%v: %v alone, %v in the batch", cell, got, want)
		}
	}
	for _, cfg := range []nn.RecurrentConfig{{InputSize: 2, HiddenSize: 3, Layers: 2}, {InputSize: 2, HiddenSize: 3, Bidirectional: true}} {
		if _, err := NewFinal(fn.LSTMCellKind, cfg, 1, tensor.NewRNG(1)); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
