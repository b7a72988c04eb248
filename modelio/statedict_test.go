package modelio

import (
	"errors"
	"iter"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// layerCase builds one layer type from a seed.
type layerCase struct {
	name  string
	build func(rng *tensor.RNG) (nn.Module, error)
	names []string // PyTorch's state_dict names
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func rnnNames(layers int, bi, bias bool) []string {
	var out []string
	for l := range layers {
		for _, dir := range []string{"", "_reverse"} {
			if dir != "" && !bi {
				continue
			}
			suf := "_l" + string(rune('0'+l)) + dir
			out = append(out, "weight_ih"+suf, "weight_hh"+suf)
			if bias {
				out = append(out, "bias_ih"+suf, "bias_hh"+suf)
			}
		}
	}
	return out
}

var cellNames = []string{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}

func layerCases() []layerCase {
	rc := func(in, h, layers int, bi bool) nn.RecurrentConfig {
		return nn.RecurrentConfig{InputSize: in, HiddenSize: h, Layers: layers, Bidirectional: bi}
	}
	cc := nn.CellConfig{InputSize: 3, HiddenSize: 4}
	learned := nn.CellConfig{InputSize: 3, HiddenSize: 4, LearnInitialState: true}
	return []layerCase{
		{"Linear", func(r *tensor.RNG) (nn.Module, error) { return nn.NewLinear(nn.LinearConfig{In: 3, Out: 5}, r) }, []string{"weight", "bias"}},
		{"Linear/nobias/float64", func(r *tensor.RNG) (nn.Module, error) {
			return nn.NewLinear(nn.LinearConfig{In: 3, Out: 5, NoBias: true, DType: tensor.Float64}, r)
		}, []string{"weight"}},
		{"Embedding", func(r *tensor.RNG) (nn.Module, error) {
			return nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 7, Dim: 3, Padding: true}, r)
		}, []string{"weight"}},
		{"LayerNormalization", func(r *tensor.RNG) (nn.Module, error) {
			l, err := nn.NewLayerNormalization(nn.NormConfig{Size: 4})
			if err == nil {
				l.Weight.Data.RandNormal(r, 1, 0.1)
				l.Bias.Data.RandNormal(r, 0, 0.1)
			}
			return l, err
		}, []string{"weight", "bias"}},
		{"NStepLSTM", func(r *tensor.RNG) (nn.Module, error) { return nn.NewNStepLSTM(rc(3, 4, 1, false), r) }, rnnNames(1, false, true)},
		{"NStepLSTM/2-layer/bi", func(r *tensor.RNG) (nn.Module, error) { return nn.NewNStepLSTM(rc(3, 4, 2, true), r) }, rnnNames(2, true, true)},
		{"NStepLSTM/3-layer/nobias/float64", func(r *tensor.RNG) (nn.Module, error) {
			c := rc(2, 3, 3, false)
			c.NoBias, c.DType = true, tensor.Float64
			return nn.NewNStepLSTM(c, r)
		}, rnnNames(3, false, false)},
		{"NStepGRU", func(r *tensor.RNG) (nn.Module, error) { return nn.NewNStepGRU(rc(3, 4, 1, false), r) }, rnnNames(1, false, true)},
		{"NStepGRU/2-layer/bi", func(r *tensor.RNG) (nn.Module, error) { return nn.NewNStepGRU(rc(3, 4, 2, true), r) }, rnnNames(2, true, true)},
		{"NStepRNN/tanh", func(r *tensor.RNG) (nn.Module, error) { return nn.NewNStepRNN(rc(3, 4, 1, false), false, r) }, rnnNames(1, false, true)},
		{"NStepRNN/relu/3-layer/bi", func(r *tensor.RNG) (nn.Module, error) { return nn.NewNStepRNN(rc(3, 4, 3, true), true, r) }, rnnNames(3, true, true)},
		{"LSTM link", func(r *tensor.RNG) (nn.Module, error) { return nn.NewLSTM(cc, r) }, cellNames},
		{"LSTM link/learned h0", func(r *tensor.RNG) (nn.Module, error) { return nn.NewLSTM(learned, r) }, append(slices.Clone(cellNames), "h0", "c0")},
		{"GRU link", func(r *tensor.RNG) (nn.Module, error) { return nn.NewGRU(cc, nn.GRUPyTorch, r) }, cellNames},
		{"GRU link/Cho/learned h0", func(r *tensor.RNG) (nn.Module, error) { return nn.NewGRU(learned, nn.GRUCho, r) }, append(slices.Clone(cellNames), "h0")},
		{"RNN link", func(r *tensor.RNG) (nn.Module, error) { return nn.NewRNN(cc, false, r) }, cellNames},
		{"IRNN link", func(r *tensor.RNG) (nn.Module, error) { return nn.NewIRNN(cc, r) }, cellNames},
		{"PeepholeLSTM/diagonal", func(r *tensor.RNG) (nn.Module, error) { return nn.NewPeepholeLSTM(cc, nn.PeepholeDiagonal, r) }, append(slices.Clone(cellNames), "weight_peephole")},
		{"PeepholeLSTM/full", func(r *tensor.RNG) (nn.Module, error) { return nn.NewPeepholeLSTM(cc, nn.PeepholeFull, r) }, append(slices.Clone(cellNames), "weight_peep_i", "weight_peep_f", "weight_peep_o")},
	}
}

