// Command tagger trains a bidirectional LSTM sequence tagger on a task
// where the right context decides the tag, and compares it with
// left-to-right LSTMs.
//
//	go run ./examples/tagger
//
// The task: a sequence of tokens drawn uniformly from -vocab symbols, of
// any length between -min and -max; each token is tagged 1 if the same
// symbol occurs again later in the sequence, 0 otherwise. Nothing to the
// left of a token tells whether it will recur, so a left-to-right tagger
// can only guess from the position; a bidirectional one reads the rest of
// the sequence in its reverse direction.
//
// Three taggers — embedding → NStepLSTM → linear on every step — are
// trained with the same data and budget: unidirectional with -hidden
// units, unidirectional with about as many parameters as the bidirectional
// one, and bidirectional with -hidden units per direction. The program
// prints their test accuracy per token and per sequence beside the best
// accuracy any left-to-right tagger can reach on this task (computed
// exactly), and writes the accuracy by distance to the end of the sequence
// to tagger.png in the -out directory.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/examples/internal/figure"
	"github.com/kioku-ml/kioku/examples/internal/fit"
	"github.com/kioku-ml/kioku/examples/internal/seqmodel"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// options are the experiment's settings.
type options struct {
	vocab          int
	minLen, maxLen int
	train, test    int // sequences
	emb, hidden    int
	batch, epochs  int
	lr, clip       float64
	seed           uint64
	out            string
	verbose        io.Writer
}

