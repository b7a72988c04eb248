package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
	"github.com/kioku-ml/kioku/train"
)

func init() {
	commands["train"] = command{summary: "train a character- or word-level language model", run: runTrain}
	commands["eval"] = command{summary: "evaluate a trained language model (perplexity, bits per character)", run: runEval}
	commands["sample"] = command{summary: "generate text from a trained language model", run: runSample}
}

// trainFlags are the flags of "kioku train".
type trainFlags struct {
	data, valid, test, level string
	maxVocab                 int
	cell                     string
	emb, hidden, layers      int
	dropout, initScale       float64
	tie, layerNorm           bool
	batch, bptt, epochs      int
	optimizer                string
	lr, lrDecay, clip        float64
	lrKeep, evalEvery        int
	evalBatch                int
	seed                     uint64
	timeLimit                time.Duration
	out, resume              string
	sampleLen                int
	corpusBytes              int
	timeLimitSet             bool
	allowNonFinite           bool
	maxMemory                *byteSize
	saveEvery                saveEvery
	force                    bool
	set                      map[string]bool // the flags given
}

// resumeFlags are the flags that may be given with -resume: where the
// data and the output are, how long the resumed run goes on, and how
// strictly the checkpoint is read. Every other flag describes the model
// or the training and comes from the checkpoint, so that the resumed run
// continues exactly.
var resumeFlags = []string{"resume", "data", "valid", "test", "out", "epochs", "time-limit", "save-every", "sample", "corpus-bytes", "max-memory", "allow-nonfinite"}

const trainHelp = `Usage: kioku train [flags]

Trains a recurrent language model (embedding → LSTM/GRU layers → linear)
by truncated backpropagation through time, validating each epoch and
keeping the best checkpoint in OUT/best (and the latest in OUT/last).

With no -data it learns a character-level model of the Go source code of
the local Go installation (go env GOROOT, *.go files in a fixed order, every
20th file held out for validation) for -time-limit (default 3m), then
prints a sample. With -data it trains on that text file; -valid and -test
name held-out files (without -valid the last 5% of -data is held out).
Word level follows the Penn Treebank convention (each newline is <eos>).

Flags:
`

