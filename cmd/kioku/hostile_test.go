package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/modelio/safetensors"
)

// setNaN returns an edit of a safetensors file that makes element 0 of
// tensor name NaN.
func setNaN(t *testing.T, name string) func([]byte) []byte {
	return func(b []byte) []byte {
		f, err := safetensors.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(f.Tensors[name].Bytes(), math.Float32bits(float32(math.NaN())))
		var out bytes.Buffer
		if err := safetensors.Write(&out, f.Tensors, f.Metadata); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
}

// TestHostileInputs: every hostile file and size of issue 17 fails at
// once with a one-line error and exit status 1 — files that are not
// regular, sparse giants, configurations claiming huge models, NaN
// weights and optimizer state, models too large for the memory.
func TestHostileInputs(t *testing.T) {
	dir := t.TempDir()
	data := writeCorpus(t, dir)
	run := filepath.Join(dir, "run")
	if code, _, stderr := runCLI("train", "-data", data, "-out", run, "-epochs", "1", "-emb", "8", "-hidden", "8", "-layers", "1", "-batch", "4", "-bptt", "8", "-sample", "0"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse.txt")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 2<<30); err != nil {
		t.Fatal(err)
	}
	// ck copies a checkpoint of the run and damages it.
	ck := func(which string, damage func(t *testing.T, dir string)) func(t *testing.T) string {
		return func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), which)
			if err := os.CopyFS(d, os.DirFS(filepath.Join(run, which))); err != nil {
				t.Fatal(err)
			}
			damage(t, d)
			return d
		}
	}
	replace := func(name string, with func(p string) error) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			os.Remove(p)
			if err := with(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	model := func(fields map[string]any) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			testutil.EditCheckpointJSON(t, dir, modelio.ConfigFile, func(v map[string]any) {
				for k, x := range fields {
					v["model"].(map[string]any)[k] = x
				}
			})
		}
	}
	nanWeight := func(t *testing.T, dir string) {
		testutil.EditCheckpointFile(t, dir, modelio.ModelFile, setNaN(t, "out.bias"))
	}
	nanMoment := func(t *testing.T, dir string) {
		testutil.EditCheckpointFile(t, dir, modelio.OptimizerTensorsFile, setNaN(t, "out.bias.exp_avg"))
	}
	none := func(*testing.T) string { return "" }
	cases := []struct {
		name string
		ck   func(t *testing.T) string // a checkpoint to pass as DIR, or none
		args []string                  // DIR is replaced by the checkpoint
		want string                    // in stderr; "" for success
	}{
		{"model file a symlink to /dev/zero", ck("best", replace(modelio.ModelFile, func(p string) error { return os.Symlink("/dev/zero", p) })), []string{"eval", "-model", "DIR", "-data", data}, "model.safetensors: not a regular file (a character device)"},
		{"model file a FIFO", ck("best", replace(modelio.ModelFile, func(p string) error { return syscall.Mkfifo(p, 0o644) })), []string{"eval", "-model", "DIR", "-data", data}, "model.safetensors: not a regular file (a FIFO)"},
		{"3 GB sparse checkpoint.json", ck("best", replace(modelio.ManifestFile, func(p string) error {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
			return os.Truncate(p, 3<<30)
		})), []string{"sample", "-model", "DIR"}, "checkpoint.json: file too large: 3221225472 bytes"},
		{"config hidden=emb=65536 layers=64", ck("best", model(map[string]any{"hidden": 65536, "emb": 65536, "layers": 64})), []string{"sample", "-model", "DIR"}, `config.json asks for tensor "emb.weight" as float32 [`},
		{"config vocab 2^40", ck("best", model(map[string]any{"vocab": 1 << 40})), []string{"sample", "-model", "DIR"}, `tensor "emb.weight" as float32 [1099511627776 8]`},
		{"config vocab 1e8", ck("best", model(map[string]any{"vocab": 1e8})), []string{"sample", "-model", "DIR"}, `tensor "emb.weight" as float32 [100000000 8]`},
		{"resume with a config of hidden 65536", ck("last", model(map[string]any{"hidden": 65536})), []string{"train", "-resume", "DIR", "-data", data, "-out", filepath.Join(dir, "r1")}, `tensor "rnn.weight_ih_l0" as float32 [262144 8]`},
		{"resume with a config of batch 65536, bptt 4096", ck("last", func(t *testing.T, dir string) {
			testutil.EditCheckpointJSON(t, dir, modelio.ConfigFile, func(v map[string]any) {
				v["train"].(map[string]any)["batch"], v["train"].(map[string]any)["bptt"] = 65536, 4096
			})
		}), []string{"train", "-resume", "DIR", "-data", data, "-out", filepath.Join(dir, "r10"), "-max-memory", "8GiB"}, "kioku train: this model needs about"},
		{"NaN weight", ck("best", nanWeight), []string{"eval", "-model", "DIR", "-data", data}, `model.safetensors: tensor "out.bias" holds NaN at element 0`},
		{"NaN weight allowed", ck("best", nanWeight), []string{"sample", "-model", "DIR", "-allow-nonfinite", "-length", "3"}, ""},
		{"NaN in the optimizer state", ck("last", nanMoment), []string{"train", "-resume", "DIR", "-data", data, "-out", filepath.Join(dir, "r2")}, `optimizer.safetensors: tensor "out.bias.exp_avg" holds NaN at element 0`},
		{"-data a FIFO", none, []string{"train", "-data", fifo, "-out", filepath.Join(dir, "r3")}, "not a regular file (a FIFO)"},
		{"-data /dev/zero", none, []string{"train", "-data", "/dev/zero", "-out", filepath.Join(dir, "r4")}, "/dev/zero: not a regular file (a character device)"},
		{"-data a 2 GB sparse file", none, []string{"train", "-data", sparse, "-out", filepath.Join(dir, "r5")}, "sparse.txt: contains NUL bytes (binary?) at byte "},
		{"-valid a directory", none, []string{"train", "-data", data, "-valid", dir, "-out", filepath.Join(dir, "r6")}, "not a regular file (a directory)"},
		{"eval -data a FIFO", none, []string{"eval", "-model", filepath.Join(run, "best"), "-data", fifo}, "not a regular file (a FIFO)"},
		{"train -hidden -emb 65536 -layers 64", none, []string{"train", "-data", data, "-hidden", "65536", "-emb", "65536", "-layers", "64", "-out", filepath.Join(dir, "r7")}, "kioku train: this model needs about 72.0 TiB (parameters 8.0 TiB"},
		{"train over -max-memory", none, []string{"train", "-data", data, "-max-memory", "1MB", "-out", filepath.Join(dir, "r8")}, "; -max-memory is 976.6 KiB (see -max-memory)"},
		{"train -max-memory not a size", none, []string{"train", "-data", data, "-max-memory", "lots"}, `invalid value "lots" for flag -max-memory`},
		{"seq2seq train -data a FIFO", none, []string{"seq2seq", "train", "-data", fifo, "-o", filepath.Join(dir, "s0")}, "not a regular file (a FIFO)"},
		{"resume with a vocabulary too short for the model", ck("last", func(t *testing.T, dir string) {
			testutil.EditCheckpointFile(t, dir, modelio.VocabFile, func([]byte) []byte { return []byte(`["<unk>","<eos>","a"]`) })
		}), []string{"train", "-resume", "DIR", "-data", data, "-out", filepath.Join(dir, "r9")}, "vocabulary of 3 tokens for a model of"},
		{"seq2seq train -hidden 100000", none, []string{"seq2seq", "train", "-hidden", "100000", "-o", filepath.Join(dir, "s1")}, "this model needs about 8.5 TiB (parameters 968.9 GiB"},
		{"seq2seq train -hidden 20000", none, []string{"seq2seq", "train", "-hidden", "20000", "-o", filepath.Join(dir, "s2")}, "this model needs about 349.2 GiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.ck(t)
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "DIR", d)
			}
			code, _, stderr := runCLI(args...)
			if c.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				return
			}
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want a failure saying %q", code, stderr, c.want)
			}
			if strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") > 0 || strings.Contains(stderr, "goroutine") {
				t.Errorf("not a one-line error: %q", stderr)
			}
		})
	}
}

