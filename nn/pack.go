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
