package optim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// constructor builds an optimizer over params.
type constructor func(iter.Seq2[string, *autograd.Variable]) (*optim.Optimizer, error)

func sgd(cfg optim.SGDConfig) constructor              { return with(optim.NewSGD, cfg) }
func momentum(cfg optim.MomentumSGDConfig) constructor { return with(optim.NewMomentumSGD, cfg) }
func adam(cfg optim.AdamConfig) constructor            { return with(optim.NewAdam, cfg) }
func adamW(cfg optim.AdamConfig) constructor           { return with(optim.NewAdamW, cfg) }
func rmsprop(cfg optim.RMSpropConfig) constructor      { return with(optim.NewRMSprop, cfg) }
func adaGrad(cfg optim.AdaGradConfig) constructor      { return with(optim.NewAdaGrad, cfg) }

// with returns the constructor that calls newOpt with cfg.
func with[C any](newOpt func(iter.Seq2[string, *autograd.Variable], C) (*optim.Optimizer, error), cfg C) constructor {
	return func(p iter.Seq2[string, *autograd.Variable]) (*optim.Optimizer, error) { return newOpt(p, cfg) }
}

func must(t testing.TB, c constructor, params iter.Seq2[string, *autograd.Variable]) *optim.Optimizer {
	t.Helper()
	o, err := c(params)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestStepsHandComputed runs three updates of a two-element parameter
// θ = (1, −2) from the fixed gradients (0.5, −1), (1, 1), (−0.25, 2) and
// compares every step with the update equations evaluated by hand (in
// float64, element by element, independently of this package). Some
// values are easy to check mentally: SGD gives θ − 0.1·g; Adam's first
// step is −η·sign(g) up to ε; Nesterov's first step is −η·(1+μ)·g.
func TestStepsHandComputed(t *testing.T) {
	tests := []struct {
		name string
		opt  constructor
		want [3][2]float64
	}{
		{"SGD", sgd(optim.SGDConfig{LR: 0.1}), [3][2]float64{{0.95, -1.9}, {0.85, -2.0}, {0.875, -2.2}}},
		{"SGDWeightDecay", sgd(optim.SGDConfig{LR: 0.1, WeightDecay: 0.1}), [3][2]float64{{0.94, -1.88}, {0.8305999999999999, -1.9611999999999998}, {0.8472939999999999, -2.1415879999999996}}},
		{"Momentum", momentum(optim.MomentumSGDConfig{LR: 0.1}), [3][2]float64{{0.95, -1.9}, {0.8049999999999999, -1.91}, {0.6994999999999999, -2.1189999999999998}}},
		{"MomentumDampening", momentum(optim.MomentumSGDConfig{LR: 0.1, Momentum: 0.9, Dampening: 0.5}), [3][2]float64{{0.95, -1.9}, {0.855, -1.8599999999999999}, {0.782, -1.924}}},
		{"Nesterov", momentum(optim.MomentumSGDConfig{LR: 0.1, Nesterov: true}), [3][2]float64{{0.905, -1.81}, {0.6745000000000001, -1.919}, {0.6045500000000001, -2.3071}}},
		{"Adam", adam(optim.AdamConfig{LR: 0.1}), [3][2]float64{{0.900000002, -1.900000001}, {0.8034818006385094, -1.9052631588421052}, {0.7446211282555567, -1.959782848553754}}},
		{"AdamL2", adam(optim.AdamConfig{LR: 0.1, WeightDecay: 0.1}), [3][2]float64{{0.9000000016666666, -1.9000000008333333}, {0.8025029703202308, -1.8861177532216595}, {0.7364706358801182, -1.9293384049707438}}},
		{"AdamBeta2", adam(optim.AdamConfig{LR: 0.1, Beta2: 0.5}), [3][2]float64{{0.900000002, -1.900000001}, {0.811878119825443, -1.9052631588421052}, {0.746735956487919, -1.9520742982411379}}},
		{"AMSGrad", adam(optim.AdamConfig{LR: 0.1, Beta2: 0.5, AMSGrad: true}), [3][2]float64{{0.900000002, -1.900000001}, {0.811878119825443, -1.9052631588421052}, {0.7633240178105207, -1.9520742982411379}}},
		{"AdamW", adamW(optim.AdamConfig{LR: 0.1, WeightDecay: 0.1}), [3][2]float64{{0.890000002, -1.880000001}, {0.7845818006185094, -1.8664631588321052}, {0.7178753102293716, -1.9023182169554331}}},
		{"RMSprop", rmsprop(optim.RMSpropConfig{LR: 0.1}), [3][2]float64{{1.9999996048181146e-07, -1.0000000999999905}, {-0.8953226819114162, -1.7088812547570735}, {-0.6758491749041075, -2.5274198749229537}}},
		{"RMSpropCenteredMomentum", rmsprop(optim.RMSpropConfig{LR: 0.1, Momentum: 0.5, Centered: true, WeightDecay: 0.1}), [3][2]float64{{-0.0050376469090716025, -0.9949622689158655}, {-1.3742294078970323, -1.0946987135714157}, {-1.740125538980653, -1.9321198575157046}}},
		{"AdaGrad", adaGrad(optim.AdaGradConfig{LR: 0.1}), [3][2]float64{{0.90000000002, -1.90000000001}, {0.8105572809280084, -1.9707106781236547}, {0.8323790699497029, -2.052360336213094}}},
		{"AdaGradAll", adaGrad(optim.AdaGradConfig{LR: 0.1, LRDecay: 0.5, WeightDecay: 0.1, InitialAccumulatorValue: 0.25}), [3][2]float64{{0.9231778720500985, -1.9076923076994083}, {0.8689477181070354, -1.9429231628132124}, {0.8749766537524167, -1.9810572014680004}}},
	}
	grads := [3][2]float64{{0.5, -1}, {1, 1}, {-0.25, 2}}
	for _, tc := range tests {
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprintf("%s/%v", tc.name, dt), func(t *testing.T) {
				p := autograd.NewParameter(tensor.FromFloat64([]float64{1, -2}).AsType(dt))
				p.Name = "theta"
				o := must(t, tc.opt, optim.Named(p))
				rtol, atol := 1e-14, 1e-15
				if dt == tensor.Float32 {
					rtol, atol = 2e-6, 2e-6
				}
				for step := range 3 {
					p.Grad = tensor.FromFloat64(grads[step][:]).AsType(dt)
					if err := o.Update(); err != nil {
						t.Fatal(err)
					}
					want := tensor.FromFloat64(tc.want[step][:])
					if !tensor.AllClose(p.Data, want, rtol, atol) {
						t.Fatalf("step %d: θ = %v; want %v", step+1, p.Data.Values(), tc.want[step])
					}
				}
				if o.Steps() != 3 {
					t.Errorf("Steps() = %d; want 3", o.Steps())
				}
			})
		}
	}
}

