package seq2seq

import (
	"fmt"
	"iter"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// Model is an encoder–decoder: an embedding and a (bidirectional,
// multi-layer) NStep LSTM or GRU encoder over the source, a bridge from its
// final states to the decoder's initial states, and a decoder of stacked
// LSTM or GRU links stepped one token at a time, with optional attention
// over the encoder's outputs and input feeding, ending in a linear layer
// over the target vocabulary.
//
// Its parameters are named as PyTorch's named_parameters() would name the
// same modules: "encoder.embed.weight", "encoder.rnn.weight_ih_l0",
// "bridge.h.0.weight", "decoder.embed.weight", "decoder.rnn.0.weight_ih",
// "attention.linear_in.weight", "attention.linear_out.weight",
// "generator.weight", … (see NamedParams).
//
// A Model is safe for concurrent inference: Decode, Stream, Start, Step,
// Gather and the search functions over it may run from any number of
// goroutines at once, without locks, and give the results a sequential
// run gives, bit for bit. Start takes an inference view of the model's
// layers (see package nn), which shares the weight tensors, records no
// graph and stays in evaluation mode, and the State it returns carries
// that view, so decoding writes nothing the model or another decoding
// shares; the parameters keep requiring gradients and the model still
// trains. Training — Loss, Backward, optimizer steps — and restoring
// weights need exclusive use of the model: no inference may overlap
// them.
type Model struct {
	cfg Config

	srcEmbed *nn.Embedding
	encoder  nn.Recurrent

	bridgeH, bridgeC []*nn.Linear

	tgtEmbed *nn.Embedding
	decoder  []nn.SteppedRecurrent // one link per layer

	attnIn    *nn.Linear         // General: W_a (H × D), no bias
	attnQuery *nn.Linear         // Additive: W (A × H), no bias
	attnKey   *nn.Linear         // Additive: U (A × D) and b
	attnV     *autograd.Variable // Additive: v (A)
	attnOut   *nn.Linear         // W_c (H × (D+H)), no bias

	generator *nn.Linear // H → TgtVocab

	rng *tensor.RNG // dropout masks

	// origin is the model an inference view was made from (nil for a
	// model itself; see inference.go).
	origin *Model
}

// NewModel returns a model initialised from rng (PyTorch's default
// initialisation of each layer), or an error for an invalid
// configuration.
func NewModel(cfg Config, rng *tensor.RNG) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("seq2seq: NewModel needs an RNG for its initialisation")
	}
	m := &Model{cfg: cfg}
	var err error // the first error of a constructor below
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	linear := func(in, out int, noBias bool) *nn.Linear {
		l, e := nn.NewLinear(nn.LinearConfig{In: in, Out: out, NoBias: noBias, DType: cfg.DType}, rng)
		keep(e)
		return l
	}
	H, D, L := cfg.Hidden, cfg.memorySize(), cfg.layers()

	var e error
	m.srcEmbed, e = nn.NewEmbedding(nn.EmbeddingConfig{Vocab: cfg.SrcVocab, Dim: cfg.Embed, DType: cfg.DType}, rng)
	keep(e)
	cell := cfg.Cell.kernel()
	rc := nn.RecurrentConfig{InputSize: cfg.Embed, HiddenSize: cfg.encHidden(), Layers: L, Bidirectional: cfg.Bidirectional, Dropout: cfg.Dropout, DType: cfg.DType}
	m.encoder, e = nn.NewRecurrent(cell, rc, rng)
	keep(e)
	if cfg.Bridge == BridgeLinear {
		for range L {
			m.bridgeH = append(m.bridgeH, linear(D, H, false))
			if cell.HasCellState() { // the cell state has a bridge of its own
				m.bridgeC = append(m.bridgeC, linear(D, H, false))
			}
		}
	}

	m.tgtEmbed, e = nn.NewEmbedding(nn.EmbeddingConfig{Vocab: cfg.TgtVocab, Dim: cfg.Embed, DType: cfg.DType}, rng)
	keep(e)
	for l := range L {
		in := H
		if l == 0 {
			in = cfg.Embed
			if cfg.InputFeeding {
				in += H
			}
		}
		c, e := nn.NewRecurrentCell(cell, nn.CellConfig{InputSize: in, HiddenSize: H, DType: cfg.DType}, rng)
		keep(e)
		m.decoder = append(m.decoder, c)
	}

	switch cfg.Attention {
	case General:
		m.attnIn = linear(D, H, true)
	case Additive:
		A := cfg.attnSize()
		m.attnQuery = linear(H, A, true)
		m.attnKey = linear(D, A, false)
		v := linear(A, 1, true) // v as a 1×A layer, for its initialisation
		m.attnV = autograd.NewParameter(v.Weight.Data.Reshape(A))
		m.attnV.Name = "v"
	}
	if cfg.Attention != NoAttention {
		m.attnOut = linear(D+H, H, true)
	}
	m.generator = linear(H, cfg.TgtVocab, false)
	if err != nil {
		return nil, err
	}
	m.rng = rng.Split()
	return m, nil
}

