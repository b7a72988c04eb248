package dataset

import (
	"slices"

	"github.com/kioku-ml/kioku/seq"
)

// The special tokens every seq2seq vocabulary starts with, and their ids.
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

// VocabOptions returns the seq.VocabOptions of a seq2seq vocabulary: the
// special tokens of Specials, unknown tokens mapped to UNK, ties in
// frequency broken by byte order.
func VocabOptions() seq.VocabOptions {
	return seq.VocabOptions{Specials: Specials(), Unknown: specials[UNK], ByteOrderTies: true}
}

// NewVocab builds a seq2seq vocabulary from the tokens of sentences: the
// specials, then every token seen at least minCount times, most frequent
// first (ties in byte order), at most maxSize tokens in all with the
// specials (maxSize 0: no limit; a maxSize of at most len(Specials())
// keeps the specials alone).
func NewVocab(sentences [][]string, minCount, maxSize int) *seq.Vocab {
	var n int
	for _, s := range sentences {
		n += len(s)
	}
	tokens := make([]string, 0, n)
	for _, s := range sentences {
		tokens = append(tokens, s...)
	}
	if maxSize > 0 && maxSize <= len(specials) {
		tokens = nil
		maxSize = 0
	}
	v, err := seq.NewVocabWith(tokens, minCount, maxSize, VocabOptions())
	if err != nil {
		panic("dataset: " + err.Error()) // the options are fixed and valid
	}
	return v
}

// VocabFromTokens returns the seq2seq vocabulary whose id i is tokens[i],
// as saved by Tokens. The first tokens must be those of Specials, and no
// token may repeat.
func VocabFromTokens(tokens []string) (*seq.Vocab, error) {
	return seq.VocabFromTokensWith(tokens, VocabOptions())
}
