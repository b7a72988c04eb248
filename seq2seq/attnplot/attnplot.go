// Package attnplot draws attention weights as a heat map: one row per
// output token, one column per source token, darker where the decoder
// attended more, as in the alignment figures of Bahdanau et al. (2015) and
// Luong et al. (2015).
//
// It uses gonum.org/v1/plot, kept out of package seq2seq so that models
// can be trained and run without the plotting dependency.
package attnplot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// grid adapts a weight matrix to plotter.GridXYZ: column c is source
// token c, row r is output token r, drawn top to bottom.
type grid struct {
	w    [][]float64
	cols int
}

func (g grid) Dims() (c, r int)   { return g.cols, len(g.w) }
func (g grid) Z(c, r int) float64 { return g.w[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(len(g.w) - 1 - r) }

// ramp is a palette of colours in order.
type ramp []color.Color

func (r ramp) Colors() []color.Color { return r }

// blues returns n colours from white (weight 0) to dark blue (the largest
// weight), interpolated linearly in sRGB, so that a weight stands out
// against the white page.
func blues(n int) palette.Palette {
	lo, hi := [3]float64{255, 255, 255}, [3]float64{8, 48, 107}
	r := make(ramp, n)
	for i := range r {
		t := float64(i) / float64(n-1)
		var c [3]uint8
		for k := range c {
			c[k] = uint8(math.Round(lo[k] + t*(hi[k]-lo[k])))
		}
		r[i] = color.RGBA{R: c[0], G: c[1], B: c[2], A: 255}
	}
	return r
}

// Plot returns a heat map of weights, where weights[r][c] is the weight
// output token out[r] gave source token src[c]. Rows may be longer than
// src (a batch's padding); the extra columns are dropped. It returns an
// error if the sizes disagree, a weight is not finite, or there is
// nothing to draw.
func Plot(weights [][]float64, src, out []string, title string) (*plot.Plot, error) {
	if len(src) == 0 || len(out) == 0 {
		return nil, fmt.Errorf("attnplot: %d source and %d output tokens; need at least one of each", len(src), len(out))
	}
	if len(weights) != len(out) {
		return nil, fmt.Errorf("attnplot: %d rows of weights for %d output tokens", len(weights), len(out))
	}
	w := make([][]float64, len(out))
	hi := 0.0
	for r, row := range weights {
		if len(row) < len(src) {
			return nil, fmt.Errorf("attnplot: row %d has %d weights for %d source tokens", r, len(row), len(src))
		}
		w[r] = row[:len(src)]
		for c, v := range w[r] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("attnplot: weight (%d, %d) is %v", r, c, v)
			}
			hi = max(hi, v)
		}
	}
	p := plot.New()
	p.Title.Text = title
	hm := plotter.NewHeatMap(grid{w: w, cols: len(src)}, blues(256))
	hm.Min, hm.Max = 0, max(hi, 1e-12)
	p.Add(hm)

	xt := make(plot.ConstantTicks, len(src))
	for c, s := range src {
		xt[c] = plot.Tick{Value: float64(c), Label: s}
	}
	yt := make(plot.ConstantTicks, len(out))
	for r, s := range out {
		yt[r] = plot.Tick{Value: float64(len(out) - 1 - r), Label: s}
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = text.XRight, text.YCenter
	p.X.Label.Text, p.Y.Label.Text = "source", "output"
	p.X.Min, p.X.Max = -0.5, float64(len(src))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(out))-0.5
	return p, nil
}

// Size returns a size for the plot of an n-column, m-row heat map: about
// a quarter inch a cell plus margins for the labels.
func Size(cols, rows int) (width, height vg.Length) {
	cell := vg.Inch / 4
	return max(3*vg.Inch, 1.5*vg.Inch+vg.Length(cols)*cell), max(3*vg.Inch, 1.5*vg.Inch+vg.Length(rows)*cell)
}

// dpi is the resolution of WritePNG's images.
const dpi = 144

// WritePNG writes the heat map of Plot as a PNG image to w, at 144 dots
// per inch and the size Size gives.
func WritePNG(w io.Writer, weights [][]float64, src, out []string, title string) error {
	p, err := Plot(weights, src, out, title)
	if err != nil {
		return err
	}
	wd, ht := Size(len(src), len(out))
	c := vgimg.NewWith(vgimg.UseWH(wd, ht), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}
