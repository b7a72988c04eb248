package nn

import (
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/seq"
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
	// Regularization selects dropout variants and zoneout. For the
	// links, OutputDropout applies to the outputs Step, Advance and Forward
	// return, never to the state; the variational and DropConnect masks
	// are drawn when a state starts and kept until Reset or ResampleMasks,
	// whether the link steps or runs whole sequences. The PeepholeFull
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

// state is the part common to the links: the sequence run shared by
// Step, Forward and ForwardPacked, the carried state of the stateful
// interface (Advance), the optional learned initial state, and Chainer's
// rule that a batch smaller than the carried state's continues with the
// state's first rows and leaves the others as they are.
type state struct {
	name       string // for messages: "LSTM", "GRU", …
	cell       fn.Cell
	in         int
	hidden     int
	dtype      tensor.DType
	withC      bool
	h, c       *autograd.Variable // the carried state; nil before the first step
	h0, c0     *autograd.Variable // learned initial state (H), or nil
	kernel     *fn.RecurrentWeights
	stepByHand func(x *autograd.Variable, st State) (*autograd.Variable, State)

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

	// precision of the fused kernel's products without a gradient.
	precision fn.Precision
	// frozen marks an inference view (Inference), which stays in
	// evaluation mode.
	frozen bool
}

// init sets up the state of a link named name of the given cell kind
// (the LSTMs carry a cell state c). A link with a fused kernel passes its
// weights as w; the forms without one pass nil and a step function, and
// their sequences run one step at a time.
func (s *state) init(name string, cfg CellConfig, cell fn.Cell, w *fn.RecurrentWeights, stepByHand func(*autograd.Variable, State) (*autograd.Variable, State), rng *tensor.RNG) {
	s.name, s.cell, s.in, s.withC = name, cell, cfg.InputSize, cell.HasCellState()
	s.hidden, s.dtype = cfg.HiddenSize, cfg.DType
	s.kernel, s.stepByHand = w, stepByHand
	s.reg, s.rng = cfg.Regularization, rng.Split()
	if cfg.Norm != fn.NoNorm {
		s.norm = newRunningStats(cfg.Norm, cfg.NormMomentum, cell.Gates(), cfg.HiddenSize, s.withC)
	}
	if !cfg.LearnInitialState {
		return
	}
	s.h0 = autograd.NewParameter(tensor.New(cfg.DType, cfg.HiddenSize))
	s.h0.Name = "h0"
	if s.withC {
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

// Initial returns the initial state for a batch of b sequences, each
// (b, H): the learned rows repeated b times, or zeros. C is nil for cells
// without a cell state. A zero State passed to Step or Forward starts
// from it.
func (s *state) Initial(b int) State {
	rows := func(p *autograd.Variable) *autograd.Variable {
		z := autograd.NewVariable(tensor.New(s.dtype, b, s.hidden))
		if p == nil {
			return z
		}
		return fn.Add(z, p)
	}
	st := State{H: rows(s.h0)}
	if s.withC {
		st.C = rows(s.c0)
	}
	return st
}

// start fills in what st lacks from the initial state of b rows and
// panics unless the result is a (b, H) state of this cell.
func (s *state) start(op string, st State, b int) State {
	if st.H == nil || (s.withC && st.C == nil) {
		init := s.Initial(b)
		if st.H == nil {
			st.H = init.H
		}
		if s.withC && st.C == nil {
			st.C = init.C
		}
	}
	s.checkState(op, st, b)
	return st
}

// checkState panics unless st is a state of this cell of b rows (any
// number for b < 0).
func (s *state) checkState(op string, st State, b int) {
	if st.H == nil || (s.withC && st.C == nil) || (!s.withC && st.C != nil) {
		panic(fmt.Sprintf("nn: %s %s needs a State with H%s", s.name, op, map[bool]string{true: " and C", false: " only"}[s.withC]))
	}
	ok := st.H.Data.NDim() == 2 && st.H.Data.Dim(1) == s.hidden && (b < 0 || st.H.Data.Dim(0) == b)
	if st.C != nil && !slices.Equal(st.C.Shape(), st.H.Shape()) {
		ok = false
	}
	if !ok {
		cs, rows := "nil", "B"
		if st.C != nil {
			cs = fmt.Sprint(st.C.Shape())
		}
		if b >= 0 {
			rows = fmt.Sprint(b)
		}
		panic(fmt.Sprintf("nn: %s %s with H %v and C %s; want (%s, %d)", s.name, op, st.H.Shape(), cs, rows, s.hidden))
	}
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
// sequences when using Step or Forward directly.
func (s *state) ResampleMasks() { s.varIn, s.varH, s.wd = nil, nil, nil }

// SetMode switches the link's dropout and zoneout between training and
// evaluation behaviour.
func (s *state) SetMode(m autograd.Mode) {
	checkThawed(s.name, s.frozen, m)
	s.mode = m
}

// RNG returns the generator the link draws its masks from, for
// checkpoints.
func (s *state) RNG() *tensor.RNG { return s.rng }

// rowsMask returns the first b rows of the per-state mask *m of width w,
// drawing a new one when there is none or it has too few rows.
func (s *state) rowsMask(m **tensor.Tensor, p float64, b, w int) *tensor.Tensor {
	if *m == nil || (*m).Dim(0) < b {
		*m = dropoutMask(s.dtype, s.rng, p, b, w)
	}
	return (*m).Slice(0, b)
}

// regInput applies input dropout and variational input dropout (one row
// of the mask per sequence, at every step) to the packed x.
func (s *state) regInput(x *autograd.Variable, p *seq.Packing) *autograd.Variable {
	if s.mode == autograd.Eval {
		return x
	}
	if s.reg.InputDropout > 0 {
		x = fn.Dropout(x, s.reg.InputDropout, s.rng, s.mode)
	}
	if s.reg.VariationalInput > 0 {
		x = fn.DropoutMask(x, expandPerSequence(s.rowsMask(&s.varIn, s.reg.VariationalInput, p.Batch(), x.Data.Dim(1)), p))
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

// regMasks returns the in-kernel masks for the packed rows of p.
func (s *state) regMasks(p *seq.Packing) fn.RecurrentMasks {
	m := s.reg.stepMasks(s.cell, s.dtype, s.rng, p.Rows, s.hidden, s.mode)
	if s.reg.VariationalHidden > 0 && s.mode == autograd.Train {
		m.H = s.rowsMask(&s.varH, s.reg.VariationalHidden, p.Batch(), s.hidden)
	}
	return m
}

// regOutput applies output dropout to what the link returns (never to
// the state it carries).
func (s *state) regOutput(y *autograd.Variable) *autograd.Variable {
	if s.reg.OutputDropout > 0 {
		return fn.Dropout(y, s.reg.OutputDropout, s.rng, s.mode)
	}
	return y
}

// sequence runs the fused kernel over a packed x from st, both in sorted
// order: the whole of Step, Forward and ForwardPacked for the links that
// have a kernel.
func (s *state) sequence(x *autograd.Variable, p *seq.Packing, st State) (*autograd.Variable, State) {
	sq := fn.Sequence{BatchSizes: p.BatchSizes, Masks: s.regMasks(p), Norm: s.normSpec()}
	x = s.regInput(x, p)
	w := s.regWeights(*s.kernel)
	if s.precision != fn.Float32 && !anyRequiresGrad(x, st.H, st.C, w.WIH, w.WHH, w.BIH, w.BHH, w.Peephole) {
		sq.Precision = s.precision
	}
	y, h, c := fn.RecurrentSequence(s.cell, x, st.H, st.C, w, sq)
	s.normDone(sq.Norm, p.BatchSizes)
	return s.regOutput(y), State{H: h, C: c}
}

// SetPrecision sets the precision of the fused kernel's products in
// forward passes that record no gradient (fn.Sequence.Precision). It
// applies to the links that run a fused kernel; the ones computed from
// elementary functions (PeepholeFull, the Cho-form GRU) stay in float32.
func (s *state) SetPrecision(p fn.Precision) { s.precision = p }

// Step runs one time step on x (B, I) from st, each of H and C (B, H)
// (the zero State for the initial state), and returns the output (B, H)
// — the new h, through output dropout — and the next state. It keeps
// nothing.
func (s *state) Step(x *autograd.Variable, st State) (*autograd.Variable, State) {
	b := checkInput(s.name, x, s.in)
	st = s.start("Step", st, b)
	if s.kernel == nil {
		return s.stepByHand(x, st)
	}
	return s.sequence(x, onePerRow(b), st)
}

// Forward runs the link over xs, a list of sequences (length_i, I) in
// any order of lengths, from st ((B, H) each in xs's order; the zero
// State for the initial state), and returns the outputs, one
// (length_i, H) per sequence, and each sequence's state after its last
// step. It neither reads nor changes the carried state of Advance.
func (s *state) Forward(xs []*autograd.Variable, st State) ([]*autograd.Variable, State) {
	return forwardList(s.name, s.in, xs, st, s.forwardPacked)
}

// ForwardPacked is Forward on sequences packed as p describes (see
// Recurrent): one call of the fused kernel for all time steps, or for
// the forms without one (PeepholeFull, GRUCho) a loop over the steps.
func (s *state) ForwardPacked(x *autograd.Variable, p *seq.Packing, st State) (*autograd.Variable, State) {
	checkPacked(s.name, s.in, x, p)
	return s.forwardPacked(x, p, st)
}

func (s *state) forwardPacked(x *autograd.Variable, p *seq.Packing, st State) (*autograd.Variable, State) {
	st = s.start("ForwardPacked", st, p.Batch())
	st = State{H: sortRows(st.H, p), C: sortRows(st.C, p)}
	var y *autograd.Variable
	if s.kernel != nil {
		y, st = s.sequence(x, p, st)
	} else {
		y, st = stepPacked(x, p, st, s.stepByHand)
	}
	return y, State{H: unsortRows(st.H, p), C: unsortRows(st.C, p)}
}

// stepPacked runs step over the packed x one time step at a time, rows
// that end at a step keeping their state.
func stepPacked(x *autograd.Variable, p *seq.Packing, st State, step func(*autograd.Variable, State) (*autograd.Variable, State)) (*autograd.Variable, State) {
	ys := make([]*autograd.Variable, p.Steps())
	var doneH, doneC []*autograd.Variable // rows that ended, latest last
	for t, b := range p.BatchSizes {
		if n := st.H.Data.Dim(0); b < n {
			doneH = append(doneH, fn.Rows(st.H, b, n))
			st.H = fn.Rows(st.H, 0, b)
			if st.C != nil {
				doneC = append(doneC, fn.Rows(st.C, b, n))
				st.C = fn.Rows(st.C, 0, b)
			}
		}
		ys[t], st = step(fn.Rows(x, p.Offsets[t], p.Offsets[t]+b), st)
	}
	slices.Reverse(doneH)
	slices.Reverse(doneC)
	st.H = concatRows(append([]*autograd.Variable{st.H}, doneH...))
	if st.C != nil {
		st.C = concatRows(append([]*autograd.Variable{st.C}, doneC...))
	}
	return concatRows(ys), st
}

// Advance is the stateful interface, as Chainer's links: it advances the
// carried state by one step on x (B, I) and returns the output (B, H).
// The first call (and the first after Reset) starts from the initial
// state. B may be smaller than the carried batch: the first B rows
// advance and the others are kept (as Chainer's L.LSTM does); a larger B
// panics.
func (s *state) Advance(x *autograd.Variable) *autograd.Variable {
	b := checkInput(s.name, x, s.in)
	var cur, rest State
	if s.h != nil {
		n := s.h.Data.Dim(0)
		if b > n {
			panic(fmt.Sprintf("nn: %s step with a batch of %d rows but a state of %d rows; call Reset or SetState first", s.name, b, n))
		}
		cur = State{H: fn.Rows(s.h, 0, b)}
		if b < n {
			rest.H = fn.Rows(s.h, b, n)
		}
		if s.c != nil {
			cur.C = fn.Rows(s.c, 0, b)
			if b < n {
				rest.C = fn.Rows(s.c, b, n)
			}
		}
	}
	y, next := s.Step(x, cur)
	if rest.H != nil {
		next.H = fn.Concat([]*autograd.Variable{next.H, rest.H}, 0)
		if next.C != nil {
			next.C = fn.Concat([]*autograd.Variable{next.C, rest.C}, 0)
		}
	}
	s.h, s.c = next.H, next.C
	return y
}

// State returns the state Advance carries (the zero State before the
// first step).
func (s *state) State() State { return State{H: s.h, C: s.c} }

// SetState replaces the state Advance carries with st, each of H and C
// (B, H) (C only for the LSTMs).
func (s *state) SetState(st State) {
	s.checkState("SetState", st, -1)
	s.h, s.c = st.H, st.C
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
