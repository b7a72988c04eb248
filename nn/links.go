package nn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// LSTM is a single LSTM layer (PyTorch's nn.LSTMCell), usable three
// ways, all sharing its weights and masks:
//   - over whole sequences, as a Recurrent: Forward and ForwardPacked run
//     the fused sequence kernel once for all steps;
//   - stateless, one step: Step(x, st) returns the output and next state,
//     as PyTorch's nn.LSTMCell and Chainer's StatelessLSTM do;
//   - stateful, one step: Advance(x) carries the state from call to call
//     as Chainer's L.LSTM does, for truncated BPTT loops.
//
// Its State has H and C of shape (B, H).
type LSTM struct {
	W   fn.RecurrentWeights
	cfg CellConfig
	state
}

// NewLSTM returns an LSTM link initialised from rng, or an error for an
// invalid configuration.
func NewLSTM(cfg CellConfig, rng *tensor.RNG) (*LSTM, error) {
	if err := checkLink("LSTM", fn.LSTMCellKind, cfg, rng); err != nil {
		return nil, err
	}
	l := &LSTM{W: cellWeights(fn.LSTMCellKind, cfg, rng), cfg: cfg}
	l.state.init("LSTM", cfg, fn.LSTMCellKind, &l.W, nil, rng)
	return l, nil
}

// Params returns weight_ih, weight_hh, bias_ih, bias_hh, then h0 and c0
// when the initial state is learned.
func (l *LSTM) Params() []*autograd.Variable {
	return append(weightList(l.W), l.initialParams()...)
}

// PeepholeForm selects how a PeepholeLSTM's gates see the cell state.
type PeepholeForm uint8

const (
	// PeepholeDiagonal is Gers & Schmidhuber (2000): each unit's gates see
	// its own cell through one weight, p_i⊙c₋₁, p_f⊙c₋₁ and p_o⊙c, computed
	// inside the fused cell. Parameter weight_peephole is (3, H).
	PeepholeDiagonal PeepholeForm = iota
	// PeepholeFull is Chainer's StatefulPeepholeLSTM: the peepholes are full
	// H×H matrices P_i·c₋₁, P_f·c₋₁ and P_o·c, so each gate sees every
	// unit's cell; it has 3H² peephole weights instead of 3H, and is
	// computed from elementary functions, one step at a time. Parameters
	// weight_peep_i, weight_peep_f, weight_peep_o are (H, H).
	PeepholeFull
)

// PeepholeLSTM is an LSTM whose gates also see the cell state, usable as
// LSTM is (Forward and ForwardPacked, Step, Advance).
type PeepholeLSTM struct {
	W    fn.RecurrentWeights
	Peep [3]*autograd.Variable // PeepholeFull: P_i, P_f, P_o
	form PeepholeForm
	cfg  CellConfig
	state
}

// NewPeepholeLSTM returns a peephole LSTM of the given form, initialised
// from rng (peephole weights start at zero, so it starts as a plain LSTM).
func NewPeepholeLSTM(cfg CellConfig, form PeepholeForm, rng *tensor.RNG) (*PeepholeLSTM, error) {
	if err := checkLink("PeepholeLSTM", fn.LSTMCellKind, cfg, rng); err != nil {
		return nil, err
	}
	if form > PeepholeFull {
		return nil, fmt.Errorf("nn: unknown PeepholeForm %d", form)
	}
	if form == PeepholeFull {
		if err := checkByHand("PeepholeFull", "PeepholeDiagonal", cfg); err != nil {
			return nil, err
		}
	}
	l := &PeepholeLSTM{W: cellWeights(fn.LSTMCellKind, cfg, rng), form: form, cfg: cfg}
	H := cfg.HiddenSize
	if form == PeepholeDiagonal {
		l.W.Peephole = autograd.NewParameter(tensor.New(cfg.DType, 3, H))
		l.W.Peephole.Name = "weight_peephole"
		l.state.init("PeepholeLSTM", cfg, fn.LSTMCellKind, &l.W, nil, rng)
		return l, nil
	}
	for k, n := range []string{"i", "f", "o"} {
		l.Peep[k] = autograd.NewParameter(tensor.New(cfg.DType, H, H))
		l.Peep[k].Name = "weight_peep_" + n
	}
	l.state.init("PeepholeLSTM", cfg, fn.LSTMCellKind, nil, l.fullStep, rng)
	return l, nil
}

