package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kioku-ml/kioku/examples/internal/figure/figuretest"
)

// dataDir is the shared time-series folder, relative to this package.
const dataDir = "../../../shared/data/timeseries"

// TestSynthetic runs the airline pipeline on a synthetic monthly series
// with a trend and a seasonal swing that grows with the level, where the
// seasonal-naive forecast lags by a year of growth: the LSTM must learn to
// do clearly better.
func TestSynthetic(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("\"Month\",\"Passengers\"\r\n")
	for i := range 144 {
		level := 100 * math.Exp(0.01*float64(i))
		v := level * (1 + 0.2*math.Sin(2*math.Pi*float64(i)/12) + 0.02*math.Sin(float64(7*i)))
		fmt.Fprintf(&b, "\"%d-%02d\",%.1f\r\n", 1949+i/12, i%12+1, v)
	}
	path := filepath.Join(dir, "airline-passengers.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dates, y, err := readSeries(path)
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	s.epochs = 100
	r, _, err := forecastSeries(s, dates, y, options{seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !(r.rmse < 0.5*r.seasonal) {
		t.Errorf("LSTM RMSE %.2f, want < half the seasonal-naive %.2f", r.rmse, r.seasonal)
	}
	if !(r.trainLoss[1] < r.trainLoss[0]/5) {
		t.Errorf("training loss %.5f → %.5f: did not fall fivefold", r.trainLoss[0], r.trainLoss[1])
	}
}

// TestSharedData runs both real series with shortened training and checks
// that the LSTM beats the seasonal-naive forecast and that the plots are
// written.
func TestSharedData(t *testing.T) {
	if _, err := os.Stat(dataDir); err != nil {
		t.Skipf("shared data not found (%v); skipping", err)
	}
	start := time.Now()
	out := t.TempDir()
	var log strings.Builder
	rs, err := run(options{data: dataDir, series: []string{"airline", "temperatures"}, epochs: 0.3, seed: 1, out: out}, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s(%v)", log.String(), time.Since(start))
	for _, r := range rs {
		if !(r.rmse < 0.85*r.seasonal) {
			t.Errorf("%s: LSTM RMSE %.2f, want < 0.85 × seasonal naive %.2f", r.name, r.rmse, r.seasonal)
		}
		figuretest.PNG(t, filepath.Join(out, r.name+".png"))
	}
	if len(rs) != 2 {
		t.Errorf("%d results for 2 series", len(rs))
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, text := range map[string]string{
		"empty.csv":  "",
		"header.csv": "Month,Passengers\n",
		"date.csv":   "Month,Passengers\n1949/01,112\n",
		"value.csv":  "Month,Passengers\n1949-01,lots\n",
		"fields.csv": "Month,Passengers\n1949-01,1,2\n",
	} {
		if _, _, err := readSeries(write(name, text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := run(options{data: dir, series: []string{"sunspots"}, epochs: 1}, io.Discard); err == nil || !strings.Contains(err.Error(), "sunspots") {
		t.Errorf("unknown series: %v", err)
	}
	if _, err := run(options{data: filepath.Join(dir, "missing"), series: []string{"airline"}, epochs: 1}, io.Discard); err == nil {
		t.Error("missing folder accepted")
	}
	// Too short to train on.
	write("airline-passengers.csv", "Month,Passengers\n1949-01,112\n1949-02,118\n")
	if _, err := run(options{data: dir, series: []string{"airline"}, epochs: 1}, io.Discard); err == nil {
		t.Error("two values accepted")
	}
}
