package seq2seq

import (
	"context"
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// Inference.
//
// Start and Step run on an inference view of the model: every layer's
// inference view (package nn), sharing the weight tensors, recording
// nothing, in evaluation mode, with no dropout generator. Start makes one
// per call and the State carries it, so decoding never writes to the
// model or to anything another decoding shares.
//
// Batched decoding gives each source exactly — bit for bit — what
// decoding it alone gives. Two things make it so:
//
//   - Start encodes each source on its own (the encoder's products over
//     a batch would otherwise go through matrix kernels whose rounding
//     depends on the number of rows: the one-row matrix–vector path, the
//     small unpacked loop and the packed micro-kernels sum in different
//     orders, and in float32 with or without fused multiply–adds) and
//     then pads the encodings into one memory; and
//   - Step computes every element of the decoder's products by the same
//     inner-product kernel, however many rows there are, and its
//     nonlinearities and log-softmax element by element, so row n of its
//     results depends only on row n of its inputs.
//
// The attention kernels (ops.go) already work row by row. The price is
// that the products run as inner products (tiled so that the weights are
// read from memory once per step, but without the matrix kernels'
// register blocking) rather than through the packed GEMM.
// Teacher-forced training (Loss) keeps the batched kernels: its results
// agree with Step's to rounding, not bit for bit.

// cellWeights are the parameters of one decoder layer as the row-wise
// step reads them (biases may be nil).
type cellWeights struct{ wih, whh, bih, bhh *tensor.Tensor }

// inference returns a view of the model for inference (see above).
func (m *Model) inference() *Model {
	v := &Model{cfg: m.cfg, origin: m,
		srcEmbed: m.srcEmbed.Inference(), encoder: m.encoder.Inference(),
		tgtEmbed: m.tgtEmbed.Inference(), generator: m.generator.Inference(),
		attnIn: linearView(m.attnIn), attnQuery: linearView(m.attnQuery), attnKey: linearView(m.attnKey), attnOut: linearView(m.attnOut),
	}
	for _, b := range m.bridgeH {
		v.bridgeH = append(v.bridgeH, b.Inference())
	}
	for _, b := range m.bridgeC {
		v.bridgeC = append(v.bridgeC, b.Inference())
	}
	for _, d := range m.decoder {
		var w cellWeights
		for name, p := range nn.NamedParams(d) {
			switch name {
			case "weight_ih":
				w.wih = p.Data
			case "weight_hh":
				w.whh = p.Data
			case "bias_ih":
				w.bih = p.Data
			case "bias_hh":
				w.bhh = p.Data
			default:
				panic(fmt.Sprintf("seq2seq: decoder link with an unexpected parameter %q", name))
			}
		}
		v.cells = append(v.cells, w)
	}
	if m.attnV != nil {
		v.attnV = m.attnV.Detach()
	}
	return v
}

// linearView is l's inference view, nil for nil.
func linearView(l *nn.Linear) *nn.Linear {
	if l == nil {
		return nil
	}
	return l.Inference()
}

// biasData is l's bias tensor, nil without one.
func biasData(l *nn.Linear) *tensor.Tensor {
	if l.Bias == nil {
		return nil
	}
	return l.Bias.Data
}

// encodeEach encodes each source on its own and pads the encodings into
// one: the memory, the keys and the decoder's initial states of source i
// are those encoding it alone gives. It checks ctx between sources.
func (v *Model) encodeEach(ctx context.Context, src [][]int) (*encoding, error) {
	if len(src) == 1 {
		return v.encode(src, autograd.Eval), nil
	}
	parts := make([]*encoding, len(src))
	S := 0
	for i, s := range src {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		parts[i] = v.encode([][]int{s}, autograd.Eval)
		S = max(S, len(s))
	}
	enc := &encoding{lengths: make([]int, len(src)), states: make([]nn.State, len(parts[0].states))}
	var mem, keys, h, c []*autograd.Variable
	for i, p := range parts {
		enc.lengths[i] = p.lengths[0]
		mem = append(mem, padTime(p.memory, S))
		if p.keys != nil {
			keys = append(keys, padTime(p.keys, S))
		}
	}
	enc.memory = fn.Concat(mem, 0)
	switch {
	case v.cfg.Attention == Dot:
		enc.keys = enc.memory
	case keys != nil:
		enc.keys = fn.Concat(keys, 0)
	}
	for l := range enc.states {
		h, c = h[:0], c[:0]
		for _, p := range parts {
			h = append(h, p.states[l].H)
			if p.states[l].C != nil {
				c = append(c, p.states[l].C)
			}
		}
		enc.states[l].H = fn.Concat(h, 0)
		if len(c) > 0 {
			enc.states[l].C = fn.Concat(c, 0)
		}
	}
	return enc, nil
}

// padTime pads x (1, l, D) with zeros to (1, S, D).
func padTime(x *autograd.Variable, S int) *autograd.Variable {
	l, d := x.Data.Dim(1), x.Data.Dim(2)
	if l == S {
		return x
	}
	idx := make([]int, S)
	for t := range idx {
		idx[t] = -1
		if t < l {
			idx[t] = t
		}
	}
	return fn.Reshape(fn.GatherRows(fn.Reshape(x, l, d), idx), 1, S, d)
}

// stepRows advances the decoder by one step for the rows of s from their
// previous tokens, each row computed independently of the others (see
// the section above). It returns the log-probabilities (N, TgtVocab),
// the attention weights (N, S) or nil, the new per-layer states and the
// output vector (N, H).
func (v *Model) stepRows(s *State, prev []int) (logProbs, weights *tensor.Tensor, states []nn.State, out *tensor.Tensor) {
	x := v.tgtEmbed.Forward(prev)
	if v.cfg.InputFeeding {
		x = fn.Concat([]*autograd.Variable{x, s.feed}, 1)
	}
	in := x.Data
	states = make([]nn.State, len(s.states))
	lstm := v.cfg.Cell == LSTM
	for l, st := range s.states {
		w := v.cells[l]
		gi := linearRows(in, w.wih, w.bih)
		gh := linearRows(st.H.Data, w.whh, w.bhh)
		var h *tensor.Tensor
		if lstm {
			var c *tensor.Tensor
			h, c = lstmRows(gi, gh, st.C.Data)
			states[l].C = autograd.NewVariable(c)
		} else {
			h = gruRows(gi, gh, st.H.Data)
		}
		states[l].H = autograd.NewVariable(h)
		in = h
	}
	out = in
	if v.cfg.Attention != NoAttention {
		top := autograd.NewVariable(in)
		var scores *autograd.Variable
		if v.cfg.Attention == Additive {
			q := autograd.NewVariable(linearRows(in, v.attnQuery.Weight.Data, biasData(v.attnQuery)))
			scores = additiveScores(s.enc.keys, q, v.attnV, s.rows)
		} else {
			scores = dotScores(s.enc.keys, top, s.rows)
		}
		w := maskedSoftmax(scores, s.lens)
		ctxv := contextVectors(w, s.enc.memory, s.rows)
		cat := fn.Concat([]*autograd.Variable{ctxv, top}, 1).Data
		out = linearRows(cat, v.attnOut.Weight.Data, biasData(v.attnOut))
		tanhInPlace(out)
		weights = w.Data
	}
	logProbs = linearRows(out, v.generator.Weight.Data, biasData(v.generator))
	logSoftmaxRows(logProbs)
	return logProbs, weights, states, out
}

// linearRows returns x·wᵀ + b for x (N, K), w (O, K) and b (O) or nil,
// every element by the same inner-product kernel, y[n, j] =
// kernel.Dot(x[n], w[j]) + b[j], so that row n of the result depends only
// on row n of x. The loops run over tiles of columns of w, each tile
// kept in cache while every row reads it, and split the columns across
// the worker pool.
func linearRows(x, w, b *tensor.Tensor) *tensor.Tensor {
	if x.NDim() != 2 || w.NDim() != 2 || x.Dim(1) != w.Dim(1) || (b != nil && (b.NDim() != 1 || b.Dim(0) != w.Dim(0))) {
		panic(fmt.Sprintf("seq2seq: row-wise linear of x %v, W %v; want (N, K) and (O, K)", x.Shape(), w.Shape()))
	}
	sameDType("row-wise linear", x, w)
	y := tensor.New(x.DType(), x.Dim(0), w.Dim(0))
	tensor.Dispatch(x, linearRowsT[float32], linearRowsT[float64])(y, x, w, b)
	return y
}

// linearTile is the number of columns of w a tile holds (for K = 512
// float32s, 128 KiB).
const linearTile = 64

func linearRowsT[T kernel.Float](yt, xt, wt, bt *tensor.Tensor) {
	y, x, w := tensor.Values[T](yt), tensor.Values[T](xt), tensor.Values[T](wt)
	var b []T
	if bt != nil {
		b = tensor.Values[T](bt)
	}
	n, k, o := xt.Dim(0), xt.Dim(1), wt.Dim(0)
	grain := max(linearTile, (1<<16)/max(1, n*k)) // columns per task: at least 64K multiply–adds
	kernel.ParallelFor(o, grain, func(lo, hi int) {
		for j0 := lo; j0 < hi; j0 += linearTile {
			j1 := min(j0+linearTile, hi)
			for i := range n {
				xi, yi := x[i*k:(i+1)*k], y[i*o:(i+1)*o]
				for j := j0; j < j1; j++ {
					v := kernel.Dot(xi, w[j*k:(j+1)*k])
					if b != nil {
						v += b[j]
					}
					yi[j] = v
				}
			}
		}
	})
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// lstmRows returns the LSTM's next h and c from the gate pre-activations
// gi = W_ih·x + b_ih and gh = W_hh·h₋₁ + b_hh (N, 4H, blocks i, f, g, o)
// and c₋₁ (N, H), element by element.
func lstmRows(gi, gh, c *tensor.Tensor) (h, cNext *tensor.Tensor) {
	h, cNext = tensor.ZerosLike(c), tensor.ZerosLike(c)
	tensor.Dispatch(c, lstmRowsT[float32], lstmRowsT[float64])(h, cNext, gi, gh, c)
	return h, cNext
}

func lstmRowsT[T kernel.Float](ht, cnt, git, ght, ct *tensor.Tensor) {
	h, cn, gi, gh, c := tensor.Values[T](ht), tensor.Values[T](cnt), tensor.Values[T](git), tensor.Values[T](ght), tensor.Values[T](ct)
	n, H := ct.Dim(0), ct.Dim(1)
	for r := range n {
		a, b := gi[r*4*H:(r+1)*4*H], gh[r*4*H:(r+1)*4*H]
		for j := range H {
			i := sigmoid(float64(a[j] + b[j]))
			f := sigmoid(float64(a[H+j] + b[H+j]))
			g := math.Tanh(float64(a[2*H+j] + b[2*H+j]))
			o := sigmoid(float64(a[3*H+j] + b[3*H+j]))
			cv := T(f*float64(c[r*H+j]) + i*g)
			cn[r*H+j] = cv
			h[r*H+j] = T(o * math.Tanh(float64(cv)))
		}
	}
}

// gruRows returns the GRU's next h (PyTorch's form) from the projections
// gi = W_ih·x + b_ih and gh = W_hh·h₋₁ + b_hh (N, 3H, blocks r, z, n)
// and h₋₁ (N, H), element by element.
func gruRows(gi, gh, hPrev *tensor.Tensor) *tensor.Tensor {
	h := tensor.ZerosLike(hPrev)
	tensor.Dispatch(h, gruRowsT[float32], gruRowsT[float64])(h, gi, gh, hPrev)
	return h
}

func gruRowsT[T kernel.Float](ht, git, ght, hpt *tensor.Tensor) {
	h, gi, gh, hp := tensor.Values[T](ht), tensor.Values[T](git), tensor.Values[T](ght), tensor.Values[T](hpt)
	n, H := hpt.Dim(0), hpt.Dim(1)
	for r := range n {
		a, b := gi[r*3*H:(r+1)*3*H], gh[r*3*H:(r+1)*3*H]
		for j := range H {
			rg := sigmoid(float64(a[j] + b[j]))
			z := sigmoid(float64(a[H+j] + b[H+j]))
			nv := math.Tanh(float64(a[2*H+j]) + rg*float64(b[2*H+j]))
			h[r*H+j] = T((1-z)*nv + z*float64(hp[r*H+j]))
		}
	}
}

// tanhInPlace applies tanh to every element of t.
func tanhInPlace(t *tensor.Tensor) {
	tensor.Dispatch(t, tanhT[float32], tanhT[float64])(t)
}

func tanhT[T kernel.Float](t *tensor.Tensor) {
	x := tensor.Values[T](t)
	for i, v := range x {
		x[i] = T(math.Tanh(float64(v)))
	}
}

// logSoftmaxRows replaces each row of t (N, V) by its log-softmax: the
// exponentials by one kernel call per row (so every row goes through the
// same code, element for element), summed in float64.
func logSoftmaxRows(t *tensor.Tensor) {
	tensor.Dispatch(t, logSoftmaxT[float32], logSoftmaxT[float64])(t)
}

func logSoftmaxT[T kernel.Float](t *tensor.Tensor) {
	x := tensor.Values[T](t)
	n, V := t.Dim(0), t.Dim(1)
	e := make([]T, V)
	for r := range n {
		row := x[r*V : (r+1)*V]
		hi := kernel.Max(row)
		for i, v := range row {
			e[i] = v - hi
		}
		kernel.Exp(e, e)
		var sum float64
		for _, v := range e {
			sum += float64(v)
		}
		lse := float64(hi) + math.Log(sum)
		for i, v := range row {
			row[i] = T(float64(v) - lse)
		}
	}
}
