package lm_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/tensor"
)

// TestLoad: a checkpoint in the format package train writes (the model
// configuration under "model", the vocabulary, the weights) loads back to
// the same parameters; other kinds, and vocabularies that do not fit the
// model, are refused with errors naming the problem.
func TestLoad(t *testing.T) {
	cfg := lm.Config{Cell: "gru", Tokenizer: "char", Vocab: 4, Emb: 3, Hidden: 5, Layers: 2}
	m, err := lm.New(cfg, tensor.NewRNG(7))
	if err != nil {
		t.Fatal(err)
	}
	type saved struct {
		Model lm.Config      `json:"model"`
		Train map[string]int `json:"train"`
	}
	dir := t.TempDir()
	write := func(name, kind string, vocab []string) string {
		d := filepath.Join(dir, name)
		if err := modelio.Save(d, &modelio.Checkpoint{Kind: kind, Config: saved{Model: cfg, Train: map[string]int{"batch": 2}}, Model: m, Vocab: vocab}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := write("good", lm.Kind, []string{"<unk>", "<eos>", "a", "b"})
	got, vocab, err := lm.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config() != cfg || vocab.Len() != 4 || vocab.ID("b") != 3 {
		t.Fatalf("loaded %+v with vocabulary %q", got.Config(), vocab.Tokens())
	}
	for i, p := range got.Params() {
		if !tensor.Equal(p.Data, m.Params()[i].Data) {
			t.Errorf("parameter %s differs", p.Name)
		}
	}
	for _, c := range []struct{ dir, err string }{
		{write("kind", "tagger", []string{"<unk>", "<eos>", "a", "b"}), `holds a "tagger" checkpoint, not a language model`},
		{write("small", lm.Kind, []string{"<unk>", "<eos>", "a"}), "vocabulary of 3 tokens for a model of 4"},
		{write("specials", lm.Kind, []string{"a", "b", "c", "d"}), "must start with <unk> and <eos>"},
		{filepath.Join(dir, "none"), "no such file"},
	} {
		if _, _, err := lm.Load(c.dir); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Load(%s): %v, want %q", filepath.Base(c.dir), err, c.err)
		}
	}
}