// TestByteSizes: -max-memory's values, and the sizes errors print.
func TestByteSizes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{{"0", 0}, {"1024", 1024}, {"8GB", 8e9}, {"8 GiB", 8 << 30}, {"1.5MiB", 3 << 19}, {"512kB", 512e3}, {"2TB", 2e12}, {"7B", 7}} {
		if got, err := parseBytes(c.in); err != nil || got != c.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "-1", "lots", "1XB", "NaN", "1e30"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
	for _, c := range []struct {
		n    int64
		want string
	}{{17, "17 B"}, {1536, "1.5 KiB"}, {80_000_000_000, "74.5 GiB"}, {math.MaxInt64, "8.0 EiB"}} {
		if got := formatBytes(c.n); got != c.want && !(c.n == math.MaxInt64 && strings.HasSuffix(got, "PiB")) {
			t.Errorf("formatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// TestTotalMemory reads MemTotal from a /proc/meminfo.
func TestTotalMemory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	os.WriteFile(p, []byte("MemTotal:       24683748 kB\nMemFree:        24074396 kB\n"), 0o644)
	if n, err := totalMemory(p); err != nil || n != 24683748*1024 {
		t.Errorf("totalMemory = %d, %v", n, err)
	}
	os.WriteFile(p, []byte("MemFree: 1 kB\n"), 0o644)
	if _, err := totalMemory(p); err == nil {
		t.Error("no MemTotal line accepted")
	}
	if _, err := totalMemory(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing file accepted")
	}
}
