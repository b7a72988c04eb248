package modelio

import (
	"encoding/json"
	"flag"
	"fmt"
	"iter"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// The golden files in testdata are written by
//
//	/usr/bin/python3 scripts/torch_modelio_golden.py modelio/testdata
//
// each case as a PyTorch state dict (<case>.safetensors) and the inputs
// and PyTorch's outputs (<case>_io.safetensors).

var update = flag.Bool("update", false, "rewrite testdata/kioku_lm*.safetensors for the PyTorch check in scripts/torch_modelio_golden.py")

// tol is the largest difference allowed from PyTorch's float32 outputs.
const tol = 1e-5

// golden reads testdata/<name>.safetensors.
func golden(t *testing.T, name string) *safetensors.File {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join("testdata", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// get returns tensor name of f as a float32 kioku tensor.
func get(t *testing.T, f *safetensors.File, name string) *tensor.Tensor {
	t.Helper()
	x, ok := f.Tensors[name]
	if !ok {
		t.Fatalf("golden file has no tensor %q", name)
	}
	k, err := x.ToTensorAs(tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ids(t *testing.T, f *safetensors.File, name string) []int {
	t.Helper()
	v, err := f.Tensors[name].Int64s()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func sequences(t *testing.T, f *safetensors.File) int {
	n, err := strconv.Atoi(f.Metadata["sequences"])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// closeTo reports the first element of got farther than tol from want.
func closeTo(t *testing.T, what string, got, want *tensor.Tensor) {
	t.Helper()
	if !got.SameShape(want) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		return
	}
	worst, at := 0.0, 0
	for i := range got.Size() {
		if d := math.Abs(got.AtFlat(i) - want.AtFlat(i)); !(d <= worst) {
			worst, at = d, i
		}
	}
	if worst > tol {
		t.Errorf("%s: element %d is %v, PyTorch %v (difference %.3g > %g)", what, at, got.AtFlat(at), want.AtFlat(at), worst, tol)
	}
}

// torchLM is the lm case: Embedding → 2-layer LSTM → LayerNorm → Linear.
type torchLM struct {
	Embed *nn.Embedding
	RNN   *nn.NStepLSTM
	Norm  *nn.LayerNormalization
	Out   *nn.Linear
}

type lmShape struct {
	Vocab  int `json:"vocab"`
	Embed  int `json:"embed"`
	Hidden int `json:"hidden"`
	Layers int `json:"layers"`
}

func newTorchLM(c lmShape, seed uint64) *torchLM {
	rng := tensor.NewRNG(seed)
	return &torchLM{
		Embed: must(nn.NewEmbedding(nn.EmbeddingConfig{Vocab: c.Vocab, Dim: c.Embed}, rng)),
		RNN:   must(nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: c.Embed, HiddenSize: c.Hidden, Layers: c.Layers}, rng)),
		Norm:  must(nn.NewLayerNormalization(nn.NormConfig{Size: c.Hidden})),
		Out:   must(nn.NewLinear(nn.LinearConfig{In: c.Hidden, Out: c.Vocab}, rng)),
	}
}

func (m *torchLM) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("embed", m.Embed), nn.Sub("rnn", m.RNN), nn.Sub("norm", m.Norm), nn.Sub("out", m.Out))
}

func (m *torchLM) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

func (m *torchLM) forward(seqs [][]int) (logits []*autograd.Variable, hN, cN *autograd.Variable) {
	xs := make([]*autograd.Variable, len(seqs))
	for i, s := range seqs {
		xs[i] = m.Embed.Forward(s)
	}
	ys, st := m.RNN.Forward(xs, nn.State{})
	for _, y := range ys {
		logits = append(logits, m.Out.Forward(m.Norm.Forward(y)))
	}
	return logits, st.H, st.C
}

func lmConfigOf(t *testing.T, f *safetensors.File) lmShape {
	var c lmShape
	if err := json.Unmarshal([]byte(f.Metadata["config"]), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTorchLM(t *testing.T) {
	io := golden(t, "lm_io")
	m := newTorchLM(lmConfigOf(t, io), 1)
	if err := LoadStateDictFile(filepath.Join("testdata", "lm.safetensors"), m, "", nil); err != nil {
		t.Fatal(err)
	}
	n := sequences(t, io)
	seqs := make([][]int, n)
	for i := range n {
		seqs[i] = ids(t, io, fmt.Sprintf("ids.%d", i))
	}
	logits, hN, cN := m.forward(seqs)
	for i, l := range logits {
		closeTo(t, fmt.Sprintf("logits of sequence %d", i), l.Data, get(t, io, fmt.Sprintf("logits.%d", i)))
	}
	closeTo(t, "h_n", hN.Data, get(t, io, "h_n"))
	closeTo(t, "c_n", cN.Data, get(t, io, "c_n"))

	// The LSTM alone, from the whole model's file, by prefix; and the
	// LayerNorm into a generic ParamDict.
	rnn := must(nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: 5, HiddenSize: 6, Layers: 2}, tensor.NewRNG(3)))
	if err := LoadStateDictFile(filepath.Join("testdata", "lm.safetensors"), rnn, "rnn.", nil); err != nil {
		t.Fatal(err)
	}
	for k, p := range rnn.Params() {
		if !tensor.Equal(p.Data, m.RNN.Params()[k].Data) {
			t.Errorf("%s loaded by prefix differs", p.Name)
		}
	}
	ln := NewParamDict()
	ln.Add("weight", tensor.Float32, 6)
	ln.Add("bias", tensor.Float32, 6)
	if err := LoadStateDictFile(filepath.Join("testdata", "lm.safetensors"), ln, "norm.", nil); err != nil {
		t.Fatal(err)
	}
	if !tensor.Equal(ln.Get("weight").Data, m.Norm.Weight.Data) {
		t.Error("LayerNorm weight loaded into a ParamDict differs")
	}
}

// seqGolden runs an NStep layer case with h0.
func seqGolden(t *testing.T, name string, forward func(h0 *autograd.Variable, xs []*autograd.Variable) (*autograd.Variable, []*autograd.Variable), m nn.Module) {
	t.Helper()
	io := golden(t, name+"_io")
	if err := LoadStateDictFile(filepath.Join("testdata", name+".safetensors"), m, "", nil); err != nil {
		t.Fatal(err)
	}
	n := sequences(t, io)
	xs := make([]*autograd.Variable, n)
	for i := range n {
		xs[i] = autograd.NewVariable(get(t, io, fmt.Sprintf("x.%d", i)))
	}
	hN, ys := forward(autograd.NewVariable(get(t, io, "h0")), xs)
	for i, y := range ys {
		closeTo(t, fmt.Sprintf("%s output of sequence %d", name, i), y.Data, get(t, io, fmt.Sprintf("y.%d", i)))
	}
	closeTo(t, name+" h_n", hN.Data, get(t, io, "h_n"))
}

func TestTorchBiGRUFromFloat64(t *testing.T) {
	if dt := golden(t, "bigru").Tensors["weight_ih_l0"].DType(); dt != safetensors.F64 {
		t.Fatalf("bigru weights are %s; the case is an F64 file", dt)
	}
	m := must(nn.NewNStepGRU(nn.RecurrentConfig{InputSize: 4, HiddenSize: 3, Layers: 2, Bidirectional: true}, tensor.NewRNG(1)))
	seqGolden(t, "bigru", withH0(m), m)
}

func TestTorchBiLSTMNoBias(t *testing.T) {
	m := must(nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: true, NoBias: true}, tensor.NewRNG(1)))
	io := golden(t, "bilstm_io")
	c0 := autograd.NewVariable(get(t, io, "c0"))
	var cN *autograd.Variable
	seqGolden(t, "bilstm", func(h0 *autograd.Variable, xs []*autograd.Variable) (*autograd.Variable, []*autograd.Variable) {
		ys, st := m.Forward(xs, nn.State{H: h0, C: c0})
		cN = st.C
		return st.H, ys
	}, m)
	closeTo(t, "bilstm c_n", cN.Data, get(t, io, "c_n"))
}

