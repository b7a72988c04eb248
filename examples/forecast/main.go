// Command forecast trains an LSTM to forecast a univariate time series
// several steps ahead and compares it with the seasonal-naive forecast, on
// the airline-passengers and Melbourne daily-minimum-temperature series of
// the shared data folder.
//
//	go run ./examples/forecast -data ../shared/data/timeseries
//
// For each series the last part is held out as the test period (the last
// two years of the monthly airline series, the last year of the daily
// temperatures). The pipeline is the usual one:
//
//   - transform and scale: the airline counts are logged (their seasonal
//     swing grows with the level); each series is min-max scaled to [0, 1]
//     with the minimum and maximum of the training part only;
//   - window: each input is the last -window values (24 months; 60 days)
//     and the target the next -horizon values (12 months; 7 days), a
//     direct multi-step forecast. For the trending airline series inputs
//     and targets are taken relative to the window's last value, so the
//     network learns the shape of the next year rather than its level; the
//     temperature inputs carry the day of the year as (sin, cos);
//   - model: an LSTM reads the window, a linear layer maps its final state
//     to the horizon; Adam on the mean squared error of the scaled targets.
//
// The test forecasts are made from every origin whose horizon lies in the
// test period, using only values up to the origin, and scored by RMSE in
// the series' own units against the seasonal-naive forecast (the value one
// season earlier: 12 months, 365 days) and the naive one (the last value).
// A plot of forecasts against the truth is written to <series>.png in the
// -out directory.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/examples/internal/figure"
	"github.com/kioku-ml/kioku/examples/internal/fit"
	"github.com/kioku-ml/kioku/examples/internal/seqmodel"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
	"gonum.org/v1/plot/vg"
)

// spec describes one series and how it is forecast.
type spec struct {
	name     string // short name, used by -series and for the plot file
	file     string // CSV file under -data: a header, then date,value rows
	unit     string
	log      bool // model the logarithm of the values
	relative bool // inputs and targets relative to the window's last value
	calendar bool // add the (sin, cos) of the day of the year to the inputs
	period   int  // season length, for the seasonal-naive forecast
	window   int  // input steps
	horizon  int  // forecast steps
	test     int  // held-out steps at the end
	hidden   int
	epochs   int
	batch    int
	lr       float64
	plotLast int    // steps at the end of the series shown in the plot (0: all)
	ticks    string // time layout of the plot's tick labels
}

// specs are the series the program knows.
var specs = []spec{
	{name: "airline", file: "airline-passengers.csv", unit: "thousand passengers", log: true, relative: true,
		period: 12, window: 24, horizon: 12, test: 24, hidden: 32, epochs: 300, batch: 16, lr: 3e-3, plotLast: 72, ticks: "2006"},
	{name: "temperatures", file: "daily-min-temperatures.csv", unit: "°C", calendar: true,
		period: 365, window: 60, horizon: 7, test: 365, hidden: 32, epochs: 40, batch: 64, lr: 3e-3, plotLast: 120, ticks: "2006-01-02"},
}

// options are the program's settings.
type options struct {
	data    string
	series  []string
	epochs  float64 // multiplies each series' epochs
	drop    int     // values dropped from the end of each series (a backtest)
	seed    uint64
	out     string
	verbose io.Writer // progress lines, or nil
}

func main() {
	var o options
	var series string
	flag.StringVar(&o.data, "data", "../shared/data/timeseries", "folder holding the CSV files")
	flag.StringVar(&series, "series", "airline,temperatures", "comma-separated series: airline, temperatures")
	flag.Float64Var(&o.epochs, "epochs-scale", 1, "multiply every series' training epochs by this")
	flag.IntVar(&o.drop, "drop", 0, "drop this many values from the end of each series first, to backtest on an earlier period")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "kioku-examples", "forecast"), "directory for the plots")
	flag.Parse()
	o.series = strings.Split(series, ",")
	o.verbose = os.Stderr
	if _, err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "forecast:", err)
		os.Exit(1)
	}
}

// result holds one series' figures.
type result struct {
	name                  string
	rmse, seasonal, naive float64   // test RMSE over all origins and horizons
	byH, byHSeasonal      []float64 // RMSE per horizon step
	origins               int
	trainLoss             [2]float64 // training loss (scaled) of the first and last epoch
	took                  time.Duration
}

