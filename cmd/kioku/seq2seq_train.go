package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/boundedfile"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/bleu"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
	"github.com/kioku-ml/kioku/train"
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
// held-out development sources with their references.
type s2sSplit struct {
	train    []dataset.Pair
	heldSrc  [][]string
	heldRefs [][][]string
}

func runSeq2seqTrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seq2seq train", flag.ContinueOnError)
	setUsage(fs, `Usage: kioku seq2seq train [flags]

Trains an encoder–decoder with teacher forcing (Adam, gradient clipping by
global norm) on a generated task — reverse, sort or add digit strings of
random lengths — or, with -data, on a file of "source<TAB>target" lines.
A held-out fraction of the sources (chosen by hash, see -held-out) is
never trained on; a part of it is the development set scored after every
epoch. The model is saved to -o after every epoch whose development loss
improves (a modelio checkpoint directory, replaced atomically, with the
optimizer and random states); when it does not improve, the learning rate
is multiplied by -decay. -time bounds the run; -resume continues from a
saved checkpoint, with its data and model, up to -epochs in all.

Flags:
`)
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
		attn     = fs.String("attention", "additive", "attention `score`: none, dot, general or additive")
		feed     = fs.Bool("input-feeding", true, "feed the previous attentional vector to the decoder (with attention)")
		attnSize = fs.Int("attention-size", 0, "hidden size of additive attention (0: -hidden)")
		dropout  = fs.Float64("dropout", 0, "dropout probability")

		epochs   = fs.Int("epochs", 10, "passes over the training data (in all, when resuming)")
		batch    = fs.Int("batch", 64, "sentences per batch")
		lr       = fs.Float64("lr", 0.001, "Adam learning rate (when resuming, the saved one)")
		clip     = fs.Float64("clip", 5, "gradient clipping threshold (global L2 norm)")
		decay    = fs.Float64("decay", 0.5, "learning-rate factor after an epoch without improvement")
		budget   = fs.Duration("time", 0, "stop training after this long, e.g. 20m (0: no limit)")
		seed     = fs.Uint64("seed", 1, "random seed (initialisation, batches, dropout, generated data)")
		logEvery = fs.Int("log-every", 200, "print the training loss every this many steps")
		out      = fs.String("o", "seq2seq.ckpt", "output model checkpoint `directory` (with -resume: that checkpoint)")
		resume   = fs.String("resume", "", "continue training the checkpoint in `directory`")
		maxMem   = addMaxMemoryFlag(fs)
		allowNF  = fs.Bool("allow-nonfinite", false, "with -resume, restore weights and optimizer state holding NaN or ±Inf (refused by default; for debugging)")
	)
	if err := parseFlagsNoArgs(fs, args, stderr, "kioku seq2seq train"); err != nil {
		return err
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
	if *resume != "" {
		// The data and model flags, which the checkpoint overrides.
		for _, f := range []string{"task", "min-len", "max-len", "train-size", "data", "max-words", "min-count", "max-vocab", "held-out", "split-seed", "seed",
			"cell", "embed", "hidden", "enc-hidden", "layers", "bidirectional", "bridge", "attention", "input-feeding", "attention-size", "dropout"} {
			if set[f] {
				return fmt.Errorf("-resume takes the data and the model from the checkpoint; drop -%s", f)
			}
		}
		if !set["o"] {
			*out = *resume
		}
	}
	if st, err := os.Stat(filepath.Dir(*out)); err != nil || !st.IsDir() {
		return fmt.Errorf("-o %s: the directory %s does not exist", *out, filepath.Dir(*out))
	}
	clipper, err := optim.NewGradientClipping(*clip)
	if err != nil {
		return fmt.Errorf("-clip: %v", err)
	}

	var r trainRun
	if *resume != "" {
		if err := r.resume(*resume, *devSize, *lr, *allowNF, stdout); err != nil {
			return err
		}
	} else {
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
		meta := s2sMeta{Meta: seq2seq.Meta{Version: metaVersion}, HeldOut: *heldOut, SplitSeed: *splitSeed, Seed: *seed}
		if *data == "" {
			tk, err := dataset.ParseTask(*task)
			if err != nil {
				return err
			}
			lo, hi := taskLengths(tk)
			if *minLen > 0 {
				lo = *minLen
			}
			if *maxLen > 0 {
				hi = *maxLen
			} else {
				hi = max(hi, lo)
			}
			meta.Task = &s2sTask{Name: tk.String(), MinLen: lo, MaxLen: hi, TrainSize: *trainSize}
		} else {
			meta.Data = &s2sData{Path: *data, MaxWords: *maxWords}
		}
		cfg := seq2seq.Config{
			BOS: dataset.BOS, EOS: dataset.EOS,
			Embed: *embed, Hidden: *hidden, EncoderHidden: *encHid, Layers: *layers, Cell: cell,
			Bidirectional: *bidir, Bridge: br, Attention: at, InputFeeding: *feed, AttentionSize: *attnSize,
			Dropout: *dropout,
		}
		// Before the data: the model of the sizes asked for, with the
		// smallest vocabularies.
		small := cfg
		small.SrcVocab, small.TgtVocab = max(dataset.BOS, dataset.EOS)+1, max(dataset.BOS, dataset.EOS)+1
		if err := small.Validate(); err != nil {
			return err
		}
		early := s2sTrainMemory(small, *batch, 0)
		early.activations = 0
		if err := early.check("model", *maxMem); err != nil {
			return err
		}
		if err := r.start(meta, cfg, *devSize, *minCount, *maxVocab, *lr, *batch, *maxMem, stdout); err != nil {
			return err
		}
	}
	r.opt.AddHook(clipper)
	return r.train(trainOptions{epochs: *epochs, batch: *batch, decay: *decay, budget: *budget, logEvery: *logEvery, out: *out, clip: clipper, stderr: stderr}, stdout)
}

