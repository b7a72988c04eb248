package seq

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"unicode"
	"unicode/utf8"
)

// IDs is a stream of token ids stored compactly: two bytes a token while
// every id is below 2¹⁶ (any character-level vocabulary of a text), four
// bytes otherwise. A corpus of n tokens costs 2n or 4n bytes rather than
// the 8n of a []int.
type IDs struct {
	u16 []uint16 // while every id < 1<<16
	i32 []int32  // once one is not
}

// NewIDs returns an empty stream with room for n tokens of a vocabulary
// of vocab tokens (which picks the width).
func NewIDs(n, vocab int) *IDs {
	if vocab <= 1<<16 {
		return &IDs{u16: make([]uint16, 0, n)}
	}
	return &IDs{i32: make([]int32, 0, n)}
}

// IDsOf returns a compact copy of ids. It panics for an id outside
// [0, 2³¹).
func IDsOf(ids []int) *IDs {
	s := NewIDs(len(ids), 1<<16)
	for _, id := range ids {
		s.Append(id)
	}
	return s
}

// Append adds id to the stream, widening it when id does not fit two
// bytes. It panics for an id outside [0, 2³¹).
func (s *IDs) Append(id int) {
	if id < 0 || id > 1<<31-1 {
		panic(fmt.Sprintf("seq: token id %d outside [0, 2³¹)", id))
	}
	if s.i32 == nil && id < 1<<16 {
		s.u16 = append(s.u16, uint16(id))
		return
	}
	if s.i32 == nil {
		s.i32 = make([]int32, len(s.u16), max(cap(s.u16), len(s.u16)+1))
		for i, v := range s.u16 {
			s.i32[i] = int32(v)
		}
		s.u16 = nil
	}
	s.i32 = append(s.i32, int32(id))
}

// Len returns the number of tokens.
func (s *IDs) Len() int {
	if s.i32 != nil {
		return len(s.i32)
	}
	return len(s.u16)
}

// At returns token i.
func (s *IDs) At(i int) int {
	if s.i32 != nil {
		return int(s.i32[i])
	}
	return int(s.u16[i])
}

// Ints returns tokens [from, to) as a new []int.
func (s *IDs) Ints(from, to int) []int {
	out := make([]int, to-from)
	s.copyInts(out, from)
	return out
}

// copyInts writes tokens from, from+1, … into dst.
func (s *IDs) copyInts(dst []int, from int) {
	if s.i32 != nil {
		for i, v := range s.i32[from : from+len(dst)] {
			dst[i] = int(v)
		}
		return
	}
	for i, v := range s.u16[from : from+len(dst)] {
		dst[i] = int(v)
	}
}

// Bytes returns the memory the stream's storage holds, in bytes.
func (s *IDs) Bytes() int64 { return 2*int64(cap(s.u16)) + 4*int64(cap(s.i32)) }

// TextStats counts what ScanTokens read, for the checks CheckText makes
// of a whole text.
type TextStats struct {
	// Bytes and Runes count the text read; Control counts the control
	// characters other than newline, carriage return and tab.
	Bytes, Runes, Control int64
}

// Add returns the counts of two parts of one text.
func (s TextStats) Add(t TextStats) TextStats {
	return TextStats{s.Bytes + t.Bytes, s.Runes + t.Runes, s.Control + t.Control}
}

// Check returns CheckText's error for a text with these counts: empty,
// or mostly control characters. (ScanTokens itself refuses NUL bytes and
// invalid UTF-8.)
func (s TextStats) Check() error {
	switch {
	case s.Bytes == 0:
		return errors.New("empty")
	case s.Control*100 > s.Bytes:
		return errors.New("mostly control characters (binary?)")
	}
	return nil
}

// TextError is ScanTokens' error for input that is not text.
type TextError struct {
	// Offset is the byte offset of the problem in what was read.
	Offset int64
	// Problem says what is wrong.
	Problem string
}

// Error returns "PROBLEM at byte OFFSET".
func (e *TextError) Error() string { return fmt.Sprintf("%s at byte %d", e.Problem, e.Offset) }

