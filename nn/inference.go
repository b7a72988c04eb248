package nn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
)

// Inference views.
//
// A layer's Inference method returns a view of it for inference: a
// shallow copy whose parameters are twins of the layer's — variables
// sharing the same Data tensors but requiring no gradient — fixed in
// evaluation mode. Nothing computed through a view is recorded, and no
// call on it writes to anything the layer or another view shares, so
// any number of goroutines may run one view, or views of one layer, at
// once. The layer itself keeps its flags and its mode, and trains as
// before: making a view writes nothing either.
//
// A view reads the weights when it runs, so it sees in-place updates of
// the layer's Data (optimizer steps, modelio's Restore). It does not see
// a parameter replaced by another variable (SetParam, WeightNorm.Apply,
// tying weights afterwards): take views after such changes. Taking one
// costs a few small allocations and copies no weights, so taking a view
// per request is fine.
//
// The concurrency contract of every layer in this package is therefore:
// inference through views is safe for concurrent use; everything else —
// training (Forward with a recorded graph, Backward, optimizer steps),
// SetMode, SetPrecision, SetParam, SetBuffer, Reset and the stateful
// Advance — needs exclusive use of the layer. A stateful link's Advance
// on a view carries the view's own state, so such a view belongs to one
// goroutine, as does a view of a link with batch normalisation, which
// counts its steps (see LSTM).

// twin returns a variable sharing v's Data that requires no gradient, or
// nil for nil.
func twin(v *autograd.Variable) *autograd.Variable {
	if v == nil {
		return nil
	}
	return v.Detach()
}

// twinWeights returns w with every parameter replaced by its twin.
func twinWeights(w fn.RecurrentWeights) fn.RecurrentWeights {
	for _, p := range []**autograd.Variable{&w.WIH, &w.WHH, &w.BIH, &w.BHH, &w.Peephole, &w.NormIH, &w.NormHH, &w.NormC, &w.NormCBias} {
		*p = twin(*p)
	}
	return w
}

// Inference returns a view of the layer for inference, sharing its
// weights (see the package's section on inference views): safe for
// concurrent use, recording nothing, at the layer's precision.
func (l *Linear) Inference() *Linear {
	return &Linear{Weight: twin(l.Weight), Bias: twin(l.Bias), precision: l.precision}
}

// Pack returns an inference view of the layer (as Inference) whose
// weight is packed once for the matrix kernels at the layer's precision
// (fn.PackWeight): products with many different inputs — one generation
// step after another — then skip packing it. At fn.Float32 the results
// are Inference's, bit for bit. The packing is a copy, made now: unlike
// Inference's, this view does not follow later changes of the weights, so
// take it for a run of inference and drop it when the weights change.
func (l *Linear) Pack() *Linear {
	v := l.Inference()
	v.packed = fn.PackWeight(l.Weight.Data, l.precision)
	return v
}

// Packing returns the weight's packing of a view made by Pack, or nil.
func (l *Linear) Packing() *fn.PackedWeight { return l.packed }

// Inference returns a view of the embedding for inference, sharing its
// weight: safe for concurrent use, recording nothing.
func (e *Embedding) Inference() *Embedding {
	v := *e
	v.Weight = twin(e.Weight)
	return &v
}

// Inference returns a view of the layer for inference, sharing its
// parameters: safe for concurrent use, recording nothing.
func (l *LayerNormalization) Inference() *LayerNormalization {
	return &LayerNormalization{Weight: twin(l.Weight), Bias: twin(l.Bias), eps: l.eps}
}

// Inference returns a view of the layer for inference in evaluation mode
// (normalising with the running statistics, which it reads and never
// updates), sharing its parameters: safe for concurrent use, recording
// nothing.
func (l *BatchNormalization) Inference() *BatchNormalization {
	return &BatchNormalization{Weight: twin(l.Weight), Bias: twin(l.Bias), RunningMean: l.RunningMean, RunningVar: l.RunningVar,
		BatchesTracked: l.BatchesTracked, cfg: l.cfg, mode: autograd.Eval, frozen: true}
}

// inference returns a view of the stack: its weights' twins, evaluation
// mode, no generator (evaluation draws no masks, and a draw would be a
// write to the layer's generator), the running statistics shared for
// reading.
func (s *stack) inference() *stack {
	v := *s
	v.weights = make([][]fn.RecurrentWeights, len(s.weights))
	for l, dirs := range s.weights {
		v.weights[l] = make([]fn.RecurrentWeights, len(dirs))
		for d, w := range dirs {
			v.weights[l][d] = twinWeights(w)
		}
	}
	v.mode, v.rng, v.frozen = autograd.Eval, nil, true
	return &v
}

// packed returns the stack's inference view with every layer's and
// direction's W_ih and W_hh packed at the layer's precision.
func (s *stack) packed() *stack {
	v := s.inference()
	for _, dirs := range v.weights {
		for d := range dirs {
			packWeights(&dirs[d], s.precision)
		}
	}
	return v
}

