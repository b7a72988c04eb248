package nn

import (
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// bufferValues collects m's buffers' values by name, and their names in
// order.
func bufferValues(m Module) (map[string]*tensor.Tensor, []string) {
	vals := map[string]*tensor.Tensor{}
	var names []string
	for n, b := range NamedBuffers(m) {
		vals[n] = b.Value()
		names = append(names, n)
	}
	return vals, names
}

// copyBuffers sets every buffer of dst from src's values by name.
func copyBuffers(t *testing.T, dst, src Module) {
	t.Helper()
	vals, _ := bufferValues(src)
	for _, n := range slices.Sorted(maps.Keys(vals)) {
		if err := SetBuffer(dst, n, vals[n]); err != nil {
			t.Fatal(err)
		}
	}
}

func copyParams(dst, src Module) {
	sp := src.Params()
	for i, p := range dst.Params() {
		p.Data.CopyFrom(sp[i].Data)
	}
}

func randomBatch(rng *tensor.RNG, dt tensor.DType, n, T, in int) []*autograd.Variable {
	var xs []*autograd.Variable
	for range n {
		x := tensor.New(dt, T, in)
		x.RandNormal(rng, 0.5, 2)
		xs = append(xs, autograd.NewVariable(x))
	}
	return xs
}

func TestBatchNormalizationBuffers(t *testing.T) {
	bn, _ := NewBatchNormalization(NormConfig{Size: 3})
	_, names := bufferValues(bn)
	if want := []string{"running_mean", "running_var", "num_batches_tracked"}; !slices.Equal(names, want) {
		t.Fatalf("buffers %v, want %v", names, want)
	}
	rng := tensor.NewRNG(1)
	for range 3 {
		x := tensor.New(tensor.Float32, 5, 3)
		x.RandNormal(rng, 1, 2)
		bn.Forward(autograd.NewVariable(x))
	}
	vals, _ := bufferValues(bn)
	if got := vals["num_batches_tracked"]; got.NDim() != 0 || got.Item() != 3 {
		t.Fatalf("num_batches_tracked %v, want the scalar 3", got)
	}
	if !slices.Equal(vals["running_mean"].Float64s(), bn.RunningMean) || !slices.Equal(vals["running_var"].Float64s(), bn.RunningVar) {
		t.Fatal("buffer values differ from RunningMean, RunningVar")
	}
	vals["running_mean"].Fill(7) // a copy: the layer keeps its own
	if bn.RunningMean[0] == 7 {
		t.Fatal("Value shares the layer's storage")
	}

	fresh, _ := NewBatchNormalization(NormConfig{Size: 3})
	copyParams(fresh, bn)
	x := tensor.New(tensor.Float32, 4, 3)
	x.RandNormal(rng, 1, 2)
	bn.SetMode(autograd.Eval)
	fresh.SetMode(autograd.Eval)
	want := bn.Forward(autograd.NewVariable(x)).Data
	if tensor.Equal(fresh.Forward(autograd.NewVariable(x)).Data, want) {
		t.Fatal("a fresh layer evaluates as the trained one")
	}
	copyBuffers(t, fresh, bn)
	if !tensor.Equal(fresh.Forward(autograd.NewVariable(x)).Data, want) || fresh.BatchesTracked != 3 {
		t.Fatal("the layer with the trained buffers evaluates differently")
	}

	for _, c := range []struct {
		name string
		t    *tensor.Tensor
		msg  string
	}{
		{"running_mean", tensor.New(tensor.Float64, 4), "has shape [4], want [3]"},
		{"running_var", tensor.FromFloat64([]float64{1, -1, 1}), "negative"},
		{"num_batches_tracked", tensor.New(tensor.Float64, 1), "has shape [1], want []"},
		{"num_batches_tracked", tensor.Scalar(tensor.Float64, 2.5), "not a count"},
		{"running_bias", tensor.New(tensor.Float64, 3), `no buffer named "running_bias" (buffers: running_mean, running_var, num_batches_tracked)`},
	} {
		before, _ := bufferValues(fresh)
		err := SetBuffer(fresh, c.name, c.t)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("SetBuffer(%s, %v): error %v, want one saying %q", c.name, c.t.Shape(), err, c.msg)
		}
		after, _ := bufferValues(fresh)
		for n := range before {
			if !tensor.Equal(before[n], after[n]) {
				t.Errorf("a refused SetBuffer(%s) changed %s", c.name, n)
			}
		}
	}
	lin, _ := NewLinear(LinearConfig{In: 2, Out: 2}, tensor.NewRNG(1))
	if err := SetBuffer(lin, "running_mean", tensor.New(tensor.Float64, 2)); err == nil || !strings.Contains(err.Error(), "has no buffers") {
		t.Fatalf("SetBuffer on a module without buffers: %v", err)
	}
}

