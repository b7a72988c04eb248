package modelio

import (
	"bytes"
	"errors"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// bnModel is a bidirectional recurrent-batch-norm LSTM → BatchNorm →
// Linear regressor: a model whose sub-modules hold buffers.
type bnModel struct {
	RNN  *nn.NStepLSTM
	Norm *nn.BatchNormalization
	Out  *nn.Linear
}

func (m *bnModel) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("rnn", m.RNN), nn.Sub("norm", m.Norm), nn.Sub("out", m.Out))
}

func (m *bnModel) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

func (m *bnModel) NamedBuffers() iter.Seq2[string, nn.Buffer] {
	return nn.Join(nn.SubBuffers("rnn", m.RNN), nn.SubBuffers("norm", m.Norm), nn.SubBuffers("out", m.Out))
}

func (m *bnModel) SetMode(mode autograd.Mode) {
	m.RNN.SetMode(mode)
	m.Norm.SetMode(mode)
}

func newBNModel(seed uint64) *bnModel {
	rng := tensor.NewRNG(seed)
	return &bnModel{
		RNN:  must(nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: true, Norm: fn.BatchNormKind}, rng)),
		Norm: must(nn.NewBatchNormalization(nn.NormConfig{Size: 8})),
		Out:  must(nn.NewLinear(nn.LinearConfig{In: 8, Out: 2}, rng)),
	}
}

func (m *bnModel) forward(xs []*autograd.Variable) *autograd.Variable {
	ys, _ := m.RNN.Forward(xs, nn.State{})
	return m.Out.Forward(m.Norm.Forward(fn.Concat(ys, 0)))
}

func bnInputs(rng *tensor.RNG, lengths ...int) []*autograd.Variable {
	var xs []*autograd.Variable
	for _, n := range lengths {
		x := tensor.New(tensor.Float32, n, 3)
		x.RandNormal(rng, 0.5, 1.5)
		xs = append(xs, autograd.NewVariable(x))
	}
	return xs
}

// trainBN trains m a few steps of SGD on a mean-square loss.
func trainBN(t *testing.T, m *bnModel, steps int) {
	t.Helper()
	opt, err := optim.NewSGD(nn.NamedParams(m), optim.SGDConfig{LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(7)
	m.SetMode(autograd.Train)
	for range steps {
		xs := bnInputs(rng, 4, 2, 3)
		y := m.forward(xs)
		target := tensor.New(tensor.Float32, y.Shape()...)
		target.RandNormal(rng, 0, 1)
		loss := fn.MeanSquaredError(y, autograd.NewVariable(target))
		opt.ClearGrads()
		loss.Backward()
		if err := opt.Update(); err != nil {
			t.Fatal(err)
		}
	}
}

func evalBN(m *bnModel, xs []*autograd.Variable) *tensor.Tensor {
	m.SetMode(autograd.Eval)
	defer m.SetMode(autograd.Train)
	return m.forward(xs).Data
}

func bufferSnapshot(m nn.Module) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for n, b := range nn.NamedBuffers(m) {
		out[n] = b.Value()
	}
	return out
}

func sameBuffers(a, b map[string]*tensor.Tensor) bool {
	return maps.EqualFunc(a, b, func(x, y *tensor.Tensor) bool { return tensor.Equal(x, y) })
}

func TestCheckpointKeepsBuffers(t *testing.T) {
	m := newBNModel(1)
	trainBN(t, m, 3)
	xs := bnInputs(tensor.NewRNG(99), 6, 1, 3) // longer than any training sequence
	want := evalBN(m, xs)

	dir := filepath.Join(t.TempDir(), "ck")
	if err := Save(dir, &Checkpoint{Kind: "bn", Model: m}); err != nil {
		t.Fatal(err)
	}
	fresh := newBNModel(2)
	if tensor.Equal(evalBN(fresh, xs), want) {
		t.Fatal("a fresh model evaluates as the trained one")
	}
	if err := Load(dir, &Checkpoint{Kind: "bn", Model: fresh}); err != nil {
		t.Fatal(err)
	}
	if got := evalBN(fresh, xs); !tensor.Equal(got, want) {
		t.Fatalf("evaluation after Save and Load differs from the saved model's:\n%v\n%v", got, want)
	}
	if !sameBuffers(bufferSnapshot(fresh), bufferSnapshot(m)) {
		t.Fatal("buffers differ after Save and Load")
	}
	// The weights file is a state dict with PyTorch's names for the
	// BatchNorm buffers and float64 statistics.
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Weights().Tensors
	for name, shape := range map[string][]int{"norm.running_mean": {8}, "norm.running_var": {8}, "norm.num_batches_tracked": {}, "rnn.bn_running_x_mean_l1_reverse": {4, 16}, "rnn.bn_running_c_var_l0": {4, 4}, "rnn.bn_num_batches_tracked_l0": {4}} {
		if w[name] == nil || w[name].DType() != safetensors.F64 || !slices.Equal(w[name].Shape(), shape) {
			t.Errorf("%s: %v, want F64 %v", name, w[name], shape)
		}
	}
	// Training resumes identically too (the batch counts come back).
	trainBN(t, m, 1)
	trainBN(t, fresh, 1)
	if !sameBuffers(bufferSnapshot(fresh), bufferSnapshot(m)) {
		t.Fatal("buffers differ after one more training step")
	}
}

// paramsOnly hides a model's buffers, as kioku before buffers saw it.
type paramsOnly struct{ m nn.Parent }

func (p paramsOnly) Params() []*autograd.Variable { return p.m.Params() }
func (p paramsOnly) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return p.m.NamedParams()
}

