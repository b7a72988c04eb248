// Package seqmodel holds the two small recurrent models that several
// example programs train: PerStep, an embedding, an LSTM and a linear layer
// that scores every step of token sequences, and Final, a recurrent layer
// read out by a linear layer from its final hidden state.
package seqmodel

import (
	"errors"
	"iter"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// Embed looks the id sequences seqs up in e with one lookup and returns one
// (len(seqs[i]), Dim) variable per sequence.
func Embed(e *nn.Embedding, seqs [][]int) []*autograd.Variable {
	var flat []int
	lengths := make([]int, len(seqs))
	for i, s := range seqs {
		flat = append(flat, s...)
		lengths[i] = len(s)
	}
	x := e.Forward(flat)
	if len(seqs) == 1 {
		return []*autograd.Variable{x}
	}
	return fn.Split(x, lengths, 0)
}

// PerStep is embedding → LSTM stack → linear, applied at every step.
type PerStep struct {
	Emb *nn.Embedding
	RNN *nn.NStepLSTM
	Out *nn.Linear
}

// NewPerStep returns a PerStep model over ids 0, …, vocab−1 with
// embeddings of size dim, the LSTM stack of cfg (whose InputSize it sets
// to dim) and out scores per step, initialised from rng in that order:
// embedding, LSTM, linear.
func NewPerStep(vocab, dim int, cfg nn.RecurrentConfig, out int, rng *tensor.RNG) (*PerStep, error) {
	m := &PerStep{}
	var err error
	if m.Emb, err = nn.NewEmbedding(nn.EmbeddingConfig{Vocab: vocab, Dim: dim}, rng); err != nil {
		return nil, err
	}
	cfg.InputSize = dim
	if m.RNN, err = nn.NewNStepLSTM(cfg, rng); err != nil {
		return nil, err
	}
	D := 1
	if cfg.Bidirectional {
		D = 2
	}
	if m.Out, err = nn.NewLinear(nn.LinearConfig{In: D * cfg.HiddenSize, Out: out}, rng); err != nil {
		return nil, err
	}
	return m, nil
}

// NamedParams names the parameters emb.weight, rnn.…, out.….
func (m *PerStep) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("emb", m.Emb), nn.Sub("rnn", m.RNN), nn.Sub("out", m.Out))
}

// Params returns the parameters in the order of NamedParams.
func (m *PerStep) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// Forward runs the model over the id sequences seqs from the state st (the
// zero State for the initial one) and returns the (Σ lengths, out) scores,
// sequence after sequence, and the final state.
func (m *PerStep) Forward(seqs [][]int, st nn.State) (*autograd.Variable, nn.State) {
	ys, final := m.RNN.Forward(Embed(m.Emb, seqs), st)
	return m.Out.Forward(fn.Concat(ys, 0)), final
}

// Final is a one-layer, one-direction recurrent layer read out by a linear
// layer from its final hidden state: one prediction per sequence.
type Final struct {
	RNN nn.Recurrent
	Out *nn.Linear
}

// NewFinal returns a Final model with the recurrent layer of cell and cfg
// (one layer, one direction) and out outputs, initialised from rng in that
// order: recurrent layer, linear.
func NewFinal(cell fn.Cell, cfg nn.RecurrentConfig, out int, rng *tensor.RNG) (*Final, error) {
	if cfg.Layers > 1 || cfg.Bidirectional {
		return nil, errors.New("seqmodel: Final reads one layer in one direction")
	}
	m := &Final{}
	var err error
	if m.RNN, err = nn.NewRecurrent(cell, cfg, rng); err != nil {
		return nil, err
	}
	if m.Out, err = nn.NewLinear(nn.LinearConfig{In: cfg.HiddenSize, Out: out}, rng); err != nil {
		return nil, err
	}
	return m, nil
}

// NamedParams names the parameters rnn.… and out.….
func (m *Final) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("rnn", m.RNN), nn.Sub("out", m.Out))
}

// Params returns the parameters in the order of NamedParams.
func (m *Final) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// Forward returns the (B, out) predictions for the B sequences xs, each of
// shape (length, InputSize), from the zero initial state.
func (m *Final) Forward(xs []*autograd.Variable) *autograd.Variable {
	_, final := m.RNN.Forward(xs, nn.State{})
	return m.Out.Forward(fn.Reshape(final.H, len(xs), -1))
}