// mlp is a 2-16-2 tanh network.
type mlp struct{ L1, L2 *nn.Linear }

func newMLP(t testing.TB, seed uint64, dt tensor.DType) *mlp {
	rng := tensor.NewRNG(seed)
	l1, err := nn.NewLinear(nn.LinearConfig{In: 2, Out: 16, DType: dt}, rng)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := nn.NewLinear(nn.LinearConfig{In: 16, Out: 2, DType: dt}, rng)
	if err != nil {
		t.Fatal(err)
	}
	return &mlp{l1, l2}
}

func (m *mlp) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("l1", m.L1), nn.Sub("l2", m.L2))
}

func (m *mlp) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

func (m *mlp) Forward(x *autograd.Variable) *autograd.Variable {
	return m.L2.Forward(fn.Tanh(m.L1.Forward(x)))
}

// xor is the four points of XOR and their classes.
func xor(dt tensor.DType) (*autograd.Variable, []int) {
	x := tensor.FromFloat64([]float64{0, 0, 0, 1, 1, 0, 1, 1}, 4, 2).AsType(dt)
	return autograd.NewVariable(x), []int{0, 1, 1, 0}
}

// train runs steps full-batch updates on XOR and returns the last loss.
func train(t testing.TB, m *mlp, o *optim.Optimizer, steps int) float64 {
	x, labels := xor(m.L1.Weight.DType())
	var loss float64
	for range steps {
		l := fn.SoftmaxCrossEntropy(m.Forward(x), labels, -1, fn.ReduceMean)
		o.ClearGrads()
		l.Backward()
		if err := o.Update(); err != nil {
			t.Fatal(err)
		}
		loss = l.Data.Item()
	}
	return loss
}

// Each optimizer, with a learning rate suited to it, fits XOR with a 2-16-2
// tanh network: the mean cross-entropy (ln 2 ≈ 0.69 at chance) falls below
// 0.05 within the given number of full-batch steps.
func TestTrainXOR(t *testing.T) {
	tests := []struct {
		name  string
		opt   constructor
		steps int
	}{
		{"SGD", sgd(optim.SGDConfig{LR: 0.5}), 200},
		{"MomentumSGD", momentum(optim.MomentumSGDConfig{LR: 0.1}), 100},
		{"Nesterov", momentum(optim.MomentumSGDConfig{LR: 0.1, Nesterov: true}), 100},
		{"Adam", adam(optim.AdamConfig{LR: 0.05}), 50},
		{"AdamW", adamW(optim.AdamConfig{LR: 0.05}), 50},
		{"RMSprop", rmsprop(optim.RMSpropConfig{LR: 0.01}), 100},
		{"AdaGrad", adaGrad(optim.AdaGradConfig{LR: 0.1}), 100},
	}
	const bound = 0.05
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMLP(t, 1, tensor.Float32)
			o := must(t, tc.opt, nn.NamedParams(m))
			clip, err := optim.NewGradientClipping(5)
			if err != nil {
				t.Fatal(err)
			}
			o.AddHook(clip)
			if start := train(t, m, o, 1); start < 0.6 {
				t.Fatalf("first loss %.4f; want about ln 2", start)
			}
			if loss := train(t, m, o, tc.steps-1); !(loss < bound) {
				t.Errorf("loss after %d steps %.4f; want < %v", tc.steps, loss, bound)
			}
		})
	}
}

