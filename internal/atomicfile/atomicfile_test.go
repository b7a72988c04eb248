package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	if err := WriteFile(name, 0o640, write("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(name, 0o640, write("two")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(name)
	st, _ := os.Stat(name)
	if string(b) != "two" || st.Mode().Perm() != 0o640 {
		t.Errorf("contents %q, mode %v", b, st.Mode())
	}
	// A failing writer leaves the old contents and no temporary file.
	boom := errors.New("boom")
	err := WriteFile(name, 0o640, func(w io.Writer) error { io.WriteString(w, "partial"); return boom })
	if !errors.Is(err, boom) {
		t.Errorf("error %v", err)
	}
	if b, _ := os.ReadFile(name); string(b) != "two" {
		t.Errorf("contents %q after a failed write", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), 0o644, write("x")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestCreateSynced(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	w := func(w io.Writer) error { _, err := io.WriteString(w, "data"); return err }
	if err := CreateSynced(name, 0o644, w); err != nil {
		t.Fatal(err)
	}
	if err := CreateSynced(name, 0o644, w); !errors.Is(err, os.ErrExist) {
		t.Errorf("overwrote an existing file: %v", err)
	}
	if err := SyncDir(filepath.Dir(name)); err != nil {
		t.Error(err)
	}
	if err := SyncDir(filepath.Join(name, "nope")); err == nil {
		t.Error("synced a missing directory")
	}
}
