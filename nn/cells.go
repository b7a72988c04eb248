package nn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// CellConfig describes a single recurrent layer stepped one time step at a
// time (the LSTM, PeepholeLSTM, GRU and RNN links).
type CellConfig struct {
	// InputSize and HiddenSize are the feature sizes I and H.
	InputSize, HiddenSize int
	// NoBias drops b_ih and b_hh.
	NoBias bool
	// DType is the parameters' element type (the zero value is Float32).
	DType tensor.DType
	// RecurrentInit selects the initialisation of W_hh (see RecurrentConfig).
	RecurrentInit RecurrentInit
	// ForgetBias, for the LSTMs, is written into the forget-gate block of
	// b_ih (zero keeps PyTorch's default).
	ForgetBias float64
	// LearnInitialState makes the initial state a parameter — h0 (and c0
	// for the LSTMs), one row of H values shared by every sequence of the
	// batch — instead of zeros.
	LearnInitialState bool
	// Norm and NormMomentum select layer or batch normalisation inside the
	// kernel, as in RecurrentConfig. With batch normalisation the time
	// step that picks the statistics counts the steps since Reset.
	Norm         fn.NormKind
	NormMomentum float64
	// Regularization selects dropout variants and zoneout. For stepped
	// links, OutputDropout applies to what Forward returns, never to the
	// carried state; the variational and DropConnect masks are drawn when a
	// state starts and kept until Reset or ResampleMasks. The PeepholeFull
	// and GRUCho forms support InputDropout, OutputDropout,
	// VariationalInput and WeightDrop only.
	Regularization
}

func (c CellConfig) validate(name string, cell fn.Cell) error {
	rc := RecurrentConfig{InputSize: c.InputSize, HiddenSize: c.HiddenSize, NoBias: c.NoBias, DType: c.DType, RecurrentInit: c.RecurrentInit, ForgetBias: c.ForgetBias, Norm: c.Norm, NormMomentum: c.NormMomentum, Regularization: c.Regularization}
	if err := rc.validate(cell); err != nil {
		return fmt.Errorf("%w (%s)", err, name)
	}
	return nil
}

// state is the part common to the stateful links: the carried state, the
// optional learned initial state, and Chainer's rule that a batch smaller
// than the state's continues with the state's first rows and leaves the
// others as they are.
type state struct {
	hidden int
	dtype  tensor.DType
	h, c   *autograd.Variable // the carried state; nil before the first step
	h0, c0 *autograd.Variable // learned initial state (H), or nil

	// Regularisation: options, randomness, mode, and the masks that live
	// as long as a state (nil until drawn).
	reg             Regularization
	rng             *tensor.RNG
	mode            autograd.Mode
	varIn, varH, wd *tensor.Tensor

	// Batch normalisation: running statistics and the step count since
	// Reset, which picks them.
	norm *runningStats
	t    int
}

// init sets up the state of a link of the given cell kind (the LSTMs
// carry a cell state c).
func (s *state) init(cfg CellConfig, cell fn.Cell, rng *tensor.RNG) {
	withC := cell == fn.LSTMCellKind
	s.hidden, s.dtype = cfg.HiddenSize, cfg.DType
	s.reg, s.rng = cfg.Regularization, rng.Split()
	if cfg.Norm != fn.NoNorm {
		s.norm = newRunningStats(cfg.Norm, cfg.NormMomentum, cell.Gates(), cfg.HiddenSize, withC)
	}
	if !cfg.LearnInitialState {
		return
	}
	s.h0 = autograd.NewParameter(tensor.New(cfg.DType, cfg.HiddenSize))
	s.h0.Name = "h0"
	if withC {
		s.c0 = autograd.NewParameter(tensor.New(cfg.DType, cfg.HiddenSize))
		s.c0.Name = "c0"
	}
}