func gradOf(p *autograd.Variable, vals ...float64) {
	p.Grad = tensor.FromFloat64(vals, p.Shape()...).AsType(p.DType())
}

func TestGradientClipping(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			a := autograd.NewParameter(tensor.New(dt, 2, 2))
			b := autograd.NewParameter(tensor.New(dt, 3))
			c := autograd.NewParameter(tensor.New(dt, 1)) // no gradient
			params := []optim.Param{{Name: "a", Var: a}, {Name: "b", Var: b}}
			clip, err := optim.NewGradientClipping(2)
			if err != nil {
				t.Fatal(err)
			}
			// Global norm √(1+4+9+16+25+49+... ) = √(1+4+4+16+0+1+9)... computed below.
			gradOf(a, 1, -2, 2, 4)
			gradOf(b, 0, 1, -3)
			before := []*tensor.Tensor{a.Grad.Clone(), b.Grad.Clone()}
			norm := math.Sqrt(1 + 4 + 4 + 16 + 0 + 1 + 9) // √35
			if got := optim.GradNorm(params); math.Abs(got-norm) > 1e-12 {
				t.Fatalf("GradNorm = %v; want %v", got, norm)
			}
			if err := clip.BeforeUpdate(params); err != nil {
				t.Fatal(err)
			}
			if got := clip.LastNorm(); math.Abs(got-norm) > 1e-12 {
				t.Errorf("LastNorm = %v; want the pre-clip norm %v", got, norm)
			}
			if got := optim.GradNorm(params); math.Abs(got-2)/2 > 1e-6 {
				t.Errorf("norm after clipping %v; want 2", got)
			}
			for i, g := range []*tensor.Tensor{a.Grad, b.Grad} {
				want := before[i].Clone()
				want.Scale(2 / norm)
				if !tensor.AllClose(g, want, 1e-6, 0) {
					t.Errorf("gradient %d = %v; want %v (same direction)", i, g, want)
				}
			}
			// Small gradients are untouched, bit for bit.
			gradOf(a, 0.1, -0.2, 0.3, 1e-3)
			gradOf(b, 0.5, 0.25, -1)
			before = []*tensor.Tensor{a.Grad.Clone(), b.Grad.Clone()}
			if err := clip.BeforeUpdate(params); err != nil {
				t.Fatal(err)
			}
			if !tensor.Equal(a.Grad, before[0]) || !tensor.Equal(b.Grad, before[1]) {
				t.Error("gradients under the threshold changed")
			}
			// Through an optimizer: parameters without a gradient are left out.
			o, err := optim.NewSGD(optim.Named(a, b, c), optim.SGDConfig{LR: 1})
			if err != nil {
				t.Fatal(err)
			}
			o.AddHook(clip)
			a.Data.Zero()
			b.Data.Zero()
			gradOf(a, 3, 0, 0, 0)
			gradOf(b, 0, 4, 0)
			if err := o.Update(); err != nil {
				t.Fatal(err)
			}
			wantA := tensor.FromFloat64([]float64{-1.2, 0, 0, 0}, 2, 2)
			wantB := tensor.FromFloat64([]float64{0, -1.6, 0})
			if !tensor.AllClose(a.Data, wantA, 1e-6, 0) || !tensor.AllClose(b.Data, wantB, 1e-6, 0) || c.Data.MaxAbs() != 0 {
				t.Errorf("after clipped SGD: a %v, b %v, c %v", a.Data, b.Data, c.Data)
			}
			if clip.LastNorm() != 5 {
				t.Errorf("LastNorm = %v; want 5", clip.LastNorm())
			}
		})
	}
}

func TestGradientClippingNonFinite(t *testing.T) {
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		a := autograd.NewParameter(tensor.FromFloat32([]float32{1, 2}))
		b := autograd.NewParameter(tensor.FromFloat32([]float32{3}))
		b.Name = "b"
		o, err := optim.NewAdam(optim.Named(a, b), optim.AdamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		clip, _ := optim.NewGradientClipping(1)
		o.AddHook(clip)
		gradOf(a, 0.5, 0.5)
		gradOf(b, bad)
		err = o.Update()
		if !errors.Is(err, optim.ErrNonFiniteGrad) || !strings.Contains(err.Error(), `"b"`) {
			t.Errorf("gradient %v: Update error %v; want ErrNonFiniteGrad naming \"b\"", bad, err)
		}
		if a.Data.At(0) != 1 || b.Data.At(0) != 3 || o.Steps() != 0 || o.State().ParamSteps["b"] != 0 {
			t.Errorf("gradient %v: the failed update changed something", bad)
		}
		if a.Grad.At(0) != 0.5 {
			t.Errorf("gradient %v: finite gradients were scaled", bad)
		}
	}
}