func TestTorchRNN(t *testing.T) {
	m := must(nn.NewNStepRNN(nn.RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2}, true, tensor.NewRNG(1)))
	seqGolden(t, "rnn", withH0(m), m)
}

// withH0 is the forward function of seqGolden for a stack without a cell
// state.
func withH0(m nn.Recurrent) func(h0 *autograd.Variable, xs []*autograd.Variable) (*autograd.Variable, []*autograd.Variable) {
	return func(h0 *autograd.Variable, xs []*autograd.Variable) (*autograd.Variable, []*autograd.Variable) {
		ys, st := m.Forward(xs, nn.State{H: h0})
		return st.H, ys
	}
}

// TestTorchCells loads nn.LSTMCell, nn.GRUCell and nn.RNNCell weights into
// the stepped links.
func TestTorchCells(t *testing.T) {
	io := golden(t, "cells_io")
	weights := golden(t, "cells")
	cc := nn.CellConfig{InputSize: 3, HiddenSize: 4}
	lstm := must(nn.NewLSTM(cc, tensor.NewRNG(1)))
	gru := must(nn.NewGRU(cc, nn.GRUPyTorch, tensor.NewRNG(1)))
	rnn := must(nn.NewRNN(cc, false, tensor.NewRNG(1)))
	for prefix, m := range map[string]nn.Module{"lstm.": lstm, "gru.": gru, "rnn.": rnn} {
		if err := LoadStateDict(m, weights.Tensors, prefix, nil); err != nil {
			t.Fatal(err)
		}
	}
	x := get(t, io, "x") // (T, B, I)
	v := func(name string) *autograd.Variable { return autograd.NewVariable(get(t, io, name)) }
	hl, cl, hg, hr := v("lstm.h0"), v("lstm.c0"), v("gru.h0"), v("rnn.h0")
	for step := range x.Dim(0) {
		xt := autograd.NewVariable(x.Index(step).Clone())
		_, sl := lstm.Step(xt, nn.State{H: hl, C: cl})
		_, sg := gru.Step(xt, nn.State{H: hg})
		_, sr := rnn.Step(xt, nn.State{H: hr})
		hl, cl, hg, hr = sl.H, sl.C, sg.H, sr.H
		for name, h := range map[string]*autograd.Variable{"lstm": hl, "gru": hg, "rnn": hr} {
			closeTo(t, fmt.Sprintf("%s h at step %d", name, step), h.Data, get(t, io, name+".h").Index(step))
		}
	}
	closeTo(t, "lstm c_n", cl.Data, get(t, io, "lstm.c_n"))
}

