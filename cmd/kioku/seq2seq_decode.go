package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/kioku-ml/kioku/internal/atomicfile"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/attnplot"
	"github.com/kioku-ml/kioku/seq2seq/bleu"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
)

// decodeFlags are the search flags shared by decode and eval.
type decodeFlags struct {
	beam        *int
	alpha       *float64
	maxLen      *int
	temperature *float64
	seed        *uint64
	batch       *int
}

func addDecodeFlags(fs *flag.FlagSet, sampling bool) *decodeFlags {
	d := &decodeFlags{
		beam:   fs.Int("beam", 1, "beam width (1: greedy search)"),
		alpha:  fs.Float64("alpha", 1, "beam search length penalty α: hypotheses ranked by log p / length^α"),
		maxLen: fs.Int("max-out", 0, "most output tokens, EOS included (0: twice the longest input plus 10)"),
		batch:  fs.Int("batch", 64, "sentences decoded together"),
	}
	if sampling {
		d.temperature = fs.Float64("temperature", 0, "sample with this temperature instead of searching (0: search)")
		d.seed = fs.Uint64("seed", 1, "random seed for sampling (each input line draws from its own generator split from it, whatever -batch)")
	}
	return d
}

func (d *decodeFlags) options() (seq2seq.DecodeOptions, int, error) {
	o := seq2seq.DecodeOptions{Beam: *d.beam, LengthPenalty: *d.alpha, MaxLen: *d.maxLen}
	switch {
	case *d.beam < 1:
		return o, 0, fmt.Errorf("-beam %d; want at least 1", *d.beam)
	case !(*d.alpha >= 0) || math.IsInf(*d.alpha, 0):
		return o, 0, fmt.Errorf("-alpha %v; want a finite value ≥ 0", *d.alpha)
	case *d.maxLen < 0:
		return o, 0, fmt.Errorf("-max-out %d is negative", *d.maxLen)
	case *d.batch < 1:
		return o, 0, fmt.Errorf("-batch %d; want at least 1", *d.batch)
	}
	if d.temperature != nil && *d.temperature != 0 {
		if !(*d.temperature > 0) || math.IsInf(*d.temperature, 0) {
			return o, 0, fmt.Errorf("-temperature %v; want a positive number", *d.temperature)
		}
		if *d.beam > 1 {
			return o, 0, fmt.Errorf("-temperature samples; it excludes -beam")
		}
		o.Temperature, o.RNG = *d.temperature, tensor.NewRNG(*d.seed)
	}
	return o, *d.batch, nil
}

// describe names the decoding of o.
func describe(o seq2seq.DecodeOptions) string {
	switch {
	case o.Temperature > 0:
		return fmt.Sprintf("sampling at temperature %g", o.Temperature)
	case o.Beam > 1:
		return fmt.Sprintf("beam search, width %d, length penalty α = %g", o.Beam, o.LengthPenalty)
	}
	return "greedy search"
}

// decodeAll decodes token sentences in batches and returns the output
// tokens and hypotheses. When sampling, each sentence draws from a
// generator of its own, split from o.RNG in input order, so the samples
// do not depend on the batch size. If ctx is done, it returns the
// sentences decoded so far with ctx.Err().
func decodeAll(ctx context.Context, m *s2sModel, srcs [][]string, o seq2seq.DecodeOptions, batch int) ([][]string, []seq2seq.Hypothesis, error) {
	var outs [][]string
	var hyps []seq2seq.Hypothesis
	base := o.RNG
	o.RNG = nil
	for lo := 0; lo < len(srcs); lo += batch {
		var ids [][]int
		o.RNGs = nil
		for _, s := range srcs[lo:min(lo+batch, len(srcs))] {
			ids = append(ids, m.src.Encode(s))
			if o.Temperature > 0 {
				o.RNGs = append(o.RNGs, base.Split())
			}
		}
		hs, err := m.model.Decode(ctx, ids, o)
		if err != nil {
			if ctx.Err() != nil {
				return outs, hyps, err
			}
			panic(err) // inputs were checked: a bug
		}
		for _, h := range hs {
			outs = append(outs, m.tgt.Decode(h.Tokens))
			hyps = append(hyps, h)
		}
	}
	return outs, hyps, nil
}

