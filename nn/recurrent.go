package nn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// State is the recurrent state of a layer: the hidden state H and, for
// LSTMs, the cell state C (nil for GRUs and Elman RNNs).
//
// Shapes follow PyTorch. For the NStep stacks, as for torch.nn.LSTM, H
// and C are (Layers·Directions, B, H), row l·D + d holding layer l,
// direction d (1 = reverse). For the single-layer links (LSTM,
// PeepholeLSTM, GRU, RNN), as for torch.nn.LSTMCell, they are (B, H).
// Rows follow the order of the sequences the layer was given.
//
// The zero State starts every sequence from the layer's initial state:
// zeros, or a link's learned h0 and c0 (CellConfig.LearnInitialState).
// Either field alone may be nil and then starts from there too. A State is
// a pair of variables and never changes in place; the layers return new
// ones.
type State struct {
	H, C *autograd.Variable
}

// Detach returns the state with its values but without its graph: the
// truncation of truncated BPTT between chunks.
func (s State) Detach() State {
	if s.H != nil {
		s.H = s.H.Detach()
	}
	if s.C != nil {
		s.C = s.C.Detach()
	}
	return s
}

// Recurrent is a recurrent layer run over whole sequences: the NStep
// stacks and the links of this package. Each call is stateless, the state
// going in and out as a State; the fused sequence kernels of package fn
// run every time step of a layer in one call.
type Recurrent interface {
	Module
	// Forward runs the layer over xs, a list of sequences of shape
	// (length_i, I) in any order of lengths, from st (in xs's order). It
	// returns the outputs of the last layer, one (length_i, D·H) variable
	// per sequence in xs's order, and the final state: each sequence's
	// state at its own last step (at its first for a reverse direction).
	Forward(xs []*autograd.Variable, st State) ([]*autograd.Variable, State)
	// ForwardPacked is Forward on sequences already packed: x is
	// (p.Rows, I) in the time-major packed order of p, as PackSequences
	// or PackPadded make it (for B sequences of one length T it is the
	// (T, B, I) layout, row t·B + b), and so is the output
	// (p.Rows, D·H). st and the final state follow the order of the
	// lengths p was made from, as in Forward. When that order is already
	// sorted (equal lengths, as truncated-BPTT chunks), the states are
	// used and returned as views, with no reordering copies.
	ForwardPacked(x *autograd.Variable, p *seq.Packing, st State) (*autograd.Variable, State)
	// SetMode switches dropout and zoneout between training and
	// evaluation behaviour.
	SetMode(autograd.Mode)
	// RNG returns the generator the layer draws its dropout masks from,
	// so that checkpoints can save and restore it.
	RNG() *tensor.RNG
	// SetPrecision sets the precision of the layer's matrix products in
	// forward passes that record no gradient (fn.Sequence.Precision);
	// training always runs at fn.Float32.
	SetPrecision(fn.Precision)
	// Inference returns a view of the layer for inference: it shares the
	// layer's weights, records no graph, stays in evaluation mode and is
	// safe for concurrent use (see the package documentation). The
	// layer itself is left as it is.
	Inference() SteppedRecurrent
	// Pack returns an inference view whose weight matrices are packed
	// once for the matrix kernels at the layer's precision
	// (fn.PackWeight): a run of many calls — generation, one step after
	// another — then skips packing them each time, with the same results
	// as Inference's at fn.Float32. The packings are a copy: the view does
	// not follow later changes of the weights.
	Pack() SteppedRecurrent
}

// Stepper is a recurrent layer advanced one time step at a time, as
// generation and decoding need when each input depends on the last
// output.
type Stepper interface {
	// Step runs one time step on a batch x (B, I) from st and returns
	// the output (B, D·H) and the next state. It equals ForwardPacked
	// over B sequences of length one.
	Step(x *autograd.Variable, st State) (*autograd.Variable, State)
}

// SteppedRecurrent is a Recurrent that can also be stepped: every
// recurrent layer of this package is one.
type SteppedRecurrent interface {
	Recurrent
	Stepper
}