// randomize gives every parameter distinct random values (peepholes and
// learned states start at zero).
func randomize(m nn.Module, seed uint64) {
	rng := tensor.NewRNG(seed)
	for _, p := range m.Params() {
		p.Data.RandNormal(rng, 0, 1)
	}
}

func paramNames(m nn.Module) []string {
	var names []string
	for n := range nn.NamedParams(m) {
		names = append(names, n)
	}
	return names
}

// TestRoundTripEveryLayer saves each layer type to a file and loads it
// into a differently initialised layer of the same configuration.
func TestRoundTripEveryLayer(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range layerCases() {
		t.Run(tc.name, func(t *testing.T) {
			src := must(tc.build(tensor.NewRNG(1)))
			randomize(src, uint64(10+i))
			dst := must(tc.build(tensor.NewRNG(2)))
			if got := paramNames(src); !slices.Equal(got, tc.names) {
				t.Fatalf("names %v, want %v", got, tc.names)
			}
			name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(tc.name)+".safetensors")
			if err := SaveStateDict(name, src, "layer.", map[string]string{"case": tc.name}); err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if f.Metadata["format"] != "pt" || f.Metadata["case"] != tc.name {
				t.Errorf("metadata %v", f.Metadata)
			}
			if err := LoadStateDictFile(name, dst, "layer.", nil); err != nil {
				t.Fatal(err)
			}
			sp, dp := src.Params(), dst.Params()
			for k := range sp {
				if !tensor.Equal(sp[k].Data, dp[k].Data) {
					t.Errorf("parameter %s differs after the round trip", sp[k].Name)
				}
			}
		})
	}
}

// tagger is a model of named sub-modules.
type tagger = embedLSTM

func newTagger(seed uint64, hidden int) *tagger {
	return newEmbedLSTM(tensor.NewRNG(seed), 6, 3, hidden, 2, 2)
}

// embedLSTM is Embedding → NStepLSTM → Linear, with the parameters
// embed.*, rnn.* and out.*.
type embedLSTM struct {
	Embed *nn.Embedding
	RNN   *nn.NStepLSTM
	Out   *nn.Linear
}

func (m *embedLSTM) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("embed", m.Embed), nn.Sub("rnn", m.RNN), nn.Sub("out", m.Out))
}

func (m *embedLSTM) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// newEmbedLSTM draws the layers from rng in order: a vocab×embed
// embedding, an LSTM of the given layers (0 means 1) and hidden size, and
// a hidden→out linear layer.
func newEmbedLSTM(rng *tensor.RNG, vocab, embed, hidden, layers, out int) *embedLSTM {
	return &embedLSTM{
		Embed: must(nn.NewEmbedding(nn.EmbeddingConfig{Vocab: vocab, Dim: embed}, rng)),
		RNN:   must(nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: embed, HiddenSize: hidden, Layers: layers}, rng)),
		Out:   must(nn.NewLinear(nn.LinearConfig{In: hidden, Out: out}, rng)),
	}
}

func TestPrefixLoadsSubModule(t *testing.T) {
	m := newTagger(1, 4)
	sd, err := StateDict(m, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sd); got != 1+8+2 {
		t.Fatalf("%d tensors", got)
	}
	rnn := must(nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2}, tensor.NewRNG(9)))
	if err := LoadStateDict(rnn, sd, "rnn.", nil); err != nil {
		t.Fatal(err)
	}
	for k, p := range rnn.Params() {
		if !tensor.Equal(p.Data, m.RNN.Params()[k].Data) {
			t.Errorf("%s differs", p.Name)
		}
	}
	// Without the prefix nothing matches, and the error says where the
	// tensors are.
	err = LoadStateDict(rnn, sd, "", nil)
	var se *StateDictError
	if !errors.As(err, &se) || len(se.Missing) != 8 || !strings.Contains(se.Hint, `prefix "rnn."`) {
		t.Errorf("error %v", err)
	}
}

