// Package gradcheck verifies hand-written backward passes against central
// finite differences in float64.
//
// Check draws a random weight tensor w_k for every output y_k of the
// function under test, forms the scalar L = Σ_k ⟨w_k, y_k⟩, and compares the
// gradient ∂L/∂x that Backward computes with
//
//	(L(x + ε·e_j) − L(x − ε·e_j)) / 2ε
//
// for every element j of every input x. An element passes when
// |analytic − numeric| ≤ ATol + RTol·|numeric|. Every differentiable
// function and cell in kioku is tested this way.
package gradcheck

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// Options tunes a check. The zero value selects the defaults.
type Options struct {
	// Eps is the finite-difference step (default 1e-6).
	Eps float64
	// RTol and ATol are the relative and absolute tolerances (defaults 1e-4
	// and 1e-6).
	RTol, ATol float64
	// Seed seeds the random output weights (default 1).
	Seed uint64
	// NoGrad lists the indices of inputs that are not differentiated (for
	// example masks or labels passed as tensors).
	NoGrad []int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Eps == 0 {
		r.Eps = 1e-6
	}
	if r.RTol == 0 {
		r.RTol = 1e-4
	}
	if r.ATol == 0 {
		r.ATol = 1e-6
	}
	if r.Seed == 0 {
		r.Seed = 1
	}
	return r
}

// Func is the function under test: it maps input variables to outputs.
// It must be deterministic (seed any randomness inside it afresh on every
// call) and must not modify its inputs.
type Func func(xs []*autograd.Variable) []*autograd.Variable

// Check compares the analytic gradients of f at inputs (which must be
// Float64 tensors; they are not modified) with central differences and
// returns an error describing the mismatches, or nil.
func Check(f Func, inputs []*tensor.Tensor, opts *Options) error {
	o := opts.withDefaults()
	skip := make([]bool, len(inputs))
	for _, i := range o.NoGrad {
		if i < 0 || i >= len(inputs) {
			return fmt.Errorf("gradcheck: NoGrad index %d out of range for %d inputs", i, len(inputs))
		}
		skip[i] = true
	}
	for i, x := range inputs {
		if x.DType() != tensor.Float64 {
			return fmt.Errorf("gradcheck: input %d is %v; gradient checks need float64", i, x.DType())
		}
	}

	// Analytic gradients.
	vars := make([]*autograd.Variable, len(inputs))
	for i, x := range inputs {
		if skip[i] {
			vars[i] = autograd.NewVariable(x.Clone())
		} else {
			vars[i] = autograd.NewParameter(x.Clone())
		}
	}
	ys := f(vars)
	if len(ys) == 0 {
		return errors.New("gradcheck: function returned no outputs")
	}
	rng := tensor.NewRNG(o.Seed)
	ws := make([]*tensor.Tensor, len(ys))
	for k, y := range ys {
		if y.DType() != tensor.Float64 {
			return fmt.Errorf("gradcheck: output %d is %v; expected float64", k, y.DType())
		}
		ws[k] = tensor.New(tensor.Float64, y.Shape()...)
		ws[k].RandNormal(rng, 0, 1)
	}
	loss := autograd.Apply1(&weightedSum{w: ws}, ys...)
	if loss.Creator() != nil {
		loss.Backward()
	}

	var problems []string
	bad := 0
	for i, x := range inputs {
		if skip[i] {
			continue
		}
		analytic := vars[i].Grad
		if analytic == nil {
			analytic = tensor.New(tensor.Float64, x.Shape()...) // no path: zero gradient
		}
		xp := x.Clone()
		data := xp.Float64s()
		for j := range data {
			orig := data[j]
			data[j] = orig + o.Eps
			lp := evalLoss(f, inputs, i, xp, ws)
			data[j] = orig - o.Eps
			lm := evalLoss(f, inputs, i, xp, ws)
			data[j] = orig
			num := (lp - lm) / (2 * o.Eps)
			an := analytic.AtFlat(j)
			if !(math.Abs(an-num) <= o.ATol+o.RTol*math.Abs(num)) {
				bad++
				if len(problems) < 8 {
					problems = append(problems, fmt.Sprintf("input %d %v element %d: analytic %.10g, numeric %.10g", i, x.Shape(), j, an, num))
				}
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("gradcheck: %d gradient elements differ (rtol %g, atol %g, eps %g):\n  %s", bad, o.RTol, o.ATol, o.Eps, strings.Join(problems, "\n  "))
	}
	return nil
}

// evalLoss evaluates L with input i replaced by xi, recording no graph.
func evalLoss(f Func, inputs []*tensor.Tensor, i int, xi *tensor.Tensor, ws []*tensor.Tensor) float64 {
	vars := make([]*autograd.Variable, len(inputs))
	for k, x := range inputs {
		if k == i {
			x = xi
		}
		vars[k] = autograd.NewVariable(x)
	}
	ys := f(vars)
	var l float64
	for k, y := range ys {
		l += y.Data.Dot(ws[k])
	}
	return l
}

// weightedSum computes Σ_k ⟨w_k, y_k⟩.
type weightedSum struct{ w []*tensor.Tensor }

func (f *weightedSum) Forward(ys []*tensor.Tensor) []*tensor.Tensor {
	var l float64
	for k, y := range ys {
		l += y.Dot(f.w[k])
	}
	return []*tensor.Tensor{tensor.Scalar(tensor.Float64, l)}
}

func (f *weightedSum) Backward(_, _, gl []*tensor.Tensor, need []bool) []*tensor.Tensor {
	g := gl[0].Item()
	gx := make([]*tensor.Tensor, len(f.w))
	for k, w := range f.w {
		if need[k] {
			gx[k] = w.Clone()
			gx[k].Scale(g)
		}
	}
	return gx
}