// trainRun is a training run: the model and its data, the optimizer and
// the shuffling RNG, and the counters a checkpoint saves.
type trainRun struct {
	m    *s2sModel
	sp   s2sSplit
	opt  *optim.Optimizer
	rng  *tensor.RNG
	done int     // whole epochs done
	best float64 // best development loss
}

// loadData reads or generates the data meta describes: the training
// pairs and the development part of the held-out sources. For a task,
// gen is the generator after the one Generate draws the training and
// development sets from, as in the original run.
func loadData(meta *s2sMeta, devSize int, stdout io.Writer) (sp s2sSplit, gen *tensor.RNG, err error) {
	gen = tensor.NewRNG(meta.Seed)
	if t := meta.Task; t != nil {
		tk, err := dataset.ParseTask(t.Name)
		if err != nil {
			return sp, nil, err
		}
		tc := dataset.TaskConfig{Task: tk, MinLen: t.MinLen, MaxLen: t.MaxLen}
		if sp.train, err = dataset.Generate(tc, t.TrainSize, meta.holdout(), false, gen.Split()); err != nil {
			return sp, nil, err
		}
		dev, err := dataset.Generate(tc, devSize, meta.holdout(), true, gen.Split())
		if err != nil {
			return sp, nil, err
		}
		sp.heldSrc, sp.heldRefs = dataset.References(dev)
		fmt.Fprintf(stdout, "task %v, lengths %d…%d: %d training examples, %d development\n", tk, tc.MinLen, tc.MaxLen, len(sp.train), len(sp.heldSrc))
		return sp, gen, nil
	}
	d := meta.Data
	pairs, err := readPairs(d.Path, d.MaxWords)
	if err != nil {
		return sp, nil, err
	}
	var test []dataset.Pair
	sp.train, test = meta.holdout().Split(pairs)
	if len(sp.train) == 0 || len(test) == 0 {
		return sp, nil, fmt.Errorf("%s: %d training and %d held-out pairs; need some of each", d.Path, len(sp.train), len(test))
	}
	srcs, refs := dataset.References(test)
	n := min(devSize, len(srcs))
	sp.heldSrc, sp.heldRefs = spread(srcs, n), spread(refs, n)
	fmt.Fprintf(stdout, "%s: %d pairs of at most %d words; %d training, %d held out (%d sources, %d scored each epoch)\n",
		d.Path, len(pairs), d.MaxWords, len(sp.train), len(test), len(srcs), n)
	return sp, gen, nil
}

