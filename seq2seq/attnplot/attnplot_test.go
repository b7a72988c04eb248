package attnplot

import (
	"bytes"
	"image/png"
	"math"
	"testing"
)

func TestWritePNG(t *testing.T) {
	w := [][]float64{{0.1, 0.9, 0, 0}, {0.7, 0.3, 0, 0}, {0.5, 0.5, 0, 0}}
	var buf bytes.Buffer
	if err := WritePNG(&buf, w, []string{"je", "suis"}, []string{"i", "am", "</s>"}, "attention"); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("image of %v", b)
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]struct {
		w        [][]float64
		src, out []string
	}{
		"rows":    {[][]float64{{1}}, []string{"a"}, []string{"x", "y"}},
		"columns": {[][]float64{{1}}, []string{"a", "b"}, []string{"x"}},
		"nan":     {[][]float64{{math.NaN()}}, []string{"a"}, []string{"x"}},
		"empty":   {nil, nil, nil},
	}
	for name, c := range cases {
		if _, err := Plot(c.w, c.src, c.out, ""); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
