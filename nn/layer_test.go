package nn_test

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

func mustLinear(t *testing.T, cfg nn.LinearConfig, seed uint64) *nn.Linear {
	t.Helper()
	return mustNew(t, nn.NewLinear, cfg, seed)
}

func mustEmbedding(t *testing.T, cfg nn.EmbeddingConfig, seed uint64) *nn.Embedding {
	t.Helper()
	return mustNew(t, nn.NewEmbedding, cfg, seed)
}

// mustNew returns the layer newLayer builds from cfg with weights drawn
// from an RNG seeded with seed, failing the test on an error.
func mustNew[C, L any](t *testing.T, newLayer func(C, *tensor.RNG) (L, error), cfg C, seed uint64) L {
	t.Helper()
	l, err := newLayer(cfg, tensor.NewRNG(seed))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type namedShape struct {
	name  string
	shape []int
}

func namesAndShapes(m nn.Module) []namedShape {
	var got []namedShape
	for n, p := range nn.NamedParams(m) {
		got = append(got, namedShape{n, p.Shape()})
	}
	return got
}

func sameNamedShapes(a, b []namedShape) bool {
	return slices.EqualFunc(a, b, func(x, y namedShape) bool { return x.name == y.name && slices.Equal(x.shape, y.shape) })
}

func TestLinearParams(t *testing.T) {
	tests := []struct {
		cfg  nn.LinearConfig
		want []namedShape
	}{
		{nn.LinearConfig{In: 3, Out: 2}, []namedShape{{"weight", []int{2, 3}}, {"bias", []int{2}}}},
		{nn.LinearConfig{In: 4, Out: 5, NoBias: true}, []namedShape{{"weight", []int{5, 4}}}},
	}
	for _, tc := range tests {
		l := mustLinear(t, tc.cfg, 1)
		if got := namesAndShapes(l); !sameNamedShapes(got, tc.want) {
			t.Errorf("%+v: named params %v; want %v", tc.cfg, got, tc.want)
		}
		for i, p := range l.Params() {
			if p.Name != tc.want[i].name || !p.RequiresGrad() {
				t.Errorf("%+v: param %d named %q, requires grad %v", tc.cfg, i, p.Name, p.RequiresGrad())
			}
		}
		if l.Weight.DType() != tensor.Float32 {
			t.Errorf("default dtype %v; want float32", l.Weight.DType())
		}
	}
}

// PyTorch's default: W and b from U(−1/√in, 1/√in).
func TestLinearInit(t *testing.T) {
	const in = 25
	l := mustLinear(t, nn.LinearConfig{In: in, Out: 400, DType: tensor.Float64}, 3)
	bound := 1 / math.Sqrt(in)
	for _, p := range l.Params() {
		if m := p.Data.MaxAbs(); m > bound || m < 0.9*bound {
			t.Errorf("%s: max |x| = %v; want just under %v", p.Name, m, bound)
		}
	}
	// Variance of U(−a, a) is a²/3; 10,000 draws give about 1.5% error.
	if v := l.Weight.Data.SumSquares() / float64(l.Weight.Size()); math.Abs(v-bound*bound/3) > 0.05*bound*bound/3 {
		t.Errorf("weight variance %v; want %v", v, bound*bound/3)
	}
	again := mustLinear(t, nn.LinearConfig{In: in, Out: 400, DType: tensor.Float64}, 3)
	if !tensor.Equal(l.Weight.Data, again.Weight.Data) || !tensor.Equal(l.Bias.Data, again.Bias.Data) {
		t.Error("same seed gave different parameters")
	}
}

func TestLinearForward(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		l := mustLinear(t, nn.LinearConfig{In: 3, Out: 2, DType: dt}, 1)
		l.Weight.Data.CopyFrom(tensor.FromFloat64([]float64{1, 2, 3, -1, 0, 0.5}, 2, 3).AsType(dt))
		l.Bias.Data.CopyFrom(tensor.FromFloat64([]float64{0.5, -2}).AsType(dt))
		x := autograd.NewVariable(tensor.FromFloat64([]float64{1, 1, 1, 2, 0, -2}, 2, 3).AsType(dt))
		y := l.Forward(x)
		// Row 1: [1+2+3+0.5, -1+0+0.5-2]; row 2: [2-6+0.5, -2-1-2].
		want := tensor.FromFloat64([]float64{6.5, -2.5, -3.5, -5}, 2, 2)
		if !tensor.AllClose(y.Data, want, 1e-6, 0) || y.DType() != dt {
			t.Errorf("%v: Forward = %v; want %v", dt, y.Data, want)
		}
		// ForwardInto: the same on tensors, into a reused buffer.
		dst := tensor.New(dt, 2, 2)
		if got := l.ForwardInto(dst, x.Data); got != dst || !tensor.AllClose(dst, want, 1e-6, 0) {
			t.Errorf("%v: ForwardInto = %v (reused: %v); want %v", dt, got, got == dst, want)
		}
		// Leading dimensions are batch dimensions.
		x3 := autograd.NewVariable(tensor.New(dt, 4, 5, 3))
		if got := l.Forward(x3).Shape(); !slices.Equal(got, []int{4, 5, 2}) {
			t.Errorf("%v: Forward of (4, 5, 3) has shape %v", dt, got)
		}
	}
}