// A sum of squares beyond float64's range does not make the norm infinite.
func TestGradNormOverflow(t *testing.T) {
	a := autograd.NewParameter(tensor.FromFloat64([]float64{0, 0}))
	a.Grad = tensor.FromFloat64([]float64{3e200, 4e200})
	if got := optim.GradNorm([]optim.Param{{Name: "a", Var: a}}); math.Abs(got-5e200)/5e200 > 1e-15 {
		t.Errorf("GradNorm = %v; want 5e200", got)
	}
}

func TestGradientHardClipping(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		a := autograd.NewParameter(tensor.New(dt, 5))
		gradOf(a, -3, -0.5, 0, 0.75, 9)
		h, err := optim.NewGradientHardClipping(-1, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.BeforeUpdate([]optim.Param{{Name: "a", Var: a}}); err != nil {
			t.Fatal(err)
		}
		want := tensor.FromFloat64([]float64{-1, -0.5, 0, 0.5, 0.5})
		if !tensor.AllClose(a.Grad, want, 0, 0) {
			t.Errorf("%v: clipped %v; want %v", dt, a.Grad, want)
		}
	}
}

// The WeightDecay hook adds rate·θ to the gradient; followed by SGD it is
// the same as SGD's own weight decay.
func TestWeightDecay(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		a := autograd.NewParameter(tensor.FromFloat64([]float64{1, -2, 4}).AsType(dt))
		gradOf(a, 0.5, 0.5, 0.5)
		wd, err := optim.NewWeightDecay(0.25)
		if err != nil {
			t.Fatal(err)
		}
		if err := wd.BeforeUpdate([]optim.Param{{Name: "a", Var: a}}); err != nil {
			t.Fatal(err)
		}
		if want := tensor.FromFloat64([]float64{0.75, 0, 1.5}); !tensor.AllClose(a.Grad, want, 0, 0) {
			t.Errorf("%v: gradient %v; want %v", dt, a.Grad, want)
		}

		p1 := autograd.NewParameter(tensor.FromFloat64([]float64{1, -2, 4}).AsType(dt))
		p2 := autograd.NewParameter(p1.Data.Clone())
		o1 := must(t, sgd(optim.SGDConfig{LR: 0.1}), optim.Named(p1))
		o1.AddHook(wd)
		o2 := must(t, sgd(optim.SGDConfig{LR: 0.1, WeightDecay: 0.25}), optim.Named(p2))
		for range 3 {
			gradOf(p1, 0.5, -1, 2)
			gradOf(p2, 0.5, -1, 2)
			if o1.Update() != nil || o2.Update() != nil {
				t.Fatal("update failed")
			}
		}
		if !tensor.AllClose(p1.Data, p2.Data, 1e-6, 0) {
			t.Errorf("%v: hook %v, config %v", dt, p1.Data, p2.Data)
		}
	}
}

func TestHooksRunInOrder(t *testing.T) {
	a := autograd.NewParameter(tensor.FromFloat64([]float64{0}))
	var order []string
	o := must(t, sgd(optim.SGDConfig{}), optim.Named(a))
	for _, name := range []string{"first", "second"} {
		o.AddHook(optim.HookFunc(func(ps []optim.Param) error {
			order = append(order, fmt.Sprintf("%s:%d", name, len(ps)))
			return nil
		}))
	}
	if err := o.Update(); err != nil { // no gradient: hooks see no parameters
		t.Fatal(err)
	}
	gradOf(a, 1)
	if err := o.Update(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, " "); got != "first:0 second:0 first:1 second:1" {
		t.Errorf("hook calls %q", got)
	}
}

