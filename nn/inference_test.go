package nn

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/tensor"
)

// viewCase is a recurrent layer with regularisation that evaluation mode
// turns off (or, for zoneout, makes deterministic), so that a view that
// drew a mask or kept training mode would differ from the reference.
type viewCase struct {
	name  string
	layer SteppedRecurrent
}

func viewCases(t *testing.T) []viewCase {
	t.Helper()
	must := func(r SteppedRecurrent, err error) SteppedRecurrent {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		randomize(r.Params(), 11)
		return r
	}
	rng := tensor.NewRNG(3)
	reg := Regularization{InputDropout: 0.2, OutputDropout: 0.3, RecurrentDropout: 0.2, ZoneoutH: 0.1, WeightDrop: 0.2}
	stack := RecurrentConfig{InputSize: 3, HiddenSize: 4, Layers: 2, Bidirectional: true, Dropout: 0.5, Regularization: reg}
	rnnStack := stack
	rnnStack.RecurrentDropout = 0
	link := CellConfig{InputSize: 3, HiddenSize: 4, LearnInitialState: true, Regularization: Regularization{InputDropout: 0.2, OutputDropout: 0.3, WeightDrop: 0.2, VariationalInput: 0.2}}
	ln := link
	ln.Norm = fn.LayerNormKind
	return []viewCase{
		{"NStepLSTM", must(NewNStepLSTM(stack, rng))},
		{"NStepGRU", must(NewNStepGRU(stack, rng))},
		{"NStepRNN", must(NewNStepRNN(rnnStack, true, rng))},
		{"LSTM", must(NewLSTM(link, rng))},
		{"LSTM-layernorm", must(NewLSTM(ln, rng))},
		{"PeepholeDiagonal", must(NewPeepholeLSTM(link, PeepholeDiagonal, rng))},
		{"PeepholeFull", must(NewPeepholeLSTM(link, PeepholeFull, rng))},
		{"GRU", must(NewGRU(link, GRUPyTorch, rng))},
		{"GRUCho", must(NewGRU(link, GRUCho, rng))},
		{"RNN", must(NewRNN(link, false, rng))},
	}
}

// viewRun is what one inference pass over a layer gives: the outputs of
// Forward over sequences of unequal lengths and of one Step, and the
// final states, as plain values.
type viewRun [][]float64

func runView(r SteppedRecurrent, xs []*autograd.Variable) viewRun {
	ys, st := r.Forward(xs, State{})
	var out viewRun
	for _, y := range ys {
		out = append(out, y.Data.Values())
	}
	out = append(out, st.H.Data.Values())
	if st.C != nil {
		out = append(out, st.C.Data.Values())
	}
	y, _ := r.Step(autograd.NewVariable(xs[0].Data.Slice(0, 1).Clone()), State{})
	return append(out, y.Data.Values())
}

// recorded reports whether any of the outputs of a Forward has a
// creator: whether a graph was recorded.
func recorded(r SteppedRecurrent, xs []*autograd.Variable) bool {
	ys, st := r.Forward(xs, State{})
	return ys[0].Creator() != nil || st.H.Creator() != nil
}

// TestInferenceViewMatchesEval: a view of a layer in training mode, and
// its packed view, give exactly what the layer gives in evaluation mode
// under autograd.NoGrad,
// records no graph, and leaves the layer's flags as they were.
func TestInferenceViewMatchesEval(t *testing.T) {
	xs := seqs(tensor.NewRNG(4), tensor.Float32, 3, 5, 1, 4)
	for _, c := range viewCases(t) {
		t.Run(c.name, func(t *testing.T) {
			r := c.layer
			r.SetMode(autograd.Eval)
			var want viewRun
			autograd.NoGrad(r.Params(), func() { want = runView(r, xs) })
			r.SetMode(autograd.Train)

			v := r.Inference()
			if got := runView(v, xs); !equalRuns(got, want) {
				t.Fatalf("view differs from the layer in evaluation mode:\n got %v\nwant %v", got, want)
			}
			if got := runView(r.Pack(), xs); !equalRuns(got, want) {
				t.Fatalf("packed view differs from the layer in evaluation mode:\n got %v\nwant %v", got, want)
			}
			if recorded(v, xs) {
				t.Error("a view recorded a graph")
			}
			for _, p := range r.Params() {
				if !p.RequiresGrad() {
					t.Fatalf("parameter %s no longer requires a gradient", p.Name)
				}
			}
			if !recorded(r, xs) {
				t.Error("the layer stopped recording a graph after a view was taken")
			}
			if msg := fmt.Sprint(testutil.Recover(func() { v.SetMode(autograd.Train) })); !strings.Contains(msg, "inference view") {
				t.Errorf("SetMode(Train) on a view: got %q, want a panic naming the inference view", msg)
			}
			v.SetMode(autograd.Eval) // allowed
		})
	}
}

func equalRuns(a, b viewRun) bool {
	return slices.EqualFunc(a, b, func(x, y []float64) bool { return slices.Equal(x, y) })
}