func run(o options, w io.Writer) ([]result, error) {
	if !(o.epochs > 0) || o.drop < 0 {
		return nil, fmt.Errorf("-epochs-scale %v must be positive and -drop %d not negative", o.epochs, o.drop)
	}
	var todo []spec
	for _, name := range o.series {
		found := false
		for _, s := range specs {
			if s.name == strings.TrimSpace(name) {
				todo, found = append(todo, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown series %q (want airline or temperatures)", name)
		}
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return nil, err
		}
	}
	var results []result
	for _, s := range todo {
		s.epochs = max(1, int(math.Round(float64(s.epochs)*o.epochs)))
		dates, y, err := readSeries(filepath.Join(o.data, s.file))
		if err != nil {
			return nil, err
		}
		if o.drop > 0 {
			if o.drop >= len(y) {
				return nil, fmt.Errorf("-drop %d: %s has only %d values", o.drop, s.name, len(y))
			}
			dates, y = dates[:len(y)-o.drop], y[:len(y)-o.drop]
		}
		r, fc, err := forecastSeries(s, dates, y, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		r.name = s.name
		results = append(results, r)
		report(w, s, dates, y, r)
		if o.out != "" {
			path := filepath.Join(o.out, s.name+".png")
			if err := plotForecast(path, s, dates, y, fc); err != nil {
				return nil, err
			}
			fmt.Fprintf(w, "wrote %s\n\n", path)
		}
	}
	return results, nil
}

// readSeries reads a CSV file with a header row and rows of a date
// (YYYY-MM or YYYY-MM-DD) and a number.
func readSeries(path string) (dates []time.Time, y []float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, nil, fmt.Errorf("%s: no data rows", path)
	}
	for k, row := range rows[1:] {
		if len(row) != 2 {
			return nil, nil, fmt.Errorf("%s:%d: %d fields, want date,value", path, k+2, len(row))
		}
		layout := "2006-01-02"
		if len(row[0]) == len("2006-01") {
			layout = "2006-01"
		}
		d, err := time.Parse(layout, row[0])
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: date %q: %w", path, k+2, row[0], err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(row[1]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("%s:%d: value %q is not a finite number", path, k+2, row[1])
		}
		dates, y = append(dates, d), append(y, v)
	}
	return dates, y, nil
}

// scaler maps values to the model's scale and back: optional logarithm,
// then min-max scaling fitted on the training part.
type scaler struct {
	log    bool
	lo, hi float64
}

func fitScaler(y []float64, log bool) (scaler, error) {
	s := scaler{log: log, lo: math.Inf(1), hi: math.Inf(-1)}
	for _, v := range y {
		if log && !(v > 0) {
			return s, fmt.Errorf("value %v: a logged series must be positive", v)
		}
		u := s.pre(v)
		s.lo, s.hi = min(s.lo, u), max(s.hi, u)
	}
	if !(s.hi > s.lo) {
		return s, errors.New("the training part is constant")
	}
	return s, nil
}

func (s scaler) pre(v float64) float64 {
	if s.log {
		return math.Log(v)
	}
	return v
}

func (s scaler) scale(v float64) float64 { return (s.pre(v) - s.lo) / (s.hi - s.lo) }

func (s scaler) unscale(u float64) float64 {
	v := s.lo + u*(s.hi-s.lo)
	if s.log {
		return math.Exp(v)
	}
	return v
}

// features returns the model inputs of the window ending just before end,
// as window rows of F features, and the reference the targets are relative
// to (0 unless relative).
func (s spec) features(u []float64, dates []time.Time, end int) (x []float32, ref float64) {
	if s.relative {
		ref = u[end-1]
	}
	for t := end - s.window; t < end; t++ {
		x = append(x, float32(u[t]-ref))
		if s.calendar {
			a := 2 * math.Pi * float64(dates[t].YearDay()) / 365.25
			x = append(x, float32(math.Sin(a)), float32(math.Cos(a)))
		}
	}
	return x, ref
}

// numFeatures is the number of inputs per step.
func (s spec) numFeatures() int {
	if s.calendar {
		return 3
	}
	return 1
}

// forecasts are the test-period forecasts of one series: from each origin
// (the index of the last value seen), the next horizon values.
type forecasts struct {
	origins        []int
	lstm, seasonal [][]float64
}