// initialParams returns the learned initial-state parameters, if any.
func (s *state) initialParams() []*autograd.Variable {
	var ps []*autograd.Variable
	if s.h0 != nil {
		ps = append(ps, s.h0)
	}
	if s.c0 != nil {
		ps = append(ps, s.c0)
	}
	return ps
}

// Initial returns the initial state for a batch of b sequences: the
// learned rows repeated b times, or zeros. c is nil for cells without a
// cell state.
func (s *state) Initial(b int, withC bool) (h, c *autograd.Variable) {
	rows := func(p *autograd.Variable) *autograd.Variable {
		z := autograd.NewVariable(tensor.New(s.dtype, b, s.hidden))
		if p == nil {
			return z
		}
		return fn.Add(z, p)
	}
	h = rows(s.h0)
	if withC {
		c = rows(s.c0)
	}
	return h, c
}

// Reset forgets the carried state and the per-state masks; the next step
// starts from the initial state.
func (s *state) Reset() {
	s.h, s.c = nil, nil
	s.t = 0
	s.ResampleMasks()
}

// ResampleMasks drops the variational and DropConnect masks so that the
// next step draws new ones: call it at the start of each new batch of
// sequences when using Step directly.
func (s *state) ResampleMasks() { s.varIn, s.varH, s.wd = nil, nil, nil }

// SetMode switches the link's dropout and zoneout between training and
// evaluation behaviour.
func (s *state) SetMode(m autograd.Mode) { s.mode = m }

// rowsMask returns the first b rows of the per-state mask *m of width w,
// drawing a new one when there is none or it has too few rows.
func (s *state) rowsMask(m **tensor.Tensor, p float64, b, w int) *tensor.Tensor {
	if *m == nil || (*m).Dim(0) < b {
		*m = dropoutMask(s.dtype, s.rng, p, b, w)
	}
	return (*m).Slice(0, b)
}

// regInput applies input dropout and variational input dropout to x (b, I).
func (s *state) regInput(x *autograd.Variable) *autograd.Variable {
	if s.mode == autograd.Eval {
		return x
	}
	if s.reg.InputDropout > 0 {
		x = fn.Dropout(x, s.reg.InputDropout, s.rng, s.mode)
	}
	if s.reg.VariationalInput > 0 {
		x = fn.DropoutMask(x, s.rowsMask(&s.varIn, s.reg.VariationalInput, x.Data.Dim(0), x.Data.Dim(1)))
	}
	return x
}

// regWeights applies the per-state DropConnect mask to W_hh.
func (s *state) regWeights(w fn.RecurrentWeights) fn.RecurrentWeights {
	if s.reg.WeightDrop > 0 && s.mode == autograd.Train {
		sh := w.WHH.Shape()
		w.WHH = fn.DropoutMask(w.WHH, s.rowsMask(&s.wd, s.reg.WeightDrop, sh[0], sh[1]))
	}
	return w
}

// regMasks returns the in-kernel masks for one step of b rows.
func (s *state) regMasks(cell fn.Cell, b int) fn.RecurrentMasks {
	m := s.reg.stepMasks(cell, s.dtype, s.rng, b, s.hidden, s.mode)
	if s.reg.VariationalHidden > 0 && s.mode == autograd.Train {
		m.H = s.rowsMask(&s.varH, s.reg.VariationalHidden, b, s.hidden)
	}
	return m
}

// regOutput applies output dropout to what Forward returns.
func (s *state) regOutput(y *autograd.Variable) *autograd.Variable {
	if s.reg.OutputDropout > 0 {
		return fn.Dropout(y, s.reg.OutputDropout, s.rng, s.mode)
	}
	return y
}

