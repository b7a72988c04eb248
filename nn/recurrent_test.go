package nn

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// linkRecurrents returns every link form as a SteppedRecurrent, with a
// learned initial state and random parameters.
func linkRecurrents(t *testing.T) map[string]SteppedRecurrent {
	t.Helper()
	cfg := CellConfig{InputSize: 3, HiddenSize: 4, DType: tensor.Float64, LearnInitialState: true}
	out := map[string]SteppedRecurrent{}
	for name, l := range cellLinks(t, cfg) {
		r := l.(SteppedRecurrent)
		randomize(r.Params(), 5)
		out[name] = r
	}
	return out
}

// seqs returns sequences (n, 3) of the given lengths.
func seqs(rng *tensor.RNG, dt tensor.DType, lengths ...int) []*autograd.Variable {
	xs := make([]*autograd.Variable, len(lengths))
	for i, n := range lengths {
		x := tensor.New(dt, n, 3)
		x.RandNormal(rng, 0, 1)
		xs[i] = autograd.NewVariable(x)
	}
	return xs
}

// TestLinkForwardEqualsSteps: a link's Forward over unsorted lengths —
// one kernel call, or for PeepholeFull and GRUCho a loop over a shrinking
// batch — equals stepping each sequence alone with Step, outputs and final
// states, from the learned initial state and from a given one.
func TestLinkForwardEqualsSteps(t *testing.T) {
	lengths := []int{2, 4, 1, 4, 3}
	for name, r := range linkRecurrents(t) {
		t.Run(name, func(t *testing.T) {
			xs := seqs(tensor.NewRNG(6), tensor.Float64, lengths...)
			for _, given := range []bool{false, true} {
				var st State
				if given {
					st = r.(interface{ Initial(int) State }).Initial(len(xs))
					st.H = fn.AddScalar(st.H, 0.3)
				}
				ys, final := r.Forward(xs, st)
				for i, x := range xs {
					var si State
					if given {
						si.H = fn.GatherRows(st.H, []int{i})
						if st.C != nil {
							si.C = fn.GatherRows(st.C, []int{i})
						}
					}
					for s := range lengths[i] {
						var y *autograd.Variable
						y, si = r.Step(fn.GatherRows(x, []int{s}), si)
						if !tensor.AllClose(y.Data.Index(0), ys[i].Data.Index(s), 1e-12, 1e-12) {
							t.Fatalf("given state %v: sequence %d step %d: Forward output differs from Step", given, i, s)
						}
					}
					if !tensor.AllClose(si.H.Data.Index(0), final.H.Data.Index(i), 1e-12, 1e-12) {
						t.Fatalf("given state %v: sequence %d: final H differs", given, i)
					}
					if si.C != nil && !tensor.AllClose(si.C.Data.Index(0), final.C.Data.Index(i), 1e-12, 1e-12) {
						t.Fatalf("given state %v: sequence %d: final C differs", given, i)
					}
				}
			}
		})
	}
}

