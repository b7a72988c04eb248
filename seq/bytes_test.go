package seq

import (
	"slices"
	"strings"
	"testing"
)

func TestByteTokenizer(t *testing.T) {
	for _, text := range []string{"", "abc\n", "h\xe9llo\x00\xff\r\n\t<0x41>", BOM + "x", "日本"} {
		toks := ByteTokenizer{}.Tokenize(text)
		if len(toks) != len(text) {
			t.Errorf("%q: %d tokens, want one per byte (%d)", text, len(toks), len(text))
		}
		if got := (ByteTokenizer{}).Join(toks); got != text {
			t.Errorf("Join(Tokenize(%q)) = %q", text, got)
		}
		var scanned []string
		if _, err := ScanTokens(strings.NewReader(text), ByteTokenizer{}, func(b []byte) error { scanned = append(scanned, string(b)); return nil }); err != nil {
			t.Errorf("ScanTokens(%q): %v", text, err)
		}
		if !slices.Equal(scanned, toks) {
			t.Errorf("ScanTokens(%q) = %q, Tokenize %q", text, scanned, toks)
		}
		v := ByteVocab()
		for _, id := range v.Encode(toks) {
			if id == v.UnknownID() {
				t.Errorf("%q: a byte outside ByteVocab", text)
			}
		}
	}
	if got := (ByteTokenizer{}).Tokenize("\xe9\n"); !slices.Equal(got, []string{"<0xE9>", EOS}) {
		t.Errorf("Tokenize(\"\\xe9\\n\") = %q", got)
	}
	if v := ByteVocab(); v.Len() != 257 || !IsByteVocab(v) {
		t.Errorf("ByteVocab has %d tokens, IsByteVocab %v; want 257, true", v.Len(), IsByteVocab(v))
	}
	if v, _ := NewVocab(CharTokenizer{}.Tokenize("abc"), 1, 0); IsByteVocab(v) {
		t.Error("IsByteVocab of a character vocabulary")
	}
	if tok, err := TokenizerByName("byte"); err != nil || tok.Name() != "byte" {
		t.Errorf("TokenizerByName(byte) = %v, %v", tok, err)
	}
}

func TestBOMDropped(t *testing.T) {
	for _, tok := range []Tokenizer{CharTokenizer{}, WordTokenizer{}} {
		text := BOM + "ab c\n"
		want := tok.Tokenize("ab c\n")
		if got := tok.Tokenize(text); !slices.Equal(got, want) {
			t.Errorf("%s: Tokenize with a BOM = %q, want %q", tok.Name(), got, want)
		}
		var scanned []string
		st, err := ScanTokens(strings.NewReader(text), tok, func(b []byte) error { scanned = append(scanned, string(b)); return nil })
		if err != nil || !slices.Equal(scanned, want) {
			t.Errorf("%s: ScanTokens with a BOM = %q, %v; want %q", tok.Name(), scanned, err, want)
		}
		if st.Bytes != int64(len(text)) {
			t.Errorf("%s: %d bytes read, want %d (the BOM counted)", tok.Name(), st.Bytes, len(text))
		}
		// A U+FEFF elsewhere is text.
		if got := tok.Tokenize("a" + BOM); !slices.Contains(got, "a"+BOM) && !slices.Contains(got, BOM) {
			t.Errorf("%s: a U+FEFF after the start was dropped: %q", tok.Name(), got)
		}
	}
}
