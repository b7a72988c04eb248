package lm

import (
	"encoding/json"
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// LoadOptions relaxes Load. The zero value is strict.
type LoadOptions struct {
	// AllowNonFinite loads weights holding NaN or ±Inf, which are
	// otherwise refused (for debugging a model that diverged).
	AllowNonFinite bool
}

// Load opens a checkpoint of a language model (a modelio checkpoint of
// kind Kind, such as the best and last checkpoints package train writes)
// and returns the model in evaluation mode with its vocabulary, ready for
// Evaluate, Score, Sample, Generate and Stream from any number of
// goroutines (load once, share the *Model; see Model). It is LoadWith
// with the zero options.
//
// It reads what inference needs: the model configuration (the "model"
// object of the checkpoint's configuration), the weights and the
// vocabulary; optimizer state, random states and training counters are
// left alone. Load needs neither package train nor any plotting or
// terminal code.
func Load(dir string) (*Model, *seq.Vocab, error) { return LoadWith(dir, LoadOptions{}) }

// LoadWith is Load with options. Before it builds the model it checks the
// configuration against the checkpoint (CheckSnapshot): the weights the
// configuration asks for must be in the file with those shapes, and the
// vocabulary must have the configuration's size, so that a configuration
// claiming a huge model is refused without allocating it.
func LoadWith(dir string, opts LoadOptions) (*Model, *seq.Vocab, error) {
	snap, err := modelio.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	if snap.Kind() != Kind {
		return nil, nil, fmt.Errorf("%s holds a %q checkpoint, not a language model", dir, snap.Kind())
	}
	var sc struct {
		Model Config `json:"model"`
	}
	if err := json.Unmarshal(snap.Config(), &sc); err != nil {
		return nil, nil, fmt.Errorf("%s: configuration: %w", dir, err)
	}
	if err := CheckSnapshot(snap, sc.Model); err != nil {
		return nil, nil, err
	}
	vocab, err := seq.VocabFromTokens(snap.Vocab())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	model, err := New(sc.Model, tensor.NewRNG(0))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	ck := &modelio.Checkpoint{Kind: Kind, Model: model, AllowNonFinite: opts.AllowNonFinite}
	if err := snap.Restore(ck); err != nil {
		return nil, nil, err
	}
	model.SetMode(autograd.Eval)
	return model, vocab, nil
}

// CheckSnapshot checks a language model's configuration against the
// checkpoint it came from, before the model is built: the configuration
// must be valid, the weights it asks for (Config.ParamSpecs) must be in
// the checkpoint's model file with exactly those shapes and types, and
// the vocabulary, if the checkpoint has one, must have cfg.Vocab tokens.
// The errors name the tensor or file and both sizes.
func CheckSnapshot(snap *modelio.Snapshot, cfg Config) error {
	specs, err := cfg.ParamSpecs()
	if err != nil {
		return fmt.Errorf("%s: %w", snap.Dir(), err)
	}
	if err := snap.CheckWeights(specs); err != nil {
		return err
	}
	if v := snap.Vocab(); v != nil && len(v) != cfg.Vocab {
		return fmt.Errorf("%s: vocabulary of %d tokens for a model of %d", snap.Dir(), len(v), cfg.Vocab)
	}
	return nil
}
