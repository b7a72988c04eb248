package nn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/seq"
)

// lengthsOf returns the lengths of a list of (length, …) sequences.
func lengthsOf(op string, xs []*autograd.Variable) []int {
	if len(xs) == 0 {
		panic(fmt.Sprintf("nn: %s of no sequences", op))
	}
	lengths := make([]int, len(xs))
	for i, x := range xs {
		if x.Data.NDim() < 1 || x.Data.Dim(0) == 0 {
			panic(fmt.Sprintf("nn: %s: sequence %d has shape %v; want (length ≥ 1, …)", op, i, x.Shape()))
		}
		lengths[i] = x.Data.Dim(0)
	}
	return lengths
}

// PackSequences packs a list of sequences (length_i, …), in any order of
// lengths, time-major with a shrinking batch: the result has Σ length_i
// rows, step t holding the sequences longer than t from the longest down.
// The packing tells where each sequence went (see package seq).
func PackSequences(xs []*autograd.Variable) (*autograd.Variable, *seq.Packing) {
	p := seq.MustPacking(lengthsOf("PackSequences", xs))
	return fn.GatherRows(concatRows(xs), p.PackIndex()), p
}

// UnpackSequences is the inverse of PackSequences: it returns the rows of
// packed as one variable per sequence, in the caller's original order.
func UnpackSequences(packed *autograd.Variable, p *seq.Packing) []*autograd.Variable {
	if packed.Data.NDim() < 1 || packed.Data.Dim(0) != p.Rows {
		panic(fmt.Sprintf("nn: UnpackSequences of %v with a packing of %d rows", packed.Shape(), p.Rows))
	}
	y := fn.GatherRows(packed, p.UnpackIndex())
	if p.Batch() == 1 {
		return []*autograd.Variable{y}
	}
	return fn.Split(y, p.Lengths, 0)
}

// PadSequences turns a list of sequences (length_i, F…) into one
// zero-padded time-major batch (T, B, F…), T the longest length, with the
// mask mask[t][i] = t < length_i for stepping by hand with fn.Where, as the
// study deck does:
//
//	hNew := cell(h, x[t])
//	h = fn.Where(mask[t], hNew, h)   // padded steps leave the state alone
func PadSequences(xs []*autograd.Variable) (padded *autograd.Variable, mask [][]bool) {
	p := seq.MustPacking(lengthsOf("PadSequences", xs))
	y := fn.GatherRows(concatRows(xs), p.PadIndex())
	shape := append([]int{p.Steps(), p.Batch()}, xs[0].Shape()[1:]...)
	return fn.Reshape(y, shape...), p.Mask()
}

// PackPadded packs a zero-padded time-major batch padded (T, B, F…),
// whose column i holds a sequence of lengths[i] steps (1 ≤ lengths[i] ≤ T,
// in any order), into the packed layout ForwardPacked takes: step by step,
// the rows of the sequences still running, longest first (ties in column
// order). It is PyTorch's pack_padded_sequence with enforce_sorted=False:
// the packing holds the batch sizes and the permutation (p.Order is
// PyTorch's sorted_indices, p.Rank its unsorted_indices), so that
// ForwardPacked takes and returns states in column order. Padded steps
// are dropped and get no gradient. It returns an error for lengths that
// do not fit padded.
func PackPadded(padded *autograd.Variable, lengths []int) (*autograd.Variable, *seq.Packing, error) {
	shape := padded.Shape()
	if len(shape) < 2 {
		return nil, nil, fmt.Errorf("nn: PackPadded of shape %v; want (T, B, …)", shape)
	}
	T, B := shape[0], shape[1]
	if len(lengths) != B {
		return nil, nil, fmt.Errorf("nn: PackPadded of %d lengths for a batch %v of %d columns", len(lengths), shape, B)
	}
	for i, n := range lengths {
		if n < 1 || n > T {
			return nil, nil, fmt.Errorf("nn: PackPadded: sequence %d has length %d; want 1 to %d (the padded steps)", i, n, T)
		}
	}
	p, err := seq.NewPacking(lengths)
	if err != nil {
		return nil, nil, err
	}
	rows := fn.Reshape(padded, append([]int{T * B}, shape[2:]...)...)
	return fn.GatherRows(rows, p.FromPaddedIndex()), p, nil
}

// PadPacked is the inverse of PackPadded, PyTorch's pad_packed_sequence:
// it returns packed (p.Rows, F…) as a zero-padded time-major batch
// (steps, B, F…) in the caller's order, steps being p.Steps() (the
// longest length) when 0 (PyTorch's total_length). It panics if packed
// does not have p.Rows rows or steps is positive but below p.Steps().
func PadPacked(packed *autograd.Variable, p *seq.Packing, steps int) *autograd.Variable {
	shape := packed.Shape()
	if len(shape) < 1 || shape[0] != p.Rows {
		panic(fmt.Sprintf("nn: PadPacked of %v with a packing of %d rows", shape, p.Rows))
	}
	if steps == 0 {
		steps = p.Steps()
	}
	if steps < p.Steps() {
		panic(fmt.Sprintf("nn: PadPacked to %d steps of sequences up to %d long", steps, p.Steps()))
	}
	y := fn.GatherRows(packed, p.ToPaddedIndex(steps))
	return fn.Reshape(y, append([]int{steps, p.Batch()}, shape[1:]...)...)
}
