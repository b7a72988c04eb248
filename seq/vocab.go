package seq

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Special tokens of a language-model vocabulary.
const (
	// Unknown stands for tokens outside the vocabulary.
	Unknown = "<unk>"
	// EOS marks the end of a line (PTB convention: each newline is <eos>).
	EOS = "<eos>"
)

// VocabOptions chooses a vocabulary's special tokens and how
// NewVocabWith orders the other tokens. The zero value is the
// language-model vocabulary of NewVocab: Unknown and EOS, ties in order of
// first appearance.
type VocabOptions struct {
	// Specials are the special tokens, at ids 0, 1, … in this order. They
	// are always in the vocabulary, never counted, and a saved vocabulary
	// must start with them. Nil means Unknown, EOS.
	Specials []string
	// Unknown is the special token that tokens outside the vocabulary map
	// to; it must be one of Specials. Empty means the constant Unknown.
	Unknown string
	// ByteOrderTies breaks ties in frequency by the tokens' byte order
	// instead of their order of first appearance.
	ByteOrderTies bool
}

// specials returns the special tokens and the id of the unknown token, or
// an error naming what is wrong.
func (o VocabOptions) specials() ([]string, int, error) {
	sp := o.Specials
	if sp == nil {
		sp = []string{Unknown, EOS}
	}
	unk := o.Unknown
	if unk == "" {
		unk = Unknown
	}
	for i, t := range sp {
		if slices.Contains(sp[:i], t) {
			return nil, 0, fmt.Errorf("seq: special token %q repeats", t)
		}
	}
	id := slices.Index(sp, unk)
	if id < 0 {
		return nil, 0, fmt.Errorf("seq: unknown token %q is not among the special tokens %q", unk, sp)
	}
	return sp, id, nil
}

// Vocab maps tokens to dense ids and back. The special tokens come first
// (for NewVocab, id 0 is Unknown and id 1 is EOS); the other tokens follow
// in the order NewVocab or NewVocabWith gives them. A Vocab is not
// modified after it is built, so it may be shared between goroutines.
type Vocab struct {
	tokens   []string
	ids      map[string]int
	specials int // the number of special tokens, at ids 0…specials-1
	unknown  int // the id tokens outside the vocabulary map to
}

// NewVocab builds a language-model vocabulary from a token stream:
// Unknown, EOS, then every other token that occurs at least minCount
// times, most frequent first (ties in order of first appearance), at most
// maxSize tokens in all (0 means no limit). It is NewVocabWith with the
// zero VocabOptions.
func NewVocab(tokens []string, minCount, maxSize int) (*Vocab, error) {
	return NewVocabWith(tokens, minCount, maxSize, VocabOptions{})
}

// NewVocabWith builds a vocabulary from a token stream: the special tokens
// of o, then every other token that occurs at least minCount times, most
// frequent first (ties as o says), at most maxSize tokens in all, the
// specials included (0 means no limit; otherwise maxSize must leave room
// for one token beside the specials).
func NewVocabWith(tokens []string, minCount, maxSize int, o VocabOptions) (*Vocab, error) {
	c := NewCounter()
	for _, t := range tokens {
		c.AddString(t)
	}
	return c.Vocab(minCount, maxSize, o)
}

// VocabFromTokens rebuilds a language-model vocabulary from its token
// list (as Tokens returns it, for checkpoints). The list must start with
// Unknown and EOS and hold no duplicates.
func VocabFromTokens(tokens []string) (*Vocab, error) {
	return VocabFromTokensWith(tokens, VocabOptions{})
}

// VocabFromTokensWith rebuilds a vocabulary with the special tokens of o
// from its token list (as Tokens returns it). The list must start with
// the special tokens and hold no duplicates.
func VocabFromTokensWith(tokens []string, o VocabOptions) (*Vocab, error) {
	sp, unk, err := o.specials()
	if err != nil {
		return nil, err
	}
	if len(tokens) < len(sp) || !slices.Equal(tokens[:len(sp)], sp) {
		return nil, fmt.Errorf("seq: a vocabulary must start with %s", listTokens(sp))
	}
	v := &Vocab{tokens: slices.Clone(tokens), specials: len(sp), unknown: unk}
	v.index()
	if len(v.ids) != len(v.tokens) {
		return nil, errors.New("seq: vocabulary holds duplicate tokens")
	}
	return v, nil
}

