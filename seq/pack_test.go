package seq

import (
	"slices"
	"testing"
)

func TestPacking(t *testing.T) {
	p, err := NewPacking([]int{2, 4, 1, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Order, []int{1, 3, 0, 2}) || !slices.Equal(p.Rank, []int{2, 0, 3, 1}) {
		t.Fatalf("order %v rank %v", p.Order, p.Rank)
	}
	if !slices.Equal(p.BatchSizes, []int{4, 3, 2, 2}) || !slices.Equal(p.Offsets, []int{0, 4, 7, 9}) || p.Rows != 11 {
		t.Fatalf("batch sizes %v offsets %v rows %d", p.BatchSizes, p.Offsets, p.Rows)
	}
	// Concatenation rows: seq0 0-1, seq1 2-5, seq2 6, seq3 7-10.
	wantPack := []int{2, 7, 0, 6, 3, 8, 1, 4, 9, 5, 10}
	if got := p.PackIndex(); !slices.Equal(got, wantPack) {
		t.Fatalf("PackIndex %v, want %v", got, wantPack)
	}
	un := p.UnpackIndex()
	for r, c := range wantPack {
		if un[c] != r {
			t.Fatalf("UnpackIndex %v is not the inverse", un)
		}
	}
	if p.Row(3, 2) != 7+1 || p.Row(0, 1) != 4+2 {
		t.Fatalf("Row wrong")
	}
	pad := p.PadIndex()
	if !slices.Equal(pad[:4], []int{0, 2, 6, 7}) || !slices.Equal(pad[4:8], []int{1, 3, -1, 8}) || pad[8] != -1 {
		t.Fatalf("PadIndex %v", pad)
	}
	m := p.Mask()
	if !slices.Equal(m[1], []bool{true, true, false, true}) || !slices.Equal(m[3], []bool{false, true, false, true}) {
		t.Fatalf("Mask %v", m)
	}
}

func TestPackingErrors(t *testing.T) {
	for _, lengths := range [][]int{nil, {3, 0}, {-1}} {
		if _, err := NewPacking(lengths); err == nil {
			t.Errorf("NewPacking(%v) accepted", lengths)
		}
	}
}

// TestPaddedIndices: FromPaddedIndex and ToPaddedIndex are inverse maps
// between the packed rows and the non-padded rows of a padded batch, and
// Sorted reports an identity order.
func TestPaddedIndices(t *testing.T) {
	for _, lengths := range [][]int{{2, 4, 1, 4}, {3, 3}, {1}, {5, 2, 2}} {
		p := MustPacking(lengths)
		B := len(lengths)
		from := p.FromPaddedIndex()
		if len(from) != p.Rows {
			t.Fatalf("%v: %d packed rows, want %d", lengths, len(from), p.Rows)
		}
		for _, steps := range []int{p.Steps(), p.Steps() + 2} {
			to := p.ToPaddedIndex(steps)
			if len(to) != steps*B {
				t.Fatalf("%v: %d padded rows for %d steps", lengths, len(to), steps)
			}
			for r, pr := range to {
				t0, i := r/B, r%B
				switch {
				case t0 >= lengths[i] && pr != -1:
					t.Fatalf("%v: padded row %d (step %d of a sequence of %d) maps to packed row %d", lengths, r, t0, lengths[i], pr)
				case t0 < lengths[i] && (pr != p.Row(i, t0) || from[pr] != r):
					t.Fatalf("%v: padded row %d maps to packed row %d, which maps back to %d", lengths, r, pr, from[pr])
				}
			}
		}
		sorted := slices.IsSortedFunc(lengths, func(a, b int) int { return b - a })
		if p.Sorted() != sorted {
			t.Fatalf("%v: Sorted() = %v", lengths, p.Sorted())
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("ToPaddedIndex below the longest length did not panic")
		}
	}()
	MustPacking([]int{3, 1}).ToPaddedIndex(2)
}
