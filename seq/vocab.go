package seq

import (
	"errors"
	"fmt"
	"sort"
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

// Vocab maps tokens to dense ids and back. Id 0 is Unknown and id 1 is
// EOS; the other tokens follow in the order NewVocab gives them.
type Vocab struct {
	tokens []string
	ids    map[string]int
}

// NewVocab builds a vocabulary from a token stream: Unknown, EOS, then
// every other token that occurs at least minCount times, most frequent
// first (ties in order of first appearance), at most maxSize tokens in all
// (0 means no limit).
func NewVocab(tokens []string, minCount, maxSize int) (*Vocab, error) {
	if maxSize != 0 && maxSize < 3 {
		return nil, fmt.Errorf("seq: vocabulary size %d leaves no room beside %s and %s", maxSize, Unknown, EOS)
	}
	count := map[string]int{}
	var order []string
	for _, t := range tokens {
		if t == Unknown || t == EOS {
			continue
		}
		if count[t] == 0 {
			order = append(order, t)
		}
		count[t]++
	}
	sort.SliceStable(order, func(a, b int) bool { return count[order[a]] > count[order[b]] })
	v := &Vocab{tokens: []string{Unknown, EOS}}
	for _, t := range order {
		if count[t] < max(minCount, 1) || (maxSize > 0 && len(v.tokens) >= maxSize) {
			break
		}
		v.tokens = append(v.tokens, t)
	}
	v.index()
	return v, nil
}

// VocabFromTokens rebuilds a vocabulary from its token list (as Tokens
// returns it, for checkpoints). The list must start with Unknown and EOS
// and hold no duplicates.
func VocabFromTokens(tokens []string) (*Vocab, error) {
	if len(tokens) < 2 || tokens[0] != Unknown || tokens[1] != EOS {
		return nil, fmt.Errorf("seq: a vocabulary must start with %s and %s", Unknown, EOS)
	}
	v := &Vocab{tokens: append([]string(nil), tokens...)}
	v.index()
	if len(v.ids) != len(v.tokens) {
		return nil, errors.New("seq: vocabulary holds duplicate tokens")
	}
	return v, nil
}

func (v *Vocab) index() {
	v.ids = make(map[string]int, len(v.tokens))
	for i, t := range v.tokens {
		v.ids[t] = i
	}
}

// Len returns the number of tokens.
func (v *Vocab) Len() int { return len(v.tokens) }

// Tokens returns the tokens in id order; the caller must not modify it.
func (v *Vocab) Tokens() []string { return v.tokens }

// ID returns the id of t, or the id of Unknown.
func (v *Vocab) ID(t string) int {
	if id, ok := v.ids[t]; ok {
		return id
	}
	return 0
}

// Token returns the token with the given id; it panics for an id out of
// range.
func (v *Vocab) Token(id int) string {
	if id < 0 || id >= len(v.tokens) {
		panic(fmt.Sprintf("seq: token id %d outside a vocabulary of %d", id, len(v.tokens)))
	}
	return v.tokens[id]
}

// Encode maps tokens to ids (unknown tokens to Unknown's id).
func (v *Vocab) Encode(tokens []string) []int {
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		ids[i] = v.ID(t)
	}
	return ids
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
