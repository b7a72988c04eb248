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
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/bleu"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
)

// taskLengths returns the default lengths of a generated task: strings of
// 5 to 20 digits, or operands of 1 to 3 digits for addition.
func taskLengths(t dataset.Task) (lo, hi int) {
	if t == dataset.Add {
		return 1, 3
	}
	return 5, 20
}

// s2sSplit holds what training reads: the training pairs and the
// held-out sources with their references.
type s2sSplit struct {
	train    []dataset.Pair
	heldSrc  [][]string
	heldRefs [][][]string
}

func runSeq2seqTrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seq2seq train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: kioku seq2seq train [flags]

Trains an encoder–decoder with teacher forcing (Adam, gradient clipping by
global norm) on a generated task — reverse, sort or add digit strings of
random lengths — or, with -data, on a file of "source<TAB>target" lines.
A held-out fraction of the sources (chosen by hash, see -held-out) is
never trained on; a part of it is the development set scored after every
epoch. The model is saved to -o after every epoch whose development loss
improves (a modelio checkpoint directory, replaced atomically); when it
does not improve, the learning rate is multiplied by
-decay. -time bounds the whole run.

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		task      = fs.String("task", "reverse", "generated `task`: reverse, sort or add (without -data)")
		minLen    = fs.Int("min-len", 0, "shortest generated string (0: 5, or 1 digit for add)")
		maxLen    = fs.Int("max-len", 0, "longest generated string (0: 20, or 3 digits for add)")
		trainSize = fs.Int("train-size", 100000, "number of generated training examples")
		data      = fs.String("data", "", "`file` of tab-separated sentence pairs (instead of -task)")
		maxWords  = fs.Int("max-words", 10, "with -data, keep pairs of at most this many words a side (0: all)")
		minCount  = fs.Int("min-count", 2, "with -data, keep tokens seen at least this often")
		maxVocab  = fs.Int("max-vocab", 0, "with -data, largest vocabulary per side (0: no limit)")
		heldOut   = fs.Float64("held-out", 0.05, "fraction of sources held out for evaluation")
		splitSeed = fs.Uint64("split-seed", 1, "seed of the held-out split")
		devSize   = fs.Int("dev", 500, "held-out sentences scored after each epoch")

		cellName = fs.String("cell", "lstm", "recurrent `cell`: lstm or gru")
		embed    = fs.Int("embed", 64, "embedding size")
		hidden   = fs.Int("hidden", 256, "decoder hidden size")
		encHid   = fs.Int("enc-hidden", 0, "encoder hidden size per direction (0: -hidden)")
		layers   = fs.Int("layers", 1, "layers of the encoder and of the decoder")
		bidir    = fs.Bool("bidirectional", true, "bidirectional encoder")
		bridge   = fs.String("bridge", "linear", "encoder-to-decoder `bridge`: linear, sum or zero")
		attn     = fs.String("attention", "general", "attention `score`: none, dot, general or additive")
		feed     = fs.Bool("input-feeding", true, "feed the previous attentional vector to the decoder (with attention)")
		attnSize = fs.Int("attention-size", 0, "hidden size of additive attention (0: -hidden)")
		dropout  = fs.Float64("dropout", 0, "dropout probability")

		epochs   = fs.Int("epochs", 10, "passes over the training data")
		batch    = fs.Int("batch", 64, "sentences per batch")
		lr       = fs.Float64("lr", 0.001, "Adam learning rate")
		clip     = fs.Float64("clip", 5, "gradient clipping threshold (global L2 norm)")
		decay    = fs.Float64("decay", 0.5, "learning-rate factor after an epoch without improvement")
		budget   = fs.Duration("time", 0, "stop training after this long, e.g. 20m (0: no limit)")
		seed     = fs.Uint64("seed", 1, "random seed (initialisation, batches, dropout, generated data)")
		logEvery = fs.Int("log-every", 200, "print the training loss every this many steps")
		out      = fs.String("o", "seq2seq.safetensors", "output model `file`")
	)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kioku seq2seq train: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *trainSize <= 0:
		return fmt.Errorf("-train-size %d; want a positive number", *trainSize)
	case !(*heldOut > 0 && *heldOut < 1):
		return fmt.Errorf("-held-out %v; want a fraction in (0, 1)", *heldOut)
	case *devSize <= 0:
		return fmt.Errorf("-dev %d; want a positive number", *devSize)
	case *epochs <= 0 || *batch <= 0:
		return fmt.Errorf("-epochs %d and -batch %d must be positive", *epochs, *batch)
	case !(*lr > 0) || math.IsInf(*lr, 0):
		return fmt.Errorf("-lr %v; want a positive number", *lr)
	case !(*decay > 0 && *decay <= 1):
		return fmt.Errorf("-decay %v; want a factor in (0, 1]", *decay)
	case *budget < 0:
		return fmt.Errorf("-time %v is negative", *budget)
	case *maxWords < 0 || *minCount < 1 || *maxVocab < 0:
		return fmt.Errorf("-max-words %d, -min-count %d, -max-vocab %d: want ≥ 0, ≥ 1, ≥ 0", *maxWords, *minCount, *maxVocab)
	case *logEvery <= 0:
		return fmt.Errorf("-log-every %d; want a positive number", *logEvery)
	case *data != "" && (set["task"] || set["min-len"] || set["max-len"] || set["train-size"]):
		return fmt.Errorf("-data excludes -task, -min-len, -max-len and -train-size")
	}
	if st, err := os.Stat(filepath.Dir(*out)); err != nil || !st.IsDir() {
		return fmt.Errorf("-o %s: the directory %s does not exist", *out, filepath.Dir(*out))
	}
	clipper, err := optim.NewGradientClipping(*clip)
	if err != nil {
		return fmt.Errorf("-clip: %v", err)
	}
	cell, err := seq2seq.ParseCell(*cellName)
	if err != nil {
		return err
	}
	br, err := seq2seq.ParseBridge(*bridge)
	if err != nil {
		return err
	}
	at, err := seq2seq.ParseAttention(*attn)
	if err != nil {
		return err
	}
	if at == seq2seq.NoAttention && !set["input-feeding"] {
		*feed = false
	}
	rng := tensor.NewRNG(*seed)

	// Data.
	m := &s2sModel{meta: s2sMeta{Version: metaVersion, HeldOut: *heldOut, SplitSeed: *splitSeed}}
	var sp s2sSplit
	if *data == "" {
		tk, err := dataset.ParseTask(*task)
		if err != nil {
			return err
		}
		tc := dataset.TaskConfig{Task: tk, MinLen: *minLen, MaxLen: *maxLen}
		lo, hi := taskLengths(tk)
		if tc.MinLen == 0 {
			tc.MinLen = lo
		}
		if tc.MaxLen == 0 {
			tc.MaxLen = max(hi, tc.MinLen)
		}
		if sp.train, err = dataset.Generate(tc, *trainSize, false, *heldOut, *splitSeed, rng.Split()); err != nil {
			return err
		}
		dev, err := dataset.Generate(tc, *devSize, true, *heldOut, *splitSeed, rng.Split())
		if err != nil {
			return err
		}
		sp.heldSrc, sp.heldRefs = dataset.References(dev)
		v := dataset.NewVocab([][]string{dataset.TaskTokens()}, 1, 0)
		m.src, m.tgt = v, v
		m.meta.Tokens = tokensChars
		m.meta.Task = &s2sTask{Name: tk.String(), MinLen: tc.MinLen, MaxLen: tc.MaxLen}
		fmt.Fprintf(stdout, "task %v, lengths %d…%d: %d training examples, %d development\n", tk, tc.MinLen, tc.MaxLen, len(sp.train), len(sp.heldSrc))
	} else {
		pairs, err := readPairs(*data, *maxWords)
		if err != nil {
			return err
		}
		var test []dataset.Pair
		sp.train, test = dataset.Split(pairs, *heldOut, *splitSeed)
		if len(sp.train) == 0 || len(test) == 0 {
			return fmt.Errorf("%s: %d training and %d held-out pairs; need some of each", *data, len(sp.train), len(test))
		}
		srcs, refs := dataset.References(test)
		n := min(*devSize, len(srcs))
		sp.heldSrc, sp.heldRefs = srcs[:n], refs[:n]
		var ss, ts [][]string
		for _, p := range sp.train {
			ss, ts = append(ss, p.Src), append(ts, p.Tgt)
		}
		m.src, m.tgt = dataset.NewVocab(ss, *minCount, *maxVocab), dataset.NewVocab(ts, *minCount, *maxVocab)
		m.meta.Tokens = tokensWords
		m.meta.Data = &s2sData{Path: *data, MaxWords: *maxWords}
		fmt.Fprintf(stdout, "%s: %d pairs of at most %d words; %d training, %d held out (%d sources, %d scored each epoch); vocabularies %d and %d\n",
			*data, len(pairs), *maxWords, len(sp.train), len(test), len(srcs), n, m.src.Len(), m.tgt.Len())
	}
	m.meta.Src, m.meta.Tgt = m.src.Tokens(), m.tgt.Tokens()

	// Model.
	cfg := seq2seq.Config{
		SrcVocab: m.src.Len(), TgtVocab: m.tgt.Len(), BOS: dataset.BOS, EOS: dataset.EOS,
		Embed: *embed, Hidden: *hidden, EncoderHidden: *encHid, Layers: *layers, Cell: cell,
		Bidirectional: *bidir, Bridge: br, Attention: at, InputFeeding: *feed, AttentionSize: *attnSize,
		Dropout: *dropout,
	}
	if m.model, err = seq2seq.NewModel(cfg, rng.Split()); err != nil {
		return err
	}
	m.meta.Config = cfg
	opt, err := optim.NewAdam(m.model.NamedParams(), optim.AdamConfig{LR: *lr})
	if err != nil {
		return err
	}
	opt.AddHook(clipper)
	params := 0
	for _, p := range m.model.Params() {
		params += p.Size()
	}
	fmt.Fprintf(stdout, "model: %v encoder (%d layer(s), bidirectional %v), %v attention, input feeding %v, %v bridge; %d parameters\n",
		cell, max(*layers, 1), *bidir, at, *feed, br, params)

	// Training.
	encode := func(pairs []dataset.Pair, idx []int) (src, tgt [][]int, tokens int) {
		for _, i := range idx {
			src = append(src, m.src.Encode(pairs[i].Src))
			tgt = append(tgt, m.tgt.Encode(pairs[i].Tgt))
			tokens += len(pairs[i].Tgt) + 1
		}
		return src, tgt, tokens
	}
	devPairs := make([]dataset.Pair, len(sp.heldSrc))
	for i, s := range sp.heldSrc {
		devPairs[i] = dataset.Pair{Src: s, Tgt: sp.heldRefs[i][0]}
	}
	start := time.Now()
	best := math.Inf(1)
	step, skipped := 0, 0
	outOfTime := false
	var done float64 // epochs done, fractional
	for epoch := 1; epoch <= *epochs && !outOfTime; epoch++ {
		batches := dataset.Batches(len(sp.train), *batch, func(i int) int { return len(sp.train[i].Tgt) }, rng)
		var sum float64
		var toks, logToks int
		var logSum float64
		logStart := time.Now()
		for bi, b := range batches {
			if *budget > 0 && time.Since(start) > *budget {
				outOfTime = true
				done += float64(bi) / float64(len(batches))
				fmt.Fprintf(stdout, "time budget %v reached in epoch %d after %d of %d batches\n", *budget, epoch, bi, len(batches))
				break
			}
			src, tgt, n := encode(sp.train, b)
			loss := m.model.Loss(src, tgt, autograd.Train)
			opt.ClearGrads()
			loss.Backward()
			if err := opt.Update(); err != nil {
				if errors.Is(err, optim.ErrNonFiniteGrad) {
					skipped++
					continue
				}
				return err
			}
			step++
			l := loss.Data.Item() * float64(n)
			sum, toks = sum+l, toks+n
			logSum, logToks = logSum+l, logToks+n
			if step%*logEvery == 0 {
				el := time.Since(logStart).Seconds()
				fmt.Fprintf(stdout, "epoch %d  step %d  batch %d/%d  loss %.4f  |g| %.2f  %.0f tokens/s  %s\n",
					epoch, step, bi+1, len(batches), logSum/float64(logToks), clipper.LastNorm(), float64(logToks)/el, clock(time.Since(start)))
				logSum, logToks, logStart = 0, 0, time.Now()
			}
			if bi == len(batches)-1 {
				done++
			}
		}
		if toks == 0 {
			break
		}
		devLoss, score, exact := evalDev(m, devPairs, sp.heldSrc, sp.heldRefs, *batch)
		fmt.Fprintf(stdout, "epoch %d  train loss %.4f  dev loss %.4f  dev exact %.2f%%  dev BLEU %.2f (greedy)  lr %.2g  %s\n",
			epoch, sum/float64(toks), devLoss, 100*exact, 100*score.BLEU, opt.LR(), clock(time.Since(start)))
		if devLoss < best {
			best = devLoss
			m.meta.Training = s2sTraining{Epochs: done, Steps: step, Seconds: time.Since(start).Seconds(), DevLoss: devLoss, Examples: len(sp.train)}
			if err := m.save(*out, step, epoch); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "saved %s\n", *out)
		} else {
			opt.SetLR(opt.LR() * *decay)
		}
	}
	if skipped > 0 {
		fmt.Fprintf(stdout, "%d steps skipped for non-finite gradients\n", skipped)
	}
	if math.IsInf(best, 1) {
		return fmt.Errorf("no model saved: training stopped before the first batch")
	}
	fmt.Fprintf(stdout, "done in %s: best dev loss %.4f, model in %s\n", clock(time.Since(start)), best, *out)
	return nil
}

