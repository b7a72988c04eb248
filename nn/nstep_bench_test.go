package nn

import (
	"fmt"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// benchConfigs are the LSTM-stack shapes of the configurations in
// ../shared/DESIGN.md (input = embedding size).
var benchConfigs = []struct {
	name                         string
	in, hidden, layers, batch, T int
}{
	{"ptb-small", 200, 200, 2, 20, 20},
	{"ptb-medium", 650, 650, 2, 20, 35},
	{"char-512", 64, 512, 2, 50, 50},
	{"kernel-512", 512, 512, 1, 64, 50},
	{"infer-b1", 256, 256, 1, 1, 100},
}

// BenchmarkNStepLSTM measures the LSTM stack alone, forward (no graph) and
// forward+backward, on batches of equal-length sequences, reporting
// tokens/s (batch × steps per second).
func BenchmarkNStepLSTM(b *testing.B) {
	for _, c := range benchConfigs {
		m, err := NewNStepLSTM(RecurrentConfig{InputSize: c.in, HiddenSize: c.hidden, Layers: c.layers}, tensor.NewRNG(1))
		if err != nil {
			b.Fatal(err)
		}
		rng := tensor.NewRNG(2)
		xs := make([]*autograd.Variable, c.batch)
		for i := range xs {
			x := tensor.New(tensor.Float32, c.T, c.in)
			x.RandNormal(rng, 0, 1)
			xs[i] = autograd.NewVariable(x)
		}
		params := m.Params()
		tokens := float64(c.batch * c.T)
		b.Run(fmt.Sprintf("%s/forward", c.name), func(b *testing.B) {
			autograd.NoGrad(params, func() {
				for b.Loop() {
					m.Forward(xs, State{})
				}
			})
			b.ReportMetric(tokens*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		b.Run(fmt.Sprintf("%s/forward-backward", c.name), func(b *testing.B) {
			for b.Loop() {
				ys, _ := m.Forward(xs, State{})
				loss := fn.Sum(ys[0])
				for _, y := range ys[1:] {
					loss = fn.Add(loss, fn.Sum(y))
				}
				autograd.ClearGrads(params)
				loss.Backward()
			}
			b.ReportMetric(tokens*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