func TestLinearGradcheck(t *testing.T) {
	for _, noBias := range []bool{false, true} {
		l := mustLinear(t, nn.LinearConfig{In: 4, Out: 3, NoBias: noBias, DType: tensor.Float64}, 2)
		x := tensor.New(tensor.Float64, 5, 4)
		x.RandNormal(tensor.NewRNG(9), 0, 1)
		inputs := []*tensor.Tensor{x}
		for _, p := range l.Params() {
			inputs = append(inputs, p.Data)
		}
		f := func(xs []*autograd.Variable) []*autograd.Variable {
			layer := &nn.Linear{Weight: xs[1]}
			if !noBias {
				layer.Bias = xs[2]
			}
			return []*autograd.Variable{fn.Tanh(layer.Forward(xs[0]))}
		}
		if err := gradcheck.Check(f, inputs, nil); err != nil {
			t.Errorf("noBias=%v: %v", noBias, err)
		}
	}
}

func TestEmbedding(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		e := mustEmbedding(t, nn.EmbeddingConfig{Vocab: 4, Dim: 2, DType: dt}, 1)
		if got := namesAndShapes(e); !sameNamedShapes(got, []namedShape{{"weight", []int{4, 2}}}) {
			t.Errorf("named params %v", got)
		}
		if e.PaddingIdx() != -1 {
			t.Errorf("PaddingIdx() = %d; want -1", e.PaddingIdx())
		}
		e.Weight.Data.CopyFrom(tensor.FromFloat64([]float64{0, 1, 10, 11, 20, 21, 30, 31}, 4, 2).AsType(dt))
		y := e.Forward([]int{2, 0, 2, 3})
		want := tensor.FromFloat64([]float64{20, 21, 0, 1, 20, 21, 30, 31}, 4, 2)
		if !tensor.AllClose(y.Data, want, 0, 0) {
			t.Errorf("%v: Forward = %v; want %v", dt, y.Data, want)
		}
		y.Grad = tensor.New(dt, 4, 2)
		y.Grad.Fill(1)
		y.Backward()
		wantG := tensor.FromFloat64([]float64{1, 1, 0, 0, 2, 2, 1, 1}, 4, 2)
		if !tensor.AllClose(e.Weight.Grad, wantG, 0, 0) {
			t.Errorf("%v: gradient %v; want %v", dt, e.Weight.Grad, wantG)
		}
	}
}

// PyTorch's nn.Embedding draws its table from N(0, 1).
func TestEmbeddingInit(t *testing.T) {
	e := mustEmbedding(t, nn.EmbeddingConfig{Vocab: 100, Dim: 100}, 5)
	v := e.Weight.Data.Values()
	var mean, sq float64
	for _, x := range v {
		mean += x
		sq += x * x
	}
	mean /= float64(len(v))
	sq /= float64(len(v))
	if math.Abs(mean) > 0.05 || math.Abs(sq-1) > 0.07 {
		t.Errorf("mean %v, second moment %v; want 0, 1", mean, sq)
	}
}

func TestEmbeddingPadding(t *testing.T) {
	for _, tc := range []struct{ idx, want int }{{0, 0}, {2, 2}, {-1, 4}, {-5, 0}} {
		e := mustEmbedding(t, nn.EmbeddingConfig{Vocab: 5, Dim: 3, Padding: true, PaddingIdx: tc.idx}, 1)
		if e.PaddingIdx() != tc.want {
			t.Fatalf("PaddingIdx %d: got %d; want %d", tc.idx, e.PaddingIdx(), tc.want)
		}
		if m := e.Weight.Data.Index(tc.want).MaxAbs(); m != 0 {
			t.Errorf("PaddingIdx %d: padding row not zero (max %v)", tc.idx, m)
		}
		other := (tc.want + 1) % 5
		y := e.Forward([]int{tc.want, other})
		if y.Data.Index(0).MaxAbs() != 0 {
			t.Errorf("PaddingIdx %d: padding embeds to %v", tc.idx, y.Data.Index(0))
		}
		fn.Sum(y).Backward()
		if g := e.Weight.Grad.Index(tc.want).MaxAbs(); g != 0 {
			t.Errorf("PaddingIdx %d: padding row got gradient %v", tc.idx, g)
		}
		if g := e.Weight.Grad.Index(other).Sum(); g != 3 {
			t.Errorf("PaddingIdx %d: row %d got gradient sum %v; want 3", tc.idx, other, g)
		}
	}
}

