// Package curves draws training curves from the metrics a training run
// writes. It is the only part of training that needs a plotting library
// (gonum/plot and its fonts), kept apart so that packages which load and
// run models do not pull it in.
package curves

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/kioku-ml/kioku/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot draws the training and validation losses of a metrics.jsonl file
// (records of kind "train" and "valid" with "tokens" and "loss", as
// package train writes them) against training tokens into a PNG, written
// atomically.
func Plot(metricsPath, pngPath string) error {
	f, err := os.Open(metricsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	var train, valid plotter.XYs
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Kind   string   `json:"kind"`
			Tokens float64  `json:"tokens"`
			Loss   *float64 `json:"loss"` // null for a non-finite loss
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("%s: %w", metricsPath, err)
		}
		if rec.Loss == nil {
			continue
		}
		switch rec.Kind {
		case "train":
			train = append(train, plotter.XY{X: rec.Tokens, Y: *rec.Loss})
		case "valid":
			valid = append(valid, plotter.XY{X: rec.Tokens, Y: *rec.Loss})
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(train) == 0 {
		return errors.New("no training records to plot")
	}
	p, _, err := build(train, valid)
	if err != nil {
		return err
	}
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(pngPath, 0o644, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}

// build draws the training losses as a line and the validation losses
// as markers, on axes padded around the data (nothing at the edge of the
// frame, the first high losses included) with five to ten labelled ticks
// each.
// It also returns what it added to the plot.
func build(train, valid plotter.XYs) (*plot.Plot, []plot.Plotter, error) {
	p := plot.New()
	p.Title.Text = "Training curves"
	p.X.Label.Text = "training tokens"
	p.Y.Label.Text = "loss (nats per token)"
	p.Add(plotter.NewGrid())
	tl, err := plotter.NewLine(train)
	if err != nil {
		return nil, nil, err
	}
	tl.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	tl.Width = vg.Points(1.5)
	p.Add(tl)
	parts := []plot.Plotter{tl}
	p.Legend.Add("train", tl)
	if len(valid) > 0 {
		vs, err := plotter.NewScatter(valid)
		if err != nil {
			return nil, nil, err
		}
		vs.Color = color.RGBA{R: 214, G: 39, B: 40, A: 255}
		vs.Shape = draw.CircleGlyph{}
		vs.Radius = vg.Points(3.5)
		p.Add(vs)
		parts = append(parts, vs)
		p.Legend.Add("validation", vs)
	}
	p.Legend.Top = true
	xlo, xhi, ylo, yhi := bounds(train, valid)
	p.X.Min, p.X.Max = pad(xlo, xhi, 0.02)
	p.X.Min = max(p.X.Min, 0)
	p.Y.Min, p.Y.Max = pad(ylo, yhi, 0.08)
	p.X.Tick.Marker = niceTicks{count: true}
	p.Y.Tick.Marker = niceTicks{}
	return p, parts, nil
}

// bounds returns the ranges of the points of a and b.
func bounds(a, b plotter.XYs) (xlo, xhi, ylo, yhi float64) {
	xlo, ylo, xhi, yhi = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, xys := range []plotter.XYs{a, b} {
		for _, p := range xys {
			xlo, xhi = min(xlo, p.X), max(xhi, p.X)
			ylo, yhi = min(ylo, p.Y), max(yhi, p.Y)
		}
	}
	return xlo, xhi, ylo, yhi
}

// pad widens [lo, hi] by frac of its width on each side (by 1 for an
// empty range).
func pad(lo, hi, frac float64) (float64, float64) {
	w := hi - lo
	if w <= 0 {
		w = max(math.Abs(lo), 1)
	}
	return lo - frac*w, hi + frac*w
}

// niceTicks puts a labelled tick at every multiple of a round step (1, 2,
// 2.5 or 5 times a power of ten) giving five to ten of them in the range,
// and an unlabelled one halfway between; count labels counts as 250k,
// 1.5M, ….
type niceTicks struct{ count bool }

// Ticks returns the ticks of [lo, hi].
func (n niceTicks) Ticks(lo, hi float64) []plot.Tick {
	step := niceStep((hi - lo) / 10)
	if !(step > 0) || math.IsInf(step, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	var ts []plot.Tick
	for k := math.Ceil(lo / step * 2); k*step/2 <= hi; k++ {
		v := k * step / 2
		if math.Mod(k, 2) != 0 {
			ts = append(ts, plot.Tick{Value: v})
			continue
		}
		ts = append(ts, plot.Tick{Value: v, Label: n.label(v)})
	}
	return ts
}

// niceStep returns the smallest of 1, 2, 2.5, 5 times a power of ten
// that is at least x.
func niceStep(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= x*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func (n niceTicks) label(v float64) string {
	if math.Abs(v) < 1e-12 {
		v = 0
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
	switch {
	case n.count && math.Abs(v) >= 1e6:
		return f(v/1e6) + "M"
	case n.count && math.Abs(v) >= 1e3:
		return f(v/1e3) + "k"
	}
	return f(v)
}
