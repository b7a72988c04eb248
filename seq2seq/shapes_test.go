package seq2seq_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
)

// TestParamSpecsMatchNewModel: for every valid combination of cell,
// directions, layers, bridge, attention, input feeding and type,
// ParamSpecs names exactly the parameters NewModel builds, in order, with
// their shapes and types.
func TestParamSpecsMatchNewModel(t *testing.T) {
	n := 0
	for _, cell := range []seq2seq.Cell{seq2seq.LSTM, seq2seq.GRU} {
		for _, bi := range []bool{false, true} {
			for _, layers := range []int{0, 2} {
				for _, bridge := range []seq2seq.Bridge{seq2seq.BridgeLinear, seq2seq.BridgeSum, seq2seq.BridgeZero} {
					for _, attn := range []seq2seq.Attention{seq2seq.NoAttention, seq2seq.Dot, seq2seq.General, seq2seq.Additive} {
						for _, feed := range []bool{false, true} {
							for _, encHid := range []int{0, 2} {
								for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
									cfg := seq2seq.Config{SrcVocab: 7, TgtVocab: 9, BOS: 1, EOS: 2, Embed: 3, Hidden: 4, EncoderHidden: encHid, Layers: layers,
										Cell: cell, Bidirectional: bi, Bridge: bridge, Attention: attn, InputFeeding: feed, AttentionSize: 5, DType: dt}
									if cfg.Validate() != nil {
										continue
									}
									n++
									m, err := seq2seq.NewModel(cfg, tensor.NewRNG(1))
									if err != nil {
										t.Fatal(err)
									}
									specs, err := cfg.ParamSpecs()
									if err != nil {
										t.Fatal(err)
									}
									var got, want []string
									var count int64
									for _, s := range specs {
										got = append(got, fmt.Sprint(s.Name, " ", s.DType, " ", s.Shape))
									}
									for name, p := range m.NamedParams() {
										want = append(want, fmt.Sprint(name, " ", p.Data.DType(), " ", p.Data.Shape()))
										count += int64(p.Size())
									}
									if !slices.Equal(got, want) {
										t.Errorf("%+v:\nParamSpecs %q\nNewModel   %q", cfg, got, want)
									}
									if cfg.NumParams() != count {
										t.Errorf("%+v: NumParams %d, model has %d", cfg, cfg.NumParams(), count)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d valid configurations tried", n)
	}
}

// TestLoadChecksConfigBeforeBuilding: a configuration claiming a model
// other than the weights in the file is refused before NewModel, naming
// the tensor and both shapes, allocating little.
func TestLoadChecksConfigBeforeBuilding(t *testing.T) {
	src := dataset.NewVocab([][]string{{"a", "b", "c"}}, 1, 0)
	tgt := dataset.NewVocab([][]string{{"x", "y"}}, 1, 0)
	cfg := seq2seq.Config{SrcVocab: src.Len(), TgtVocab: tgt.Len(), BOS: dataset.BOS, EOS: dataset.EOS, Embed: 3, Hidden: 4, Attention: seq2seq.Dot}
	m, err := seq2seq.NewModel(cfg, tensor.NewRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	meta := seq2seq.Meta{Version: seq2seq.MetaVersion, Config: cfg, Src: src.Tokens(), Tgt: tgt.Tokens(), Tokens: seq2seq.TokensChars}
	cases := []struct {
		name string
		edit map[string]any
		want string
	}{
		{"hidden 100000", map[string]any{"Hidden": 100000, "Attention": "general"}, `tensor "encoder.rnn.weight_ih_l0" as float32 [400000 3], but model.safetensors holds F32 [16 3]`},
		{"hidden=embed=65536 layers=64", map[string]any{"Hidden": 65536, "Embed": 65536, "Layers": 64, "Attention": "general"}, `tensor "encoder.embed.weight" as float32 [7 65536], but model.safetensors holds F32 [7 3]`},
		{"source vocabulary 2^40", map[string]any{"SrcVocab": 1 << 40}, `tensor "encoder.embed.weight" as float32 [1099511627776 3]`},
		{"target vocabulary 1e8", map[string]any{"TgtVocab": 1e8}, `tensor "decoder.embed.weight" as float32 [100000000 3]`},
		{"two layers", map[string]any{"Layers": 2}, `asks for a tensor "encoder.rnn.weight_ih_l1" [16 4] that model.safetensors does not hold`},
		{"float64", map[string]any{"DType": 1}, `tensor "encoder.embed.weight" as float64 [7 3], but model.safetensors holds F32 [7 3]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := modelio.Save(dir, &modelio.Checkpoint{Kind: seq2seq.Kind, Config: meta, Model: m}); err != nil {
				t.Fatal(err)
			}
			testutil.EditCheckpointJSON(t, dir, modelio.ConfigFile, func(v map[string]any) {
				for k, x := range c.edit {
					v["config"].(map[string]any)[k] = x
				}
			})
			var err error
			n := testutil.Allocated(func() { _, err = seq2seq.Load(dir) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v\nwant an error containing %q", err, c.want)
			}
			if n > 4<<20 {
				t.Errorf("Load allocated %d bytes to refuse it", n)
			}
		})
	}
}
