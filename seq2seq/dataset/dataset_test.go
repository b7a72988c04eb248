package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

func TestTokenize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Run!", []string{"run", "!"}},
		{"Va !", []string{"va", "!"}},
		{"Va\u00a0!", []string{"va", "!"}},
		{"Don't go!", []string{"don't", "go", "!"}},
		{"Qu'est-ce ?", []string{"qu'est-ce", "?"}},
		{"« Bonjour », dit-il.", []string{"«", "bonjour", "»", ",", "dit-il", "."}},
		{"  ", nil},
		{"I'm 20.", []string{"i'm", "20", "."}},
	}
	for _, c := range cases {
		if got := Tokenize(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Tokenize(%q) = %q; want %q", c.in, got, c.want)
		}
	}
	if got := Chars("12 3+4"); !slices.Equal(got, []string{"1", "2", "3", "+", "4"}) {
		t.Errorf("Chars = %q", got)
	}
}

func TestReadTSV(t *testing.T) {
	in := "Go.\tVa !\n\nHi.\tSalut !\tattribution\r\nThis line has eleven words in it which is too many.\tNon.\n"
	pairs, err := ReadTSV(strings.NewReader(in), ReadOptions{MaxWords: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{Src: []string{"go", "."}, Tgt: []string{"va", "!"}}, {Src: []string{"hi", "."}, Tgt: []string{"salut", "!"}}}
	if len(pairs) != len(want) {
		t.Fatalf("got %d pairs: %q", len(pairs), pairs)
	}
	for i := range want {
		if !slices.Equal(pairs[i].Src, want[i].Src) || !slices.Equal(pairs[i].Tgt, want[i].Tgt) {
			t.Errorf("pair %d: %q; want %q", i, pairs[i], want[i])
		}
	}
	for name, bad := range map[string]string{
		"no tab":     "a\tb\nno tab here\n",
		"empty side": "a\t \n",
		"utf8":       "a\t\xff\n",
	} {
		if _, err := ReadTSV(strings.NewReader(bad), ReadOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "no tab" && !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: error %q does not name line 2", name, err)
		}
	}
}

// TestEngFra reads the shared English–French data when it is present.
func TestEngFra(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "data", "eng-fra", "fra.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	defer f.Close()
	pairs, err := ReadTSV(f, ReadOptions{MaxWords: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) < 100000 {
		t.Errorf("only %d pairs of at most 10 words", len(pairs))
	}
	train, test := Holdout{0.05, 1}.Split(pairs)
	srcs, _ := References(test)
	seen := map[string]bool{}
	for _, p := range train {
		seen[Key(p.Src)] = true
	}
	for _, s := range srcs {
		if seen[Key(s)] {
			t.Fatalf("held-out source %q occurs in training", s)
		}
	}
	if f := float64(len(test)) / float64(len(pairs)); f < 0.04 || f > 0.06 {
		t.Errorf("held-out fraction %.3f", f)
	}
}

func TestSplitAndReferences(t *testing.T) {
	var pairs []Pair
	for i := range 2000 {
		s := []string{string(rune('a' + i%26)), string(rune('a' + i/26%26)), string(rune('a' + i/676))}
		pairs = append(pairs, Pair{Src: s, Tgt: []string{"x"}}, Pair{Src: s, Tgt: []string{"y"}})
	}
	train, test := Holdout{0.1, 3}.Split(pairs)
	if len(train)+len(test) != len(pairs) || len(test) < 300 || len(test) > 500 {
		t.Fatalf("split %d/%d", len(train), len(test))
	}
	srcs, refs := References(test)
	if len(srcs)*2 != len(test) {
		t.Fatalf("%d sources for %d held-out pairs", len(srcs), len(test))
	}
	for i, r := range refs {
		if len(r) != 2 || r[0][0] != "x" || r[1][0] != "y" {
			t.Fatalf("references of %q: %q", srcs[i], r)
		}
	}
	_, test2 := Holdout{0.1, 4}.Split(pairs)
	if len(test2) == len(test) && slices.EqualFunc(test, test2, func(a, b Pair) bool { return Key(a.Src) == Key(b.Src) }) {
		t.Error("different seeds give the same split")
	}
}

func TestGenerate(t *testing.T) {
	cases := []struct {
		cfg   TaskConfig
		check func(p Pair) bool
	}{
		{TaskConfig{Task: Reverse, MinLen: 5, MaxLen: 20}, func(p Pair) bool {
			r := slices.Clone(p.Src)
			slices.Reverse(r)
			return slices.Equal(r, p.Tgt) && len(p.Src) >= 5 && len(p.Src) <= 20
		}},
		{TaskConfig{Task: Sort, MinLen: 1, MaxLen: 3}, func(p Pair) bool {
			return slices.IsSorted(p.Tgt) && len(p.Tgt) == len(p.Src)
		}},
		{TaskConfig{Task: Add, MinLen: 1, MaxLen: 3}, func(p Pair) bool {
			return len(p.Src) >= 3 && len(p.Src) <= 7 && len(p.Tgt) >= 1 && len(p.Tgt) <= 4
		}},
	}
	for _, c := range cases {
		train, err := Generate(c.cfg, 500, Holdout{0.05, 1}, false, tensor.NewRNG(1))
		if err != nil {
			t.Fatal(err)
		}
		test, err := Generate(c.cfg, 50, Holdout{0.05, 1}, true, tensor.NewRNG(2))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, p := range train {
			if !c.check(p) {
				t.Errorf("%v: bad example %q", c.cfg.Task, p)
			}
			seen[Key(p.Src)] = true
		}
		for _, p := range test {
			if seen[Key(p.Src)] {
				t.Errorf("%v: held-out %q in training", c.cfg.Task, p.Src)
			}
		}
	}
	if got, _ := Add.Example("123+989"); got != "1112" {
		t.Errorf("123+989 = %s", got)
	}
	if _, err := Generate(TaskConfig{Task: Sort, MinLen: 1, MaxLen: 2}, 1, Holdout{}, false, tensor.NewRNG(1)); err == nil {
		t.Error("zero held-out fraction: no error")
	}
	for _, bad := range []TaskConfig{{Task: 7, MinLen: 1, MaxLen: 2}, {MinLen: 0, MaxLen: 2}, {MinLen: 3, MaxLen: 2}, {Task: Add, MinLen: 1, MaxLen: 30}} {
		if _, err := Generate(bad, 1, Holdout{0.05, 1}, false, tensor.NewRNG(1)); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	// One-digit reversal has only 10 sources, none of which may be held out.
	if _, err := Generate(TaskConfig{Task: Reverse, MinLen: 1, MaxLen: 1}, 5, Holdout{0.01, 1}, true, tensor.NewRNG(1)); err == nil {
		t.Error("impossible held-out set: no error")
	}
	if _, err := ParseTask("multiply"); err == nil {
		t.Error("ParseTask: no error")
	}
	if k, _ := ParseTask("sort"); k != Sort || k.String() != "sort" {
		t.Error("ParseTask(sort)")
	}
}

func TestVocab(t *testing.T) {
	v := NewVocab([][]string{{"b", "a", "b"}, {"c", "b", "a", "<s>"}}, 2, 0)
	if got := v.Tokens(); !slices.Equal(got, []string{"<pad>", "<unk>", "<s>", "</s>", "b", "a"}) {
		t.Errorf("tokens %q", got)
	}
	if v.ID("c") != UNK || v.ID("a") != 5 || v.Token(BOS) != "<s>" {
		t.Error("ID/Token")
	}
	if got := v.Decode(v.Encode([]string{"a", "zz"})); !slices.Equal(got, []string{"a", "<unk>"}) {
		t.Errorf("round trip %q", got)
	}
	if w := NewVocab([][]string{{"a", "b", "c"}}, 1, 5); w.Len() != 5 {
		t.Errorf("max size: %d", w.Len())
	}
	if _, err := VocabFromTokens([]string{"a"}); err == nil {
		t.Error("no specials: no error")
	}
	if _, err := VocabFromTokens(append(Specials(), "x", "x")); err == nil {
		t.Error("duplicate: no error")
	}
}

func TestBatches(t *testing.T) {
	lengths := make([]int, 1000)
	rng := tensor.NewRNG(1)
	for i := range lengths {
		lengths[i] = 1 + rng.IntN(50)
	}
	bs := Batches(len(lengths), 32, func(i int) int { return lengths[i] }, tensor.NewRNG(2))
	seen := make([]bool, len(lengths))
	spread := 0
	for _, b := range bs {
		if len(b) > 32 {
			t.Fatalf("batch of %d", len(b))
		}
		lo, hi := 100, 0
		for _, i := range b {
			if seen[i] {
				t.Fatalf("index %d twice", i)
			}
			seen[i] = true
			lo, hi = min(lo, lengths[i]), max(hi, lengths[i])
		}
		spread += hi - lo
	}
	if !slices.Equal(seen, slices.Repeat([]bool{true}, len(lengths))) {
		t.Fatal("missing indices")
	}
	if avg := float64(spread) / float64(len(bs)); avg > 5 {
		t.Errorf("mean length spread within a batch %.1f; bucketing should keep it small", avg)
	}
}
