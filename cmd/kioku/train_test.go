package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

func writeCorpus(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; b.Len() < 20000; i++ {
		b.WriteString([]string{"the cat sat on the mat.\n", "a dog ate the bone.\n", "my bird sings a song.\n"}[i%3])
	}
	path := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTrainEvalSample runs the main job end to end on a small corpus:
// train, then eval and sample from the saved model, then resume.
func TestTrainEvalSample(t *testing.T) {
	dir := t.TempDir()
	data := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := runCLI("train", "-data", data, "-out", out, "-epochs", "2", "-emb", "16", "-hidden", "32", "-layers", "1", "-batch", "8", "-bptt", "16", "-lr", "0.01", "-sample", "40")
	if code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	for _, want := range []string{"best validation:", "bits/char", "best model:", "sample (temperature 0.8, primed with the start of the validation text):"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"best/checkpoint.json", "last/checkpoint.json", "metrics.jsonl", "curves.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	code, stdout, stderr = runCLI("eval", "-model", filepath.Join(out, "best"), "-data", data)
	if code != 0 || !strings.Contains(stdout, "perplexity") {
		t.Fatalf("eval exit %d: %s %s", code, stdout, stderr)
	}
	if fn.PrecisionAvailable(fn.BFloat16) {
		if code, stdout, stderr := runCLI("eval", "-model", filepath.Join(out, "best"), "-data", data, "-bf16"); code != 0 || !strings.Contains(stdout, "perplexity") {
			t.Fatalf("eval -bf16 exit %d: %s %s", code, stdout, stderr)
		}
	}
	code, stdout, stderr = runCLI("sample", "-model", filepath.Join(out, "best"), "-prime", "the ", "-length", "30", "-seed", "3")
	if code != 0 || !strings.HasPrefix(stdout, "the ") || len(stdout) < 30 {
		t.Fatalf("sample exit %d: %q %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("train", "-resume", filepath.Join(out, "last"), "-data", data, "-out", out, "-epochs", "3", "-sample", "0")
	if code != 0 || !strings.Contains(stdout, "trained 3 epochs") {
		t.Fatalf("resume exit %d: %s %s", code, stdout, stderr)
	}
}

// TestTrainErrors: each bad input gives a one-line error and a non-zero
// exit, and nothing is written.
func TestTrainErrors(t *testing.T) {
	dir := t.TempDir()
	data := writeCorpus(t, dir)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	binary := filepath.Join(dir, "binary.dat")
	os.WriteFile(binary, []byte{0x7f, 'E', 'L', 'F', 0, 0, 1, 0xff, 0xfe}, 0o644)
	other := filepath.Join(dir, "other")
	lin, _ := nn.NewLinear(nn.LinearConfig{In: 2, Out: 2}, tensor.NewRNG(1))
	if err := modelio.Save(other, &modelio.Checkpoint{Kind: "tagger", Config: map[string]int{"x": 1}, Model: lin}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"train", "-data", filepath.Join(dir, "missing.txt"), "-out", out}, 1, "no such file"},
		{[]string{"train", "-data", empty, "-out", out}, 1, "empty"},
		{[]string{"train", "-data", binary, "-out", out}, 1, "binary"},
		{[]string{"train", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"train", "-data", data, "-hidden", "0", "-out", out}, 1, "-hidden 0 and -layers 2 must be at least 1"},
		{[]string{"train", "-data", data, "-batch", "100000", "-out", out}, 1, "too large"},
		{[]string{"train", "-data", data, "-batch", "20000", "-out", out}, 1, "too few for a batch"},
		{[]string{"train", "-data", data, "-tie", "-emb", "8", "-hidden", "16", "-out", out}, 1, "weight tying needs emb == hidden"},
		{[]string{"train", "-data", data, "-optimizer", "lbfgs", "-out", out}, 1, "optimizer"},
		{[]string{"train", "-data", data, "-eval-batch", "-1", "-out", out}, 1, "eval-batch -1"},
		{[]string{"train", "-data", data, "-resume", other, "-out", out}, 1, "not a language model"},
		{[]string{"sample", "-model", other}, 1, "not a language model"},
		{[]string{"eval", "-model", other, "-data", data}, 1, "not a language model"},
		{[]string{"eval", "-model", filepath.Join(dir, "nothing"), "-data", data}, 1, "no such file"},
		{[]string{"sample", "-model", other, "-temperature", "-1"}, 1, "-temperature -1"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
			t.Errorf("%v: error is %d lines: %q", tc.args, n+1, stderr)
		}
		if stdout != "" {
			t.Errorf("%v: wrote to stdout %q", tc.args, stdout)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: created %s", tc.args, out)
		}
	}
}

// TestTrainLayerNorm trains a layer-normalised model briefly and checks
// that the saved model keeps its normalisation (it loads, with its gains,
// and evaluates).
func TestTrainLayerNorm(t *testing.T) {
	dir := t.TempDir()
	data := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	code, _, stderr := runCLI("train", "-data", data, "-out", out, "-epochs", "1", "-emb", "8", "-hidden", "16", "-layers", "2", "-batch", "4", "-bptt", "8", "-layer-norm", "-sample", "0")
	if code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	m, _, err := lm.Load(filepath.Join(out, "best"))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Config().LayerNorm {
		t.Fatal("the saved model lost -layer-norm")
	}
	hasGain := false
	for _, p := range m.NamedParams() {
		if strings.Contains(p.Name, "norm") {
			hasGain = true
		}
	}
	if !hasGain {
		t.Fatal("a layer-normalised model has no normalisation gains among its parameters")
	}
	if code, stdout, stderr := runCLI("eval", "-model", filepath.Join(out, "best"), "-data", data); code != 0 || !strings.Contains(stdout, "perplexity") {
		t.Fatalf("eval exit %d: %s %s", code, stdout, stderr)
	}
}

// lockedBuffer is a bytes.Buffer safe for the signal handler's goroutine
// and the run's to write at once, as os.Stderr is.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTrainInterruptAndResume: SIGINT during training finishes the step,
// writes OUT/last and exits 130 with the resume command; the run refuses
// to resume on other data or with flags that the checkpoint decides, and
// resumes with the printed command. A new run into the same -out is
// refused unless -force is given.
func TestTrainInterruptAndResume(t *testing.T) {
	dir := t.TempDir()
	data := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	args := []string{"train", "-data", data, "-out", out, "-epochs", "50", "-emb", "8", "-hidden", "16", "-layers", "1", "-batch", "4", "-bptt", "8", "-sample", "0", "-save-every", "5"}
	var stdout bytes.Buffer
	var stderr lockedBuffer
	done := make(chan int)
	go func() { done <- run(args, &stdout, &stderr) }()
	// Wait for a periodic save (the signal handler is installed by then).
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(out, "last", "checkpoint.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic save within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatal("SIGINT did not stop the run")
	}
	if code != 130 || !strings.Contains(stderr.String(), "interrupted by SIGINT") {
		t.Fatalf("exit %d, stderr %q; want 130 and the signal named", code, stderr.String())
	}
	_, resume, ok := strings.Cut(stdout.String(), "resume with:\n")
	if !ok {
		t.Fatalf("no resume command in %q", stdout.String())
	}
	resumeArgs := strings.Fields(resume)
	if len(resumeArgs) < 2 || resumeArgs[0] != "kioku" {
		t.Fatalf("resume command %q", resume)
	}
	resumeArgs = resumeArgs[1:]

	small := filepath.Join(dir, "small.txt")
	os.WriteFile(small, []byte("the cat sat.\nthe dog sat.\n"), 0o644)
	last := filepath.Join(out, "last")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "-resume", last, "-data", data, "-out", out, "-hidden", "32", "-batch", "2"}, "remove -batch, -hidden"},
		{[]string{"train", "-data", data, "-out", out}, "holds another run (last"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 mentioning %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if code, _, stderr := runCLI("train", "-resume", last, "-data", small, "-valid", small, "-out", out); code != 1 || !strings.Contains(stderr, "resume with the data of the run") {
		t.Errorf("resuming on other data: exit %d, %q", code, stderr)
	}
	resumeArgs = append(resumeArgs, "-epochs", "1") // the epoch it was in ends the run
	if code, stdout, stderr := runCLI(resumeArgs...); code != 0 || !strings.Contains(stdout, "trained 1 epochs") {
		t.Fatalf("%v: exit %d: %s %s", resumeArgs, code, stdout, stderr)
	}
	if code, _, stderr := runCLI("train", "-data", data, "-out", out, "-force", "-epochs", "1", "-emb", "8", "-hidden", "16", "-layers", "1", "-batch", "4", "-bptt", "8", "-sample", "0"); code != 0 {
		t.Fatalf("-force: exit %d: %s", code, stderr)
	}
}

// TestSecondSignalQuits: the first signal cancels the run's context with
// the signal as its cause; a second one ends the process at once, with
// 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
func TestSecondSignalQuits(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		var stderr lockedBuffer
		exited := make(chan int, 1)
		ctx, stop := withSignalsExit(context.Background(), &stderr, func(code int) { exited <- code })
		syscall.Kill(os.Getpid(), sig)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%v did not cancel the context", sig)
		}
		if c, ok := context.Cause(ctx).(interrupted); !ok || c.sig != sig || c.code() != 128+int(sig) {
			t.Errorf("cause %v", context.Cause(ctx))
		}
		syscall.Kill(os.Getpid(), sig)
		select {
		case code := <-exited:
			if code != 128+int(sig) {
				t.Errorf("%v twice: exit %d", sig, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("a second %v did not end the process", sig)
		}
		stop()
		if !strings.Contains(stderr.String(), "again: quitting without saving") {
			t.Errorf("stderr %q", stderr.String())
		}
	}
}
