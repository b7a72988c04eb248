package lm

import (
	"encoding/json"
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// Load opens a checkpoint of a language model (a modelio checkpoint of
// kind Kind, such as the best and last checkpoints package train writes)
// and returns the model in evaluation mode with its vocabulary, ready for
// Evaluate, Score, Sample, Generate and Stream from any number of
// goroutines (load once, share the *Model; see Model).
//
// It reads what inference needs: the model configuration (the "model"
// object of the checkpoint's configuration), the weights and the
// vocabulary; optimizer state, random states and training counters are
// left alone. Load needs neither package train nor any plotting or
// terminal code.
func Load(dir string) (*Model, *seq.Vocab, error) {
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
	model, err := New(sc.Model, tensor.NewRNG(0))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	ck := &modelio.Checkpoint{Kind: Kind, Model: model}
	if err := snap.Restore(ck); err != nil {
		return nil, nil, err
	}
	vocab, err := seq.VocabFromTokens(ck.Vocab)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	if vocab.Len() != sc.Model.Vocab {
		return nil, nil, fmt.Errorf("%s: vocabulary of %d tokens for a model of %d", dir, vocab.Len(), sc.Model.Vocab)
	}
	model.SetMode(autograd.Eval)
	return model, vocab, nil
}
