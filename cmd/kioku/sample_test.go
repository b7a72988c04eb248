package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// writes records each Write separately, and cancels a context at the
// write numbered cancelAt (0: never).
type writes struct {
	parts    []string
	cancelAt int
	cancel   context.CancelFunc
}

func (w *writes) Write(p []byte) (int, error) {
	w.parts = append(w.parts, string(p))
	if len(w.parts) == w.cancelAt {
		w.cancel()
	}
	return len(p), nil
}

// TestWriteSampleStreams: kioku sample writes each token as it is drawn
// (one flushed write per token), the text is what the tokenizer joins,
// and a cancelled context (an interrupt) stops it after the tokens so
// far with the context's error.
func TestWriteSampleStreams(t *testing.T) {
	for _, level := range []string{"char", "word"} {
		tok, err := seq.TokenizerByName(level)
		if err != nil {
			t.Fatal(err)
		}
		vocab, err := seq.NewVocab(tok.Tokenize("the cat sat on the mat\na dog ate the bone\n"), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := lm.New(lm.Config{Cell: "gru", Tokenizer: level, Vocab: vocab.Len(), Emb: 8, Hidden: 8, Layers: 1}, tensor.NewRNG(1))
		if err != nil {
			t.Fatal(err)
		}
		cfg := lm.SampleConfig{Length: 30, Temperature: 1}
		ids, err := m.Sample(vocab.Encode(tok.Tokenize("the ")), cfg, tensor.NewRNG(3))
		if err != nil {
			t.Fatal(err)
		}
		toks := make([]string, len(ids))
		for i, id := range ids {
			toks[i] = vocab.Token(id)
		}
		want := tok.Join(toks)
		if level == "word" && toks[0] != seq.EOS {
			want = " " + want
		}

		w := &writes{}
		n, err := writeSample(context.Background(), w, m, vocab, tok, "the ", cfg, 3)
		if err != nil || n != 30 || len(w.parts) != 30 || strings.Join(w.parts, "") != want {
			t.Fatalf("%s: %d tokens in %d writes (error %v): %q; want 30 writes of %q", level, n, len(w.parts), err, strings.Join(w.parts, ""), want)
		}
		ctx, cancel := context.WithCancel(context.Background())
		w = &writes{cancelAt: 4, cancel: cancel}
		n, err = writeSample(ctx, w, m, vocab, tok, "the ", cfg, 3)
		if !errors.Is(err, context.Canceled) || n != 4 || !strings.HasPrefix(want, strings.Join(w.parts, "")) {
			t.Fatalf("%s, cancelled at the 4th token: %d tokens %q, error %v", level, n, strings.Join(w.parts, ""), err)
		}
	}
}
