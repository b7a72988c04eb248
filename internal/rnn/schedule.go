package rnn

import (
	"slices"

	"github.com/kioku-ml/kioku/internal/kernel"
)

// schedule lists the steps in processing order with each step's row
// offset into the packed arrays and the number of its rows whose previous
// state comes from the previous processed step (the rest start from the
// initial state).
type step struct{ t, off, rows, fromPrev, prevOff int }

func (f *op) schedule() []step {
	bs := f.batchSizes
	steps := make([]step, len(bs)) // in time order first
	off := 0
	for t, b := range bs {
		steps[t] = step{t: t, off: off, rows: b, prevOff: -1}
		off += b
	}
	for t := range steps {
		s := &steps[t]
		switch {
		case !f.reverse && t > 0:
			s.fromPrev, s.prevOff = bs[t], steps[t-1].off
		case f.reverse && t < len(bs)-1:
			s.fromPrev, s.prevOff = bs[t+1], steps[t+1].off
		}
	}
	if f.reverse {
		slices.Reverse(steps)
	}
	return steps
}

// rowsOf returns rows [off, off+b) of a (·, w) matrix, or nil for nil.
func rowsOf[T kernel.Float](v []T, off, b, w int) []T {
	if v == nil {
		return nil
	}
	return v[off*w : (off+b)*w]
}

// stepMasks are the masks of one step, nil where absent.
type stepMasks[T kernel.Float] struct{ cand, zh, zc []T }

// rows returns the masks of rows [lo, hi) of a step of width H.
func (m stepMasks[T]) rows(lo, hi, H int) stepMasks[T] {
	cut := func(v []T) []T {
		if v == nil {
			return nil
		}
		return v[lo*H : hi*H]
	}
	return stepMasks[T]{cut(m.cand), cut(m.zh), cut(m.zc)}
}

// cellGrain is the number of elements (rows × hidden units) of a step's
// elementwise cell update below which it stays on the calling goroutine.
const cellGrain = 1 << 12

// forRows runs f over the rows [0, b) of a step of width H, split across
// the worker pool when the step is large. The cell updates are independent
// row by row, so the result does not depend on the split.
func forRows(b, H int, f func(lo, hi int)) {
	kernel.ParallelFor(b, max(1, cellGrain/max(H, 1)), f)
}

// minGroupRows is the fewest batch rows a row group of a recurrent layer
// gets (see rowGroups).
const minGroupRows = 8

// rowGroups returns the number of row groups that run a recurrent layer's
// steps concurrently, each with single-threaded products. With Auto it is
// the worker pool's thread count when the rows are independent
// (separable) and the batch gives each group at least minGroupRows rows,
// else 1 (one group, whose products and cell updates use the pool step by
// step). A step's product is small — (B, H)·(H, G·H) — so splitting it
// across threads costs a synchronisation per step and duplicated packing
// of its left operand; whole groups synchronise once per sequence.
// RowGroups asks for groups whatever the batch (at least a row each),
// Sequential for one.
func rowGroups(algo Algorithm, separable bool, batch int) int {
	switch {
	case !separable || algo == Sequential:
		return 1
	case algo == RowGroups:
		return max(1, min(kernel.Threads(), batch))
	}
	return max(1, min(kernel.Threads(), batch/minGroupRows))
}

// gatherPrev fills prev (N, H) with the previous state of every packed row:
// the output of the previous processed step for rows that have one, the
// initial state for the rest.
func gatherPrev[T kernel.Float](prev, seqOut, init []T, steps []step, H int) {
	for _, s := range steps {
		dst := prev[s.off*H : (s.off+s.rows)*H]
		k := 0
		if s.prevOff >= 0 {
			k = s.fromPrev
			copy(dst[:k*H], seqOut[s.prevOff*H:(s.prevOff+k)*H])
		}
		copy(dst[k*H:], init[k*H:s.rows*H])
	}
}