// forecastSeries fits the model on the training part of y and forecasts
// the test part.
func forecastSeries(s spec, dates []time.Time, y []float64, o options) (result, forecasts, error) {
	var r result
	var fc forecasts
	n := len(y)
	nTrain := n - s.test
	if nTrain < s.window+s.horizon+1 || nTrain < s.period {
		return r, fc, fmt.Errorf("%d values leave %d for training; need at least %d", n, nTrain, max(s.window+s.horizon+1, s.period))
	}
	sc, err := fitScaler(y[:nTrain], s.log)
	if err != nil {
		return r, fc, err
	}
	u := make([]float64, n)
	for i, v := range y {
		if s.log && !(v > 0) {
			return r, fc, fmt.Errorf("value %d is %v; a logged series must be positive", i+1, v)
		}
		u[i] = sc.scale(v)
	}

	// Training windows lie wholly in the training part.
	type sample struct {
		x []float32
		t []float32
	}
	var train []sample
	for end := s.window; end+s.horizon <= nTrain; end++ {
		x, ref := s.features(u, dates, end)
		t := make([]float32, s.horizon)
		for h := range s.horizon {
			t[h] = float32(u[end+h] - ref)
		}
		train = append(train, sample{x, t})
	}
	rng := tensor.NewRNG(o.seed)
	F := s.numFeatures()
	// An LSTM reads the window, a linear layer maps its final state to
	// the horizon.
	m, err := seqmodel.NewFinal(fn.LSTMCellKind, nn.RecurrentConfig{InputSize: F, HiddenSize: s.hidden, ForgetBias: 1}, s.horizon, rng)
	if err != nil {
		return r, fc, err
	}
	opt, err := fit.Adam(m.NamedParams(), s.lr, 1)
	if err != nil {
		return r, fc, err
	}
	start := time.Now()
	for epoch := range s.epochs {
		// A quarter of the learning rate for the last quarter of the epochs.
		if epoch == s.epochs*3/4 {
			opt.SetLR(s.lr / 4)
		}
		mse, err := fit.Epoch(opt, rng, len(train), s.batch, func(idx []int) *autograd.Variable {
			xs := make([]*autograd.Variable, len(idx))
			var tgt []float32
			for k, i := range idx {
				xs[k] = autograd.NewVariable(tensor.FromFloat32(train[i].x, s.window, F))
				tgt = append(tgt, train[i].t...)
			}
			return fn.MeanSquaredError(m.Forward(xs), autograd.NewVariable(tensor.FromFloat32(tgt, len(idx), s.horizon)))
		})
		if err != nil {
			return r, fc, err
		}
		if epoch == 0 {
			r.trainLoss[0] = mse
		}
		r.trainLoss[1] = mse
		if o.verbose != nil && (epoch+1)%max(1, s.epochs/10) == 0 {
			fmt.Fprintf(o.verbose, "%s: epoch %d/%d, training MSE (scaled) %.5f\n", s.name, epoch+1, s.epochs, mse)
		}
	}
	r.took = time.Since(start)

	// Forecast from every origin whose horizon lies in the test period.
	var xs []*autograd.Variable
	var refs []float64
	for origin := nTrain - 1; origin+s.horizon < n; origin++ {
		x, ref := s.features(u, dates, origin+1)
		xs = append(xs, autograd.NewVariable(tensor.FromFloat32(x, s.window, F)))
		refs = append(refs, ref)
		fc.origins = append(fc.origins, origin)
	}
	var pred *tensor.Tensor
	autograd.NoGrad(m.Params(), func() { pred = m.Forward(xs).Data })
	r.byH, r.byHSeasonal = make([]float64, s.horizon), make([]float64, s.horizon)
	var se, ss, sn float64
	for k, origin := range fc.origins {
		row, srow := make([]float64, s.horizon), make([]float64, s.horizon)
		for h := range s.horizon {
			t := origin + 1 + h
			row[h] = sc.unscale(pred.At(k, h) + refs[k])
			// The value one season before t, or further back if that is
			// after the origin.
			lag := s.period * ((h + s.period) / s.period)
			srow[h] = y[t-lag]
			e, es, en := row[h]-y[t], srow[h]-y[t], y[origin]-y[t]
			se, ss, sn = se+e*e, ss+es*es, sn+en*en
			r.byH[h] += e * e
			r.byHSeasonal[h] += es * es
		}
		fc.lstm, fc.seasonal = append(fc.lstm, row), append(fc.seasonal, srow)
	}
	cnt := float64(len(fc.origins) * s.horizon)
	r.rmse, r.seasonal, r.naive = math.Sqrt(se/cnt), math.Sqrt(ss/cnt), math.Sqrt(sn/cnt)
	for h := range s.horizon {
		r.byH[h] = math.Sqrt(r.byH[h] / float64(len(fc.origins)))
		r.byHSeasonal[h] = math.Sqrt(r.byHSeasonal[h] / float64(len(fc.origins)))
	}
	r.origins = len(fc.origins)
	return r, fc, nil
}