// Config returns the configuration the model was built with.
func (m *Model) Config() Config { return m.cfg }

// paramList is a Module of bare parameters named by Variable.Name.
type paramList []*autograd.Variable

func (p paramList) Params() []*autograd.Variable { return p }

// NamedParams yields every parameter with its dotted name, in a fixed
// order: the encoder's embedding and recurrent layers, the bridge, the
// decoder's embedding and layers, the attention, and the generator.
func (m *Model) NamedParams() iter.Seq2[string, *autograd.Variable] {
	seqs := []iter.Seq2[string, *autograd.Variable]{nn.Sub("encoder.embed", m.srcEmbed), nn.Sub("encoder.rnn", m.encoder)}
	for l, b := range m.bridgeH {
		seqs = append(seqs, nn.Sub(fmt.Sprintf("bridge.h.%d", l), b))
	}
	for l, b := range m.bridgeC {
		seqs = append(seqs, nn.Sub(fmt.Sprintf("bridge.c.%d", l), b))
	}
	seqs = append(seqs, nn.Sub("decoder.embed", m.tgtEmbed))
	for l, c := range m.decoder {
		seqs = append(seqs, nn.Sub(fmt.Sprintf("decoder.rnn.%d", l), c))
	}
	if m.attnIn != nil {
		seqs = append(seqs, nn.Sub("attention.linear_in", m.attnIn))
	}
	if m.attnQuery != nil {
		seqs = append(seqs, nn.Sub("attention.query", m.attnQuery), nn.Sub("attention.key", m.attnKey), nn.Sub("attention", paramList{m.attnV}))
	}
	if m.attnOut != nil {
		seqs = append(seqs, nn.Sub("attention.linear_out", m.attnOut))
	}
	seqs = append(seqs, nn.Sub("generator", m.generator))
	return nn.Join(seqs...)
}

// Params returns every parameter in the order of NamedParams.
func (m *Model) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// encoding is the encoder's work for a batch of B sources, shared by
// every decoder row that reads it.
type encoding struct {
	memory  *autograd.Variable // (B, S, D) outputs, zero-padded
	keys    *autograd.Variable // (B, S, ·): memory, memory·W_aᵀ or U·memory + b; nil without attention
	lengths []int              // source lengths
	states  []nn.State         // initial decoder state per layer: H (B, H), and C (B, H) for the LSTM
}

// encode runs the encoder and the bridge over a batch of sources.
// The sources have been checked (checkSources).
func (m *Model) encode(src [][]int, mode autograd.Mode) *encoding {
	lengths := make([]int, len(src))
	var ids []int
	for i, s := range src {
		lengths[i] = len(s)
		ids = append(ids, s...)
	}
	x := fn.Dropout(m.srcEmbed.Forward(ids), m.cfg.Dropout, m.rng, mode)
	var xs []*autograd.Variable
	if len(src) == 1 {
		xs = []*autograd.Variable{x}
	} else {
		xs = fn.Split(x, lengths, 0)
	}
	return m.encodeEmbedded(xs, mode)
}