func TestRecurrentBatchNormBuffers(t *testing.T) {
	cfg := RecurrentConfig{InputSize: 2, HiddenSize: 3, Layers: 2, Bidirectional: true, Norm: fn.BatchNormKind}
	m, err := NewNStepLSTM(cfg, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	vals, names := bufferValues(m)
	var want []string
	for _, suffix := range []string{"_l0", "_l0_reverse", "_l1", "_l1_reverse"} {
		for _, q := range []string{"x", "h", "c"} {
			want = append(want, "bn_running_"+q+"_mean"+suffix, "bn_running_"+q+"_var"+suffix)
		}
		want = append(want, "bn_num_batches_tracked"+suffix)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("buffers\n%v\nwant\n%v", names, want)
	}
	if s := vals["bn_running_x_mean_l1"].Shape(); !slices.Equal(s, []int{0, 12}) {
		t.Fatalf("untrained statistics have shape %v, want [0 12]", s)
	}

	rng := tensor.NewRNG(2)
	for range 4 {
		m.Forward(randomBatch(rng, tensor.Float32, 5, 3, 2), State{})
	}
	vals, _ = bufferValues(m)
	for n, s := range map[string][]int{"bn_running_x_mean_l0": {3, 12}, "bn_running_h_var_l1_reverse": {3, 12}, "bn_running_c_mean_l1": {3, 3}, "bn_num_batches_tracked_l0": {3}} {
		if !slices.Equal(vals[n].Shape(), s) {
			t.Errorf("%s has shape %v, want %v", n, vals[n].Shape(), s)
		}
	}
	if got := vals["bn_num_batches_tracked_l0"].Values(); !slices.Equal(got, []float64{4, 4, 4}) {
		t.Errorf("bn_num_batches_tracked_l0 %v, want [4 4 4]", got)
	}

	fresh, _ := NewNStepLSTM(cfg, tensor.NewRNG(9))
	copyParams(fresh, m)
	m.SetMode(autograd.Eval)
	fresh.SetMode(autograd.Eval)
	xs := randomBatch(rng, tensor.Float32, 3, 5, 2)
	want0, _ := m.Forward(xs, State{})
	if got, _ := fresh.Forward(xs, State{}); tensor.Equal(got[0].Data, want0[0].Data) {
		t.Fatal("a fresh stack evaluates as the trained one")
	}
	copyBuffers(t, fresh, m)
	got, _ := fresh.Forward(xs, State{})
	for i := range got {
		if !tensor.Equal(got[i].Data, want0[i].Data) {
			t.Fatalf("sequence %d: evaluation differs after copying the buffers", i)
		}
	}
	// Training goes on identically: the counts say the statistics are set.
	m.SetMode(autograd.Train)
	fresh.SetMode(autograd.Train)
	more := randomBatch(rng, tensor.Float32, 5, 4, 2)
	m.Forward(more, State{})
	fresh.Forward(more, State{})
	a, _ := bufferValues(m)
	b, _ := bufferValues(fresh)
	for n := range a {
		if !tensor.Equal(a[n], b[n]) {
			t.Fatalf("%s differs after one more training step", n)
		}
	}

	for _, c := range []struct {
		name string
		t    *tensor.Tensor
		msg  string
	}{
		{"bn_running_x_mean_l0", tensor.New(tensor.Float64, 3, 11), "has shape [3 11], want (T, 12)"},
		{"bn_running_c_var_l0", tensor.New(tensor.Float64, 3), "has shape [3], want (T, 3)"},
		{"bn_running_h_var_l1", tensor.FromFloat64([]float64{1, 1, -1}, 1, 3).Reshape(1, 3), "want (T, 12)"},
		{"bn_num_batches_tracked_l1_reverse", tensor.FromFloat64([]float64{1, 0.5}), "not a count"},
		{"bn_running_x_mean_l2", tensor.New(tensor.Float64, 3, 12), `no buffer named "bn_running_x_mean_l2"`},
	} {
		if err := SetBuffer(fresh, c.name, c.t); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("SetBuffer(%s, %v): error %v, want one saying %q", c.name, c.t.Shape(), err, c.msg)
		}
	}
	neg := tensor.New(tensor.Float64, 2, 12)
	neg.SetFlat(5, -1)
	if err := SetBuffer(fresh, "bn_running_x_var_l0", neg); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("a negative variance: %v", err)
	}

	// Rows set to different lengths: the statistics cover the steps all
	// of them cover, and training grows them all again.
	if err := SetBuffer(fresh, "bn_running_x_mean_l0", tensor.New(tensor.Float64, 2, 12)); err != nil {
		t.Fatal(err)
	}
	vals, _ = bufferValues(fresh)
	if n := vals["bn_running_c_var_l0"].Dim(0); n != 2 {
		t.Fatalf("statistics cover %d steps, want 2", n)
	}
	if n := vals["bn_running_c_var_l0_reverse"].Dim(0); n != 4 {
		t.Fatalf("the reverse direction's statistics cover %d steps, want 4", n)
	}
	fresh.Forward(randomBatch(rng, tensor.Float32, 5, 3, 2), State{})
	vals, _ = bufferValues(fresh)
	if n := vals["bn_running_x_mean_l0"].Dim(0); n != 3 || !slices.Equal(vals["bn_num_batches_tracked_l0"].Values(), []float64{6, 6, 1}) {
		t.Fatalf("after training: %d steps, counts %v; want 3 and [6 6 1]", n, vals["bn_num_batches_tracked_l0"].Values())
	}

	// Layer normalisation and plain stacks have no buffers.
	for _, c := range []RecurrentConfig{{InputSize: 2, HiddenSize: 3, Norm: fn.LayerNormKind}, {InputSize: 2, HiddenSize: 3}} {
		g, _ := NewNStepGRU(c, tensor.NewRNG(1))
		if _, names := bufferValues(g); len(names) != 0 {
			t.Fatalf("norm %d: buffers %v", c.Norm, names)
		}
	}
}

