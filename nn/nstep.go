package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn/initializer"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// RecurrentInit selects how the recurrent weight matrices W_hh start.
type RecurrentInit uint8

const (
	// InitUniform is PyTorch's default: every weight and bias drawn from
	// U(−1/√H, 1/√H).
	InitUniform RecurrentInit = iota
	// InitOrthogonal makes each gate block of W_hh an orthogonal H×H matrix
	// (Saxe et al. 2013); the other weights keep the default.
	InitOrthogonal
	// InitIdentity makes each gate block of W_hh the identity and zeroes
	// the biases: with the ReLU cell this is the IRNN of Le et al. (2015).
	InitIdentity
)

// RecurrentConfig describes a stack of recurrent layers.
type RecurrentConfig struct {
	// InputSize and HiddenSize are the feature sizes I and H.
	InputSize, HiddenSize int
	// Layers is the number of stacked layers (0 means 1).
	Layers int
	// Bidirectional adds a reverse-direction layer beside each forward one;
	// their outputs are concatenated, so later layers see 2H features.
	Bidirectional bool
	// NoBias drops b_ih and b_hh.
	NoBias bool
	// Dropout is the probability of dropping each output of every layer but
	// the last, in training mode (Zaremba et al. 2014: never on the
	// recurrent path). It must lie in [0, 1).
	Dropout float64
	// DType is the parameters' element type (the zero value is Float32).
	DType tensor.DType
	// RecurrentInit selects the initialisation of W_hh.
	RecurrentInit RecurrentInit
	// ForgetBias, for the LSTM, is written into the forget-gate block of
	// b_ih (and zero into that of b_hh), as Gers et al. (2000) and
	// Jozefowicz et al. (2015) recommend (e.g. 1). Zero keeps the default.
	ForgetBias float64
	// Norm selects layer normalisation (Ba et al. 2016) or recurrent batch
	// normalisation (Cooijmans et al. 2016) inside the fused kernel, for the
	// LSTM and GRU: gains norm_ih, norm_hh (G·H) and, for the LSTM, norm_c
	// and norm_c_bias (H) join the parameters. Batch normalisation keeps
	// running statistics per time step, used in autograd.Eval mode and
	// saved as buffers (NamedBuffers).
	Norm fn.NormKind
	// NormMomentum is the weight of a new batch in the running statistics
	// of batch normalisation (0 means 0.1, as PyTorch).
	NormMomentum float64
	// Regularization selects dropout variants and zoneout.
	Regularization
}

func (c RecurrentConfig) layers() int { return max(c.Layers, 1) }

func (c RecurrentConfig) dirs() int {
	if c.Bidirectional {
		return 2
	}
	return 1
}

func (c RecurrentConfig) validate(cell fn.Cell) error {
	switch {
	case c.InputSize <= 0 || c.HiddenSize <= 0:
		return fmt.Errorf("nn: %v needs positive input and hidden sizes, got %d and %d", cell, c.InputSize, c.HiddenSize)
	case c.Layers < 0:
		return fmt.Errorf("nn: %v with %d layers", cell, c.Layers)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("nn: %v dropout %v outside [0, 1)", cell, c.Dropout)
	case c.DType != tensor.Float32 && c.DType != tensor.Float64:
		return fmt.Errorf("nn: %v with unknown dtype %v", cell, c.DType)
	case c.ForgetBias != 0 && cell != fn.LSTMCellKind:
		return fmt.Errorf("nn: ForgetBias applies to the LSTM only, not %v", cell)
	case c.ForgetBias != 0 && c.NoBias:
		return fmt.Errorf("nn: ForgetBias needs biases")
	case c.RecurrentInit > InitIdentity:
		return fmt.Errorf("nn: unknown RecurrentInit %d", c.RecurrentInit)
	case c.Norm > fn.BatchNormKind:
		return fmt.Errorf("nn: unknown normalisation %d", c.Norm)
	case c.Norm != fn.NoNorm && cell != fn.LSTMCellKind && cell != fn.GRUCellKind:
		return fmt.Errorf("nn: normalisation is for the LSTM and GRU, not %v", cell)
	case c.Norm != fn.NoNorm && c.NoBias:
		return fmt.Errorf("nn: a normalised %v needs its biases", cell)
	case !(c.NormMomentum >= 0 && c.NormMomentum <= 1):
		return fmt.Errorf("nn: NormMomentum %v outside [0, 1]", c.NormMomentum)
	}
	return c.Regularization.validate(cell)
}