func TestDTypeConversion(t *testing.T) {
	src := must(nn.NewLinear(nn.LinearConfig{In: 3, Out: 2, DType: tensor.Float64}, tensor.NewRNG(1)))
	sd := must(StateDict(src, ""))
	// F64 file into Float32 parameters: rounded to nearest.
	dst := must(nn.NewLinear(nn.LinearConfig{In: 3, Out: 2}, tensor.NewRNG(2)))
	if err := LoadStateDict(dst, sd, "", nil); err != nil {
		t.Fatal(err)
	}
	if !tensor.Equal(dst.Weight.Data, src.Weight.Data.AsType(tensor.Float32)) {
		t.Error("F64 → float32 is not rounding to nearest")
	}
	// ExactDType refuses it.
	err := LoadStateDict(dst, sd, "", &LoadOptions{ExactDType: true})
	var se *StateDictError
	if !errors.As(err, &se) || len(se.Mismatched) != 2 || !strings.Contains(err.Error(), "weight (file F64, model float32)") {
		t.Errorf("ExactDType: %v", err)
	}
	// F32 and F16 files into Float64 parameters: exact.
	back := must(nn.NewLinear(nn.LinearConfig{In: 3, Out: 2, DType: tensor.Float64}, tensor.NewRNG(3)))
	if err := LoadStateDict(back, must(StateDict(dst, "")), "", nil); err != nil {
		t.Fatal(err)
	}
	if !tensor.Equal(back.Weight.Data, dst.Weight.Data.AsType(tensor.Float64)) {
		t.Error("F32 → float64 is not exact")
	}
	half := map[string]*safetensors.Tensor{
		"weight": must(safetensors.New(safetensors.F16, []int{2, 3}, []byte{0, 0x3c, 0, 0xc0, 0, 0x38, 0, 0, 0, 0x3c, 0, 0x3c})),
		"bias":   must(safetensors.New(safetensors.BF16, []int{2}, []byte{0x80, 0x3f, 0x80, 0xbf})),
	}
	if err := LoadStateDict(back, half, "", nil); err != nil {
		t.Fatal(err)
	}
	if got := back.Weight.Data.Values(); !slices.Equal(got, []float64{1, -2, 0.5, 0, 1, 1}) {
		t.Errorf("F16 weight loaded as %v", got)
	}
	if got := back.Bias.Data.Values(); !slices.Equal(got, []float64{1, -1}) {
		t.Errorf("BF16 bias loaded as %v", got)
	}
}