// Params returns the LSTM weights, the peephole weights, then h0 and c0
// when the initial state is learned.
func (l *PeepholeLSTM) Params() []*autograd.Variable {
	ps := weightList(l.W)
	if l.form == PeepholeFull {
		ps = append(ps, l.Peep[:]...)
	}
	return append(ps, l.initialParams()...)
}

// fullStep is one step of the PeepholeFull form from a checked state.
func (l *PeepholeLSTM) fullStep(x *autograd.Variable, st State) (*autograd.Variable, State) {
	x, w := l.regInput(x, onePerRow(x.Data.Dim(0))), l.regWeights(l.W)
	H, h, c := l.cfg.HiddenSize, st.H, st.C
	a := fn.Add(fn.Linear(x, w.WIH, w.BIH), fn.Linear(h, w.WHH, w.BHH))
	g := fn.Split(a, []int{H, H, H, H}, 1)
	i := fn.Sigmoid(fn.Add(g[0], fn.Linear(c, l.Peep[0], nil)))
	f := fn.Sigmoid(fn.Add(g[1], fn.Linear(c, l.Peep[1], nil)))
	cNext := fn.Add(fn.Mul(f, c), fn.Mul(i, fn.Tanh(g[2])))
	o := fn.Sigmoid(fn.Add(g[3], fn.Linear(cNext, l.Peep[2], nil)))
	hNext := fn.Mul(o, fn.Tanh(cNext))
	return l.regOutput(hNext), State{H: hNext, C: cNext}
}

// GRUForm selects the GRU's equations.
type GRUForm uint8

const (
	// GRUPyTorch is the PyTorch/cuDNN form (fn.GRUCellKind): the reset
	// gate multiplies W_hn·h₋₁ + b_hn. Its weights load from PyTorch.
	GRUPyTorch GRUForm = iota
	// GRUCho is Cho et al. (2014): the reset gate multiplies h₋₁ before
	// the recurrent product, n = tanh(W_in·x + b_in + W_hn·(r⊙h₋₁) + b_hn)
	// (fn.GRUChoCell, one step at a time). Chainer's L.GRU uses this form
	// with z and 1−z swapped.
	GRUCho
)

// GRU is a single GRU layer, in the PyTorch or the Cho et al. form,
// usable as LSTM is (Forward and ForwardPacked, Step, Advance). Its State
// has H (B, H) only.
type GRU struct {
	W    fn.RecurrentWeights
	form GRUForm
	cfg  CellConfig
	state
}

// NewGRU returns a GRU link of the given form initialised from rng.
func NewGRU(cfg CellConfig, form GRUForm, rng *tensor.RNG) (*GRU, error) {
	if err := checkLink("GRU", fn.GRUCellKind, cfg, rng); err != nil {
		return nil, err
	}
	if form > GRUCho {
		return nil, fmt.Errorf("nn: unknown GRUForm %d", form)
	}
	if form == GRUCho {
		if err := checkByHand("GRUCho", "GRUPyTorch", cfg); err != nil {
			return nil, err
		}
	}
	l := &GRU{W: cellWeights(fn.GRUCellKind, cfg, rng), form: form, cfg: cfg}
	if form == GRUCho {
		l.state.init("GRU", cfg, fn.GRUCellKind, nil, l.choStep, rng)
	} else {
		l.state.init("GRU", cfg, fn.GRUCellKind, &l.W, nil, rng)
	}
	return l, nil
}