// stack is the common core of the NStep layers: the parameters of every
// layer and direction and the packed forward pass.
type stack struct {
	cell fn.Cell
	cfg  RecurrentConfig
	// weights[l][d] holds layer l, direction d (1 = reverse).
	weights [][]fn.RecurrentWeights
	mode    autograd.Mode
	rng     *tensor.RNG
	// running[l][d] keeps the statistics of batch normalisation.
	running   [][]*runningStats
	precision fn.Precision
	// frozen marks an inference view (Inference), which stays in
	// evaluation mode.
	frozen bool
}

func newStack(cell fn.Cell, cfg RecurrentConfig, rng *tensor.RNG) (*stack, error) {
	if err := cfg.validate(cell); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("nn: %v needs an RNG for its initialisation", cell)
	}
	s := &stack{cell: cell, cfg: cfg, rng: rng.Split()}
	for l := 0; l < cfg.layers(); l++ {
		in := cfg.InputSize
		if l > 0 {
			in = cfg.HiddenSize * cfg.dirs()
		}
		var dirs []fn.RecurrentWeights
		for d := 0; d < cfg.dirs(); d++ {
			suffix := fmt.Sprintf("_l%d", l)
			if d == 1 {
				suffix += "_reverse"
			}
			dirs = append(dirs, newWeights(cell, in, cfg.HiddenSize, suffix, weightInit{cfg.NoBias, cfg.DType, cfg.RecurrentInit, cfg.ForgetBias, cfg.Norm}, rng))
		}
		s.weights = append(s.weights, dirs)
		if cfg.Norm != fn.NoNorm {
			rs := make([]*runningStats, cfg.dirs())
			for d := range rs {
				rs[d] = newRunningStats(cfg.Norm, cfg.NormMomentum, cell.Gates(), cfg.HiddenSize, cell == fn.LSTMCellKind)
			}
			s.running = append(s.running, rs)
		}
	}
	return s, nil
}

// weightInit gathers the options that shape a layer's initial weights.
type weightInit struct {
	noBias     bool
	dtype      tensor.DType
	recurrent  RecurrentInit
	forgetBias float64
	norm       fn.NormKind
}

// newWeights returns the parameters of one recurrent layer and direction
// with input size in and hidden size H, named weight_ih+suffix and so on,
// initialised as PyTorch does (U(−1/√H, 1/√H)) and then as init asks.
func newWeights(cell fn.Cell, in, H int, suffix string, init weightInit, rng *tensor.RNG) fn.RecurrentWeights {
	G := cell.Gates()
	bound := 1 / math.Sqrt(float64(H))
	param := func(name string, shape ...int) *autograd.Variable {
		t := tensor.New(init.dtype, shape...)
		initializer.Uniform(t, rng, -bound, bound)
		p := autograd.NewParameter(t)
		p.Name = name + suffix
		return p
	}
	w := fn.RecurrentWeights{WIH: param("weight_ih", G*H, in), WHH: param("weight_hh", G*H, H)}
	if !init.noBias {
		w.BIH, w.BHH = param("bias_ih", G*H), param("bias_hh", G*H)
	}
	switch init.recurrent {
	case InitOrthogonal:
		for k := 0; k < G; k++ {
			initializer.Orthogonal(w.WHH.Data.Slice(k*H, (k+1)*H), rng, 1)
		}
	case InitIdentity:
		for k := 0; k < G; k++ {
			initializer.Identity(w.WHH.Data.Slice(k*H, (k+1)*H), 1)
		}
		if w.BIH != nil {
			w.BIH.Data.Zero()
			w.BHH.Data.Zero()
		}
	}
	if init.forgetBias != 0 {
		for j := H; j < 2*H; j++ {
			w.BIH.Data.SetFlat(j, init.forgetBias)
			w.BHH.Data.SetFlat(j, 0)
		}
	}
	if init.norm != fn.NoNorm {
		// Gains start at 1 for layer norm and at 0.1 for batch norm
		// (Cooijmans et al. 2016, to keep tanh and σ out of saturation).
		gain := 1.0
		if init.norm == fn.BatchNormKind {
			gain = 0.1
		}
		norm := func(name string, n int, v float64) *autograd.Variable {
			p := autograd.NewParameter(tensor.New(init.dtype, n))
			p.Data.Fill(v)
			p.Name = name + suffix
			return p
		}
		w.NormIH, w.NormHH = norm("norm_ih", G*H, gain), norm("norm_hh", G*H, gain)
		if cell == fn.LSTMCellKind {
			w.NormC, w.NormCBias = norm("norm_c", H, gain), norm("norm_c_bias", H, 0)
		}
	}
	return w
}

