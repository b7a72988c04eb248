// Command regularization compares the regularisation and normalisation
// options of kioku's LSTM on a character-level language model of tiny
// Shakespeare, with the same budget of training tokens for each.
//
//	go run ./examples/regularization -data ../shared/data/tinyshakespeare/input.txt
//
// For each variant it trains embedding → LSTM → linear with Adam and
// gradient clipping by truncated BPTT (the state carried across chunks),
// then prints the validation loss in nats per character on held-out text.
// docs/regularization.md records a run.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/examples/internal/fit"
	"github.com/kioku-ml/kioku/examples/internal/seqmodel"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// variant is one configuration under comparison.
type variant struct {
	name string
	cfg  nn.RecurrentConfig
}

func variants() []variant {
	return []variant{
		{"none", nn.RecurrentConfig{}},
		{"dropout (Zaremba: input/between/output 0.25)", nn.RecurrentConfig{Dropout: 0.25, Regularization: nn.Regularization{InputDropout: 0.25, OutputDropout: 0.25}}},
		{"variational (Gal: input/hidden 0.25)", nn.RecurrentConfig{Regularization: nn.Regularization{VariationalInput: 0.25, VariationalHidden: 0.25}}},
		{"recurrent dropout (Semeniuta: 0.25)", nn.RecurrentConfig{Regularization: nn.Regularization{RecurrentDropout: 0.25}}},
		{"zoneout (Krueger: h 0.05, c 0.25)", nn.RecurrentConfig{Regularization: nn.Regularization{ZoneoutH: 0.05, ZoneoutC: 0.25}}},
		{"weight drop (DropConnect on W_hh 0.3)", nn.RecurrentConfig{Regularization: nn.Regularization{WeightDrop: 0.3}}},
		{"layer norm (Ba et al.)", nn.RecurrentConfig{Norm: fn.LayerNormKind}},
		{"recurrent batch norm (Cooijmans et al.)", nn.RecurrentConfig{Norm: fn.BatchNormKind}},
	}
}

// options are the experiment's settings.
type options struct {
	data                string
	tokens, valTokens   int
	hidden, layers, emb int
	batch, bptt         int
	lr, clip            float64
	seed                uint64
	only                string
}

func main() {
	var o options
	flag.StringVar(&o.data, "data", "../shared/data/tinyshakespeare/input.txt", "training text (the last 10% is held out)")
	flag.IntVar(&o.tokens, "tokens", 1_500_000, "training characters per variant")
	flag.IntVar(&o.valTokens, "val-tokens", 100_000, "held-out characters to evaluate")
	flag.IntVar(&o.hidden, "hidden", 256, "LSTM units")
	flag.IntVar(&o.layers, "layers", 2, "LSTM layers")
	flag.IntVar(&o.emb, "emb", 64, "embedding size")
	flag.IntVar(&o.batch, "batch", 32, "parallel streams")
	flag.IntVar(&o.bptt, "bptt", 64, "truncated BPTT length")
	flag.Float64Var(&o.lr, "lr", 2e-3, "Adam learning rate")
	flag.Float64Var(&o.clip, "clip", 5, "gradient clipping threshold (global norm)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.only, "only", "", "run only the variants whose name contains this")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "regularization:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	text, err := os.ReadFile(o.data)
	if err != nil {
		return err
	}
	if len(text) < 1000 {
		return fmt.Errorf("%s: only %d bytes", o.data, len(text))
	}
	ids, V := encode(text)
	train, val := splitData(ids, o.valTokens)
	fmt.Printf("tiny Shakespeare: %d train / %d validation characters, vocabulary %d; %d×%d LSTM, batch %d, BPTT %d, %d training characters per variant\n\n",
		len(train), len(val)-1, V, o.layers, o.hidden, o.batch, o.bptt, o.tokens)
	fmt.Printf("| variant | validation nats/char | train nats/char (last 10%%) | time |\n| --- | --- | --- | --- |\n")
	for _, v := range variants() {
		if o.only != "" && !strings.Contains(v.name, o.only) {
			continue
		}
		start := time.Now()
		valLoss, trainLoss, err := trainOne(o, v.cfg, V, train, val)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		fmt.Printf("| %s | %.4f | %.4f | %s |\n", v.name, valLoss, trainLoss, time.Since(start).Round(time.Second))
	}
	return nil
}

// encode maps each byte of text to a dense id in order of first
// appearance and returns the ids and the vocabulary size.
func encode(text []byte) (ids []int, V int) {
	var vocab [256]int
	for i := range vocab {
		vocab[i] = -1
	}
	ids = make([]int, len(text))
	for i, c := range text {
		if vocab[c] < 0 {
			vocab[c] = V
			V++
		}
		ids[i] = vocab[c]
	}
	return ids, V
}

// splitData holds out the last 10% for validation, at most valTokens+1
// ids of it (inputs and their next-character targets).
func splitData(ids []int, valTokens int) (train, val []int) {
	split := len(ids) * 9 / 10
	train, val = ids[:split], ids[split:]
	if len(val) > valTokens+1 {
		val = val[:valTokens+1]
	}
	return train, val
}

func trainOne(o options, cfg nn.RecurrentConfig, V int, train, val []int) (valLoss, trainLoss float64, err error) {
	cfg.HiddenSize, cfg.Layers = o.hidden, o.layers
	m, err := seqmodel.NewPerStep(V, o.emb, cfg, V, tensor.NewRNG(o.seed))
	if err != nil {
		return 0, 0, err
	}
	opt, err := fit.Adam(m.NamedParams(), o.lr, o.clip)
	if err != nil {
		return 0, 0, err
	}

	// Each stream reads its own contiguous slice of the training text.
	streamLen := (len(train) - 1) / o.batch
	if streamLen < o.bptt {
		return 0, 0, errors.New("training text too short for the batch and BPTT length")
	}
	var st nn.State
	pos, seen := 0, 0
	var tail, tailN float64
	for seen < o.tokens {
		if pos+o.bptt >= streamLen {
			pos, st = 0, nn.State{}
		}
		streams := make([][]int, o.batch)
		var targets []int
		for b := range streams {
			base := b*streamLen + pos
			streams[b] = train[base : base+o.bptt]
		}
		for b := range streams {
			base := b*streamLen + pos
			targets = append(targets, train[base+1:base+o.bptt+1]...)
		}
		logits, next := m.Forward(streams, st)
		loss := fn.SoftmaxCrossEntropy(logits, targets, -1, fn.ReduceMean)
		opt.ClearGrads()
		loss.Backward()
		loss.UnchainBackward()
		if err := opt.Update(); err != nil {
			return 0, 0, err
		}
		st = next
		pos += o.bptt
		seen += o.batch * o.bptt
		if seen > o.tokens*9/10 {
			tail += loss.Data.Item()
			tailN++
		}
	}

	// Validation: one stream over the held-out text, no graph, eval mode.
	m.RNN.SetMode(autograd.Eval)
	var total float64
	n := 0
	st = nn.State{}
	autograd.NoGrad(m.Params(), func() {
		for p := 0; p+1 < len(val); p += 256 {
			end := min(p+256, len(val)-1)
			var logits *autograd.Variable
			logits, st = m.Forward([][]int{val[p:end]}, st)
			loss := fn.SoftmaxCrossEntropy(logits, val[p+1:end+1], -1, fn.ReduceSum)
			total += loss.Data.Item()
			n += end - p
		}
	})
	return total / float64(n), tail / tailN, nil
}