func TestSchedules(t *testing.T) {
	step, err := optim.NewStepLR(1, 3, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := optim.NewExponentialLR(2, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	zaremba, err := optim.NewZarembaLR(1, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	zarembaLarge, err := optim.NewZarembaLR(1, 14, 1.15)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    optim.Schedule
		want []float64
	}{
		{"StepLR", step, []float64{1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25}},
		{"ExponentialLR", exp, []float64{2, 1, 0.5, 0.25, 0.125}},
		{"Zaremba", zaremba, []float64{1, 1, 1, 1, 0.5, 0.25, 0.125, 0.0625}},
		{"ZarembaLarge", zarembaLarge, []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 / 1.15, 1 / (1.15 * 1.15)}},
	}
	for _, tc := range tests {
		for e, want := range tc.want {
			if got := tc.s.LR(e); math.Abs(got-want) > 1e-15 {
				t.Errorf("%s: epoch %d: lr %v; want %v", tc.name, e, got, want)
			}
		}
	}
	// Driving an optimizer.
	a := autograd.NewParameter(tensor.Zeros(1))
	o := must(t, sgd(optim.SGDConfig{LR: 7}), optim.Named(a))
	for e := range 6 {
		o.SetLR(zaremba.LR(e))
	}
	if o.LR() != 0.25 {
		t.Errorf("LR() = %v after epoch 5; want 0.25", o.LR())
	}
}

// stateParams returns named float32 and float64 parameters of a few shapes.
func stateParams(seed uint64) []*autograd.Variable {
	rng := tensor.NewRNG(seed)
	shapes := [][]int{{3, 2}, {2}, {4}}
	var vs []*autograd.Variable
	for i, s := range shapes {
		dt := tensor.Float32
		if i == 2 {
			dt = tensor.Float64
		}
		v := autograd.NewParameter(tensor.New(dt, s...))
		v.Data.RandNormal(rng, 0, 1)
		v.Name = fmt.Sprintf("p%d", i)
		vs = append(vs, v)
	}
	return vs
}

// setGrads sets the gradients of Σ_p Σ_i (i+1)·(θ_i − sin(i+k))⁴/4 at
// step k: a non-quadratic objective whose gradients change each step. The
// second parameter sits out every third step.
func setGrads(vs []*autograd.Variable, k int) {
	for j, v := range vs {
		if j == 1 && k%3 == 2 {
			v.Grad = nil // sometimes a parameter takes no part
			continue
		}
		g := tensor.ZerosLike(v.Data)
		for i := 0; i < g.Size(); i++ {
			d := v.Data.AtFlat(i) - math.Sin(float64(i+k))
			g.SetFlat(i, float64(i+1)*d*d*d)
		}
		v.Grad = g
	}
}

func cloneParams(vs []*autograd.Variable) []*autograd.Variable {
	out := make([]*autograd.Variable, len(vs))
	for i, v := range vs {
		out[i] = autograd.NewParameter(v.Data.Clone())
		out[i].Name = v.Name
	}
	return out
}

var allOptimizers = []struct {
	name string
	opt  constructor
}{
	{"SGD", sgd(optim.SGDConfig{LR: 0.01, WeightDecay: 0.1})},
	{"MomentumSGD", momentum(optim.MomentumSGDConfig{LR: 0.01, Dampening: 0.1})},
	{"Nesterov", momentum(optim.MomentumSGDConfig{LR: 0.01, Nesterov: true})},
	{"Adam", adam(optim.AdamConfig{LR: 0.01})},
	{"AMSGrad", adam(optim.AdamConfig{LR: 0.01, AMSGrad: true, Beta2: 0.9})},
	{"AdamW", adamW(optim.AdamConfig{LR: 0.01})},
	{"RMSprop", rmsprop(optim.RMSpropConfig{LR: 0.01, Momentum: 0.5, Centered: true})},
	{"AdaGrad", adaGrad(optim.AdaGradConfig{LR: 0.05, LRDecay: 0.1, InitialAccumulatorValue: 0.1})},
}

// Saving the state after 5 steps, loading it into a fresh optimizer over a
// copy of the parameters and running 5 more steps gives the same
// parameters, bit for bit, as 10 uninterrupted steps.
func TestStateRoundTrip(t *testing.T) {
	const k, n = 5, 10
	for _, tc := range allOptimizers {
		t.Run(tc.name, func(t *testing.T) {
			// clipped is the optimizer under test at twice its rate, with
			// the gradients clipped; steps runs steps [from, to) of o.
			clipped := func(ps []*autograd.Variable) *optim.Optimizer {
				o := must(t, tc.opt, optim.Named(ps...))
				o.SetLR(o.LR() * 2)
				clip, _ := optim.NewGradientClipping(3)
				o.AddHook(clip)
				return o
			}
			steps := func(o *optim.Optimizer, ps []*autograd.Variable, from, to int) {
				for step := from; step < to; step++ {
					setGrads(ps, step)
					if err := o.Update(); err != nil {
						t.Fatal(err)
					}
				}
			}
			ref := stateParams(1)
			oRef := clipped(ref)
			steps(oRef, ref, 0, n)

			first := stateParams(1)
			o1 := clipped(first)
			steps(o1, first, 0, k)
			st := o1.State()
			second := cloneParams(first) // the parameters as they are now
			// The scalars survive JSON; the tensors are copies.
			raw, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			var decoded optim.State
			if err := json.Unmarshal(raw, &decoded); err != nil {
				t.Fatal(err)
			}
			decoded.Tensors = st.Tensors
			setGrads(first, 99)
			if err := o1.Update(); err != nil { // must not affect st
				t.Fatal(err)
			}

			o2 := must(t, tc.opt, optim.Named(second...))
			if err := o2.LoadState(&decoded); err != nil {
				t.Fatal(err)
			}
			if o2.Steps() != k || o2.LR() != oRef.LR() {
				t.Errorf("after LoadState: Steps %d, LR %v; want %d, %v", o2.Steps(), o2.LR(), k, oRef.LR())
			}
			clip2, _ := optim.NewGradientClipping(3)
			o2.AddHook(clip2)
			steps(o2, second, k, n)
			for i := range ref {
				if !tensor.Equal(ref[i].Data, second[i].Data) {
					t.Errorf("%s: resumed %v; uninterrupted %v", ref[i].Name, second[i].Data, ref[i].Data)
				}
			}
			if got, want := o2.State().ParamSteps, oRef.State().ParamSteps; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ParamSteps %v; want %v", got, want)
			}
		})
	}
}

