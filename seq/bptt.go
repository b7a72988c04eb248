package seq

import "fmt"

// BPTT cuts a token stream into the chunks of truncated backpropagation
// through time, as Zaremba et al. (2014) batch a corpus: the stream is split
// into Batch contiguous parts, one per row, and each chunk takes the next
// Steps tokens of every part (inputs) with the tokens one further on
// (targets). The state of row b carries over from chunk to chunk, so row b
// reads its part of the corpus in order. Memory is the corpus itself; a
// chunk is a view.
type BPTT struct {
	ids          []int
	compact      *IDs // instead of ids, for NewBPTTIDs
	batch, steps int
	partLen      int
}

// NewBPTT prepares the chunks of ids for batch rows of steps tokens. It
// returns an error when the stream is too short for one chunk.
func NewBPTT(ids []int, batch, steps int) (*BPTT, error) {
	if batch <= 0 || steps <= 0 {
		return nil, fmt.Errorf("seq: BPTT batch %d and steps %d must be positive", batch, steps)
	}
	partLen := (len(ids) - 1) / batch
	if partLen < 1 {
		return nil, fmt.Errorf("seq: %d tokens are too few for a batch of %d", len(ids), batch)
	}
	return &BPTT{ids: ids, batch: batch, steps: steps, partLen: partLen}, nil
}

// NewBPTTIDs is NewBPTT over a compact stream: memory is the stream (two
// or four bytes a token), and each chunk is copied out of it as ints
// (Batch × (Steps+1) of them).
func NewBPTTIDs(ids *IDs, batch, steps int) (*BPTT, error) {
	if batch <= 0 || steps <= 0 {
		return nil, fmt.Errorf("seq: BPTT batch %d and steps %d must be positive", batch, steps)
	}
	partLen := (ids.Len() - 1) / batch
	if partLen < 1 {
		return nil, fmt.Errorf("seq: %d tokens are too few for a batch of %d", ids.Len(), batch)
	}
	return &BPTT{compact: ids, batch: batch, steps: steps, partLen: partLen}, nil
}

// at returns token i of the stream.
func (b *BPTT) at(i int) int {
	if b.compact != nil {
		return b.compact.At(i)
	}
	return b.ids[i]
}

// Chunks returns the number of chunks in one pass (the last may be shorter
// than Steps).
func (b *BPTT) Chunks() int { return (b.partLen + b.steps - 1) / b.steps }

// Tokens returns the number of input tokens in one pass.
func (b *BPTT) Tokens() int { return b.partLen * b.batch }

// Chunk returns chunk k: inputs[r] and targets[r] are the tokens of row r
// (slices of the stream, or of a copy of a compact one; the caller must
// not modify them).
func (b *BPTT) Chunk(k int) (inputs, targets [][]int) {
	if k < 0 || k >= b.Chunks() {
		panic(fmt.Sprintf("seq: BPTT chunk %d of %d", k, b.Chunks()))
	}
	start := k * b.steps
	n := min(b.steps, b.partLen-start)
	inputs, targets = make([][]int, b.batch), make([][]int, b.batch)
	var buf []int
	if b.compact != nil {
		buf = make([]int, b.batch*(n+1))
	}
	for r := range inputs {
		base := r*b.partLen + start
		row := b.ids
		if b.compact != nil {
			row = buf[r*(n+1) : (r+1)*(n+1) : (r+1)*(n+1)]
			b.compact.copyInts(row, base)
			base = 0
		}
		inputs[r] = row[base : base+n : base+n]
		targets[r] = row[base+1 : base+n+1 : base+n+1]
	}
	return inputs, targets
}

// Batch returns the number of rows.
func (b *BPTT) Batch() int { return b.batch }

// TimeMajor returns chunk k as flat time-major ids, the layout recurrent
// layers take (a (T, B) batch, as PyTorch's nn.LSTM): element t·Batch()+r
// of inputs is token t of row r, and targets holds the tokens one further
// on. The chunk has len(inputs)/Batch() steps (Steps, or fewer for the
// last). The slices are new; the stream is not modified.
func (b *BPTT) TimeMajor(k int) (inputs, targets []int) {
	if k < 0 || k >= b.Chunks() {
		panic(fmt.Sprintf("seq: BPTT chunk %d of %d", k, b.Chunks()))
	}
	start := k * b.steps
	n := min(b.steps, b.partLen-start)
	inputs, targets = make([]int, n*b.batch), make([]int, n*b.batch)
	for r := 0; r < b.batch; r++ {
		base := r*b.partLen + start
		for t := 0; t < n; t++ {
			inputs[t*b.batch+r] = b.at(base + t)
			targets[t*b.batch+r] = b.at(base + t + 1)
		}
	}
	return inputs, targets
}
