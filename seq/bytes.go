package seq

import (
	"fmt"
	"strings"
)

// ByteTokenizer makes every byte a token, so that any file, text or not,
// can be modelled: a printable ASCII byte (and tab and carriage return)
// is the one-character token of itself, a newline is EOS, and every other
// byte is the token "<0xNN>" (NN its value in upper-case hexadecimal), as
// in SentencePiece's byte fallback. Join inverts Tokenize exactly. Unlike
// CharTokenizer it strips no byte-order mark: every byte is modelled.
type ByteTokenizer struct{}

// byteTokens[b] is the token of byte b.
var byteTokens = func() (t [256]string) {
	for b := range 256 {
		switch {
		case b == '\n':
			t[b] = EOS
		case b == '\t' || b == '\r' || b >= 0x20 && b < 0x7f:
			t[b] = string(rune(b))
		default:
			t[b] = fmt.Sprintf("<0x%02X>", b)
		}
	}
	return t
}()

// ByteToken returns the token of byte b.
func ByteToken(b byte) string { return byteTokens[b] }

// Tokenize returns the token of each byte of text.
func (ByteTokenizer) Tokenize(text string) []string {
	out := make([]string, len(text))
	for i := range len(text) {
		out[i] = byteTokens[text[i]]
	}
	return out
}

// Join writes the byte of each token: EOS as a newline, "<0xNN>" as the
// byte NN, any other token as its text.
func (ByteTokenizer) Join(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if c, ok := parseByteToken(t); ok {
			b.WriteByte(c)
			continue
		}
		b.WriteString(t)
	}
	return b.String()
}

// parseByteToken returns the byte of a token of the form <0xNN>, or EOS.
func parseByteToken(t string) (byte, bool) {
	if t == EOS {
		return '\n', true
	}
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var c byte
	for _, h := range t[3:5] {
		switch {
		case h >= '0' && h <= '9':
			c = c<<4 | byte(h-'0')
		case h >= 'A' && h <= 'F':
			c = c<<4 | byte(h-'A'+10)
		default:
			return 0, false
		}
	}
	return c, true
}

// Name returns "byte".
func (ByteTokenizer) Name() string { return "byte" }

// ByteVocab returns the vocabulary of byte-level models: Unknown, EOS and
// the tokens of the other 255 bytes in byte order, so that no byte is
// ever out of the vocabulary.
func ByteVocab() *Vocab {
	tokens := []string{Unknown, EOS}
	for b := range 256 {
		if b != '\n' {
			tokens = append(tokens, byteTokens[b])
		}
	}
	v, err := VocabFromTokens(tokens)
	if err != nil {
		panic(err) // the tokens are distinct: a bug
	}
	return v
}

// IsByteVocab reports whether v holds the token of every byte, as
// ByteVocab does: the mark of a byte-level model.
func IsByteVocab(v *Vocab) bool {
	for b := range 256 {
		if _, ok := v.ids[byteTokens[b]]; !ok {
			return false
		}
	}
	return true
}