// split returns the state rows a batch of b continues from and the rows it
// leaves untouched.
func (s *state) split(name string, b int, withC bool) (h, c, hRest, cRest *autograd.Variable) {
	if s.h == nil {
		h, c = s.Initial(b, withC)
		return h, c, nil, nil
	}
	n := s.h.Data.Dim(0)
	switch {
	case b == n:
		return s.h, s.c, nil, nil
	case b > n:
		panic(fmt.Sprintf("nn: %s step with a batch of %d rows but a state of %d rows; call Reset or SetState first", name, b, n))
	}
	h, hRest = fn.Slice(s.h, 0, 0, b), fn.Slice(s.h, 0, b, n)
	if withC {
		c, cRest = fn.Slice(s.c, 0, 0, b), fn.Slice(s.c, 0, b, n)
	}
	return h, c, hRest, cRest
}

// keep stores the new state, re-attaching the untouched rows.
func (s *state) keep(h, c, hRest, cRest *autograd.Variable) {
	if hRest != nil {
		h = fn.Concat([]*autograd.Variable{h, hRest}, 0)
		if c != nil {
			c = fn.Concat([]*autograd.Variable{c, cRest}, 0)
		}
	}
	s.h, s.c = h, c
}

// advance is a stateful Forward: it takes the carried rows for x's batch
// of b rows, applies step, re-attaches the untouched rows, and returns the
// new h through output dropout.
func (s *state) advance(name string, x *autograd.Variable, in int, withC bool, step func(h, c *autograd.Variable) (*autograd.Variable, *autograd.Variable)) *autograd.Variable {
	b := checkInput(name, x, in)
	h, c, hr, cr := s.split(name, b, withC)
	h, c = step(h, c)
	s.keep(h, c, hr, cr)
	return s.regOutput(h)
}

func (s *state) checkState(name string, h, c *autograd.Variable, withC bool) {
	if h == nil || (withC && c == nil) || (!withC && c != nil) {
		panic(fmt.Sprintf("nn: %s SetState needs h%s", name, map[bool]string{true: " and c", false: " only"}[withC]))
	}
	if h.Data.NDim() != 2 || h.Data.Dim(1) != s.hidden || (c != nil && !sliceEqual(c.Shape(), h.Shape())) {
		cs := "nil"
		if c != nil {
			cs = fmt.Sprint(c.Shape())
		}
		panic(fmt.Sprintf("nn: %s SetState with h %v and c %s; want (B, %d)", name, h.Shape(), cs, s.hidden))
	}
}

// checkInput panics unless x is (B, I).
func checkInput(name string, x *autograd.Variable, in int) int {
	if x.Data.NDim() != 2 || x.Data.Dim(1) != in {
		panic(fmt.Sprintf("nn: %s step with x %v; want (B, %d)", name, x.Shape(), in))
	}
	return x.Data.Dim(0)
}

// cellWeights returns the parameters of a single-layer link, named as
// PyTorch's nn.LSTMCell / nn.GRUCell / nn.RNNCell.
func cellWeights(cell fn.Cell, cfg CellConfig, rng *tensor.RNG) fn.RecurrentWeights {
	return newWeights(cell, cfg.InputSize, cfg.HiddenSize, "", weightInit{cfg.NoBias, cfg.DType, cfg.RecurrentInit, cfg.ForgetBias, cfg.Norm}, rng)
}

func weightList(w fn.RecurrentWeights) []*autograd.Variable {
	ps := []*autograd.Variable{w.WIH, w.WHH}
	if w.BIH != nil {
		ps = append(ps, w.BIH, w.BHH)
	}
	if w.Peephole != nil {
		ps = append(ps, w.Peephole)
	}
	for _, p := range []*autograd.Variable{w.NormIH, w.NormHH, w.NormC, w.NormCBias} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// LSTM is an LSTM layer stepped one time step at a time, usable two ways:
// stateless, Step(h, c, x) returns the next state as PyTorch's nn.LSTMCell
// and Chainer's StatelessLSTM do; stateful, Forward(x) carries the state
// from call to call as Chainer's L.LSTM does, for truncated BPTT loops.
// Each step is one fused function (fn.LSTMSequence over one step).
type LSTM struct {
	W   fn.RecurrentWeights
	cfg CellConfig
	state
}

// NewLSTM returns an LSTM link initialised from rng, or an error for an
// invalid configuration.
func NewLSTM(cfg CellConfig, rng *tensor.RNG) (*LSTM, error) {
	if err := cfg.validate("LSTM", fn.LSTMCellKind); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("nn: LSTM needs an RNG for its initialisation")
	}
	l := &LSTM{W: cellWeights(fn.LSTMCellKind, cfg, rng), cfg: cfg}
	l.state.init(cfg, fn.LSTMCellKind, rng)
	return l, nil
}

