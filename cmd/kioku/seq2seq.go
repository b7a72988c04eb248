package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
)

func init() {
	commands["seq2seq"] = command{summary: "train, run and evaluate encoder–decoder models (seq2seq train|decode|eval)", run: runSeq2seq}
}

// seq2seqCommands are the subcommands of "kioku seq2seq".
var seq2seqCommands = map[string]func(args []string, stdout, stderr io.Writer) error{
	"train":  runSeq2seqTrain,
	"decode": runSeq2seqDecode,
	"eval":   runSeq2seqEval,
}

func runSeq2seq(args []string, stdout, stderr io.Writer) error {
	help := func(w io.Writer) {
		fmt.Fprint(w, `Usage: kioku seq2seq <command> [flags]

Commands:

	train    train an encoder–decoder on a generated task (reverse, sort,
	         add) or on a file of tab-separated sentence pairs
	decode   read sentences on stdin and print the model's outputs
	eval     print exact-match accuracy and corpus BLEU on held-out data

Run "kioku seq2seq <command> -help" for the flags.
`)
	}
	if len(args) == 0 {
		help(stderr)
		return errUsage
	}
	return runSubcommand("kioku seq2seq", "command", seq2seqCommands, help, args, stdout, stderr)
}

// Token kinds: how text becomes tokens and back.
const (
	tokensChars = seq2seq.TokensChars // the generated tasks: one token per character
	tokensWords = seq2seq.TokensWords // dataset.Tokenize; outputs joined by spaces
)

// s2sMeta is what a model checkpoint records besides the weights: its
// configuration file, seq2seq.Meta (model, vocabularies, tokenisation)
// and what the model was trained on.
type s2sMeta struct {
	seq2seq.Meta
	// Task or Data says what the model was trained on.
	Task *s2sTask `json:"task,omitempty"`
	Data *s2sData `json:"data,omitempty"`
	// HeldOut and SplitSeed define the held-out split (dataset.Holdout).
	HeldOut   float64 `json:"held_out"`
	SplitSeed uint64  `json:"split_seed"`
	// Seed seeds the generated data, the initialisation and the batches.
	Seed uint64 `json:"seed"`
	// Training summarises the run.
	Training s2sTraining `json:"training"`
}

// holdout returns the held-out split of the model's data.
func (m *s2sMeta) holdout() dataset.Holdout {
	return dataset.Holdout{Frac: m.HeldOut, Seed: m.SplitSeed}
}

type s2sTask struct {
	Name      string `json:"name"`
	MinLen    int    `json:"min_len"`
	MaxLen    int    `json:"max_len"`
	TrainSize int    `json:"train_size"`
}

type s2sData struct {
	Path     string `json:"path"`
	MaxWords int    `json:"max_words"`
}

type s2sTraining struct {
	Epochs   int     `json:"epochs"`
	Steps    int     `json:"steps"`
	Seconds  float64 `json:"seconds"`
	DevLoss  float64 `json:"dev_loss"`
	Examples int     `json:"examples"`
}

// metaVersion is the version of s2sMeta.
const metaVersion = seq2seq.MetaVersion

// s2sModel is a loaded model with its vocabularies.
type s2sModel struct {
	meta     s2sMeta
	model    *seq2seq.Model
	src, tgt *seq.Vocab
}

// tokenize splits a line as the model's training data was split.
func (m *s2sModel) tokenize(line string) []string {
	if m.meta.Tokens == tokensChars {
		return dataset.Chars(line)
	}
	return dataset.Tokenize(line)
}

// detokenize joins output tokens.
func (m *s2sModel) detokenize(toks []string) string {
	if m.meta.Tokens == tokensChars {
		return strings.Join(toks, "")
	}
	return strings.Join(toks, " ")
}

// checkpointKind is the modelio checkpoint kind of seq2seq models.
const checkpointKind = seq2seq.Kind

// loadModel reads the model of a checkpoint written by seq2seq train
// (seq2seq.LoadWith) and the rest of its metadata; allowNonFinite loads
// weights holding NaN or ±Inf.
func loadModel(dir string, allowNonFinite bool) (*s2sModel, error) {
	l, err := seq2seq.LoadWith(dir, seq2seq.LoadOptions{AllowNonFinite: allowNonFinite})
	if err != nil {
		return nil, err
	}
	m := &s2sModel{model: l.Model, src: l.Src, tgt: l.Tgt}
	if err := l.Snapshot.DecodeConfig(&m.meta); err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	if err := m.meta.checkData(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// newS2SModel checks the metadata of the checkpoint in dir and builds its
// vocabularies and an untrained model.
func newS2SModel(dir string, meta s2sMeta) (*s2sModel, error) {
	m := &s2sModel{meta: meta}
	var err error
	if m.model, m.src, m.tgt, err = meta.Build(dir); err != nil {
		return nil, err
	}
	if err := meta.checkData(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// checkData checks that the metadata names what the model was trained on.
func (m *s2sMeta) checkData(dir string) error {
	if (m.Task == nil) == (m.Data == nil) {
		return fmt.Errorf("%s: the metadata must name a task or a data file", dir)
	}
	return nil
}

// readLines reads the non-empty lines of r, trimmed; it returns an error
// naming the first empty line, since an empty sentence has no translation.
func readLines(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var lines []string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			return nil, fmt.Errorf("input line %d is empty", n)
		}
		lines = append(lines, line)
	}
	return lines, sc.Err()
}
