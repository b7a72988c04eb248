package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// goldenTensor is a tensor as scripts/torch_rnn_golden.py writes it.
type goldenTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

func (g goldenTensor) tensor(dt tensor.DType) *tensor.Tensor {
	return tensor.FromFloat64(append([]float64(nil), g.Data...), g.Shape...).AsType(dt)
}

type goldenCase struct {
	Mode          string                  `json:"mode"`
	NumLayers     int                     `json:"num_layers"`
	Bidirectional bool                    `json:"bidirectional"`
	InputSize     int                     `json:"input_size"`
	HiddenSize    int                     `json:"hidden_size"`
	Bias          bool                    `json:"bias"`
	Lengths       []int                   `json:"lengths"`
	Inputs        []goldenTensor          `json:"inputs"`
	H0            goldenTensor            `json:"h0"`
	C0            goldenTensor            `json:"c0"`
	Weights       map[string]goldenTensor `json:"weights"`
	Outputs       []goldenTensor          `json:"outputs"`
	HN            goldenTensor            `json:"h_n"`
	CN            goldenTensor            `json:"c_n"`
	ProjOut       []goldenTensor          `json:"proj_out"`
	ProjH         goldenTensor            `json:"proj_h"`
	ProjC         goldenTensor            `json:"proj_c"`
	GradInputs    []goldenTensor          `json:"grad_inputs"`
	GradH0        goldenTensor            `json:"grad_h0"`
	GradC0        goldenTensor            `json:"grad_c0"`
	GradWeights   map[string]goldenTensor `json:"grad_weights"`
}

// TestTorchParity loads the golden cases written by PyTorch 1.13 and checks
// outputs, final states and every gradient: within 1e-9 in float64 and 1e-4
// relative in float32.
func TestTorchParity(t *testing.T) {
	files, err := filepath.Glob("testdata/torch_rnn/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files (%v); run scripts/torch_rnn_golden.py", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var gc goldenCase
		if err := json.Unmarshal(raw, &gc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprintf("%s/%v", filepath.Base(file), dt), func(t *testing.T) {
				rtol, atol := 1e-9, 1e-9
				if dt == tensor.Float32 {
					rtol, atol = 1e-4, 1e-5
				}
				checkGolden(t, &gc, dt, rtol, atol)
			})
		}
	}
}

func checkGolden(t *testing.T, gc *goldenCase, dt tensor.DType, rtol, atol float64) {
	cfg := RecurrentConfig{InputSize: gc.InputSize, HiddenSize: gc.HiddenSize, Layers: gc.NumLayers, Bidirectional: gc.Bidirectional, NoBias: !gc.Bias, DType: dt}
	rng := tensor.NewRNG(1)
	var s *stack
	switch gc.Mode {
	case "LSTM":
		m, err := NewNStepLSTM(cfg, rng)
		if err != nil {
			t.Fatal(err)
		}
		s = m.stack
	case "GRU":
		m, err := NewNStepGRU(cfg, rng)
		if err != nil {
			t.Fatal(err)
		}
		s = m.stack
	default:
		m, err := NewNStepRNN(cfg, gc.Mode == "RNN_RELU", rng)
		if err != nil {
			t.Fatal(err)
		}
		s = m.stack
	}
	params := s.Params()
	if len(params) != len(gc.Weights) {
		t.Fatalf("%d parameters, PyTorch has %d", len(params), len(gc.Weights))
	}
	for _, p := range params {
		w, ok := gc.Weights[p.Name]
		if !ok {
			t.Fatalf("parameter %s not in PyTorch's state dict", p.Name)
		}
		if !slices.Equal(w.Shape, p.Shape()) {
			t.Fatalf("%s: shape %v, PyTorch %v", p.Name, p.Shape(), w.Shape)
		}
		p.Data.CopyFrom(w.tensor(dt))
	}
	xs := make([]*autograd.Variable, len(gc.Inputs))
	for i, g := range gc.Inputs {
		xs[i] = autograd.NewParameter(g.tensor(dt))
	}
	h0 := autograd.NewParameter(gc.H0.tensor(dt))
	var c0 *autograd.Variable
	if gc.Mode == "LSTM" {
		c0 = autograd.NewParameter(gc.C0.tensor(dt))
	}
	hN, cN, ys := forward3(s, h0, c0, xs)

	check := func(name string, got *tensor.Tensor, want goldenTensor) {
		t.Helper()
		w := want.tensor(tensor.Float64)
		if !slices.Equal(got.Shape(), w.Shape()) {
			t.Fatalf("%s: shape %v, PyTorch %v", name, got.Shape(), w.Shape())
		}
		worst, at := 0.0, -1
		for i := 0; i < w.Size(); i++ {
			d := math.Abs(got.AtFlat(i) - w.AtFlat(i))
			if d > atol+rtol*math.Abs(w.AtFlat(i)) && d > worst {
				worst, at = d, i
			}
		}
		if at >= 0 {
			t.Errorf("%s: element %d is %.12g, PyTorch %.12g", name, at, got.AtFlat(at), w.AtFlat(at))
		}
	}
	for i, y := range ys {
		check(fmt.Sprintf("output %d", i), y.Data, gc.Outputs[i])
	}
	check("h_n", hN.Data, gc.HN)
	loss := fn.Sum(fn.Mul(hN, autograd.NewVariable(gc.ProjH.tensor(dt))))
	if cN != nil {
		check("c_n", cN.Data, gc.CN)
		loss = fn.Add(loss, fn.Sum(fn.Mul(cN, autograd.NewVariable(gc.ProjC.tensor(dt)))))
	}
	for i, y := range ys {
		loss = fn.Add(loss, fn.Sum(fn.Mul(y, autograd.NewVariable(gc.ProjOut[i].tensor(dt)))))
	}
	loss.Backward()
	for i, x := range xs {
		check(fmt.Sprintf("grad input %d", i), x.Grad, gc.GradInputs[i])
	}
	check("grad h0", h0.Grad, gc.GradH0)
	if c0 != nil {
		check("grad c0", c0.Grad, gc.GradC0)
	}
	for _, p := range params {
		check("grad "+p.Name, p.Grad, gc.GradWeights[p.Name])
	}
}
