package seq2seq_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
)

// TestLoad: a checkpoint whose configuration holds a seq2seq.Meta (with
// fields of the writer's own beside it) loads back to the same weights
// and vocabularies; bad metadata is refused with errors naming it.
func TestLoad(t *testing.T) {
	src := dataset.NewVocab([][]string{{"a", "b", "c"}}, 1, 0)
	tgt := dataset.NewVocab([][]string{{"x", "y"}}, 1, 0)
	cfg := seq2seq.Config{SrcVocab: src.Len(), TgtVocab: tgt.Len(), BOS: dataset.BOS, EOS: dataset.EOS, Embed: 3, Hidden: 4, Attention: seq2seq.Dot}
	m, err := seq2seq.NewModel(cfg, tensor.NewRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	good := seq2seq.Meta{Version: seq2seq.MetaVersion, Config: cfg, Src: src.Tokens(), Tgt: tgt.Tokens(), Tokens: seq2seq.TokensChars}
	type withExtra struct {
		seq2seq.Meta
		Task string `json:"task"`
	}
	dir := t.TempDir()
	write := func(name string, meta seq2seq.Meta) string {
		d := filepath.Join(dir, name)
		if err := modelio.Save(d, &modelio.Checkpoint{Kind: seq2seq.Kind, Config: withExtra{meta, "reverse"}, Model: m}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	l, err := seq2seq.Load(write("good", good))
	if err != nil {
		t.Fatal(err)
	}
	if l.Src.Len() != src.Len() || l.Tgt.ID("y") != tgt.ID("y") || l.Meta.Tokens != seq2seq.TokensChars {
		t.Fatalf("loaded %+v", l.Meta)
	}
	var extra withExtra
	if err := l.Snapshot.DecodeConfig(&extra); err != nil || extra.Task != "reverse" {
		t.Errorf("the writer's own fields: %+v, %v", extra, err)
	}
	for i, p := range l.Model.Params() {
		if !tensor.Equal(p.Data, m.Params()[i].Data) {
			t.Errorf("parameter %s differs", p.Name)
		}
	}
	bad := func(f func(*seq2seq.Meta)) seq2seq.Meta {
		b := good
		f(&b)
		return b
	}
	for _, c := range []struct {
		name string
		meta seq2seq.Meta
		err  string
	}{
		{"version", bad(func(m *seq2seq.Meta) { m.Version = 9 }), "model format version 9"},
		{"tokens", bad(func(m *seq2seq.Meta) { m.Tokens = "bytes" }), `unknown tokenization "bytes"`},
		{"source", bad(func(m *seq2seq.Meta) { m.Src = []string{"a"} }), "source vocabulary"},
		{"sizes", bad(func(m *seq2seq.Meta) { m.Tgt = append(m.Tgt, "z") }), "vocabularies of 7 and 7 tokens for a model of 7 and 6"},
	} {
		if _, err := seq2seq.Load(write(c.name, c.meta)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
}