func main() {
	var o options
	flag.IntVar(&o.vocab, "vocab", 10, "number of distinct symbols")
	flag.IntVar(&o.minLen, "min", 5, "shortest sequence")
	flag.IntVar(&o.maxLen, "max", 30, "longest sequence")
	flag.IntVar(&o.train, "train", 10000, "training sequences")
	flag.IntVar(&o.test, "test", 2000, "test sequences")
	flag.IntVar(&o.emb, "emb", 16, "embedding size")
	flag.IntVar(&o.hidden, "hidden", 32, "LSTM units (per direction)")
	flag.IntVar(&o.batch, "batch", 32, "sequences per update")
	flag.IntVar(&o.epochs, "epochs", 5, "passes over the training set")
	flag.Float64Var(&o.lr, "lr", 5e-3, "Adam learning rate")
	flag.Float64Var(&o.clip, "clip", 5, "gradient clipping threshold (global norm)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "kioku-examples", "tagger"), "directory for the plot")
	flag.Parse()
	o.verbose = os.Stderr
	if _, err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tagger:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	switch {
	case o.vocab < 2:
		return fmt.Errorf("-vocab %d: need at least 2 symbols", o.vocab)
	case o.minLen < 1 || o.maxLen < o.minLen:
		return fmt.Errorf("-min %d, -max %d: need 1 ≤ min ≤ max", o.minLen, o.maxLen)
	case o.train <= 0, o.test <= 0, o.emb <= 0, o.hidden <= 0, o.batch <= 0, o.epochs <= 0:
		return errors.New("-train, -test, -emb, -hidden, -batch and -epochs must be positive")
	case !(o.lr > 0), !(o.clip > 0):
		return fmt.Errorf("-lr %v and -clip %v must be positive", o.lr, o.clip)
	}
	return nil
}

// example is a sequence of symbols and its tags.
type example struct {
	ids, tags []int
}

// generate draws n sequences and tags each token 1 if its symbol occurs
// again later in the sequence.
func generate(rng *tensor.RNG, n, vocab, minLen, maxLen int) []example {
	exs := make([]example, n)
	for k := range exs {
		L := minLen + rng.IntN(maxLen-minLen+1)
		ids, tags := make([]int, L), make([]int, L)
		for i := range ids {
			ids[i] = rng.IntN(vocab)
		}
		seen := make([]bool, vocab)
		for i := L - 1; i >= 0; i-- {
			if seen[ids[i]] {
				tags[i] = 1
			}
			seen[ids[i]] = true
		}
		exs[k] = example{ids, tags}
	}
	return exs
}

// causalCeiling returns the best expected per-token accuracy of any tagger
// that sees only the tokens up to and including the one it tags: at
// position i (from 0) it knows that the length L ≥ i+1, uniform on
// [max(minLen, i+1), maxLen], and that the token recurs with probability
// E[1 − (1 − 1/V)^(L−1−i)]; it can do no better than predict the likelier
// tag. It also returns that accuracy by distance to the end (1 − the
// probability at a known distance is irrelevant to it, so the ceiling at
// distance d averages over the positions where d occurs).
func causalCeiling(vocab, minLen, maxLen int) (acc float64, byDist []float64) {
	q := 1 - 1/float64(vocab)
	var total, tokens float64
	byDist = make([]float64, maxLen)
	distW := make([]float64, maxLen)
	for i := range maxLen {
		lo := max(minLen, i+1)
		// Probability of a repeat after position i, over the lengths
		// that reach it.
		p := 0.0
		for L := lo; L <= maxLen; L++ {
			p += 1 - math.Pow(q, float64(L-1-i))
		}
		p /= float64(maxLen - lo + 1)
		predict1 := p > 0.5
		// Each length L ≥ lo is equally likely a priori (weight 1 per
		// length); the token at i of a sequence of length L is correct
		// with probability P(repeat | L) if predicting 1.
		for L := lo; L <= maxLen; L++ {
			r := 1 - math.Pow(q, float64(L-1-i))
			c := 1 - r
			if predict1 {
				c = r
			}
			total += c
			tokens++
			d := L - 1 - i
			byDist[d] += c
			distW[d]++
		}
	}
	for d := range byDist {
		byDist[d] /= distW[d]
	}
	return total / tokens, byDist
}

// newTagger returns embedding → LSTM → linear on every token, with hidden
// units per direction.
func newTagger(o options, hidden int, bidirectional bool, rng *tensor.RNG) (*seqmodel.PerStep, error) {
	cfg := nn.RecurrentConfig{HiddenSize: hidden, Bidirectional: bidirectional, ForgetBias: 1}
	return seqmodel.NewPerStep(o.vocab, o.emb, cfg, 2, rng)
}

// logits returns the (Σ lengths, 2) tag scores of a batch, sequence after
// sequence, and the tags in the same order.
func logits(m *seqmodel.PerStep, exs []example) (*autograd.Variable, []int) {
	ids := make([][]int, len(exs))
	var tags []int
	for i, ex := range exs {
		ids[i] = ex.ids
		tags = append(tags, ex.tags...)
	}
	scores, _ := m.Forward(ids, nn.State{})
	return scores, tags
}

// variant is one tagger under comparison.
type variant struct {
	name          string
	hidden        int
	bidirectional bool
}

// outcome is what training and testing one variant gave.
type outcome struct {
	variant
	params          int
	tokenAcc        float64
	seqAcc          float64   // fraction of sequences with every tag right
	byDist          []float64 // token accuracy by distance to the end
	firstLoss, loss float64   // mean training loss of the first and last epoch
	took            time.Duration
}

// widerHidden returns the hidden size of a unidirectional LSTM with about
// as many parameters as a bidirectional one of h units per direction.
func widerHidden(emb, h int) int {
	params := func(h, D int) int { return D*(4*h*(emb+h)+8*h) + (D*h+1)*2 }
	want := params(h, 2)
	u := h
	for params(u+1, 1) <= want {
		u++
	}
	return u
}

func run(o options, w io.Writer) ([]outcome, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	rng := tensor.NewRNG(o.seed)
	train := generate(rng.Split(), o.train, o.vocab, o.minLen, o.maxLen)
	test := generate(rng.Split(), o.test, o.vocab, o.minLen, o.maxLen)
	ceiling, ceilingByDist := causalCeiling(o.vocab, o.minLen, o.maxLen)
	ones, tokens := 0, 0
	for _, ex := range test {
		for _, t := range ex.tags {
			ones += t
			tokens++
		}
	}
	fmt.Fprintf(w, "task: tag each token 1 if its symbol recurs later; %d symbols, lengths %d–%d, %d training and %d test sequences (%.1f%% of test tags are 1)\n",
		o.vocab, o.minLen, o.maxLen, o.train, o.test, 100*float64(ones)/float64(tokens))
	fmt.Fprintf(w, "taggers: embedding %d → LSTM → linear 2; Adam lr %g, clipping %g, batch %d, %d epochs\n\n", o.emb, o.lr, o.clip, o.batch, o.epochs)

	variants := []variant{
		{fmt.Sprintf("unidirectional, %d units", o.hidden), o.hidden, false},
		{fmt.Sprintf("unidirectional, %d units (as many parameters as bi)", widerHidden(o.emb, o.hidden)), widerHidden(o.emb, o.hidden), false},
		{fmt.Sprintf("bidirectional, %d units per direction", o.hidden), o.hidden, true},
	}
	var outs []outcome
	for _, v := range variants {
		oc, err := trainOne(o, v, train, test)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		outs = append(outs, oc)
	}
	fmt.Fprintf(w, "| tagger | parameters | test accuracy per token | per sequence (all tags right) | training loss first → last epoch | time |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, oc := range outs {
		fmt.Fprintf(w, "| %s | %d | %.4f | %.4f | %.4f → %.4f | %s |\n", oc.name, oc.params, oc.tokenAcc, oc.seqAcc, oc.firstLoss, oc.loss, oc.took.Round(time.Second))
	}
	fmt.Fprintf(w, "| best possible left-to-right tagger (exact) | | %.4f | | | |\n", ceiling)
	majority, share := 1, float64(ones)/float64(tokens)
	if share < 0.5 {
		majority, share = 0, 1-share
	}
	fmt.Fprintf(w, "| always %d (the majority tag) | | %.4f | | | |\n", majority, share)

	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return nil, err
		}
		path := filepath.Join(o.out, "tagger.png")
		if err := plotByDist(path, outs, ceilingByDist); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "\nwrote %s\n", path)
	}
	return outs, nil
}