// TestLinkForwardGradients checks by finite differences the gradients of
// a link's Forward over unsorted lengths with respect to the inputs, the
// initial state and every parameter.
func TestLinkForwardGradients(t *testing.T) {
	lengths := []int{2, 3, 1}
	for name, r := range linkRecurrents(t) {
		t.Run(name, func(t *testing.T) {
			link := r.(stepper)
			params := r.Params()
			xs := seqs(tensor.NewRNG(7), tensor.Float64, lengths...)
			h0 := tensor.New(tensor.Float64, len(lengths), 4)
			h0.RandNormal(tensor.NewRNG(8), 0, 0.5)
			inputs := []*tensor.Tensor{h0}
			for _, x := range xs {
				inputs = append(inputs, x.Data)
			}
			for _, p := range params {
				inputs = append(inputs, p.Data)
			}
			n := 1 + len(xs)
			f := func(v []*autograd.Variable) []*autograd.Variable {
				for i, p := range params {
					replaceParam(link, p, v[n+i])
				}
				defer func() {
					for i, p := range params {
						replaceParam(link, v[n+i], p)
					}
				}()
				ys, st := r.Forward(v[1:n], State{H: v[0]}) // C, if any, from the learned c0
				out := append(ys, st.H)
				if st.C != nil {
					out = append(out, st.C)
				}
				return out
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

// TestSortedPackingUsesViews: for a sorted packing (equal lengths) the
// stack's initial state of each layer is a view of the given state, not a
// copy, and a single layer's final state is a reshape of the kernel's.
func TestSortedPackingUsesViews(t *testing.T) {
	m, err := NewNStepGRU(RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, DType: tensor.Float64}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	h0 := autograd.NewVariable(tensor.New(tensor.Float64, 2, 3, 4))
	sorted, unsorted := seq.MustPacking([]int{5, 5, 5}), seq.MustPacking([]int{2, 5, 5})
	if !sorted.Sorted() || unsorted.Sorted() {
		t.Fatal("Packing.Sorted wrong")
	}
	v := m.initial(h0, 1, sorted)
	h0.Data.SetFlat(3*4+5, 42) // layer 1, row 1, unit 1
	if v.Data.At(1, 1) != 42 {
		t.Fatal("initial state of a sorted packing is a copy, not a view")
	}
	if c := m.initial(h0, 1, unsorted); c.Data.At(0, 1) != 42 || c.Data.At(1, 1) == 42 { // sequence 1 is the first of the sorted order
		t.Fatal("initial state of an unsorted packing not in sorted order")
	}
	for _, p := range []*seq.Packing{sorted, unsorted} {
		if x := autograd.NewVariable(tensor.New(tensor.Float64, 3, 4)); (sortRows(x, p) == x) != p.Sorted() || (unsortRows(x, p) == x) != p.Sorted() {
			t.Fatalf("reordering of a packing with order %v", p.Order)
		}
	}
}

// TestStackGradientsEqualLengths checks the gradients through the views of
// a sorted packing — initial states of two layers sliced from one
// (Layers, B, H) state, final states stacked — by finite differences.
func TestStackGradientsEqualLengths(t *testing.T) {
	m, err := NewNStepLSTM(RecurrentConfig{InputSize: 3, HiddenSize: 2, Layers: 2, DType: tensor.Float64}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(2)
	x := tensor.New(tensor.Float64, 3*2, 3) // T = 3 steps of B = 2
	x.RandNormal(rng, 0, 1)
	h0, c0 := tensor.New(tensor.Float64, 2, 2, 2), tensor.New(tensor.Float64, 2, 2, 2)
	h0.RandNormal(rng, 0, 0.5)
	c0.RandNormal(rng, 0, 0.5)
	p := seq.MustPacking([]int{3, 3})
	f := func(v []*autograd.Variable) []*autograd.Variable {
		y, st := m.ForwardPacked(v[0], p, State{H: v[1], C: v[2]})
		return []*autograd.Variable{y, st.H, st.C}
	}
	if err := gradcheck.Check(f, []*tensor.Tensor{x, h0, c0}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestNewRecurrent: the factories build each cell kind as the matching
// type, and return a nil interface with the error for a bad configuration
// or cell kind.
func TestNewRecurrent(t *testing.T) {
	rng := tensor.NewRNG(1)
	rc := RecurrentConfig{InputSize: 2, HiddenSize: 3}
	cc := CellConfig{InputSize: 2, HiddenSize: 3}
	for _, tc := range []struct {
		cell        fn.Cell
		stack, link string
	}{
		{fn.LSTMCellKind, "*nn.NStepLSTM", "*nn.LSTM"},
		{fn.GRUCellKind, "*nn.NStepGRU", "*nn.GRU"},
		{fn.RNNTanhCellKind, "*nn.NStepRNN", "*nn.RNN"},
		{fn.RNNReLUCellKind, "*nn.NStepRNN", "*nn.RNN"},
	} {
		s, err := NewRecurrent(tc.cell, rc, rng)
		if err != nil || fmt.Sprintf("%T", s) != tc.stack {
			t.Errorf("NewRecurrent(%v) = %T, %v; want %s", tc.cell, s, err, tc.stack)
		}
		l, err := NewRecurrentCell(tc.cell, cc, rng)
		if err != nil || fmt.Sprintf("%T", l) != tc.link {
			t.Errorf("NewRecurrentCell(%v) = %T, %v; want %s", tc.cell, l, err, tc.link)
		}
	}
	if s, err := NewRecurrent(fn.LSTMCellKind, RecurrentConfig{}, rng); err == nil || s != nil {
		t.Errorf("NewRecurrent with no sizes = %v, %v; want nil and an error", s, err)
	}
	if l, err := NewRecurrentCell(fn.GRUCellKind, CellConfig{InputSize: 2}, rng); err == nil || l != nil {
		t.Errorf("NewRecurrentCell with no hidden size = %v, %v; want nil and an error", l, err)
	}
	if _, err := NewRecurrent(fn.Cell(99), rc, rng); err == nil {
		t.Error("NewRecurrent accepted an unknown cell")
	}
	if _, err := NewRecurrentCell(fn.Cell(99), cc, rng); err == nil {
		t.Error("NewRecurrentCell accepted an unknown cell")
	}
}

// TestRecurrentStateErrors: states of the wrong kind or shape panic with
// the shapes.
func TestRecurrentStateErrors(t *testing.T) {
	rng := tensor.NewRNG(1)
	gru, _ := NewNStepGRU(RecurrentConfig{InputSize: 2, HiddenSize: 3}, rng)
	lstm, _ := NewLSTM(CellConfig{InputSize: 2, HiddenSize: 3}, rng)
	link, _ := NewRNN(CellConfig{InputSize: 2, HiddenSize: 3}, false, rng)
	v := func(shape ...int) *autograd.Variable {
		return autograd.NewVariable(tensor.New(tensor.Float32, shape...))
	}
	x := v(2, 2)
	for _, tc := range []struct {
		name string
		run  func()
		want string
	}{
		{"GRU stack with C", func() { gru.Step(x, State{H: v(1, 2, 3), C: v(1, 2, 3)}) }, "has no cell state"},
		{"stack state shape", func() { gru.Step(x, State{H: v(2, 2, 3)}) }, "initial state H has shape [2 2 3]; want (1, 2, 3)"},
		{"link state rows", func() { lstm.Step(x, State{H: v(3, 3), C: v(3, 3)}) }, "Step with H [3 3] and C [3 3]; want (2, 3)"},
		{"link C mismatch", func() { lstm.Step(x, State{H: v(2, 3), C: v(2, 4)}) }, "want (2, 3)"},
		{"RNN link with C", func() { link.Step(x, State{H: v(2, 3), C: v(2, 3)}) }, "needs a State with H only"},
		{"link packed input", func() { link.ForwardPacked(v(3, 2), seq.MustPacking([]int{2, 2}), State{}) }, "ForwardPacked with x [3 2]; want (4 packed rows, 2)"},
		{"link no sequences", func() { link.Forward(nil, State{}) }, "Forward on no sequences"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Fatalf("panic %v; want one containing %q", r, tc.want)
				}
			}()
			tc.run()
		})
	}
}

// TestStateDetach: Detach keeps the values and cuts the graph.
func TestStateDetach(t *testing.T) {
	h := autograd.NewParameter(tensor.FromFloat64([]float64{1, 2}, 1, 2))
	st := State{H: fn.MulScalar(h, 2)}
	d := st.Detach()
	if d.H.Creator() != nil || d.C != nil || !tensor.Equal(d.H.Data, st.H.Data) || st.H.Creator() == nil {
		t.Fatal("Detach did not cut the graph or changed the state")
	}
	if (State{}).Detach() != (State{}) {
		t.Fatal("Detach of the zero State")
	}
}
