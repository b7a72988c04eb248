package nn

import (
	"fmt"
	"iter"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn/initializer"
	"github.com/kioku-ml/kioku/tensor"
)

// LinearConfig describes a fully connected layer.
type LinearConfig struct {
	// In and Out are the input and output feature sizes.
	In, Out int
	// NoBias drops the bias.
	NoBias bool
	// DType is the parameters' element type (the zero value is Float32).
	DType tensor.DType
}

// Linear is a fully connected layer, y = x·Wᵀ + b, as PyTorch's nn.Linear
// and Chainer's L.Linear.
type Linear struct {
	// Weight is W, of shape (Out, In), named "weight".
	Weight *autograd.Variable
	// Bias is b, of shape (Out), named "bias"; nil with NoBias.
	Bias *autograd.Variable

	precision fn.Precision
	// packed is the weight's packing of a view made by Pack.
	packed *fn.PackedWeight
}

// SetPrecision sets the precision of the product (fn.LinearAt) for
// forward passes that record no gradient — inference under
// autograd.NoGrad, or with parameters that need none. Passes that record
// a gradient always use fn.Float32. fn.BFloat16 runs as fn.Float32 where
// fn.PrecisionAvailable(fn.BFloat16) is false.
func (l *Linear) SetPrecision(p fn.Precision) { l.precision = p }

// Precision returns the precision SetPrecision set (fn.Float32 by default).
func (l *Linear) Precision() fn.Precision { return l.precision }

// NewLinear returns a Linear layer initialised as PyTorch does: W and b
// drawn from U(−1/√In, 1/√In), W first (for W this is He uniform with
// gain initializer.GainLeakyReLU(√5)). It returns an error for
// non-positive sizes, an unknown dtype or a nil rng.
func NewLinear(cfg LinearConfig, rng *tensor.RNG) (*Linear, error) {
	switch {
	case cfg.In <= 0 || cfg.Out <= 0:
		return nil, fmt.Errorf("nn: Linear needs positive sizes, got in %d, out %d", cfg.In, cfg.Out)
	case cfg.DType != tensor.Float32 && cfg.DType != tensor.Float64:
		return nil, fmt.Errorf("nn: Linear with unknown dtype %v", cfg.DType)
	case rng == nil:
		return nil, fmt.Errorf("nn: Linear needs an RNG for its initialisation")
	}
	bound := 1 / math.Sqrt(float64(cfg.In))
	l := &Linear{Weight: autograd.NewParameter(tensor.New(cfg.DType, cfg.Out, cfg.In))}
	l.Weight.Name = "weight"
	initializer.Uniform(l.Weight.Data, rng, -bound, bound)
	if !cfg.NoBias {
		l.Bias = autograd.NewParameter(tensor.New(cfg.DType, cfg.Out))
		l.Bias.Name = "bias"
		initializer.Uniform(l.Bias.Data, rng, -bound, bound)
	}
	return l, nil
}

// Forward returns x·Wᵀ + b for x of shape (…, In); the result has shape
// (…, Out). It panics if the last dimension of x is not In.
func (l *Linear) Forward(x *autograd.Variable) *autograd.Variable {
	if (l.precision != fn.Float32 || l.packed != nil) && !anyRequiresGrad(x, l.Weight, l.Bias) {
		return fn.LinearAt(x, l.Weight, l.Bias, l.precision, l.packed)
	}
	return fn.Linear(x, l.Weight, l.Bias)
}

// ForwardInto computes x·Wᵀ + b on tensors, for inference without a
// graph (at the precision of SetPrecision), into dst when dst
// has the result's shape (…, Out) and type, else into a new tensor, and
// returns it (see fn.LinearInto): a loop that passes the previous result
// back in reuses one buffer.
func (l *Linear) ForwardInto(dst, x *tensor.Tensor) *tensor.Tensor {
	var b *tensor.Tensor
	if l.Bias != nil {
		b = l.Bias.Data
	}
	return fn.LinearIntoAt(dst, x, l.Weight.Data, b, l.precision, l.packed)
}

// anyRequiresGrad reports whether a forward pass over vs would record a
// gradient. Nil entries are skipped.
func anyRequiresGrad(vs ...*autograd.Variable) bool {
	for _, v := range vs {
		if v != nil && v.RequiresGrad() {
			return true
		}
	}
	return false
}

// Params returns weight, then bias if there is one.
func (l *Linear) Params() []*autograd.Variable {
	if l.Bias == nil {
		return []*autograd.Variable{l.Weight}
	}
	return []*autograd.Variable{l.Weight, l.Bias}
}

// NamedParams yields ("weight", W), then ("bias", b) if there is one.
func (l *Linear) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) {
		if !yield("weight", l.Weight) {
			return
		}
		if l.Bias != nil {
			yield("bias", l.Bias)
		}
	}
}
