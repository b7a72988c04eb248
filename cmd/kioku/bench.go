package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kioku-ml/kioku/internal/kernel"
)

func init() {
	commands["bench"] = command{summary: "measure speed: the LSTM configs (bench [lstm]) or GEMM (bench gemm)", run: runBench}
}

// benchCommands are the subcommands of "kioku bench".
var benchCommands = map[string]func(args []string, stdout, stderr io.Writer) error{
	"gemm": runBenchGemm,
}

func runBench(args []string, stdout, stderr io.Writer) error {
	help := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: kioku bench [<what>] [flags]\n\nWhat:\n\n\tlstm   the five LSTM configurations of DESIGN.md, train and infer tokens/s (the default)\n\tgemm   float32 matrix multiplication speed in GFLOP/s\n\nRun \"kioku bench <what> -help\" for the flags.\n")
	}
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !slices.Contains([]string{"-h", "-help", "--help"}, args[0])) {
		return runBenchLSTM(args, stdout, stderr)
	}
	return runSubcommand("kioku bench", "benchmark", benchCommands, help, args, stdout, stderr)
}

// gemmShape is one benchmarked product C(m×n) = A(m×k)·op(B).
type gemmShape struct {
	m, n, k int
	transB  bool
}

// Preset shape groups.
var (
	squareSizes = []int{64, 128, 256, 512, 1024, 2048}
	lstmMs      = []int{1, 20, 64, 1000}
	lstmHs      = []int{200, 512, 650, 1024}
)

// parseShapes reads a comma-separated list of shape groups ("squares",
// "lstm") and shapes "MxNxK", with a "t" suffix for a transposed B.
func parseShapes(s string) ([]gemmShape, error) {
	var out []gemmShape
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch item {
		case "":
			continue
		case "squares":
			for _, n := range squareSizes {
				out = append(out, gemmShape{n, n, n, false})
			}
			continue
		case "lstm":
			for _, h := range lstmHs {
				for _, m := range lstmMs {
					out = append(out, gemmShape{m, 4 * h, h, true})
				}
			}
			continue
		}
		sh := gemmShape{}
		spec := item
		if strings.HasSuffix(spec, "t") {
			sh.transB = true
			spec = strings.TrimSuffix(spec, "t")
		}
		parts := strings.Split(spec, "x")
		if len(parts) != 3 {
			return nil, fmt.Errorf("bad shape %q: want MxNxK (optionally followed by t), squares or lstm", item)
		}
		dims := make([]int, 3)
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("bad shape %q: %q is not a positive integer", item, p)
			}
			dims[i] = v
		}
		sh.m, sh.n, sh.k = dims[0], dims[1], dims[2]
		out = append(out, sh)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no shapes given")
	}
	return out, nil
}

func parseThreads(s string) ([]int, error) {
	var out []int
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		v, err := strconv.Atoi(item)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad thread count %q: want a positive integer", item)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no thread counts given")
	}
	return out, nil
}

// gemmResult is one output line.
type gemmResult struct {
	M       int     `json:"m"`
	N       int     `json:"n"`
	K       int     `json:"k"`
	Threads int     `json:"threads"`
	GFLOPS  float64 `json:"gflops"`
}

func runBenchGemm(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku bench gemm", flag.ContinueOnError)
	shapesFlag := fs.String("shapes", "squares,lstm", "comma-separated `list` of shapes: MxNxK (C is M×N, the inner dimension K), with a t suffix to multiply by the transpose of a stored N×K B, or the groups squares (64…2048) and lstm (M ∈ {1,20,64,1000}, N = 4H, K = H, H ∈ {200,512,650,1024}, B transposed as PyTorch stores weights)")
	threadsFlag := fs.String("threads", "1,2", "comma-separated `list` of thread counts to run each shape with")
	minTime := fs.Duration("time", 300*time.Millisecond, "minimum measuring `duration` per shape and thread count")
	reps := fs.Int("reps", 5, "number of timed repetitions; the fastest is reported")
	setUsage(fs, "Usage: kioku bench gemm [flags]\n\n"+
		"Times the float32 GEMM C = A·op(B) (alpha 1, beta 0) and prints one JSON\n"+
		"line per shape and thread count:\n\n"+
		"\t{\"m\":M,\"n\":N,\"k\":K,\"threads\":T,\"gflops\":G}\n\n"+
		"GFLOP/s counts 2·M·N·K flops per product and is the best of -reps\n"+
		"repetitions, each at least -time/-reps long.\n\nFlags:\n")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kioku bench gemm: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	shapes, err := parseShapes(*shapesFlag)
	if err != nil {
		return err
	}
	threads, err := parseThreads(*threadsFlag)
	if err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("-reps must be at least 1, not %d", *reps)
	}
	enc := json.NewEncoder(stdout)
	for _, sh := range shapes {
		for _, t := range threads {
			g := timeGemm(sh, t, *minTime, *reps)
			if err := enc.Encode(gemmResult{sh.m, sh.n, sh.k, t, g}); err != nil {
				return err
			}
		}
	}
	return nil
}

// timeGemm returns the best GFLOP/s of reps timed runs of the product.
func timeGemm(sh gemmShape, threads int, minTime time.Duration, reps int) float64 {
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.Float64()*2 - 1)
		}
		return s
	}
	a, b, c := fill(sh.m*sh.k), fill(sh.k*sh.n), make([]float32, sh.m*sh.n)
	ldb := sh.n
	if sh.transB {
		ldb = sh.k
	}
	mul := func() {
		kernel.GemmThreads(threads, false, sh.transB, sh.m, sh.n, sh.k, 1, a, sh.k, b, ldb, 0, c, sh.n)
	}
	mul() // warm up: pool, buffers, caches
	// Calibrate the number of products per repetition.
	per := minTime / time.Duration(reps)
	iters := 1
	for {
		start := time.Now()
		for i := 0; i < iters; i++ {
			mul()
		}
		if d := time.Since(start); d >= per/4 || iters >= 1<<20 {
			iters = max(1, int(float64(iters)*float64(per)/float64(max(d, time.Microsecond))))
			break
		}
		iters *= 4
	}
	times := make([]time.Duration, reps)
	for rep := range times {
		start := time.Now()
		for i := 0; i < iters; i++ {
			mul()
		}
		times[rep] = time.Since(start)
	}
	best := slices.Min(times)
	flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k) * float64(iters)
	return flops / best.Seconds() / 1e9
}
