// Package bleu computes corpus-level BLEU (Papineni, Roukos, Ward & Zhu
// 2002, "BLEU: a Method for Automatic Evaluation of Machine Translation"),
// the standard score of machine translation, with any number of references
// per sentence.
//
// For n = 1…4 the modified precision p_n is the number of the hypotheses'
// n-grams that also occur in a reference — each n-gram counted at most as
// often as it occurs in the reference where it is most frequent — over the
// number of the hypotheses' n-grams, both summed over the corpus (not
// averaged over sentences). With c the total hypothesis length and r the
// sum over sentences of the reference length closest to the hypothesis's
// (the shorter on ties),
//
//	BLEU = BP · exp(¼ Σ_n log p_n),   BP = 1 if c > r, else exp(1 − r/c).
//
// No smoothing is applied: if some p_n is zero, BLEU is zero. Scores lie
// in [0, 1]; reports usually multiply by 100. Tokens are compared as
// given, so hypotheses and references must be tokenized alike.
package bleu

import (
	"fmt"
	"math"
	"strings"
)

// MaxOrder is the longest n-gram BLEU counts.
const MaxOrder = 4

// Score is a corpus BLEU score with its parts.
type Score struct {
	// BLEU is the score, in [0, 1].
	BLEU float64
	// Precisions are the modified n-gram precisions p_1 … p_4.
	Precisions [MaxOrder]float64
	// Matches and Totals are the clipped matching and total n-gram counts
	// behind each precision.
	Matches, Totals [MaxOrder]int
	// BrevityPenalty is BP.
	BrevityPenalty float64
	// HypLen and RefLen are c and r.
	HypLen, RefLen int
}

// String formats the score as BLEU is usually reported.
func (s Score) String() string {
	return fmt.Sprintf("BLEU = %.2f, %.1f/%.1f/%.1f/%.1f (BP = %.3f, ratio = %.3f, hyp_len = %d, ref_len = %d)",
		100*s.BLEU, 100*s.Precisions[0], 100*s.Precisions[1], 100*s.Precisions[2], 100*s.Precisions[3],
		s.BrevityPenalty, float64(s.HypLen)/math.Max(float64(s.RefLen), 1), s.HypLen, s.RefLen)
}

// ngrams counts the n-grams of toks.
func ngrams(toks []string, n int) map[string]int {
	m := map[string]int{}
	for i := 0; i+n <= len(toks); i++ {
		m[strings.Join(toks[i:i+n], "\x00")]++
	}
	return m
}

// Corpus returns the BLEU score of hypotheses hyps against references
// refs, where refs[i] holds one or more reference translations of the
// sentence that hyps[i] translates. It returns an error if the counts
// differ or a sentence has no reference.
func Corpus(hyps [][]string, refs [][][]string) (Score, error) {
	var s Score
	if len(hyps) != len(refs) {
		return s, fmt.Errorf("bleu: %d hypotheses and %d reference sets", len(hyps), len(refs))
	}
	for i, hyp := range hyps {
		if len(refs[i]) == 0 {
			return s, fmt.Errorf("bleu: sentence %d has no reference", i)
		}
		s.HypLen += len(hyp)
		best := -1
		for _, r := range refs[i] {
			d, bd := abs(len(r)-len(hyp)), abs(best-len(hyp))
			if best < 0 || d < bd || (d == bd && len(r) < best) {
				best = len(r)
			}
		}
		s.RefLen += best
		for n := 1; n <= MaxOrder; n++ {
			maxRef := map[string]int{}
			for _, r := range refs[i] {
				for g, c := range ngrams(r, n) {
					maxRef[g] = max(maxRef[g], c)
				}
			}
			for g, c := range ngrams(hyp, n) {
				s.Matches[n-1] += min(c, maxRef[g])
			}
			s.Totals[n-1] += max(len(hyp)-n+1, 0)
		}
	}
	logSum := 0.0
	for n := range MaxOrder {
		if s.Totals[n] > 0 {
			s.Precisions[n] = float64(s.Matches[n]) / float64(s.Totals[n])
		}
		logSum += math.Log(s.Precisions[n]) / MaxOrder
	}
	switch {
	case s.HypLen == 0:
		s.BrevityPenalty = 0
	case s.HypLen > s.RefLen:
		s.BrevityPenalty = 1
	default:
		s.BrevityPenalty = math.Exp(1 - float64(s.RefLen)/float64(s.HypLen))
	}
	s.BLEU = s.BrevityPenalty * math.Exp(logSum) // exp(−∞) = 0 when some p_n = 0
	return s, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