// Params returns the parameters in PyTorch's order, named as in its
// state_dict: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k},
// then the same with _reverse, for each layer k. With Norm set, each
// direction's gains norm_ih_l{k}, norm_hh_l{k} (and the LSTM's norm_c_l{k},
// norm_c_bias_l{k}) follow its biases; PyTorch has no counterpart.
func (s *stack) Params() []*autograd.Variable {
	var ps []*autograd.Variable
	for _, dirs := range s.weights {
		for _, w := range dirs {
			ps = append(ps, weightList(w)...)
		}
	}
	return ps
}

// SetMode switches dropout between layers on (Train) or off (Eval).
func (s *stack) SetMode(m autograd.Mode) {
	checkThawed(s.cell.String(), s.frozen, m)
	s.mode = m
}

// SetPrecision sets the precision of the products (fn.Sequence.Precision)
// for forward passes that record no gradient — inference under
// autograd.NoGrad, or with parameters that need none; fn.BFloat16 is
// about twice as fast on CPUs with AVX512_BF16. Passes that record a
// gradient always use fn.Float32. The weights are rounded and packed on
// every call, so bfloat16 suits whole sequences, not one Step at a time.
func (s *stack) SetPrecision(p fn.Precision) { s.precision = p }

// Config returns the configuration the layer was built with.
func (s *stack) Config() RecurrentConfig { return s.cfg }

// initial returns the initial state of layer l, direction d (row k of
// a (Layers·D, B, H) state in the caller's order) sorted for packing; nil
// gives zeros. With p sorted it is a view of st's row.
func (s *stack) initial(st *autograd.Variable, k int, p *seq.Packing) *autograd.Variable {
	B, H := p.Batch(), s.cfg.HiddenSize
	if st == nil {
		return autograd.NewVariable(tensor.New(s.cfg.DType, B, H))
	}
	return sortRows(fn.Reshape(fn.Rows(st, k, k+1), B, H), p)
}

// Forward runs the stack over xs, a list of sequences of shape
// (length, I) in any order of lengths, from st ((Layers·D, B, H) in xs's
// order as in PyTorch; the zero State starts from zeros). It returns the
// outputs of the last layer, one (length, D·H) variable per sequence in
// xs's order, and the final state (same shape; each sequence's state at
// its own last step, and for the reverse direction at its first).
func (s *stack) Forward(xs []*autograd.Variable, st State) ([]*autograd.Variable, State) {
	return forwardList(s.cell.String(), s.cfg.InputSize, xs, st, s.forwardPacked)
}

// ForwardPacked is Forward on sequences already in the packed layout of
// p: x is (p.Rows, I) in p's time-major order (what PackSequences and
// PackPadded make; for B sequences of one length T it is row t·B + b,
// the memory layout of a (T, B, I) tensor as PyTorch's nn.LSTM takes it)
// and the output (p.Rows, D·H) is in the same order. st and the final
// state follow the order of the lengths p was made from, as in Forward;
// when p is sorted (equal lengths), they pass as views, without
// reordering copies. It spares Forward's copies into and out of the
// packed layout.
func (s *stack) ForwardPacked(x *autograd.Variable, p *seq.Packing, st State) (*autograd.Variable, State) {
	checkPacked(s.cell.String(), s.cfg.InputSize, x, p)
	return s.forwardPacked(x, p, st)
}

// Step runs one time step of the whole stack for a batch x (B, I) from st
// ((Layers·D, B, H); zero for zeros) and returns the output (B, D·H) and
// the next state: a sequence one step at a time, as generation needs,
// with the same numbers as Forward over the whole sequence.
func (s *stack) Step(x *autograd.Variable, st State) (*autograd.Variable, State) {
	if x.Data.NDim() != 2 || x.Data.Dim(1) != s.cfg.InputSize || x.Data.Dim(0) == 0 {
		panic(fmt.Sprintf("nn: %v Step with x %v; want (B ≥ 1, %d)", s.cell, x.Shape(), s.cfg.InputSize))
	}
	return s.forwardPacked(x, onePerRow(x.Data.Dim(0)), st)
}

