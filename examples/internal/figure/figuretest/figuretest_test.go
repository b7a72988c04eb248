package figuretest

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of reporting them.
type recorder struct {
	testing.TB
	failed, stopped bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed, r.stopped = true, true; panic(r) }

// run calls f with r, stopping where a Fatal stops it.
func (r *recorder) run(f func(testing.TB)) {
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
	}()
	f(r)
}

func TestPNG(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	f, err := os.Create(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bad := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(bad, []byte("not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path            string
		failed, stopped bool
	}{{good, false, false}, {bad, true, false}, {filepath.Join(dir, "missing.png"), true, true}} {
		r := &recorder{TB: t}
		r.run(func(tb testing.TB) { PNG(tb, c.path) })
		if r.failed != c.failed || r.stopped != c.stopped {
			t.Errorf("%s: failed %v, stopped %v; want %v, %v", filepath.Base(c.path), r.failed, r.stopped, c.failed, c.stopped)
		}
	}
}