func TestStateNames(t *testing.T) {
	tests := []struct {
		opt  constructor
		kind string
		want string
	}{
		{sgd(optim.SGDConfig{}), "sgd", "[]"},
		{momentum(optim.MomentumSGDConfig{}), "momentum_sgd", "[w.momentum_buffer]"},
		{adam(optim.AdamConfig{}), "adam", "[w.exp_avg w.exp_avg_sq]"},
		{adam(optim.AdamConfig{AMSGrad: true}), "adam", "[w.exp_avg w.exp_avg_sq w.max_exp_avg_sq]"},
		{adamW(optim.AdamConfig{}), "adamw", "[w.exp_avg w.exp_avg_sq]"},
		{rmsprop(optim.RMSpropConfig{}), "rmsprop", "[w.square_avg]"},
		{rmsprop(optim.RMSpropConfig{Momentum: 0.9, Centered: true}), "rmsprop", "[w.grad_avg w.momentum_buffer w.square_avg]"},
		{adaGrad(optim.AdaGradConfig{InitialAccumulatorValue: 0.5}), "adagrad", "[w.sum]"},
	}
	for _, tc := range tests {
		w := autograd.NewParameter(tensor.Zeros(2, 3))
		w.Name = "w"
		o := must(t, tc.opt, optim.Named(w))
		st := o.State()
		if o.Kind() != tc.kind || st.Kind != tc.kind {
			t.Errorf("Kind %q, state kind %q; want %q", o.Kind(), st.Kind, tc.kind)
		}
		if got := fmt.Sprint(st.TensorNames()); got != tc.want {
			t.Errorf("%s: tensors %s; want %s", tc.kind, got, tc.want)
		}
		for name, x := range st.Tensors {
			if x.DType() != tensor.Float32 || len(x.Shape()) != 2 {
				t.Errorf("%s: %v %v", name, x.DType(), x.Shape())
			}
			if strings.HasSuffix(name, ".sum") && x.At(0, 0) != 0.5 {
				t.Errorf("AdaGrad sum starts at %v; want 0.5", x.At(0, 0))
			}
		}
	}
}

func TestLoadStateErrors(t *testing.T) {
	newOpt := func() (*optim.Optimizer, []*autograd.Variable) {
		vs := stateParams(1)
		return must(t, adam(optim.AdamConfig{}), optim.Named(vs...)), vs
	}
	src, vs := newOpt()
	setGrads(vs, 0)
	if err := src.Update(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(s *optim.State)
		msg    string
	}{
		{"kind", func(s *optim.State) { s.Kind = "sgd" }, `"sgd"`},
		{"lr", func(s *optim.State) { s.LR = -1 }, "learning rate -1"},
		{"steps", func(s *optim.State) { s.Steps = -1 }, "-1 steps"},
		{"missingTensor", func(s *optim.State) { delete(s.Tensors, "p1.exp_avg_sq") }, `no tensor "p1.exp_avg_sq"`},
		{"nilTensor", func(s *optim.State) { s.Tensors["p1.exp_avg_sq"] = nil }, `no tensor "p1.exp_avg_sq"`},
		{"extraTensor", func(s *optim.State) { s.Tensors["p1.momentum_buffer"] = tensor.Zeros(2) }, `unexpected tensor "p1.momentum_buffer"`},
		{"shape", func(s *optim.State) { s.Tensors["p0.exp_avg"] = tensor.Zeros(2, 3) }, "shape [2 3]"},
		{"missingStep", func(s *optim.State) { delete(s.ParamSteps, "p2") }, `no step count for parameter "p2"`},
		{"badStep", func(s *optim.State) { s.ParamSteps["p2"] = 5 }, "step count 5"},
		{"unknownStep", func(s *optim.State) { s.ParamSteps["p9"] = 0 }, `unknown parameter "p9"`},
	}
	for _, tc := range tests {
		st := src.State()
		tc.mutate(st)
		dst, _ := newOpt()
		before := dst.State()
		err := dst.LoadState(st)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: LoadState error %v; want one mentioning %s", tc.name, err, tc.msg)
		}
		after := dst.State()
		if after.Steps != before.Steps || after.LR != before.LR || after.Tensors["p0.exp_avg"].MaxAbs() != 0 {
			t.Errorf("%s: a failed LoadState changed the optimizer", tc.name)
		}
	}
	if err := src.LoadState(nil); err == nil {
		t.Error("LoadState(nil) succeeded")
	}
	// Float64 tensors load into float32 state.
	st := src.State()
	st.Tensors["p0.exp_avg"] = st.Tensors["p0.exp_avg"].AsType(tensor.Float64)
	dst, _ := newOpt()
	if err := dst.LoadState(st); err != nil {
		t.Errorf("converting load: %v", err)
	}
}