// report prints one series' figures.
func report(w io.Writer, s spec, dates []time.Time, y []float64, r result) {
	n := len(y)
	layout := "2006-01-02"
	if s.period == 12 {
		layout = "2006-01"
	}
	fmt.Fprintf(w, "%s: %d values %s … %s; train up to %s, test %d steps; window %d, horizon %d; LSTM %d, %d epochs (%s), training MSE (scaled) %.4f → %.5f\n\n",
		s.name, n, dates[0].Format(layout), dates[n-1].Format(layout), dates[n-s.test-1].Format(layout), s.test, s.window, s.horizon,
		s.hidden, s.epochs, r.took.Round(100*time.Millisecond), r.trainLoss[0], r.trainLoss[1])
	fmt.Fprintf(w, "| %s: test RMSE (%s), %d origins × %d steps | all steps | 1 step ahead | %d steps ahead |\n| --- | --- | --- | --- |\n", s.name, s.unit, r.origins, s.horizon, s.horizon)
	fmt.Fprintf(w, "| LSTM | %.2f | %.2f | %.2f |\n", r.rmse, r.byH[0], r.byH[s.horizon-1])
	fmt.Fprintf(w, "| seasonal naive (lag %d) | %.2f | %.2f | %.2f |\n", s.period, r.seasonal, r.byHSeasonal[0], r.byHSeasonal[s.horizon-1])
	fmt.Fprintf(w, "| naive (last value) | %.2f | | |\n\n", r.naive)
}

// plotForecast draws the truth and the forecasts from non-overlapping
// origins (every horizon steps) across the test period.
func plotForecast(path string, s spec, dates []time.Time, y []float64, fc forecasts) error {
	n := len(y)
	from := 0
	if s.plotLast > 0 {
		from = n - s.plotLast
	}
	year := func(d time.Time) float64 { return float64(d.Unix()) }
	truth := figure.Series{Name: "truth"}
	for t := from; t < n; t++ {
		truth.X, truth.Y = append(truth.X, year(dates[t])), append(truth.Y, y[t])
	}
	lstm := figure.Series{Name: fmt.Sprintf("LSTM, %d steps ahead", s.horizon)}
	seas := figure.Series{Name: "seasonal naive", Dashed: true}
	// Origins every horizon steps, ending with the last one, so the
	// forecasts tile the end of the test period.
	var ks []int
	for k := (len(fc.origins) - 1) % s.horizon; k < len(fc.origins); k += s.horizon {
		if fc.origins[k]+1 >= from {
			ks = append(ks, k)
		}
	}
	for _, k := range ks {
		for h := range s.horizon {
			t := fc.origins[k] + 1 + h
			lstm.X, lstm.Y = append(lstm.X, year(dates[t])), append(lstm.Y, fc.lstm[k][h])
			seas.X, seas.Y = append(seas.X, year(dates[t])), append(seas.Y, fc.seasonal[k][h])
		}
		// Break the lines between forecasts.
		lstm.X, lstm.Y = append(lstm.X, math.NaN()), append(lstm.Y, math.NaN())
		seas.X, seas.Y = append(seas.X, math.NaN()), append(seas.Y, math.NaN())
	}
	l := figure.Lines{
		Title:  fmt.Sprintf("%s: %d-step forecasts over the test period", s.name, s.horizon),
		YLabel: s.unit, TimeFormat: s.ticks,
		Series: []figure.Series{truth, lstm, seas},
		Width:  7 * vg.Inch, Height: 3.5 * vg.Inch, LegendLeft: true,
	}
	return l.SavePNG(path)
}
