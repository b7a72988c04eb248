package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kioku-ml/kioku/internal/boundedfile"
	"github.com/kioku-ml/kioku/seq"
)

// maxTextSize is the largest text file kioku reads for training or
// evaluation (-data, -valid, -test). The memory check (-max-memory)
// usually refuses a large file well before this.
const maxTextSize = 16 << 30

// corpus is the training, validation and test text of a run, read as
// streams and never held whole: a vocabulary is counted in one pass and
// the token ids encoded in another, so memory is the ids themselves
// (seq.IDs, two bytes a token for a character model).
type corpus struct {
	parts  [3]textPart // training, validation, test; n == 0 and name == "" when absent
	tokens [3]int64    // the tokens of each part, once check has counted them
	files  []*os.File
}

// textPart is a byte range of a file (or string) that is one part of a
// corpus.
type textPart struct {
	name   string // the file, for errors
	src    io.ReaderAt
	off, n int64
}

func (p textPart) reader() io.Reader { return io.NewSectionReader(p.src, p.off, p.n) }

// openCorpus opens the training, validation and test files (valid and
// test may be empty): regular files of at most maxTextSize bytes, refused
// at once otherwise (a FIFO, a device, a directory). Without a validation
// file, the part of data after the first newline at or after 95% of it
// is held out for validation.
func openCorpus(data, valid, test string) (*corpus, error) {
	c := &corpus{}
	for i, name := range []string{data, valid, test} {
		if name == "" {
			continue
		}
		f, size, err := boundedfile.Open(name, maxTextSize)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.files = append(c.files, f)
		if size == 0 {
			c.Close()
			return nil, fmt.Errorf("%s: empty", name)
		}
		c.parts[i] = textPart{name: name, src: f, n: size}
	}
	if valid == "" {
		cut, err := cutAfter(c.parts[0].src, c.parts[0].n*95/100, c.parts[0].n)
		if te, ok := errors.AsType[*seq.TextError](err); ok {
			c.Close()
			return nil, fmt.Errorf("%s: %v", data, te)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("read %s: %w", data, err)
		}
		whole := c.parts[0]
		c.parts[0].n = cut
		c.parts[1] = textPart{name: data, src: whole.src, off: cut, n: whole.n - cut}
	}
	return c, nil
}

// stringCorpus is a corpus of texts held in memory (the embedded Go
// corpus).
func stringCorpus(train, valid string) *corpus {
	c := &corpus{}
	for i, s := range []string{train, valid} {
		c.parts[i] = textPart{name: []string{"the training text", "the validation text"}[i], src: strings.NewReader(s), n: int64(len(s))}
	}
	return c
}

// cutAfter returns the offset of the first newline at or after from in
// r (of size bytes), or size if there is none. A NUL byte before it is a
// *seq.TextError: the file is not text, and a sparse file of zeros is
// refused without reading on to its end.
func cutAfter(r io.ReaderAt, from, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for off := from; off < size; off += int64(len(buf)) {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		i := bytes.IndexByte(buf[:n], '\n')
		if z := bytes.IndexByte(buf[:n], 0); z >= 0 && (i < 0 || z < i) {
			// Not text: say so now rather than read on to a newline.
			return 0, &seq.TextError{Offset: off + int64(z), Problem: "contains NUL bytes (binary?)"}
		}
		if i >= 0 {
			return off + int64(i), nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
	}
	return size, nil
}

// Close closes the corpus's files.
func (c *corpus) Close() {
	for _, f := range c.files {
		f.Close()
	}
	c.files = nil
}

// bytes returns the size of part i.
func (c *corpus) bytes(i int) int64 { return c.parts[i].n }

// scan tokenises part i, calling emit with each token.
func (c *corpus) scan(i int, tok seq.Tokenizer, emit func([]byte) error) (seq.TextStats, error) {
	p := c.parts[i]
	st, err := seq.ScanTokens(p.reader(), tok, emit)
	if te, ok := errors.AsType[*seq.TextError](err); ok {
		return st, fmt.Errorf("%s: %s at byte %d", p.name, te.Problem, p.off+te.Offset)
	}
	if err != nil {
		return st, fmt.Errorf("%s: %w", p.name, err)
	}
	return st, nil
}

// check reads every part once, checking that each file is text (as
// seq.CheckText would check it whole), counts the tokens of each part and
// counts the training part's tokens by kind, for its vocabulary.
func (c *corpus) check(tok seq.Tokenizer) (*seq.Counter, error) {
	counter := seq.NewCounter()
	stats := map[string]seq.TextStats{}
	for i, p := range c.parts {
		if p.name == "" {
			continue
		}
		emit := func([]byte) error { c.tokens[i]++; return nil }
		if i == 0 {
			emit = func(b []byte) error { c.tokens[i]++; counter.Add(b); return nil }
		}
		st, err := c.scan(i, tok, emit)
		if err != nil {
			return nil, err
		}
		stats[p.name] = stats[p.name].Add(st)
	}
	for name, st := range stats {
		if err := st.Check(); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	return counter, nil
}

// encode reads the corpus again, after check, and returns the training
// ids and the validation and test ids, each allocated once at the size
// check counted.
func (c *corpus) encode(tok seq.Tokenizer, vocab *seq.Vocab) (*seq.IDs, []int, []int, error) {
	train := seq.NewIDs(int(c.tokens[0]), vocab.Len())
	if _, err := c.scan(0, tok, func(b []byte) error { train.Append(vocab.IDBytes(b)); return nil }); err != nil {
		return nil, nil, nil, err
	}
	var held [2][]int
	for i := range held {
		if c.parts[i+1].name == "" {
			continue
		}
		held[i] = make([]int, 0, c.tokens[i+1])
		if _, err := c.scan(i+1, tok, func(b []byte) error { held[i] = append(held[i], vocab.IDBytes(b)); return nil }); err != nil {
			return nil, nil, nil, err
		}
	}
	return train, held[0], held[1], nil
}

// encodeFile reads the text file name whole as ints for evaluation,
// checking that it is text.
func encodeFile(name string, tok seq.Tokenizer, vocab *seq.Vocab) ([]int, error) {
	c, err := openCorpus(name, name, "")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var ids []int
	st, err := c.scan(0, tok, func(b []byte) error { ids = append(ids, vocab.IDBytes(b)); return nil })
	if err != nil {
		return nil, err
	}
	if err := st.Check(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return ids, nil
}
