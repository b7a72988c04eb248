// Package lm is kioku's recurrent language model: embedding → a stack of
// LSTM or GRU layers → a linear layer over the vocabulary, with optional
// weight tying (Press & Wolf 2017; Inan et al. 2017), trained by truncated
// backpropagation through time as in Zaremba et al. (2014), "Recurrent
// Neural Network Regularization". It also evaluates perplexity, scores
// many texts in one packed batch (Score), and generates text one request
// at a time (Sample, Stream) or many together with continuous batching
// (Batch, Generate); one model serves any number of goroutines at once.
package lm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/nn/initializer"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// Kind is the checkpoint kind of a language model.
const Kind = "kioku-lm"

// Config describes a language model. It is saved with checkpoints as
// JSON.
type Config struct {
	// Cell is "lstm" or "gru".
	Cell string `json:"cell"`
	// Tokenizer is "char", "word" or "byte" (how the vocabulary was
	// built; seq.TokenizerByName).
	Tokenizer string `json:"tokenizer"`
	// Vocab is the vocabulary size.
	Vocab int `json:"vocab"`
	// Emb, Hidden and Layers size the network.
	Emb    int `json:"emb"`
	Hidden int `json:"hidden"`
	Layers int `json:"layers"`
	// Dropout is applied to the embeddings, between layers and to the last
	// layer's output (Zaremba et al.'s non-recurrent dropout).
	Dropout float64 `json:"dropout"`
	// Tie shares the embedding matrix with the output layer (needs
	// Emb == Hidden).
	Tie bool `json:"tie"`
	// InitScale, when positive, initialises every weight from
	// U(−InitScale, InitScale) as Zaremba et al. do (0.1 for their small
	// model); zero keeps PyTorch's defaults.
	InitScale float64 `json:"init_scale"`
	// LayerNorm normalises the recurrent layers' pre-activations and cell
	// (layer-normalised LSTM or GRU, Ba et al. 2016; see fn.Sequence.Norm).
	LayerNorm bool `json:"layer_norm,omitempty"`
}

// Validate reports the first problem of the configuration.
func (c Config) Validate() error {
	switch {
	case !isCell(c.Cell):
		return fmt.Errorf("lm: cell %q: want lstm or gru", c.Cell)
	case c.Tokenizer != "char" && c.Tokenizer != "word" && c.Tokenizer != "byte":
		return fmt.Errorf("lm: tokenizer %q: want char, word or byte", c.Tokenizer)
	case c.Vocab < 3:
		return fmt.Errorf("lm: vocabulary of %d tokens is too small", c.Vocab)
	case c.Emb <= 0 || c.Hidden <= 0 || c.Layers <= 0:
		return fmt.Errorf("lm: sizes must be positive (emb %d, hidden %d, layers %d)", c.Emb, c.Hidden, c.Layers)
	case c.Emb > 1<<16 || c.Hidden > 1<<16 || c.Layers > 64:
		return fmt.Errorf("lm: sizes too large (emb %d, hidden %d, layers %d)", c.Emb, c.Hidden, c.Layers)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("lm: dropout %v outside [0, 1)", c.Dropout)
	case c.Tie && c.Emb != c.Hidden:
		return fmt.Errorf("lm: weight tying needs emb == hidden (got %d and %d)", c.Emb, c.Hidden)
	case c.InitScale < 0:
		return fmt.Errorf("lm: negative init scale %v", c.InitScale)
	}
	return nil
}

// cellKind returns the cell kind Config.Cell names: the one place the
// model looks at it.
func cellKind(name string) (fn.Cell, bool) {
	switch name {
	case "lstm":
		return fn.LSTMCellKind, true
	case "gru":
		return fn.GRUCellKind, true
	}
	return 0, false
}

func isCell(name string) bool {
	_, ok := cellKind(name)
	return ok
}

// Model is a recurrent language model.
//
// A Model is safe for concurrent inference: Evaluate, Score, Sample,
// Generate, Stream, ForwardInto and NewBatch may run on one model from any
// number of goroutines at once, without locks. Each call (and each Batch)
// runs on an inference view of the model's layers (see package nn), which
// shares the weight tensors, records no graph and writes nothing the
// model or another call shares; the model keeps its mode and its
// parameters keep requiring gradients, so a model that has served
// inference still trains. A Batch itself belongs to one goroutine.
// Training — Forward and Loss with a recorded graph, Backward, optimizer
// steps — and SetMode, SetPrecision and restoring weights need exclusive
// use of the model: no inference may run meanwhile.
type Model struct {
	cfg  Config
	emb  *nn.Embedding
	rnn  nn.Recurrent
	out  *nn.Linear
	drop *tensor.RNG
	mode autograd.Mode
	// packed marks a view made by Pack, whose layers' weights are
	// packed: its inference view is itself.
	packed bool
}

