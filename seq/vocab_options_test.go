package seq

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// seq2seqOptions are the special tokens of seq2seq/dataset's vocabularies.
var seq2seqOptions = VocabOptions{Specials: []string{"<pad>", "<unk>", "<s>", "</s>"}, Unknown: "<unk>", ByteOrderTies: true}

func TestNewVocabWith(t *testing.T) {
	toks := []string{"z", "y", "x", "<s>", "y", "z", "w", "w", "w"}
	cases := []struct {
		name              string
		opts              VocabOptions
		minCount, maxSize int
		want              []string
		unknown           int
	}{
		{"language model", VocabOptions{}, 1, 0, []string{Unknown, EOS, "w", "z", "y", "x", "<s>"}, 0},
		{"seq2seq", seq2seqOptions, 1, 0, []string{"<pad>", "<unk>", "<s>", "</s>", "w", "y", "z", "x"}, 1},
		{"seq2seq min count", seq2seqOptions, 2, 0, []string{"<pad>", "<unk>", "<s>", "</s>", "w", "y", "z"}, 1},
		{"seq2seq capped", seq2seqOptions, 1, 6, []string{"<pad>", "<unk>", "<s>", "</s>", "w", "y"}, 1},
		{"unknown last", VocabOptions{Specials: []string{"<eos>", "<oov>"}, Unknown: "<oov>"}, 2, 0, []string{"<eos>", "<oov>", "w", "z", "y"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVocabWith(toks, c.minCount, c.maxSize, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v.Tokens(), c.want) {
				t.Fatalf("tokens %q, want %q", v.Tokens(), c.want)
			}
			if v.UnknownID() != c.unknown || v.ID("never seen") != c.unknown {
				t.Errorf("unknown id %d, want %d", v.UnknownID(), c.unknown)
			}
			nsp := len(c.opts.Specials)
			if nsp == 0 {
				nsp = 2
			}
			if !slices.Equal(v.Specials(), c.want[:nsp]) {
				t.Errorf("specials %q", v.Specials())
			}
			if got := v.Decode(v.Encode(c.want)); !slices.Equal(got, c.want) {
				t.Errorf("decode(encode) %q", got)
			}
			back, err := VocabFromTokensWith(v.Tokens(), c.opts)
			if err != nil || !slices.Equal(back.Tokens(), v.Tokens()) || back.UnknownID() != v.UnknownID() {
				t.Errorf("round trip: %v", err)
			}
		})
	}
}

func TestVocabOptionErrors(t *testing.T) {
	cases := []struct {
		name string
		opts VocabOptions
		max  int
		err  string
	}{
		{"unknown not special", VocabOptions{Specials: []string{"<pad>"}, Unknown: "<unk>"}, 0, `unknown token "<unk>" is not among`},
		{"repeated special", VocabOptions{Specials: []string{"<unk>", "<unk>"}}, 0, `special token "<unk>" repeats`},
		{"no room", seq2seqOptions, 4, "size 4 leaves no room beside <pad>, <unk>, <s> and </s>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewVocabWith([]string{"a"}, 1, c.max, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("NewVocabWith: %v, want %q", err, c.err)
			}
			if c.max == 0 {
				if _, err := VocabFromTokensWith([]string{"<unk>", "a"}, c.opts); err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("VocabFromTokensWith: %v, want %q", err, c.err)
				}
			}
		})
	}
	if _, err := VocabFromTokensWith([]string{"<unk>", "<eos>", "a"}, seq2seqOptions); err == nil || !strings.Contains(err.Error(), "must start with <pad>, <unk>, <s> and </s>") {
		t.Errorf("a language-model list read as seq2seq: %v", err)
	}
}

// TestVocabReadsSavedFormat: vocabularies saved before VocabOptions (the
// "vocab" list of a language-model checkpoint.json) still load, with the
// same ids.
func TestVocabReadsSavedFormat(t *testing.T) {
	const saved = `{"vocab": ["<unk>", "<eos>", " ", "e", "t", "a"]}`
	var ck struct{ Vocab []string }
	if err := json.Unmarshal([]byte(saved), &ck); err != nil {
		t.Fatal(err)
	}
	v, err := VocabFromTokens(ck.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 6 || v.ID("t") != 4 || v.ID(EOS) != 1 || v.ID("q") != 0 || v.Token(2) != " " {
		t.Errorf("vocabulary %q read wrong", v.Tokens())
	}
}
