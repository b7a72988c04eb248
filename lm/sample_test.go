package lm

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

func newSmallModel(t *testing.T) *Model {
	t.Helper()
	m, err := New(Config{Cell: "lstm", Tokenizer: "char", Vocab: 4, Emb: 6, Hidden: 5, Layers: 1}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSampleStop: the zero Stop never ends sampling early (with four
// tokens, id 0 is drawn many times in 200), and a Stop list ends it at the
// first of its ids.
func TestSampleStop(t *testing.T) {
	m := newSmallModel(t)
	all, err := m.Sample([]int{1}, SampleConfig{Length: 200, Temperature: 1}, tensor.NewRNG(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 200 || !slices.Contains(all, 0) {
		t.Fatalf("zero Stop: %d tokens (id 0 drawn: %v); want 200 with id 0 among them", len(all), slices.Contains(all, 0))
	}
	first := slices.IndexFunc(all, func(id int) bool { return id == 0 || id == 3 })
	got, err := m.Sample([]int{1}, SampleConfig{Length: 200, Temperature: 1, Stop: []int{3, 0}}, tensor.NewRNG(2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, all[:first+1]) {
		t.Fatalf("Stop {3, 0}: got %v; want the first %d tokens of the unstopped run, %v", got, first+1, all[:first+1])
	}
}

// TestInferenceErrors: bad ids, empty input, bad settings and wrong
// shapes are errors, not panics, at every inference entry point.
func TestInferenceErrors(t *testing.T) {
	m := newSmallModel(t)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"evaluate negative id", func() error { _, err := m.Evaluate(context.Background(), []int{1, -5, 2}, 1, 2); return err }, "token -5 (at 1) is outside the vocabulary of 4"},
		{"evaluate id past the vocabulary", func() error { _, err := m.Evaluate(context.Background(), []int{1, 2, 4}, 1, 2); return err }, "token 4 (at 2)"},
		{"evaluate nothing", func() error { _, err := m.Evaluate(context.Background(), []int{1}, 1, 2); return err }, "no tokens to evaluate"},
		{"evaluate steps", func() error { _, err := m.Evaluate(context.Background(), []int{1, 2, 3}, 1, 0); return err }, "chunks of 0 steps"},
		{"sample bad prime", func() error {
			_, err := m.Sample([]int{9}, SampleConfig{Length: 1, Temperature: 1}, tensor.NewRNG(1))
			return err
		}, "prime token 9 (at 0)"},
		{"sample no prime", func() error {
			_, err := m.Sample(nil, SampleConfig{Length: 1, Temperature: 1}, tensor.NewRNG(1))
			return err
		}, "at least one prime token"},
		{"sample temperature", func() error { _, err := m.Sample([]int{1}, SampleConfig{Length: 1}, tensor.NewRNG(1)); return err }, "temperature 0 must be positive"},
		{"sample infinite temperature", func() error {
			_, err := m.Sample([]int{1}, SampleConfig{Length: 1, Temperature: math.Inf(1)}, tensor.NewRNG(1))
			return err
		}, "temperature +Inf must be positive and finite"},
		{"sample negative length", func() error {
			_, err := m.Sample([]int{1}, SampleConfig{Length: -1, Temperature: 1}, tensor.NewRNG(1))
			return err
		}, "length -1 and top-k 0 must not be negative"},
		{"sample bad stop", func() error {
			_, err := m.Sample([]int{1}, SampleConfig{Length: 1, Temperature: 1, Stop: []int{2, 7}}, tensor.NewRNG(1))
			return err
		}, "stop token 7 (at 1)"},
		{"sample no generator", func() error { _, err := m.Sample([]int{1}, SampleConfig{Length: 1, Temperature: 1}, nil); return err }, "needs a random generator"},
		{"add bad prime", func() error {
			_, err := m.NewBatch().Add([]int{1, 4}, SampleConfig{Length: 1, Temperature: 1}, tensor.NewRNG(1))
			return err
		}, "prime token 4 (at 1)"},
		{"add top-k", func() error {
			_, err := m.NewBatch().Add([]int{1}, SampleConfig{Length: 1, Temperature: 1, TopK: -2}, tensor.NewRNG(1))
			return err
		}, "top-k -2 must not be negative"},
		{"add shared generator", func() error {
			b, rng := m.NewBatch(), tensor.NewRNG(1)
			b.Add([]int{1}, SampleConfig{Length: 1, Temperature: 1}, rng)
			_, err := b.Add([]int{2}, SampleConfig{Length: 1, Temperature: 1}, rng)
			return err
		}, "already drawing for generation 0"},
		{"generate nothing", func() error { _, err := m.Generate(context.Background(), nil); return err }, "no requests"},
		{"generate bad request", func() error {
			_, err := m.Generate(context.Background(), []GenerateRequest{{Prime: []int{1}, Config: SampleConfig{Length: 1, Temperature: 1}, RNG: tensor.NewRNG(1)}, {Config: SampleConfig{Length: 1, Temperature: 1}, RNG: tensor.NewRNG(1)}})
			return err
		}, "request 1: lm: sampling needs at least one prime token"},
		{"score nothing", func() error { _, err := m.Score(context.Background(), nil, ScoreOptions{}); return err }, "no texts"},
		{"score bad id", func() error {
			_, err := m.Score(context.Background(), [][]int{{1, 2}, {0, 9}}, ScoreOptions{})
			return err
		}, "text 1: token 9 (at 1)"},
		{"forward empty", func() error { _, _, err := m.ForwardInto(nil, nil, State{}); return err }, "empty chunk"},
		{"forward empty row", func() error { _, _, err := m.ForwardInto(nil, [][]int{{}}, State{}); return err }, "empty chunk"},
		{"forward ragged", func() error { _, _, err := m.ForwardInto(nil, [][]int{{1, 2}, {3}}, State{}); return err }, "row 1 has 1 tokens, row 0 has 2"},
		{"forward bad id", func() error { _, _, err := m.ForwardInto(nil, [][]int{{1, 2}, {3, -1}}, State{}); return err }, "row 1: token -1 (at 1)"},
		{"forward state shape", func() error {
			_, _, err := m.ForwardInto(nil, [][]int{{1, 2}, {3, 0}}, State{H: autograd.NewVariable(tensor.Zeros(1, 3, 5))})
			return err
		}, "state H has shape [1 3 5]; want [1 2 5]"},
		{"forward cell state shape", func() error {
			_, _, err := m.ForwardInto(nil, [][]int{{1}}, State{C: autograd.NewVariable(tensor.Zeros(1, 5))})
			return err
		}, "state C has shape [1 5]; want [1 1 5]"},
		{"forward state type", func() error {
			_, _, err := m.ForwardInto(nil, [][]int{{1}}, State{H: autograd.NewVariable(tensor.New(tensor.Float64, 1, 1, 5))})
			return err
		}, "state H is float64; the model is float32"},
		{"forward GRU with C", func() error {
			g, _ := New(Config{Cell: "gru", Tokenizer: "char", Vocab: 4, Emb: 3, Hidden: 5, Layers: 1}, tensor.NewRNG(1))
			_, _, err := g.ForwardInto(nil, [][]int{{1}}, State{C: autograd.NewVariable(tensor.Zeros(1, 1, 5))})
			return err
		}, "a gru has no cell state"},
		{"evaluate cancelled", func() error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := m.Evaluate(ctx, []int{1, 2, 3}, 1, 2)
			return err
		}, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// TestStateShape: the shape StateShape gives is the one Forward returns.
func TestStateShape(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		m, err := New(Config{Cell: cell, Tokenizer: "char", Vocab: 4, Emb: 3, Hidden: 5, Layers: 2}, tensor.NewRNG(1))
		if err != nil {
			t.Fatal(err)
		}
		_, st := m.Forward([][]int{{1, 2}, {3, 0}, {1, 1}}, State{})
		shape, hasC := m.StateShape(3)
		if !slices.Equal(shape, st.H.Shape()) || hasC != (st.C != nil) || (hasC && !slices.Equal(shape, st.C.Shape())) {
			t.Errorf("%s: StateShape = %v, %v; Forward's state has H %v and C %v", cell, shape, hasC, st.H.Shape(), st.C != nil)
		}
	}
}
