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
	prime                    string
	validTokens              int
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
var resumeFlags = []string{"resume", "data", "valid", "test", "out", "epochs", "time-limit", "save-every", "sample", "prime", "valid-tokens", "corpus-bytes", "max-memory", "allow-nonfinite"}

const trainHelp = `Usage: kioku train [flags]

Trains a recurrent language model (embedding → LSTM/GRU layers → linear)
by truncated backpropagation through time, validating each epoch and
keeping the best checkpoint in OUT/best (and the latest in OUT/last).

With no -data it learns a character-level model of the Go source code of
the local Go installation (go env GOROOT, *.go files in a fixed order, every
20th file held out for validation) for -time-limit (default 3m), then
prints a sample primed with the start of the validation text (or -prime).
With -data it trains on that text file (on any file with -level byte,
every byte a token); -valid and -test name held-out files (without
-valid the last 5% of -data is held out). Word level follows the Penn
Treebank convention (each newline is <eos>).

The progress line's percentage and ETA measure the same thing: the time
limit when it ends the run first, else the steps of all epochs. A new
run refuses an -out holding another run (see -force and -resume).

Flags:
`

func runTrain(args []string, stdout, stderr io.Writer) error {
	var f trainFlags
	fs := flag.NewFlagSet("kioku train", flag.ContinueOnError)
	fs.StringVar(&f.data, "data", "", "training text `file` (default: the Go source corpus)")
	fs.StringVar(&f.valid, "valid", "", "validation text `file`")
	fs.StringVar(&f.test, "test", "", "test text `file`, evaluated with the best model at the end")
	fs.StringVar(&f.level, "level", "char", "tokens: char, word or byte (every byte a token: any file, text or not)")
	fs.IntVar(&f.maxVocab, "max-vocab", 0, "keep at most this many tokens (0: all)")
	fs.StringVar(&f.cell, "cell", "lstm", "recurrent `cell`: lstm or gru")
	fs.IntVar(&f.emb, "emb", 128, "embedding size")
	fs.IntVar(&f.hidden, "hidden", 256, "hidden units per layer")
	fs.IntVar(&f.layers, "layers", 2, "recurrent layers")
	fs.Float64Var(&f.dropout, "dropout", 0, "dropout on non-recurrent connections (Zaremba et al.)")
	fs.BoolVar(&f.tie, "tie", false, "tie the embedding and output weights (needs emb = hidden)")
	fs.BoolVar(&f.layerNorm, "layer-norm", false, "layer-normalised recurrent layers (Ba et al. 2016)")
	fs.Float64Var(&f.initScale, "init-scale", 0, "initialise weights from U(-s, s) (0: PyTorch's defaults)")
	fs.IntVar(&f.batch, "batch", 32, "parallel streams (rows) per chunk")
	fs.IntVar(&f.bptt, "bptt", 64, "truncated BPTT length (tokens per chunk)")
	fs.IntVar(&f.epochs, "epochs", 0, "passes over the training data, at least 1 (default 10, or 1000 with the embedded corpus's time limit)")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "sgd or adam")
	fs.Float64Var(&f.lr, "lr", 0, "learning rate (default 2e-3 for adam, 1 for sgd)")
	fs.IntVar(&f.lrKeep, "lr-keep", 4, "epochs at the initial learning rate before decay")
	fs.Float64Var(&f.lrDecay, "lr-decay", 1, "divide the learning rate by this each epoch after -lr-keep (1: constant)")
	fs.Float64Var(&f.clip, "clip", 5, "clip gradients to this global norm (0: off)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed (same seed, same run)")
	fs.DurationVar(&f.timeLimit, "time-limit", 0, "stop after this long, then validate and save (0: no limit; 3m by default with the embedded corpus)")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "also validate every this many chunks (0: each epoch only)")
	fs.IntVar(&f.validTokens, "valid-tokens", 0, "validate on the first this many validation tokens only, to bound a validation's time (0: all; give the same with -resume)")
	fs.IntVar(&f.evalBatch, "eval-batch", 0, "parallel streams for validation (0: -batch; 1 reads the validation text as one stream, every token with its full left context)")
	fs.StringVar(&f.out, "out", "kioku-lm", "output `dir`ectory (checkpoints, metrics.jsonl, curves.png)")
	fs.StringVar(&f.resume, "resume", "", "continue the run saved in this checkpoint `dir` (e.g. OUT/last)")
	fs.IntVar(&f.sampleLen, "sample", 400, "tokens to sample after training (0: none)")
	fs.StringVar(&f.prime, "prime", "", "text the sample after training starts from (default: the start of the validation text)")
	fs.IntVar(&f.corpusBytes, "corpus-bytes", 8<<20, "bytes of Go source to read for the embedded corpus")
	f.maxMemory = addMaxMemoryFlag(fs)
	fs.BoolVar(&f.allowNonFinite, "allow-nonfinite", false, "with -resume, restore weights and optimizer state holding NaN or ±Inf (refused by default; for debugging)")
	fs.Var(&f.saveEvery, "save-every", "also write OUT/last every this `often`: a duration (10m) or a number of updates (500); 0: at the end of each epoch only")
	fs.BoolVar(&f.force, "force", false, "start a new run in -out even if it holds another run (its checkpoints and metrics are removed)")
	as := aliases{}
	as.define(fs, "model", "cell")
	setUsage(fs, trainHelp)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kioku train: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	f.set = as.set(fs, stderr)
	if err := f.check(); err != nil {
		if checkCell(f.cell) != nil && isSet(fs, "model") {
			return fmt.Errorf("-model %q: kioku train takes the recurrent cell as -cell lstm|gru (-model is its deprecated spelling; elsewhere -model names a checkpoint: continue a run with -resume DIR)", f.cell)
		}
		return err
	}
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
		if f.data == "" && !f.timeLimitSet {
			opts.TimeLimit = 3 * time.Minute // as the run it continues
		}
		if tr, err = train.Resume(f.resume, opts, f.out, rep); err != nil {
			return err
		}
		if vocab, err = seq.VocabFromTokens(tr.Vocab()); err != nil {
			return err
		}
		if tok, err = tokenizerFor(tr.Model().Config().Tokenizer, vocab); err != nil {
			return err
		}
		var c *corpus
		if f.data == "" {
			rep.Logf("reading the Go source corpus of %s", goroot())
			trainText, validText, err := goCorpus(goroot(), f.corpusBytes)
			if err != nil {
				return err
			}
			c = stringCorpus(trainText, validText)
		} else if c, err = openCorpus(f.data, f.valid, f.test, tok, ""); err != nil {
			return err
		}
		defer c.Close()
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
		} else if c, err = openCorpus(f.data, f.valid, f.test, tok, notTextHint(f.level)); err != nil {
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
		if f.level == "byte" {
			vocab = seq.ByteVocab() // every byte, seen or not
		} else if vocab, err = counter.Vocab(1, f.maxVocab, seq.VocabOptions{}); err != nil {
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
	if f.validTokens > 0 && len(validIDs) > f.validTokens {
		rep.Logf("validating on the first %d of the %d validation tokens (-valid-tokens)", f.validTokens, len(validIDs))
		validIDs = validIDs[:f.validTokens:f.validTokens]
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
		fmt.Fprintf(stdout, "best validation: %s\n", describeLoss(sum.BestValid, tok.Name()))
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
		fmt.Fprintf(stdout, "test: %s\n", describeLoss(loss, tok.Name()))
	}
	if f.sampleLen > 0 {
		prime, from := f.prime, "-prime"
		if prime == "" {
			prime, from = primeFrom(validIDs, trainIDs, vocab, tok), "the start of the validation text"
		} else {
			warnUnknown(stderr, "kioku train", prime, tok, vocab)
		}
		text, err := sampleText(model, vocab, tok, prime, lm.SampleConfig{Length: f.sampleLen, Temperature: 0.8}, f.seed)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nsample (temperature 0.8, primed with %s):\n%s%s\n", from, prime, text)
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
// per character or byte for character and byte models.
func describeLoss(loss float64, level string) string {
	s := fmt.Sprintf("%.4f nats/token, perplexity %.2f", loss, math.Exp(loss))
	switch level {
	case "char":
		s += fmt.Sprintf(", %.4f bits/char", loss/math.Ln2)
	case "byte":
		s += fmt.Sprintf(", %.4f bits/byte", loss/math.Ln2)
	}
	return s
}

// tokenizerFor returns the tokenizer of a model whose configuration names
// tokenizer and whose vocabulary is vocab. A model saved as "char" with
// the vocabulary of every byte (seq.ByteVocab) is a byte-level model of
// the first kioku that had them, before lm.Config knew "byte".
func tokenizerFor(tokenizer string, vocab *seq.Vocab) (seq.Tokenizer, error) {
	if tokenizer == "char" && seq.IsByteVocab(vocab) {
		return seq.ByteTokenizer{}, nil
	}
	return seq.TokenizerByName(tokenizer)
}

// primeLen is the number of tokens of the data the post-training sample
// is primed with: the first line of the validation text, at most this
// many tokens.
const primeLen = 40

// primeFrom returns the text the post-training sample starts from: the
// first line (or first primeLen tokens) of the validation text, or of the
// training text without validation, so that the sample continues text
// like the data's, whatever it is.
func primeFrom(valid []int, train *seq.IDs, vocab *seq.Vocab, tok seq.Tokenizer) string {
	var ids []int
	if len(valid) > 0 {
		ids = valid[:min(len(valid), primeLen)]
	} else {
		ids = train.Ints(0, min(train.Len(), primeLen))
	}
	eos := vocab.ID(seq.EOS)
	// Start after the line breaks the text starts with (the held-out
	// part of -data starts at one), end after the next one.
	for len(ids) > 0 && ids[0] == eos {
		ids = ids[1:]
	}
	if i := slices.Index(ids, eos); i >= 0 {
		ids = ids[:i+1]
	}
	var toks []string
	for _, id := range ids {
		if id != vocab.UnknownID() {
			toks = append(toks, vocab.Token(id))
		}
	}
	text := tok.Join(toks)
	if strings.TrimSpace(text) == "" {
		return "\n"
	}
	return text
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
	toks := tok.Tokenize(prime)
	ids := vocab.Encode(toks)
	if len(ids) == 0 {
		ids = []int{vocab.ID(seq.EOS)}
	}
	bw := bufio.NewWriter(w)
	n, prev, first := 0, "", true
	if len(toks) > 0 && toks[len(toks)-1] == seq.EOS {
		prev, first = seq.EOS, false // a prime ending a line: no space before the first word
	}
	for id, err := range m.Stream(ctx, ids, cfg, tensor.NewRNG(seed)) {
		if err != nil {
			if ferr := bw.Flush(); ferr != nil {
				return n, ferr
			}
			return n, err
		}
		t := vocab.Token(id)
		bw.WriteString(nextText(tok, prev, t, first))
		if err := bw.Flush(); err != nil {
			return n, err
		}
		prev, first = t, false
		n++
	}
	return n, bw.Flush()
}

// nextText returns the text token t adds after the tokens before it
// (prev the last of them; first when there are none), as tok.Join writes
// them: EOS as a newline, words after a space except at the start of a
// line, and a space before the first word of a word-level continuation.
func nextText(tok seq.Tokenizer, prev, t string, first bool) string {
	if tok.Name() == "byte" {
		return tok.Join([]string{t})
	}
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
	m, vocab, err := lm.LoadWith(modelDir(*model, "kioku eval", stderr), lm.LoadOptions{AllowNonFinite: *allowNonFinite})
	if err != nil {
		return err
	}
	tok, err := tokenizerFor(m.Config().Tokenizer, vocab)
	if err != nil {
		return err
	}
	ids, err := encodeFile(*data, tok, vocab)
	if err != nil {
		return err
	}
	unk := unknownCount(ids, vocab)
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
	fmt.Fprintf(stdout, "%s: %d tokens, %s\n", *data, len(ids), describeLoss(loss, tok.Name()))
	fmt.Fprintf(stdout, "out of vocabulary: %d of %d tokens (%.2f%%), scored as %s\n", unk, len(ids), 100*float64(unk)/float64(max(len(ids), 1)), seq.Unknown)
	return nil
}

func runSample(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku sample", flag.ContinueOnError)
	model := fs.String("model", "kioku-lm/best", "checkpoint `dir`ectory of a trained language model")
	prime := fs.String("prime", "", "text to start from (default: a newline)")
	length := fs.Int("length", 500, "tokens to generate")
	temp := fs.Float64("temperature", 0.8, "sampling temperature (lower is more conservative; 0: greedy, the most likely token each time)")
	topK := fs.Int("top-k", 0, "sample among the k most likely tokens only (0: all)")
	seed := fs.Uint64("seed", 1, "random seed")
	allowNonFinite := fs.Bool("allow-nonfinite", false, "load weights holding NaN or ±Inf (refused by default; for debugging a diverged model)")
	setUsage(fs, "Usage: kioku sample -model DIR [flags]\n\nGenerates text from a trained language model.\n\nFlags:\n")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case *length < 0:
		return fmt.Errorf("-length %d: want 0 or more tokens", *length)
	case *topK < 0:
		return fmt.Errorf("-top-k %d: want 0 (all tokens) or more", *topK)
	case !(*temp >= 0) || math.IsInf(*temp, 0):
		return fmt.Errorf("-temperature %v: want a finite value ≥ 0 (0: greedy)", *temp)
	}
	cfg := lm.SampleConfig{Length: *length, Temperature: *temp, TopK: *topK}
	if *temp == 0 { // greedy: the most likely token, as seq2seq decode's -temperature 0
		cfg.Temperature, cfg.TopK = 1, 1
	}
	m, vocab, err := lm.LoadWith(modelDir(*model, "kioku sample", stderr), lm.LoadOptions{AllowNonFinite: *allowNonFinite})
	if err != nil {
		return err
	}
	tok, err := tokenizerFor(m.Config().Tokenizer, vocab)
	if err != nil {
		return err
	}
	p := *prime
	if p == "" {
		p = "\n"
	}
	// The sample streams: each token is written as it is drawn, and an
	// interrupt (Ctrl-C) ends it cleanly after the tokens so far.
	warnUnknown(stderr, "kioku sample", p, tok, vocab)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprint(stdout, *prime)
	n, err := writeSample(ctx, stdout, m, vocab, tok, p, cfg, *seed)
	fmt.Fprintln(stdout)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "kioku sample: interrupted after %d tokens\n", n)
		return nil
	}
	return err
}