func TestCheckpointWithoutBuffers(t *testing.T) {
	// A model without buffers: the weights file is the parameters alone,
	// byte for byte what Save wrote before buffers.
	plain := newLM(testCfg, 3)
	dir := filepath.Join(t.TempDir(), "plain")
	if err := Save(dir, &Checkpoint{Kind: "lm", Model: plain}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]*safetensors.Tensor{}
	for n, v := range nn.NamedParams(plain) {
		params[n] = safetensors.FromTensor(v.Data)
	}
	var want bytes.Buffer
	if err := safetensors.Write(&want, params, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the weights file of a model without buffers changed")
	}

	// An old checkpoint of a model with buffers (none saved) still loads:
	// the parameters are restored, the buffers left as they are.
	m := newBNModel(1)
	trainBN(t, m, 2)
	old := filepath.Join(t.TempDir(), "old")
	if err := Save(old, &Checkpoint{Kind: "bn", Model: paramsOnly{m}}); err != nil {
		t.Fatal(err)
	}
	fresh := newBNModel(2)
	before := bufferSnapshot(fresh)
	if err := Load(old, &Checkpoint{Kind: "bn", Model: fresh}); err != nil {
		t.Fatalf("an old checkpoint without buffers: %v", err)
	}
	if !sameBuffers(bufferSnapshot(fresh), before) {
		t.Fatal("loading an old checkpoint changed the buffers")
	}
	for i, p := range fresh.Params() {
		if !tensor.Equal(p.Data, m.Params()[i].Data) {
			t.Fatalf("parameter %d not restored", i)
		}
	}

	// A checkpoint with buffers into a model without them: unexpected.
	dir2 := filepath.Join(t.TempDir(), "new")
	if err := Save(dir2, &Checkpoint{Kind: "bn", Model: m}); err != nil {
		t.Fatal(err)
	}
	err = Load(dir2, &Checkpoint{Kind: "bn", Model: paramsOnly{newBNModel(2)}})
	var ce *CheckpointError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "31 unexpected: norm.num_batches_tracked, norm.running_mean") {
		t.Fatalf("buffers the model lacks: %v", err)
	}
}