func TestConstructorErrors(t *testing.T) {
	w := autograd.NewParameter(tensor.Zeros(2))
	w.Name = "w"
	ps := optim.Named(w)
	tests := []struct {
		name string
		err  func() error
		msg  string
	}{
		{"SGDLR", func() error { _, err := optim.NewSGD(ps, optim.SGDConfig{LR: -0.1}); return err }, "learning rate -0.1"},
		{"SGDLRNaN", func() error { _, err := optim.NewSGD(ps, optim.SGDConfig{LR: math.NaN()}); return err }, "learning rate NaN"},
		{"SGDLRInf", func() error { _, err := optim.NewSGD(ps, optim.SGDConfig{LR: math.Inf(1)}); return err }, "learning rate +Inf"},
		{"SGDDecay", func() error { _, err := optim.NewSGD(ps, optim.SGDConfig{WeightDecay: -1}); return err }, "weight decay -1"},
		{"Momentum", func() error { _, err := optim.NewMomentumSGD(ps, optim.MomentumSGDConfig{Momentum: 1}); return err }, "momentum 1"},
		{"MomentumNeg", func() error { _, err := optim.NewMomentumSGD(ps, optim.MomentumSGDConfig{Momentum: -0.5}); return err }, "momentum -0.5"},
		{"Dampening", func() error {
			_, err := optim.NewMomentumSGD(ps, optim.MomentumSGDConfig{Dampening: 1.5})
			return err
		}, "dampening 1.5"},
		{"NesterovDampening", func() error {
			_, err := optim.NewMomentumSGD(ps, optim.MomentumSGDConfig{Nesterov: true, Dampening: 0.1})
			return err
		}, "Nesterov"},
		{"Beta1", func() error { _, err := optim.NewAdam(ps, optim.AdamConfig{Beta1: 1}); return err }, "beta1 1"},
		{"Beta2", func() error { _, err := optim.NewAdamW(ps, optim.AdamConfig{Beta2: -0.1}); return err }, "beta2 -0.1"},
		{"AdamEps", func() error { _, err := optim.NewAdam(ps, optim.AdamConfig{Eps: -1}); return err }, "eps -1"},
		{"AdamWDecay", func() error { _, err := optim.NewAdamW(ps, optim.AdamConfig{WeightDecay: -1}); return err }, "weight decay -1"},
		{"RMSAlpha", func() error { _, err := optim.NewRMSprop(ps, optim.RMSpropConfig{Alpha: 1.1}); return err }, "alpha 1.1"},
		{"RMSMomentum", func() error { _, err := optim.NewRMSprop(ps, optim.RMSpropConfig{Momentum: -1}); return err }, "momentum -1"},
		{"AdaGradDecay", func() error { _, err := optim.NewAdaGrad(ps, optim.AdaGradConfig{LRDecay: -1}); return err }, "lr decay -1"},
		{"AdaGradInit", func() error {
			_, err := optim.NewAdaGrad(ps, optim.AdaGradConfig{InitialAccumulatorValue: -1})
			return err
		}, "initial accumulator value -1"},
		{"Empty", func() error { _, err := optim.NewAdam(optim.Named(), optim.AdamConfig{}); return err }, "empty parameter list"},
		{"NilSeq", func() error { _, err := optim.NewAdam(nil, optim.AdamConfig{}); return err }, "no parameters"},
		{"NilVar", func() error { _, err := optim.NewSGD(optim.Named(w, nil), optim.SGDConfig{}); return err }, `parameter "1" is nil`},
		{"SameVar", func() error {
			seq := func(yield func(string, *autograd.Variable) bool) { _ = yield("a", w) && yield("b", w) }
			_, err := optim.NewSGD(seq, optim.SGDConfig{})
			return err
		}, `parameters "a" and "b" are the same variable`},
		{"DupName", func() error {
			v := autograd.NewParameter(tensor.Zeros(1))
			v.Name = "w"
			_, err := optim.NewSGD(optim.Named(w, v), optim.SGDConfig{})
			return err
		}, `two parameters are named "w"`},
		{"NoName", func() error {
			seq := func(yield func(string, *autograd.Variable) bool) { yield("", w) }
			_, err := optim.NewSGD(seq, optim.SGDConfig{})
			return err
		}, "no name"},
		{"Clip", func() error { _, err := optim.NewGradientClipping(0); return err }, "threshold 0"},
		{"ClipNaN", func() error { _, err := optim.NewGradientClipping(math.NaN()); return err }, "threshold NaN"},
		{"HardClip", func() error { _, err := optim.NewGradientHardClipping(1, -1); return err }, "[1, -1]"},
		{"WeightDecay", func() error { _, err := optim.NewWeightDecay(-0.1); return err }, "rate -0.1"},
		{"StepLRBase", func() error { _, err := optim.NewStepLR(0, 1, 0.5); return err }, "base learning rate 0"},
		{"StepLRSize", func() error { _, err := optim.NewStepLR(1, 0, 0.5); return err }, "step size 0"},
		{"StepLRGamma", func() error { _, err := optim.NewStepLR(1, 1, -0.5); return err }, "gamma -0.5"},
		{"ExpGamma", func() error { _, err := optim.NewExponentialLR(1, 0); return err }, "gamma 0"},
		{"ZarembaKeep", func() error { _, err := optim.NewZarembaLR(1, -1, 2); return err }, "-1 epochs"},
		{"ZarembaDivisor", func() error { _, err := optim.NewZarembaLR(1, 4, 0.5); return err }, "divisor 0.5"},
	}
	for _, tc := range tests {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v; want one mentioning %q", tc.name, err, tc.msg)
		}
	}
}