// start prepares a fresh run.
func (r *trainRun) start(meta s2sMeta, cfg seq2seq.Config, devSize, minCount, maxVocab int, lr float64, batch int, maxMem byteSize, stdout io.Writer) error {
	sp, rng, err := loadData(&meta, devSize, stdout)
	if err != nil {
		return err
	}
	m := &s2sModel{meta: meta}
	if meta.Task != nil {
		v := dataset.NewVocab([][]string{dataset.TaskTokens()}, 1, 0)
		m.src, m.tgt = v, v
		m.meta.Tokens = tokensChars
	} else {
		var ss, ts [][]string
		for _, p := range sp.train {
			ss, ts = append(ss, p.Src), append(ts, p.Tgt)
		}
		m.src, m.tgt = dataset.NewVocab(ss, minCount, maxVocab), dataset.NewVocab(ts, minCount, maxVocab)
		m.meta.Tokens = tokensWords
	}
	m.meta.Src, m.meta.Tgt = m.src.Tokens(), m.tgt.Tokens()
	cfg.SrcVocab, cfg.TgtVocab = m.src.Len(), m.tgt.Len()
	if err := cfg.Validate(); err != nil {
		return err
	}
	maxLen := 0
	for _, p := range sp.train {
		maxLen = max(maxLen, len(p.Src), len(p.Tgt))
	}
	if err := s2sTrainMemory(cfg, batch, maxLen).check("model", maxMem); err != nil {
		return err
	}
	if m.model, err = seq2seq.NewModel(cfg, rng.Split()); err != nil {
		return err
	}
	m.meta.Config = cfg
	r.m, r.sp, r.rng, r.best = m, sp, rng, math.Inf(1)
	if r.opt, err = optim.NewAdam(m.model.NamedParams(), optim.AdamConfig{LR: lr}); err != nil {
		return err
	}
	r.describe(stdout)
	return nil
}

// resume restores a run saved in dir.
func (r *trainRun) resume(dir string, devSize int, lr float64, allowNonFinite bool, stdout io.Writer) error {
	snap, err := modelio.Open(dir)
	if err != nil {
		return err
	}
	if snap.Kind() != checkpointKind {
		return fmt.Errorf("%s holds a %q checkpoint, not a seq2seq model", dir, snap.Kind())
	}
	if !snap.HasOptimizer() {
		return fmt.Errorf("%s has no optimizer state to resume from", dir)
	}
	var meta s2sMeta
	if err := snap.DecodeConfig(&meta); err != nil {
		return fmt.Errorf("%s: %v", dir, err)
	}
	if err := seq2seq.CheckSnapshot(snap, meta.Config); err != nil {
		return err
	}
	m, err := newS2SModel(dir, meta)
	if err != nil {
		return err
	}
	if r.sp, _, err = loadData(&m.meta, devSize, stdout); err != nil {
		return err
	}
	if r.opt, err = optim.NewAdam(m.model.NamedParams(), optim.AdamConfig{LR: lr}); err != nil {
		return err
	}
	r.m, r.rng = m, tensor.NewRNG(0)
	c := &modelio.Checkpoint{Kind: checkpointKind, Model: m.model, Optimizer: r.opt, RNGs: r.rngs(), AllowNonFinite: allowNonFinite}
	if err := snap.Restore(c); err != nil {
		return err
	}
	r.done, r.best = c.Epoch, meta.Training.DevLoss
	fmt.Fprintf(stdout, "resuming %s after epoch %d, step %d (dev loss %.4f, lr %.2g)\n", dir, r.done, c.Step, r.best, r.opt.LR())
	r.describe(stdout)
	return nil
}

