package rnn

import "testing"

func TestCellNames(t *testing.T) {
	for _, tc := range []struct {
		cell  Cell
		name  string
		gates int
		c     bool
	}{
		{LSTM, "lstm", 4, true},
		{GRU, "gru", 3, false},
		{RNNTanh, "rnn_tanh", 1, false},
		{RNNReLU, "rnn_relu", 1, false},
		{Cell(9), "Cell(9)", 1, false},
	} {
		if got := tc.cell.String(); got != tc.name {
			t.Errorf("Cell(%d).String() = %q, want %q", tc.cell, got, tc.name)
		}
		if got := tc.cell.Gates(); got != tc.gates {
			t.Errorf("%v.Gates() = %d, want %d", tc.cell, got, tc.gates)
		}
		if got := tc.cell.HasCellState(); got != tc.c {
			t.Errorf("%v.HasCellState() = %v, want %v", tc.cell, got, tc.c)
		}
	}
	for _, tc := range []struct{ got, want string }{
		{Float32.String(), "float32"}, {BFloat16.String(), "bfloat16"}, {Float64.String(), "float64"}, {Precision(7).String(), "Precision(7)"},
		{Auto.String(), "auto"}, {Sequential.String(), "sequential"}, {RowGroups.String(), "row-groups"}, {Algorithm(3).String(), "Algorithm(3)"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q, want %q", tc.got, tc.want)
		}
	}
}
