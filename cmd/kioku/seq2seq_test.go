package main

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/seq2seq"
)

// tinyTrain is a reduced training run, a second or two.
func tinyTrain(t *testing.T, model string, extra ...string) string {
	t.Helper()
	args := append([]string{"seq2seq", "train", "-min-len", "2", "-max-len", "4", "-train-size", "1500", "-dev", "50",
		"-embed", "8", "-hidden", "24", "-epochs", "2", "-batch", "32", "-lr", "0.01", "-log-every", "20", "-o", model}, extra...)
	code, out, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("train: exit %d, stderr %q\n%s", code, errOut, out)
	}
	return out
}

func TestSeq2seqTask(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "rev.ckpt")
	out := tinyTrain(t, model)
	for _, want := range []string{"task reverse, lengths 2…4: 1500 training examples", "additive attention", "epoch 2  train loss", "saved " + model} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(model); err != nil {
		t.Fatal(err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("123\n98 76\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "attn.png")
	for _, args := range [][]string{
		{"-beam", "3"},
		{"-attention", img},
		{"-temperature", "0.5", "-seed", "3"},
	} {
		code, out, errOut := runCLI(append([]string{"seq2seq", "decode", "-model", model, "-input", in}, args...)...)
		if code != 0 {
			t.Fatalf("decode %q: exit %d, stderr %q", args, code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 {
			t.Errorf("decode %q: %d output lines for 2 inputs: %q", args, len(lines), out)
		}
	}
	// Each line samples with its own generator: the batch size does not
	// change the samples.
	var sampled []string
	for _, batch := range []string{"1", "64"} {
		code, out, errOut := runCLI("seq2seq", "decode", "-model", model, "-input", in, "-temperature", "2", "-seed", "5", "-batch", batch)
		if code != 0 {
			t.Fatalf("decode -batch %s: exit %d, stderr %q", batch, code, errOut)
		}
		sampled = append(sampled, out)
	}
	if sampled[0] != sampled[1] {
		t.Errorf("samples with -batch 1 %q and -batch 64 %q differ", sampled[0], sampled[1])
	}
	// A cancelled context (Ctrl-C) stops decoding with the lines so far.
	m, err := loadModel(model, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if outs, _, err := decodeAll(ctx, m, [][]string{{"1", "2"}}, seq2seq.DecodeOptions{}, 1); !errors.Is(err, context.Canceled) || len(outs) != 0 {
		t.Errorf("decodeAll with a cancelled context: %d outputs, %v", len(outs), err)
	}

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("attention image: %v", err)
	}
	if fi, err := f.Stat(); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o644 {
		t.Errorf("attention image mode %v, want -rw-r--r--", fi.Mode())
	}

	code, out, errOut := runCLI("seq2seq", "eval", "-model", model, "-n", "100", "-beam", "2", "-show", "1")
	if code != 0 {
		t.Fatalf("eval: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"task reverse, lengths 2…4, ", "beam search, width 2", "exact match: ", "BLEU = ", "→"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
}

func TestSeq2seqPairs(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.tsv")
	var b strings.Builder
	words := []string{"red", "green", "blue", "cat", "dog", "big", "small"}
	fr := map[string]string{"red": "rouge", "green": "vert", "blue": "bleu", "cat": "chat", "dog": "chien", "big": "grand", "small": "petit"}
	for i := range 400 {
		a, c := words[i%7], words[i/7%7]
		b.WriteString(a + " " + c + ".\t" + fr[c] + " " + fr[a] + " !\n")
	}
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "pairs.ckpt")
	code, out, errOut := runCLI("seq2seq", "train", "-data", data, "-held-out", "0.2", "-embed", "8", "-hidden", "16",
		"-epochs", "1", "-attention", "general", "-cell", "gru", "-layers", "2", "-o", model)
	if code != 0 {
		t.Fatalf("train: exit %d, stderr %q\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "vocabularies 12 and 12") {
		t.Errorf("train output:\n%s", out)
	}
	code, out, errOut = runCLI("seq2seq", "eval", "-model", model)
	if code != 0 || !strings.Contains(out, "held-out pairs, ") || !strings.Contains(out, "BLEU = ") {
		t.Fatalf("eval: exit %d, stderr %q\n%s", code, errOut, out)
	}
	code, out, errOut = runCLI("seq2seq", "eval", "-model", model, "-all", "-n", "5")
	if code != 0 || !strings.Contains(out, "all pairs, 5 sources") {
		t.Fatalf("eval -all: exit %d, stderr %q\n%s", code, errOut, out)
	}
}

func TestSeq2seqErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.ckpt")
	tinyTrain(t, model, "-epochs", "1", "-attention", "none")
	notModel := filepath.Join(dir, "junk.ckpt")
	if err := os.Mkdir(notModel, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("12\n\n34\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badTSV := filepath.Join(dir, "bad.tsv")
	if err := os.WriteFile(badTSV, []byte("a\tb\nno tab\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(dir, "no", "such", "dir", "m.ckpt")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"seq2seq"}, 2, "Usage: kioku seq2seq"},
		{[]string{"seq2seq", "fly"}, 2, `unknown command "fly"`},
		{[]string{"seq2seq", "train", "-task", "multiply"}, 1, `unknown task "multiply"`},
		{[]string{"seq2seq", "train", "-attention", "fancy"}, 1, `unknown attention "fancy"`},
		{[]string{"seq2seq", "train", "-cell", "rnn"}, 1, `unknown cell "rnn"`},
		{[]string{"seq2seq", "train", "-held-out", "1.5"}, 1, "-held-out 1.5"},
		{[]string{"seq2seq", "train", "-lr", "-1"}, 1, "-lr -1"},
		{[]string{"seq2seq", "train", "-clip", "0"}, 1, "-clip"},
		{[]string{"seq2seq", "train", "-min-len", "9", "-max-len", "3"}, 1, "lengths 9…3"},
		{[]string{"seq2seq", "train", "-attention", "dot", "-hidden", "8", "-enc-hidden", "8"}, 1, "dot attention needs"},
		{[]string{"seq2seq", "train", "-data", badTSV}, 1, "line 2 has no tab"},
		{[]string{"seq2seq", "train", "-data", badTSV, "-task", "add"}, 1, "-data excludes -task"},
		{[]string{"seq2seq", "train", "-data", filepath.Join(dir, "none.tsv")}, 1, "no such file"},
		{[]string{"seq2seq", "train", "extra"}, 2, "unexpected arguments"},
		{[]string{"seq2seq", "train", "-epochs", "x"}, 2, "invalid value"},
		{[]string{"seq2seq", "train", "-train-size", "100", "-dev", "5", "-hidden", "4", "-embed", "4", "-epochs", "1", "-o", missingDir}, 1, "does not exist"},
		{[]string{"seq2seq", "decode", "-model", filepath.Join(dir, "none")}, 1, "no such file"},
		{[]string{"seq2seq", "decode", "-model", notModel}, 1, "checkpoint.json"},
		{[]string{"seq2seq", "decode", "-model", model, "-input", empty}, 1, "input line 2 is empty"},
		{[]string{"seq2seq", "decode", "-model", model, "-beam", "0"}, 1, "-beam 0"},
		{[]string{"seq2seq", "decode", "-model", model, "-temperature", "-1"}, 1, "-temperature -1"},
		{[]string{"seq2seq", "decode", "-model", model, "-temperature", "1", "-beam", "2"}, 1, "excludes -beam"},
		{[]string{"seq2seq", "decode", "-model", model, "-attention", filepath.Join(dir, "a.png")}, 1, "has no attention"},
		{[]string{"seq2seq", "eval", "-model", model, "-data", badTSV}, 1, "-data and -all apply to sentence-pair models"},
		{[]string{"seq2seq", "eval", "-model", model, "-n", "-3"}, 1, "-n -3"},
		{[]string{"seq2seq", "eval", "-model", model, "-min-len", "5", "-max-len", "4"}, 1, "lengths 5…4"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("kioku %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if tc.code == 1 && strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("kioku %q: error of several lines: %q", tc.args, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.png")); !os.IsNotExist(err) {
		t.Errorf("a.png written for a model without attention")
	}
	for _, args := range [][]string{{"seq2seq", "help"}, {"seq2seq", "train", "-help"}, {"seq2seq", "decode", "-h"}, {"seq2seq", "eval", "--help"}} {
		code, out, errOut := runCLI(args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage") {
			t.Errorf("kioku %q: exit %d, output %q", args, code, out+errOut)
		}
	}
}

// TestSeq2seqResume: one epoch, then -resume to two, gives bit for bit the
// model of two epochs in one run.
func TestSeq2seqResume(t *testing.T) {
	dir := t.TempDir()
	whole, part := filepath.Join(dir, "whole.ckpt"), filepath.Join(dir, "part.ckpt")
	out := tinyTrain(t, whole, "-dropout", "0.1")
	if strings.Count(out, "saved") != 2 {
		t.Skipf("the development loss did not improve in both epochs:\n%s", out)
	}
	tinyTrain(t, part, "-dropout", "0.1", "-epochs", "1")
	code, out, errOut := runCLI("seq2seq", "train", "-resume", part, "-epochs", "2", "-batch", "32", "-dev", "50", "-log-every", "20")
	if code != 0 || !strings.Contains(out, "resuming "+part+" after epoch 1") {
		t.Fatalf("resume: exit %d, stderr %q\n%s", code, errOut, out)
	}
	a, err := os.ReadFile(filepath.Join(whole, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(part, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("resumed training differs from an uninterrupted run")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-resume", part, "-hidden", "8"}, "drop -hidden"},
		{[]string{"-resume", part, "-epochs", "2"}, "already done 2 of -epochs 2"},
		{[]string{"-resume", filepath.Join(dir, "none")}, "no such file"},
	} {
		code, _, errOut := runCLI(append([]string{"seq2seq", "train"}, tc.args...)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("train %q: exit %d, stderr %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}
