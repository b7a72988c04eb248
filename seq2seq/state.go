package seq2seq

import (
	"context"
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// State is the decoder's state for N rows of hypotheses, each reading one
// of the encoded source sentences: the recurrent state of every layer,
// the last attentional vector (for input feeding) and which sentence each
// row attends to. Rows of one sentence share the encoder's outputs, so
// growing a batch into beams copies only the decoder's state.
//
// A State is produced by Model.Start and advanced by Model.Step; it is
// never modified in place.
type State struct {
	view   *Model // the inference view Start made, which Step runs
	enc    *encoding
	rows   []int      // rows[n]: the source sentence of row n
	lens   []int      // lens[n]: its length
	states []nn.State // per layer: H (N, H), and C (N, H) for the LSTM
	feed   *autograd.Variable
}

// Rows returns the number of rows (hypotheses) of the state.
func (s *State) Rows() int { return len(s.rows) }

// Start encodes a batch of source sentences (ids in [0, SrcVocab), each
// non-empty) in evaluation mode and returns the decoder's initial state,
// one row per sentence, or an error for an empty batch, an empty source
// or an id out of range. It runs on an inference view of the model,
// which the State carries for Step: nothing is recorded and nothing
// shared is written, so any number of goroutines may decode with one
// model. The sources are encoded as one packed batch; each one's encoding
// is bit for bit what encoding it alone gives (see inference.go).
func (m *Model) Start(src [][]int) (*State, error) {
	if err := m.checkSources(src); err != nil {
		return nil, err
	}
	return m.start(context.Background(), src)
}

// start is Start for checked sources, stopping with ctx.Err() between
// sources when ctx is done.
func (m *Model) start(ctx context.Context, src [][]int) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := m.inference()
	enc := v.encode(src, autograd.Eval)
	s := &State{view: v, enc: enc, rows: make([]int, len(src)), lens: enc.lengths, states: enc.states}
	for i := range s.rows {
		s.rows[i] = i
	}
	if m.cfg.InputFeeding {
		s.feed = autograd.NewVariable(tensor.New(m.cfg.DType, len(src), m.cfg.Hidden))
	}
	return s, nil
}

// Step feeds the previous token of each row (prev[n] in [0, TgtVocab);
// BOS at the first step) to the decoder in evaluation mode and returns the
// log-probabilities of the next token, (N, TgtVocab), the attention
// weights over each row's source positions, (N, S) with zeros past the
// row's source length (nil without attention), and the next state. It
// implements Stepper.
//
// Row n of the results depends only on row n of s and prev[n]: the
// kernels are batch-invariant, so a row gives the same bits in a batch of
// any size. Step is safe for
// concurrent use, on one State or many. It panics for a State another
// model made, a prev of the wrong length or a token out of range: the
// search functions pass only tokens the model scored, so these are bugs
// in the caller (Decode and Stream check their input and return errors).
func (m *Model) Step(s *State, prev []int) (logProbs, attention *tensor.Tensor, next *State) {
	if s == nil || s.view == nil || s.view.origin != m {
		panic("seq2seq: Step with a State that this model's Start did not make")
	}
	if len(prev) != len(s.rows) {
		panic(fmt.Sprintf("seq2seq: Step of a %d-row state with %d previous tokens", len(s.rows), len(prev)))
	}
	for n, id := range prev {
		if id < 0 || id >= m.cfg.TgtVocab {
			panic(fmt.Sprintf("seq2seq: Step with token %d at row %d outside [0, %d)", id, n, m.cfg.TgtVocab))
		}
	}
	v := s.view
	x := v.tgtEmbed.Forward(prev)
	states, out, w := v.decoderStep(s.states, s.feed, x, s.enc, s.rows, s.lens, autograd.Eval)
	next = &State{view: v, enc: s.enc, rows: s.rows, lens: s.lens, states: states}
	if m.cfg.InputFeeding {
		next.feed = out
	}
	logProbs = fn.LogSoftmax(v.generator.Forward(out)).Data
	if w != nil {
		attention = w.Data
	}
	return logProbs, attention, next
}

// Gather returns the state of rows idx of s, in that order (rows may
// repeat): row k of the result is row idx[k] of s. It implements
// Stepper, and panics for an index outside s's rows (a bug in the
// caller).
func (m *Model) Gather(s *State, idx []int) *State {
	n := len(s.rows)
	g := &State{view: s.view, enc: s.enc, rows: make([]int, len(idx)), lens: make([]int, len(idx))}
	for k, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("seq2seq: Gather index %d at position %d outside a %d-row state", i, k, n))
		}
		g.rows[k], g.lens[k] = s.rows[i], s.lens[i]
	}
	g.states = make([]nn.State, len(s.states))
	for l, st := range s.states {
		g.states[l].H = fn.GatherRows(st.H, idx)
		if st.C != nil {
			g.states[l].C = fn.GatherRows(st.C, idx)
		}
	}
	if s.feed != nil {
		g.feed = fn.GatherRows(s.feed, idx)
	}
	return g
}