func TestLoadStateDictErrors(t *testing.T) {
	m := newTagger(1, 4)
	good := must(StateDict(m, "model."))
	edit := func(f func(sd map[string]*safetensors.Tensor)) map[string]*safetensors.Tensor {
		sd := map[string]*safetensors.Tensor{}
		for k, v := range good {
			sd[k] = v
		}
		f(sd)
		return sd
	}
	ids := must(safetensors.FromInt64s([]int64{1, 2}))
	tests := []struct {
		name string
		sd   map[string]*safetensors.Tensor
		opts *LoadOptions
		want string // the whole error, or "" for success
	}{
		{"good", good, nil, ""},
		{"missing", edit(func(sd map[string]*safetensors.Tensor) {
			delete(sd, "model.rnn.bias_hh_l1")
			delete(sd, "model.embed.weight")
		}), nil, "modelio: state dict does not fit the model: 2 missing: model.embed.weight, model.rnn.bias_hh_l1"},
		{"missing allowed", edit(func(sd map[string]*safetensors.Tensor) { delete(sd, "model.out.bias") }), &LoadOptions{AllowMissing: true}, ""},
		{"unexpected", edit(func(sd map[string]*safetensors.Tensor) {
			sd["model.rnn.weight_ih_l2"] = sd["model.rnn.weight_ih_l1"]
			sd["model.extra"] = ids
			sd["other.ignored"] = ids // outside the prefix
		}), nil, "modelio: state dict does not fit the model: 2 unexpected: model.extra, model.rnn.weight_ih_l2"},
		{"unexpected allowed", edit(func(sd map[string]*safetensors.Tensor) { sd["model.extra"] = ids }), &LoadOptions{AllowUnexpected: true}, ""},
		{"all kinds", edit(func(sd map[string]*safetensors.Tensor) {
			delete(sd, "model.out.bias")
			sd["model.rnn.weight_hh_l0"] = sd["model.rnn.weight_ih_l0"]
			sd["model.out.weight"] = zerosTensor(tensor.Float32, 4, 2)
			sd["model.embed.weight"] = must(safetensors.FromInt64s(make([]int64, 18), 6, 3))
			sd["model.zzz"] = ids
			sd["model.aaa"] = ids
		}), nil, "modelio: state dict does not fit the model: 1 missing: model.out.bias; 2 unexpected: model.aaa, model.zzz; " +
			"3 mismatched: model.embed.weight (file I64, model float32), model.out.weight (file F32 [4 2], model float32 [2 4]), model.rnn.weight_hh_l0 (file F32 [16 3], model float32 [16 4])"},
	}
	for _, tt := range tests {
		before := must(StateDict(m, ""))
		err := LoadStateDict(m, tt.sd, "model.", tt.opts)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.name, err, tt.want)
		}
		var se *StateDictError
		if !errors.As(err, &se) {
			t.Errorf("%s: error is %T", tt.name, err)
		}
		for name, p := range nn.NamedParams(m) {
			if !tensor.Equal(p.Data, must(before[name].ToTensor())) {
				t.Errorf("%s: %s changed by a failed load", tt.name, name)
			}
		}
	}
}

// zerosTensor returns a zero F32 or F64 safetensors tensor.
func zerosTensor(dt tensor.DType, shape ...int) *safetensors.Tensor {
	return safetensors.FromTensor(tensor.New(dt, shape...))
}

// flat is a Module that is not a Parent: its names are its Variables'.
type flat []*autograd.Variable

func (f flat) Params() []*autograd.Variable { return f }

func TestModelNameErrors(t *testing.T) {
	a := must(nn.NewLinear(nn.LinearConfig{In: 2, Out: 2}, tensor.NewRNG(1)))
	b := must(nn.NewLinear(nn.LinearConfig{In: 2, Out: 2}, tensor.NewRNG(2)))
	dup := flat(append(a.Params(), b.Params()...))
	if _, err := StateDict(dup, ""); err == nil || !strings.Contains(err.Error(), `two parameters named "weight"`) {
		t.Errorf("duplicate names: %v", err)
	}
	if err := LoadStateDict(dup, nil, "", nil); err == nil {
		t.Error("duplicate names loaded")
	}
	anon := flat{autograd.NewParameter(tensor.Zeros(1))}
	if _, err := StateDict(anon, ""); err == nil || !strings.Contains(err.Error(), "no name") {
		t.Errorf("unnamed parameter: %v", err)
	}
	if err := LoadStateDict(nil, nil, "", nil); err == nil {
		t.Error("nil model loaded")
	}
	if err := LoadStateDictFile(filepath.Join(t.TempDir(), "none"), a, "", nil); err == nil {
		t.Error("missing file loaded")
	}
}

func TestParamDict(t *testing.T) {
	d := NewParamDict()
	w := d.Add("weight", tensor.Float32, 3)
	d.Add("bias", tensor.Float64, 3)
	if d.Get("weight") != w || d.Get("nope") != nil {
		t.Error("Get")
	}
	if got := paramNames(d); !slices.Equal(got, []string{"weight", "bias"}) {
		t.Errorf("names %v", got)
	}
	sd := map[string]*safetensors.Tensor{
		"norm.weight": safetensors.FromTensor(tensor.FromFloat32([]float32{1, 2, 3})),
		"norm.bias":   safetensors.FromTensor(tensor.FromFloat32([]float32{4, 5, 6})),
	}
	if err := LoadStateDict(d, sd, "norm.", nil); err != nil {
		t.Fatal(err)
	}
	if got := d.Get("bias").Data.Values(); !slices.Equal(got, []float64{4, 5, 6}) {
		t.Errorf("bias %v", got)
	}
	for _, f := range []func(){func() { d.Add("weight", tensor.Float32, 1) }, func() { d.Add("", tensor.Float32, 1) }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Add did not panic")
				}
			}()
			f()
		}()
	}
}
