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
