package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/fn"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestBenchGemm(t *testing.T) {
	code, out, errOut := runCLI("bench", "gemm", "-shapes", "16x24x8,3x40x5t", "-threads", "1,2", "-time", "2ms", "-reps", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), out)
	}
	var r gemmResult
	if err := json.Unmarshal([]byte(lines[3]), &r); err != nil {
		t.Fatal(err)
	}
	if r.M != 3 || r.N != 40 || r.K != 5 || r.Threads != 2 || !(r.GFLOPS > 0) {
		t.Errorf("last line %+v", r)
	}
}

func TestCLIErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"bench", "lstm", "nope"}, 1, `unknown config "nope"`},
		{[]string{"bench", "-time", "0"}, 1, "must be positive"},
		{[]string{"bench", "-torch-threads", "x"}, 1, `-torch-threads: bad thread count "x"`},
		{[]string{"bench", "-openblas-threads", "0"}, 1, `-openblas-threads: bad thread count "0"`},
		{[]string{"bench", "-torch", "/nonexistent/torch_lstm.py", "infer-b1"}, 1, "no such file"},
		{[]string{"bench", "fft"}, 2, `unknown benchmark "fft"`},
		{[]string{"bench", "gemm", "-shapes", "2x3"}, 1, `bad shape "2x3"`},
		{[]string{"bench", "gemm", "-shapes", "2x0x3"}, 1, `"0" is not a positive integer`},
		{[]string{"bench", "gemm", "-threads", "two"}, 1, `bad thread count "two"`},
		{[]string{"bench", "gemm", "-nosuchflag"}, 2, "flag provided but not defined"},
		{[]string{"bench", "gemm", "extra"}, 2, "unexpected arguments"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("kioku %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"bench", "gemm", "--help"}, {"bench", "help"}} {
		code, out, errOut := runCLI(args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage") {
			t.Errorf("kioku %q: exit %d, output %q", args, code, out+errOut)
		}
	}
}

func TestParseShapes(t *testing.T) {
	s, err := parseShapes("squares,lstm,5x6x7t")
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 6+16+1 {
		t.Fatalf("got %d shapes", len(s))
	}
	if last := s[len(s)-1]; last != (gemmShape{5, 6, 7, true}) {
		t.Errorf("last shape %+v", last)
	}
	if s[6] != (gemmShape{1, 800, 200, true}) {
		t.Errorf("first LSTM shape %+v", s[6])
	}
}

func TestBenchLSTM(t *testing.T) {
	if fn.PrecisionAvailable(fn.BFloat16) {
		code, out, errOut := runCLI("bench", "-time", "20ms", "-bf16", "infer-b1")
		var r lstmResult
		if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &r) != nil || !(r.InferBF16TokS > 0) {
			t.Errorf("-bf16: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	} else if code, _, errOut := runCLI("bench", "-bf16", "infer-b1"); code != 1 || !strings.Contains(errOut, "AVX512_BF16") {
		t.Errorf("-bf16 without hardware: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut := runCLI("bench", "-time", "20ms", "infer-b1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var r lstmResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if r.Config != "infer-b1" || !(r.TrainTokS > 0) || !(r.InferTokS > 0) || !(r.TrainGFLOPS > 0) || r.AllocPerStep <= 0 {
		t.Fatalf("result %+v", r)
	}
}

// TestBenchLSTMTorchSettings runs -torch with a stand-in for Python whose
// speed depends on the thread settings, and checks that each ratio is
// taken against the fastest setting for its config and kind.
func TestBenchLSTMTorchSettings(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "python")
	// $2 is the PyTorch thread count: train is fastest with 1 thread and
	// OpenBLAS 2, infer with 2 threads and OpenBLAS 1.
	script := `#!/bin/sh
t=$2; b=$OPENBLAS_NUM_THREADS
train=100; infer=100
[ "$t" = 1 ] && [ "$b" = 2 ] && train=400
[ "$t" = 2 ] && [ "$b" = 1 ] && infer=900
echo "{\"config\": \"infer-b1\", \"threads\": $t, \"train_tok_s\": $train, \"infer_tok_s\": $infer}"
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	torch := filepath.Join(dir, "torch_lstm.py")
	if err := os.WriteFile(torch, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("bench", "-time", "20ms", "-python", fake, "-torch", torch, "infer-b1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var r lstmResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if r.TorchTrain != 400 || r.TorchTrainAt != "torch threads 1, OpenBLAS threads 2" ||
		r.TorchInfer != 900 || r.TorchInferAt != "torch threads 2, OpenBLAS threads 1" {
		t.Fatalf("PyTorch reference %+v", r)
	}
	if r.TrainRatio == nil || math.Abs(*r.TrainRatio-r.TrainTokS/400) > 1e-9 ||
		r.InferRatio == nil || math.Abs(*r.InferRatio-r.InferTokS/900) > 1e-9 {
		t.Fatalf("ratios %v %v for %+v", r.TrainRatio, r.InferRatio, r)
	}
}

// TestBenchFlops checks the FLOP counts behind kioku bench's GFLOP/s.
func TestBenchFlops(t *testing.T) {
	for _, tc := range []struct {
		c            lstmConfig
		infer, train float64
	}{
		// 2 layers of 2·4·200·(200+200), output 2·200·10000; ×3 to train.
		{lstmConfigs[0], 2*2*4*200*400 + 2*200*10000, 3 * (2*2*4*200*400 + 2*200*10000)},
		// One layer of 2·4·512·1024; the input needs no gradient.
		{lstmConfigs[3], 2 * 4 * 512 * 1024, 3*2*4*512*1024 - 2*4*512*512},
	} {
		if got := flopsPerToken(tc.c); got != tc.infer {
			t.Errorf("%s: %v forward FLOPs per token, want %v", tc.c.name, got, tc.infer)
		}
		if got := trainFlopsPerToken(tc.c); got != tc.train {
			t.Errorf("%s: %v training FLOPs per token, want %v", tc.c.name, got, tc.train)
		}
	}
}

// TestReferenceEnv: the reference processes run without the OpenBLAS
// kernel overrides and keep everything else.
func TestReferenceEnv(t *testing.T) {
	env := []string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OPENBLAS_NUM_THREADS=2", "OPENBLAS_L2_SIZE=1048576", "OPENBLAS_CORETYPEX=1"}
	got := referenceEnv(env)
	want := []string{"PATH=/bin", "OPENBLAS_NUM_THREADS=2", "OPENBLAS_CORETYPEX=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("referenceEnv = %q; want %q", got, want)
	}
	if env[1] != "OPENBLAS_CORETYPE=Haswell" {
		t.Fatal("referenceEnv changed its argument")
	}
}