// TestInferenceViewConcurrent runs 16 goroutines on every layer, half on
// one shared view and half on views of their own, and checks each result
// bit for bit against a sequential run; under -race it also shows that
// inference writes nothing shared. Afterwards a training step on the
// layer changes every parameter, and a view taken earlier sees the new
// values.
func TestInferenceViewConcurrent(t *testing.T) {
	const goroutines = 16
	xs := seqs(tensor.NewRNG(5), tensor.Float32, 2, 6, 3)
	for _, c := range viewCases(t) {
		t.Run(c.name, func(t *testing.T) {
			r := c.layer
			shared := r.Inference()
			want := runView(shared, xs)
			var wg sync.WaitGroup
			errs := make(chan string, goroutines)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v := shared
					if g%2 == 1 {
						v = r.Inference()
					}
					for range 3 {
						if got := runView(v, xs); !equalRuns(got, want) {
							errs <- fmt.Sprintf("goroutine %d: result differs from the sequential one", g)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}

			// The layer still trains, and the earlier view follows its weights.
			before := make([][]float64, len(r.Params()))
			for i, p := range r.Params() {
				before[i] = p.Data.Values()
			}
			ys, _ := r.Forward(xs, State{})
			loss := fn.Sum(fn.Mul(ys[1], ys[1]))
			for _, y := range []*autograd.Variable{ys[0], ys[2]} {
				loss = fn.Add(loss, fn.Sum(fn.Mul(y, y)))
			}
			loss.Backward()
			for i, p := range r.Params() {
				if p.Grad == nil {
					t.Fatalf("parameter %s got no gradient", p.Name)
				}
				p.Data.Axpy(-0.1, p.Grad)
				if slices.Equal(p.Data.Values(), before[i]) {
					t.Errorf("the training step left %s unchanged", p.Name)
				}
			}
			if got := runView(shared, xs); equalRuns(got, want) {
				t.Error("a view taken before the training step does not see the new weights")
			}
			if got, fresh := runView(shared, xs), runView(r.Inference(), xs); !equalRuns(got, fresh) {
				t.Error("an old view and a new one differ after the training step")
			}
		})
	}
}

// TestFeedForwardViews: the views of Linear, Embedding and the
// normalisation layers compute what the layers compute in evaluation
// mode, record nothing, and are safe for concurrent use.
func TestFeedForwardViews(t *testing.T) {
	rng := tensor.NewRNG(8)
	lin, _ := NewLinear(LinearConfig{In: 3, Out: 5}, rng)
	emb, _ := NewEmbedding(EmbeddingConfig{Vocab: 7, Dim: 3}, rng)
	ln, _ := NewLayerNormalization(NormConfig{Size: 3})
	bn, _ := NewBatchNormalization(NormConfig{Size: 3})
	randomize(append(ln.Params(), bn.Params()...), 9)
	for i := range bn.RunningMean {
		bn.RunningMean[i], bn.RunningVar[i] = 0.1*float64(i), 1+0.5*float64(i)
	}
	x := autograd.NewVariable(tensor.New(tensor.Float32, 4, 3))
	x.Data.RandNormal(rng, 0, 1)
	ids := []int{1, 6, 0, 3}
	type layer struct {
		name       string
		full, view func() *autograd.Variable
	}
	lv, ev, lnv, bnv, lp := lin.Inference(), emb.Inference(), ln.Inference(), bn.Inference(), lin.Pack()
	layers := []layer{
		{"Linear", func() *autograd.Variable { return lin.Forward(x) }, func() *autograd.Variable { return lv.Forward(x) }},
		{"Linear packed", func() *autograd.Variable { return lin.Forward(x) }, func() *autograd.Variable { return lp.Forward(x) }},
		{"Embedding", func() *autograd.Variable { return emb.Forward(ids) }, func() *autograd.Variable { return ev.Forward(ids) }},
		{"LayerNormalization", func() *autograd.Variable { return ln.Forward(x) }, func() *autograd.Variable { return lnv.Forward(x) }},
		{"BatchNormalization", func() *autograd.Variable {
			bn.SetMode(autograd.Eval)
			defer bn.SetMode(autograd.Train)
			return bn.Forward(x)
		},
			func() *autograd.Variable { return bnv.Forward(x) }},
	}
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			want := l.full()
			if want.Creator() == nil {
				t.Fatal("the layer recorded no graph: the test would not tell")
			}
			var wg sync.WaitGroup
			bad := make(chan string, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					y := l.view()
					switch {
					case y.Creator() != nil:
						bad <- "recorded a graph"
					case !slices.Equal(y.Data.Values(), want.Data.Values()):
						bad <- fmt.Sprintf("got %v, want %v", y.Data.Values(), want.Data.Values())
					}
				}()
			}
			wg.Wait()
			close(bad)
			for b := range bad {
				t.Error(b)
			}
		})
	}
	if msg := fmt.Sprint(testutil.Recover(func() { bnv.SetMode(autograd.Train) })); !strings.Contains(msg, "inference view") {
		t.Errorf("SetMode(Train) on a BatchNormalization view: got %q", msg)
	}
}