// New builds a model from cfg with weights drawn from rng.
func New(cfg Config, rng *tensor.RNG) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, drop: rng.Split()}
	var err error
	if m.emb, err = nn.NewEmbedding(nn.EmbeddingConfig{Vocab: cfg.Vocab, Dim: cfg.Emb}, rng); err != nil {
		return nil, err
	}
	rc := nn.RecurrentConfig{InputSize: cfg.Emb, HiddenSize: cfg.Hidden, Layers: cfg.Layers, Dropout: cfg.Dropout}
	if cfg.LayerNorm {
		rc.Norm = fn.LayerNormKind
	}
	cell, _ := cellKind(cfg.Cell)
	if m.rnn, err = nn.NewRecurrent(cell, rc, rng); err != nil {
		return nil, err
	}
	if m.out, err = nn.NewLinear(nn.LinearConfig{In: cfg.Hidden, Out: cfg.Vocab}, rng); err != nil {
		return nil, err
	}
	if cfg.Tie {
		m.out.Weight = m.emb.Weight
	}
	if cfg.InitScale > 0 {
		for _, p := range m.Params() {
			initializer.Uniform(p.Data, rng, -cfg.InitScale, cfg.InitScale)
		}
	}
	return m, nil
}

// inference returns a view of the model for inference: the layers'
// inference views (nn), in evaluation mode, with no dropout generator.
// It shares the weights, so taking one per call copies nothing large.
func (m *Model) inference() *Model {
	if m.packed {
		return m // immutable already
	}
	return &Model{cfg: m.cfg, emb: m.emb.Inference(), rnn: m.rnn.Inference(), out: m.out.Inference(), mode: autograd.Eval}
}

// Pack returns a view of the model for inference whose recurrent and
// output layers' weights are packed once for the matrix kernels at their
// precision (nn's Pack views): what a server holds, so that no request
// packs them again — at bfloat16 that is rounding the 10,000×200 output
// weights of a ptb-small model on every call. Its inference methods
// (Evaluate, Score, Sample, Generate, Stream, ForwardInto, NewBatch) give
// the model's own results, bit for bit at float32, and are safe for
// concurrent use. The view reads the weights as they are now and does
// not follow later changes: make a new one after training. It is for
// inference only (its parameters require no gradient).
func (m *Model) Pack() *Model {
	if m.packed {
		return m
	}
	v := m.inference()
	v.rnn, v.out, v.packed = m.rnn.Pack(), m.out.Pack(), true
	return v
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// NamedParams yields the parameters as PyTorch would name them:
// emb.weight, rnn.weight_ih_l0, …, out.weight (absent when tied),
// out.bias.
func (m *Model) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) {
		for n, p := range nn.Join(nn.Sub("emb", m.emb), nn.Sub("rnn", m.rnn), nn.Sub("out", m.out)) {
			if m.cfg.Tie && n == "out.weight" {
				continue
			}
			if !yield(n, p) {
				return
			}
		}
	}
}

// Params returns the parameters in the order of NamedParams.
func (m *Model) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// RNGs returns the generators of the model's dropout, by name, for
// checkpoints.
func (m *Model) RNGs() map[string]*tensor.RNG {
	return map[string]*tensor.RNG{"dropout": m.drop, "rnn-dropout": m.rnn.RNG()}
}

// SetMode switches dropout on (Train) or off (Eval).
func (m *Model) SetMode(mode autograd.Mode) {
	m.mode = mode
	m.rnn.SetMode(mode)
}

// SetPrecision sets the precision of the products of the recurrent layers
// and the output layer in forward passes that record no gradient
// (Evaluate, Sample, Forward under autograd.NoGrad). fn.BFloat16 is about
// twice the speed on CPUs with AVX512_BF16, each product term rounded
// with relative error up to 2⁻⁸ (see fn.BFloat16 and docs/PERFORMANCE.md
// for the measured cost in loss). Training always uses fn.Float32.
func (m *Model) SetPrecision(p fn.Precision) {
	m.rnn.SetPrecision(p)
	m.out.SetPrecision(p)
}

// StateShape returns the shape (Layers, batch, Hidden) of the state the
// model carries between chunks of batch rows, and whether the state has a
// cell state C (the LSTM's) beside H.
func (m *Model) StateShape(batch int) (shape []int, hasC bool) {
	cell, _ := cellKind(m.cfg.Cell)
	return []int{m.cfg.Layers, batch, m.cfg.Hidden}, cell.HasCellState()
}

// State is the recurrent state carried between chunks: H and C of shape
// (Layers, B, H); C is nil for a GRU. The zero State starts from zeros.
// It is nn.State.
type State = nn.State

