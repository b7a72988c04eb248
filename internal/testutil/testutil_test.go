package testutil

import (
	"errors"
	"testing"
)

func TestRecover(t *testing.T) {
	err := errors.New("boom")
	for _, tc := range []struct {
		name string
		f    func()
		want any
	}{
		{"returns", func() {}, nil},
		{"string", func() { panic("bad shape") }, "bad shape"},
		{"error", func() { panic(err) }, err},
		{"index", func() { _ = []int{}[len("x")] }, nil},
	} {
		got := Recover(tc.f)
		if tc.name == "index" {
			if got == nil {
				t.Errorf("%s: no panic recovered", tc.name)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s: Recover = %v, want %v", tc.name, got, tc.want)
		}
	}
	ran := false
	Recover(func() { ran = true })
	if !ran {
		t.Error("Recover did not call f")
	}
}
