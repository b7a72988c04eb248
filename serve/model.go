package serve

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
)

// Model is a loaded model and what turns text into its token ids and
// back: a language model with its vocabulary and tokenizer, or a seq2seq
// model with both vocabularies.
type Model struct {
	// Name is the name the model is served under, in URLs.
	Name string
	// Dir is the checkpoint directory it was loaded from.
	Dir string

	lm    *lm.Model
	vocab *seq.Vocab
	tok   seq.Tokenizer

	s2s *seq2seq.Loaded
}

// validName is what a model name may be: it appears in URLs and metric
// labels.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkName returns an error for a name a model cannot be served under.
func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("serve: model name %q: want 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Load opens the checkpoint in dir and serves it as name. The kind of
// model — a language model (lm.Kind) or a seq2seq model (seq2seq.Kind) —
// is read from the checkpoint.
func Load(name, dir string) (*Model, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	snap, err := modelio.Open(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Name: name, Dir: dir}
	switch snap.Kind() {
	case lm.Kind:
		if m.lm, m.vocab, err = lm.Load(dir); err != nil {
			return nil, err
		}
		if m.tok, err = seq.TokenizerByName(m.lm.Config().Tokenizer); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	case seq2seq.Kind:
		if m.s2s, err = seq2seq.Load(dir); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s holds a %q checkpoint; kioku serve serves language models (%s) and seq2seq models (%s)", dir, snap.Kind(), lm.Kind, seq2seq.Kind)
	}
	return m, nil
}

// NewLanguageModel serves a language model already in memory, with its
// vocabulary, under name (for tests and programs that build their own).
func NewLanguageModel(name string, model *lm.Model, vocab *seq.Vocab) (*Model, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if vocab.Len() != model.Config().Vocab {
		return nil, fmt.Errorf("serve: vocabulary of %d tokens for a model of %d", vocab.Len(), model.Config().Vocab)
	}
	tok, err := seq.TokenizerByName(model.Config().Tokenizer)
	if err != nil {
		return nil, err
	}
	return &Model{Name: name, lm: model, vocab: vocab, tok: tok}, nil
}

// NewSeq2seqModel serves a seq2seq model already in memory under name.
func NewSeq2seqModel(name string, loaded *seq2seq.Loaded) (*Model, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return &Model{Name: name, s2s: loaded}, nil
}

// SetPrecision sets the precision of a language model's products
// (lm.Model.SetPrecision): fn.BFloat16 is about twice as fast on CPUs with
// AVX512_BF16, each product term rounded to bfloat16. It returns an error
// for a seq2seq model (which computes in its configured type) and for a
// precision this CPU lacks. Call it before New: a served model must not
// change.
func (m *Model) SetPrecision(p fn.Precision) error {
	if m.lm == nil {
		return fmt.Errorf("serve: model %q is a seq2seq model; only language models take a precision", m.Name)
	}
	if !fn.PrecisionAvailable(p) {
		return fmt.Errorf("serve: this CPU cannot compute at precision %v", p)
	}
	m.lm.SetPrecision(p)
	return nil
}

// Kind returns the checkpoint kind: lm.Kind or seq2seq.Kind.
func (m *Model) Kind() string {
	if m.lm != nil {
		return lm.Kind
	}
	return seq2seq.Kind
}

// encodeLM turns text into the language model's token ids and counts the
// tokens outside its vocabulary (read as <unk>).
func (m *Model) encodeLM(text string) (ids []int, unknown int) {
	ids = m.vocab.Encode(m.tok.Tokenize(text))
	for _, id := range ids {
		if id == m.vocab.UnknownID() {
			unknown++
		}
	}
	return ids, unknown
}

// srcTokens splits a source sentence as the seq2seq model's training
// data was split.
func (m *Model) srcTokens(text string) []string {
	if m.s2s.Meta.Tokens == seq2seq.TokensChars {
		return dataset.Chars(text)
	}
	return dataset.Tokenize(text)
}

// joinTgt joins output tokens as the model's tokenisation does.
func (m *Model) joinTgt(toks []string) string {
	if m.s2s.Meta.Tokens == seq2seq.TokensChars {
		return strings.Join(toks, "")
	}
	return strings.Join(toks, " ")
}

// ModelInfo describes a served model (GET /v1/models/{name}).
type ModelInfo struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Endpoints lists what the model answers: score and generate, or
	// translate.
	Endpoints []string `json:"endpoints"`
	// Config is the model's configuration as saved in its checkpoint.
	Config any `json:"config"`
	// Vocab is the vocabulary size of a language model; SrcVocab and
	// TgtVocab those of a seq2seq model.
	Vocab     int    `json:"vocab,omitempty"`
	SrcVocab  int    `json:"src_vocab,omitempty"`
	TgtVocab  int    `json:"tgt_vocab,omitempty"`
	Tokenizer string `json:"tokenizer"`
}

// Info returns the model's description.
func (m *Model) Info() ModelInfo {
	if m.lm != nil {
		return ModelInfo{Name: m.Name, Kind: lm.Kind, Endpoints: []string{"score", "generate"}, Config: m.lm.Config(), Vocab: m.vocab.Len(), Tokenizer: m.tok.Name()}
	}
	c := m.s2s.Meta.Config
	return ModelInfo{Name: m.Name, Kind: seq2seq.Kind, Endpoints: []string{"translate"}, Config: c, SrcVocab: c.SrcVocab, TgtVocab: c.TgtVocab, Tokenizer: m.s2s.Meta.Tokens}
}