// Forward runs one chunk: inputs[b] are the token ids of row b (all rows
// of equal length T). It returns the logits (B·T, V), row-major by row b
// then step t, and the state after the chunk.
//
// Forward and Loss are the training API: they record a graph (unless the
// parameters need no gradient) and panic, as the nn layers do, on misuse —
// an empty or ragged chunk, ids outside the vocabulary, a state of the
// wrong shape. The inference entry points (Evaluate, Score, Sample,
// Generate, Stream, Batch, ForwardInto) return errors for all of these.
func (m *Model) Forward(inputs [][]int, st State) (*autograd.Variable, State) {
	y, next := m.hidden(timeMajor(inputs), len(inputs), st)
	return m.out.Forward(fn.GatherRows(y, batchMajor(len(inputs), len(inputs[0])))), next
}

// ForwardInto is Forward for inference: it records no graph and returns
// the logits as a tensor, written into dst when dst has their shape
// (B·T, V) and the model's type, else into a new tensor. A loop that
// passes the previous logits back in (scoring, serving, kioku bench)
// reuses one buffer instead of allocating B·T·V values per call, which
// for a 10,000-word vocabulary is 16 MB for 400 tokens and costs, zeroed
// and collected, as much as a third of the output layer's product.
//
// Unlike Forward it returns an error, and does not panic, for an empty
// or ragged chunk, ids outside the vocabulary and a state whose shape is
// not StateShape(B) (or with a C for a GRU).
func (m *Model) ForwardInto(dst *tensor.Tensor, inputs [][]int, st State) (*tensor.Tensor, State, error) {
	if err := m.checkChunk(inputs); err != nil {
		return nil, State{}, err
	}
	if err := m.checkState(st, len(inputs)); err != nil {
		return nil, State{}, err
	}
	v := m.inference()
	y, next := v.hidden(timeMajor(inputs), len(inputs), st.Detach())
	y = fn.GatherRows(y, batchMajor(len(inputs), len(inputs[0])))
	return v.out.ForwardInto(dst, y.Data), next, nil
}

// checkChunk returns an error unless inputs is a chunk Forward takes: at
// least one row, all rows of one positive length, ids in the vocabulary.
func (m *Model) checkChunk(inputs [][]int) error {
	if len(inputs) == 0 || len(inputs[0]) == 0 {
		return errors.New("lm: empty chunk: want at least one row of at least one token")
	}
	for b, row := range inputs {
		if len(row) != len(inputs[0]) {
			return fmt.Errorf("lm: row %d has %d tokens, row 0 has %d", b, len(row), len(inputs[0]))
		}
		if err := m.checkIDs(fmt.Sprintf("row %d: token", b), row); err != nil {
			return err
		}
	}
	return nil
}

// checkState returns an error unless st is a state for batch rows: H and
// C nil or of shape StateShape(batch) and the weights' type, C only for
// a cell that has one.
func (m *Model) checkState(st State, batch int) error {
	shape, hasC := m.StateShape(batch)
	if st.C != nil && !hasC {
		return fmt.Errorf("lm: a %s has no cell state; got a State with C %v", m.cfg.Cell, st.C.Shape())
	}
	for _, s := range []struct {
		name string
		v    *autograd.Variable
	}{{"H", st.H}, {"C", st.C}} {
		if s.v == nil {
			continue
		}
		if !slices.Equal(s.v.Shape(), shape) {
			return fmt.Errorf("lm: state %s has shape %v; want %v (layers, batch, hidden)", s.name, s.v.Shape(), shape)
		}
		if dt := m.emb.Weight.Data.DType(); s.v.Data.DType() != dt {
			return fmt.Errorf("lm: state %s is %v; the model is %v", s.name, s.v.Data.DType(), dt)
		}
	}
	return nil
}

// batchMajor returns the rows of a time-major (T·B, ·) matrix — row t·B+b
// for step t of row b — in batch-major order, b·T+t.
func batchMajor(B, T int) []int {
	idx := make([]int, B*T)
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			idx[b*T+t] = t*B + b
		}
	}
	return idx
}

// timeMajor flattens rows (all of one length T) in time-major order:
// element t·B+b is rows[b][t]. It panics if the rows are empty or of
// unequal lengths.
func timeMajor(rows [][]int) []int {
	if len(rows) == 0 || len(rows[0]) == 0 {
		panic("lm: Forward on an empty chunk")
	}
	B, T := len(rows), len(rows[0])
	flat := make([]int, B*T)
	for b, row := range rows {
		if len(row) != T {
			panic(fmt.Sprintf("lm: row %d has %d tokens, row 0 has %d", b, len(row), T))
		}
		for t, id := range row {
			flat[t*B+b] = id
		}
	}
	return flat
}

