package seq_test

import (
	"fmt"
	"strings"

	"github.com/kioku-ml/kioku/seq"
)

// A corpus read as a stream: one pass counts the vocabulary, a second
// stores the ids compactly (two bytes a token here), and BPTT chunks the
// stream without ever holding the text.
func ExampleScanTokens() {
	text := "abcabc\nabab\n"
	tok := seq.CharTokenizer{}
	counter := seq.NewCounter()
	if _, err := seq.ScanTokens(strings.NewReader(text), tok, func(b []byte) error {
		counter.Add(b)
		return nil
	}); err != nil {
		panic(err)
	}
	vocab, err := counter.Vocab(1, 0, seq.VocabOptions{})
	if err != nil {
		panic(err)
	}
	ids := seq.NewIDs(int(counter.Total()), vocab.Len())
	if _, err := seq.ScanTokens(strings.NewReader(text), tok, func(b []byte) error {
		ids.Append(vocab.IDBytes(b))
		return nil
	}); err != nil {
		panic(err)
	}
	fmt.Println(vocab.Tokens(), ids.Ints(0, ids.Len()), ids.Bytes(), "bytes")
	b, err := seq.NewBPTTIDs(ids, 2, 3)
	if err != nil {
		panic(err)
	}
	in, tg := b.Chunk(0)
	fmt.Println(in, tg)
	// Output:
	// [<unk> <eos> a b c] [2 3 4 2 3 4 1 2 3 2 3 1] 24 bytes
	// [[2 3 4] [4 1 2]] [[3 4 2] [1 2 3]]
}