// Params returns weight_ih, weight_hh, bias_ih, bias_hh, then h0 when the
// initial state is learned.
func (l *GRU) Params() []*autograd.Variable {
	return append(weightList(l.W), l.initialParams()...)
}

// choStep is one step of the Cho form from a checked state.
func (l *GRU) choStep(x *autograd.Variable, st State) (*autograd.Variable, State) {
	x, w := l.regInput(x, onePerRow(x.Data.Dim(0))), l.regWeights(l.W)
	h := fn.GRUChoCell(fn.Linear(x, w.WIH, w.BIH), st.H, w.WHH, w.BHH)
	return l.regOutput(h), State{H: h}
}

// RNN is a single Elman RNN layer (tanh, or ReLU), usable as LSTM is
// (Forward and ForwardPacked, Step, Advance). NewIRNN builds the
// identity-initialised ReLU RNN of Le et al. (2015). Its State has H
// (B, H) only.
type RNN struct {
	W    fn.RecurrentWeights
	relu bool
	cfg  CellConfig
	state
}

// NewRNN returns an Elman RNN link (ReLU when relu is set) initialised
// from rng.
func NewRNN(cfg CellConfig, relu bool, rng *tensor.RNG) (*RNN, error) {
	cell := fn.RNNTanhCellKind
	if relu {
		cell = fn.RNNReLUCellKind
	}
	if err := checkLink("RNN", cell, cfg, rng); err != nil {
		return nil, err
	}
	l := &RNN{W: cellWeights(cell, cfg, rng), relu: relu, cfg: cfg}
	l.state.init("RNN", cfg, cell, &l.W, nil, rng)
	return l, nil
}

// NewIRNN returns the IRNN of Le et al. (2015): a ReLU RNN whose recurrent
// weights start as the identity and whose biases start at zero
// (cfg.RecurrentInit is overridden).
func NewIRNN(cfg CellConfig, rng *tensor.RNG) (*RNN, error) {
	cfg.RecurrentInit = InitIdentity
	return NewRNN(cfg, true, rng)
}

// Params returns weight_ih, weight_hh, bias_ih, bias_hh, then h0 when the
// initial state is learned.
func (l *RNN) Params() []*autograd.Variable {
	return append(weightList(l.W), l.initialParams()...)
}

// checkLink checks what every link's constructor checks: the
// configuration of the link name for the cell, and an RNG.
func checkLink(name string, cell fn.Cell, cfg CellConfig, rng *tensor.RNG) error {
	if err := cfg.validate(name, cell); err != nil {
		return err
	}
	if rng == nil {
		return fmt.Errorf("nn: %s needs an RNG for its initialisation", name)
	}
	return nil
}

// checkByHand checks that cfg suits a link form computed one step at a
// time from elementary functions (form, such as PeepholeFull), which has
// no normalisation and none of the regularisations inside the fused
// kernel; alt is the form that has them. ZoneoutC, which only an LSTM may
// have, counts among the latter.
func checkByHand(form, alt string, cfg CellConfig) error {
	if cfg.Norm != fn.NoNorm {
		return fmt.Errorf("nn: %s has no normalised form; use %s", form, alt)
	}
	if r := cfg.Regularization; r.VariationalHidden > 0 || r.RecurrentDropout > 0 || r.ZoneoutH > 0 || r.ZoneoutC > 0 {
		return fmt.Errorf("nn: %s supports InputDropout, OutputDropout, VariationalInput and WeightDrop only; use %s for the in-kernel variants", form, alt)
	}
	return nil
}

var (
	_ SteppedRecurrent = (*LSTM)(nil)
	_ SteppedRecurrent = (*PeepholeLSTM)(nil)
	_ SteppedRecurrent = (*GRU)(nil)
	_ SteppedRecurrent = (*RNN)(nil)
	_ SteppedRecurrent = (*NStepLSTM)(nil)
	_ SteppedRecurrent = (*NStepGRU)(nil)
	_ SteppedRecurrent = (*NStepRNN)(nil)
)