func TestDefaults(t *testing.T) {
	w := autograd.NewParameter(tensor.Zeros(1))
	tests := []struct {
		opt  constructor
		want string
	}{
		{sgd(optim.SGDConfig{}), "SGD(lr=0.001, weight_decay=0)"},
		{momentum(optim.MomentumSGDConfig{}), "MomentumSGD(lr=0.001, momentum=0.9, dampening=0, nesterov=false, weight_decay=0)"},
		{adam(optim.AdamConfig{}), "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)"},
		{adam(optim.AdamConfig{AMSGrad: true}), "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=true)"},
		{adamW(optim.AdamConfig{}), "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)"},
		{rmsprop(optim.RMSpropConfig{}), "RMSprop(lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0, centered=false)"},
		{adaGrad(optim.AdaGradConfig{}), "AdaGrad(lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)"},
	}
	for _, tc := range tests {
		if got := must(t, tc.opt, optim.Named(w)).String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// Parameters without a gradient, or frozen, are not updated and their step
// counts do not advance; Adam's bias correction uses each parameter's own
// count, as in PyTorch.
func TestSkipsParamsWithoutGrad(t *testing.T) {
	a := autograd.NewParameter(tensor.FromFloat64([]float64{1}))
	b := autograd.NewParameter(tensor.FromFloat64([]float64{1}))
	c := autograd.NewParameter(tensor.FromFloat64([]float64{1}))
	a.Name, b.Name, c.Name = "a", "b", "c"
	o := must(t, adam(optim.AdamConfig{LR: 0.1}), optim.Named(a, b, c))
	gradOf(a, 1)
	gradOf(c, 1)
	c.SetRequiresGrad(false)
	if err := o.Update(); err != nil {
		t.Fatal(err)
	}
	gradOf(b, 1)
	if err := o.Update(); err != nil {
		t.Fatal(err)
	}
	st := o.State()
	if st.ParamSteps["a"] != 2 || st.ParamSteps["b"] != 1 || st.ParamSteps["c"] != 0 || st.Steps != 2 {
		t.Errorf("step counts %v, %d", st.ParamSteps, st.Steps)
	}
	// b's first update is Adam's first step: −η·sign(g), up to ε.
	if math.Abs(b.Data.Item()-0.9) > 1e-7 || c.Data.Item() != 1 {
		t.Errorf("b = %v (want 0.9), c = %v (want 1)", b.Data.Item(), c.Data.Item())
	}
}

func TestClearGradsAndParams(t *testing.T) {
	m := newMLP(t, 2, tensor.Float64)
	o := must(t, sgd(optim.SGDConfig{}), nn.NamedParams(m))
	x, labels := xor(tensor.Float64)
	fn.SoftmaxCrossEntropy(m.Forward(x), labels, -1, fn.ReduceMean).Backward()
	o.ClearGrads()
	var names []string
	for _, p := range o.Params() {
		names = append(names, p.Name)
		if p.Var.Grad == nil || p.Var.Grad.MaxAbs() != 0 {
			t.Errorf("%s: gradient not cleared", p.Name)
		}
	}
	if got := strings.Join(names, " "); got != "l1.weight l1.bias l2.weight l2.bias" {
		t.Errorf("names %q", got)
	}
}

func TestSetLRPanics(t *testing.T) {
	o := must(t, sgd(optim.SGDConfig{}), optim.Named(autograd.NewParameter(tensor.Zeros(1))))
	o.SetLR(0) // allowed
	defer func() {
		if recover() == nil {
			t.Error("SetLR(-1) did not panic")
		}
	}()
	o.SetLR(-1)
}

func TestGradShapeMismatchPanics(t *testing.T) {
	w := autograd.NewParameter(tensor.Zeros(2, 3))
	w.Name = "w"
	o := must(t, adam(optim.AdamConfig{}), optim.Named(w))
	w.Grad = tensor.Zeros(3, 2)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), `"w"`) || !strings.Contains(fmt.Sprint(r), "[3 2]") {
			t.Errorf("panic %v; want one naming w and [3 2]", r)
		}
	}()
	_ = o.Update()
}

// BenchmarkUpdate measures one update of a million float32 parameters
// (the size of a small language model's embedding and softmax).
func BenchmarkUpdate(b *testing.B) {
	for _, tc := range allOptimizers {
		b.Run(tc.name, func(b *testing.B) {
			w := autograd.NewParameter(tensor.Zeros(1000, 1000))
			w.Grad = tensor.Zeros(1000, 1000)
			w.Grad.RandNormal(tensor.NewRNG(1), 0, 1)
			o := must(b, tc.opt, optim.Named(w))
			b.SetBytes(4 * 1000 * 1000)
			for b.Loop() {
				if err := o.Update(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