// forwardPacked runs the stack on a packed input x with packing p and
// returns the packed output of the last layer and the final states in the
// caller's order.
func (s *stack) forwardPacked(x *autograd.Variable, p *seq.Packing, st State) (*autograd.Variable, State) {
	L, D, B, H := s.cfg.layers(), s.cfg.dirs(), p.Batch(), s.cfg.HiddenSize
	if st.C != nil && !s.cell.HasCellState() {
		panic(fmt.Sprintf("nn: %v has no cell state; got a State with C %v", s.cell, st.C.Shape()))
	}
	h0, c0 := st.H, st.C
	for name, v := range map[string]*autograd.Variable{"H": h0, "C": c0} {
		if v != nil && !slices.Equal(v.Shape(), []int{L * D, B, H}) {
			panic(fmt.Sprintf("nn: %v initial state %s has shape %v; want (%d, %d, %d)", s.cell, name, v.Shape(), L*D, B, H))
		}
	}
	reg, dt, mode := s.cfg.Regularization, s.cfg.DType, s.mode
	if reg.InputDropout > 0 {
		x = fn.Dropout(x, reg.InputDropout, s.rng, mode)
	}
	var hs, cs []*autograd.Variable
	// In sorted order (equal lengths: truncated-BPTT chunks, say) the
	// kernels write the final states of a stack of several layers or
	// directions straight into rows of one (L·D, B, H) state each, which
	// finalStates then returns without copying.
	var finalH, finalC *tensor.Tensor
	if p.Sorted() && L*D > 1 {
		finalH = tensor.New(dt, L*D, B, H)
		if s.cell.HasCellState() {
			finalC = tensor.New(dt, L*D, B, H)
		}
	}
	for l := 0; l < L; l++ {
		if reg.VariationalInput > 0 && mode == autograd.Train {
			m := dropoutMask(dt, s.rng, reg.VariationalInput, B, x.Data.Dim(1))
			x = fn.DropoutMask(x, expandPerSequence(m, p))
		}
		// Draw every random mask and weight of the layer in a fixed order,
		// then run the directions — independent until their outputs are
		// joined — at the same time on the worker pool (fn.RecurrentLayer).
		// Each is deterministic whatever the threads, so the result is the
		// same as one after the other.
		seqs := make([]fn.Sequence, D)
		ws := make([]fn.RecurrentWeights, D)
		for d := 0; d < D; d++ {
			seqs[d] = fn.Sequence{BatchSizes: p.BatchSizes, Reverse: d == 1, Masks: reg.stepMasks(s.cell, dt, s.rng, p.Rows, H, mode)}
			if reg.VariationalHidden > 0 && mode == autograd.Train {
				seqs[d].Masks.H = dropoutMask(dt, s.rng, reg.VariationalHidden, B, H)
			}
			if s.running != nil {
				seqs[d].Norm = s.running[l][d].spec(mode)
			}
			ws[d] = reg.dropWeights(s.weights[l][d], s.rng, mode)
			if finalH != nil {
				seqs[d].FinalH = finalH.Index(l*D + d)
				if finalC != nil {
					seqs[d].FinalC = finalC.Index(l*D + d)
				}
			}
			if w := ws[d]; s.precision != fn.Float32 && !anyRequiresGrad(x, h0, c0, w.WIH, w.WHH, w.BIH, w.BHH, w.Peephole) {
				seqs[d].Precision = s.precision
			}
		}
		starts := make([]*autograd.Variable, 2*D)
		h0s, c0s := starts[:D], []*autograd.Variable(nil)
		if s.cell.HasCellState() {
			c0s = starts[D:]
		}
		for d := range D {
			h0s[d] = s.initial(h0, l*D+d, p)
			if c0s != nil {
				c0s[d] = s.initial(c0, l*D+d, p)
			}
		}
		outs, lh, lc := fn.RecurrentLayer(s.cell, x, h0s, c0s, ws, seqs)
		for d := 0; d < D; d++ {
			if s.running != nil {
				s.running[l][d].update(seqs[d].Norm, p.BatchSizes)
			}
			hs = append(hs, lh[d])
			if s.cell.HasCellState() {
				cs = append(cs, lc[d])
			}
		}
		x = outs[0]
		if D == 2 {
			x = fn.Concat(outs, 1)
		}
		if l < L-1 && s.cfg.Dropout > 0 {
			x = fn.Dropout(x, s.cfg.Dropout, s.rng, mode)
		}
	}
	if reg.OutputDropout > 0 {
		x = fn.Dropout(x, reg.OutputDropout, s.rng, mode)
	}
	next := State{H: s.finalStates(finalH, hs, p)}
	if cs != nil {
		next.C = s.finalStates(finalC, cs, p)
	}
	return x, next
}

