package dataset

import (
	"cmp"
	"fmt"
	"slices"
)

// The special tokens every Vocab starts with, and their ids.
const (
	PAD = iota // padding
	UNK        // a token not in the vocabulary
	BOS        // beginning of a sentence, the decoder's first input
	EOS        // end of a sentence
)

// specials are the tokens of the special ids, in order.
var specials = [...]string{PAD: "<pad>", UNK: "<unk>", BOS: "<s>", EOS: "</s>"}

// Specials returns the tokens of the special ids, in id order: "<pad>",
// "<unk>", "<s>", "</s>".
func Specials() []string { return slices.Clone(specials[:]) }

// Vocab maps tokens to ids and back. Ids 0…3 are the special tokens; the
// others are the known tokens.
type Vocab struct {
	tokens []string
	ids    map[string]int
}

// NewVocab builds a vocabulary from the tokens of sentences: every token
// seen at least minCount times, most frequent first (ties in byte order),
// at most maxSize tokens in all with the specials (maxSize 0: no limit).
func NewVocab(sentences [][]string, minCount, maxSize int) *Vocab {
	counts := map[string]int{}
	for _, s := range sentences {
		for _, t := range s {
			counts[t]++
		}
	}
	var toks []string
	for t, c := range counts {
		if c >= minCount && !slices.Contains(specials[:], t) {
			toks = append(toks, t)
		}
	}
	slices.SortFunc(toks, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if maxSize > 0 && len(specials)+len(toks) > maxSize {
		toks = toks[:max(maxSize-len(specials), 0)]
	}
	v, _ := VocabFromTokens(append(specials[:], toks...))
	return v
}

// VocabFromTokens returns the vocabulary whose id i is tokens[i], as saved
// by Tokens. The first tokens must be those of Specials, and no token may repeat.
func VocabFromTokens(tokens []string) (*Vocab, error) {
	if len(tokens) < len(specials) || !slices.Equal(tokens[:len(specials)], specials[:]) {
		return nil, fmt.Errorf("dataset: a vocabulary must start with %q", specials)
	}
	v := &Vocab{tokens: slices.Clone(tokens), ids: make(map[string]int, len(tokens))}
	for i, t := range tokens {
		if _, dup := v.ids[t]; dup {
			return nil, fmt.Errorf("dataset: token %q repeats in the vocabulary", t)
		}
		v.ids[t] = i
	}
	return v, nil
}

// Len returns the number of ids.
func (v *Vocab) Len() int { return len(v.tokens) }

// Tokens returns the tokens in id order.
func (v *Vocab) Tokens() []string { return slices.Clone(v.tokens) }

// ID returns the id of tok, or UNK.
func (v *Vocab) ID(tok string) int {
	if id, ok := v.ids[tok]; ok {
		return id
	}
	return UNK
}

// Token returns the token of id. It panics for an id out of range.
func (v *Vocab) Token(id int) string {
	if id < 0 || id >= len(v.tokens) {
		panic(fmt.Sprintf("dataset: id %d outside a vocabulary of %d", id, len(v.tokens)))
	}
	return v.tokens[id]
}

// Encode returns the ids of tokens (UNK for unknown ones).
func (v *Vocab) Encode(tokens []string) []int {
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		ids[i] = v.ID(t)
	}
	return ids
}

// Decode returns the tokens of ids.
func (v *Vocab) Decode(ids []int) []string {
	toks := make([]string, len(ids))
	for i, id := range ids {
		toks[i] = v.Token(id)
	}
	return toks
}
