package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/train"
)

// TestFriction is the newcomer's friction list of issue 21, point by
// point: each command's exit status and the texts it must (and must not)
// print. The fixtures are a small character model trained with the
// deprecated -model gru, a byte-level model of a binary file and a
// seq2seq model trained with the deprecated -o and -time.
func TestFriction(t *testing.T) {
	dir := t.TempDir()
	data := writeCorpus(t, dir)
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bom := file("bom.txt", append([]byte(seq.BOM), bytes.Repeat([]byte("the cat sat on the mat.\n"), 400)...))
	unseen := file("unseen.txt", []byte("the cat sat on the mat. 日本語 ROMEO:\n"))
	binary := file("binary.dat", bytes.Repeat([]byte{0x7f, 'E', 'L', 'F', 0, 1, 0xff, 0xfe, '\n', 0x80}, 2000))
	latin1 := file("latin1.txt", bytes.Repeat([]byte("caf\xe9 au lait\n"), 500))
	small := []string{"-emb", "8", "-hidden", "16", "-layers", "1", "-batch", "8", "-bptt", "16", "-lr", "0.01"}
	runArgs := func(args ...string) []string { return args }
	trainArgs := func(out string, extra ...string) []string {
		return append(append([]string{"train", "-data", data, "-out", filepath.Join(dir, out), "-epochs", "2"}, small...), extra...)
	}

	// Fixtures.
	run := filepath.Join(dir, "run")
	code, stdout, stderr := runCLI(trainArgs("run", "-model", "gru", "-sample", "30")...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	fixture := struct{ stdout, stderr string }{stdout, stderr}
	byteRun := filepath.Join(dir, "bytes")
	if code, _, stderr := runCLI(append([]string{"train", "-data", binary, "-level", "byte", "-out", byteRun, "-epochs", "1", "-sample", "20"}, small...)...); code != 0 {
		t.Fatalf("train -level byte: exit %d: %s", code, stderr)
	}
	s2s := filepath.Join(dir, "s2s.ckpt")
	code, s2sOut, s2sErr := runCLI("seq2seq", "train", "-min-len", "2", "-max-len", "4", "-train-size", "1500", "-dev", "50",
		"-embed", "8", "-hidden", "24", "-epochs", "1", "-batch", "32", "-lr", "0.01", "-log-every", "20", "-o", s2s, "-time", "5m")
	if code != 0 {
		t.Fatalf("seq2seq train: exit %d: %s", code, s2sErr)
	}
	decodeIn := file("decode.txt", []byte("12\n\n34\nabc\n\xff\xfe\n1x2\n"))

	for _, tc := range []struct {
		point      string
		args       []string
		code       int
		stdout     []string // each must appear in stdout
		stderr     []string // each must appear in stderr
		notStdout  []string
		notStderr  []string
		stdoutFunc func(t *testing.T, stdout string)
	}{
		// 1. One flag vocabulary.
		{point: "1 train -help marks -model deprecated", args: runArgs("train", "-help"), code: 0, stderr: []string{"-cell cell", "recurrent cell: lstm or gru", "-model cell\n    \tdeprecated spelling of -cell (a cell)"}},
		{point: "1 train -cell rnn says which cells there are", args: trainArgs("x", "-cell", "rnn"), code: 1, stderr: []string{"kioku train: -cell rnn: language models have lstm or gru cells"}},
		{point: "1 train -cell tanh", args: trainArgs("x", "-cell", "tanh"), code: 1, stderr: []string{`kioku train: -cell "tanh": want lstm or gru`}},
		{point: "1 seq2seq train -help: -time-limit and -out, -time and -o deprecated", args: runArgs("seq2seq", "train", "-help"), code: 0,
			stderr: []string{"-time-limit duration", "-out directory", "-time duration\n    \tdeprecated spelling of -time-limit (a duration)", "-o directory\n    \tdeprecated spelling of -out (a directory)"}},
		{point: "1 train -model DIR is pointed to -cell and -resume", args: trainArgs("x", "-model", "kioku-lm/best"), code: 1,
			stderr: []string{"kioku train: -model is deprecated; use -cell\n", `kioku train: -model "kioku-lm/best": kioku train takes the recurrent cell as -cell lstm|gru (-model is its deprecated spelling; elsewhere -model names a checkpoint: continue a run with -resume DIR)`}},
		{point: "1 seq2seq train -foo names kioku in the hint", args: runArgs("seq2seq", "train", "-foo"), code: 2, stderr: []string{`flag provided but not defined: -foo (run "kioku seq2seq train -help")`}},
		{point: "1 seq2seq decode -foo names kioku in the hint", args: runArgs("seq2seq", "decode", "-foo"), code: 2, stderr: []string{`(run "kioku seq2seq decode -help")`}},
		{point: "1 sample -temperature 0 is greedy", args: runArgs("sample", "-model", run, "-prime", "the ", "-length", "20", "-temperature", "0", "-seed", "1"), code: 0},
		{point: "1 sample -temperature -1", args: runArgs("sample", "-model", run, "-temperature", "-1"), code: 1, stderr: []string{"kioku sample: -temperature -1: want a finite value ≥ 0 (0: greedy)"}},
		{point: "1 seq2seq decode -temperature 0 is greedy too", args: runArgs("seq2seq", "decode", "-model", s2s, "-input", file("one.txt", []byte("12\n")), "-temperature", "0"), code: 0},

		{point: "2 -valid-tokens bounds the validation and says so", args: trainArgs("bounded", "-valid-tokens", "100", "-sample", "0"), code: 0, stderr: []string{"validating on the first 100 of the 991 validation tokens (-valid-tokens)", "validating on 100 tokens"}},
		{point: "2 -valid-tokens -1", args: trainArgs("x", "-valid-tokens", "-1"), code: 1, stderr: []string{"kioku train: -valid-tokens -1: want 0 (all) or more"}},

		// 3. One run per directory.
		{point: "3 a second run into -out is refused", args: trainArgs("run"), code: 1, stderr: []string{"holds another run", "-resume", "-force"}},

		// 4. The sample primes from the data, or -prime.
		{point: "4 -prime", args: trainArgs("primed", "-prime", "a dog", "-sample", "20"), code: 0, stdout: []string{"sample (temperature 0.8, primed with -prime):\na dog"}, notStdout: []string{"func "}},

		// 6. Vocabulary.
		{point: "6 eval reports the out-of-vocabulary rate", args: runArgs("eval", "-model", run, "-data", unseen), code: 0, stdout: []string{"out of vocabulary: 9 of 35 tokens (25.71%), scored as <unk>"}},
		{point: "6 a prime outside the vocabulary is warned about", args: runArgs("sample", "-model", run, "-prime", "日本語 ROMEO:", "-length", "5"), code: 0,
			stderr: []string{`kioku sample: warning: 9 prime tokens are not in the model's vocabulary and are read as <unk>: "日", "本", "語", "R", "O"`}},
		{point: "6 the BOM is not a token", args: trainArgs("bom", "-sample", "0", "-data", bom), code: 0},
		{point: "6 Latin-1 gets a hint to -level byte", args: trainArgs("latin1", "-data", latin1), code: 1, stderr: []string{"latin1.txt: not UTF-8 text (binary?) at byte 3; -level byte models any file, byte by byte"}},
		{point: "6 binary gets the hint too", args: trainArgs("bin", "-data", binary), code: 1, stderr: []string{"binary.dat: contains NUL bytes (binary?) at byte 19004; -level byte models any file, byte by byte"}},
		{point: "6 a byte model evaluates any file", args: runArgs("eval", "-model", byteRun, "-data", latin1), code: 0, stdout: []string{"bits/byte", "out of vocabulary: 0 of 6500 tokens (0.00%)"}},
		{point: "6 -max-vocab with -level byte", args: trainArgs("x", "-level", "byte", "-max-vocab", "10"), code: 1, stderr: []string{"-max-vocab: a byte-level vocabulary always holds the 256 bytes"}},

		// 7. Values that mean nothing are refused, not read as defaults.
		{point: "7 -epochs 0", args: trainArgs("x", "-epochs", "0"), code: 1, stderr: []string{"kioku train: -epochs 0: want at least 1 (leave it out for the default)"}},
		{point: "7 -lr-decay 0", args: trainArgs("x", "-lr-decay", "0"), code: 1, stderr: []string{"kioku train: -lr-decay 0: want a divisor of at least 1 (1: a constant learning rate)"}},
		{point: "7 -sample -5", args: trainArgs("x", "-sample", "-5"), code: 1, stderr: []string{"kioku train: -sample -5: want 0 (no sample) or more tokens"}},
		{point: "7 -lr 0", args: trainArgs("x", "-lr", "0"), code: 1, stderr: []string{"kioku train: -lr 0: want a positive learning rate"}},
		{point: "7 -dropout 1", args: trainArgs("x", "-dropout", "1"), code: 1, stderr: []string{"kioku train: -dropout 1: want a probability in [0, 1)"}},
		{point: "7 -layers 0", args: trainArgs("x", "-layers", "0"), code: 1, stderr: []string{"-layers 0 must be at least 1"}},
		{point: "7 -level chars", args: trainArgs("x", "-level", "chars"), code: 1, stderr: []string{`kioku train: -level "chars": want char, word or byte`}},
		{point: "7 sample -length -1", args: runArgs("sample", "-model", run, "-length", "-1"), code: 1, stderr: []string{"kioku sample: -length -1: want 0 or more tokens"}},
		{point: "7 seq2seq train -layers 0", args: runArgs("seq2seq", "train", "-layers", "0"), code: 1, stderr: []string{"kioku seq2seq: -embed 64, -hidden 256 and -layers 0 must be at least 1"}},
		{point: "7 seq2seq train -dropout 2", args: runArgs("seq2seq", "train", "-dropout", "2"), code: 1, stderr: []string{"-dropout 2; want a probability in [0, 1)"}},

		// 9. seq2seq decode fails line by line.
		{point: "9 decode keeps the good lines", args: runArgs("seq2seq", "decode", "-model", s2s, "-input", decodeIn), code: 1,
			stderr: []string{
				"kioku seq2seq decode: input line 2 is empty\n",
				`kioku seq2seq decode: input line 4 has no token of the model's source vocabulary ("a", "b", "c")`,
				"kioku seq2seq decode: input line 5 is not UTF-8 text (binary?)\n",
				`kioku seq2seq decode: warning: input line 6: "x" not in the model's source vocabulary, read as unknown`,
				"kioku seq2seq: 3 of 6 input lines failed (line 2, 4, 5); the others were decoded\n",
			},
			stdoutFunc: func(t *testing.T, stdout string) {
				lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
				if len(lines) != 6 || lines[0] == "" || lines[1] != "" || lines[2] == "" || lines[3] != "" || lines[4] != "" || lines[5] == "" {
					t.Errorf("output %q: want 6 lines, empty for the failed lines 2, 4 and 5", lines)
				}
			}},

		// 10. inspect and a run directory as -model.
		{point: "10 eval -model OUT uses OUT/best", args: runArgs("eval", "-model", run, "-data", data), code: 0, stdout: []string{"perplexity"},
			stderr: []string{"kioku eval: " + run + " is a training run; using its best checkpoint " + filepath.Join(run, "best")}},
		{point: "10 inspect OUT is readable", args: runArgs("inspect", run), code: 0,
			stdout: []string{run + ": training run (last, best, metrics.jsonl, curves.png); its best checkpoint:", "checkpoint of kind kioku-lm", `"cell": "gru"`},
			stdoutFunc: func(t *testing.T, stdout string) {
				for _, l := range strings.Split(stdout, "\n") {
					if len(l) > 400 {
						t.Errorf("inspect line of %d characters: %.80q…", len(l), l)
					}
				}
			}},

		// 11. version.
		{point: "11 version", args: runArgs("version"), code: 0, stdout: []string{"kioku ", runtime.Version()}},
		{point: "11 --version", args: runArgs("--version"), code: 0, stdout: []string{"kioku ", runtime.Version()}},
		{point: "11 version takes no arguments", args: runArgs("version", "x"), code: 2, stderr: []string{"kioku version: unexpected arguments"}},
	} {
		t.Run(tc.point, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.notStdout {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.notStderr {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
			// One line of error, after any deprecation warning (decode
			// writes one per bad input line).
			if rest := strings.TrimPrefix(stderr, "kioku train: -model is deprecated; use -cell\n"); tc.code == 1 && strings.Count(strings.TrimSpace(rest), "\n") > 0 && !strings.HasPrefix(tc.point, "9") {
				t.Errorf("error of several lines: %q", stderr)
			}
			if tc.stdoutFunc != nil {
				tc.stdoutFunc(t, stdout)
			}
		})
	}

	// Checks of the fixtures and of what the table's runs left.
	t.Run("1 the deprecated -model trains the cell and warns", func(t *testing.T) {
		if !strings.Contains(fixture.stderr, "kioku train: -model is deprecated; use -cell\n") {
			t.Errorf("no deprecation warning:\n%s", fixture.stderr)
		}
		m, _, err := lm.Load(filepath.Join(run, "best"))
		if err != nil || m.Config().Cell != "gru" {
			t.Errorf("trained cell %v (%v), want gru", m.Config().Cell, err)
		}
	})
	t.Run("1 seq2seq train -o and -time still work, with warnings", func(t *testing.T) {
		for _, w := range []string{"-o is deprecated; use -out", "-time is deprecated; use -time-limit"} {
			if !strings.Contains(s2sErr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, s2sErr)
			}
		}
		if !strings.Contains(s2sOut, "saved "+s2s) {
			t.Errorf("not saved to -o:\n%s", s2sOut)
		}
	})
	t.Run("1 temperature 0 does not depend on the seed", func(t *testing.T) {
		_, a, _ := runCLI("sample", "-model", run, "-prime", "the ", "-length", "30", "-temperature", "0", "-seed", "1")
		_, b, _ := runCLI("sample", "-model", run, "-prime", "the ", "-length", "30", "-temperature", "0", "-seed", "2")
		if a != b || len(a) < 30 {
			t.Errorf("greedy samples differ by seed: %q, %q", a, b)
		}
	})
	t.Run("2 log lines show the percentage of what the ETA counts down, validation its size and duration", func(t *testing.T) {
		for _, w := range []string{"% of 2 epochs)", "validating on ", "validation at step "} {
			if !strings.Contains(fixture.stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, fixture.stderr)
			}
		}
	})
	t.Run("4 the sample primes from the validation text", func(t *testing.T) {
		if !strings.Contains(fixture.stdout, "sample (temperature 0.8, primed with the start of the validation text):\n") || strings.Contains(fixture.stdout, "func ") {
			t.Errorf("post-training sample:\n%s", fixture.stdout)
		}
	})
	t.Run("5 curves.png is written", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(run, "curves.png"))
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("curves.png: %v", err)
		}
	})
	t.Run("6 the BOM is dropped", func(t *testing.T) {
		_, vocab, err := lm.Load(filepath.Join(dir, "bom", "best"))
		if err != nil {
			t.Fatal(err)
		}
		if vocab.ID(seq.BOM) != vocab.UnknownID() {
			t.Error("the BOM is a vocabulary entry")
		}
	})
	t.Run("6 a byte model samples and is byte level", func(t *testing.T) {
		m, vocab, err := lm.Load(filepath.Join(byteRun, "best"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tokenizerFor(m.Config().Tokenizer, vocab)
		if err != nil || tok.Name() != "byte" || vocab.Len() != 257 {
			t.Errorf("tokenizer %v (%v), vocabulary %d; want byte, 257", tok, err, vocab.Len())
		}
	})
}

// TestReporterTerminal checks the terminal's progress line: its
// percentage is Done, said to be of what the ETA counts down; a
// validation's line is redrawn while it runs; and the result line says
// how long it took. Run with -race: the validation's line is drawn by a
// goroutine of its own.
func TestReporterTerminal(t *testing.T) {
	var buf syncBuffer
	r := &reporter{w: &buf, tty: true, width: 200, every: time.Millisecond}
	r.Progress(train.Event{Epoch: 1, Epochs: 1000, Chunk: 52, Chunks: 3148, Loss: 3.5, TokensPerSec: 20000, ETA: 25 * time.Second, Done: 0.16, Bound: "time limit"})
	r.ValidationStarted(train.ValidationStart{Tokens: 288585, Estimate: time.Hour})
	time.Sleep(20 * time.Millisecond)
	r.Logf("a message") // from another goroutine's point of view, while the line is redrawn
	r.Validated(train.Validation{Step: 150, Loss: 2.8, Best: true})
	r.Progress(train.Event{Epoch: 1, Epochs: 2, Chunk: 3, Chunks: 4, Loss: 1, ETA: time.Second, Done: 0.375, Bound: "epochs"})
	r.Done()
	out := buf.String()
	for _, w := range []string{
		"\r  16% |███                 |  of the time limit  ETA 25s  epoch 1 chunk 52/3148  loss 3.500  ppl 33.1  20000 tok/s",
		"\r   0% |                    |  validating on 288585 tokens  0s of about 1h00m00s",
		"\x1b[2K\ra message\n",
		"validation at step 150 (0 epochs done): loss 2.8000, perplexity 16.44 in 0s (best so far, saved)\n",
		"  37% |███████             |  of 2 epochs  ETA 1s",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%q", w, out)
		}
	}
	if n := strings.Count(out, "validating on"); n < 3 {
		t.Errorf("the validation's line was drawn %d times, want it redrawn while it runs", n)
	}
	if !strings.HasSuffix(out, "\x1b[2K\r") {
		t.Errorf("Done left the line on screen: %q", out[max(0, len(out)-40):])
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestVersionLine(t *testing.T) {
	tail := fmt.Sprintf(" %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, c := range []struct {
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{nil, false, "kioku (unknown)" + tail},
		{&debug.BuildInfo{}, true, "kioku (devel)" + tail},
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "4573161a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"}, {Key: "vcs.time", Value: "2026-12-08T03:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			true, "kioku v0.3.0 (revision 4573161a0b1c, 2026-12-08T03:00:00Z, modified)" + tail},
	} {
		if got := versionLine(c.bi, c.ok); got != c.want {
			t.Errorf("versionLine = %q, want %q", got, c.want)
		}
	}
}

func TestSummariseValue(t *testing.T) {
	state := "2,32,256:" + strings.Repeat("A", 87382) + ":" + strings.Repeat("A", 87382)
	want := "carried state, h and c of shape [2 32 256] (layers, batch, hidden): 32768 float32 values, 174774 bytes of base64"
	if got := summariseValue(state); got != want {
		t.Errorf("summariseValue(state) = %q, want %q", got, want)
	}
	if got := summariseValue(strings.Repeat("xy", 150)); got != `300 bytes: "xyxyxyxyxyxyxyxyxyxyxyxyxyxyxyxyxyxyxyxy"…` {
		t.Errorf("summariseValue(long) = %q", got)
	}
}
