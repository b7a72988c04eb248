// Command varlen classifies variable-length sequences two ways — a padded
// batch stepped by hand with masks, as the study deck does with F.where, and
// NStepLSTM over the unpadded list — and shows that they are the same
// computation: with the same weights they give the same logits, loss and
// gradients, and trained side by side they follow the same trajectory.
//
//	go run ./examples/varlen
//
// The task: a sequence of letters from "abcd", of any length between -min
// and -max, is positive when it contains the pattern -pattern (default
// "abcd") anywhere. Half the sequences are positive. The answer depends on
// the whole sequence, so the padded steps must not disturb the state of a
// finished sequence: the padded model keeps it with
//
//	h = fn.Where(mask[t], hNew, h)
//
// and reads the class from the final h. The packed model gets the final
// state of each sequence from NStepLSTM directly.
//
// Both comparisons run twice: in float64, where the two forms agree to
// the last bits all along the training run, and in float32, the working
// precision, where they start a few ulps apart (the input projections are
// summed in a different order) and training amplifies that difference
// once the loss starts to fall. The program prints the largest
// differences, the test accuracy of each form (overall and by length) and
// the time per update, and writes the training-loss curves to
// varlen_loss.png in the -out directory.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
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

// alphabet is the set of symbols sequences are made of.
const alphabet = "abcd"

// options are the experiment's settings.
type options struct {
	pattern        string
	minLen, maxLen int
	train, test    int // sequences
	emb, hidden    int
	batch, epochs  int
	lr, clip       float64
	seed           uint64
	out            string
	dtypes         []tensor.DType // precisions to compare and train in
	logEvery       int            // updates between progress lines; 0 for none
	progress       io.Writer
}

func main() {
	var o options
	flag.StringVar(&o.pattern, "pattern", "abcd", "pattern a positive sequence contains (letters of "+alphabet+")")
	flag.IntVar(&o.minLen, "min", 5, "shortest sequence")
	flag.IntVar(&o.maxLen, "max", 50, "longest sequence")
	flag.IntVar(&o.train, "train", 8000, "training sequences")
	flag.IntVar(&o.test, "test", 2000, "test sequences")
	flag.IntVar(&o.emb, "emb", 8, "embedding size")
	flag.IntVar(&o.hidden, "hidden", 32, "LSTM units")
	flag.IntVar(&o.batch, "batch", 32, "sequences per update")
	flag.IntVar(&o.epochs, "epochs", 3, "passes over the training set")
	flag.Float64Var(&o.lr, "lr", 1e-2, "Adam learning rate")
	flag.Float64Var(&o.clip, "clip", 5, "gradient clipping threshold (global norm)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "kioku-examples", "varlen"), "directory for the loss plot")
	flag.Parse()
	o.dtypes = []tensor.DType{tensor.Float64, tensor.Float32}
	o.logEvery = 50
	o.progress = os.Stderr
	if _, err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "varlen:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	if o.pattern == "" || strings.Trim(o.pattern, alphabet) != "" {
		return fmt.Errorf("-pattern %q: want one or more letters of %q", o.pattern, alphabet)
	}
	switch {
	case o.minLen < len(o.pattern) || o.maxLen < o.minLen:
		return fmt.Errorf("-min %d, -max %d: need %d ≤ min ≤ max (the pattern must fit)", o.minLen, o.maxLen, len(o.pattern))
	case o.train <= 0, o.test <= 0, o.emb <= 0, o.hidden <= 0, o.batch <= 0, o.epochs < 0:
		return errors.New("-train, -test, -emb, -hidden and -batch must be positive, -epochs not negative")
	case !(o.lr > 0), !(o.clip > 0):
		return fmt.Errorf("-lr %v and -clip %v must be positive", o.lr, o.clip)
	}
	return nil
}

// example is one labelled sequence of symbol ids.
type example struct {
	ids   []int
	label int
}

