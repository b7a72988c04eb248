package nn

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

func newTestStack(t *testing.T, cell fn.Cell, cfg RecurrentConfig, seed uint64) *stack {
	t.Helper()
	var (
		s   *stack
		err error
	)
	rng := tensor.NewRNG(seed)
	switch cell {
	case fn.LSTMCellKind:
		var m *NStepLSTM
		m, err = NewNStepLSTM(cfg, rng)
		if m != nil {
			s = m.stack
		}
	case fn.GRUCellKind:
		var m *NStepGRU
		m, err = NewNStepGRU(cfg, rng)
		if m != nil {
			s = m.stack
		}
	default:
		var m *NStepRNN
		m, err = NewNStepRNN(cfg, cell == fn.RNNReLUCellKind, rng)
		if m != nil {
			s = m.stack
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNStepGradients checks NStep layers end to end (packing, layers,
// directions, final states, unpacking) against finite differences.
func TestNStepGradients(t *testing.T) {
	cases := []struct {
		cell    fn.Cell
		layers  int
		bi      bool
		lengths []int
		in, hid int
	}{
		{fn.LSTMCellKind, 1, false, []int{3, 1, 2}, 2, 3},
		{fn.LSTMCellKind, 2, true, []int{1, 3, 3}, 3, 5},
		{fn.LSTMCellKind, 3, true, []int{2}, 2, 3}, // batch 1
		{fn.LSTMCellKind, 1, true, []int{1}, 2, 2}, // length 1, batch 1
		{fn.GRUCellKind, 2, true, []int{2, 4, 1}, 3, 5},
		{fn.GRUCellKind, 3, false, []int{1, 2}, 2, 3},
		{fn.RNNTanhCellKind, 2, true, []int{3, 1, 2}, 2, 3},
		{fn.RNNReLUCellKind, 1, true, []int{3, 2}, 2, 3},
		// Equal lengths: the final states are written in place (JoinViews).
		{fn.LSTMCellKind, 2, true, []int{3, 3}, 3, 4},
		{fn.GRUCellKind, 2, false, []int{2, 2, 2}, 2, 3},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%v/L%d/bi%v/len%v/H%d", tc.cell, tc.layers, tc.bi, tc.lengths, tc.hid)
		t.Run(name, func(t *testing.T) {
			cfg := RecurrentConfig{InputSize: tc.in, HiddenSize: tc.hid, Layers: tc.layers, Bidirectional: tc.bi, DType: tensor.Float64}
			s := newTestStack(t, tc.cell, cfg, 3)
			params := s.Params()
			D := cfg.dirs()
			rng := tensor.NewRNG(4)
			var inputs []*tensor.Tensor
			for _, n := range tc.lengths {
				x := tensor.New(tensor.Float64, n, tc.in)
				x.RandNormal(rng, 0, 1)
				inputs = append(inputs, x)
			}
			nx := len(inputs)
			for range 2 { // h0, c0
				h := tensor.New(tensor.Float64, tc.layers*D, len(tc.lengths), tc.hid)
				h.RandNormal(rng, 0, 0.5)
				inputs = append(inputs, h)
			}
			for _, p := range params {
				inputs = append(inputs, p.Data)
			}
			f := func(v []*autograd.Variable) []*autograd.Variable {
				// Substitute the checker's variables for the parameters.
				setParams(s, v[nx+2:])
				var c0 *autograd.Variable
				if tc.cell == fn.LSTMCellKind {
					c0 = v[nx+1]
				}
				hN, cN, ys := forward3(s, v[nx], c0, v[:nx])
				out := append([]*autograd.Variable{hN}, ys...)
				if cN != nil {
					out = append(out, cN)
				}
				return out
			}
			opts := &gradcheck.Options{}
			if tc.cell != fn.LSTMCellKind {
				opts.NoGrad = []int{nx + 1} // c0 is unused
			}
			if tc.cell == fn.RNNReLUCellKind {
				opts.Eps = 1e-7
			}
			if err := gradcheck.Check(f, inputs, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNStepMatchesSteppingByHand: NStepLSTM with two bidirectional layers
// equals running each sequence alone through fn.LSTMCell step by step
// (outputs and gradients).
func TestNStepMatchesSteppingByHand(t *testing.T) {
	const I, H = 3, 4
	lengths := []int{2, 4, 1}
	cfg := RecurrentConfig{InputSize: I, HiddenSize: H, Layers: 2, Bidirectional: true, DType: tensor.Float64}
	s := newTestStack(t, fn.LSTMCellKind, cfg, 9)
	rng := tensor.NewRNG(10)
	xs := make([]*autograd.Variable, len(lengths))
	for i, n := range lengths {
		x := tensor.New(tensor.Float64, n, I)
		x.RandNormal(rng, 0, 1)
		xs[i] = autograd.NewParameter(x)
	}
	hN, cN, ys := forward3(s, nil, nil, xs)
	loss := fn.Add(fn.Sum(fn.Mul(hN, hN)), fn.Sum(cN))
	for _, y := range ys {
		loss = fn.Add(loss, fn.Sum(fn.Tanh(y)))
	}
	loss.Backward()
	nstepGrads := []*tensor.Tensor{}
	for _, x := range xs {
		nstepGrads = append(nstepGrads, x.Grad.Clone())
		x.ClearGrad()
	}
	for _, p := range s.Params() {
		nstepGrads = append(nstepGrads, p.Grad.Clone())
		p.ClearGrad()
	}

	// By hand: per sequence, per layer, per direction.
	var byHand *autograd.Variable
	for i, x := range xs {
		in := x
		for l := 0; l < 2; l++ {
			var outs []*autograd.Variable
			for d := 0; d < 2; d++ {
				w := s.weights[l][d]
				h := autograd.NewVariable(tensor.New(tensor.Float64, 1, H))
				c := autograd.NewVariable(tensor.New(tensor.Float64, 1, H))
				steps := make([]*autograd.Variable, lengths[i])
				for k := 0; k < lengths[i]; k++ {
					tt := k
					if d == 1 {
						tt = lengths[i] - 1 - k
					}
					xt := fn.Slice(in, 0, tt, tt+1)
					gates := fn.Add(fn.Linear(xt, w.WIH, w.BIH), fn.Linear(h, w.WHH, w.BHH))
					c, h = fn.LSTMCell(c, gates)
					steps[tt] = h
				}
				outs = append(outs, fn.Concat(steps, 0))
				// Final states: compare values now, feed gradients via loss.
				k := l*2 + d
				if !tensor.AllClose(h.Data.Reshape(H), hN.Data.Index(k).Index(i), 1e-12, 1e-12) {
					t.Fatalf("seq %d layer %d dir %d: final h differs", i, l, d)
				}
				term := fn.Add(fn.Sum(fn.Mul(h, h)), fn.Sum(c))
				if byHand == nil {
					byHand = term
				} else {
					byHand = fn.Add(byHand, term)
				}
			}
			in = fn.Concat(outs, 1)
		}
		if !tensor.AllClose(in.Data, ys[i].Data, 1e-12, 1e-12) {
			t.Fatalf("seq %d: outputs differ", i)
		}
		byHand = fn.Add(byHand, fn.Sum(fn.Tanh(in)))
	}
	if math.Abs(byHand.Data.Item()-loss.Data.Item()) > 1e-10 {
		t.Fatalf("loss %v by hand, %v NStep", byHand.Data.Item(), loss.Data.Item())
	}
	byHand.Backward()
	k := 0
	for _, x := range xs {
		if !tensor.AllClose(x.Grad, nstepGrads[k], 1e-10, 1e-12) {
			t.Fatalf("input gradient %d differs", k)
		}
		k++
	}
	for _, p := range s.Params() {
		if !tensor.AllClose(p.Grad, nstepGrads[k], 1e-10, 1e-12) {
			t.Fatalf("gradient of %s differs", p.Name)
		}
		k++
	}
}

func TestNStepParamNamesAndInit(t *testing.T) {
	s := newTestStack(t, fn.LSTMCellKind, RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: true, ForgetBias: 1, RecurrentInit: InitOrthogonal}, 1)
	var names []string
	for _, p := range s.Params() {
		names = append(names, fmt.Sprintf("%s%v", p.Name, p.Shape()))
	}
	want := "weight_ih_l0[16 3] weight_hh_l0[16 4] bias_ih_l0[16] bias_hh_l0[16] weight_ih_l0_reverse[16 3] weight_hh_l0_reverse[16 4] bias_ih_l0_reverse[16] bias_hh_l0_reverse[16] weight_ih_l1[16 8] weight_hh_l1[16 4] bias_ih_l1[16] bias_hh_l1[16] weight_ih_l1_reverse[16 8] weight_hh_l1_reverse[16 4] bias_ih_l1_reverse[16] bias_hh_l1_reverse[16]"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("parameters:\n%s\nwant\n%s", got, want)
	}
	// Orthogonal blocks: WᵀW = I for each gate block.
	whh := s.weights[1][0].WHH.Data
	for k := 0; k < 4; k++ {
		blk := whh.Slice(4*k, 4*k+4)
		for a := 0; a < 4; a++ {
			for b := 0; b < 4; b++ {
				var d float64
				for r := 0; r < 4; r++ {
					d += blk.At(r, a) * blk.At(r, b)
				}
				want := 0.0
				if a == b {
					want = 1
				}
				if math.Abs(d-want) > 1e-5 {
					t.Fatalf("block %d not orthogonal: (WᵀW)[%d,%d] = %v", k, a, b, d)
				}
			}
		}
	}
	b := s.weights[0][1]
	for j := 0; j < 16; j++ {
		wantIH, wantHH := b.BIH.Data.AtFlat(j), b.BHH.Data.AtFlat(j)
		if j >= 4 && j < 8 && (wantIH != 1 || wantHH != 0) {
			t.Fatalf("forget bias not set: b_ih[%d] = %v, b_hh[%d] = %v", j, wantIH, j, wantHH)
		}
	}
	// PyTorch's default: U(−1/√H, 1/√H).
	w := s.weights[0][0].WIH.Data
	if m := w.MaxAbs(); m > 0.5 || m < 0.3 {
		t.Fatalf("max |W_ih| = %v; want close to 1/√4 = 0.5", m)
	}
}

func TestIRNNInit(t *testing.T) {
	s := newTestStack(t, fn.RNNReLUCellKind, RecurrentConfig{InputSize: 2, HiddenSize: 3, RecurrentInit: InitIdentity}, 1)
	w := s.weights[0][0]
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			want := 0.0
			if i == j {
				want = 1
			}
			if w.WHH.Data.At(i, j) != want {
				t.Fatalf("W_hh = %v, want identity", w.WHH.Data)
			}
		}
	}
	if w.BIH.Data.MaxAbs() != 0 || w.BHH.Data.MaxAbs() != 0 {
		t.Fatal("IRNN biases not zero")
	}
}

func TestNStepDropoutBetweenLayers(t *testing.T) {
	cfg := RecurrentConfig{InputSize: 2, HiddenSize: 8, Layers: 2, Dropout: 0.5}
	m, err := NewNStepGRU(cfg, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, 5, 2)
	x.RandNormal(tensor.NewRNG(2), 0, 1)
	xs := []*autograd.Variable{autograd.NewVariable(x)}
	a, _ := m.Forward(xs, State{})
	b, _ := m.Forward(xs, State{})
	if tensor.Equal(a[0].Data, b[0].Data) {
		t.Fatal("train mode: two runs with dropout gave identical outputs")
	}
	m.SetMode(autograd.Eval)
	c, _ := m.Forward(xs, State{})
	d, _ := m.Forward(xs, State{})
	if !tensor.Equal(c[0].Data, d[0].Data) {
		t.Fatal("eval mode is not deterministic")
	}
	// A single layer has no dropout at all: train equals eval.
	one, _ := NewNStepGRU(RecurrentConfig{InputSize: 2, HiddenSize: 8, Dropout: 0.5}, tensor.NewRNG(1))
	e, _ := one.Forward(xs, State{})
	one.SetMode(autograd.Eval)
	f, _ := one.Forward(xs, State{})
	if !tensor.Equal(e[0].Data, f[0].Data) {
		t.Fatal("dropout applied on a single-layer (recurrent or output) path")
	}
}

func TestNStepConfigErrors(t *testing.T) {
	rng := tensor.NewRNG(1)
	bad := []RecurrentConfig{
		{InputSize: 0, HiddenSize: 3},
		{InputSize: 2, HiddenSize: -1},
		{InputSize: 2, HiddenSize: 3, Layers: -1},
		{InputSize: 2, HiddenSize: 3, Dropout: 1},
		{InputSize: 2, HiddenSize: 3, ForgetBias: 1, NoBias: true},
	}
	for _, cfg := range bad {
		if _, err := NewNStepLSTM(cfg, rng); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if _, err := NewNStepGRU(RecurrentConfig{InputSize: 2, HiddenSize: 3, ForgetBias: 1}, rng); err == nil {
		t.Error("ForgetBias accepted for a GRU")
	}
	if _, err := NewNStepLSTM(RecurrentConfig{InputSize: 2, HiddenSize: 3}, nil); err == nil {
		t.Error("nil RNG accepted")
	}
}

// setParams replaces the stack's parameter variables, in Params order.
func setParams(s *stack, vs []*autograd.Variable) {
	k := 0
	for l := range s.weights {
		for d := range s.weights[l] {
			w := &s.weights[l][d]
			for _, p := range []**autograd.Variable{&w.WIH, &w.WHH, &w.BIH, &w.BHH, &w.Peephole, &w.NormIH, &w.NormHH, &w.NormC, &w.NormCBias} {
				if *p != nil {
					*p = vs[k]
					k++
				}
			}
		}
	}
}

// TestNStepStepMatchesForward: stepping an NStep stack one time step at a
// time through Step gives Forward's outputs and final states.
func TestNStepStepMatchesForward(t *testing.T) {
	m, err := NewNStepLSTM(RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, DType: tensor.Float64}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	const B, T = 3, 5
	rng := tensor.NewRNG(2)
	xs := make([]*autograd.Variable, B)
	for i := range xs {
		x := tensor.New(tensor.Float64, T, 3)
		x.RandNormal(rng, 0, 1)
		xs[i] = autograd.NewVariable(x)
	}
	ys, sthN := m.Forward(xs, State{})
	hN, cN := sthN.H, sthN.C
	var st State
	var y *autograd.Variable
	for step := 0; step < T; step++ {
		x := tensor.New(tensor.Float64, B, 3)
		for i := range xs {
			x.Index(i).CopyFrom(xs[i].Data.Index(step))
		}
		y, st = m.Step(autograd.NewVariable(x), st)
		for i := range xs {
			if !tensor.AllClose(y.Data.Index(i), ys[i].Data.Index(step), 1e-12, 1e-12) {
				t.Fatalf("step %d sequence %d: Step output differs from Forward", step, i)
			}
		}
	}
	if !tensor.AllClose(st.H.Data, hN.Data, 1e-12, 1e-12) || !tensor.AllClose(st.C.Data, cN.Data, 1e-12, 1e-12) {
		t.Fatal("final states differ")
	}
}

// TestForwardPacked checks that ForwardPacked on PackSequences' output
// gives Forward's results (outputs and final states) for sequences of
// unequal lengths, and that a wrongly shaped input panics.
func TestForwardPacked(t *testing.T) {
	rng := tensor.NewRNG(30)
	cfg := RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: true, DType: tensor.Float64}
	lstm, err := NewNStepLSTM(cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	gru, err := NewNStepGRU(cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	var xs []*autograd.Variable
	for _, n := range []int{2, 5, 3} {
		x := tensor.New(tensor.Float64, n, 3)
		x.RandNormal(rng, 0, 1)
		xs = append(xs, autograd.NewVariable(x))
	}
	x, p := PackSequences(xs)
	ys, sth := lstm.Forward(xs, State{})
	h, c := sth.H, sth.C
	py, pst := lstm.ForwardPacked(x, p, State{})
	ph, pc := pst.H, pst.C
	gys, gst := gru.Forward(xs, State{})
	gh := gst.H
	pgy, pgst := gru.ForwardPacked(x, p, State{})
	pgh := pgst.H
	for i, y := range UnpackSequences(py, p) {
		if !tensor.Equal(y.Data, ys[i].Data) {
			t.Fatalf("LSTM sequence %d: ForwardPacked output differs from Forward", i)
		}
	}
	for i, y := range UnpackSequences(pgy, p) {
		if !tensor.Equal(y.Data, gys[i].Data) {
			t.Fatalf("GRU sequence %d: ForwardPacked output differs from Forward", i)
		}
	}
	if !tensor.Equal(ph.Data, h.Data) || !tensor.Equal(pc.Data, c.Data) || !tensor.Equal(pgh.Data, gh.Data) {
		t.Fatal("ForwardPacked final states differ from Forward's")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "ForwardPacked") {
			t.Fatalf("wrong packed shape: panic %v", r)
		}
	}()
	lstm.ForwardPacked(autograd.NewVariable(tensor.New(tensor.Float64, 9, 3)), p, State{})
}

// forward3 is Forward with the states apart, for the tests written
// against (h0, c0) → (hN, cN, ys).
func forward3(s *stack, h0, c0 *autograd.Variable, xs []*autograd.Variable) (hN, cN *autograd.Variable, ys []*autograd.Variable) {
	ys, st := s.Forward(xs, State{H: h0, C: c0})
	return st.H, st.C, ys
}

// checkInputs returns the inputs of a gradient check over a sequence and
// a layer's parameters: float64 steps of rows[k]×features drawn from
// N(0, 1) by rng in order, then the data of params.
func checkInputs(rng *tensor.RNG, features int, rows []int, params []*autograd.Variable) []*tensor.Tensor {
	var inputs []*tensor.Tensor
	for _, n := range rows {
		x := tensor.New(tensor.Float64, n, features)
		x.RandNormal(rng, 0, 1)
		inputs = append(inputs, x)
	}
	for _, p := range params {
		inputs = append(inputs, p.Data)
	}
	return inputs
}

// stackOutputs runs s over xs from a zero state and returns what a
// gradient check compares: hN, the outputs, then cN if the cell has one.
func stackOutputs(s *stack, xs []*autograd.Variable) []*autograd.Variable {
	hN, cN, ys := forward3(s, nil, nil, xs)
	out := append([]*autograd.Variable{hN}, ys...)
	if cN != nil {
		out = append(out, cN)
	}
	return out
}