// trainOne trains one variant and measures it on the test set.
func trainOne(o options, v variant, train, test []example) (outcome, error) {
	oc := outcome{variant: v}
	rng := tensor.NewRNG(o.seed + 1)
	m, err := newTagger(o, v.hidden, v.bidirectional, rng.Split())
	if err != nil {
		return oc, err
	}
	oc.params = nn.NumParams(m)
	opt, err := fit.Adam(m.NamedParams(), o.lr, o.clip)
	if err != nil {
		return oc, err
	}
	start := time.Now()
	for epoch := range o.epochs {
		if epoch == o.epochs*4/5 && o.epochs > 1 {
			opt.SetLR(o.lr / 4)
		}
		var sum float64
		batches := 0
		for _, idx := range fit.Batches(rng, len(train), o.batch) {
			var exs []example
			for _, i := range idx {
				exs = append(exs, train[i])
			}
			scores, tags := logits(m, exs)
			loss := fn.SoftmaxCrossEntropy(scores, tags, -1, fn.ReduceMean)
			if err := fit.Step(opt, loss); err != nil {
				return oc, err
			}
			sum += loss.Data.Item()
			batches++
		}
		if epoch == 0 {
			oc.firstLoss = sum / float64(batches)
		}
		oc.loss = sum / float64(batches)
		if o.verbose != nil {
			fmt.Fprintf(o.verbose, "%s: epoch %d/%d, training loss %.4f\n", v.name, epoch+1, o.epochs, oc.loss)
		}
	}
	oc.took = time.Since(start)

	// Test.
	right, tokens, seqRight := 0, 0, 0
	byDist := make([][2]int, o.maxLen)
	autograd.NoGrad(m.Params(), func() {
		for b := 0; b < len(test); b += 256 {
			part := test[b:min(b+256, len(test))]
			scores, _ := logits(m, part)
			row := 0
			for _, ex := range part {
				all := true
				for i, t := range ex.tags {
					pred := 0
					if scores.Data.At(row, 1) > scores.Data.At(row, 0) {
						pred = 1
					}
					d := len(ex.tags) - 1 - i
					byDist[d][1]++
					if pred == t {
						right++
						byDist[d][0]++
					} else {
						all = false
					}
					tokens++
					row++
				}
				if all {
					seqRight++
				}
			}
		}
	})
	oc.tokenAcc = float64(right) / float64(tokens)
	oc.seqAcc = float64(seqRight) / float64(len(test))
	oc.byDist = make([]float64, o.maxLen)
	for d, c := range byDist {
		oc.byDist[d] = math.NaN()
		if c[1] > 0 {
			oc.byDist[d] = float64(c[0]) / float64(c[1])
		}
	}
	return oc, nil
}

// plotByDist draws the test accuracy by distance to the end of the
// sequence for each tagger, and the left-to-right ceiling.
func plotByDist(path string, outs []outcome, ceiling []float64) error {
	l := figure.Lines{Title: "tag = \"this symbol occurs again later\": accuracy by position", XLabel: "tokens after the tagged one", YLabel: "test accuracy",
		YMin: 0.3, YMax: 1.01, LegendBottom: true}
	for _, oc := range outs {
		s := figure.Series{Name: oc.name}
		for d, a := range oc.byDist {
			s.X, s.Y = append(s.X, float64(d)), append(s.Y, a)
		}
		l.Series = append(l.Series, s)
	}
	s := figure.Series{Name: "best left-to-right tagger", Dashed: true}
	for d, a := range ceiling {
		s.X, s.Y = append(s.X, float64(d)), append(s.Y, a)
	}
	l.Series = append(l.Series, s)
	return l.SavePNG(path)
}
