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
	p := plot.New()
	p.Title.Text = "Training curves"
	p.X.Label.Text = "training tokens"
	p.Y.Label.Text = "loss (nats per token)"
	p.Add(plotter.NewGrid())
	tl, err := plotter.NewLine(train)
	if err != nil {
		return err
	}
	tl.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	p.Add(tl)
	p.Legend.Add("train", tl)
	if len(valid) > 0 {
		vl, vp, err := plotter.NewLinePoints(valid)
		if err != nil {
			return err
		}
		vl.Color = color.RGBA{R: 214, G: 39, B: 40, A: 255}
		vp.Color = vl.Color
		p.Add(vl, vp)
		p.Legend.Add("validation", vl, vp)
	}
	p.Legend.Top = true
	p.X.Tick.Marker = countTicks{}
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(pngPath, 0o644, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}

// countTicks labels an axis of counts as 250k, 1.5M, ….
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ts {
		if t.Label == "" {
			continue
		}
		switch v := t.Value; {
		case math.Abs(v) >= 1e6:
			ts[i].Label = strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
		case math.Abs(v) >= 1e3:
			ts[i].Label = strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
		default:
			ts[i].Label = strconv.FormatFloat(v, 'g', 4, 64)
		}
	}
	return ts
}