func TestLinkBatchNormBuffers(t *testing.T) {
	cfg := CellConfig{InputSize: 2, HiddenSize: 3, Norm: fn.BatchNormKind}
	l, _ := NewLSTM(cfg, tensor.NewRNG(1))
	g, _ := NewGRU(cfg, GRUPyTorch, tensor.NewRNG(1))
	if _, names := bufferValues(g); !slices.Equal(names, []string{"bn_running_x_mean", "bn_running_x_var", "bn_running_h_mean", "bn_running_h_var", "bn_num_batches_tracked"}) {
		t.Fatalf("GRU link buffers %v", names)
	}
	rng := tensor.NewRNG(2)
	x := tensor.New(tensor.Float32, 4, 2)
	for range 3 {
		x.RandNormal(rng, 0, 1)
		l.Advance(autograd.NewVariable(x))
	}
	vals, names := bufferValues(l)
	if len(names) != 7 || !slices.Equal(vals["bn_running_c_mean"].Shape(), []int{3, 3}) {
		t.Fatalf("LSTM link buffers %v, c mean %v", names, vals["bn_running_c_mean"].Shape())
	}
	fresh, _ := NewLSTM(cfg, tensor.NewRNG(5))
	copyParams(fresh, l)
	copyBuffers(t, fresh, l)
	l.Reset()
	l.SetMode(autograd.Eval)
	fresh.SetMode(autograd.Eval)
	for range 4 {
		if !tensor.Equal(l.Advance(autograd.NewVariable(x)).Data, fresh.Advance(autograd.NewVariable(x)).Data) {
			t.Fatal("link evaluates differently with copied buffers")
		}
	}
}