// contains reports whether ids contains pat.
func contains(ids, pat []int) bool {
	for i := 0; i+len(pat) <= len(ids); i++ {
		match := true
		for k, p := range pat {
			if ids[i+k] != p {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// generate draws n examples, alternately negative and positive: a
// negative is drawn until it lacks the pattern; a positive has the pattern
// written over it at a random place.
func generate(rng *tensor.RNG, n int, pattern string, minLen, maxLen int) []example {
	pat := make([]int, len(pattern))
	for k, c := range pattern {
		pat[k] = strings.IndexRune(alphabet, c)
	}
	draw := func() []int {
		ids := make([]int, minLen+rng.IntN(maxLen-minLen+1))
		for i := range ids {
			ids[i] = rng.IntN(len(alphabet))
		}
		return ids
	}
	exs := make([]example, n)
	for i := range exs {
		if i%2 == 0 {
			ids := draw()
			for contains(ids, pat) {
				ids = draw()
			}
			exs[i] = example{ids, 0}
		} else {
			ids := draw()
			copy(ids[rng.IntN(len(ids)-len(pat)+1):], pat)
			exs[i] = example{ids, 1}
		}
	}
	rng.Shuffle(n, func(i, j int) { exs[i], exs[j] = exs[j], exs[i] })
	return exs
}

// classifier is embedding → LSTM → linear on the final state, in one of
// two forms sharing the parameter layout: padded (an nn.LSTM link stepped
// over a padded batch with masks) or packed (nn.NStepLSTM).
type classifier struct {
	emb    *nn.Embedding
	link   *nn.LSTM      // padded form
	nstep  *nn.NStepLSTM // packed form
	out    *nn.Linear
	hidden int
}

// NamedParams names the parameters emb.weight, rnn.weight_ih_l0 (or
// rnn.weight_ih for the link), …, out.bias.
func (m *classifier) NamedParams() iter.Seq2[string, *autograd.Variable] {
	var rnn nn.Module = m.nstep
	if m.link != nil {
		rnn = m.link
	}
	return nn.Join(nn.Sub("emb", m.emb), nn.Sub("rnn", rnn), nn.Sub("out", m.out))
}

// Params returns the parameters in the order of NamedParams.
func (m *classifier) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// newClassifier returns the classifier in its padded or packed form,
// initialised from a generator seeded with o.seed: both forms draw their
// weights in the same order (embedding, LSTM, linear).
func newClassifier(o options, dtype tensor.DType, packed bool) (*classifier, error) {
	rng := tensor.NewRNG(o.seed)
	m := &classifier{hidden: o.hidden}
	var err error
	if m.emb, err = nn.NewEmbedding(nn.EmbeddingConfig{Vocab: len(alphabet), Dim: o.emb, DType: dtype}, rng); err != nil {
		return nil, err
	}
	if packed {
		m.nstep, err = nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: o.emb, HiddenSize: o.hidden, DType: dtype}, rng)
	} else {
		m.link, err = nn.NewLSTM(nn.CellConfig{InputSize: o.emb, HiddenSize: o.hidden, ForgetBias: 1, DType: dtype}, rng)
	}
	if err != nil {
		return nil, err
	}
	if m.out, err = nn.NewLinear(nn.LinearConfig{In: o.hidden, Out: 2, DType: dtype}, rng); err != nil {
		return nil, err
	}
	return m, nil
}

// newPair returns the two forms of the classifier with equal weights
// (separate copies, so that each can be trained on its own).
func newPair(o options, dtype tensor.DType) (padded, packed *classifier, err error) {
	if padded, err = newClassifier(o, dtype, false); err != nil {
		return nil, nil, err
	}
	if packed, err = newClassifier(o, dtype, true); err != nil {
		return nil, nil, err
	}
	// Copy every weight: the layouts (PyTorch's) are the same.
	src, dst := padded.Params(), packed.Params()
	if len(src) != len(dst) {
		return nil, nil, fmt.Errorf("the two forms have %d and %d parameters", len(src), len(dst))
	}
	for k := range src {
		if !src[k].Data.SameShape(dst[k].Data) {
			return nil, nil, fmt.Errorf("parameter %d: shapes %v and %v", k, src[k].Shape(), dst[k].Shape())
		}
		dst[k].Data.CopyFrom(src[k].Data)
	}
	return padded, packed, nil
}

// embed returns the embedded sequences of a batch, one (length, E)
// variable each, and their labels.
func (m *classifier) embed(exs []example) (xs []*autograd.Variable, labels []int) {
	ids := make([][]int, len(exs))
	for i, ex := range exs {
		ids[i] = ex.ids
		labels = append(labels, ex.label)
	}
	return seqmodel.Embed(m.emb, ids), labels
}

// logits returns the (B, 2) class scores of a batch.
func (m *classifier) logits(exs []example) (*autograd.Variable, []int) {
	xs, labels := m.embed(exs)
	B := len(xs)
	var h *autograd.Variable
	if m.link != nil {
		padded, mask := nn.PadSequences(xs) // (T, B, E), mask[t][i] = t < len_i
		st := m.link.Initial(B)
		E := padded.Shape()[2]
		for t := range mask {
			x := fn.Reshape(fn.Slice(padded, 0, t, t+1), B, E)
			_, next := m.link.Step(x, st)
			st.H = fn.Where(mask[t], next.H, st.H) // finished sequences keep their state
			st.C = fn.Where(mask[t], next.C, st.C)
		}
		h = st.H
	} else {
		_, final := m.nstep.Forward(xs, nn.State{}) // H is (1, B, H)
		h = fn.Reshape(final.H, B, m.hidden)
	}
	return m.out.Forward(h), labels
}

// loss returns the mean cross-entropy of a batch.
func (m *classifier) loss(exs []example) *autograd.Variable {
	logits, labels := m.logits(exs)
	return fn.SoftmaxCrossEntropy(logits, labels, -1, fn.ReduceMean)
}

// maxDiff returns the largest absolute difference between two tensors of
// the same shape.
func maxDiff(a, b *tensor.Tensor) float64 {
	av, bv := a.Values(), b.Values()
	d := 0.0
	for i := range av {
		d = math.Max(d, math.Abs(av[i]-bv[i]))
	}
	return d
}

// compare runs both forms on the same batch and returns the largest
// differences of logits, loss and parameter gradients.
func compare(padded, packed *classifier, exs []example) (dLogits, dLoss, dGrad float64) {
	var ls [2]*autograd.Variable
	for k, m := range []*classifier{padded, packed} {
		logits, labels := m.logits(exs)
		loss := fn.SoftmaxCrossEntropy(logits, labels, -1, fn.ReduceMean)
		autograd.ClearGrads(m.Params())
		loss.Backward()
		ls[k] = logits
		if k == 0 {
			dLoss = loss.Data.Item()
		} else {
			dLoss = math.Abs(dLoss - loss.Data.Item())
		}
	}
	dLogits = maxDiff(ls[0].Data, ls[1].Data)
	pa, pb := padded.Params(), packed.Params()
	for k := range pa {
		dGrad = math.Max(dGrad, maxDiff(pa[k].Grad, pb[k].Grad))
	}
	return dLogits, dLoss, dGrad
}

// trainResult is what training one form produced.
type trainResult struct {
	losses []float64 // training loss at each update
	took   time.Duration
}

// trainBoth trains the two forms side by side on the same batches, each
// with its own Adam optimizer and clipping.
func trainBoth(o options, padded, packed *classifier, train []example) ([2]trainResult, error) {
	var res [2]trainResult
	var opts [2]*optim.Optimizer
	for k, m := range []*classifier{padded, packed} {
		var err error
		if opts[k], err = fit.Adam(m.NamedParams(), o.lr, o.clip); err != nil {
			return res, err
		}
	}
	rng := tensor.NewRNG(o.seed + 1)
	step := 0
	for epoch := range o.epochs {
		for _, idx := range fit.Batches(rng, len(train), o.batch) {
			var exs []example
			for _, i := range idx {
				exs = append(exs, train[i])
			}
			for k, m := range []*classifier{padded, packed} {
				t0 := time.Now()
				loss := m.loss(exs)
				if err := fit.Step(opts[k], loss); err != nil {
					return res, err
				}
				res[k].took += time.Since(t0)
				res[k].losses = append(res[k].losses, loss.Data.Item())
			}
			step++
			if o.logEvery > 0 && step%o.logEvery == 0 && o.progress != nil {
				fmt.Fprintf(o.progress, "epoch %d update %d: loss padded %.4f packed %.4f\n", epoch+1, step, res[0].losses[step-1], res[1].losses[step-1])
			}
		}
	}
	return res, nil
}

// accuracy returns the fraction of exs m classifies correctly, overall and
// in length buckets of width bucket starting at minLen.
func accuracy(m *classifier, exs []example, minLen, bucket int) (acc float64, byLen map[int][2]int) {
	byLen = map[int][2]int{}
	correct := 0
	autograd.NoGrad(m.Params(), func() {
		for start := 0; start < len(exs); start += 256 {
			part := exs[start:min(start+256, len(exs))]
			logits, labels := m.logits(part)
			for i, y := range labels {
				pred := 0
				if logits.Data.At(i, 1) > logits.Data.At(i, 0) {
					pred = 1
				}
				b := minLen + (len(part[i].ids)-minLen)/bucket*bucket
				c := byLen[b]
				c[1]++
				if pred == y {
					correct++
					c[0]++
				}
				byLen[b] = c
			}
		}
	})
	return float64(correct) / float64(len(exs)), byLen
}

// trajectory is the outcome of training both forms side by side in one
// precision.
type trajectory struct {
	dtype           tensor.DType
	res             [2]trainResult
	maxLossDiff     float64 // over all updates
	firstApart      int     // first update whose losses differ by more than 1e-4 (0 if none)
	maxParamDiff    float64 // at the end
	accuracy        [2]float64
	byLen           [2]map[int][2]int
	padded, packed  *classifier
	dLogits, dLoss  float64 // at initialisation, on the first batch
	dGrad           float64
	firstMin, first int // shortest length and size of the first batch
	firstMax        int
}

// sideBySide builds both forms with equal weights in the given precision,
// compares them on the first batch, and trains them on the same batches.
func sideBySide(o options, dtype tensor.DType, train, test []example) (*trajectory, error) {
	padded, packed, err := newPair(o, dtype)
	if err != nil {
		return nil, err
	}
	tr := &trajectory{dtype: dtype, padded: padded, packed: packed}
	first := train[:min(o.batch, len(train))]
	tr.first, tr.firstMin, tr.firstMax = len(first), minLength(first), maxLength(first)
	tr.dLogits, tr.dLoss, tr.dGrad = compare(padded, packed, first)
	if o.epochs == 0 {
		return tr, nil
	}
	if tr.res, err = trainBoth(o, padded, packed, train); err != nil {
		return nil, err
	}
	for k := range tr.res[0].losses {
		d := math.Abs(tr.res[0].losses[k] - tr.res[1].losses[k])
		tr.maxLossDiff = math.Max(tr.maxLossDiff, d)
		if d > 1e-4 && tr.firstApart == 0 {
			tr.firstApart = k + 1
		}
	}
	pa, pb := padded.Params(), packed.Params()
	for k := range pa {
		tr.maxParamDiff = math.Max(tr.maxParamDiff, maxDiff(pa[k].Data, pb[k].Data))
	}
	bucket := lengthBucket(o)
	tr.accuracy[0], tr.byLen[0] = accuracy(padded, test, o.minLen, bucket)
	tr.accuracy[1], tr.byLen[1] = accuracy(packed, test, o.minLen, bucket)
	return tr, nil
}

// lengthBucket is the width of the length buckets of the accuracy table.
func lengthBucket(o options) int { return max(1, (o.maxLen-o.minLen+1+4)/5) }

func run(o options, w io.Writer) ([]*trajectory, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	rng := tensor.NewRNG(o.seed)
	train := generate(rng.Split(), o.train, o.pattern, o.minLen, o.maxLen)
	test := generate(rng.Split(), o.test, o.pattern, o.minLen, o.maxLen)
	fmt.Fprintf(w, "task: does a sequence over %q of length %d–%d contain %q? %d training and %d test sequences, half positive\n",
		alphabet, o.minLen, o.maxLen, o.pattern, o.train, o.test)
	fmt.Fprintf(w, "model: embedding %d → LSTM %d → linear 2, Adam lr %g, clipping %g, batch %d, %d epochs\n", o.emb, o.hidden, o.lr, o.clip, o.batch, o.epochs)

	var trs []*trajectory
	for _, dt := range o.dtypes {
		if o.progress != nil {
			fmt.Fprintf(o.progress, "training both forms in %v\n", dt)
		}
		tr, err := sideBySide(o, dt, train, test)
		if err != nil {
			return nil, err
		}
		trs = append(trs, tr)
	}

	fmt.Fprintf(w, "\nsame weights, the first batch (%d sequences, lengths %d–%d): largest difference padded vs packed\n\n", trs[0].first, trs[0].firstMin, trs[0].firstMax)
	fmt.Fprintf(w, "| precision | logits | loss | parameter gradients |\n| --- | --- | --- | --- |\n")
	for _, tr := range trs {
		fmt.Fprintf(w, "| %v | %.3g | %.3g | %.3g |\n", tr.dtype, tr.dLogits, tr.dLoss, tr.dGrad)
	}
	if o.epochs == 0 {
		return trs, nil
	}
	n := len(trs[0].res[0].losses)
	fmt.Fprintf(w, "\ntrained side by side for %d updates on the same batches:\n\n", n)
	fmt.Fprintf(w, "| precision | largest loss difference | first update apart by > 1e-4 | largest parameter difference at the end | test accuracy padded / packed | time per update padded / packed |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, tr := range trs {
		apart := "never"
		if tr.firstApart > 0 {
			apart = fmt.Sprint(tr.firstApart)
		}
		fmt.Fprintf(w, "| %v | %.3g | %s | %.3g | %.4f / %.4f | %s / %s |\n", tr.dtype, tr.maxLossDiff, apart, tr.maxParamDiff,
			tr.accuracy[0], tr.accuracy[1], perUpdate(tr.res[0], n), perUpdate(tr.res[1], n))
	}
	bucket := lengthBucket(o)
	fmt.Fprintf(w, "\ntest accuracy by length (padded / packed):\n\n| lengths | sequences |")
	for _, tr := range trs {
		fmt.Fprintf(w, " %v |", tr.dtype)
	}
	fmt.Fprintf(w, "\n| --- | --- |%s\n", strings.Repeat(" --- |", len(trs)))
	for b := o.minLen; b <= o.maxLen; b += bucket {
		if trs[0].byLen[0][b][1] == 0 {
			continue
		}
		fmt.Fprintf(w, "| %d–%d | %d |", b, min(b+bucket-1, o.maxLen), trs[0].byLen[0][b][1])
		for _, tr := range trs {
			ca, cb := tr.byLen[0][b], tr.byLen[1][b]
			fmt.Fprintf(w, " %.4f / %.4f |", float64(ca[0])/float64(ca[1]), float64(cb[0])/float64(cb[1]))
		}
		fmt.Fprintln(w)
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return nil, err
		}
		path := filepath.Join(o.out, "varlen_loss.png")
		if err := plotLosses(path, trs, o.batch, len(train)); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "\nwrote %s\n", path)
	}
	return trs, nil
}

