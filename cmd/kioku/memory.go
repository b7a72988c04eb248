package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/train"
)

// defaultMaxMemory is the memory limit where the machine's total memory
// cannot be read (no /proc/meminfo).
const defaultMaxMemory = 16 << 30

// byteSize is a flag value of bytes: a number with an optional unit, B,
// kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024);
// 0 means "the machine's total memory".
type byteSize int64

// String formats the size as Set reads it.
func (b *byteSize) String() string {
	if *b == 0 {
		return "0"
	}
	return formatBytes(int64(*b))
}

// Set parses a size such as 8GB, 512MiB or 1e9.
func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// parseBytes parses a size with an optional unit.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		scale  float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	t, scale := strings.TrimSpace(s), 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v >= 0) || v*scale >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: want a number of bytes ≥ 0 with an optional unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", s)
	}
	return int64(v * scale), nil
}

// formatBytes writes n in the binary unit that suits it: "74.5 GiB".
func formatBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"} {
		if f < 1024 || u == "PiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	panic("unreachable")
}

// addMaxMemoryFlag defines -max-memory on fs.
func addMaxMemoryFlag(fs *flag.FlagSet) *byteSize {
	b := new(byteSize)
	fs.Var(b, "max-memory", "refuse a run estimated to need more memory than this, e.g. 8GB or 512MiB (0: the machine's total memory, from /proc/meminfo, or 16GiB where it cannot be read)")
	return b
}

// memoryLimit returns the limit -max-memory sets, or the machine's total
// memory, and how to name it in an error.
func memoryLimit(flagValue byteSize) (int64, string) {
	if flagValue > 0 {
		return int64(flagValue), "-max-memory is"
	}
	if n, err := totalMemory("/proc/meminfo"); err == nil {
		return n, "the machine has"
	}
	return defaultMaxMemory, "the default -max-memory (no /proc/meminfo) is"
}

// totalMemory reads MemTotal from a Linux /proc/meminfo.
func totalMemory(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb <= 0 {
			break
		}
		return modelio.MulSat(kb, 1024), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no MemTotal line in " + path)
}

// memoryEstimate is what a training run is expected to hold at its peak,
// in bytes, by part.
type memoryEstimate struct {
	params, grads, optimizer, checkpoint, activations, data int64
}

// total returns the sum of the parts, saturating.
func (e memoryEstimate) total() int64 {
	var n int64
	for _, p := range []int64{e.params, e.grads, e.optimizer, e.checkpoint, e.activations, e.data} {
		n = modelio.AddSat(n, p)
	}
	return n
}

// String lists the parts that are not zero.
func (e memoryEstimate) String() string {
	var parts []string
	for _, p := range []struct {
		name string
		n    int64
	}{{"parameters", e.params}, {"gradients", e.grads}, {"optimizer", e.optimizer}, {"checkpoint copies", e.checkpoint}, {"activations", e.activations}, {"data", e.data}} {
		if p.n > 0 {
			parts = append(parts, p.name+" "+formatBytes(p.n))
		}
	}
	return strings.Join(parts, ", ")
}

// check refuses an estimate above the limit.
func (e memoryEstimate) check(what string, max byteSize) error {
	limit, source := memoryLimit(max)
	if need := e.total(); need > limit {
		return fmt.Errorf("this %s needs about %s (%s); %s %s (see -max-memory)", what, formatBytes(need), e, source, formatBytes(limit))
	}
	return nil
}

// modelMemory fills in the parts that follow from the parameter count:
// float32 parameters P, their gradients P, slots moments per parameter
// (Adam's two), and the copies a checkpoint makes while it is written
// (the weights once, the optimizer's moments twice).
func modelMemory(nparams int64, elemSize int64, slots int64) memoryEstimate {
	p := modelio.MulSat(nparams, elemSize)
	return memoryEstimate{
		params:     p,
		grads:      p,
		optimizer:  modelio.MulSat(p, slots),
		checkpoint: modelio.AddSat(p, modelio.MulSat(p, 2*slots)),
	}
}