// TestKiokuExportForTorch writes, with -update, a kioku-initialised lm
// and kioku's outputs on some inputs, which scripts/torch_modelio_golden.py
// loads into PyTorch (load_state_dict(strict=True)) and checks against
// PyTorch's outputs. Without -update it checks that kioku still reads the
// committed weights and computes the committed outputs.
func TestKiokuExportForTorch(t *testing.T) {
	shape := lmShape{Vocab: 9, Embed: 4, Hidden: 5, Layers: 2}
	wpath := filepath.Join("testdata", "kioku_lm.safetensors")
	iopath := filepath.Join("testdata", "kioku_lm_io.safetensors")
	seqs := [][]int{{1, 2, 3}, {8, 0, 4, 4, 7, 2}, {5}}
	if *update {
		m := newTorchLM(shape, 42)
		rng := tensor.NewRNG(43)
		m.Norm.Weight.Data.RandUniform(rng, 0.5, 1.5)
		m.Norm.Bias.Data.RandUniform(rng, -0.5, 0.5)
		logits, hN, cN := m.forward(seqs)
		if err := SaveStateDict(wpath, m, "", map[string]string{"written_by": "kioku modelio"}); err != nil {
			t.Fatal(err)
		}
		io := map[string]*safetensors.Tensor{"h_n": safetensors.FromTensor(hN.Data), "c_n": safetensors.FromTensor(cN.Data)}
		for i, s := range seqs {
			v := make([]int64, len(s))
			for j, x := range s {
				v[j] = int64(x)
			}
			io[fmt.Sprintf("ids.%d", i)] = must(safetensors.FromInt64s(v))
			io[fmt.Sprintf("logits.%d", i)] = safetensors.FromTensor(logits[i].Data)
		}
		cfg, _ := json.Marshal(shape)
		if err := safetensors.WriteFile(iopath, io, map[string]string{"config": string(cfg), "sequences": strconv.Itoa(len(seqs))}); err != nil {
			t.Fatal(err)
		}
	}
	f := golden(t, "kioku_lm")
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v lacks format pt", f.Metadata)
	}
	io := golden(t, "kioku_lm_io")
	m := newTorchLM(lmConfigOf(t, io), 1)
	if err := LoadStateDictFile(wpath, m, "", &LoadOptions{ExactDType: true}); err != nil {
		t.Fatal(err)
	}
	for i := range seqs {
		seqs[i] = ids(t, io, fmt.Sprintf("ids.%d", i))
	}
	logits, hN, cN := m.forward(seqs)
	for i, l := range logits {
		closeTo(t, fmt.Sprintf("logits %d", i), l.Data, get(t, io, fmt.Sprintf("logits.%d", i)))
	}
	closeTo(t, "h_n", hN.Data, get(t, io, "h_n"))
	closeTo(t, "c_n", cN.Data, get(t, io, "c_n"))
}

