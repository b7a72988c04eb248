package dataset

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestVocabCompatible: NewVocab gives the vocabularies it gave before it
// was built on seq.Vocab (ties in byte order, maxSize counting the
// specials, a maxSize of at most four keeping the specials alone), and
// the token lists saved in today's checkpoints ("src_vocab" and
// "tgt_vocab" of a seq2seq checkpoint.json) load with the same ids.
func TestVocabCompatible(t *testing.T) {
	sents := [][]string{{"z", "y", "x"}, {"y", "z", "</s>", "w", "w", "w"}}
	sp := Specials()
	cases := []struct {
		minCount, maxSize int
		want              []string
	}{
		{1, 0, append(sp, "w", "y", "z", "x")},
		{2, 0, append(sp, "w", "y", "z")},
		{1, 6, append(sp, "w", "y")},
		{1, 5, append(sp, "w")},
		{1, 4, sp},
		{1, 2, sp},
	}
	for _, c := range cases {
		if got := NewVocab(sents, c.minCount, c.maxSize).Tokens(); !slices.Equal(got, c.want) {
			t.Errorf("NewVocab(min %d, max %d): %q, want %q", c.minCount, c.maxSize, got, c.want)
		}
	}

	const saved = `{"src_vocab": ["<pad>", "<unk>", "<s>", "</s>", "1", "2", "+"], "tgt_vocab": ["<pad>", "<unk>", "<s>", "</s>", "3"]}`
	var meta struct {
		Src []string `json:"src_vocab"`
		Tgt []string `json:"tgt_vocab"`
	}
	if err := json.Unmarshal([]byte(saved), &meta); err != nil {
		t.Fatal(err)
	}
	src, err := VocabFromTokens(meta.Src)
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := VocabFromTokens(meta.Tgt)
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Encode([]string{"1", "+", "9"}); !slices.Equal(got, []int{4, 6, UNK}) {
		t.Errorf("source ids %v", got)
	}
	if tgt.Len() != 5 || tgt.ID("3") != 4 || tgt.Token(EOS) != "</s>" || tgt.UnknownID() != UNK {
		t.Errorf("target vocabulary %q read wrong", tgt.Tokens())
	}
	// A language model's list is not a seq2seq vocabulary.
	if _, err := VocabFromTokens([]string{"<unk>", "<eos>", "a"}); err == nil {
		t.Error("a language-model vocabulary loaded as a seq2seq one")
	}
}