// NewRecurrent returns an NStep stack of the given cell kind —
// NStepLSTM, NStepGRU or NStepRNN (tanh or ReLU) — initialised from rng,
// or an error for an invalid configuration or cell kind. It is the one
// place where a model built from a configuration picks its stack.
func NewRecurrent(cell fn.Cell, cfg RecurrentConfig, rng *tensor.RNG) (SteppedRecurrent, error) {
	switch cell {
	case fn.LSTMCellKind:
		return built(NewNStepLSTM(cfg, rng))
	case fn.GRUCellKind:
		return built(NewNStepGRU(cfg, rng))
	case fn.RNNTanhCellKind, fn.RNNReLUCellKind:
		return built(NewNStepRNN(cfg, cell == fn.RNNReLUCellKind, rng))
	}
	return nil, fmt.Errorf("nn: no recurrent stack for cell %v", cell)
}

// NewRecurrentCell returns a single-layer link of the given cell kind —
// LSTM, GRU (the PyTorch form) or RNN (tanh or ReLU) — initialised from
// rng, or an error for an invalid configuration or cell kind.
func NewRecurrentCell(cell fn.Cell, cfg CellConfig, rng *tensor.RNG) (SteppedRecurrent, error) {
	switch cell {
	case fn.LSTMCellKind:
		return built(NewLSTM(cfg, rng))
	case fn.GRUCellKind:
		return built(NewGRU(cfg, GRUPyTorch, rng))
	case fn.RNNTanhCellKind, fn.RNNReLUCellKind:
		return built(NewRNN(cfg, cell == fn.RNNReLUCellKind, rng))
	}
	return nil, fmt.Errorf("nn: no recurrent link for cell %v", cell)
}

// built returns a constructor's result as an interface: nil, not a typed
// nil pointer, on an error.
func built[T SteppedRecurrent](r T, err error) (SteppedRecurrent, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// forwardList is Forward in terms of ForwardPacked: it packs xs, runs
// packed and unpacks the output.
func forwardList(name string, in int, xs []*autograd.Variable, st State, packed func(*autograd.Variable, *seq.Packing, State) (*autograd.Variable, State)) ([]*autograd.Variable, State) {
	if len(xs) == 0 {
		panic(fmt.Sprintf("nn: %s Forward on no sequences", name))
	}
	for i, x := range xs {
		if x.Data.NDim() != 2 || x.Data.Dim(1) != in || x.Data.Dim(0) == 0 {
			panic(fmt.Sprintf("nn: %s sequence %d has shape %v; want (length ≥ 1, %d)", name, i, x.Shape(), in))
		}
	}
	x, p := PackSequences(xs)
	y, next := packed(x, p, st)
	return UnpackSequences(y, p), next
}

// checkPacked panics unless x is a packed input (p.Rows, in).
func checkPacked(name string, in int, x *autograd.Variable, p *seq.Packing) {
	if p == nil || x == nil || x.Data.NDim() != 2 || x.Data.Dim(0) != p.Rows || x.Data.Dim(1) != in {
		rows := -1
		if p != nil {
			rows = p.Rows
		}
		var shape []int
		if x != nil {
			shape = x.Shape()
		}
		panic(fmt.Sprintf("nn: %s ForwardPacked with x %v; want (%d packed rows, %d)", name, shape, rows, in))
	}
}

// onePerRow returns the packing of b sequences of length one: a Step.
func onePerRow(b int) *seq.Packing {
	ones := make([]int, b)
	for i := range ones {
		ones[i] = 1
	}
	return seq.MustPacking(ones)
}

// sortRows returns the rows of a (B, ·) state in p's sorted order, or v
// itself when p needs no reordering (or v is nil).
func sortRows(v *autograd.Variable, p *seq.Packing) *autograd.Variable {
	if v == nil || p.Sorted() {
		return v
	}
	return fn.GatherRows(v, p.Order)
}

// unsortRows is the inverse of sortRows: from sorted to the caller's order.
func unsortRows(v *autograd.Variable, p *seq.Packing) *autograd.Variable {
	if v == nil || p.Sorted() {
		return v
	}
	return fn.GatherRows(v, p.Rank)
}
