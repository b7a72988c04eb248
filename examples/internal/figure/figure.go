// Package figure holds what the example programs share for their output:
// line plots with gonum.org/v1/plot, image grids, and writing a file
// atomically (to a temporary file in the same directory, then renamed), so
// that an interrupted program never leaves half an image behind.
package figure

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteFile writes data to path atomically: to a temporary file in the
// same directory first, renamed over path once complete.
func WriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Series is one line of a plot: Y[i] at X[i]. A NaN in Y breaks the line.
type Series struct {
	Name string
	X, Y []float64
	// Dashed draws the line dashed.
	Dashed bool
}

// Lines describes a line plot.
type Lines struct {
	Title, XLabel, YLabel string
	// LogY draws the y axis on a logarithmic scale (values ≤ 0 are
	// dropped).
	LogY bool
	// HLines are horizontal reference lines, named in the legend.
	HLines map[string]float64
	Series []Series
	// TimeFormat, if set, reads X as Unix seconds and labels the ticks
	// with this time layout.
	TimeFormat string
	// LegendLeft puts the legend at the left instead of the right, and
	// LegendBottom at the bottom instead of the top.
	LegendLeft, LegendBottom bool
	// YMin and YMax, when YMax > YMin, fix the range of the y axis.
	YMin, YMax float64
	// Width and Height default to 6 and 3.5 inches.
	Width, Height vg.Length
}

// dpi is the resolution of the PNG images.
const dpi = 96

// SavePNG draws the plot and writes it to path as a PNG image.
func (l Lines) SavePNG(path string) error {
	p := plot.New()
	p.Title.Text = l.Title
	p.X.Label.Text, p.Y.Label.Text = l.XLabel, l.YLabel
	if l.LogY {
		p.Y.Scale = plot.LogScale{}
	}
	p.Legend.Top, p.Legend.Left = !l.LegendBottom, l.LegendLeft
	p.X.Tick.Marker, p.Y.Tick.Marker = plainTicks{}, plainTicks{}
	if l.TimeFormat != "" {
		p.X.Tick.Marker = plot.TimeTicks{Format: l.TimeFormat}
	}
	if l.LogY {
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for i, s := range l.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("figure: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		// Split at NaNs (and at non-positive values on a log scale).
		var segs []plotter.XYs
		var cur plotter.XYs
		for k := range s.X {
			if math.IsNaN(s.Y[k]) || math.IsInf(s.Y[k], 0) || (l.LogY && s.Y[k] <= 0) {
				if len(cur) > 0 {
					segs, cur = append(segs, cur), nil
				}
				continue
			}
			cur = append(cur, plotter.XY{X: s.X[k], Y: s.Y[k]})
		}
		if len(cur) > 0 {
			segs = append(segs, cur)
		}
		for k, seg := range segs {
			ln, err := plotter.NewLine(seg)
			if err != nil {
				return fmt.Errorf("figure: series %q: %w", s.Name, err)
			}
			ln.Color = plotutil.Color(i)
			ln.Width = vg.Points(1.5)
			if s.Dashed {
				ln.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(ln)
			if k == 0 {
				p.Legend.Add(s.Name, ln)
			}
		}
	}
	names := make([]string, 0, len(l.HLines))
	for name := range l.HLines {
		names = append(names, name)
	}
	slices.Sort(names)
	for k, name := range names {
		y := l.HLines[name]
		ln, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: y}, {X: p.X.Max, Y: y}})
		if err != nil {
			return err
		}
		ln.Color = color.Gray{Y: uint8(60 + 50*k)}
		ln.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(ln)
		p.Legend.Add(name, ln)
	}
	// Leave room for the legend above the data.
	if l.YMax > l.YMin {
		p.Y.Min, p.Y.Max = l.YMin, l.YMax
	} else if n := len(l.Series) + len(l.HLines); n > 0 && !l.LegendBottom {
		if l.LogY {
			p.Y.Max *= math.Pow(10, 0.15*float64(n)*math.Log10(p.Y.Max/p.Y.Min)/4)
		} else {
			p.Y.Max += 0.07 * float64(n) * (p.Y.Max - p.Y.Min)
		}
	}
	w, h := l.Width, l.Height
	if w == 0 {
		w = 6 * vg.Inch
	}
	if h == 0 {
		h = 3.5 * vg.Inch
	}
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return err
	}
	return WriteFile(path, buf.Bytes())
}

// plainTicks are plot.DefaultTicks labelled with the shortest
// representation of their values ("25", not "25.00").
type plainTicks struct{}

// Ticks returns the ticks of the range [lo, hi].
func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'g', 6, 64)
		}
	}
	return ticks
}

// Grid lays out equally sized grey-level images (values in [0, 1], row
// major, h rows of w) in rows of cols, each pixel drawn as a scale×scale
// block, with a one-block grey border between images.
func Grid(imgs [][]float64, h, w, cols, scale int) (*image.Gray, error) {
	if len(imgs) == 0 || h <= 0 || w <= 0 || cols <= 0 || scale <= 0 {
		return nil, fmt.Errorf("figure: grid of %d images of %d×%d in %d columns at scale %d", len(imgs), h, w, cols, scale)
	}
	rows := (len(imgs) + cols - 1) / cols
	cellW, cellH := (w+1)*scale, (h+1)*scale
	g := image.NewGray(image.Rect(0, 0, cols*cellW+scale, rows*cellH+scale))
	for i := range g.Pix {
		g.Pix[i] = 128
	}
	for k, im := range imgs {
		if len(im) != h*w {
			return nil, fmt.Errorf("figure: image %d has %d pixels, want %d×%d", k, len(im), h, w)
		}
		x0, y0 := (k%cols)*cellW+scale, (k/cols)*cellH+scale
		for r := range h {
			for c := range w {
				v := uint8(255 * math.Max(0, math.Min(1, 1-im[r*w+c]))) // ink is dark
				for dy := range scale {
					for dx := range scale {
						g.SetGray(x0+c*scale+dx, y0+r*scale+dy, color.Gray{Y: v})
					}
				}
			}
		}
	}
	return g, nil
}

// SaveImagePNG writes img to path as a PNG image, atomically.
func SaveImagePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return WriteFile(path, buf.Bytes())
}
