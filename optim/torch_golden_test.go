package optim_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// torchGolden is testdata/torch_optim.json, written by
// testdata/torch_optim_golden.py with PyTorch 1.13.
type torchGolden struct {
	TorchVersion string      `json:"torch_version"`
	Initial      [][]float64 `json:"initial"`
	Shapes       [][]int     `json:"shapes"`
	Cases        []struct {
		Name      string         `json:"name"`
		Optimizer string         `json:"optimizer"`
		Kwargs    map[string]any `json:"kwargs"`
		Steps     []struct {
			Grads  [][]float64 `json:"grads"` // nil: no gradient this step
			Params [][]float64 `json:"params"`
		} `json:"steps"`
	} `json:"cases"`
}

// torchOptimizer builds the kioku optimizer for a torch.optim class and
// its keyword arguments.
func torchOptimizer(class string, kw map[string]any) (constructor, error) {
	num := func(k string) float64 {
		v, _ := kw[k].(float64)
		return v
	}
	flag := func(k string) bool {
		v, _ := kw[k].(bool)
		return v
	}
	betas := func() (float64, float64) {
		b, _ := kw["betas"].([]any)
		if len(b) != 2 {
			return 0, 0
		}
		return b[0].(float64), b[1].(float64)
	}
	switch class {
	case "SGD":
		if num("momentum") == 0 {
			return sgd(optim.SGDConfig{LR: num("lr"), WeightDecay: num("weight_decay")}), nil
		}
		return momentum(optim.MomentumSGDConfig{LR: num("lr"), Momentum: num("momentum"), Dampening: num("dampening"), Nesterov: flag("nesterov"), WeightDecay: num("weight_decay")}), nil
	case "Adam", "AdamW":
		b1, b2 := betas()
		cfg := optim.AdamConfig{LR: num("lr"), Beta1: b1, Beta2: b2, Eps: num("eps"), WeightDecay: num("weight_decay"), AMSGrad: flag("amsgrad")}
		if class == "Adam" {
			return adam(cfg), nil
		}
		return adamW(cfg), nil
	case "RMSprop":
		return rmsprop(optim.RMSpropConfig{LR: num("lr"), Alpha: num("alpha"), Eps: num("eps"), WeightDecay: num("weight_decay"), Momentum: num("momentum"), Centered: flag("centered")}), nil
	case "Adagrad":
		return adaGrad(optim.AdaGradConfig{LR: num("lr"), LRDecay: num("lr_decay"), WeightDecay: num("weight_decay"), InitialAccumulatorValue: num("initial_accumulator_value"), Eps: num("eps")}), nil
	}
	return nil, fmt.Errorf("unknown optimizer %q", class)
}

// TestTorchParity feeds each optimizer the gradients PyTorch's saw and
// compares the parameters after every step: within 1e-12 in float64 and
// 1e-5 in float32. Parameters that sit out a step (nil gradient) must keep
// their per-parameter step counts in step with PyTorch's.
func TestTorchParity(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_optim.json")
	if err != nil {
		t.Fatalf("%v (run testdata/torch_optim_golden.py)", err)
	}
	var g torchGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 14 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprintf("%s/%v", c.Name, dt), func(t *testing.T) {
				ctor, err := torchOptimizer(c.Optimizer, c.Kwargs)
				if err != nil {
					t.Fatal(err)
				}
				var vars []*autograd.Variable
				for i, init := range g.Initial {
					v := autograd.NewParameter(tensor.FromFloat64(append([]float64(nil), init...), g.Shapes[i]...).AsType(dt))
					v.Name = fmt.Sprintf("p%d", i)
					vars = append(vars, v)
				}
				o := must(t, ctor, optim.Named(vars...))
				rtol, atol := 1e-12, 1e-14
				if dt == tensor.Float32 {
					rtol, atol = 1e-5, 1e-6
				}
				for k, step := range c.Steps {
					for i, v := range vars {
						if step.Grads[i] == nil {
							v.Grad = nil
							continue
						}
						v.Grad = tensor.FromFloat64(append([]float64(nil), step.Grads[i]...), g.Shapes[i]...).AsType(dt)
					}
					if err := o.Update(); err != nil {
						t.Fatal(err)
					}
					for i, v := range vars {
						want := tensor.FromFloat64(step.Params[i], g.Shapes[i]...)
						if !tensor.AllClose(v.Data, want, rtol, atol) {
							t.Fatalf("step %d, %s: kioku %v\ntorch %v", k+1, v.Name, v.Data.Values(), step.Params[i])
						}
					}
				}
			})
		}
	}
}
