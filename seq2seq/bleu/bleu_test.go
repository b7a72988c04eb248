package bleu

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func toks(s string) []string { return strings.Fields(s) }

// The expected values are computed by hand in the comments.
func TestCorpus(t *testing.T) {
	cases := []struct {
		name  string
		hyps  []string
		refs  [][]string
		bleu  float64
		p     [4]float64
		bp    float64
		c, r  int
		exact bool
	}{
		{
			// Identical: every precision 1, c = r.
			name: "identical", hyps: []string{"the cat sat on the mat"}, refs: [][]string{{"the cat sat on the mat"}},
			bleu: 1, p: [4]float64{1, 1, 1, 1}, bp: 1, c: 6, r: 6,
		},
		{
			// Hyp a b c d e f against a b c d e g h: matches 5/6, 4/5, 3/4,
			// 2/3, product 1/3; c = 6 < r = 7, BP = exp(1 − 7/6).
			name: "hand", hyps: []string{"a b c d e f"}, refs: [][]string{{"a b c d e g h"}},
			bleu: math.Pow(1.0/3, 0.25) * math.Exp(-1.0/6), p: [4]float64{5.0 / 6, 4.0 / 5, 3.0 / 4, 2.0 / 3}, bp: math.Exp(-1.0 / 6), c: 6, r: 7,
		},
		{
			// Papineni et al.'s example of clipping: "the" ×7 matches at
			// most twice (reference 1 has it twice). No bigram matches, so
			// BLEU is 0. Closest reference length to 7 is 7 (reference 2).
			name: "clipping", hyps: []string{"the the the the the the the"},
			refs: [][]string{{"the cat is on the mat", "there is a cat on the mat"}},
			bleu: 0, p: [4]float64{2.0 / 7, 0, 0, 0}, bp: 1, c: 7, r: 7,
		},
		{
			// Corpus counts are summed, not averaged: a perfect sentence
			// (4/4, 3/3, 2/2, 1/1) and a wrong one (0/4, 0/3, 0/2, 0/1)
			// give 1/2 for every order; c = r = 8.
			name: "corpus", hyps: []string{"a b c d", "w x y z"}, refs: [][]string{{"a b c d"}, {"a b c d"}},
			bleu: 0.5, p: [4]float64{0.5, 0.5, 0.5, 0.5}, bp: 1, c: 8, r: 8,
		},
		{
			// Multiple references: the closest length to 5 among 4 and 6
			// is a tie, broken towards the shorter, r = 4 < c = 5, BP = 1.
			// Unigrams a b c d x: a b c d match (4/5); bigrams ab bc cd
			// match, dx not (3/4); abc bcd (2/3); abcd (1/2).
			// Product 4/5·3/4·2/3·1/2 = 1/5.
			name: "closest", hyps: []string{"a b c d x"}, refs: [][]string{{"a b c d", "a b c d y z"}},
			bleu: math.Pow(0.2, 0.25), p: [4]float64{4.0 / 5, 3.0 / 4, 2.0 / 3, 1.0 / 2}, bp: 1, c: 5, r: 4,
		},
		{
			// Too short for 4-grams: p_4 = 0/0 counts as 0, BLEU 0.
			name: "short", hyps: []string{"a b c"}, refs: [][]string{{"a b c"}},
			bleu: 0, p: [4]float64{1, 1, 1, 0}, bp: 1, c: 3, r: 3,
		},
		{
			name: "empty hypothesis", hyps: []string{""}, refs: [][]string{{"a b"}},
			bleu: 0, bp: 0, c: 0, r: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hyps [][]string
			var refs [][][]string
			for i, h := range c.hyps {
				hyps = append(hyps, toks(h))
				var rs [][]string
				for _, r := range c.refs[i] {
					rs = append(rs, toks(r))
				}
				refs = append(refs, rs)
			}
			s, err := Corpus(hyps, refs)
			if err != nil {
				t.Fatal(err)
			}
			near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }
			if !near(s.BLEU, c.bleu) || !near(s.BrevityPenalty, c.bp) || s.HypLen != c.c || s.RefLen != c.r {
				t.Errorf("got %+v; want BLEU %g, BP %g, c %d, r %d", s, c.bleu, c.bp, c.c, c.r)
			}
			for n := range c.p {
				if !near(s.Precisions[n], c.p[n]) {
					t.Errorf("p_%d = %g; want %g", n+1, s.Precisions[n], c.p[n])
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	if _, err := Corpus([][]string{{"a"}}, nil); err == nil {
		t.Error("count mismatch: no error")
	}
	if _, err := Corpus([][]string{{"a"}}, [][][]string{{}}); err == nil {
		t.Error("no reference: no error")
	}
}

func ExampleCorpus() {
	hyps := [][]string{strings.Fields("the cat sat on a mat")}
	refs := [][][]string{{strings.Fields("the cat sat on the mat"), strings.Fields("a cat sat on the mat")}}
	s, err := Corpus(hyps, refs)
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	// Output:
	// BLEU = 56.23, 100.0/60.0/50.0/33.3 (BP = 1.000, ratio = 1.000, hyp_len = 6, ref_len = 6)
}