// check refuses flag values that mean nothing, each with a one-line
// error naming the flag: a value given explicitly is never silently
// replaced by a default (-epochs 0 is refused, not read as 10).
func (f *trainFlags) check() error {
	switch {
	case f.set["epochs"] && f.epochs <= 0:
		return fmt.Errorf("-epochs %d: want at least 1 (leave it out for the default)", f.epochs)
	case f.set["lr"] && (!(f.lr > 0) || math.IsInf(f.lr, 0)):
		return fmt.Errorf("-lr %v: want a positive learning rate (leave it out for the default)", f.lr)
	case !(f.lrDecay >= 1) || math.IsInf(f.lrDecay, 0):
		return fmt.Errorf("-lr-decay %v: want a divisor of at least 1 (1: a constant learning rate)", f.lrDecay)
	case f.lrKeep < 0:
		return fmt.Errorf("-lr-keep %d: want 0 or more epochs", f.lrKeep)
	case f.sampleLen < 0:
		return fmt.Errorf("-sample %d: want 0 (no sample) or more tokens", f.sampleLen)
	case f.maxVocab < 0:
		return fmt.Errorf("-max-vocab %d: want 0 (all tokens) or more", f.maxVocab)
	case f.level == "byte" && f.maxVocab > 0:
		return errors.New("-max-vocab: a byte-level vocabulary always holds the 256 bytes")
	case f.emb <= 0 || f.hidden <= 0 || f.layers <= 0:
		return fmt.Errorf("-emb %d, -hidden %d and -layers %d must be at least 1", f.emb, f.hidden, f.layers)
	case f.batch <= 0 || f.bptt <= 0:
		return fmt.Errorf("-batch %d and -bptt %d must be at least 1", f.batch, f.bptt)
	case !(f.dropout >= 0 && f.dropout < 1):
		return fmt.Errorf("-dropout %v: want a probability in [0, 1)", f.dropout)
	case !(f.clip >= 0) || math.IsInf(f.clip, 0):
		return fmt.Errorf("-clip %v: want a norm ≥ 0 (0: off)", f.clip)
	case !(f.initScale >= 0) || math.IsInf(f.initScale, 0):
		return fmt.Errorf("-init-scale %v: want a scale ≥ 0 (0: the defaults)", f.initScale)
	case f.validTokens < 0:
		return fmt.Errorf("-valid-tokens %d: want 0 (all) or more", f.validTokens)
	case f.evalEvery < 0 || f.evalBatch < 0:
		return fmt.Errorf("-eval-every %d and -eval-batch %d must not be negative (0: the default)", f.evalEvery, f.evalBatch)
	case f.timeLimit < 0:
		return fmt.Errorf("-time-limit %v: want a duration ≥ 0 (0: no limit)", f.timeLimit)
	case f.corpusBytes <= 0:
		return fmt.Errorf("-corpus-bytes %d: want at least 1", f.corpusBytes)
	case f.optimizer != "adam" && f.optimizer != "sgd":
		return fmt.Errorf("-optimizer %q: want adam or sgd", f.optimizer)
	case f.level != "char" && f.level != "word" && f.level != "byte":
		return fmt.Errorf("-level %q: want char, word or byte", f.level)
	}
	return checkCell(f.cell)
}

