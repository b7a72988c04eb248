package seq2seq

import (
	"encoding/json"
	"fmt"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
)

// Kind is the modelio checkpoint kind of seq2seq models.
const Kind = "seq2seq"

// MetaVersion is the version of Meta this package reads and writes.
const MetaVersion = 1

// Tokenisations a Meta names: how text becomes tokens and back.
const (
	// TokensChars makes one token per character (dataset.Chars), and
	// joins output tokens without spaces.
	TokensChars = "chars"
	// TokensWords splits with dataset.Tokenize and joins output tokens
	// with spaces.
	TokensWords = "words"
)

// Meta is what a seq2seq checkpoint's configuration (checkpoint.json's
// "config" object) must hold for the model to load: the model
// configuration, both vocabularies (dataset's special tokens first) and
// the tokenisation. Writers may add fields of their own beside these, as
// the command kioku does (the data a model was trained on).
type Meta struct {
	Version int      `json:"version"`
	Config  Config   `json:"config"`
	Src     []string `json:"src_vocab"`
	Tgt     []string `json:"tgt_vocab"`
	Tokens  string   `json:"tokens"`
}

// Build checks m and returns its vocabularies and an untrained model of
// its configuration, for weights to be restored into; errors name dir.
func (m Meta) Build(dir string) (model *Model, src, tgt *seq.Vocab, err error) {
	if m.Version != MetaVersion {
		return nil, nil, nil, fmt.Errorf("%s: model format version %d; this kioku reads %d", dir, m.Version, MetaVersion)
	}
	if m.Tokens != TokensChars && m.Tokens != TokensWords {
		return nil, nil, nil, fmt.Errorf("%s: unknown tokenization %q", dir, m.Tokens)
	}
	if src, err = dataset.VocabFromTokens(m.Src); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: source vocabulary: %v", dir, err)
	}
	if tgt, err = dataset.VocabFromTokens(m.Tgt); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: target vocabulary: %v", dir, err)
	}
	if m.Config.SrcVocab != src.Len() || m.Config.TgtVocab != tgt.Len() {
		return nil, nil, nil, fmt.Errorf("%s: vocabularies of %d and %d tokens for a model of %d and %d", dir, src.Len(), tgt.Len(), m.Config.SrcVocab, m.Config.TgtVocab)
	}
	if model, err = NewModel(m.Config, tensor.NewRNG(0)); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %v", dir, err)
	}
	return model, src, tgt, nil
}

// Loaded is a model read by Load.
type Loaded struct {
	Meta     Meta
	Model    *Model
	Src, Tgt *seq.Vocab
	// Snapshot is the opened checkpoint, for what else it holds (the
	// writer's own configuration fields: Snapshot.DecodeConfig).
	Snapshot *modelio.Snapshot
}

// LoadOptions relaxes Load. The zero value is strict.
type LoadOptions struct {
	// AllowNonFinite loads weights holding NaN or ±Inf, which are
	// otherwise refused (for debugging a model that diverged).
	AllowNonFinite bool
}

// Load reads a seq2seq model from a modelio checkpoint directory of kind
// Kind: the metadata, the vocabularies and the weights (model.safetensors,
// a PyTorch state dict under the NamedParams names). The optimizer and
// random states, if any, are left alone. Load needs no plotting or
// terminal code. It is LoadWith with the zero options.
func Load(dir string) (*Loaded, error) { return LoadWith(dir, LoadOptions{}) }

// LoadWith is Load with options. The configuration is checked against the
// weights in the checkpoint (CheckSnapshot) before the model is built, so
// that a configuration claiming a huge model is refused without
// allocating it.
func LoadWith(dir string, opts LoadOptions) (*Loaded, error) {
	snap, err := modelio.Open(dir)
	if err != nil {
		return nil, err
	}
	if snap.Kind() != Kind {
		return nil, fmt.Errorf("%s holds a %q checkpoint, not a seq2seq model", dir, snap.Kind())
	}
	var meta Meta
	if err := json.Unmarshal(snap.Config(), &meta); err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	if err := CheckSnapshot(snap, meta.Config); err != nil {
		return nil, err
	}
	l := &Loaded{Meta: meta, Snapshot: snap}
	if l.Model, l.Src, l.Tgt, err = meta.Build(dir); err != nil {
		return nil, err
	}
	if err := snap.Restore(&modelio.Checkpoint{Kind: Kind, Model: l.Model, AllowNonFinite: opts.AllowNonFinite}); err != nil {
		return nil, err
	}
	return l, nil
}

// CheckSnapshot checks a model configuration against the checkpoint it
// came from, before the model is built: the configuration must be valid
// and the weights it asks for (Config.ParamSpecs) must be in the
// checkpoint's model file with exactly those shapes and types. The errors
// name the tensor and both shapes.
func CheckSnapshot(snap *modelio.Snapshot, cfg Config) error {
	specs, err := cfg.ParamSpecs()
	if err != nil {
		return fmt.Errorf("%s: %w", snap.Dir(), err)
	}
	return snap.CheckWeights(specs)
}
