package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

func init() {
	benchCommands["lstm"] = runBenchLSTM
}

// lstmConfig is one benchmark configuration of ../shared/DESIGN.md (and
// ../shared/bench/torch_lstm.py).
type lstmConfig struct {
	name                             string
	vocab, emb, hidden, layers, B, T int
}

var lstmConfigs = []lstmConfig{
	{"ptb-small", 10000, 200, 200, 2, 20, 20},
	{"ptb-medium", 10000, 650, 650, 2, 20, 35},
	{"char-512", 65, 64, 512, 2, 50, 50},
	{"kernel-512", 0, 512, 512, 1, 64, 50},
	{"infer-b1", 0, 256, 256, 1, 1, 100},
}

// lstmResult is one output line of "kioku bench lstm".
type lstmResult struct {
	Config       string   `json:"config"`
	Threads      int      `json:"threads"`
	TrainTokS    float64  `json:"train_tok_s"`
	InferTokS    float64  `json:"infer_tok_s"`
	TrainGFLOPS  float64  `json:"train_gflops"`
	InferGFLOPS  float64  `json:"infer_gflops"`
	AllocPerStep int64    `json:"train_alloc_bytes_per_step"`
	PeakRSSMB    float64  `json:"peak_rss_mb"`
	TorchTrain   float64  `json:"torch_train_tok_s,omitempty"`
	TorchInfer   float64  `json:"torch_infer_tok_s,omitempty"`
	TorchTrainAt string   `json:"torch_train_setting,omitempty"`
	TorchInferAt string   `json:"torch_infer_setting,omitempty"`
	TrainRatio   *float64 `json:"train_ratio,omitempty"`
	InferRatio   *float64 `json:"infer_ratio,omitempty"`
	// With -bf16: inference with bfloat16 products (float32 accumulation),
	// and its ratio to PyTorch's float32 inference.
	InferBF16TokS  float64  `json:"infer_bf16_tok_s,omitempty"`
	InferBF16Ratio *float64 `json:"infer_bf16_ratio,omitempty"`
}