// perUpdate is the mean time of one update.
func perUpdate(r trainResult, n int) time.Duration {
	return (r.took / time.Duration(n)).Round(10 * time.Microsecond)
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func minLength(exs []example) int {
	n := math.MaxInt
	for _, ex := range exs {
		n = min(n, len(ex.ids))
	}
	return n
}

func maxLength(exs []example) int {
	n := 0
	for _, ex := range exs {
		n = max(n, len(ex.ids))
	}
	return n
}

// plotLosses draws the training loss of both forms in each precision,
// averaged over windows of 20 updates.
func plotLosses(path string, trs []*trajectory, batch, train int) error {
	l := figure.Lines{Title: "padded + fn.Where vs NStepLSTM, same weights and batches", XLabel: "epoch", YLabel: "training loss (mean of 20 updates)", LogY: true}
	perEpoch := float64((train + batch - 1) / batch)
	for _, tr := range trs {
		for k, name := range []string{"padded + fn.Where", "NStepLSTM (packed)"} {
			s := figure.Series{Name: fmt.Sprintf("%s, %v", name, tr.dtype), Dashed: k == 1}
			v := tr.res[k].losses
			for i := 0; i+20 <= len(v); i += 20 {
				s.X = append(s.X, float64(i+20)/perEpoch)
				s.Y = append(s.Y, mean(v[i:i+20]))
			}
			l.Series = append(l.Series, s)
		}
	}
	return l.SavePNG(path)
}
