// Command adding runs the adding problem of Hochreiter & Schmidhuber (1997),
// in the form Le et al. (2015) used to compare the IRNN with the LSTM, and
// reports how many training steps each network needs to solve it.
//
//	go run ./examples/adding
//
// Each input sequence has T steps of two features: a value drawn from
// U(0, 1) and a marker that is 1 at exactly two steps (one in the first
// half, one in the second) and 0 elsewhere. The target is the sum of the two
// marked values, read from the network's final state. Predicting the
// constant 1 gives a mean squared error of 1/6 ≈ 0.167; the problem counts
// as solved when the error on a fixed held-out set falls below 0.01.
//
// Three networks of the same width are trained for each T (flag -T, default
// 100 and 200): an LSTM, an IRNN (a ReLU RNN whose recurrent matrix starts
// as the identity, with a small learning rate and gradient clipping, as Le
// et al. recommend) and a plain tanh RNN. The program prints a table of the
// steps each needed (or the best error reached if it did not solve the
// problem within the budget of -steps updates) and writes the learning
// curves to adding_T<T>.png in the -out directory.
package main

import (
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
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// solvedMSE is the held-out error below which the problem counts as solved.
const solvedMSE = 0.01

// baselineMSE is the error of always predicting 1, the mean of the target:
// the variance of the sum of two U(0, 1) values.
const baselineMSE = 1.0 / 6

// options are the experiment's settings.
type options struct {
	lengths   []int    // sequence lengths T
	models    []string // "lstm", "irnn", "rnn"
	hidden    int
	batch     int
	steps     int // update budget per network and length
	evalEvery int
	testSize  int
	lr        map[string]float64
	clip      float64
	keepGoing bool // train on after solving, to the end of the budget
	seed      uint64
	out       string // directory for the pictures; "" writes none
}

func main() {
	o := options{lr: map[string]float64{}}
	var lengths, models string
	var lrLSTM, lrIRNN, lrRNN float64
	flag.StringVar(&lengths, "T", "100,200", "comma-separated sequence lengths")
	flag.StringVar(&models, "models", "lstm,irnn,rnn", "comma-separated networks: lstm, irnn (identity-initialised ReLU RNN), rnn (tanh RNN)")
	flag.IntVar(&o.hidden, "hidden", 64, "hidden units of every network")
	flag.IntVar(&o.batch, "batch", 50, "sequences per update")
	flag.IntVar(&o.steps, "steps", 3000, "update budget per network and length")
	flag.IntVar(&o.evalEvery, "eval-every", 50, "updates between evaluations on the held-out set")
	flag.IntVar(&o.testSize, "test", 1000, "held-out sequences")
	flag.Float64Var(&lrLSTM, "lr-lstm", 1e-2, "Adam learning rate of the LSTM")
	flag.Float64Var(&lrIRNN, "lr-irnn", 1e-3, "Adam learning rate of the IRNN")
	flag.Float64Var(&lrRNN, "lr-rnn", 1e-3, "Adam learning rate of the tanh RNN")
	flag.Float64Var(&o.clip, "clip", 1, "gradient clipping threshold (global norm)")
	flag.BoolVar(&o.keepGoing, "keep-going", false, "train to the end of the budget after solving")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "kioku-examples", "adding"), "directory for the learning-curve plots")
	flag.Parse()
	o.lr["lstm"], o.lr["irnn"], o.lr["rnn"] = lrLSTM, lrIRNN, lrRNN
	var err error
	if o.lengths, err = parseInts(lengths); err != nil {
		fail(fmt.Errorf("-T: %w", err))
	}
	o.models = strings.Split(models, ",")
	if _, err := run(o, os.Stdout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "adding:", err)
	os.Exit(1)
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, fmt.Errorf("%d is not positive", n)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func (o options) check() error {
	switch {
	case len(o.lengths) == 0:
		return errors.New("no sequence length")
	case o.hidden <= 0, o.batch <= 0, o.steps <= 0, o.evalEvery <= 0, o.testSize <= 0:
		return fmt.Errorf("-hidden %d, -batch %d, -steps %d, -eval-every %d and -test %d must be positive", o.hidden, o.batch, o.steps, o.evalEvery, o.testSize)
	case !(o.clip > 0):
		return fmt.Errorf("-clip %v must be positive", o.clip)
	}
	for _, T := range o.lengths {
		if T < 2 {
			return fmt.Errorf("-T %d: need at least 2 steps", T)
		}
	}
	for _, m := range o.models {
		if _, ok := o.lr[m]; !ok {
			return fmt.Errorf("unknown network %q (want lstm, irnn or rnn)", m)
		}
		if !(o.lr[m] > 0) {
			return fmt.Errorf("learning rate of %s is %v; must be positive", m, o.lr[m])
		}
	}
	return nil
}

// result is the outcome of training one network on one length.
type result struct {
	model  string
	T      int
	solved int       // updates until the held-out error fell below solvedMSE; 0 if never
	best   float64   // lowest held-out error seen
	final  float64   // held-out error at the end
	steps  []int     // updates at each evaluation
	curve  []float64 // held-out error at each evaluation
	took   time.Duration
	params int
}

