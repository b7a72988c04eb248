package curves

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

func TestPlot(t *testing.T) {
	cases := []struct {
		name, metrics, err string
	}{
		{"train and valid", `{"kind":"train","tokens":100,"loss":3}
{"kind":"train","tokens":200,"loss":2.5}
{"kind":"valid","tokens":200,"loss":2.7}
`, ""},
		{"train only", `{"kind":"train","tokens":100,"loss":3}` + "\n", ""},
		{"no train records", `{"kind":"valid","tokens":200,"loss":2.7}` + "\n", "no training records"},
		{"not JSON", "loss 3\n", "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "metrics.jsonl"), filepath.Join(dir, "curves.png")
			if err := os.WriteFile(in, []byte(c.metrics), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Plot(in, out)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a failed plot left %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("%s is not a PNG (%v)", out, err)
			}
		})
	}
}

func TestBuildReadable(t *testing.T) {
	train := plotter.XYs{{X: 2048, Y: 5.5}, {X: 1e6, Y: 2.1}, {X: 2e6, Y: 1.6}}
	valid := plotter.XYs{{X: 1e6, Y: 2.0}, {X: 2e6, Y: 1.7}}
	p, parts, err := build(train, valid)
	if err != nil {
		t.Fatal(err)
	}
	// No clipping: the highest and lowest losses lie inside the frame.
	if !(p.Y.Max > 5.5 && p.Y.Min < 1.6) || !(p.X.Max > 2e6) {
		t.Errorf("axes x [%v, %v], y [%v, %v] do not hold the data with a margin", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
	for _, ax := range []struct {
		name string
		axis plot.Axis
	}{{"x", p.X}, {"y", p.Y}} {
		labelled := 0
		for _, tk := range ax.axis.Tick.Marker.Ticks(ax.axis.Min, ax.axis.Max) {
			if tk.Label != "" {
				labelled++
			}
		}
		if labelled < 5 || labelled > 11 {
			t.Errorf("%s axis: %d labelled ticks, want 5 to 11", ax.name, labelled)
		}
	}
	// Validation is drawn as markers, not joined by lines.
	for _, pl := range parts {
		if l, ok := pl.(*plotter.Line); ok && len(l.XYs) == len(valid) && l.XYs[0] == valid[0] {
			t.Error("validation drawn as a line")
		}
	}
	var scatters int
	for _, pl := range parts {
		if _, ok := pl.(*plotter.Scatter); ok {
			scatters++
		}
	}
	if scatters != 1 {
		t.Errorf("%d scatter plots, want 1 (validation)", scatters)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		count  bool
		labels []string
	}{
		{0, 8, false, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8"}},
		{0, 2e6, true, []string{"0", "200k", "400k", "600k", "800k", "1M", "1.2M", "1.4M", "1.6M", "1.8M", "2M"}},
		{1.3, 5.8, false, []string{"1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5", "5.5"}},
	} {
		var got []string
		for _, tk := range (niceTicks{count: c.count}).Ticks(c.lo, c.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != strings.Join(c.labels, " ") {
			t.Errorf("ticks of [%v, %v]: %q, want %q", c.lo, c.hi, got, c.labels)
		}
	}
}
