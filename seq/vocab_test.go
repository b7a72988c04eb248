package seq

import (
	"slices"
	"testing"
)

func TestVocab(t *testing.T) {
	toks := WordTokenizer{}.Tokenize("a b a\nc a b\n")
	if !slices.Equal(toks, []string{"a", "b", "a", EOS, "c", "a", "b", EOS}) {
		t.Fatalf("tokens %q", toks)
	}
	v, err := NewVocab(toks, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Tokens(), []string{Unknown, EOS, "a", "b", "c"}) {
		t.Fatalf("vocabulary %q", v.Tokens())
	}
	if v.ID("zzz") != 0 || v.ID("b") != 3 || v.Token(4) != "c" {
		t.Fatal("lookups wrong")
	}
	small, _ := NewVocab(toks, 2, 0)
	if small.Len() != 4 {
		t.Fatalf("minCount 2 kept %q", small.Tokens())
	}
	capped, _ := NewVocab(toks, 1, 3)
	if capped.Len() != 3 {
		t.Fatalf("maxSize 3 kept %q", capped.Tokens())
	}
	back, err := VocabFromTokens(v.Tokens())
	if err != nil || !slices.Equal(back.Encode(toks), v.Encode(toks)) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := VocabFromTokens([]string{"x"}); err == nil {
		t.Fatal("bad token list accepted")
	}
	if _, err := VocabFromTokens([]string{Unknown, EOS, "a", "a"}); err == nil {
		t.Fatal("duplicates accepted")
	}
}

func TestTokenizersRoundTrip(t *testing.T) {
	text := "func main() {\n\tfmt.Println(\"日本\")\n}\n"
	c := CharTokenizer{}
	if got := c.Join(c.Tokenize(text)); got != text {
		t.Fatalf("char round trip %q", got)
	}
	w := WordTokenizer{}
	if got := w.Join(w.Tokenize("the cat\nsat down\n")); got != "the cat\nsat down\n" {
		t.Fatalf("word round trip %q", got)
	}
	if _, err := TokenizerByName("bpe"); err == nil {
		t.Fatal("unknown tokenizer accepted")
	}
}

func TestCheckText(t *testing.T) {
	for _, bad := range [][]byte{nil, {0, 1, 2}, {0xff, 0xfe}, []byte("a\x00b")} {
		if CheckText(bad) == nil {
			t.Errorf("%q accepted as text", bad)
		}
	}
	if err := CheckText([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
}

func TestBPTT(t *testing.T) {
	ids := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	b, err := NewBPTT(ids, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Parts of length 5: rows read 0..4 and 5..9.
	if b.Chunks() != 2 || b.Tokens() != 10 {
		t.Fatalf("chunks %d tokens %d", b.Chunks(), b.Tokens())
	}
	in, tg := b.Chunk(0)
	if !slices.Equal(in[0], []int{0, 1, 2}) || !slices.Equal(in[1], []int{5, 6, 7}) || !slices.Equal(tg[1], []int{6, 7, 8}) {
		t.Fatalf("chunk 0 %v %v", in, tg)
	}
	in, tg = b.Chunk(1)
	if !slices.Equal(in[0], []int{3, 4}) || !slices.Equal(tg[1], []int{9, 10}) {
		t.Fatalf("chunk 1 %v %v", in, tg)
	}
	if _, err := NewBPTT([]int{1}, 2, 3); err == nil {
		t.Fatal("too-short stream accepted")
	}
}
