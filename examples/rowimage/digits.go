package main

import (
	"fmt"
	"image"
	"image/draw"
	"math"

	"github.com/kioku-ml/kioku/tensor"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// fontData are the Go fonts the digits are drawn in.
var fontData = [][]byte{goregular.TTF, gobold.TTF, gomedium.TTF, goitalic.TTF, gomono.TTF, gomonobold.TTF}

// renderer draws digits in the Go fonts at sizes and offsets drawn from
// an RNG, into size×size grey images.
type renderer struct {
	size int
	// lo and hi bound the glyph height as a fraction of the image.
	lo, hi float64
	// jitter is the largest shift, in pixels, from the centred position.
	jitter int
	fonts  []*opentype.Font
	faces  map[[2]int]font.Face // (font, pixel size) → face
}

func newRenderer(size int, lo, hi float64, jitter int) (*renderer, error) {
	if size < 8 {
		return nil, fmt.Errorf("image size %d: need at least 8 pixels", size)
	}
	if !(0 < lo && lo <= hi && hi <= 1) || jitter < 0 {
		return nil, fmt.Errorf("digit heights %v–%v of the image and jitter %d: want 0 < min ≤ max ≤ 1 and jitter ≥ 0", lo, hi, jitter)
	}
	r := &renderer{size: size, lo: lo, hi: hi, jitter: jitter, faces: map[[2]int]font.Face{}}
	for _, data := range fontData {
		f, err := opentype.Parse(data)
		if err != nil {
			return nil, err
		}
		r.fonts = append(r.fonts, f)
	}
	return r, nil
}

func (r *renderer) face(f, px int) (font.Face, error) {
	key := [2]int{f, px}
	if fc, ok := r.faces[key]; ok {
		return fc, nil
	}
	fc, err := opentype.NewFace(r.fonts[f], &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, err
	}
	r.faces[key] = fc
	return fc, nil
}

// render draws digit d in a font and at a size drawn from rng (the digit
// between r.lo and r.hi of the image high), centred and then shifted by up
// to r.jitter pixels each way (as far as the image allows), and returns
// the size×size intensities in [0, 1], row by row (1 is ink).
func (r *renderer) render(rng *tensor.RNG, d int) ([]float32, error) {
	s := r.size
	f := rng.IntN(len(r.fonts))
	// Digit glyphs are about 0.7 em high.
	lo, hi := int(math.Round(r.lo*float64(s)/0.7)), int(math.Round(r.hi*float64(s)/0.7))
	px := lo + rng.IntN(hi-lo+1)
	fc, err := r.face(f, px)
	if err != nil {
		return nil, err
	}
	str := string(rune('0' + d))
	b, _ := font.BoundString(fc, str)
	x0, y0 := b.Min.X.Floor(), b.Min.Y.Floor()
	x1, y1 := b.Max.X.Ceil(), b.Max.Y.Ceil()
	w, h := x1-x0, y1-y0
	if w > s || h > s {
		return nil, fmt.Errorf("digit %d at %d px is %d×%d, larger than the %d×%d image", d, px, w, h, s, s)
	}
	// Place the glyph's box at (ox, oy): centred, then jittered.
	shift := func(room int) int {
		o := room/2 + rng.IntN(2*r.jitter+1) - r.jitter
		return max(0, min(room, o))
	}
	ox, oy := shift(s-w), shift(s-h)
	img := image.NewGray(image.Rect(0, 0, s, s))
	dr := font.Drawer{Dst: img, Src: image.White, Face: fc, Dot: fixed.P(ox-x0, oy-y0)}
	draw.Draw(img, img.Bounds(), image.Black, image.Point{}, draw.Src)
	dr.DrawString(str)
	px32 := make([]float32, s*s)
	for i, v := range img.Pix {
		px32[i] = float32(v) / 255
	}
	return px32, nil
}