// Params returns weight_ih, weight_hh, bias_ih, bias_hh, then h0 and c0
// when the initial state is learned.
func (l *LSTM) Params() []*autograd.Variable {
	return append(weightList(l.W), l.initialParams()...)
}

// Step computes one step from the state (h, c), each (B, H), and the input
// x (B, I), returning the next state. It keeps nothing.
func (l *LSTM) Step(h, c, x *autograd.Variable) (hNext, cNext *autograd.Variable) {
	b := checkInput("LSTM", x, l.cfg.InputSize)
	sq := fn.Sequence{BatchSizes: []int{b}, Masks: l.regMasks(fn.LSTMCellKind, b), Norm: l.normSpec()}
	_, hNext, cNext = fn.LSTMSequence(l.regInput(x), h, c, l.regWeights(l.W), sq)
	l.normDone(sq.Norm, b)
	return hNext, cNext
}

// Forward advances the carried state by one step on x (B, I) and returns
// the new h (B, H). B may be smaller than the state's batch: the first B
// rows advance and the others are kept (as Chainer's L.LSTM does).
func (l *LSTM) Forward(x *autograd.Variable) *autograd.Variable {
	return l.advance("LSTM", x, l.cfg.InputSize, true, func(h, c *autograd.Variable) (*autograd.Variable, *autograd.Variable) {
		return l.Step(h, c, x)
	})
}

// State returns the carried state (nil before the first step).
func (l *LSTM) State() (h, c *autograd.Variable) { return l.h, l.c }

// SetState replaces the carried state with h and c, each (B, H).
func (l *LSTM) SetState(h, c *autograd.Variable) {
	l.checkState("LSTM", h, c, true)
	l.h, l.c = h, c
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
	// computed from elementary functions. Parameters weight_peep_i,
	// weight_peep_f, weight_peep_o are (H, H).
	PeepholeFull
)

// PeepholeLSTM is an LSTM whose gates also see the cell state, stepped one
// time step at a time (stateless Step or stateful Forward, as LSTM).
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
	if err := cfg.validate("PeepholeLSTM", fn.LSTMCellKind); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("nn: PeepholeLSTM needs an RNG for its initialisation")
	}
	if form > PeepholeFull {
		return nil, fmt.Errorf("nn: unknown PeepholeForm %d", form)
	}
	if form == PeepholeFull && cfg.Norm != fn.NoNorm {
		return nil, fmt.Errorf("nn: PeepholeFull has no normalised form; use PeepholeDiagonal")
	}
	if r := cfg.Regularization; form == PeepholeFull && (r.VariationalHidden > 0 || r.RecurrentDropout > 0 || r.ZoneoutH > 0 || r.ZoneoutC > 0) {
		return nil, fmt.Errorf("nn: PeepholeFull supports InputDropout, OutputDropout, VariationalInput and WeightDrop only; use PeepholeDiagonal for the in-kernel variants")
	}
	l := &PeepholeLSTM{W: cellWeights(fn.LSTMCellKind, cfg, rng), form: form, cfg: cfg}
	H := cfg.HiddenSize
	if form == PeepholeDiagonal {
		l.W.Peephole = autograd.NewParameter(tensor.New(cfg.DType, 3, H))
		l.W.Peephole.Name = "weight_peephole"
	} else {
		for k, n := range []string{"i", "f", "o"} {
			l.Peep[k] = autograd.NewParameter(tensor.New(cfg.DType, H, H))
			l.Peep[k].Name = "weight_peep_" + n
		}
	}
	l.state.init(cfg, fn.LSTMCellKind, rng)
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