// rngs are the generators a checkpoint saves.
func (r *trainRun) rngs() map[string]*tensor.RNG {
	return map[string]*tensor.RNG{"shuffle": r.rng, "dropout": r.m.model.RNG()}
}

func (r *trainRun) describe(stdout io.Writer) {
	cfg := r.m.meta.Config
	fmt.Fprintf(stdout, "vocabularies %d and %d; model: %v encoder (%d layer(s), bidirectional %v), %v attention, input feeding %v, %v bridge; %d parameters\n",
		cfg.SrcVocab, cfg.TgtVocab, cfg.Cell, max(cfg.Layers, 1), cfg.Bidirectional, cfg.Attention, cfg.InputFeeding, cfg.Bridge, nn.NumParams(r.m.model))
}

type trainOptions struct {
	epochs, batch, logEvery int
	decay                   float64
	budget                  time.Duration
	out                     string
	clip                    *optim.GradientClipping
	stderr                  io.Writer
}

// train runs epochs r.done+1 … o.epochs on train.RunTask, saving the
// model to o.out whenever the development loss improves.
func (r *trainRun) train(o trainOptions, stdout io.Writer) error {
	task := &s2sTrainTask{run: r, batch: o.batch}
	for i, s := range r.sp.heldSrc {
		task.dev = append(task.dev, dataset.Pair{Src: s, Tgt: r.sp.heldRefs[i][0]})
	}
	cfg := train.LoopConfig{
		Epochs: o.epochs, TimeLimit: o.budget, ReportEvery: o.logEvery, PlateauFactor: o.decay,
		SkipNonFinite: true, BestDir: o.out, MaxLoss: train.MaxLossFor(r.m.meta.Config.TgtVocab),
	}
	rep := &s2sReporter{w: stdout, task: task, clip: o.clip, budget: o.budget, out: o.out}
	ctx, stop := withSignals(context.Background(), o.stderr)
	defer stop()
	sum, err := train.RunTask(ctx, task, cfg, train.Progress{Epoch: r.done, Best: r.best}, rep)
	if err != nil {
		return err
	}
	if sum.StoppedBy == "interrupted" {
		cause, _ := context.Cause(ctx).(interrupted)
		fmt.Fprintf(stdout, "interrupted after %d steps; the best model so far is in %s\n", sum.Steps, o.out)
		return &exitError{code: cause.code(), msg: cause.Error()}
	}
	if sum.Skipped > 0 {
		fmt.Fprintf(stdout, "%d steps skipped for non-finite gradients\n", sum.Skipped)
	}
	if !sum.Improved {
		if sum.Epochs >= o.epochs {
			return fmt.Errorf("the checkpoint has already done %d of -epochs %d", sum.Epochs, o.epochs)
		}
		return fmt.Errorf("no model saved: the development loss never improved on %.4f", sum.BestValid)
	}
	fmt.Fprintf(stdout, "done in %s: best dev loss %.4f, model in %s\n", clock(sum.Elapsed), sum.BestValid, o.out)
	return nil
}

// s2sTrainTask is the seq2seq model's train.Task: teacher-forced batches of
// similar lengths, shuffled each epoch by the run's shuffling RNG, scored
// on the development pairs.
type s2sTrainTask struct {
	run     *trainRun
	batch   int
	batches [][]int
	dev     []dataset.Pair
	// The latest validation's greedy scores, for the reporter.
	score bleu.Score
	exact float64
}

func (t *s2sTrainTask) Optimizer() *optim.Optimizer { return t.run.opt }

func (t *s2sTrainTask) StartEpoch(int) (int, error) {
	tr := t.run.sp.train
	t.batches = dataset.Batches(len(tr), t.batch, func(i int) int { return len(tr[i].Tgt) }, t.run.rng)
	return len(t.batches), nil
}

