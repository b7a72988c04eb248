package nn

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// stepper is what the stateful links have in common for these tests.
type stepper interface {
	Params() []*autograd.Variable
	Advance(x *autograd.Variable) *autograd.Variable
	State() State
	Reset()
}

func cellLinks(t *testing.T, cfg CellConfig) map[string]stepper {
	t.Helper()
	rng := tensor.NewRNG(7)
	must := func(s stepper, err error) stepper {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	links := map[string]stepper{}
	links["LSTM"] = must(NewLSTM(cfg, rng))
	links["PeepholeDiagonal"] = must(NewPeepholeLSTM(cfg, PeepholeDiagonal, rng))
	links["PeepholeFull"] = must(NewPeepholeLSTM(cfg, PeepholeFull, rng))
	links["GRU"] = must(NewGRU(cfg, GRUPyTorch, rng))
	links["GRUCho"] = must(NewGRU(cfg, GRUCho, rng))
	links["RNNTanh"] = must(NewRNN(cfg, false, rng))
	links["RNNReLU"] = must(NewRNN(cfg, true, rng))
	links["IRNN"] = must(NewIRNN(cfg, rng))
	return links
}

// randomize gives every parameter (peepholes and learned initial states
// included, which start at zero) random values so that every path is
// exercised.
func randomize(ps []*autograd.Variable, seed uint64) {
	rng := tensor.NewRNG(seed)
	for _, p := range ps {
		p.Data.RandNormal(rng, 0, 0.4)
	}
}

// TestLinkGradients runs each link statefully over three steps with a
// shrinking batch (3, 3, 2 rows) and checks the gradients of the outputs
// and final state with respect to the inputs and every parameter,
// including the learned initial state.
func TestLinkGradients(t *testing.T) {
	cfg := CellConfig{InputSize: 3, HiddenSize: 5, DType: tensor.Float64, LearnInitialState: true}
	for name, link := range cellLinks(t, cfg) {
		t.Run(name, func(t *testing.T) {
			params := link.Params()
			randomize(params, 3)
			inputs := checkInputs(tensor.NewRNG(4), 3, []int{3, 3, 2}, params)
			f := func(v []*autograd.Variable) []*autograd.Variable {
				return linkSteps(link, params, v, 3, nil)
			}
			opts := &gradcheck.Options{}
			if strings.HasPrefix(name, "RNNReLU") || name == "IRNN" {
				opts.Eps = 1e-7
			}
			if err := gradcheck.Check(f, inputs, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// linkSteps runs link statefully from a reset state over the first n of
// v, with its parameters params replaced for the call by the rest of v
// (the checker's variables), and returns the outputs and the final state.
// before, if not nil, runs after the reset.
func linkSteps(link stepper, params, v []*autograd.Variable, n int, before func()) []*autograd.Variable {
	for i, p := range params {
		replaceParam(link, p, v[n+i])
	}
	defer func() {
		for i, p := range params {
			replaceParam(link, v[n+i], p)
		}
	}()
	link.Reset()
	if before != nil {
		before()
	}
	var outs []*autograd.Variable
	for k := 0; k < n; k++ {
		outs = append(outs, link.Advance(v[k]))
	}
	return append(outs, stateOf(link)...)
}

// replaceParam swaps parameter old for new inside a link.
func replaceParam(link stepper, old, new *autograd.Variable) {
	swap := func(p **autograd.Variable) {
		if *p == old {
			*p = new
		}
	}
	var w *fn.RecurrentWeights
	var st *state
	switch l := link.(type) {
	case *LSTM:
		w, st = &l.W, &l.state
	case *PeepholeLSTM:
		w, st = &l.W, &l.state
		for k := range l.Peep {
			swap(&l.Peep[k])
		}
	case *GRU:
		w, st = &l.W, &l.state
	case *RNN:
		w, st = &l.W, &l.state
	}
	for _, p := range []**autograd.Variable{&w.WIH, &w.WHH, &w.BIH, &w.BHH, &w.Peephole, &st.h0, &st.c0} {
		swap(p)
	}
}

func stateOf(link stepper) []*autograd.Variable {
	st := link.State()
	if st.C == nil {
		return []*autograd.Variable{st.H}
	}
	return []*autograd.Variable{st.H, st.C}
}

// TestSmallerBatchKeepsRestOfState: a batch smaller than the state's
// advances the first rows and leaves the others unchanged (Chainer's rule).
func TestSmallerBatchKeepsRestOfState(t *testing.T) {
	l, err := NewLSTM(CellConfig{InputSize: 2, HiddenSize: 3}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, 4, 2)
	x.RandNormal(tensor.NewRNG(2), 0, 1)
	l.Advance(autograd.NewVariable(x))
	st1 := l.State()
	h1, c1 := st1.H, st1.C
	y := l.Advance(autograd.NewVariable(x.Slice(0, 2)))
	st2 := l.State()
	h2, c2 := st2.H, st2.C
	if !slices.Equal(y.Shape(), []int{2, 3}) || !slices.Equal(h2.Shape(), []int{4, 3}) {
		t.Fatalf("output %v, state %v; want (2, 3) and (4, 3)", y.Shape(), h2.Shape())
	}
	if !tensor.Equal(h2.Data.Slice(2, 4), h1.Data.Slice(2, 4)) || !tensor.Equal(c2.Data.Slice(2, 4), c1.Data.Slice(2, 4)) {
		t.Fatal("rows beyond the batch changed")
	}
	if tensor.Equal(h2.Data.Slice(0, 2), h1.Data.Slice(0, 2)) {
		t.Fatal("rows within the batch did not advance")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "batch of 5 rows but a state of 4") {
			t.Fatalf("larger batch: panic %v", r)
		}
	}()
	l.Advance(autograd.NewVariable(tensor.New(tensor.Float32, 5, 2)))
}

// TestStatefulEqualsStatelessAndNStep: Forward over a sequence equals Step
// by hand and equals NStep over the same sequence with the same weights.
func TestStatefulEqualsStatelessAndNStep(t *testing.T) {
	cfg := CellConfig{InputSize: 3, HiddenSize: 4, DType: tensor.Float64}
	l, _ := NewLSTM(cfg, tensor.NewRNG(1))
	ns, _ := NewNStepLSTM(RecurrentConfig{InputSize: 3, HiddenSize: 4, DType: tensor.Float64}, tensor.NewRNG(2))
	ns.weights[0][0] = l.W
	rng := tensor.NewRNG(3)
	xs := make([]*tensor.Tensor, 2) // two sequences of length 4, batch-major per step
	for i := range xs {
		xs[i] = tensor.New(tensor.Float64, 4, 3)
		xs[i].RandNormal(rng, 0, 1)
	}
	st := l.Initial(2)
	for step := 0; step < 4; step++ {
		x := autograd.NewVariable(tensor.New(tensor.Float64, 2, 3))
		x.Data.Index(0).CopyFrom(xs[0].Index(step))
		x.Data.Index(1).CopyFrom(xs[1].Index(step))
		yl := l.Advance(x)
		_, st = l.Step(x, st)
		if !tensor.Equal(yl.Data, st.H.Data) {
			t.Fatalf("step %d: stateful and stateless differ", step)
		}
	}
	_, sthN := ns.Forward([]*autograd.Variable{autograd.NewVariable(xs[0]), autograd.NewVariable(xs[1])}, State{})
	hN, cN := sthN.H, sthN.C
	if !tensor.AllClose(hN.Data.Reshape(2, 4), st.H.Data, 1e-13, 1e-13) || !tensor.AllClose(cN.Data.Reshape(2, 4), st.C.Data, 1e-13, 1e-13) {
		t.Fatal("link and NStep final states differ")
	}
}

// TestTruncatedBPTTWithLink runs the deck's loop with a stateful link: the
// state carries its value across chunks but the second chunk's backward
// does not reach the first chunk's inputs.
func TestTruncatedBPTTWithLink(t *testing.T) {
	l, _ := NewGRU(CellConfig{InputSize: 2, HiddenSize: 3, DType: tensor.Float64}, GRUPyTorch, tensor.NewRNG(1))
	x1 := autograd.NewParameter(tensor.New(tensor.Float64, 1, 2))
	x1.Data.Fill(0.5)
	loss := fn.Sum(l.Advance(x1))
	loss = fn.Add(loss, fn.Sum(l.Advance(x1)))
	loss.Backward()
	g := x1.Grad.Clone()
	loss.UnchainBackward()
	if l.State().H.Creator() != nil {
		t.Fatal("state still attached to the graph after UnchainBackward")
	}
	loss2 := fn.Sum(l.Advance(autograd.NewVariable(x1.Data)))
	loss2.Backward()
	if !tensor.Equal(g, x1.Grad) {
		t.Fatal("second chunk's backward reached the first chunk")
	}
}

func TestSetStateAndReset(t *testing.T) {
	l, _ := NewRNN(CellConfig{InputSize: 2, HiddenSize: 3, LearnInitialState: true}, false, tensor.NewRNG(1))
	randomize(l.Params(), 2)
	h := autograd.NewVariable(tensor.New(tensor.Float32, 2, 3))
	l.SetState(State{H: h})
	if l.State().H != h {
		t.Fatal("SetState not stored")
	}
	l.Reset()
	if l.State().H != nil {
		t.Fatal("Reset kept the state")
	}
	// After Reset, the learned h0 is the starting point of every row.
	h0 := l.Initial(2).H
	for i := 0; i < 2; i++ {
		if !tensor.Equal(h0.Data.Index(i), l.state.h0.Data) {
			t.Fatal("learned initial state not repeated over the batch")
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "(B, 3)") {
			t.Fatalf("bad SetState: panic %v", r)
		}
	}()
	l.SetState(State{H: autograd.NewVariable(tensor.New(tensor.Float32, 2, 4))})
}

func TestLinkParamNames(t *testing.T) {
	cfg := CellConfig{InputSize: 2, HiddenSize: 3, LearnInitialState: true}
	want := map[string]string{
		"LSTM":             "weight_ih[12 2] weight_hh[12 3] bias_ih[12] bias_hh[12] h0[3] c0[3]",
		"PeepholeDiagonal": "weight_ih[12 2] weight_hh[12 3] bias_ih[12] bias_hh[12] weight_peephole[3 3] h0[3] c0[3]",
		"PeepholeFull":     "weight_ih[12 2] weight_hh[12 3] bias_ih[12] bias_hh[12] weight_peep_i[3 3] weight_peep_f[3 3] weight_peep_o[3 3] h0[3] c0[3]",
		"GRU":              "weight_ih[9 2] weight_hh[9 3] bias_ih[9] bias_hh[9] h0[3]",
		"RNNTanh":          "weight_ih[3 2] weight_hh[3 3] bias_ih[3] bias_hh[3] h0[3]",
	}
	links := cellLinks(t, cfg)
	for name, w := range want {
		var got []string
		for _, p := range links[name].Params() {
			got = append(got, fmt.Sprintf("%s%v", p.Name, p.Shape()))
		}
		if strings.Join(got, " ") != w {
			t.Errorf("%s parameters %v, want %s", name, got, w)
		}
	}
}
