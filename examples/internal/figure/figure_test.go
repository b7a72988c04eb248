package figure

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestSavePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lines.png")
	l := Lines{Title: "t", XLabel: "x", YLabel: "y", LogY: true, HLines: map[string]float64{"ref": 0.5},
		Series: []Series{{Name: "a", X: []float64{0, 1, 2, 3}, Y: []float64{1, 0.1, math.NaN(), 0.01}}, {Name: "b", X: []float64{0, 3}, Y: []float64{2, 3}, Dashed: true}}}
	if err := l.SavePNG(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 576 || b.Dy() != 336 {
		t.Errorf("image of %v, want 6×3.5 inches at 96 dpi", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want 1", len(entries))
	}
	bad := Lines{Series: []Series{{Name: "a", X: []float64{0}, Y: []float64{1, 2}}}}
	if err := bad.SavePNG(filepath.Join(dir, "bad.png")); err == nil {
		t.Error("mismatched series accepted")
	}
}

func TestGrid(t *testing.T) {
	imgs := [][]float64{{0, 1, 0.5, 0}, {1, 1, 1, 1}, {0, 0, 0, 0}}
	g, err := Grid(imgs, 2, 2, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	// 2 columns of (2+1)·3 pixels plus a border of 3; 2 rows likewise.
	if b := g.Bounds(); b.Dx() != 21 || b.Dy() != 21 {
		t.Errorf("grid of %v", b)
	}
	// Ink is dark: image 1's pixels are 0, image 0's first pixel white.
	if v := g.GrayAt(3, 3).Y; v != 255 {
		t.Errorf("blank pixel %d, want 255", v)
	}
	if v := g.GrayAt(3+3*3, 3).Y; v != 0 {
		t.Errorf("inked pixel %d, want 0", v)
	}
	if _, err := Grid(imgs, 3, 2, 2, 3); err == nil {
		t.Error("wrong image size accepted")
	}
	if _, err := Grid(nil, 2, 2, 2, 3); err == nil {
		t.Error("no images accepted")
	}
	if err := SaveImagePNG(filepath.Join(t.TempDir(), "g.png"), g); err != nil {
		t.Error(err)
	}
}

func TestWriteFileError(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "missing", "f"), []byte("x")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