// lmTrainMemory estimates the memory of "kioku train": the model's parts
// (modelMemory), the activations of one chunk of batch × bptt tokens kept
// for the backward pass and their gradients — per token the embedding,
// per layer the gates before and after their nonlinearities, h, c and
// tanh(c), and the logits, their softmax and its gradient over the
// vocabulary — and the training data, tokens token ids of idBytes each
// plus the validation text as ints.
func lmTrainMemory(mc lm.Config, tc train.Config, tokens, idBytes, validTokens int64) memoryEstimate {
	slots := int64(0)
	if tc.Optimizer == "adam" {
		slots = 2
	}
	e := modelMemory(mc.NumParams(), 4, slots)
	if mc.NumParams() == 0 {
		e = modelMemory(math.MaxInt64/8, 4, slots) // an invalid configuration: Validate says why
	}
	gates := int64(4)
	if mc.Cell == "gru" {
		gates = 3
	}
	perToken := int64(mc.Emb)
	perToken = modelio.AddSat(perToken, modelio.MulSat(int64(mc.Layers), modelio.MulSat(2*gates+4, int64(mc.Hidden))))
	perToken = modelio.AddSat(perToken, modelio.MulSat(3, int64(mc.Vocab)))
	chunk := modelio.MulSat(int64(tc.Batch), int64(tc.BPTT))
	e.activations = modelio.MulSat(modelio.MulSat(chunk, perToken), 2*4) // values and gradients, float32
	e.data = modelio.AddSat(modelio.MulSat(tokens, idBytes), modelio.MulSat(validTokens, 8))
	return e
}

// s2sTrainMemory estimates the memory of "kioku seq2seq train": the
// model's parts (modelMemory, Adam) and the activations of a batch of
// sentences of up to maxLen tokens a side — per source token the
// embedding and, per layer and direction, the gates, h, c and tanh(c);
// per target token the same for the decoder, the attention over the
// source, the attentional vector and the logits, softmax and gradient
// over the target vocabulary — values and gradients.
func s2sTrainMemory(cfg seq2seq.Config, batch, maxLen int) memoryEstimate {
	elem := int64(cfg.DType.Size())
	np := cfg.NumParams()
	if np == 0 {
		np = math.MaxInt64 / 8
	}
	e := modelMemory(np, elem, 2)
	gates := int64(4)
	if cfg.Cell == seq2seq.GRU {
		gates = 3
	}
	layers, dirs := int64(max(cfg.Layers, 1)), int64(1)
	if cfg.Bidirectional {
		dirs = 2
	}
	encH := int64(cfg.EncoderHidden)
	if encH == 0 {
		encH = int64(cfg.Hidden)
	}
	H, T := int64(cfg.Hidden), int64(maxLen+2)
	src := modelio.AddSat(int64(cfg.Embed), modelio.MulSat(layers*dirs, modelio.MulSat(2*gates+4, encH)))
	tgt := modelio.AddSat(int64(cfg.Embed), modelio.MulSat(layers, modelio.MulSat(2*gates+4, H)))
	tgt = modelio.AddSat(tgt, modelio.AddSat(modelio.MulSat(3, T), modelio.MulSat(4, H)))
	tgt = modelio.AddSat(tgt, modelio.MulSat(3, int64(cfg.TgtVocab)))
	perRow := modelio.MulSat(T, modelio.AddSat(src, tgt))
	e.activations = modelio.MulSat(modelio.MulSat(int64(batch), perRow), 2*elem)
	return e
}

// gcHeadroom is the garbage the collector may let accumulate above the
// live heap once a large corpus is loaded.
const gcHeadroom = 64 << 20

// limitGCHeadroom lowers the collector's GOGC after a corpus of
// dataBytes is loaded, unless GOGC is set in the environment. By default
// the heap may grow to twice what is live before a collection; with a
// corpus of hundreds of megabytes (pointer-free, so cheap for the
// collector to keep) that doubles the training data's memory. The
// percentage is chosen so that the garbage allowed is about gcHeadroom,
// and at least 25% of what is live.
func limitGCHeadroom(dataBytes int64) {
	if os.Getenv("GOGC") != "" || dataBytes <= gcHeadroom {
		return
	}
	debug.SetGCPercent(max(25, int(100*gcHeadroom/dataBytes)))
}