// expandPerSequence repeats the per-sequence rows of m (B, F), indexed by
// sorted position, over the packed rows: packed row r of step t belongs to
// the sequence at sorted position r − Offsets[t]. One step of B rows is m
// itself.
func expandPerSequence(m *tensor.Tensor, p *seq.Packing) *tensor.Tensor {
	if p.Steps() == 1 && m.Dim(0) == p.Rows {
		return m
	}
	idx := make([]int, 0, p.Rows)
	for _, b := range p.BatchSizes {
		for k := 0; k < b; k++ {
			idx = append(idx, k)
		}
	}
	return fn.GatherRows(autograd.NewVariable(m), idx).Data
}

// finalStates turns per-(layer, direction) final states in sorted order
// into one (Layers·D, B, H) variable in the caller's order. With whole —
// the state the kernels wrote them into as its rows (sorted order, more
// than one layer or direction) — it is whole itself, joined without a
// copy; a single layer and direction in sorted order is a reshape of its
// one state; otherwise they are put back in the caller's order and
// stacked (one copy).
func (s *stack) finalStates(whole *tensor.Tensor, states []*autograd.Variable, p *seq.Packing) *autograd.Variable {
	if whole != nil {
		return fn.JoinViews(whole, states)
	}
	B, H := p.Batch(), s.cfg.HiddenSize
	parts := make([]*autograd.Variable, len(states))
	for k, st := range states {
		parts[k] = fn.Reshape(unsortRows(st, p), 1, B, H)
	}
	return concatRows(parts)
}

// concatRows concatenates variables along the first axis (no-op for one).
func concatRows(xs []*autograd.Variable) *autograd.Variable {
	if len(xs) == 1 {
		return xs[0]
	}
	return fn.Concat(xs, 0)
}

// NStepLSTM is a stack of LSTM layers (fn.LSTMCellKind), optionally
// bidirectional, run over a list of variable-length sequences at once, as
// Chainer's L.NStepLSTM and PyTorch's nn.LSTM on a PackedSequence.
// Parameters follow PyTorch's names and layout. It is a SteppedRecurrent;
// its State has H and C of shape (Layers·D, B, H).
type NStepLSTM struct{ *stack }

// NewNStepLSTM returns an LSTM stack initialised from rng, or an error
// for an invalid configuration.
func NewNStepLSTM(cfg RecurrentConfig, rng *tensor.RNG) (*NStepLSTM, error) {
	return newNStep[NStepLSTM](fn.LSTMCellKind, cfg, rng)
}

// NStepGRU is a stack of GRU layers (fn.GRUCellKind, the PyTorch/cuDNN
// form), optionally bidirectional, over variable-length sequences. It is
// a SteppedRecurrent; its State has H only.
type NStepGRU struct{ *stack }

// NewNStepGRU returns a GRU stack initialised from rng, or an error for an
// invalid configuration.
func NewNStepGRU(cfg RecurrentConfig, rng *tensor.RNG) (*NStepGRU, error) {
	return newNStep[NStepGRU](fn.GRUCellKind, cfg, rng)
}

// NStepRNN is a stack of Elman RNN layers with tanh or ReLU, optionally
// bidirectional, over variable-length sequences. With ReLU and
// InitIdentity it is a stack of IRNNs (Le et al. 2015). It is a
// SteppedRecurrent; its State has H only.
type NStepRNN struct{ *stack }

// NewNStepRNN returns an Elman RNN stack (ReLU when relu is set)
// initialised from rng, or an error for an invalid configuration.
func NewNStepRNN(cfg RecurrentConfig, relu bool, rng *tensor.RNG) (*NStepRNN, error) {
	cell := fn.RNNTanhCellKind
	if relu {
		cell = fn.RNNReLUCellKind
	}
	return newNStep[NStepRNN](cell, cfg, rng)
}

// newNStep returns the stack of cell built from cfg as one of the NStep
// types, or newStack's error.
func newNStep[T NStepLSTM | NStepGRU | NStepRNN](cell fn.Cell, cfg RecurrentConfig, rng *tensor.RNG) (*T, error) {
	s, err := newStack(cell, cfg, rng)
	if err != nil {
		return nil, err
	}
	return &T{s}, nil
}

// RNG returns the generator the stack draws its dropout masks from, so
// that checkpoints can save and restore its state (see modelio).
func (s *stack) RNG() *tensor.RNG { return s.rng }
