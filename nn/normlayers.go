package nn

import (
	"fmt"
	"iter"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// NormConfig describes a LayerNormalization or BatchNormalization layer.
type NormConfig struct {
	// Size is the number of features normalised (the last axis).
	Size int
	// Eps is added to the variance (0 means 1e-5).
	Eps float64
	// NoAffine drops the learned gain and bias.
	NoAffine bool
	// Momentum is the weight of a new batch in BatchNormalization's
	// running statistics (0 means 0.1, as PyTorch).
	Momentum float64
	// DType is the parameters' element type (the zero value is Float32).
	DType tensor.DType
}

func (c NormConfig) check(name string) (NormConfig, error) {
	switch {
	case c.Size <= 0:
		return c, fmt.Errorf("nn: %s needs a positive size, got %d", name, c.Size)
	case c.Eps < 0:
		return c, fmt.Errorf("nn: %s eps %v is negative", name, c.Eps)
	case !(c.Momentum >= 0 && c.Momentum <= 1):
		return c, fmt.Errorf("nn: %s momentum %v outside [0, 1]", name, c.Momentum)
	case c.DType != tensor.Float32 && c.DType != tensor.Float64:
		return c, fmt.Errorf("nn: %s with unknown dtype %v", name, c.DType)
	}
	if c.Eps == 0 {
		c.Eps = 1e-5
	}
	if c.Momentum == 0 {
		c.Momentum = 0.1
	}
	return c, nil
}

// affineParams makes the gain (ones) and bias (zeros) named weight and bias.
func affineParams(c NormConfig) (w, b *autograd.Variable) {
	if c.NoAffine {
		return nil, nil
	}
	w = autograd.NewParameter(tensor.New(c.DType, c.Size))
	w.Data.Fill(1)
	w.Name = "weight"
	b = autograd.NewParameter(tensor.New(c.DType, c.Size))
	b.Name = "bias"
	return w, b
}

func affineList(w, b *autograd.Variable) []*autograd.Variable {
	if w == nil {
		return nil
	}
	return []*autograd.Variable{w, b}
}

// LayerNormalization normalises each row of its input over the last axis
// (Ba et al. 2016), as PyTorch's nn.LayerNorm with one normalised
// dimension: parameters weight (ones) and bias (zeros).
type LayerNormalization struct {
	Weight, Bias *autograd.Variable
	eps          float64
}

// NewLayerNormalization returns a layer-normalisation layer.
func NewLayerNormalization(cfg NormConfig) (*LayerNormalization, error) {
	cfg, err := cfg.check("LayerNormalization")
	if err != nil {
		return nil, err
	}
	w, b := affineParams(cfg)
	return &LayerNormalization{Weight: w, Bias: b, eps: cfg.Eps}, nil
}

// Forward normalises x (…, Size).
func (l *LayerNormalization) Forward(x *autograd.Variable) *autograd.Variable {
	return fn.LayerNorm(x, l.Weight, l.Bias, l.eps)
}

// Params returns weight and bias (none with NoAffine).
func (l *LayerNormalization) Params() []*autograd.Variable { return affineList(l.Weight, l.Bias) }

// BatchNormalization normalises each feature over the batch (Ioffe &
// Szegedy 2015), as PyTorch's nn.BatchNorm1d on (N, C) input: in training
// mode with the batch's statistics, folding them into running averages
// (running_var unbiased); in evaluation mode with the running averages.
type BatchNormalization struct {
	Weight, Bias *autograd.Variable
	// RunningMean and RunningVar are the population statistics (start 0
	// and 1), PyTorch's running_mean and running_var buffers.
	RunningMean, RunningVar []float64
	// BatchesTracked counts the training batches folded into them,
	// PyTorch's num_batches_tracked.
	BatchesTracked int
	cfg            NormConfig
	mode           autograd.Mode
	frozen         bool // an inference view, in evaluation mode
}

// NewBatchNormalization returns a batch-normalisation layer.
func NewBatchNormalization(cfg NormConfig) (*BatchNormalization, error) {
	cfg, err := cfg.check("BatchNormalization")
	if err != nil {
		return nil, err
	}
	w, b := affineParams(cfg)
	bn := &BatchNormalization{Weight: w, Bias: b, cfg: cfg, RunningMean: make([]float64, cfg.Size), RunningVar: make([]float64, cfg.Size)}
	for i := range bn.RunningVar {
		bn.RunningVar[i] = 1
	}
	return bn, nil
}

// SetMode selects batch statistics (Train) or the running ones (Eval).
func (l *BatchNormalization) SetMode(m autograd.Mode) {
	checkThawed("BatchNormalization", l.frozen, m)
	l.mode = m
}

// Forward normalises x (N, Size).
func (l *BatchNormalization) Forward(x *autograd.Variable) *autograd.Variable {
	if l.mode == autograd.Eval {
		return fn.FixedBatchNorm(x, l.Weight, l.Bias, l.RunningMean, l.RunningVar, l.cfg.Eps)
	}
	var st fn.BatchNormStats
	y := fn.BatchNorm(x, l.Weight, l.Bias, l.cfg.Eps, &st)
	n := float64(x.Data.Dim(0))
	unbias := 1.0
	if n > 1 {
		unbias = n / (n - 1)
	}
	m := l.cfg.Momentum
	l.BatchesTracked++
	for i := range l.RunningMean {
		l.RunningMean[i] = (1-m)*l.RunningMean[i] + m*st.Mean[i]
		l.RunningVar[i] = (1-m)*l.RunningVar[i] + m*st.Var[i]*unbias
	}
	return y
}

// Params returns weight and bias (none with NoAffine).
func (l *BatchNormalization) Params() []*autograd.Variable { return affineList(l.Weight, l.Bias) }

// NamedParams yields ("weight", γ) and ("bias", β).
func (l *BatchNormalization) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) {
		for _, p := range l.Params() {
			if !yield(p.Name, p) {
				return
			}
		}
	}
}

// NamedBuffers yields PyTorch's buffers of nn.BatchNorm1d, so that its
// state dict round-trips: running_mean and running_var (Size), and
// num_batches_tracked (a scalar), all float64.
func (l *BatchNormalization) NamedBuffers() iter.Seq2[string, Buffer] {
	return func(yield func(string, Buffer) bool) {
		for _, name := range []string{"running_mean", "running_var"} {
			vals := &l.RunningMean
			if name == "running_var" {
				vals = &l.RunningVar
			}
			b := funcBuffer{
				value: func() *tensor.Tensor { return tensor.FromFloat64(slices.Clone(*vals)) },
				set: func(t *tensor.Tensor) error {
					if err := checkBufferShape(name, t, []int{len(*vals)}); err != nil {
						return err
					}
					if err := checkBufferValues(name, t, name == "running_var", false); err != nil {
						return err
					}
					copy(*vals, t.Values())
					return nil
				},
			}
			if !yield(name, b) {
				return
			}
		}
		yield("num_batches_tracked", funcBuffer{
			value: func() *tensor.Tensor { return tensor.Scalar(tensor.Float64, float64(l.BatchesTracked)) },
			set: func(t *tensor.Tensor) error {
				if err := checkBufferShape("num_batches_tracked", t, []int{}); err != nil {
					return err
				}
				if err := checkBufferValues("num_batches_tracked", t, true, true); err != nil {
					return err
				}
				l.BatchesTracked = int(t.Item())
				return nil
			},
		})
	}
}