func runBenchLSTM(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku bench lstm", flag.ContinueOnError)
	seconds := fs.Duration("time", 3*time.Second, "measuring `duration` per config and kind (train, infer), as torch_lstm.py")
	torch := fs.String("torch", "", "also run this PyTorch `script` (../shared/bench/torch_lstm.py) with Debian's /usr/bin/python3 in the same sitting, without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (which force a slower OpenBLAS kernel), and print the ratios")
	python := fs.String("python", "/usr/bin/python3", "Python interpreter for -torch")
	torchThreads := fs.String("torch-threads", "1,2", "comma-separated `list` of PyTorch thread counts (torch.set_num_threads) to try; kioku uses GOMAXPROCS")
	blasThreads := fs.String("openblas-threads", "1,2", "comma-separated `list` of OPENBLAS_NUM_THREADS values to try with each PyTorch thread count")
	bf16 := fs.Bool("bf16", false, "also time inference with bfloat16 products (kioku's opt-in SetPrecision(fn.BFloat16); needs AVX512_BF16)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of kioku's measurements to `file` (go tool pprof)")
	setUsage(fs, fmt.Sprintf("Usage: kioku bench lstm [flags] [config...]\n\n"+
		"Times the five configurations of DESIGN.md (%s): train = forward +\n"+
		"backward + clipping + SGD update with softmax cross-entropy over the\n"+
		"vocabulary (mean of squares where there is none); infer = forward with no\n"+
		"graph. Prints one JSON line per config with tokens/s, achieved GFLOP/s,\n"+
		"bytes allocated per training step and the process's peak RSS.\n\n"+
		"With -torch, PyTorch runs first with every combination of -torch-threads\n"+
		"and -openblas-threads, and each ratio is against its fastest setting for\n"+
		"that config and kind (on a 2-core machine one PyTorch thread over\n"+
		"OpenBLAS is often much faster than two).\n\nFlags:\n", configNames()))
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfgs, err := pickConfigs(fs.Args())
	if err != nil {
		return err
	}
	if *seconds <= 0 {
		return fmt.Errorf("-time %v must be positive", *seconds)
	}
	if *bf16 && !fn.PrecisionAvailable(fn.BFloat16) {
		return errors.New("-bf16: this CPU has no AVX512_BF16 (bfloat16 products would run as float32)")
	}
	tts, err := parseThreads(*torchThreads)
	if err != nil {
		return fmt.Errorf("-torch-threads: %v", err)
	}
	bts, err := parseThreads(*blasThreads)
	if err != nil {
		return fmt.Errorf("-openblas-threads: %v", err)
	}
	var ref map[string]lstmResult
	if *torch != "" {
		for _, tt := range tts {
			for _, bt := range bts {
				r, err := runTorch(*python, *torch, tt, bt, cfgs)
				if err != nil {
					return err
				}
				ref = bestTorch(ref, r)
			}
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	enc := json.NewEncoder(stdout)
	for _, c := range cfgs {
		r, err := benchConfig(c, *seconds, *bf16)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if t, ok := ref[c.name]; ok {
			r.TorchTrain, r.TorchInfer = t.TrainTokS, t.InferTokS
			r.TorchTrainAt, r.TorchInferAt = t.TorchTrainAt, t.TorchInferAt
			if t.TrainTokS > 0 {
				x := r.TrainTokS / t.TrainTokS
				r.TrainRatio = &x
			}
			if t.InferTokS > 0 {
				x := r.InferTokS / t.InferTokS
				r.InferRatio = &x
				if r.InferBF16TokS > 0 {
					y := r.InferBF16TokS / t.InferTokS
					r.InferBF16Ratio = &y
				}
			}
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func configNames() string {
	var n []string
	for _, c := range lstmConfigs {
		n = append(n, c.name)
	}
	return strings.Join(n, ", ")
}

func pickConfigs(names []string) ([]lstmConfig, error) {
	if len(names) == 0 {
		return lstmConfigs, nil
	}
	var out []lstmConfig
	for _, n := range names {
		found := false
		for _, c := range lstmConfigs {
			if c.name == n {
				out, found = append(out, c), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown config %q (have %s)", n, configNames())
		}
	}
	return out, nil
}

// referenceEnv returns env without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE,
// for a reference process (PyTorch, numpy): machines that set them force
// OpenBLAS onto a slower kernel than the CPU has (on an AVX-512 CPU,
// Haswell's halves its speed), which would flatter kioku.
func referenceEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") || strings.HasPrefix(kv, "OPENBLAS_L2_SIZE=")
	})
}

// runTorch runs the PyTorch script with threads intra-op threads and
// OPENBLAS_NUM_THREADS=blas, and collects its JSON lines by config.
func runTorch(python, script string, threads, blas int, cfgs []lstmConfig) (map[string]lstmResult, error) {
	if _, err := os.Stat(script); err != nil {
		return nil, err
	}
	args := []string{script, strconv.Itoa(threads)}
	for _, c := range cfgs {
		args = append(args, c.name)
	}
	cmd := exec.Command(python, args...)
	cmd.Env = append(referenceEnv(os.Environ()), "OPENBLAS_NUM_THREADS="+strconv.Itoa(blas))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", python, script, err, strings.TrimSpace(errb.String()))
	}
	setting := fmt.Sprintf("torch threads %d, OpenBLAS threads %d", threads, blas)
	res := map[string]lstmResult{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r struct {
			Config string  `json:"config"`
			Train  float64 `json:"train_tok_s"`
			Infer  float64 `json:"infer_tok_s"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s printed %q: %v", script, sc.Text(), err)
		}
		res[r.Config] = lstmResult{TrainTokS: r.Train, InferTokS: r.Infer, TorchTrainAt: setting, TorchInferAt: setting}
	}
	if len(res) == 0 {
		return nil, errors.New(script + " printed no results")
	}
	return res, nil
}

// bestTorch merges PyTorch results r into best, keeping for each config
// the fastest train and the fastest infer figure with their settings.
func bestTorch(best, r map[string]lstmResult) map[string]lstmResult {
	if best == nil {
		best = map[string]lstmResult{}
	}
	for name, x := range r {
		b, ok := best[name]
		if !ok {
			best[name] = x
			continue
		}
		if x.TrainTokS > b.TrainTokS {
			b.TrainTokS, b.TorchTrainAt = x.TrainTokS, x.TorchTrainAt
		}
		if x.InferTokS > b.InferTokS {
			b.InferTokS, b.TorchInferAt = x.InferTokS, x.TorchInferAt
		}
		best[name] = b
	}
	return best
}

// benchModel is a configuration's model and its train and infer steps.
type benchModel struct {
	params       []*autograd.Variable
	train        func() error
	infer        func()
	setPrecision func(fn.Precision)
}

func buildBench(c lstmConfig) (*benchModel, error) {
	rng := tensor.NewRNG(0)
	if c.vocab > 0 {
		m, err := lm.New(lm.Config{Cell: "lstm", Tokenizer: "word", Vocab: c.vocab, Emb: c.emb, Hidden: c.hidden, Layers: c.layers}, rng)
		if err != nil {
			return nil, err
		}
		opt, _ := optim.NewSGD(m.NamedParams(), optim.SGDConfig{LR: 0.1})
		clip, _ := optim.NewGradientClipping(5)
		opt.AddHook(clip)
		in, tg := make([][]int, c.B), make([][]int, c.B)
		for b := range in {
			in[b], tg[b] = make([]int, c.T), make([]int, c.T)
			for t := range in[b] {
				in[b][t], tg[b][t] = rng.IntN(c.vocab), rng.IntN(c.vocab)
			}
		}
		var logits *tensor.Tensor
		return &benchModel{
			params: m.Params(),
			train: func() error {
				loss, _ := m.Loss(in, tg, lm.State{})
				opt.ClearGrads()
				loss.Backward()
				return opt.Update()
			},
			// Inference reuses its logits buffer, as a serving or scoring
			// loop would (lm.Model.ForwardInto; PyTorch's output
			// tensors come from malloc, which hands a freed block back
			// without clearing it).
			infer:        func() { logits, _, _ = m.ForwardInto(logits, in, lm.State{}) },
			setPrecision: m.SetPrecision,
		}, nil
	}
	m, err := nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: c.emb, HiddenSize: c.hidden, Layers: c.layers}, rng)
	if err != nil {
		return nil, err
	}
	opt, _ := optim.NewSGD(optim.Named(m.Params()...), optim.SGDConfig{LR: 0.1})
	clip, _ := optim.NewGradientClipping(5)
	opt.AddHook(clip)
	// As torch_lstm.py feeds a (T, B, E) tensor: B sequences of length T
	// in the time-major packed layout, through ForwardPacked.
	x := tensor.New(tensor.Float32, c.T*c.B, c.emb)
	x.RandNormal(rng, 0, 1)
	xv := autograd.NewVariable(x)
	lengths := make([]int, c.B)
	for b := range lengths {
		lengths[b] = c.T
	}
	p := seq.MustPacking(lengths)
	return &benchModel{
		params: m.Params(),
		train: func() error {
			y, _ := m.ForwardPacked(xv, p, nn.State{})
			loss := fn.Mean(fn.Square(y)) // y.square().mean()
			opt.ClearGrads()
			loss.Backward()
			return opt.Update()
		},
		infer: func() {
			autograd.NoGrad(m.Params(), func() { m.ForwardPacked(xv, p, nn.State{}) })
		},
		setPrecision: m.SetPrecision,
	}, nil
}

// flopsPerToken is the forward FLOP count of one token: the LSTM layers'
// 2·4H·(I+H) multiply-adds and the output layer's 2·H·V.
func flopsPerToken(c lstmConfig) float64 {
	f := 0.0
	in := c.emb
	for l := 0; l < c.layers; l++ {
		f += 2 * 4 * float64(c.hidden) * float64(in+c.hidden)
		in = c.hidden
	}
	return f + 2*float64(c.hidden)*float64(c.vocab)
}

// trainFlopsPerToken is the FLOP count of one token's training step: every
// product of the forward pass has two of the same size in the backward
// pass (the gradients of its two operands), except that the configs
// without a vocabulary feed a tensor that needs no gradient, so the first
// layer's 2·4H·I of the input gradient is not computed.
func trainFlopsPerToken(c lstmConfig) float64 {
	f := 3 * flopsPerToken(c)
	if c.vocab == 0 {
		f -= 2 * 4 * float64(c.hidden) * float64(c.emb)
	}
	return f
}

// timeBest runs f three times to warm up, then five windows of seconds/5
// each and returns the best seconds per call (as torch_lstm.py does).
func timeBest(f func() error, seconds time.Duration) (float64, error) {
	for range 3 {
		if err := f(); err != nil {
			return 0, err
		}
	}
	best := 1e18
	for range 5 {
		start := time.Now()
		k := 0
		for time.Since(start) < seconds/5 || k == 0 {
			if err := f(); err != nil {
				return 0, err
			}
			k++
		}
		best = min(best, time.Since(start).Seconds()/float64(k))
	}
	return best, nil
}

func benchConfig(c lstmConfig, seconds time.Duration, bf16 bool) (lstmResult, error) {
	m, err := buildBench(c)
	if err != nil {
		return lstmResult{}, err
	}
	tokens := float64(c.B * c.T)
	r := lstmResult{Config: c.name, Threads: runtime.GOMAXPROCS(0)}
	tt, err := timeBest(m.train, seconds)
	if err != nil {
		return r, err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const steps = 3
	for range steps {
		if err := m.train(); err != nil {
			return r, err
		}
	}
	runtime.ReadMemStats(&after)
	r.AllocPerStep = int64(after.TotalAlloc-before.TotalAlloc) / steps
	ti, _ := timeBest(func() error { m.infer(); return nil }, seconds)
	r.TrainTokS, r.InferTokS = tokens/tt, tokens/ti
	if bf16 {
		m.setPrecision(fn.BFloat16)
		tb, _ := timeBest(func() error { m.infer(); return nil }, seconds)
		m.setPrecision(fn.Float32)
		r.InferBF16TokS = tokens / tb
	}
	r.TrainGFLOPS = trainFlopsPerToken(c) * r.TrainTokS / 1e9
	r.InferGFLOPS = flopsPerToken(c) * r.InferTokS / 1e9
	r.PeakRSSMB = peakRSS()
	return r, nil
}

// peakRSS returns the process's peak resident set size in MiB (VmHWM from
// /proc/self/status), or 0 where that is unavailable.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