// bnTagger is a model made of modules, some with buffers.
type bnTagger struct {
	RNN  *NStepGRU
	Norm *BatchNormalization
	Out  *Linear
}

func (m *bnTagger) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return Join(Sub("rnn", m.RNN), Sub("norm", m.Norm), Sub("out", m.Out))
}

func (m *bnTagger) Params() []*autograd.Variable { return Vars(m.NamedParams()) }

func (m *bnTagger) NamedBuffers() iter.Seq2[string, Buffer] {
	return Join(SubBuffers("rnn", m.RNN), SubBuffers("norm", m.Norm), SubBuffers("out", m.Out))
}

func TestComposedBuffers(t *testing.T) {
	rnn, _ := NewNStepGRU(RecurrentConfig{InputSize: 2, HiddenSize: 3, Norm: fn.BatchNormKind}, tensor.NewRNG(1))
	norm, _ := NewBatchNormalization(NormConfig{Size: 3})
	out, _ := NewLinear(LinearConfig{In: 3, Out: 2}, tensor.NewRNG(1))
	m := &bnTagger{rnn, norm, out}
	_, names := bufferValues(m)
	want := []string{"rnn.bn_running_x_mean_l0", "rnn.bn_running_x_var_l0", "rnn.bn_running_h_mean_l0", "rnn.bn_running_h_var_l0", "rnn.bn_num_batches_tracked_l0",
		"norm.running_mean", "norm.running_var", "norm.num_batches_tracked"}
	if !slices.Equal(names, want) {
		t.Fatalf("buffers %v, want %v", names, want)
	}
	if err := SetBuffer(m, "norm.running_var", tensor.FromFloat64([]float64{2, 3, 4})); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(norm.RunningVar, []float64{2, 3, 4}) {
		t.Fatalf("SetBuffer through the parent: running_var %v", norm.RunningVar)
	}
	if err := SetBuffer(m, "rnn.bn_running_x_mean_l0", tensor.New(tensor.Float64, 2, 8)); err == nil || !strings.Contains(err.Error(), "bn_running_x_mean_l0 has shape [2 8], want (T, 9)") {
		t.Fatalf("a misshaped buffer through the parent: %v", err)
	}
	if err := SetBuffer(m, "running_var", tensor.New(tensor.Float64, 3)); err == nil || !strings.Contains(err.Error(), `no buffer named "running_var"`) {
		t.Fatalf("an unprefixed name: %v", err)
	}
	// A wrapper passes its layer's buffers on.
	wn, err := NewWeightNorm(rnn, "weight_hh_l0")
	if err != nil {
		t.Fatal(err)
	}
	if _, names := bufferValues(wn); len(names) != 5 || names[0] != "bn_running_x_mean_l0" {
		t.Fatalf("WeightNorm buffers %v", names)
	}
	// Stopping early stops every level.
	n := 0
	for range m.NamedBuffers() {
		if n++; n == 6 {
			break
		}
	}
}

func TestTensorBuffer(t *testing.T) {
	store := tensor.New(tensor.Float32, 2)
	b := TensorBuffer("scale", store)
	if err := b.Set(tensor.FromFloat64([]float64{1, 2})); err != nil || store.At(1) != 2 {
		t.Fatalf("Set: %v, %v", err, store)
	}
	if err := b.Set(tensor.New(tensor.Float32, 3)); err == nil || !strings.Contains(err.Error(), "scale has shape [3], want [2]") {
		t.Fatalf("misshaped Set: %v", err)
	}
	v := b.Value()
	v.Fill(9)
	if store.At(0) != 1 {
		t.Fatal("Value shares storage")
	}
}