// ScanTokens reads text from r as a stream and calls emit with each token
// that tok (CharTokenizer or WordTokenizer) makes of it, in order, exactly
// as tok.Tokenize would on the whole text; emit's argument is valid only
// during the call. It holds one token at a time, never the text, and
// fails at the first NUL byte or invalid UTF-8 (as CheckText would) with
// a *TextError, or at emit's first error. Other tokenizers get the whole text read and
// passed to Tokenize.
func ScanTokens(r io.Reader, tok Tokenizer, emit func(token []byte) error) (TextStats, error) {
	var st TextStats
	var word bool
	switch tok.(type) {
	case CharTokenizer, *CharTokenizer:
	case WordTokenizer, *WordTokenizer:
		word = true
	default:
		b, err := io.ReadAll(r)
		if err != nil {
			return st, err
		}
		if err := CheckText(b); err != nil {
			return st, err
		}
		st.Bytes = int64(len(b))
		for _, t := range tok.Tokenize(string(b)) {
			if err := emit([]byte(t)); err != nil {
				return st, err
			}
		}
		return st, nil
	}
	br := bufio.NewReaderSize(r, 1<<16)
	eos := []byte(EOS)
	var char [utf8.UTFMax]byte
	var cur []byte // the word being read
	for {
		c, size, err := br.ReadRune()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		switch {
		case c == utf8.RuneError && size == 1:
			return st, &TextError{Offset: st.Bytes, Problem: "not UTF-8 text (binary?)"}
		case c == 0:
			return st, &TextError{Offset: st.Bytes, Problem: "contains NUL bytes (binary?)"}
		case unicode.IsControl(c) && c != '\n' && c != '\r' && c != '\t':
			st.Control++
		}
		st.Bytes += int64(size)
		st.Runes++
		if !word {
			t := char[:utf8.EncodeRune(char[:], c)]
			if c == '\n' {
				t = eos
			}
			if err := emit(t); err != nil {
				return st, err
			}
			continue
		}
		if !unicode.IsSpace(c) {
			cur = utf8.AppendRune(cur, c)
			continue
		}
		if len(cur) > 0 {
			if err := emit(cur); err != nil {
				return st, err
			}
			cur = cur[:0]
		}
		if c == '\n' {
			if err := emit(eos); err != nil {
				return st, err
			}
		}
	}
	if word && len(cur) > 0 {
		if err := emit(cur); err != nil {
			return st, err
		}
	}
	return st, nil
}

// Counter counts tokens, remembering the order in which they first
// appear, to build a vocabulary from a stream without keeping it: it
// holds one string per distinct token.
type Counter struct {
	count map[string]int64
	order []string
	total int64
}

// NewCounter returns an empty Counter.
func NewCounter() *Counter { return &Counter{count: map[string]int64{}} }

// Add counts one occurrence of tok (which Add does not keep).
func (c *Counter) Add(tok []byte) {
	c.total++
	if n, ok := c.count[string(tok)]; ok {
		c.count[string(tok)] = n + 1
		return
	}
	s := string(tok)
	c.count[s] = 1
	c.order = append(c.order, s)
}

// AddString counts one occurrence of tok.
func (c *Counter) AddString(tok string) {
	c.total++
	if n, ok := c.count[tok]; ok {
		c.count[tok] = n + 1
		return
	}
	c.count[tok] = 1
	c.order = append(c.order, tok)
}

// Total returns the number of tokens counted.
func (c *Counter) Total() int64 { return c.total }

// Distinct returns the number of distinct tokens counted.
func (c *Counter) Distinct() int { return len(c.order) }

// Vocab builds the vocabulary NewVocabWith would build from the counted
// tokens.
func (c *Counter) Vocab(minCount, maxSize int, o VocabOptions) (*Vocab, error) {
	sp, unk, err := o.specials()
	if err != nil {
		return nil, err
	}
	if maxSize != 0 && maxSize <= len(sp) {
		return nil, fmt.Errorf("seq: vocabulary size %d leaves no room beside %s", maxSize, listTokens(sp))
	}
	order := make([]string, 0, len(c.order))
	for _, t := range c.order {
		if !slices.Contains(sp, t) {
			order = append(order, t)
		}
	}
	if o.ByteOrderTies {
		slices.Sort(order)
	}
	sort.SliceStable(order, func(a, b int) bool { return c.count[order[a]] > c.count[order[b]] })
	v := &Vocab{tokens: slices.Clone(sp), specials: len(sp), unknown: unk}
	for _, t := range order {
		if c.count[t] < int64(max(minCount, 1)) || (maxSize > 0 && len(v.tokens) >= maxSize) {
			break
		}
		v.tokens = append(v.tokens, t)
	}
	v.index()
	return v, nil
}

// IDBytes returns the id of the token spelled by b, or the unknown
// token's id, without allocating.
func (v *Vocab) IDBytes(b []byte) int {
	if id, ok := v.ids[string(b)]; ok {
		return id
	}
	return v.unknown
}