func TestEmbeddingBadIDPanics(t *testing.T) {
	e := mustEmbedding(t, nn.EmbeddingConfig{Vocab: 3, Dim: 2}, 1)
	for _, id := range []int{-1, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("id %d: no panic", id)
				}
			}()
			e.Forward([]int{0, id})
		}()
	}
}

func TestLinearEmbeddingConfigErrors(t *testing.T) {
	rng := tensor.NewRNG(1)
	tests := []struct {
		name string
		err  func() error
		msg  string
	}{
		{"LinearIn", func() error { _, err := nn.NewLinear(nn.LinearConfig{In: 0, Out: 2}, rng); return err }, "in 0"},
		{"LinearOut", func() error { _, err := nn.NewLinear(nn.LinearConfig{In: 2, Out: -1}, rng); return err }, "out -1"},
		{"LinearDType", func() error { _, err := nn.NewLinear(nn.LinearConfig{In: 2, Out: 2, DType: 7}, rng); return err }, "dtype"},
		{"LinearRNG", func() error { _, err := nn.NewLinear(nn.LinearConfig{In: 2, Out: 2}, nil); return err }, "RNG"},
		{"EmbeddingVocab", func() error { _, err := nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 0, Dim: 2}, rng); return err }, "vocabulary 0"},
		{"EmbeddingDim", func() error { _, err := nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 3, Dim: 0}, rng); return err }, "dimension 0"},
		{"EmbeddingPadding", func() error {
			_, err := nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 3, Dim: 2, Padding: true, PaddingIdx: 3}, rng)
			return err
		}, "padding id 3"},
		{"EmbeddingPaddingNeg", func() error {
			_, err := nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 3, Dim: 2, Padding: true, PaddingIdx: -4}, rng)
			return err
		}, "padding id -4"},
		{"EmbeddingRNG", func() error { _, err := nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 3, Dim: 2}, nil); return err }, "RNG"},
	}
	for _, tc := range tests {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v; want one mentioning %q", tc.name, err, tc.msg)
		}
	}
}

// tagger is a model made of named sub-modules, as a user would write it.
type tagger struct {
	Embed *nn.Embedding
	Out   *nn.Linear
	Gain  *autograd.Variable // a parameter of the model itself
}

func (m *tagger) NamedParams() iter.Seq2[string, *autograd.Variable] {
	own := func(yield func(string, *autograd.Variable) bool) { yield("gain", m.Gain) }
	return nn.Join(nn.Sub("embed", m.Embed), nn.Sub("out", m.Out), own)
}

func (m *tagger) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// nestedModel nests the tagger, and a module that names its parameters only in
// Variable.Name.
type nestedModel struct {
	Tagger *tagger
	Plain  nn.Module
}

func (m *nestedModel) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("tagger", m.Tagger), nn.Sub("plain", m.Plain))
}

func (m *nestedModel) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

type plain []*autograd.Variable

func (p plain) Params() []*autograd.Variable { return p }

func TestNestedNames(t *testing.T) {
	w := autograd.NewParameter(tensor.Zeros(7))
	w.Name = "weight_hh_l0"
	m := &nestedModel{
		Tagger: &tagger{
			Embed: mustEmbedding(t, nn.EmbeddingConfig{Vocab: 10, Dim: 4}, 1),
			Out:   mustLinear(t, nn.LinearConfig{In: 4, Out: 3}, 2),
			Gain:  autograd.NewParameter(tensor.Zeros(1)),
		},
		Plain: plain{w},
	}
	want := []namedShape{
		{"tagger.embed.weight", []int{10, 4}},
		{"tagger.out.weight", []int{3, 4}},
		{"tagger.out.bias", []int{3}},
		{"tagger.gain", []int{1}},
		{"plain.weight_hh_l0", []int{7}},
	}
	if got := namesAndShapes(m); !sameNamedShapes(got, want) {
		t.Errorf("named params\n%v\nwant\n%v", got, want)
	}
	ps := m.Params()
	if len(ps) != 5 || ps[0] != m.Tagger.Embed.Weight || ps[4] != w {
		t.Errorf("Params() = %v", ps)
	}
	if n := nn.NumParams(m); n != 40+12+3+1+7 {
		t.Errorf("NumParams = %d", n)
	}
	// Stopping early stops every level.
	var first []string
	for name := range nn.NamedParams(m) {
		first = append(first, name)
		if len(first) == 2 {
			break
		}
	}
	if fmt.Sprint(first) != "[tagger.embed.weight tagger.out.weight]" {
		t.Errorf("early stop gave %v", first)
	}
}