// listTokens writes tokens as "a, b and c".
func listTokens(tokens []string) string {
	if len(tokens) < 2 {
		return strings.Join(tokens, "")
	}
	return strings.Join(tokens[:len(tokens)-1], ", ") + " and " + tokens[len(tokens)-1]
}

func (v *Vocab) index() {
	v.ids = make(map[string]int, len(v.tokens))
	for i, t := range v.tokens {
		v.ids[t] = i
	}
}

// Len returns the number of tokens.
func (v *Vocab) Len() int { return len(v.tokens) }

// Tokens returns the tokens in id order (a copy).
func (v *Vocab) Tokens() []string { return slices.Clone(v.tokens) }

// Specials returns the special tokens, at ids 0…len-1 (a copy).
func (v *Vocab) Specials() []string { return slices.Clone(v.tokens[:v.specials]) }

// UnknownID returns the id that tokens outside the vocabulary map to.
func (v *Vocab) UnknownID() int { return v.unknown }

// ID returns the id of t, or the id of the unknown token.
func (v *Vocab) ID(t string) int {
	if id, ok := v.ids[t]; ok {
		return id
	}
	return v.unknown
}

// Token returns the token with the given id; it panics for an id out of
// range.
func (v *Vocab) Token(id int) string {
	if id < 0 || id >= len(v.tokens) {
		panic(fmt.Sprintf("seq: token id %d outside a vocabulary of %d", id, len(v.tokens)))
	}
	return v.tokens[id]
}

// Encode maps tokens to ids (unknown tokens to the unknown token's id).
func (v *Vocab) Encode(tokens []string) []int {
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		ids[i] = v.ID(t)
	}
	return ids
}

// Decode maps ids to tokens; it panics for an id out of range.
func (v *Vocab) Decode(ids []int) []string {
	toks := make([]string, len(ids))
	for i, id := range ids {
		toks[i] = v.Token(id)
	}
	return toks
}

// Tokenizer splits text into tokens and joins tokens back into text.
type Tokenizer interface {
	Tokenize(text string) []string
	Join(tokens []string) string
	// Name is "char" or "word", as in configurations.
	Name() string
}

// CharTokenizer makes every character (rune) a token; a newline becomes EOS.
type CharTokenizer struct{}

// Tokenize returns the runes of text, with EOS for each newline.
func (CharTokenizer) Tokenize(text string) []string {
	out := make([]string, 0, len(text))
	for _, r := range text {
		if r == '\n' {
			out = append(out, EOS)
			continue
		}
		out = append(out, string(r))
	}
	return out
}

// Join concatenates the tokens, writing EOS as a newline.
func (CharTokenizer) Join(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if t == EOS {
			t = "\n"
		}
		b.WriteString(t)
	}
	return b.String()
}

// Name returns "char".
func (CharTokenizer) Name() string { return "char" }

// WordTokenizer splits text on white space; each newline becomes EOS (the
// Penn Treebank convention).
type WordTokenizer struct{}

// Tokenize returns the space-separated words of each line, each line
// followed by EOS.
func (WordTokenizer) Tokenize(text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		out = append(out, strings.Fields(line)...)
		if strings.HasSuffix(line, "\n") {
			out = append(out, EOS)
		}
	}
	return out
}

// Join writes the words separated by spaces, EOS as a newline.
func (WordTokenizer) Join(tokens []string) string {
	var b strings.Builder
	for i, t := range tokens {
		if t == EOS {
			b.WriteByte('\n')
			continue
		}
		if i > 0 && tokens[i-1] != EOS {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

// Name returns "word".
func (WordTokenizer) Name() string { return "word" }

// TokenizerByName returns the tokenizer called "char" or "word".
func TokenizerByName(name string) (Tokenizer, error) {
	switch name {
	case "char":
		return CharTokenizer{}, nil
	case "word":
		return WordTokenizer{}, nil
	}
	return nil, fmt.Errorf("seq: unknown tokenizer %q (want char or word)", name)
}

// CheckText returns an error if data is empty or does not look like text:
// not valid UTF-8, or containing NUL or many other control characters.
func CheckText(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty")
	}
	if !utf8.Valid(data) {
		return errors.New("not UTF-8 text (binary?)")
	}
	ctrl := 0
	for _, r := range string(data) {
		if r == 0 {
			return errors.New("contains NUL bytes (binary?)")
		}
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			ctrl++
		}
	}
	if ctrl*100 > len(data) {
		return errors.New("mostly control characters (binary?)")
	}
	return nil
}