// scoreHyps returns the corpus BLEU of hyps and the fraction equal to one
// of their references.
func scoreHyps(hyps [][]string, refs [][][]string) (bleu.Score, float64) {
	score, err := bleu.Corpus(hyps, refs)
	if err != nil {
		panic(err) // built with one reference set per hypothesis: a bug
	}
	exact := 0
	for i, h := range hyps {
		if slices.ContainsFunc(refs[i], func(r []string) bool { return slices.Equal(r, h) }) {
			exact++
		}
	}
	return score, float64(exact) / float64(max(len(hyps), 1))
}

func runSeq2seqDecode(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seq2seq decode", flag.ContinueOnError)
	setUsage(fs, `Usage: kioku seq2seq decode -model dir [flags] < input

Reads one sentence per line and prints the model's output for each, in
order: by greedy search, beam search (-beam N) or sampling (-temperature).
Sentences are tokenized as the model's training data was (characters for
the generated tasks, words and punctuation for sentence pairs).

Flags:
`)
	var (
		modelPath = fs.String("model", "seq2seq.ckpt", "model checkpoint `directory` written by seq2seq train")
		input     = fs.String("input", "-", "input `file`, one sentence per line (-: standard input)")
		png       = fs.String("attention", "", "write the attention weights of the first sentence as a PNG heat map to `file`")
	)
	df := addDecodeFlags(fs, true)
	allowNonFinite := fs.Bool("allow-nonfinite", false, "load weights holding NaN or ±Inf (refused by default; for debugging a diverged model)")
	if err := parseFlagsNoArgs(fs, args, stderr, "kioku seq2seq decode"); err != nil {
		return err
	}
	opts, batch, err := df.options()
	if err != nil {
		return err
	}
	m, err := loadModel(*modelPath, *allowNonFinite)
	if err != nil {
		return err
	}
	if *png != "" && m.meta.Config.Attention == seq2seq.NoAttention {
		return fmt.Errorf("-attention: the model in %s has no attention", *modelPath)
	}
	var in io.Reader = os.Stdin
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	lines, err := readLines(in)
	if err != nil {
		return err
	}
	srcs := make([][]string, len(lines))
	for i, l := range lines {
		if srcs[i] = m.tokenize(l); len(srcs[i]) == 0 {
			return fmt.Errorf("input line %d has no tokens", i+1)
		}
	}
	// Ctrl-C stops the decoding at the next step; the outputs of the
	// batches already decoded are still printed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	outs, hyps, err := decodeAll(ctx, m, srcs, opts, batch)
	for _, o := range outs {
		fmt.Fprintln(stdout, m.detokenize(o))
	}
	if err != nil {
		return fmt.Errorf("interrupted after %d of %d sentences: %v", len(outs), len(srcs), err)
	}
	if *png != "" && len(hyps) > 0 {
		h := hyps[0]
		rows := slices.Clone(outs[0])
		if h.Finished {
			rows = append(rows, dataset.Specials()[dataset.EOS])
		}
		if len(rows) == 0 {
			return fmt.Errorf("-attention: the first output is empty")
		}
		err := atomicfile.WriteFile(*png, 0o644, func(w io.Writer) error {
			return attnplot.WritePNG(w, h.Attention, srcs[0], rows, fmt.Sprintf("%v attention", m.meta.Config.Attention))
		})
		if err != nil {
			return fmt.Errorf("-attention: %v", err)
		}
		fmt.Fprintf(stderr, "attention of %q written to %s\n", lines[0], *png)
	}
	return nil
}