// Step computes one step from (h, c) and x, returning the next state.
func (l *PeepholeLSTM) Step(h, c, x *autograd.Variable) (hNext, cNext *autograd.Variable) {
	b := checkInput("PeepholeLSTM", x, l.cfg.InputSize)
	x, w := l.regInput(x), l.regWeights(l.W)
	if l.form == PeepholeDiagonal {
		sq := fn.Sequence{BatchSizes: []int{b}, Masks: l.regMasks(fn.LSTMCellKind, b), Norm: l.normSpec()}
		_, hNext, cNext = fn.LSTMSequence(x, h, c, w, sq)
		l.normDone(sq.Norm, b)
		return hNext, cNext
	}
	H := l.cfg.HiddenSize
	a := fn.Add(fn.Linear(x, w.WIH, w.BIH), fn.Linear(h, w.WHH, w.BHH))
	g := fn.Split(a, []int{H, H, H, H}, 1)
	i := fn.Sigmoid(fn.Add(g[0], fn.Linear(c, l.Peep[0], nil)))
	f := fn.Sigmoid(fn.Add(g[1], fn.Linear(c, l.Peep[1], nil)))
	cNext = fn.Add(fn.Mul(f, c), fn.Mul(i, fn.Tanh(g[2])))
	o := fn.Sigmoid(fn.Add(g[3], fn.Linear(cNext, l.Peep[2], nil)))
	return fn.Mul(o, fn.Tanh(cNext)), cNext
}

// Forward advances the carried state by one step on x; see LSTM.Forward.
func (l *PeepholeLSTM) Forward(x *autograd.Variable) *autograd.Variable {
	return l.advance("PeepholeLSTM", x, l.cfg.InputSize, true, func(h, c *autograd.Variable) (*autograd.Variable, *autograd.Variable) {
		return l.Step(h, c, x)
	})
}

// State returns the carried state (nil before the first step).
func (l *PeepholeLSTM) State() (h, c *autograd.Variable) { return l.h, l.c }

// SetState replaces the carried state with h and c, each (B, H).
func (l *PeepholeLSTM) SetState(h, c *autograd.Variable) {
	l.checkState("PeepholeLSTM", h, c, true)
	l.h, l.c = h, c
}

// GRUForm selects the GRU's equations.
type GRUForm uint8

const (
	// GRUPyTorch is the PyTorch/cuDNN form (fn.GRUCellKind): the reset
	// gate multiplies W_hn·h₋₁ + b_hn. Its weights load from PyTorch.
	GRUPyTorch GRUForm = iota
	// GRUCho is Cho et al. (2014): the reset gate multiplies h₋₁ before
	// the recurrent product, n = tanh(W_in·x + b_in + W_hn·(r⊙h₋₁) + b_hn)
	// (fn.GRUChoCell). Chainer's L.GRU uses this form with z and 1−z
	// swapped.
	GRUCho
)

// GRU is a GRU layer stepped one time step at a time (stateless Step or
// stateful Forward, as LSTM), in the PyTorch or the Cho et al. form.
type GRU struct {
	W    fn.RecurrentWeights
	form GRUForm
	cfg  CellConfig
	state
}

// NewGRU returns a GRU link of the given form initialised from rng.
func NewGRU(cfg CellConfig, form GRUForm, rng *tensor.RNG) (*GRU, error) {
	if err := cfg.validate("GRU", fn.GRUCellKind); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("nn: GRU needs an RNG for its initialisation")
	}
	if form > GRUCho {
		return nil, fmt.Errorf("nn: unknown GRUForm %d", form)
	}
	if form == GRUCho && cfg.Norm != fn.NoNorm {
		return nil, fmt.Errorf("nn: GRUCho has no normalised form; use GRUPyTorch")
	}
	if r := cfg.Regularization; form == GRUCho && (r.VariationalHidden > 0 || r.RecurrentDropout > 0 || r.ZoneoutH > 0) {
		return nil, fmt.Errorf("nn: GRUCho supports InputDropout, OutputDropout, VariationalInput and WeightDrop only; use GRUPyTorch for the in-kernel variants")
	}
	l := &GRU{W: cellWeights(fn.GRUCellKind, cfg, rng), form: form, cfg: cfg}
	l.state.init(cfg, fn.GRUCellKind, rng)
	return l, nil
}