// unknownCount returns how many of ids are vocab's unknown token.
func unknownCount(ids []int, vocab *seq.Vocab) int {
	unk := vocab.UnknownID()
	n := 0
	for _, id := range ids {
		if id == unk {
			n++
		}
	}
	return n
}

// warnUnknown warns on stderr about the tokens of prime that are not in
// vocab (the model reads them as the unknown token), naming a few.
func warnUnknown(stderr io.Writer, cmd, prime string, tok seq.Tokenizer, vocab *seq.Vocab) {
	var out []string
	n := 0
	for _, t := range tok.Tokenize(prime) {
		if vocab.ID(t) == vocab.UnknownID() && t != seq.Unknown {
			n++
			if len(out) < 5 && !slices.Contains(out, strconv.Quote(t)) {
				out = append(out, strconv.Quote(t))
			}
		}
	}
	if n > 0 {
		fmt.Fprintf(stderr, "%s: warning: %d prime tokens are not in the model's vocabulary and are read as %s: %s\n", cmd, n, seq.Unknown, strings.Join(out, ", "))
	}
}

// notTextHint is what follows the error for a -data file that is not
// text, at a -level that reads text.
func notTextHint(level string) string {
	if level == "byte" {
		return ""
	}
	return "; -level byte models any file, byte by byte"
}

// isSet reports whether the flag name was given on fs's command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