// packWeights sets w's packings of W_ih and W_hh for precision p.
func packWeights(w *fn.RecurrentWeights, p fn.Precision) {
	w.PackedIH, w.PackedHH = fn.PackWeight(w.WIH.Data, p), fn.PackWeight(w.WHH.Data, p)
}

// Pack implements Recurrent.
func (l *NStepLSTM) Pack() SteppedRecurrent { return &NStepLSTM{l.stack.packed()} }

// Pack implements Recurrent.
func (l *NStepGRU) Pack() SteppedRecurrent { return &NStepGRU{l.stack.packed()} }

// Pack implements Recurrent.
func (l *NStepRNN) Pack() SteppedRecurrent { return &NStepRNN{l.stack.packed()} }

// packKernel packs the weights of a link view's fused kernel, if it has
// one (the forms computed from elementary functions keep Inference's
// view).
func (s *state) packKernel() {
	if s.kernel != nil {
		packWeights(s.kernel, s.precision)
	}
}

// Pack implements Recurrent: the fused kernel's weights packed.
func (l *LSTM) Pack() SteppedRecurrent {
	v := l.Inference().(*LSTM)
	v.packKernel()
	return v
}

// Pack implements Recurrent (see LSTM.Pack).
func (l *PeepholeLSTM) Pack() SteppedRecurrent {
	v := l.Inference().(*PeepholeLSTM)
	v.packKernel()
	return v
}

// Pack implements Recurrent (see LSTM.Pack).
func (l *GRU) Pack() SteppedRecurrent {
	v := l.Inference().(*GRU)
	v.packKernel()
	return v
}

// Pack implements Recurrent (see LSTM.Pack).
func (l *RNN) Pack() SteppedRecurrent {
	v := l.Inference().(*RNN)
	v.packKernel()
	return v
}

// Inference returns a view of the stack for inference (see the package's
// section on inference views): safe for concurrent use, recording
// nothing, in evaluation mode, at the layer's precision.
func (l *NStepLSTM) Inference() SteppedRecurrent { return &NStepLSTM{l.stack.inference()} }

// Inference returns a view of the stack for inference, as
// NStepLSTM.Inference does.
func (l *NStepGRU) Inference() SteppedRecurrent { return &NStepGRU{l.stack.inference()} }

// Inference returns a view of the stack for inference, as
// NStepLSTM.Inference does.
func (l *NStepRNN) Inference() SteppedRecurrent { return &NStepRNN{l.stack.inference()} }

// inference returns the link state of a view whose fused kernel, if the
// link has one, runs on w: no carried state, no masks, no generator,
// evaluation mode, the learned initial state's twins.
func (s *state) inference(w *fn.RecurrentWeights) state {
	v := *s
	if v.kernel != nil {
		v.kernel = w
	}
	v.h, v.c, v.t = nil, nil, 0
	v.h0, v.c0 = twin(s.h0), twin(s.c0)
	v.varIn, v.varH, v.wd = nil, nil, nil
	v.mode, v.rng, v.frozen = autograd.Eval, nil, true
	return v
}

// Inference returns a view of the link for inference (see the package's
// section on inference views): Step, Forward and ForwardPacked on it are
// safe for concurrent use and record nothing. Advance on the view
// carries the view's own state, apart from the link's.
func (l *LSTM) Inference() SteppedRecurrent {
	v := &LSTM{W: twinWeights(l.W), cfg: l.cfg}
	v.state = l.state.inference(&v.W)
	return v
}

// Inference returns a view of the link for inference, as LSTM.Inference
// does.
func (l *PeepholeLSTM) Inference() SteppedRecurrent {
	v := &PeepholeLSTM{W: twinWeights(l.W), form: l.form, cfg: l.cfg}
	for k, p := range l.Peep {
		v.Peep[k] = twin(p)
	}
	v.state = l.state.inference(&v.W)
	if v.form == PeepholeFull {
		v.stepByHand = v.fullStep
	}
	return v
}

// Inference returns a view of the link for inference, as LSTM.Inference
// does.
func (l *GRU) Inference() SteppedRecurrent {
	v := &GRU{W: twinWeights(l.W), form: l.form, cfg: l.cfg}
	v.state = l.state.inference(&v.W)
	if v.form == GRUCho {
		v.stepByHand = v.choStep
	}
	return v
}

// Inference returns a view of the link for inference, as LSTM.Inference
// does.
func (l *RNN) Inference() SteppedRecurrent {
	v := &RNN{W: twinWeights(l.W), relu: l.relu, cfg: l.cfg}
	v.state = l.state.inference(&v.W)
	return v
}

// checkThawed panics when a view is asked to train: a view has no
// generator to draw masks from and no gradients to record.
func checkThawed(layer string, frozen bool, m autograd.Mode) {
	if frozen && m != autograd.Eval {
		panic(fmt.Sprintf("nn: SetMode(%v) on an inference view of %s; views stay in evaluation mode (train the layer itself)", m, layer))
	}
}