func TestRestoreBufferProblems(t *testing.T) {
	m := newBNModel(1)
	trainBN(t, m, 2)
	sd, err := StateDict(m, "")
	if err != nil {
		t.Fatal(err)
	}
	// Damage the state dict: one buffer missing, one unexpected, one of
	// the wrong fixed shape, one the buffer refuses, one of the wrong type
	// for a checkpoint.
	delete(sd, "norm.running_var")
	sd["norm.running_sum"] = zerosTensor(tensor.Float64, 8)
	sd["norm.running_mean"] = zerosTensor(tensor.Float64, 7)
	sd["rnn.bn_running_h_mean_l1"] = zerosTensor(tensor.Float64, 4, 15)
	sd["rnn.bn_running_x_var_l0"] = safetensors.FromTensor(tensor.New(tensor.Float32, 4, 16))
	dir := filepath.Join(t.TempDir(), "ck")
	if err := Save(dir, &Checkpoint{Kind: "bn", Model: m}); err != nil {
		t.Fatal(err)
	}
	rewriteWeights(t, dir, sd)

	fresh := newBNModel(2)
	trainBN(t, fresh, 1)
	before := bufferSnapshot(fresh)
	err = Load(dir, &Checkpoint{Kind: "bn", Model: fresh})
	var ce *CheckpointError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *CheckpointError", err)
	}
	for _, want := range []string{
		"1 missing: norm.running_var",
		"1 unexpected: norm.running_sum",
		"norm.running_mean (file F64 [7]: buffer running_mean has shape [7], want [8])",
		"rnn.bn_running_h_mean_l1 (file F64 [4 15]: buffer bn_running_h_mean_l1 has shape [4 15], want (T, 16))",
		"rnn.bn_running_x_var_l0 (file F32, model float64)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	if !sameBuffers(bufferSnapshot(fresh), before) {
		t.Fatal("a refused checkpoint changed the buffers")
	}

	// The same through LoadStateDict, which converts F32 and takes the
	// rest as it comes.
	err = LoadStateDict(fresh, sd, "", nil)
	var se *StateDictError
	if !errors.As(err, &se) || len(se.Missing) != 1 || len(se.Unexpected) != 1 || len(se.Mismatched) != 2 {
		t.Fatalf("LoadStateDict: %v", err)
	}
	if !sameBuffers(bufferSnapshot(fresh), before) {
		t.Fatal("a refused state dict changed the buffers")
	}
	if err := LoadStateDict(fresh, sd, "", &LoadOptions{AllowMissing: true, AllowUnexpected: true}); err == nil {
		t.Fatal("misshaped buffers accepted")
	}
}

// rewriteWeights replaces a checkpoint's weights file and its manifest
// entry.
func rewriteWeights(t *testing.T, dir string, sd map[string]*safetensors.Tensor) {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, sd, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, ModelFile)); err != nil {
		t.Fatal(err)
	}
	info, err := writePart(filepath.Join(dir, ModelFile), func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
	if err != nil {
		t.Fatal(err)
	}
	editManifest(func(m map[string]any) {
		m["files"].(map[string]any)[ModelFile] = map[string]any{"size": info.Size, "sha256": info.SHA256}
	})(dir)
}

func TestBatchNormStateDictForTorch(t *testing.T) {
	bn := must(nn.NewBatchNormalization(nn.NormConfig{Size: 3}))
	rng := tensor.NewRNG(1)
	for range 2 {
		x := tensor.New(tensor.Float32, 4, 3)
		x.RandNormal(rng, 1, 1)
		bn.Forward(autograd.NewVariable(x))
	}
	sd, err := StateDict(bn, "bn.")
	if err != nil {
		t.Fatal(err)
	}
	if names := slices.Sorted(maps.Keys(sd)); !slices.Equal(names, []string{"bn.bias", "bn.num_batches_tracked", "bn.running_mean", "bn.running_var", "bn.weight"}) {
		t.Fatalf("state dict names %v", names)
	}
	// As PyTorch writes it: float32 statistics, an int64 count.
	mean32 := tensor.New(tensor.Float32, 3)
	mean32.CopyFrom(tensor.FromFloat64(bn.RunningMean).AsType(tensor.Float32))
	sd["bn.running_mean"] = safetensors.FromTensor(mean32)
	sd["bn.num_batches_tracked"] = must(safetensors.New(safetensors.I64, []int{}, []byte{2, 0, 0, 0, 0, 0, 0, 0}))
	fresh := must(nn.NewBatchNormalization(nn.NormConfig{Size: 3}))
	if err := LoadStateDict(fresh, sd, "bn.", nil); err != nil {
		t.Fatal(err)
	}
	if fresh.BatchesTracked != 2 || !slices.Equal(fresh.RunningVar, bn.RunningVar) || fresh.RunningMean[1] != float64(mean32.At(1)) {
		t.Fatalf("loaded %v %v %d", fresh.RunningMean, fresh.RunningVar, fresh.BatchesTracked)
	}
	if err := LoadStateDict(fresh, sd, "bn.", &LoadOptions{ExactDType: true}); err == nil || !strings.Contains(err.Error(), "bn.num_batches_tracked (file I64, model float64)") {
		t.Fatalf("ExactDType with an I64 count: %v", err)
	}
}