func run(o options, w io.Writer) ([]result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(w, "adding problem: %d hidden units, batch %d, budget %d updates, held-out set of %d; solved when MSE < %g (constant baseline %.3f)\n\n",
		o.hidden, o.batch, o.steps, o.testSize, solvedMSE, baselineMSE)
	fmt.Fprintf(w, "| T | network | lr | parameters | steps to MSE < %g | best MSE | final MSE | time |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n", solvedMSE)
	var all []result
	for _, T := range o.lengths {
		var rs []result
		for _, m := range o.models {
			r, err := trainOne(o, m, T)
			if err != nil {
				return nil, fmt.Errorf("%s, T=%d: %w", m, T, err)
			}
			solved := "not within budget"
			if r.solved > 0 {
				solved = strconv.Itoa(r.solved)
			}
			fmt.Fprintf(w, "| %d | %s | %g | %d | %s | %.4f | %.4f | %s |\n", T, m, o.lr[m], r.params, solved, r.best, r.final, r.took.Round(time.Second))
			rs = append(rs, r)
		}
		all = append(all, rs...)
		if o.out != "" {
			path := filepath.Join(o.out, fmt.Sprintf("adding_T%d.png", T))
			if err := plotCurves(path, rs); err != nil {
				return nil, err
			}
			fmt.Fprintf(w, "\nwrote %s\n\n", path)
		}
	}
	return all, nil
}

// batch is a set of adding-problem sequences: xs[i] is (T, 2) and y (B, 1).
type batch struct {
	xs []*autograd.Variable
	y  *autograd.Variable
}

// makeBatch draws n sequences of length T.
func makeBatch(rng *tensor.RNG, n, T int) batch {
	b := batch{xs: make([]*autograd.Variable, n)}
	y := make([]float32, n)
	for i := range n {
		x := make([]float32, 2*T)
		for t := range T {
			x[2*t] = float32(rng.Float64())
		}
		half := T / 2
		first, second := rng.IntN(half), half+rng.IntN(T-half)
		x[2*first+1], x[2*second+1] = 1, 1
		y[i] = x[2*first] + x[2*second]
		b.xs[i] = autograd.NewVariable(tensor.FromFloat32(x, T, 2))
	}
	b.y = autograd.NewVariable(tensor.FromFloat32(y, n, 1))
	return b
}

// newModel builds the network named kind: a recurrent layer read out by
// a linear layer at the last step (LSTM, or Elman RNN with tanh or ReLU
// for the IRNN).
func newModel(kind string, hidden int, rng *tensor.RNG) (*seqmodel.Final, error) {
	cfg := nn.RecurrentConfig{InputSize: 2, HiddenSize: hidden}
	var cell fn.Cell
	switch kind {
	case "lstm":
		cell, cfg.ForgetBias = fn.LSTMCellKind, 1
	case "irnn":
		cell, cfg.RecurrentInit = fn.RNNReLUCellKind, nn.InitIdentity
	case "rnn":
		cell = fn.RNNTanhCellKind
	default:
		return nil, fmt.Errorf("unknown network %q", kind)
	}
	return seqmodel.NewFinal(cell, cfg, 1, rng)
}

// trainOne trains the network kind on sequences of length T until the
// budget is spent, evaluating every evalEvery updates.
func trainOne(o options, kind string, T int) (result, error) {
	r := result{model: kind, T: T, best: math.Inf(1)}
	rng := tensor.NewRNG(o.seed)
	test := makeBatch(tensor.NewRNG(o.seed+1000), o.testSize, T)
	m, err := newModel(kind, o.hidden, rng.Split())
	if err != nil {
		return r, err
	}
	r.params = nn.NumParams(m)
	opt, err := fit.Adam(m.NamedParams(), o.lr[kind], o.clip)
	if err != nil {
		return r, err
	}
	data := rng.Split()
	eval := func() float64 {
		var mse float64
		autograd.NoGrad(m.Params(), func() {
			mse = fn.MeanSquaredError(m.Forward(test.xs), test.y).Data.Item()
		})
		return mse
	}
	start := time.Now()
	for step := 0; ; step++ {
		if step%o.evalEvery == 0 || step == o.steps {
			mse := eval()
			if math.IsNaN(mse) {
				return r, fmt.Errorf("held-out error is NaN after %d updates", step)
			}
			r.steps, r.curve = append(r.steps, step), append(r.curve, mse)
			r.best, r.final = min(r.best, mse), mse
			if mse < solvedMSE && r.solved == 0 {
				r.solved = step
			}
		}
		if step == o.steps || (r.solved > 0 && !o.keepGoing) {
			break
		}
		b := makeBatch(data, o.batch, T)
		loss := fn.MeanSquaredError(m.Forward(b.xs), b.y)
		if err := fit.Step(opt, loss); err != nil && !errors.Is(err, optim.ErrNonFiniteGrad) {
			return r, err
		}
	}
	r.took = time.Since(start)
	return r, nil
}

// plotCurves draws the held-out error of each network against updates.
func plotCurves(path string, rs []result) error {
	l := figure.Lines{
		Title:  fmt.Sprintf("adding problem, T = %d", rs[0].T),
		XLabel: "updates", YLabel: "held-out MSE", LogY: true,
		HLines: map[string]float64{"constant baseline": baselineMSE, "solved": solvedMSE},
	}
	for _, r := range rs {
		s := figure.Series{Name: r.model}
		for k, v := range r.curve {
			s.X = append(s.X, float64(r.steps[k]))
			s.Y = append(s.Y, v)
		}
		l.Series = append(l.Series, s)
	}
	return l.SavePNG(path)
}
