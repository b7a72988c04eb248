// Package dataset supplies sentence pairs for sequence-to-sequence
// training: generated tasks (reversing, sorting and adding digit strings,
// the toy problems of Sutskever et al. 2014 and their successors), pairs
// read from a tab-separated file such as the Tatoeba English–French set,
// a tokenizer, vocabularies, held-out splits and length-bucketed batches.
//
// Splits are decided by hashing each pair's source, so a sentence is
// always on the same side whatever else the data holds and whichever
// program asks: training and evaluation commands agree without storing the
// split, and a held-out source never occurs in training, even when the
// data repeats it with different targets.
package dataset

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kioku-ml/kioku/tensor"
)

// Pair is a source sentence and its target, as tokens.
type Pair struct {
	Src, Tgt []string
}

// Holdout chooses the held-out part of a data set by hashing each
// source: a source is held out when a hash of Seed and its Key, read as a
// number in [0, 1), falls below Frac.
type Holdout struct {
	// Frac is the held-out fraction, in (0, 1).
	Frac float64
	// Seed numbers the split: different seeds hold out different sources.
	Seed uint64
}

// Contains reports whether the source src is held out.
func (h Holdout) Contains(src []string) bool {
	f := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(h.Seed >> (8 * i))
	}
	f.Write(b[:])
	f.Write([]byte(Key(src)))
	// The top 53 bits as a float in [0, 1).
	return float64(f.Sum64()>>11)/(1<<53) < h.Frac
}

// Key returns the key of a token sequence that Holdout and References
// compare: the tokens joined by a space.
func Key(tokens []string) string { return strings.Join(tokens, " ") }

// Split divides pairs into training and held-out sets by their sources.
// Pairs keep their order.
func (h Holdout) Split(pairs []Pair) (train, test []Pair) {
	for _, p := range pairs {
		if h.Contains(p.Src) {
			test = append(test, p)
		} else {
			train = append(train, p)
		}
	}
	return train, test
}

// References groups pairs that share a source, in order of first
// appearance: srcs[i] has the targets refs[i] (one or more), the
// references for multi-reference BLEU.
func References(pairs []Pair) (srcs [][]string, refs [][][]string) {
	index := map[string]int{}
	for _, p := range pairs {
		k := Key(p.Src)
		i, ok := index[k]
		if !ok {
			i = len(srcs)
			index[k] = i
			srcs = append(srcs, p.Src)
			refs = append(refs, nil)
		}
		refs[i] = append(refs[i], p.Tgt)
	}
	return srcs, refs
}

// Tokenize splits a sentence into lower-case word tokens: it splits at
// white space (any Unicode space, so "Va !" with a no-break space works
// too) and then splits punctuation off the start and end of each word as
// tokens of their own, keeping it inside words: "Don't go!" gives
// "don't", "go", "!"; "Qu'est-ce ?" gives "qu'est-ce", "?".
func Tokenize(s string) []string {
	var out []string
	for _, f := range strings.Fields(strings.ToLower(s)) {
		var tail []string
		for f != "" {
			r, n := utf8.DecodeRuneInString(f)
			if !unicode.IsPunct(r) && !unicode.IsSymbol(r) {
				break
			}
			out = append(out, f[:n])
			f = f[n:]
		}
		for f != "" {
			r, n := utf8.DecodeLastRuneInString(f)
			if !unicode.IsPunct(r) && !unicode.IsSymbol(r) {
				break
			}
			tail = append(tail, f[len(f)-n:])
			f = f[:len(f)-n]
		}
		if f != "" {
			out = append(out, f)
		}
		slices.Reverse(tail)
		out = append(out, tail...)
	}
	return out
}

// Chars splits a string into its characters, dropping white space: the
// tokenizer of the generated tasks ("12 34" gives "1", "2", "3", "4").
func Chars(s string) []string {
	var out []string
	for _, r := range s {
		if !unicode.IsSpace(r) {
			out = append(out, string(r))
		}
	}
	return out
}

// ReadOptions configure ReadTSV.
type ReadOptions struct {
	// MaxWords, if positive, keeps only the pairs whose two sides have at
	// most MaxWords white-space separated words each.
	MaxWords int
	// Tokenize turns each side into tokens; nil means Tokenize.
	Tokenize func(string) []string
}

// ReadTSV reads sentence pairs, one per line as source TAB target (further
// tab-separated fields, such as an attribution, are ignored), skipping
// blank lines. It returns an error naming the line for a line without a
// tab or with an empty side, or for invalid UTF-8.
func ReadTSV(r io.Reader, opts ReadOptions) ([]Pair, error) {
	tok := opts.Tokenize
	if tok == nil {
		tok = Tokenize
	}
	var pairs []Pair
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if !utf8.ValidString(text) {
			return nil, fmt.Errorf("dataset: line %d is not valid UTF-8", line)
		}
		fields := strings.Split(text, "\t")
		if len(fields) < 2 {
			return nil, fmt.Errorf("dataset: line %d has no tab between source and target", line)
		}
		src, tgt := fields[0], fields[1]
		if strings.TrimSpace(src) == "" || strings.TrimSpace(tgt) == "" {
			return nil, fmt.Errorf("dataset: line %d has an empty side", line)
		}
		if opts.MaxWords > 0 && (len(strings.Fields(src)) > opts.MaxWords || len(strings.Fields(tgt)) > opts.MaxWords) {
			continue
		}
		p := Pair{Src: tok(src), Tgt: tok(tgt)}
		if len(p.Src) == 0 || len(p.Tgt) == 0 {
			return nil, fmt.Errorf("dataset: line %d has a side without tokens", line)
		}
		pairs = append(pairs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dataset: line %d: %w", line+1, err)
	}
	return pairs, nil
}

// Batches returns the indices 0…n−1 cut into batches of at most size,
// for an epoch of training: indices are shuffled, sorted by length within
// windows of 64 batches so that a batch holds sequences of similar length
// (less padding in the decoder), cut into batches, and the batches
// shuffled. length(i) gives the length of example i. It panics if size is
// not positive.
func Batches(n, size int, length func(i int) int, rng *tensor.RNG) [][]int {
	if size <= 0 {
		panic(fmt.Sprintf("dataset: Batches of size %d", size))
	}
	idx := rng.Perm(n)
	window := 64 * size
	for lo := 0; lo < n; lo += window {
		w := idx[lo:min(lo+window, n)]
		slices.SortStableFunc(w, func(a, b int) int { return length(a) - length(b) })
	}
	var batches [][]int
	for lo := 0; lo < n; lo += size {
		batches = append(batches, idx[lo:min(lo+size, n)])
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	return batches
}