// Params returns weight_ih, weight_hh, bias_ih, bias_hh, then h0 when the
// initial state is learned.
func (l *GRU) Params() []*autograd.Variable {
	return append(weightList(l.W), l.initialParams()...)
}

// Step computes the next state from h (B, H) and x (B, I).
func (l *GRU) Step(h, x *autograd.Variable) *autograd.Variable {
	b := checkInput("GRU", x, l.cfg.InputSize)
	x, w := l.regInput(x), l.regWeights(l.W)
	if l.form == GRUCho {
		return fn.GRUChoCell(fn.Linear(x, w.WIH, w.BIH), h, w.WHH, w.BHH)
	}
	sq := fn.Sequence{BatchSizes: []int{b}, Masks: l.regMasks(fn.GRUCellKind, b), Norm: l.normSpec()}
	_, hNext := fn.GRUSequence(x, h, w, sq)
	l.normDone(sq.Norm, b)
	return hNext
}

// Forward advances the carried state by one step on x; see LSTM.Forward.
func (l *GRU) Forward(x *autograd.Variable) *autograd.Variable {
	return l.advance("GRU", x, l.cfg.InputSize, false, func(h, _ *autograd.Variable) (*autograd.Variable, *autograd.Variable) {
		return l.Step(h, x), nil
	})
}

// State returns the carried state (nil before the first step).
func (l *GRU) State() *autograd.Variable { return l.h }

// SetState replaces the carried state with h (B, H).
func (l *GRU) SetState(h *autograd.Variable) {
	l.checkState("GRU", h, nil, false)
	l.h = h
}

// RNN is an Elman RNN layer (tanh, or ReLU) stepped one time step at a time
// (stateless Step or stateful Forward, as LSTM). NewIRNN builds the
// identity-initialised ReLU RNN of Le et al. (2015).
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
	if err := cfg.validate("RNN", cell); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("nn: RNN needs an RNG for its initialisation")
	}
	l := &RNN{W: cellWeights(cell, cfg, rng), relu: relu, cfg: cfg}
	l.state.init(cfg, cell, rng)
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

// Step computes the next state from h (B, H) and x (B, I).
func (l *RNN) Step(h, x *autograd.Variable) *autograd.Variable {
	b := checkInput("RNN", x, l.cfg.InputSize)
	cell := fn.RNNTanhCellKind
	if l.relu {
		cell = fn.RNNReLUCellKind
	}
	sq := fn.Sequence{BatchSizes: []int{b}, Masks: l.regMasks(cell, b)}
	_, hNext := fn.RNNSequence(l.regInput(x), h, l.regWeights(l.W), l.relu, sq)
	return hNext
}

// Forward advances the carried state by one step on x; see LSTM.Forward.
func (l *RNN) Forward(x *autograd.Variable) *autograd.Variable {
	return l.advance("RNN", x, l.cfg.InputSize, false, func(h, _ *autograd.Variable) (*autograd.Variable, *autograd.Variable) {
		return l.Step(h, x), nil
	})
}

// State returns the carried state (nil before the first step).
func (l *RNN) State() *autograd.Variable { return l.h }

// SetState replaces the carried state with h (B, H).
func (l *RNN) SetState(h *autograd.Variable) {
	l.checkState("RNN", h, nil, false)
	l.h = h
}

// RNG returns the generator the link draws its masks from, for
// checkpoints.
func (s *state) RNG() *tensor.RNG { return s.rng }
