package nn

import (
	"testing"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// BenchmarkRegularization times one training step (forward and backward)
// of a two-layer LSTM at the ptb-medium shape (650 inputs and units, batch
// 20, 35 steps) with each regularisation or normalisation option, next to
// the plain fused LSTM, alternating the two so both see the same machine
// load; the "×plain" metric is the ratio of their times.
func BenchmarkRegularization(b *testing.B) {
	variants := []struct {
		name string
		cfg  RecurrentConfig
	}{
		{"plain", RecurrentConfig{}},
		{"dropout-between-layers", RecurrentConfig{Dropout: 0.5}},
		{"input-output-dropout", RecurrentConfig{Regularization: Regularization{InputDropout: 0.5, OutputDropout: 0.5}}},
		{"variational", RecurrentConfig{Regularization: Regularization{VariationalInput: 0.3, VariationalHidden: 0.3}}},
		{"semeniuta", RecurrentConfig{Regularization: Regularization{RecurrentDropout: 0.3}}},
		{"zoneout", RecurrentConfig{Regularization: Regularization{ZoneoutH: 0.1, ZoneoutC: 0.05}}},
		{"weight-drop", RecurrentConfig{Regularization: Regularization{WeightDrop: 0.5}}},
		{"layer-norm", RecurrentConfig{Norm: fn.LayerNormKind}},
		{"batch-norm", RecurrentConfig{Norm: fn.BatchNormKind}},
	}
	const in, H, L, B, T = 650, 650, 2, 20, 35
	rng := tensor.NewRNG(2)
	xs := make([]*autograd.Variable, B)
	for i := range xs {
		x := tensor.New(tensor.Float32, T, in)
		x.RandNormal(rng, 0, 1)
		xs[i] = autograd.NewVariable(x)
	}
	newModel := func(cfg RecurrentConfig) *NStepLSTM {
		cfg.InputSize, cfg.HiddenSize, cfg.Layers = in, H, L
		m, err := NewNStepLSTM(cfg, tensor.NewRNG(1))
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	step := func(m *NStepLSTM) time.Duration {
		start := time.Now()
		ys, _ := m.Forward(xs, State{})
		loss := fn.Sum(fn.Concat(ys, 0))
		autograd.ClearGrads(m.Params())
		loss.Backward()
		return time.Since(start)
	}
	plain := newModel(RecurrentConfig{})
	for _, v := range variants[1:] {
		m := newModel(v.cfg)
		b.Run(v.name, func(b *testing.B) {
			// Alternate the plain and the regularised model so that both see
			// the same machine load; report the ratio of their total times.
			var tp, tv time.Duration
			for b.Loop() {
				tp += step(plain)
				tv += step(m)
			}
			b.ReportMetric(float64(tv)/float64(tp), "×plain")
			b.ReportMetric(float64(B*T)*float64(b.N)/tv.Seconds(), "tokens/s")
		})
	}
}