func runTrain(args []string, stdout, stderr io.Writer) error {
	var f trainFlags
	fs := flag.NewFlagSet("kioku train", flag.ContinueOnError)
	fs.StringVar(&f.data, "data", "", "training text `file` (default: the Go source corpus)")
	fs.StringVar(&f.valid, "valid", "", "validation text `file`")
	fs.StringVar(&f.test, "test", "", "test text `file`, evaluated with the best model at the end")
	fs.StringVar(&f.level, "level", "char", "tokens: char or word")
	fs.IntVar(&f.maxVocab, "max-vocab", 0, "keep at most this many tokens (0: all)")
	fs.StringVar(&f.cell, "model", "lstm", "recurrent cell: lstm or gru")
	fs.IntVar(&f.emb, "emb", 128, "embedding size")
	fs.IntVar(&f.hidden, "hidden", 256, "hidden units per layer")
	fs.IntVar(&f.layers, "layers", 2, "recurrent layers")
	fs.Float64Var(&f.dropout, "dropout", 0, "dropout on non-recurrent connections (Zaremba et al.)")
	fs.BoolVar(&f.tie, "tie", false, "tie the embedding and output weights (needs emb = hidden)")
	fs.BoolVar(&f.layerNorm, "layer-norm", false, "layer-normalised recurrent layers (Ba et al. 2016)")
	fs.Float64Var(&f.initScale, "init-scale", 0, "initialise weights from U(-s, s) (0: PyTorch's defaults)")
	fs.IntVar(&f.batch, "batch", 32, "parallel streams (rows) per chunk")
	fs.IntVar(&f.bptt, "bptt", 64, "truncated BPTT length (tokens per chunk)")
	fs.IntVar(&f.epochs, "epochs", 0, "passes over the training data (default 10, or 1000 with the embedded corpus's time limit)")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "sgd or adam")
	fs.Float64Var(&f.lr, "lr", 0, "learning rate (default 2e-3 for adam, 1 for sgd)")
	fs.IntVar(&f.lrKeep, "lr-keep", 4, "epochs at the initial learning rate before decay")
	fs.Float64Var(&f.lrDecay, "lr-decay", 1, "divide the learning rate by this each epoch after -lr-keep (1: constant)")
	fs.Float64Var(&f.clip, "clip", 5, "clip gradients to this global norm (0: off)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed (same seed, same run)")
	fs.DurationVar(&f.timeLimit, "time-limit", 0, "stop after this long, then validate and save (0: no limit; 3m by default with the embedded corpus)")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "also validate every this many chunks (0: each epoch only)")
	fs.IntVar(&f.evalBatch, "eval-batch", 0, "parallel streams for validation (0: -batch; 1 reads the validation text as one stream, every token with its full left context)")
	fs.StringVar(&f.out, "out", "kioku-lm", "output `dir`ectory (checkpoints, metrics.jsonl, curves.png)")
	fs.StringVar(&f.resume, "resume", "", "continue the run saved in this checkpoint `dir` (e.g. OUT/last)")
	fs.IntVar(&f.sampleLen, "sample", 400, "tokens to sample after training (0: none)")
	fs.IntVar(&f.corpusBytes, "corpus-bytes", 8<<20, "bytes of Go source to read for the embedded corpus")
	f.maxMemory = addMaxMemoryFlag(fs)
	fs.BoolVar(&f.allowNonFinite, "allow-nonfinite", false, "with -resume, restore weights and optimizer state holding NaN or ±Inf (refused by default; for debugging)")
	fs.Var(&f.saveEvery, "save-every", "also write OUT/last every this `often`: a duration (10m) or a number of updates (500); 0: at the end of each epoch only")
	fs.BoolVar(&f.force, "force", false, "start a new run in -out even if it holds another run (its checkpoints and metrics are removed)")
	setUsage(fs, trainHelp)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kioku train: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	f.timeLimitSet = f.set["time-limit"]
	ctx, stop := withSignals(context.Background(), stderr)
	defer stop()
	rep := newReporter(stderr)
	var (
		tr                *train.Trainer
		trainIDs          *seq.IDs
		validIDs, testIDs []int
		vocab             *seq.Vocab
		tok               seq.Tokenizer
		err               error
	)
	if f.resume != "" {
		if err := f.checkResumeFlags(); err != nil {
			return err
		}
		opts := train.ResumeOptions{Epochs: f.epochs, TimeLimit: f.timeLimit, SaveEvery: f.saveEvery.every, SaveEverySteps: f.saveEvery.steps, AllowNonFinite: f.allowNonFinite}
		var c *corpus
		if f.data == "" {
			if !f.timeLimitSet {
				opts.TimeLimit = 3 * time.Minute // as the run it continues
			}
			rep.Logf("reading the Go source corpus of %s", goroot())
			trainText, validText, err := goCorpus(goroot(), f.corpusBytes)
			if err != nil {
				return err
			}
			c = stringCorpus(trainText, validText)
		} else if c, err = openCorpus(f.data, f.valid, f.test); err != nil {
			return err
		}
		defer c.Close()
		if tr, err = train.Resume(f.resume, opts, f.out, rep); err != nil {
			return err
		}
		if vocab, err = seq.VocabFromTokens(tr.Vocab()); err != nil {
			return err
		}
		if tok, err = seq.TokenizerByName(tr.Model().Config().Tokenizer); err != nil {
			return err
		}
		counter, err := c.check(tok)
		if err != nil {
			return err
		}
		// The model and optimizer are in memory already (no larger than
		// the checkpoint's files); the activations of the saved batch and
		// the ids are not yet.
		if err := lmTrainMemory(tr.Model().Config(), tr.Config(), counter.Total(), idBytesFor(vocab), c.tokens[1]+c.tokens[2]).check("model", *f.maxMemory); err != nil {
			return err
		}
		if trainIDs, validIDs, testIDs, err = c.encode(tok, vocab); err != nil {
			return err
		}
	} else {
		mc, tc, err := f.configs()
		if err != nil {
			return err
		}
		if err := claimOut(f.out, f.force); err != nil {
			return err
		}
		if tok, err = seq.TokenizerByName(f.level); err != nil {
			return err
		}
		var c *corpus
		if f.data == "" {
			if f.level != "char" {
				return errors.New("the embedded Go corpus is character level; use -level char or give -data")
			}
			rep.Logf("reading the Go source corpus of %s", goroot())
			trainText, validText, err := goCorpus(goroot(), f.corpusBytes)
			if err != nil {
				return err
			}
			c = stringCorpus(trainText, validText)
		} else if c, err = openCorpus(f.data, f.valid, f.test); err != nil {
			return err
		}
		defer c.Close()
		// Before reading: the model of the sizes asked for, with the
		// smallest vocabulary, and a token per byte (the activations
		// wait for the data's size to be known).
		held := c.bytes(1) + c.bytes(2)
		early := lmTrainMemory(mc, tc, c.bytes(0), 2, held)
		early.activations = 0
		if err := early.check("model", *f.maxMemory); err != nil {
			return err
		}
		counter, err := c.check(tok)
		if err != nil {
			return err
		}
		if vocab, err = counter.Vocab(1, f.maxVocab, seq.VocabOptions{}); err != nil {
			return err
		}
		mc.Vocab = vocab.Len()
		if err := mc.Validate(); err != nil {
			return err
		}
		if counter.Total() < 2*int64(tc.Batch) {
			return fmt.Errorf("training data has %d tokens, too few for a batch of %d", counter.Total(), tc.Batch)
		}
		if err := lmTrainMemory(mc, tc, counter.Total(), idBytesFor(vocab), c.tokens[1]+c.tokens[2]).check("model", *f.maxMemory); err != nil {
			return err
		}
		if trainIDs, validIDs, testIDs, err = c.encode(tok, vocab); err != nil {
			return err
		}
		if tr, err = train.New(mc, tc, vocab.Tokens(), f.out, rep); err != nil {
			return err
		}
	}
	limitGCHeadroom(trainIDs.Bytes() + 8*int64(len(validIDs)+len(testIDs)))
	mc := tr.Model().Config()
	rep.Logf("%d training and %d validation tokens, vocabulary %d; %d×%d %s, %d parameters", trainIDs.Len(), len(validIDs), vocab.Len(), mc.Layers, mc.Hidden, mc.Cell, numParams(tr))
	sum, err := tr.RunIDs(ctx, trainIDs, validIDs)
	rep.Done()
	if err != nil {
		return err
	}
	if sum.StoppedBy == "interrupted" {
		cause, _ := context.Cause(ctx).(interrupted)
		fmt.Fprintf(stdout, "\ninterrupted after %d steps, %d tokens; latest checkpoint: %s\nresume with:\n  %s\n", sum.Steps, sum.Tokens, sum.LastDir, f.resumeCommand(sum.LastDir))
		return &exitError{code: cause.code(), msg: cause.Error()}
	}
	fmt.Fprintf(stdout, "\ntrained %d epochs, %d steps, %d tokens in %s (stopped by %s)\n", sum.Epochs, sum.Steps, sum.Tokens, sum.Elapsed.Round(time.Second), sum.StoppedBy)
	if !math.IsNaN(sum.BestValid) {
		fmt.Fprintf(stdout, "best validation: %s\n", describeLoss(sum.BestValid, mc.Tokenizer))
	}
	fmt.Fprintf(stdout, "best model: %s\nlatest checkpoint: %s\nmetrics: %s\n", sum.BestDir, sum.LastDir, sum.MetricsLog)
	if sum.Plot != "" {
		fmt.Fprintf(stdout, "curves: %s\n", sum.Plot)
	}
	model := tr.Model() // without validation data, the final model
	if best, _, err := lm.Load(sum.BestDir); err == nil {
		model = best
	}
	if len(testIDs) > 1 {
		loss, err := model.Evaluate(ctx, testIDs, 1, 64)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "test: %s\n", describeLoss(loss, mc.Tokenizer))
	}
	if f.sampleLen > 0 {
		prime := "func "
		if mc.Tokenizer == "word" {
			prime = "the"
		}
		text, err := sampleText(model, vocab, tok, prime, lm.SampleConfig{Length: f.sampleLen, Temperature: 0.8}, f.seed)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nsample (temperature 0.8):\n%s%s\n", prime, text)
	}
	return nil
}