// encodeEmbedded runs the encoder over embedded sources xs, (length_i, E)
// each, and the bridge.
func (m *Model) encodeEmbedded(xs []*autograd.Variable, mode autograd.Mode) *encoding {
	if m.origin == nil { // a view's encoder stays in evaluation mode
		m.encoder.SetMode(mode)
	}
	ys, final := m.encoder.Forward(xs, nn.State{})
	B := len(xs)
	enc := &encoding{lengths: make([]int, B)}
	S := 0
	for i, x := range xs {
		enc.lengths[i] = x.Data.Dim(0)
		S = max(S, enc.lengths[i])
	}
	D := m.cfg.memorySize()
	// Pad the outputs into (B, S, D): GatherRows gives zero rows for -1.
	idx := make([]int, 0, B*S)
	off := 0
	for _, l := range enc.lengths {
		for t := range S {
			if t < l {
				idx = append(idx, off+t)
			} else {
				idx = append(idx, -1)
			}
		}
		off += l
	}
	all := ys[0]
	if B > 1 {
		all = fn.Concat(ys, 0)
	}
	enc.memory = fn.Reshape(fn.GatherRows(all, idx), B, S, D)

	switch m.cfg.Attention {
	case Dot:
		enc.keys = enc.memory
	case General:
		enc.keys = fn.Reshape(m.attnIn.Forward(fn.Reshape(enc.memory, B*S, D)), B, S, m.cfg.Hidden)
	case Additive:
		enc.keys = fn.Reshape(m.attnKey.Forward(fn.Reshape(enc.memory, B*S, D)), B, S, m.cfg.attnSize())
	}
	h := m.bridge(final.H, m.bridgeH, true)
	var c []*autograd.Variable
	if final.C != nil {
		c = m.bridge(final.C, m.bridgeC, false)
	}
	enc.states = make([]nn.State, len(h))
	for l := range h {
		enc.states[l].H = h[l]
		if c != nil {
			enc.states[l].C = c[l]
		}
	}
	return enc
}

// bridge turns the encoder's final states (Layers·D, B, He) into the
// decoder's initial states, one (B, H) per layer.
func (m *Model) bridge(final *autograd.Variable, lin []*nn.Linear, squash bool) []*autograd.Variable {
	L, D, B, He := m.cfg.layers(), m.cfg.dirs(), final.Data.Dim(1), m.cfg.encHidden()
	states := make([]*autograd.Variable, L)
	for l := range L {
		if m.cfg.Bridge == BridgeZero {
			states[l] = autograd.NewVariable(tensor.New(m.cfg.DType, B, m.cfg.Hidden))
			continue
		}
		parts := make([]*autograd.Variable, D)
		for d := range D {
			k := l*D + d
			parts[d] = fn.Reshape(fn.Slice(final, 0, k, k+1), B, He)
		}
		switch {
		case m.cfg.Bridge == BridgeSum:
			states[l] = parts[0]
			for _, p := range parts[1:] {
				states[l] = fn.Add(states[l], p)
			}
		default:
			x := parts[0]
			if D > 1 {
				x = fn.Concat(parts, 1)
			}
			states[l] = lin[l].Forward(x)
			if squash {
				states[l] = fn.Tanh(states[l])
			}
		}
	}
	return states
}

// rowLengths returns the source length each decoder row attends over.
func rowLengths(enc *encoding, rows []int) []int {
	lens := make([]int, len(rows))
	for n, r := range rows {
		lens[n] = enc.lengths[r]
	}
	return lens
}

// attend scores the decoder's top states (N, H) against the memory of
// the sentences rows name and returns the attentional vectors
// h̃ = tanh(W_c·[c; h]) (N, H) and the attention weights (N, S).
func (m *Model) attend(top *autograd.Variable, enc *encoding, rows, lens []int) (out, weights *autograd.Variable) {
	var scores *autograd.Variable
	if m.cfg.Attention == Additive {
		scores = additiveScores(enc.keys, m.attnQuery.Forward(top), m.attnV, rows)
	} else {
		scores = dotScores(enc.keys, top, rows)
	}
	weights = maskedSoftmax(scores, lens)
	ctx := contextVectors(weights, enc.memory, rows)
	out = fn.Tanh(m.attnOut.Forward(fn.Concat([]*autograd.Variable{ctx, top}, 1)))
	return out, weights
}

// decoderStep advances the decoder by one step for N rows from the state
// of each layer: x (N, E) is the embedded previous token. It returns the
// new states, the output vector (N, H) the generator reads and the
// attention weights (nil without attention).
func (m *Model) decoderStep(states []nn.State, feed, x *autograd.Variable, enc *encoding, rows, lens []int, mode autograd.Mode) (next []nn.State, out, weights *autograd.Variable) {
	if m.cfg.InputFeeding {
		x = fn.Concat([]*autograd.Variable{x, feed}, 1)
	}
	next = make([]nn.State, len(states))
	for l, st := range states {
		if l > 0 {
			x = fn.Dropout(x, m.cfg.Dropout, m.rng, mode)
		}
		x, next[l] = m.decoder[l].Step(x, st)
	}
	out = x
	if m.cfg.Attention != NoAttention {
		out, weights = m.attend(x, enc, rows, lens)
	}
	return next, out, weights
}