// readPairs reads a TSV file of sentence pairs.
func readPairs(path string, maxWords int) ([]dataset.Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pairs, err := dataset.ReadTSV(f, dataset.ReadOptions{MaxWords: maxWords})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s: no sentence pairs", path)
	}
	return pairs, nil
}

// evalDev returns the mean per-token loss on pairs and the greedy BLEU and
// exact-match rate on srcs against refs.
func evalDev(m *s2sModel, pairs []dataset.Pair, srcs [][]string, refs [][][]string, batch int) (loss float64, score bleu.Score, exact float64) {
	var sum float64
	var toks int
	autograd.NoGrad(m.model.Params(), func() {
		for lo := 0; lo < len(pairs); lo += batch {
			var src, tgt [][]int
			n := 0
			for _, p := range pairs[lo:min(lo+batch, len(pairs))] {
				src, tgt = append(src, m.src.Encode(p.Src)), append(tgt, m.tgt.Encode(p.Tgt))
				n += len(p.Tgt) + 1
			}
			sum += m.model.Loss(src, tgt, autograd.Eval).Data.Item() * float64(n)
			toks += n
		}
	})
	hyps, _ := decodeAll(m, srcs, seq2seq.DecodeOptions{}, batch)
	score, exact = scoreHyps(hyps, refs)
	return sum / float64(toks), score, exact
}

// clock formats a duration as h:mm:ss.
func clock(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