func (t *s2sTrainTask) Step(k int) (float64, int, error) {
	m, tr := t.run.m, t.run.sp.train
	var src, tgt [][]int
	n := 0
	for _, i := range t.batches[k] {
		src = append(src, m.src.Encode(tr[i].Src))
		tgt = append(tgt, m.tgt.Encode(tr[i].Tgt))
		n += len(tr[i].Tgt) + 1
	}
	loss := m.model.Loss(src, tgt, autograd.Train)
	t.run.opt.ClearGrads()
	loss.Backward()
	if err := t.run.opt.Update(); err != nil {
		return 0, 0, err
	}
	return loss.Data.Item(), n, nil
}

func (t *s2sTrainTask) EndEpoch(int) {}

func (t *s2sTrainTask) Validate() (float64, bool, error) {
	var loss float64
	loss, t.score, t.exact = evalDev(t.run.m, t.dev, t.run.sp.heldSrc, t.run.sp.heldRefs, t.batch)
	return loss, true, nil
}

func (t *s2sTrainTask) Checkpoint(p train.Progress) *modelio.Checkpoint {
	r := t.run
	r.m.meta.Training = s2sTraining{Epochs: p.Epoch, Steps: r.opt.Steps(), Seconds: r.m.meta.Training.Seconds + p.Elapsed.Seconds(), DevLoss: p.Best, Examples: len(r.sp.train)}
	return &modelio.Checkpoint{
		Kind: checkpointKind, Config: r.m.meta, Model: r.m.model, Optimizer: r.opt, RNGs: r.rngs(),
		Step: r.opt.Steps(), Epoch: p.Epoch,
	}
}

// s2sReporter prints the progress of seq2seq training on stdout.
type s2sReporter struct {
	w      io.Writer
	task   *s2sTrainTask
	clip   *optim.GradientClipping
	budget time.Duration
	out    string
}

func (p *s2sReporter) Progress(e train.Event) {
	fmt.Fprintf(p.w, "epoch %d  step %d  batch %d/%d  loss %.4f  |g| %.2f  %.0f tokens/s  %s\n",
		e.Epoch, e.Step, e.Chunk, e.Chunks, e.Loss, p.clip.LastNorm(), e.RecentTokensPerSec, clock(e.Elapsed))
}

func (p *s2sReporter) Stopped(e train.Event) {
	fmt.Fprintf(p.w, "time budget %v reached in epoch %d after %d of %d batches\n", p.budget, e.Epoch, e.Chunk, e.Chunks)
}

func (p *s2sReporter) Validated(v train.Validation) {
	fmt.Fprintf(p.w, "epoch %d  train loss %.4f  dev loss %.4f  dev exact %.2f%%  dev BLEU %.2f (greedy)  lr %.2g  %s\n",
		v.Current, v.TrainLoss, v.Loss, 100*p.task.exact, 100*p.task.score.BLEU, v.LR, clock(v.Elapsed))
	if v.Best {
		fmt.Fprintf(p.w, "saved %s\n", p.out)
	}
}

func (p *s2sReporter) Logf(format string, args ...any) { fmt.Fprintf(p.w, format+"\n", args...) }

// readPairs reads a TSV file of sentence pairs: a regular file of at
// most maxTextSize bytes (a FIFO or device is refused at once), read no
// further than its size.
func readPairs(path string, maxWords int) ([]dataset.Pair, error) {
	f, size, err := boundedfile.Open(path, maxTextSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pairs, err := dataset.ReadTSV(io.LimitReader(f, size), dataset.ReadOptions{MaxWords: maxWords})
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
	hyps, _, err := decodeAll(context.Background(), m, srcs, seq2seq.DecodeOptions{}, batch)
	if err != nil {
		panic(err) // no deadline and checked inputs: a bug
	}
	score, exact = scoreHyps(hyps, refs)
	return sum / float64(toks), score, exact
}

// clock formats a duration as h:mm:ss.
func clock(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
