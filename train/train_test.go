package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

type quiet struct{}

func (quiet) Progress(Event)       {}
func (quiet) Validated(Validation) {}
func (quiet) Stopped(Event)        {}
func (quiet) Logf(string, ...any)  {}

// corpus returns a small generated text with structure to learn: words
// from a fixed set in a simple grammar.
func corpus(n int, seed uint64) string {
	rng := tensor.NewRNG(seed)
	subj := []string{"the cat", "a dog", "my friend", "the bird"}
	verb := []string{"sees", "likes", "finds", "eats"}
	obj := []string{"the fish", "a bone", "some seeds", "the ball"}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(subj[rng.IntN(4)] + " " + verb[rng.IntN(4)] + " " + obj[rng.IntN(4)] + ".\n")
	}
	return b.String()
}

func encode(t *testing.T, text string) (ids []int, vocab *seq.Vocab) {
	t.Helper()
	toks := seq.CharTokenizer{}.Tokenize(text)
	v, err := seq.NewVocab(toks, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v.Encode(toks), v
}

func unigramEntropy(ids []int, V int) float64 {
	counts := make([]float64, V)
	for _, id := range ids {
		counts[id]++
	}
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := c / float64(len(ids))
			h -= p * math.Log(p)
		}
	}
	return h
}

var tinyModel = lm.Config{Cell: "lstm", Tokenizer: "char", Emb: 16, Hidden: 48, Layers: 1}
var tinyTrain = Config{Batch: 8, BPTT: 20, Epochs: 3, Optimizer: "adam", LR: 1e-2, Clip: 5, Seed: 1}

// TestTrainLearns trains a tiny model end to end and checks that the
// validation loss falls well below the unigram entropy, and that the
// outputs (checkpoints, metrics, plot) are there.
func TestTrainLearns(t *testing.T) {
	train, vocab := encode(t, corpus(12000, 1))
	valid := vocab.Encode(seq.CharTokenizer{}.Tokenize(corpus(2000, 2)))
	mc := tinyModel
	mc.Vocab = vocab.Len()
	dir := t.TempDir()
	tr, err := New(mc, tinyTrain, vocab.Tokens(), dir, quiet{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := tr.Run(context.Background(), train, valid)
	if err != nil {
		t.Fatal(err)
	}
	h := unigramEntropy(train, vocab.Len())
	if !(sum.BestValid < 0.6*h) {
		t.Fatalf("best validation %.3f nats, want < 0.6 × unigram entropy %.3f", sum.BestValid, h)
	}
	for _, f := range []string{"best/checkpoint.json", "last/checkpoint.json", "metrics.jsonl", "curves.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "curves.png")); err == nil && fi.Mode().Perm() != 0o644 {
		t.Errorf("curves.png mode %v, want -rw-r--r--", fi.Mode())
	}
	if sum.Epochs != 3 || sum.StoppedBy != "epochs" {
		t.Fatalf("summary %+v", sum)
	}
}

// hooked is a quiet Reporter that calls progress after every reported
// step.
type hooked struct {
	quiet
	progress func(Event)
}

func (h hooked) Progress(e Event) { h.progress(e) }

// TestResumeIsExact: a run interrupted mid-epoch and resumed from its
// checkpoint ends with bit-identical parameters to an uninterrupted run,
// whether it was stopped by a time limit, by a signal (the context
// cancelled during a step), or crashed after a periodic save (the
// checkpoint copied as it was on disk right after the save).
func TestResumeIsExact(t *testing.T) {
	train, vocab := encode(t, corpus(6000, 3))
	valid := vocab.Encode(seq.CharTokenizer{}.Tokenize(corpus(800, 4)))
	mc := tinyModel
	mc.Vocab = vocab.Len()
	mc.Dropout = 0.2 // the dropout RNG must resume too
	cfg := tinyTrain
	cfg.Epochs = 2

	full, err := New(mc, cfg, vocab.Tokens(), t.TempDir(), quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := full.Run(context.Background(), train, valid); err != nil {
		t.Fatal(err)
	}

	for _, how := range []string{"time limit", "signal", "periodic save"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := cfg
			if how == "periodic save" {
				c.SaveEverySteps = 10
			}
			crashed := filepath.Join(t.TempDir(), "crashed")
			var rep Reporter = quiet{}
			switch how {
			case "signal":
				rep = hooked{progress: func(e Event) {
					if e.Step == 25 {
						cancel() // a signal during step 25
					}
				}}
			case "periodic save":
				rep = hooked{progress: func(e Event) {
					if e.Step == 21 { // the save after update 20 is on disk
						if err := os.CopyFS(crashed, os.DirFS(filepath.Join(dir, "last"))); err != nil {
							t.Error(err)
						}
					}
				}}
			}
			part, err := New(mc, c, vocab.Tokens(), dir, rep)
			if err != nil {
				t.Fatal(err)
			}
			part.stopAfter = 25 // mid-way through the first epoch's chunks
			part.reportEvery = 1
			if how == "signal" {
				part.stopAfter = 0
			}
			sum, err := part.Run(ctx, train, valid)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"time limit": "time limit", "signal": "interrupted", "periodic save": "time limit"}[how]
			if sum.StoppedBy != want || sum.Epochs != 0 {
				t.Fatalf("interrupted run: %+v", sum)
			}
			from := part.LastDir()
			if how == "periodic save" {
				from = crashed
			}
			resumed, err := Resume(from, ResumeOptions{}, dir, quiet{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := resumed.Run(context.Background(), train, valid); err != nil {
				t.Fatal(err)
			}
			a, b := full.Model().Params(), resumed.Model().Params()
			for i := range a {
				if !tensor.Equal(a[i].Data, b[i].Data) {
					t.Fatalf("parameter %s differs after resuming", a[i].Name)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []Config{
		{Batch: 0, BPTT: 10, Epochs: 1, Optimizer: "sgd", LR: 1},
		{Batch: 2, BPTT: 10, Epochs: 0, Optimizer: "sgd", LR: 1},
		{Batch: 2, BPTT: 10, Epochs: 1, Optimizer: "lbfgs", LR: 1},
		{Batch: 2, BPTT: 10, Epochs: 1, Optimizer: "sgd", LR: 0},
		{Batch: 2, BPTT: 10, Epochs: 1, Optimizer: "sgd", LR: 1, Clip: -1},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := Resume(t.TempDir(), ResumeOptions{}, t.TempDir(), quiet{}); err == nil {
		t.Error("resuming from an empty directory succeeded")
	}
}