// hidden runs the embedding and the recurrent layers (with their dropout)
// over a chunk of B rows given as flat time-major ids (element t·B+b is
// step t of row b) and returns the last layer's outputs (T·B, H) in the
// same order and the next state. The rows go through the recurrent layers
// as one packed tensor (ForwardPacked) of equal lengths, whose states pass
// as views: no copies into and out of a list of sequences.
func (m *Model) hidden(flat []int, B int, st State) (*autograd.Variable, State) {
	lengths := make([]int, B)
	for b := range lengths {
		lengths[b] = len(flat) / B
	}
	return m.hiddenPacked(flat, seq.MustPacking(lengths), st)
}

// hiddenPacked is hidden for sequences of any lengths: ids holds the
// tokens in p's packed order, st and the next state follow the order of
// p's lengths.
func (m *Model) hiddenPacked(ids []int, p *seq.Packing, st State) (*autograd.Variable, State) {
	x := m.emb.Forward(ids)
	if m.cfg.Dropout > 0 {
		x = fn.Dropout(x, m.cfg.Dropout, m.drop, m.mode)
	}
	y, next := m.rnn.ForwardPacked(x, p, st)
	if m.cfg.Dropout > 0 {
		y = fn.Dropout(y, m.cfg.Dropout, m.drop, m.mode)
	}
	return y, next
}

// Loss runs a chunk and returns the mean cross-entropy (nats per token)
// against targets (same layout as inputs) and the next state.
func (m *Model) Loss(inputs, targets [][]int, st State) (*autograd.Variable, State) {
	if len(targets) != len(inputs) {
		panic(fmt.Sprintf("lm: %d rows of targets for %d rows of inputs", len(targets), len(inputs)))
	}
	in := timeMajor(inputs)
	tg := timeMajor(targets) // the order of the outputs' rows
	if len(tg) != len(in) {
		panic(fmt.Sprintf("lm: targets of %d steps for inputs of %d", len(targets[0]), len(inputs[0])))
	}
	return m.loss(in, tg, len(inputs), st)
}

// loss is Loss on flat time-major inputs and targets of B rows.
func (m *Model) loss(in, tg []int, B int, st State) (*autograd.Variable, State) {
	y, next := m.hidden(in, B, st)
	if m.out.Precision() != fn.Float32 && !y.RequiresGrad() && !m.out.Weight.RequiresGrad() {
		// Inference with the output layer at its precision.
		return fn.SoftmaxCrossEntropy(m.out.Forward(y), tg, -1, fn.ReduceMean), next
	}
	// The output layer and the loss as one function: the logits are never
	// stored apart from the probabilities.
	return fn.LinearSoftmaxCrossEntropy(y, m.out.Weight, m.out.Bias, tg, -1, fn.ReduceMean), next
}

// ErrEmpty is returned when there is nothing to evaluate.
var ErrEmpty = errors.New("lm: no tokens to evaluate")

// Evaluate returns the mean negative log-likelihood in nats per token of
// ids (each token predicted from those before it), reading the stream as
// batch parallel rows in chunks of steps tokens (seq.BPTT; batch shrinks
// to fit a short stream), in evaluation mode without recording a graph.
// Perplexity is exp of it; bits per character is it divided by ln 2.
// It checks ctx between chunks and returns ctx.Err() once ctx is done.
func (m *Model) Evaluate(ctx context.Context, ids []int, batch, steps int) (float64, error) {
	if len(ids) < 2 {
		return 0, ErrEmpty
	}
	if steps <= 0 {
		return 0, fmt.Errorf("lm: Evaluate in chunks of %d steps; want at least 1", steps)
	}
	if err := m.checkIDs("token", ids); err != nil {
		return 0, err
	}
	chunks, err := seq.NewBPTT(ids, max(1, min(batch, (len(ids)-1)/steps)), steps)
	if err != nil {
		return 0, err
	}
	v := m.inference()
	var total float64
	n := 0
	var st State
	for k := range chunks.Chunks() {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		in, tg := chunks.TimeMajor(k)
		var loss *autograd.Variable
		loss, st = v.loss(in, tg, chunks.Batch(), st)
		total += loss.Data.Item() * float64(len(in))
		n += len(in)
	}
	if n == 0 {
		return 0, ErrEmpty
	}
	return total / float64(n), nil
}

// checkIDs returns an error naming the first of ids outside the
// vocabulary, what saying what the ids are.
func (m *Model) checkIDs(what string, ids []int) error {
	for i, id := range ids {
		if id < 0 || id >= m.cfg.Vocab {
			return fmt.Errorf("lm: %s %d (at %d) is outside the vocabulary of %d", what, id, i, m.cfg.Vocab)
		}
	}
	return nil
}
