package lm_test

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/tensor"
)

// TestParamSpecsMatchNew: ParamSpecs names, in order, exactly the
// parameters New builds, with their shapes and types.
func TestParamSpecsMatchNew(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		for _, layers := range []int{1, 3} {
			for _, tie := range []bool{false, true} {
				for _, norm := range []bool{false, true} {
					cfg := lm.Config{Cell: cell, Tokenizer: "char", Vocab: 7, Emb: 5, Hidden: 5, Layers: layers, Tie: tie, LayerNorm: norm}
					if !tie {
						cfg.Emb = 3
					}
					m, err := lm.New(cfg, tensor.NewRNG(1))
					if err != nil {
						t.Fatal(err)
					}
					specs, err := cfg.ParamSpecs()
					if err != nil {
						t.Fatal(err)
					}
					var got, want []string
					var n int64
					for _, s := range specs {
						got = append(got, s.Name+" "+s.DType.String()+" "+shape(s.Shape))
					}
					for name, p := range m.NamedParams() {
						want = append(want, name+" "+p.Data.DType().String()+" "+shape(p.Data.Shape()))
						n += int64(p.Size())
					}
					if !slices.Equal(got, want) {
						t.Errorf("%+v:\nParamSpecs %q\nNew        %q", cfg, got, want)
					}
					if cfg.NumParams() != n {
						t.Errorf("%+v: NumParams %d, model has %d", cfg, cfg.NumParams(), n)
					}
				}
			}
		}
	}
}

func shape(s []int) string { return fmt.Sprint(s) }

// TestLoadChecksConfigBeforeBuilding: a configuration that claims a model
// other than the weights in the file — the hostile sizes of issue 17
// among them — is refused before the model is built, naming the tensor
// and both shapes, and refusing it allocates little.
func TestLoadChecksConfigBeforeBuilding(t *testing.T) {
	cfg := lm.Config{Cell: "lstm", Tokenizer: "char", Vocab: 4, Emb: 3, Hidden: 5, Layers: 2}
	m, err := lm.New(cfg, tensor.NewRNG(7))
	if err != nil {
		t.Fatal(err)
	}
	vocab := []string{"<unk>", "<eos>", "a", "b"}
	cases := []struct {
		name string
		edit map[string]any // fields of the "model" object
		want string
	}{
		{"hidden=emb=65536 layers=64", map[string]any{"hidden": 65536, "emb": 65536, "layers": 64}, `tensor "emb.weight" as float32 [4 65536], but model.safetensors holds F32 [4 3]`},
		{"vocab 2^40", map[string]any{"vocab": 1 << 40}, `tensor "emb.weight" as float32 [1099511627776 3], but model.safetensors holds F32 [4 3]`},
		{"vocab 1e8", map[string]any{"vocab": 1e8}, `tensor "emb.weight" as float32 [100000000 3], but model.safetensors holds F32 [4 3]`},
		{"one layer more", map[string]any{"layers": 3}, `asks for a tensor "rnn.weight_ih_l2" [20 5] that model.safetensors does not hold`},
		{"other hidden size", map[string]any{"hidden": 6}, `tensor "rnn.weight_ih_l0" as float32 [24 3], but model.safetensors holds F32 [20 3]`},
		{"gru for an lstm", map[string]any{"cell": "gru"}, `tensor "rnn.weight_ih_l0" as float32 [15 3]`},
		{"hidden too large", map[string]any{"hidden": 1 << 20}, "lm: sizes too large"},
		{"layers negative", map[string]any{"layers": -1}, "lm: sizes must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := modelio.Save(dir, &modelio.Checkpoint{Kind: lm.Kind, Config: map[string]any{"model": cfg}, Model: m, Vocab: vocab}); err != nil {
				t.Fatal(err)
			}
			testutil.EditCheckpointJSON(t, dir, modelio.ConfigFile, func(v map[string]any) {
				for k, x := range c.edit {
					v["model"].(map[string]any)[k] = x
				}
			})
			var err error
			n := testutil.Allocated(func() { _, _, err = lm.Load(dir) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v\nwant an error containing %q", err, c.want)
			}
			if n > 4<<20 {
				t.Errorf("Load allocated %d bytes to refuse it", n)
			}
		})
	}
}

// TestLoadRefusesNonFinite: NaN weights are refused by Load and loaded by
// LoadWith(AllowNonFinite).
func TestLoadRefusesNonFinite(t *testing.T) {
	cfg := lm.Config{Cell: "gru", Tokenizer: "char", Vocab: 4, Emb: 3, Hidden: 5, Layers: 1}
	m, err := lm.New(cfg, tensor.NewRNG(7))
	if err != nil {
		t.Fatal(err)
	}
	m.Params()[1].Data.Float32s()[4] = float32(math.NaN())
	dir := filepath.Join(t.TempDir(), "ck")
	if err := modelio.Save(dir, &modelio.Checkpoint{Kind: lm.Kind, Config: map[string]any{"model": cfg}, Model: m, Vocab: []string{"<unk>", "<eos>", "a", "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lm.Load(dir); err == nil || !strings.Contains(err.Error(), `tensor "rnn.weight_ih_l0" holds NaN at element 4 ([1 1] of [15 3])`) {
		t.Errorf("Load: %v", err)
	}
	if _, _, err := lm.LoadWith(dir, lm.LoadOptions{AllowNonFinite: true}); err != nil {
		t.Errorf("LoadWith(AllowNonFinite): %v", err)
	}
}

// ParamSpecs gives the tensors a configuration builds, and what they
// cost, without building them.
func ExampleConfig_ParamSpecs() {
	cfg := lm.Config{Cell: "lstm", Tokenizer: "char", Vocab: 100, Emb: 64, Hidden: 256, Layers: 2}
	specs, err := cfg.ParamSpecs()
	if err != nil {
		panic(err)
	}
	for _, s := range specs[:3] {
		fmt.Println(s.Name, s.Shape, s.DType)
	}
	fmt.Println(len(specs), "tensors,", cfg.NumParams(), "parameters,", modelio.SpecBytes(specs), "bytes")
	// Output:
	// emb.weight [100 64] float32
	// rnn.weight_ih_l0 [1024 64] float32
	// rnn.weight_hh_l0 [1024 256] float32
	// 11 tensors, 888164 parameters, 3552656 bytes
}
