package seq

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// TestScanTokensMatchesTokenize: streaming gives exactly Tokenize's
// tokens, however the reads split the text (one byte at a time cuts every
// multi-byte character).
func TestScanTokensMatchesTokenize(t *testing.T) {
	texts := []string{
		"",
		"hello world\n",
		"no final newline",
		"  leading and  double  spaces \n\n\nblank lines\n",
		"tabs\tand\r\nCRLF\r\n",
		"日本語のテキスト\u3000全角スペース\nкириллица\n",
		"emoji 🙂🙃 and combining é\n",
		"\n",
		"trailing spaces   ",
	}
	for _, tok := range []Tokenizer{CharTokenizer{}, WordTokenizer{}} {
		for _, text := range texts {
			for _, oneByte := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(text)
				if oneByte {
					rd = iotest.OneByteReader(rd)
				}
				var got []string
				st, err := ScanTokens(rd, tok, func(b []byte) error {
					got = append(got, string(b))
					return nil
				})
				if err != nil {
					t.Fatalf("%s %q: %v", tok.Name(), text, err)
				}
				want := tok.Tokenize(text)
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("%s %q (one byte at a time %v):\n got %q\nwant %q", tok.Name(), text, oneByte, got, want)
				}
				if st.Bytes != int64(len(text)) {
					t.Errorf("%s %q: counted %d bytes", tok.Name(), text, st.Bytes)
				}
			}
		}
	}
}

// TestScanTokensRefusesBinary: NUL bytes and invalid UTF-8 stop the scan
// where they are; a text of control characters fails TextStats.Check, as
// CheckText would.
func TestScanTokensRefusesBinary(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"NUL", "abc\x00def", "NUL bytes (binary?) at byte 3"},
		{"invalid UTF-8", "ab\xff", "not UTF-8 text (binary?) at byte 2"},
		{"truncated rune", "ab\xe6\x97", "not UTF-8"},
		{"control characters", strings.Repeat("\x01", 10) + "abc", "mostly control characters"},
		{"empty", "", "empty"},
	}
	for _, c := range cases {
		for _, tok := range []Tokenizer{CharTokenizer{}, WordTokenizer{}} {
			st, err := ScanTokens(iotest.OneByteReader(strings.NewReader(c.text)), tok, func([]byte) error { return nil })
			if err == nil {
				err = st.Check()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %s: %v; want %q", c.name, tok.Name(), err, c.want)
			}
			if CheckText([]byte(c.text)) == nil {
				t.Errorf("%s: CheckText accepts it", c.name)
			}
		}
	}
}

// TestCounterMatchesNewVocab: a vocabulary counted from a stream is the
// one NewVocabWith builds from the token list.
func TestCounterMatchesNewVocab(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "d", "e", "f", "日", "<eos>", "<unk>", "xy"}
	for trial := range 50 {
		toks := make([]string, rng.IntN(200))
		for i := range toks {
			toks[i] = alphabet[min(rng.IntN(len(alphabet)), rng.IntN(len(alphabet)))]
		}
		minCount, maxSize := rng.IntN(4), []int{0, 4, 7}[trial%3]
		o := VocabOptions{ByteOrderTies: trial%2 == 0}
		want, err := NewVocabWith(toks, minCount, maxSize, o)
		if err != nil {
			t.Fatal(err)
		}
		c := NewCounter()
		for _, tk := range toks {
			c.Add([]byte(tk))
		}
		got, err := c.Vocab(minCount, maxSize, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Tokens(), want.Tokens()) || c.Total() != int64(len(toks)) {
			t.Fatalf("counted %q, NewVocabWith %q", got.Tokens(), want.Tokens())
		}
		for _, tk := range toks {
			if got.IDBytes([]byte(tk)) != want.ID(tk) {
				t.Fatalf("IDBytes(%q) = %d, ID %d", tk, got.IDBytes([]byte(tk)), want.ID(tk))
			}
		}
	}
}

// TestIDs: a stream keeps two bytes a token until an id needs more, then
// widens without losing any.
func TestIDs(t *testing.T) {
	s := NewIDs(3, 100)
	for _, id := range []int{0, 65535, 7} {
		s.Append(id)
	}
	if s.Bytes() != 6 || s.Len() != 3 {
		t.Errorf("narrow stream: %d bytes, %d tokens", s.Bytes(), s.Len())
	}
	s.Append(70000)
	want := []int{0, 65535, 7, 70000}
	if got := s.Ints(0, s.Len()); !slices.Equal(got, want) || s.At(3) != 70000 || s.Bytes() < 16 {
		t.Errorf("widened stream %v (%d bytes), want %v", got, s.Bytes(), want)
	}
	if got := IDsOf(want).Ints(1, 3); !slices.Equal(got, want[1:3]) {
		t.Errorf("IDsOf(…).Ints(1, 3) = %v", got)
	}
	for _, bad := range []int{-1, 1 << 31} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Append(%d) did not panic", bad)
				}
			}()
			s.Append(bad)
		}()
	}
}

// TestBPTTIDsMatchesBPTT: chunks of a compact stream equal those of the
// same ids as ints, narrow or wide.
func TestBPTTIDsMatchesBPTT(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, vocab := range []int{50, 1 << 20} {
		ids := make([]int, 1001)
		for i := range ids {
			ids[i] = rng.IntN(vocab)
		}
		a, err := NewBPTT(ids, 7, 13)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewBPTTIDs(IDsOf(ids), 7, 13)
		if err != nil {
			t.Fatal(err)
		}
		if a.Chunks() != b.Chunks() || a.Tokens() != b.Tokens() {
			t.Fatalf("chunks %d/%d tokens %d/%d", a.Chunks(), b.Chunks(), a.Tokens(), b.Tokens())
		}
		for k := range a.Chunks() {
			ai, at := a.Chunk(k)
			bi, bt := b.Chunk(k)
			for r := range ai {
				if !slices.Equal(ai[r], bi[r]) || !slices.Equal(at[r], bt[r]) {
					t.Fatalf("vocab %d chunk %d row %d differs", vocab, k, r)
				}
			}
			ti, tt := a.TimeMajor(k)
			ui, ut := b.TimeMajor(k)
			if !slices.Equal(ti, ui) || !slices.Equal(tt, ut) {
				t.Fatalf("vocab %d chunk %d: TimeMajor differs", vocab, k)
			}
		}
	}
	if _, err := NewBPTTIDs(IDsOf([]int{1, 2}), 2, 1); err == nil {
		t.Error("NewBPTTIDs accepted 2 tokens for a batch of 2")
	}
}

// BenchmarkScanTokens measures streaming tokenisation of a character
// corpus (bytes per second).
func BenchmarkScanTokens(b *testing.B) {
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 1<<14)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		n := 0
		ScanTokens(bytes.NewReader(text), CharTokenizer{}, func([]byte) error { n++; return nil })
	}
}
