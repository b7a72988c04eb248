// Package seq holds the bookkeeping of sequence batches: packing a list of
// variable-length sequences time-major with a shrinking batch (as cuDNN
// and PyTorch's PackedSequence do), padding with masks, and the index maps
// between the caller's order and the packed order.
//
// Everything here is index arithmetic on plain ints; the differentiable
// gathers that move data accordingly are fn.GatherRows and friends.
package seq

import (
	"fmt"
	"slices"
	"sort"
)

// Packing describes how a list of sequences, given in the caller's order,
// is laid out packed: sorted by decreasing length (ties keep the caller's
// order), time-major, step t holding the first BatchSizes[t] sorted
// sequences.
type Packing struct {
	// Lengths are the sequence lengths in the caller's order.
	Lengths []int
	// Order lists caller indices from longest to shortest sequence:
	// sorted position k holds sequence Order[k].
	Order []int
	// Rank is the inverse of Order: sequence i is at sorted position
	// Rank[i].
	Rank []int
	// BatchSizes[t] is the number of sequences longer than t.
	BatchSizes []int
	// Offsets[t] is the first packed row of step t.
	Offsets []int
	// Rows is the total number of packed rows, the sum of the lengths.
	Rows int
}

// NewPacking returns the packing of sequences with the given lengths. Every
// length must be positive and there must be at least one sequence.
func NewPacking(lengths []int) (*Packing, error) {
	if len(lengths) == 0 {
		return nil, fmt.Errorf("seq: no sequences to pack")
	}
	for i, n := range lengths {
		if n <= 0 {
			return nil, fmt.Errorf("seq: sequence %d has length %d; lengths must be positive", i, n)
		}
	}
	p := &Packing{Lengths: slices.Clone(lengths)}
	p.Order = make([]int, len(lengths))
	for i := range p.Order {
		p.Order[i] = i
	}
	sort.SliceStable(p.Order, func(a, b int) bool { return lengths[p.Order[a]] > lengths[p.Order[b]] })
	p.Rank = make([]int, len(lengths))
	for k, i := range p.Order {
		p.Rank[i] = k
	}
	maxLen := lengths[p.Order[0]]
	p.BatchSizes = make([]int, maxLen)
	p.Offsets = make([]int, maxLen)
	k := len(lengths)
	for t := 0; t < maxLen; t++ {
		for k > 0 && lengths[p.Order[k-1]] <= t {
			k--
		}
		p.BatchSizes[t] = k
		if t > 0 {
			p.Offsets[t] = p.Offsets[t-1] + p.BatchSizes[t-1]
		}
		p.Rows += k
	}
	return p, nil
}

// MustPacking is NewPacking for lengths known to be valid; it panics on an
// error.
func MustPacking(lengths []int) *Packing {
	p, err := NewPacking(lengths)
	if err != nil {
		panic(err)
	}
	return p
}

// Sorted reports whether the caller's order is already the packed order
// (Order is the identity: lengths that never increase, as for equal
// lengths). The layers then use and return states as they are, without
// reordering them.
func (p *Packing) Sorted() bool {
	for k, i := range p.Order {
		if k != i {
			return false
		}
	}
	return true
}

// Steps returns the number of time steps, the longest length.
func (p *Packing) Steps() int { return len(p.BatchSizes) }

// Batch returns the number of sequences.
func (p *Packing) Batch() int { return len(p.Lengths) }

// Row returns the packed row of step t of sequence i (caller's order). It
// panics if the sequence has no step t.
func (p *Packing) Row(i, t int) int {
	if t < 0 || t >= p.Lengths[i] {
		panic(fmt.Sprintf("seq: sequence %d of length %d has no step %d", i, p.Lengths[i], t))
	}
	return p.Offsets[t] + p.Rank[i]
}

// concatStarts returns, for each sequence, its first row in the
// concatenation of all sequences in the caller's order.
func (p *Packing) concatStarts() []int {
	starts := make([]int, len(p.Lengths))
	for i := 1; i < len(starts); i++ {
		starts[i] = starts[i-1] + p.Lengths[i-1]
	}
	return starts
}

// PackIndex returns, for each packed row, the row of the concatenation of
// the sequences (caller's order, each sequence's steps in time order) that
// it holds. Gathering the concatenation by it packs the batch.
func (p *Packing) PackIndex() []int {
	starts := p.concatStarts()
	return p.packedRows(func(t, i int) int { return starts[i] + t })
}

// packedRows returns row(t, i) for each packed row, in packed order: the
// rows of step t are those of the sequences still running, i being a
// sequence's index in the caller's order.
func (p *Packing) packedRows(row func(t, i int) int) []int {
	idx := make([]int, 0, p.Rows)
	for t, b := range p.BatchSizes {
		for _, i := range p.Order[:b] {
			idx = append(idx, row(t, i))
		}
	}
	return idx
}

// UnpackIndex is the inverse of PackIndex: for each row of the
// concatenation, the packed row holding it.
func (p *Packing) UnpackIndex() []int {
	pack := p.PackIndex()
	idx := make([]int, len(pack))
	for r, c := range pack {
		idx[c] = r
	}
	return idx
}

// PadIndex returns the gather index that turns the concatenation of the
// sequences into a padded time-major batch of shape (Steps, Batch, …) in
// the caller's order, with -1 (a zero row) at padded positions.
func (p *Packing) PadIndex() []int {
	starts := p.concatStarts()
	T, B := p.Steps(), p.Batch()
	idx := make([]int, T*B)
	for t := 0; t < T; t++ {
		for i := 0; i < B; i++ {
			if t < p.Lengths[i] {
				idx[t*B+i] = starts[i] + t
			} else {
				idx[t*B+i] = -1
			}
		}
	}
	return idx
}

// FromPaddedIndex returns, for each packed row, the row of a padded
// time-major batch of Batch columns (row t·Batch + i holds step t of
// sequence i, caller's order) that it holds. Gathering the padded rows by
// it packs the batch, as PyTorch's pack_padded_sequence.
func (p *Packing) FromPaddedIndex() []int {
	B := p.Batch()
	return p.packedRows(func(t, i int) int { return t*B + i })
}

// ToPaddedIndex is the inverse of FromPaddedIndex for a padded batch of
// steps ≥ Steps() time steps: for each padded row t·Batch + i, the packed
// row holding step t of sequence i, or -1 (a zero row) past its length.
// It panics if steps is smaller than Steps().
func (p *Packing) ToPaddedIndex(steps int) []int {
	if steps < p.Steps() {
		panic(fmt.Sprintf("seq: padding sequences of up to %d steps to %d steps", p.Steps(), steps))
	}
	B := p.Batch()
	idx := make([]int, steps*B)
	for r := range idx {
		t, i := r/B, r%B
		if t < p.Lengths[i] {
			idx[r] = p.Offsets[t] + p.Rank[i]
		} else {
			idx[r] = -1
		}
	}
	return idx
}

// Mask returns, for each step t, which sequences (caller's order) have a
// step t: the mask for a padded time-major batch.
func (p *Packing) Mask() [][]bool {
	m := make([][]bool, p.Steps())
	for t := range m {
		m[t] = make([]bool, p.Batch())
		for i, n := range p.Lengths {
			m[t][i] = t < n
		}
	}
	return m
}