func runSeq2seqEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seq2seq eval", flag.ContinueOnError)
	setUsage(fs, `Usage: kioku seq2seq eval -model dir [flags]

Decodes held-out sources — never seen in training: the model's split of
its data file (or of -data), or fresh held-out strings of its generated
task — and prints the exact-match rate (the output equals one of the
references) and corpus BLEU-4 against all references of each source.

Flags:
`)
	var (
		modelPath = fs.String("model", "seq2seq.ckpt", "model checkpoint `directory` written by seq2seq train")
		data      = fs.String("data", "", "sentence-pair `file` whose held-out part to score (default: the training file)")
		whole     = fs.Bool("all", false, "with -data, score every pair of the file, not only the held-out part")
		n         = fs.Int("n", 0, "score at most this many sources, evenly spread (0: all held-out sentences; 2000 for a task)")
		minLen    = fs.Int("min-len", 0, "for a task, shortest string (0: as trained)")
		maxLen    = fs.Int("max-len", 0, "for a task, longest string (0: as trained)")
		seed      = fs.Uint64("seed", 2, "seed of the generated held-out strings")
		show      = fs.Int("show", 0, "print this many examples")
	)
	df := addDecodeFlags(fs, false)
	allowNonFinite := fs.Bool("allow-nonfinite", false, "load weights holding NaN or ±Inf (refused by default; for debugging a diverged model)")
	if err := parseFlagsNoArgs(fs, args, stderr, "kioku seq2seq eval"); err != nil {
		return err
	}
	opts, batch, err := df.options()
	if err != nil {
		return err
	}
	if *n < 0 || *show < 0 {
		return fmt.Errorf("-n %d and -show %d must not be negative", *n, *show)
	}
	m, err := loadModel(*modelPath, *allowNonFinite)
	if err != nil {
		return err
	}
	var srcs [][]string
	var refs [][][]string
	switch {
	case m.meta.Task != nil:
		if *data != "" || *whole {
			return fmt.Errorf("the model was trained on the %s task; -data and -all apply to sentence-pair models", m.meta.Task.Name)
		}
		tk, err := dataset.ParseTask(m.meta.Task.Name)
		if err != nil {
			return err
		}
		tc := dataset.TaskConfig{Task: tk, MinLen: m.meta.Task.MinLen, MaxLen: m.meta.Task.MaxLen}
		if *minLen > 0 {
			tc.MinLen = *minLen
		}
		if *maxLen > 0 {
			tc.MaxLen = *maxLen
		}
		count := *n
		if count == 0 {
			count = 2000
		}
		pairs, err := dataset.Generate(tc, count, m.meta.holdout(), true, tensor.NewRNG(*seed))
		if err != nil {
			return err
		}
		srcs, refs = dataset.References(pairs)
		fmt.Fprintf(stdout, "task %v, lengths %d…%d, %d held-out strings\n", tk, tc.MinLen, tc.MaxLen, len(srcs))
	default:
		if *minLen > 0 || *maxLen > 0 {
			return fmt.Errorf("-min-len and -max-len apply to generated tasks")
		}
		path := *data
		if path == "" && m.meta.Data != nil {
			path = m.meta.Data.Path
		}
		if path == "" {
			return fmt.Errorf("the model records no data file; give -data")
		}
		maxWords := 0
		if m.meta.Data != nil {
			maxWords = m.meta.Data.MaxWords
		}
		pairs, err := readPairs(path, maxWords)
		if err != nil {
			return err
		}
		if !*whole {
			_, pairs = m.meta.holdout().Split(pairs)
		}
		srcs, refs = dataset.References(pairs)
		if *n > 0 && *n < len(srcs) {
			srcs, refs = spread(srcs, *n), spread(refs, *n)
		}
		part := "held-out"
		if *whole {
			part = "all"
		}
		fmt.Fprintf(stdout, "%s: %s pairs, %d sources, %d references\n", path, part, len(srcs), len(pairs))
	}
	if len(srcs) == 0 {
		return fmt.Errorf("nothing to evaluate")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	hyps, _, err := decodeAll(ctx, m, srcs, opts, batch)
	if err != nil {
		return fmt.Errorf("interrupted after %d of %d sentences: %v", len(hyps), len(srcs), err)
	}
	score, exact := scoreHyps(hyps, refs)
	el := time.Since(start)
	fmt.Fprintf(stdout, "decoding: %s\n", describe(opts))
	fmt.Fprintf(stdout, "exact match: %.2f%% (%d of %d)\n", 100*exact, int(math.Round(exact*float64(len(hyps)))), len(hyps))
	fmt.Fprintf(stdout, "%v\n", score)
	fmt.Fprintf(stdout, "time: %.1fs (%.0f sentences/s)\n", el.Seconds(), float64(len(hyps))/el.Seconds())
	for i := range min(*show, len(hyps)) {
		fmt.Fprintf(stdout, "  %s\n    → %s\n    ref %s\n", m.detokenize(srcs[i]), m.detokenize(hyps[i]), m.detokenize(refs[i][0]))
	}
	return nil
}

// spread returns n elements of xs evenly spaced from the first (data
// files are often sorted by length).
func spread[T any](xs []T, n int) []T {
	out := make([]T, 0, n)
	for i := range n {
		out = append(out, xs[i*len(xs)/n])
	}
	return out
}
