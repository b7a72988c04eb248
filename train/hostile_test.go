package train

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// TestRunIDsIsRun: training on the compact stream gives bit for bit the
// parameters of training on the same ids as ints.
func TestRunIDsIsRun(t *testing.T) {
	train, vocab := encode(t, corpus(3000, 5))
	mc := tinyModel
	mc.Vocab = vocab.Len()
	cfg := tinyTrain
	cfg.Epochs = 1
	a, err := New(mc, cfg, vocab.Tokens(), t.TempDir(), quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(context.Background(), train, nil); err != nil {
		t.Fatal(err)
	}
	b, err := New(mc, cfg, vocab.Tokens(), t.TempDir(), quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RunIDs(context.Background(), seq.IDsOf(train), nil); err != nil {
		t.Fatal(err)
	}
	for i, p := range a.Model().Params() {
		if !tensor.Equal(p.Data, b.Model().Params()[i].Data) {
			t.Fatalf("parameter %s differs", p.Name)
		}
	}
}

// TestResumeChecksCheckpoint: ResumeWith refuses a configuration that
// does not fit the weights (before building the model) and NaN in the
// optimizer state, unless AllowNonFinite.
func TestResumeChecksCheckpoint(t *testing.T) {
	train, vocab := encode(t, corpus(2000, 6))
	mc := tinyModel
	mc.Vocab = vocab.Len()
	cfg := tinyTrain
	cfg.Epochs = 1
	tr, err := New(mc, cfg, vocab.Tokens(), t.TempDir(), quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background(), train, nil); err != nil {
		t.Fatal(err)
	}
	nanMoment := func(t *testing.T, dir string) {
		testutil.EditCheckpointFile(t, dir, modelio.OptimizerTensorsFile, func(b []byte) []byte {
			f, err := safetensors.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			m := f.Tensors["rnn.weight_hh_l0.exp_avg"]
			binary.LittleEndian.PutUint32(m.Bytes()[8:], math.Float32bits(float32(math.NaN())))
			var out strings.Builder
			if err := safetensors.Write(&out, f.Tensors, f.Metadata); err != nil {
				t.Fatal(err)
			}
			return []byte(out.String())
		})
	}
	model := func(field string, v any) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			testutil.EditCheckpointJSON(t, dir, modelio.ConfigFile, func(c map[string]any) { c["model"].(map[string]any)[field] = v })
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		allow  bool
		want   string
	}{
		{"hidden 65536", model("hidden", 65536), false, `tensor "rnn.weight_ih_l0" as float32 [262144 16], but model.safetensors holds F32 [192 16]`},
		{"vocab 2^40", model("vocab", 1<<40), false, `tensor "emb.weight" as float32 [1099511627776 16]`},
		{"NaN in Adam's moments", nanMoment, false, `optimizer.safetensors: tensor "rnn.weight_hh_l0.exp_avg" holds NaN at element 2`},
		{"NaN allowed", nanMoment, true, ""},
		{"chunk -5", func(t *testing.T, dir string) {
			testutil.EditCheckpointJSON(t, dir, modelio.ManifestFile, func(c map[string]any) { c["metadata"].(map[string]any)["chunk"] = "-5" })
		}, false, "bad counters (epoch 1, chunk -5, tokens"},
		{"chunk not a number", func(t *testing.T, dir string) {
			testutil.EditCheckpointJSON(t, dir, modelio.ManifestFile, func(c map[string]any) { c["metadata"].(map[string]any)["chunk"] = "x" })
		}, false, "bad chunk counter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "last")
			if err := os.CopyFS(dir, os.DirFS(tr.LastDir())); err != nil {
				t.Fatal(err)
			}
			c.damage(t, dir)
			_, err := Resume(dir, ResumeOptions{AllowNonFinite: c.allow}, t.TempDir(), quiet{})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Resume: %v\nwant an error containing %q", err, c.want)
			}
		})
	}
}
