package seq2seq

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// tinyConfig is a float64 model small enough for finite differences.
func tinyConfig() Config {
	return Config{SrcVocab: 5, TgtVocab: 6, BOS: 1, EOS: 2, Embed: 3, Hidden: 4, DType: tensor.Float64}
}

func newTiny(t *testing.T, cfg Config) *Model {
	t.Helper()
	m, err := NewModel(cfg, tensor.NewRNG(11))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// binding swaps a model's parameter variables for the variables a
// gradient check passes in, so gradients reach the check's inputs.
type binding struct {
	ptrs []**autograd.Variable
}

func (b *binding) add(ps ...**autograd.Variable) {
	for _, p := range ps {
		if *p != nil {
			b.ptrs = append(b.ptrs, p)
		}
	}
}

func (b *binding) tensors() []*tensor.Tensor {
	ts := make([]*tensor.Tensor, len(b.ptrs))
	for i, p := range b.ptrs {
		ts[i] = (*p).Data.Clone()
	}
	return ts
}

// with runs f with the parameters replaced by xs[off:].
func (b *binding) with(xs []*autograd.Variable, f func() []*autograd.Variable) []*autograd.Variable {
	saved := make([]*autograd.Variable, len(b.ptrs))
	for i, p := range b.ptrs {
		saved[i], *p = *p, xs[i]
	}
	defer func() {
		for i, p := range b.ptrs {
			*p = saved[i]
		}
	}()
	return f()
}

// bindAttention binds the attention's parameters.
func bindAttention(b *binding, m *Model) {
	if m.attnIn != nil {
		b.add(&m.attnIn.Weight, &m.attnIn.Bias)
	}
	if m.attnQuery != nil {
		b.add(&m.attnQuery.Weight, &m.attnQuery.Bias, &m.attnKey.Weight, &m.attnKey.Bias, &m.attnV)
	}
	b.add(&m.attnOut.Weight, &m.attnOut.Bias)
}

// TestAttentionGradients checks each attention through the model's own
// attend — keys projected from the memory, scores, masked softmax,
// context and h̃ = tanh(W_c[c; h]) — with respect to the query, the memory
// and the attention's parameters, with padded sources and beams of rows
// sharing a sentence's memory.
func TestAttentionGradients(t *testing.T) {
	for _, kind := range []Attention{Dot, General, Additive} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Attention, cfg.AttentionSize = kind, 3
			m := newTiny(t, cfg)
			const B, S = 3, 4
			lengths := []int{4, 2, 1}
			rows := []int{0, 1, 1, 2, 0}
			lens := make([]int, len(rows))
			for n, r := range rows {
				lens[n] = lengths[r]
			}
			rng := tensor.NewRNG(5)
			mem := randT(rng, B, S, cfg.memorySize())
			for b, l := range lengths { // padding is zero, as encode makes it
				for s := l; s < S; s++ {
					mem.Index(b).Index(s).Zero()
				}
			}
			query := randT(rng, len(rows), cfg.Hidden)
			var bind binding
			bindAttention(&bind, m)
			inputs := append([]*tensor.Tensor{mem, query}, bind.tensors()...)
			f := func(xs []*autograd.Variable) []*autograd.Variable {
				return bind.with(xs[2:], func() []*autograd.Variable {
					enc := &encoding{memory: xs[0], lengths: lengths}
					D := cfg.memorySize()
					switch kind {
					case Dot:
						enc.keys = enc.memory
					case General:
						enc.keys = fn.Reshape(m.attnIn.Forward(fn.Reshape(enc.memory, B*S, D)), B, S, cfg.Hidden)
					case Additive:
						enc.keys = fn.Reshape(m.attnKey.Forward(fn.Reshape(enc.memory, B*S, D)), B, S, cfg.attnSize())
					}
					out, w := m.attend(xs[1], enc, rows, lens)
					return []*autograd.Variable{out, w}
				})
			}
			if err := gradcheck.Check(f, inputs, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBridgedEncoderGradients checks the encoder — a bidirectional
// two-layer NStep stack over variable-length sources — with each bridge,
// with respect to the embedded sources and the bridge's parameters; the
// outputs are the padded memory and the decoder's initial states.
func TestBridgedEncoderGradients(t *testing.T) {
	for _, cell := range []Cell{LSTM, GRU} {
		for _, br := range []Bridge{BridgeLinear, BridgeSum} {
			t.Run(fmt.Sprintf("%v/%v", cell, br), func(t *testing.T) {
				cfg := tinyConfig()
				cfg.Cell, cfg.Bridge, cfg.Bidirectional, cfg.Layers = cell, br, true, 2
				if br == BridgeLinear {
					cfg.EncoderHidden = 3
				}
				m := newTiny(t, cfg)
				rng := tensor.NewRNG(9)
				xs := []*tensor.Tensor{randT(rng, 3, cfg.Embed), randT(rng, 1, cfg.Embed), randT(rng, 2, cfg.Embed)}
				var bind binding
				for l := range m.bridgeH {
					bind.add(&m.bridgeH[l].Weight, &m.bridgeH[l].Bias)
				}
				for l := range m.bridgeC {
					bind.add(&m.bridgeC[l].Weight, &m.bridgeC[l].Bias)
				}
				inputs := append(append([]*tensor.Tensor{}, xs...), bind.tensors()...)
				f := func(vs []*autograd.Variable) []*autograd.Variable {
					return bind.with(vs[len(xs):], func() []*autograd.Variable {
						enc := m.encodeEmbedded(vs[:len(xs)], autograd.Eval)
						out := []*autograd.Variable{enc.memory}
						for _, st := range enc.states {
							out = append(out, st.H)
						}
						for _, st := range enc.states {
							if st.C != nil {
								out = append(out, st.C)
							}
						}
						return out
					})
				}
				if err := gradcheck.Check(f, inputs, nil); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// bindModel binds every parameter but the encoder's recurrent stack (whose
// gradients package nn checks).
func bindModel(m *Model) *binding {
	var b binding
	b.add(&m.srcEmbed.Weight)
	for l := range m.bridgeH {
		b.add(&m.bridgeH[l].Weight, &m.bridgeH[l].Bias)
	}
	for l := range m.bridgeC {
		b.add(&m.bridgeC[l].Weight, &m.bridgeC[l].Bias)
	}
	b.add(&m.tgtEmbed.Weight)
	for _, c := range m.decoder {
		var w *fn.RecurrentWeights
		switch c := c.(type) {
		case *nn.LSTM:
			w = &c.W
		case *nn.GRU:
			w = &c.W
		}
		b.add(&w.WIH, &w.WHH, &w.BIH, &w.BHH)
	}
	if m.attnOut != nil {
		bindAttention(&b, m)
	}
	b.add(&m.generator.Weight, &m.generator.Bias)
	return &b
}

var lossSrc = [][]int{{1, 4, 2}, {3}, {0, 2}}
var lossTgt = [][]int{{3, 4}, {}, {5, 0, 3}}

// TestLossGradients checks the teacher-forced loss of whole models.
func TestLossGradients(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"plain", func(c *Config) {}},
		{"gru-bi-sum", func(c *Config) {
			c.Cell, c.Bidirectional, c.Bridge, c.EncoderHidden, c.Layers = GRU, true, BridgeSum, 0, 2
		}},
		{"general-feed-bi-2layer", func(c *Config) { c.Attention, c.InputFeeding, c.Bidirectional, c.Layers = General, true, true, 2 }},
		{"dot-nofeed", func(c *Config) { c.Attention, c.Bidirectional, c.EncoderHidden = Dot, true, 2 }},
		{"additive-feed-gru-zero", func(c *Config) { c.Attention, c.InputFeeding, c.Cell, c.Bridge = Additive, true, GRU, BridgeZero }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.EncoderHidden = 3
			c.edit(&cfg)
			m := newTiny(t, cfg)
			b := bindModel(m)
			f := func(xs []*autograd.Variable) []*autograd.Variable {
				return b.with(xs, func() []*autograd.Variable {
					return []*autograd.Variable{m.Loss(lossSrc, lossTgt, autograd.Eval)}
				})
			}
			if err := gradcheck.Check(f, b.tensors(), nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLossMatchesSteps checks that the teacher-forced loss — the fused
// sequence path without input feeding and the stepped path with it —
// equals the mean of −log p of the reference tokens and EOS computed by
// Start and Step.
func TestLossMatchesSteps(t *testing.T) {
	for _, att := range []Attention{NoAttention, Dot, General, Additive} {
		for _, feed := range []bool{false, true} {
			if feed && att == NoAttention {
				continue
			}
			for _, cell := range []Cell{LSTM, GRU} {
				t.Run(fmt.Sprintf("%v/feed=%v/%v", att, feed, cell), func(t *testing.T) {
					cfg := tinyConfig()
					cfg.Attention, cfg.InputFeeding, cfg.Cell, cfg.Layers, cfg.Bidirectional = att, feed, cell, 2, true
					cfg.EncoderHidden = 2
					m := newTiny(t, cfg)
					loss := m.Loss(lossSrc, lossTgt, autograd.Eval).Data.Item()
					s, err := m.Start(lossSrc)
					if err != nil {
						t.Fatal(err)
					}
					var total float64
					count := 0
					T := 0
					for _, y := range lossTgt {
						T = max(T, len(y)+1)
					}
					prev := []int{cfg.BOS, cfg.BOS, cfg.BOS}
					for step := range T {
						logp, _, next := m.Step(s, prev)
						for b, y := range lossTgt {
							want := cfg.EOS
							if step < len(y) {
								want = y[step]
							} else if step > len(y) {
								continue
							}
							total -= logp.At(b, want)
							count++
							prev[b] = want
						}
						s = next
					}
					if got := total / float64(count); math.Abs(got-loss) > 1e-12 {
						t.Errorf("stepped loss %.15g, Loss %.15g", got, loss)
					}
				})
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ok := tinyConfig()
	cases := map[string]func(*Config){
		"vocab":         func(c *Config) { c.SrcVocab = 0 },
		"bos range":     func(c *Config) { c.BOS = 6 },
		"bos eos":       func(c *Config) { c.EOS = c.BOS },
		"sizes":         func(c *Config) { c.Hidden = 0 },
		"negative":      func(c *Config) { c.Layers = -1 },
		"cell":          func(c *Config) { c.Cell = 9 },
		"attention":     func(c *Config) { c.Attention = 9 },
		"bridge":        func(c *Config) { c.Bridge = 9 },
		"sum sizes":     func(c *Config) { c.Bridge, c.EncoderHidden = BridgeSum, 3 },
		"zero no attn":  func(c *Config) { c.Bridge = BridgeZero },
		"dot sizes":     func(c *Config) { c.Attention, c.Bidirectional = Dot, true },
		"feed no attn":  func(c *Config) { c.InputFeeding = true },
		"dropout":       func(c *Config) { c.Dropout = 1 },
		"dtype":         func(c *Config) { c.DType = 7 },
		"dropout NaN":   func(c *Config) { c.Dropout = math.NaN() },
		"negative attn": func(c *Config) { c.AttentionSize = -2 },
	}
	for name, edit := range cases {
		c := ok
		edit(&c)
		if _, err := NewModel(c, tensor.NewRNG(1)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewModel(ok, nil); err == nil {
		t.Error("nil rng: no error")
	}
}

func TestNamedParams(t *testing.T) {
	cfg := tinyConfig()
	cfg.Attention, cfg.Bidirectional, cfg.Layers = Additive, true, 2
	m := newTiny(t, cfg)
	var names []string
	seen := map[string]bool{}
	for n := range m.NamedParams() {
		if seen[n] {
			t.Errorf("duplicate name %q", n)
		}
		seen[n] = true
		names = append(names, n)
	}
	for _, want := range []string{"encoder.embed.weight", "encoder.rnn.weight_ih_l1_reverse", "bridge.h.1.weight", "bridge.c.0.bias",
		"decoder.embed.weight", "decoder.rnn.1.weight_hh", "attention.query.weight", "attention.key.bias", "attention.v",
		"attention.linear_out.weight", "generator.bias"} {
		if !seen[want] {
			t.Errorf("no parameter %q in %v", want, names)
		}
	}
	if len(m.Params()) != len(names) {
		t.Errorf("Params has %d entries, NamedParams %d", len(m.Params()), len(names))
	}
}

func TestConfigJSON(t *testing.T) {
	cfg := tinyConfig()
	cfg.Cell, cfg.Attention, cfg.Bridge = GRU, Additive, BridgeSum
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Cell":"gru"`, `"Attention":"additive"`, `"Bridge":"sum"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || back != cfg {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"Cell":"rnn"}`), &back); err == nil {
		t.Error("unknown cell: no error")
	}
	for _, name := range []string{"none", "dot", "general", "additive"} {
		if a, err := ParseAttention(name); err != nil || a.String() != name {
			t.Errorf("ParseAttention(%q) = %v, %v", name, a, err)
		}
	}
	if _, err := ParseBridge("avg"); err == nil {
		t.Error("ParseBridge: no error")
	}
}

func TestCellKernel(t *testing.T) {
	for _, c := range []Cell{LSTM, GRU} {
		if got, want := c.String(), c.kernel().String(); got != want {
			t.Errorf("Cell %d is %q but selects fn's %q", c, got, want)
		}
		if p, err := ParseCell(c.String()); err != nil || p != c {
			t.Errorf("ParseCell(%q) = %v, %v; want %v", c, p, err, c)
		}
	}
	if _, err := ParseCell("rnn_tanh"); err == nil || err.Error() != `seq2seq: unknown cell "rnn_tanh" (want lstm or gru)` {
		t.Errorf("ParseCell(rnn_tanh): %v", err)
	}
}