// decoderSequence runs the decoder over all T steps of a teacher-forced
// batch at once when there is no input feeding: each layer is one fused
// sequence function, and attention is computed for all steps together.
// emb is (T·B, E) time-major; it returns the output vectors (T·B, H).
func (m *Model) decoderSequence(emb *autograd.Variable, enc *encoding, T, B int, mode autograd.Mode) *autograd.Variable {
	lengths := make([]int, B)
	for b := range lengths {
		lengths[b] = T
	}
	p := seq.MustPacking(lengths)
	x := emb
	for l, st := range enc.states {
		if l > 0 {
			x = fn.Dropout(x, m.cfg.Dropout, m.rng, mode)
		}
		x, _ = m.decoder[l].ForwardPacked(x, p, st)
	}
	if m.cfg.Attention == NoAttention {
		return x
	}
	rows := make([]int, T*B)
	for i := range rows {
		rows[i] = i % B
	}
	out, _ := m.attend(x, enc, rows, rowLengths(enc, rows))
	return out
}

// Loss returns the mean cross-entropy per target token of the batch
// (src[i], tgt[i]) under teacher forcing: the decoder reads BOS and then
// the reference tokens, and is scored on predicting each reference token
// and the final EOS. mode selects dropout (autograd.Train) or not. The
// sources must be non-empty; tgt[i] may be empty (the model must then
// predict EOS at once). It panics for an empty batch or source, ids out
// of range or mismatched batch sizes: it is a training call, whose
// batches the program builds.
func (m *Model) Loss(src, tgt [][]int, mode autograd.Mode) *autograd.Variable {
	if len(src) != len(tgt) {
		panic(fmt.Sprintf("seq2seq: Loss of %d sources and %d targets", len(src), len(tgt)))
	}
	B := len(src)
	T := 0
	for i, s := range tgt {
		T = max(T, len(s)+1)
		for _, id := range s {
			if id < 0 || id >= m.cfg.TgtVocab {
				panic(fmt.Sprintf("seq2seq: target %d has id %d outside [0, %d)", i, id, m.cfg.TgtVocab))
			}
		}
	}
	if err := m.checkSources(src); err != nil {
		panic(err)
	}
	enc := m.encode(src, mode)
	in := make([]int, T*B)  // decoder inputs, time-major
	lab := make([]int, T*B) // labels, -1 for padding
	for t := range T {
		for b, s := range tgt {
			k := t*B + b
			switch {
			case t == 0:
				in[k] = m.cfg.BOS
			case t-1 < len(s):
				in[k] = s[t-1]
			default:
				in[k] = m.cfg.EOS // padding: any id; its loss is ignored
			}
			switch {
			case t < len(s):
				lab[k] = s[t]
			case t == len(s):
				lab[k] = m.cfg.EOS
			default:
				lab[k] = -1
			}
		}
	}
	emb := fn.Dropout(m.tgtEmbed.Forward(in), m.cfg.Dropout, m.rng, mode)
	var out *autograd.Variable
	if !m.cfg.InputFeeding {
		out = m.decoderSequence(emb, enc, T, B, mode)
	} else {
		rows := make([]int, B)
		for b := range rows {
			rows[b] = b
		}
		lens := rowLengths(enc, rows)
		states := enc.states
		feed := autograd.NewVariable(tensor.New(m.cfg.DType, B, m.cfg.Hidden))
		outs := make([]*autograd.Variable, T)
		for t := range T {
			x := fn.Slice(emb, 0, t*B, (t+1)*B)
			states, outs[t], _ = m.decoderStep(states, feed, x, enc, rows, lens, mode)
			feed = outs[t]
		}
		out = outs[0]
		if T > 1 {
			out = fn.Concat(outs, 0)
		}
	}
	logits := m.generator.Forward(fn.Dropout(out, m.cfg.Dropout, m.rng, mode))
	return fn.SoftmaxCrossEntropy(logits, lab, -1, fn.ReduceMean)
}

// RNG returns the generator of the model's dropout masks, so that a
// checkpoint can save and restore its state and resumed training draws
// the masks an uninterrupted run would have drawn.
func (m *Model) RNG() *tensor.RNG { return m.rng }