// TestTorchBatchNorm loads PyTorch's BatchNorm1d, buffers included
// (running_mean and running_var in F32, num_batches_tracked an I64
// scalar), and evaluates as PyTorch does.
func TestTorchBatchNorm(t *testing.T) {
	io := golden(t, "bn_io")
	bn := must(nn.NewBatchNormalization(nn.NormConfig{Size: 4}))
	if err := LoadStateDictFile(filepath.Join("testdata", "bn.safetensors"), bn, "", nil); err != nil {
		t.Fatal(err)
	}
	if bn.BatchesTracked != 3 || bn.RunningVar[0] == 1 {
		t.Fatalf("buffers not loaded: %v %v %d", bn.RunningMean, bn.RunningVar, bn.BatchesTracked)
	}
	bn.SetMode(autograd.Eval)
	closeTo(t, "y", bn.Forward(autograd.NewVariable(get(t, io, "x"))).Data, get(t, io, "y"))
}

// TestKiokuBatchNormExportForTorch, with -update, writes a trained kioku
// BatchNormalization's state dict and its evaluation outputs, which
// scripts/torch_modelio_golden.py loads into PyTorch's BatchNorm1d
// (load_state_dict(strict=True)) and checks. Without -update it checks
// that kioku still reads them and computes the committed outputs.
func TestKiokuBatchNormExportForTorch(t *testing.T) {
	wpath := filepath.Join("testdata", "kioku_bn.safetensors")
	iopath := filepath.Join("testdata", "kioku_bn_io.safetensors")
	if *update {
		bn := must(nn.NewBatchNormalization(nn.NormConfig{Size: 3}))
		rng := tensor.NewRNG(44)
		bn.Weight.Data.RandUniform(rng, 0.5, 1.5)
		bn.Bias.Data.RandUniform(rng, -0.5, 0.5)
		for range 4 {
			x := tensor.New(tensor.Float32, 5, 3)
			x.RandNormal(rng, 1, 2)
			bn.Forward(autograd.NewVariable(x))
		}
		bn.SetMode(autograd.Eval)
		x := tensor.New(tensor.Float32, 4, 3)
		x.RandNormal(rng, 0, 1)
		y := bn.Forward(autograd.NewVariable(x)).Data
		if err := SaveStateDict(wpath, bn, "", nil); err != nil {
			t.Fatal(err)
		}
		io := map[string]*safetensors.Tensor{"x": safetensors.FromTensor(x), "y": safetensors.FromTensor(y)}
		if err := safetensors.WriteFile(iopath, io, nil); err != nil {
			t.Fatal(err)
		}
	}
	io := golden(t, "kioku_bn_io")
	bn := must(nn.NewBatchNormalization(nn.NormConfig{Size: 3}))
	if err := LoadStateDictFile(wpath, bn, "", &LoadOptions{ExactDType: true}); err != nil {
		t.Fatal(err)
	}
	if bn.BatchesTracked != 4 {
		t.Fatalf("num_batches_tracked %d, want 4", bn.BatchesTracked)
	}
	bn.SetMode(autograd.Eval)
	y := bn.Forward(autograd.NewVariable(get(t, io, "x"))).Data
	if !tensor.Equal(y, get(t, io, "y")) {
		t.Fatal("evaluation differs from the committed outputs")
	}
}
