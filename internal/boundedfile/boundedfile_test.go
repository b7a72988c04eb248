package boundedfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestReadFile checks what ReadFile reads and what it refuses: FIFOs (at
// once, without waiting for a writer), devices behind symlinks,
// directories and files over the limit.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if runtime.GOOS != "windows" {
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 3<<30); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		path    string
		limit   int64
		want    string // the content, or
		wantErr error  // the error wrapped, or
		errText string // text of the error
	}{
		{"regular", regular, 5, "hello", nil, ""},
		{"no limit", regular, -1, "hello", nil, ""},
		{"over the limit", regular, 4, "", ErrTooLarge, "5 bytes, more than the limit of 4"},
		{"sparse 3 GB", sparse, 1 << 20, "", ErrTooLarge, "3221225472 bytes"},
		{"fifo", fifo, -1, "", ErrNotRegular, "a FIFO"},
		{"symlink to /dev/zero", zero, -1, "", ErrNotRegular, "a character device"},
		{"directory", dir, -1, "", ErrNotRegular, "a directory"},
		{"missing", filepath.Join(dir, "missing"), -1, "", fs.ErrNotExist, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.path == fifo && runtime.GOOS == "windows" {
				t.Skip("no FIFOs")
			}
			if c.path == zero {
				if _, err := os.Stat("/dev/zero"); err != nil {
					t.Skip("no /dev/zero")
				}
			}
			b, err := ReadFile(c.path, c.limit)
			if c.wantErr == nil && c.errText == "" {
				if err != nil || string(b) != c.want {
					t.Fatalf("ReadFile = %q, %v; want %q", b, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadFile = %d bytes, nil error", len(b))
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("error %v does not wrap %v", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.errText) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("error %q does not name %s and say %q", err, c.path, c.errText)
			}
		})
	}
}