// idBytesFor returns the bytes a token id takes in a seq.IDs of vocab.
func idBytesFor(vocab *seq.Vocab) int64 {
	if vocab.Len() > 1<<16 {
		return 4
	}
	return 2
}

// checkResumeFlags returns an error listing the flags given with
// -resume that the checkpoint decides.
func (f *trainFlags) checkResumeFlags() error {
	var bad []string
	for name := range f.set {
		if !slices.Contains(resumeFlags, name) {
			bad = append(bad, "-"+name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("-resume continues the saved run with its own model and training settings; remove %s (with -resume only %s may be given)",
		strings.Join(bad, ", "), "-"+strings.Join(resumeFlags[1:], ", -"))
}

// resumeCommand returns the command that resumes the run from last.
func (f *trainFlags) resumeCommand(last string) string {
	args := []string{"kioku", "train", "-resume", last, "-out", f.out}
	for _, fl := range []struct{ name, value string }{{"data", f.data}, {"valid", f.valid}, {"test", f.test}} {
		if fl.value != "" {
			args = append(args, "-"+fl.name, fl.value)
		}
	}
	if f.set["epochs"] {
		args = append(args, "-epochs", strconv.Itoa(f.epochs))
	}
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$\\") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(args, " ")
}

// runFiles are what a training run writes into its output directory.
var runFiles = []string{"last", "best", "metrics.jsonl", "curves.png"}

// claimOut makes out ready for a new run: it refuses when out holds
// another run's files, unless force is set, which removes them (and
// nothing else in out).
func claimOut(out string, force bool) error {
	var found []string
	for _, name := range runFiles {
		if _, err := os.Lstat(filepath.Join(out, name)); err == nil {
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("%s holds another run (%s); continue it with -resume %s, start over with -force, or choose another -out",
			out, strings.Join(found, ", "), filepath.Join(out, "last"))
	}
	for _, name := range found {
		if err := os.RemoveAll(filepath.Join(out, name)); err != nil {
			return err
		}
	}
	return nil
}

func numParams(tr *train.Trainer) int {
	n := 0
	for _, p := range tr.Model().Params() {
		n += p.Size()
	}
	return n
}

// configs turns the flags into model and training configurations.
func (f *trainFlags) configs() (lm.Config, train.Config, error) {
	embedded := f.data == ""
	tc := train.Config{Batch: f.batch, BPTT: f.bptt, Epochs: f.epochs, Optimizer: f.optimizer, LR: f.lr, LRKeep: f.lrKeep, LRDecay: f.lrDecay, Clip: f.clip, Seed: f.seed, EvalEvery: f.evalEvery, EvalBatch: f.evalBatch,
		SaveEvery: f.saveEvery.every, SaveEverySteps: f.saveEvery.steps}
	if tc.Epochs == 0 {
		tc.Epochs = 10
		if embedded {
			tc.Epochs = 1000
		}
	}
	if tc.LR == 0 {
		tc.LR = 2e-3
		if tc.Optimizer == "sgd" {
			tc.LR = 1
		}
	}
	tc.TimeLimit = f.timeLimit
	if embedded && !f.timeLimitSet {
		tc.TimeLimit = 3 * time.Minute
	}
	if embedded && tc.EvalEvery == 0 {
		tc.EvalEvery = 500
	}
	mc := lm.Config{Cell: f.cell, Tokenizer: f.level, Vocab: 3, Emb: f.emb, Hidden: f.hidden, Layers: f.layers, Dropout: f.dropout, Tie: f.tie, InitScale: f.initScale, LayerNorm: f.layerNorm}
	if err := mc.Validate(); err != nil {
		return mc, tc, err
	}
	return mc, tc, tc.Validate()
}

// goroot returns the root of the local Go installation.
func goroot() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return s
		}
	}
	return runtime.GOROOT()
}

// goCorpus reads about maxBytes of the hand-written *.go files under
// root/src: the files are listed in lexical path order, generated files
// ("Code generated … DO NOT EDIT") and testdata are skipped, and when the
// tree is larger than maxBytes every s-th file is taken so that the corpus
// spans the whole tree. Every 20th file taken goes to validation.
func goCorpus(root string, maxBytes int) (trainText, validText string, err error) {
	src := filepath.Join(root, "src")
	type file struct {
		path string
		size int64
	}
	var files []file
	var total int64
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() == 0 || info.Size() > 256<<10 {
			return nil
		}
		files = append(files, file{path, info.Size()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("reading the Go source corpus: %w", err)
	}
	sort.Slice(files, func(a, b int) bool { return files[a].path < files[b].path })
	if len(files) < 40 {
		return "", "", fmt.Errorf("found only %d Go files under %s; give -data", len(files), src)
	}
	stride := max(1, int(total/int64(max(maxBytes, 1))))
	var tb, vb strings.Builder
	taken := 0
	for i := 0; i < len(files) && tb.Len()+vb.Len() < maxBytes; i += stride {
		b, err := os.ReadFile(files[i].path)
		if err != nil || seq.CheckText(b) != nil || generated(b) {
			continue
		}
		if taken%20 == 19 {
			vb.Write(b)
		} else {
			tb.Write(b)
		}
		taken++
	}
	return tb.String(), vb.String(), nil
}

// generated reports whether a Go file says it was generated by a tool.
func generated(b []byte) bool {
	head := string(b[:min(len(b), 2048)])
	return strings.Contains(head, "Code generated") && strings.Contains(head, "DO NOT EDIT")
}

// describeLoss formats a loss in nats per token with perplexity, and bits
// per character for character models.
func describeLoss(loss float64, level string) string {
	s := fmt.Sprintf("%.4f nats/token, perplexity %.2f", loss, math.Exp(loss))
	if level == "char" {
		s += fmt.Sprintf(", %.4f bits/char", loss/math.Ln2)
	}
	return s
}

// sampleText primes the model with prime and returns the sampled
// continuation as text.
func sampleText(m *lm.Model, vocab *seq.Vocab, tok seq.Tokenizer, prime string, cfg lm.SampleConfig, seed uint64) (string, error) {
	var b strings.Builder
	_, err := writeSample(context.Background(), &b, m, vocab, tok, prime, cfg, seed)
	return b.String(), err
}

// writeSample primes the model with prime and writes the sampled
// continuation to w as it is generated, one token at a time, each
// flushed, until cfg.Length tokens or a stop, or until ctx is done (it
// then returns ctx.Err() after the tokens drawn so far). It returns the
// number of tokens written. The text is what tok.Join writes for the
// tokens, with a space before the first word of a word-level sample.
func writeSample(ctx context.Context, w io.Writer, m *lm.Model, vocab *seq.Vocab, tok seq.Tokenizer, prime string, cfg lm.SampleConfig, seed uint64) (int, error) {
	ids := vocab.Encode(tok.Tokenize(prime))
	if len(ids) == 0 {
		ids = []int{vocab.ID(seq.EOS)}
	}
	bw := bufio.NewWriter(w)
	n, prev := 0, ""
	for id, err := range m.Stream(ctx, ids, cfg, tensor.NewRNG(seed)) {
		if err != nil {
			if ferr := bw.Flush(); ferr != nil {
				return n, ferr
			}
			return n, err
		}
		t := vocab.Token(id)
		bw.WriteString(nextText(tok, prev, t, n == 0))
		if err := bw.Flush(); err != nil {
			return n, err
		}
		prev = t
		n++
	}
	return n, bw.Flush()
}

// nextText returns the text token t adds after the tokens before it
// (prev the last of them; first when there are none), as tok.Join writes
// them: EOS as a newline, words after a space except at the start of a
// line, and a space before the first word of a word-level continuation.
func nextText(tok seq.Tokenizer, prev, t string, first bool) string {
	if t == seq.EOS {
		return "\n"
	}
	if tok.Name() == "word" && (first || prev != seq.EOS) {
		return " " + t
	}
	return t
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku eval", flag.ContinueOnError)
	model := fs.String("model", "kioku-lm/best", "checkpoint `dir`ectory of a trained language model")
	data := fs.String("data", "", "text `file` to evaluate (required)")
	batch := fs.Int("batch", 16, "parallel streams")
	bptt := fs.Int("bptt", 64, "tokens per chunk")
	allowNonFinite := fs.Bool("allow-nonfinite", false, "load weights holding NaN or ±Inf (refused by default; for debugging a diverged model)")
	bf16 := fs.Bool("bf16", false, "compute the products from bfloat16 roundings (float32 accumulation; needs AVX512_BF16): faster, slightly different loss")
	setUsage(fs, "Usage: kioku eval -model DIR -data FILE\n\nPrints the model's loss on FILE: nats per token, perplexity and, for\ncharacter models, bits per character.\n\nFlags:\n")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *data == "" {
		fmt.Fprintln(stderr, "kioku eval: -data is required")
		return errUsage
	}
	if *batch <= 0 || *bptt <= 0 {
		return fmt.Errorf("-batch %d and -bptt %d must be positive", *batch, *bptt)
	}
	m, vocab, err := lm.LoadWith(*model, lm.LoadOptions{AllowNonFinite: *allowNonFinite})
	if err != nil {
		return err
	}
	tok, err := seq.TokenizerByName(m.Config().Tokenizer)
	if err != nil {
		return err
	}
	ids, err := encodeFile(*data, tok, vocab)
	if err != nil {
		return err
	}
	if *bf16 {
		if !fn.PrecisionAvailable(fn.BFloat16) {
			return errors.New("-bf16: this CPU has no AVX512_BF16")
		}
		m.SetPrecision(fn.BFloat16)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	loss, err := m.Evaluate(ctx, ids, *batch, *bptt)
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	fmt.Fprintf(stdout, "%s: %d tokens, %s\n", *data, len(ids), describeLoss(loss, m.Config().Tokenizer))
	return nil
}

func runSample(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku sample", flag.ContinueOnError)
	model := fs.String("model", "kioku-lm/best", "checkpoint `dir`ectory of a trained language model")
	prime := fs.String("prime", "", "text to start from (default: a newline)")
	length := fs.Int("length", 500, "tokens to generate")
	temp := fs.Float64("temperature", 0.8, "sampling temperature (lower is more conservative)")
	topK := fs.Int("top-k", 0, "sample among the k most likely tokens only (0: all)")
	seed := fs.Uint64("seed", 1, "random seed")
	allowNonFinite := fs.Bool("allow-nonfinite", false, "load weights holding NaN or ±Inf (refused by default; for debugging a diverged model)")
	setUsage(fs, "Usage: kioku sample -model DIR [flags]\n\nGenerates text from a trained language model.\n\nFlags:\n")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *length < 0 || *topK < 0 || !(*temp > 0) {
		return fmt.Errorf("-length %d and -top-k %d must not be negative and -temperature %v must be positive", *length, *topK, *temp)
	}
	m, vocab, err := lm.LoadWith(*model, lm.LoadOptions{AllowNonFinite: *allowNonFinite})
	if err != nil {
		return err
	}
	tok, err := seq.TokenizerByName(m.Config().Tokenizer)
	if err != nil {
		return err
	}
	p := *prime
	if p == "" {
		p = "\n"
	}
	// The sample streams: each token is written as it is drawn, and an
	// interrupt (Ctrl-C) ends it cleanly after the tokens so far.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprint(stdout, *prime)
	n, err := writeSample(ctx, stdout, m, vocab, tok, p, lm.SampleConfig{Length: *length, Temperature: *temp, TopK: *topK}, *seed)
	fmt.Fprintln(stdout)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "kioku sample: interrupted after %d tokens\n", n)
		return nil
	}
	return err
}
