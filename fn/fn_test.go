package fn_test

import (
	"math"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/tensor"
)

type V = autograd.Variable

// randn returns a float64 tensor of normal values from a fixed seed.
func randn(seed uint64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float64, shape...)
	t.RandNormal(tensor.NewRNG(seed), 0, 1)
	return t
}

// positive returns a float64 tensor with values in [0.5, 2).
func positive(seed uint64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float64, shape...)
	t.RandUniform(tensor.NewRNG(seed), 0.5, 2)
	return t
}

// awayFromZero returns normal values pushed away from 0, so that ReLU's kink
// is not within a finite-difference step.
func awayFromZero(seed uint64, shape ...int) *tensor.Tensor {
	t := randn(seed, shape...)
	for i, v := range t.Float64s() {
		if math.Abs(v) < 0.1 {
			t.Float64s()[i] = 0.1 + v
		}
	}
	return t
}

func single(f func(xs []*V) *V) gradcheck.Func {
	return func(xs []*V) []*V { return []*V{f(xs)} }
}

// TestGradients checks every differentiable function of the package against
// central finite differences in float64.
func TestGradients(t *testing.T) {
	labels := []int{2, 0, -1, 4}
	cond := []bool{true, false, false, true, true, false}
	rowCond := []bool{false, true, true}
	ids := []int{3, 0, 3, -1, 1}
	mask := tensor.FromFloat64([]float64{2, 0, 2, 2, 0, 2}, 2, 3)
	probs := positive(7, 3, 4)
	probs.Scale(0.45) // targets in [0.225, 0.9)
	tests := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
		noGrad []int
	}{
		{"Add", single(func(x []*V) *V { return fn.Add(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 3, 4)}, nil},
		{"AddRowBroadcast", single(func(x []*V) *V { return fn.Add(x[0], x[1]) }), []*tensor.Tensor{randn(1, 2, 3, 4), randn(2, 4)}, nil},
		{"AddBroadcastLeft", single(func(x []*V) *V { return fn.Add(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 2, 3, 4)}, nil},
		{"AddScalarTensor", single(func(x []*V) *V { return fn.Add(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2)}, nil},
		{"Sub", single(func(x []*V) *V { return fn.Sub(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 4)}, nil},
		{"Mul", single(func(x []*V) *V { return fn.Mul(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 3, 4)}, nil},
		{"MulRowBroadcast", single(func(x []*V) *V { return fn.Mul(x[0], x[1]) }), []*tensor.Tensor{randn(1, 5, 4), randn(2, 4)}, nil},
		{"Div", single(func(x []*V) *V { return fn.Div(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), positive(2, 3, 4)}, nil},
		{"DivRowBroadcast", single(func(x []*V) *V { return fn.Div(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), positive(2, 4)}, nil},
		{"DivByScalar", single(func(x []*V) *V { return fn.Div(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), positive(2, 1)}, nil},
		{"MulScalar", single(func(x []*V) *V { return fn.MulScalar(x[0], -2.5) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"AddScalar", single(func(x []*V) *V { return fn.AddScalar(x[0], 1.5) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"Neg", single(func(x []*V) *V { return fn.Neg(x[0]) }), []*tensor.Tensor{randn(1, 3)}, nil},
		{"MatMul", single(func(x []*V) *V { return fn.MatMul(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 4, 5)}, nil},
		{"Linear", single(func(x []*V) *V { return fn.Linear(x[0], x[1], x[2]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 5, 4), randn(3, 5)}, nil},
		{"Linear3D", single(func(x []*V) *V { return fn.Linear(x[0], x[1], x[2]) }), []*tensor.Tensor{randn(1, 2, 3, 4), randn(2, 5, 4), randn(3, 5)}, nil},
		{"LinearNoBias", single(func(x []*V) *V { return fn.Linear(x[0], x[1], nil) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 5, 4)}, nil},
		{"Sum", single(func(x []*V) *V { return fn.Sum(x[0]) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"Mean", single(func(x []*V) *V { return fn.Mean(x[0]) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"SumAxis0", single(func(x []*V) *V { return fn.SumAxis(x[0], 0) }), []*tensor.Tensor{randn(1, 3, 4, 2)}, nil},
		{"SumAxis1", single(func(x []*V) *V { return fn.SumAxis(x[0], 1) }), []*tensor.Tensor{randn(1, 3, 4, 2)}, nil},
		{"MeanAxisLast", single(func(x []*V) *V { return fn.MeanAxis(x[0], -1) }), []*tensor.Tensor{randn(1, 3, 4, 2)}, nil},
		{"Reshape", single(func(x []*V) *V { return fn.Mul(fn.Reshape(x[0], 4, -1), x[1]) }), []*tensor.Tensor{randn(1, 2, 6), randn(2, 4, 3)}, nil},
		{"Transpose2D", single(func(x []*V) *V { return fn.Transpose(x[0]) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"Transpose3D", single(func(x []*V) *V { return fn.Transpose(x[0], 1, 2, 0) }), []*tensor.Tensor{randn(1, 2, 3, 4)}, nil},
		{"Concat0", single(func(x []*V) *V { return fn.Concat(x, 0) }), []*tensor.Tensor{randn(1, 2, 3), randn(2, 1, 3), randn(3, 4, 3)}, nil},
		{"Concat1", single(func(x []*V) *V { return fn.Concat(x, 1) }), []*tensor.Tensor{randn(1, 2, 3, 2), randn(2, 2, 1, 2)}, nil},
		{"ConcatLast", single(func(x []*V) *V { return fn.Concat(x, -1) }), []*tensor.Tensor{randn(1, 2, 3), randn(2, 2, 5)}, nil},
		{"Split", func(x []*V) []*V { return fn.Split(x[0], []int{1, 2, 3}, 1) }, []*tensor.Tensor{randn(1, 2, 6, 2)}, nil},
		{"Slice", single(func(x []*V) *V { return fn.Slice(x[0], -1, 1, 3) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"Sigmoid", single(func(x []*V) *V { return fn.Sigmoid(x[0]) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"Tanh", single(func(x []*V) *V { return fn.Tanh(x[0]) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"ReLU", single(func(x []*V) *V { return fn.ReLU(x[0]) }), []*tensor.Tensor{awayFromZero(1, 3, 4)}, nil},
		{"Exp", single(func(x []*V) *V { return fn.Exp(x[0]) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"Log", single(func(x []*V) *V { return fn.Log(x[0]) }), []*tensor.Tensor{positive(1, 3, 4)}, nil},
		{"Softmax", single(func(x []*V) *V { return fn.Softmax(x[0]) }), []*tensor.Tensor{randn(1, 3, 5)}, nil},
		{"Softmax3D", single(func(x []*V) *V { return fn.Softmax(x[0]) }), []*tensor.Tensor{randn(1, 2, 3, 4)}, nil},
		{"Square", single(func(x []*V) *V { return fn.Square(x[0]) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"LogSoftmax", single(func(x []*V) *V { return fn.LogSoftmax(x[0]) }), []*tensor.Tensor{randn(1, 3, 5)}, nil},
		{"SoftmaxCrossEntropyMean", single(func(x []*V) *V { return fn.SoftmaxCrossEntropy(x[0], labels, -1, fn.ReduceMean) }), []*tensor.Tensor{randn(1, 4, 5)}, nil},
		{"SoftmaxCrossEntropySum", single(func(x []*V) *V { return fn.SoftmaxCrossEntropy(x[0], labels, -1, fn.ReduceSum) }), []*tensor.Tensor{randn(1, 4, 5)}, nil},
		{"SoftmaxCrossEntropyIgnorePad", single(func(x []*V) *V { return fn.SoftmaxCrossEntropy(x[0], []int{0, 4, 0, 1}, 0, fn.ReduceMean) }), []*tensor.Tensor{randn(1, 2, 2, 5)}, nil},
		{"LinearSoftmaxCrossEntropy", single(func(x []*V) *V { return fn.LinearSoftmaxCrossEntropy(x[0], x[1], x[2], labels, -1, fn.ReduceMean) }), []*tensor.Tensor{randn(1, 2, 2, 3), randn(2, 5, 3), randn(3, 5)}, nil},
		{"LinearSoftmaxCrossEntropyNoBiasSum", single(func(x []*V) *V {
			return fn.LinearSoftmaxCrossEntropy(x[0], x[1], nil, []int{0, 4, 0, 1}, 0, fn.ReduceSum)
		}), []*tensor.Tensor{randn(1, 4, 3), randn(2, 5, 3)}, nil},
		{"SigmoidCrossEntropyMean", single(func(x []*V) *V { return fn.SigmoidCrossEntropy(x[0], probs, fn.ReduceMean) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"SigmoidCrossEntropySum", single(func(x []*V) *V { return fn.SigmoidCrossEntropy(x[0], probs, fn.ReduceSum) }), []*tensor.Tensor{randn(1, 3, 4)}, nil},
		{"MeanSquaredError", single(func(x []*V) *V { return fn.MeanSquaredError(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 3, 4)}, nil},
		{"EmbedID", single(func(x []*V) *V { return fn.EmbedID(ids, x[0], -1) }), []*tensor.Tensor{randn(1, 4, 3)}, nil},
		{"GatherRows", single(func(x []*V) *V { return fn.GatherRows(x[0], []int{2, -1, 0, 2}) }), []*tensor.Tensor{randn(1, 3, 2, 2)}, nil},
		{"WeightNorm", single(func(x []*V) *V { return fn.WeightNorm(x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 3)}, nil},
		{"WeightNorm3D", single(func(x []*V) *V { return fn.WeightNorm(x[0], x[1]) }), []*tensor.Tensor{randn(1, 2, 3, 2), randn(2, 2)}, nil},
		{"WhereElementwise", single(func(x []*V) *V { return fn.Where(cond, x[0], x[1]) }), []*tensor.Tensor{randn(1, 2, 3), randn(2, 2, 3)}, nil},
		{"WherePerRow", single(func(x []*V) *V { return fn.Where(rowCond, x[0], x[1]) }), []*tensor.Tensor{randn(1, 3, 4), randn(2, 3, 4)}, nil},
		{"DropoutMask", single(func(x []*V) *V { return fn.DropoutMask(x[0], mask) }), []*tensor.Tensor{randn(1, 2, 3)}, nil},
		{"Dropout", single(func(x []*V) *V { return fn.Dropout(x[0], 0.4, tensor.NewRNG(5), autograd.Train) }), []*tensor.Tensor{randn(1, 4, 5)}, nil},
		{"Composite", single(func(x []*V) *V {
			// A two-layer net with a shared weight used twice.
			h := fn.Tanh(fn.Linear(x[0], x[1], x[2]))
			h = fn.Sigmoid(fn.Linear(h, x[1], nil))
			return fn.SoftmaxCrossEntropy(h, []int{1, 0, 2}, -1, fn.ReduceMean)
		}), []*tensor.Tensor{randn(1, 3, 4), randn(2, 4, 4), randn(3, 4)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := gradcheck.Check(tc.f, tc.inputs, &gradcheck.Options{NoGrad: tc.noGrad}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGradcheckCatchesWrongGradient makes sure the checker can fail: a
// function whose backward is off by a factor must be reported.
func TestGradcheckCatchesWrongGradient(t *testing.T) {
	f := single(func(x []*V) *V { return autograd.Apply1(&badSquare{}, x[0]) })
	err := gradcheck.Check(f, []*tensor.Tensor{randn(1, 3)}, nil)
	if err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("wrong gradient not caught: %v", err)
	}
}

// badSquare computes x² with the gradient x instead of 2x.
type badSquare struct{}

func (badSquare) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	y := in[0].Clone()
	for i := range y.Size() {
		y.SetFlat(i, y.AtFlat(i)*y.AtFlat(i))
	}
	return []*tensor.Tensor{y}
}

func (badSquare) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	g := gy[0].Clone()
	for i := range g.Size() {
		g.SetFlat(i, g.AtFlat(i)*in[0].AtFlat(i))
	}
	return []*tensor.Tensor{g}
}

func v32(data []float32, shape ...int) *V {
	return autograd.NewParameter(tensor.FromFloat32(data, shape...))
}

func closeTo(t *testing.T, name string, got *tensor.Tensor, want []float64, tol float64) {
	t.Helper()
	if got.Size() != len(want) {
		t.Fatalf("%s: %d values, want %d", name, got.Size(), len(want))
	}
	for i, w := range want {
		if math.Abs(got.AtFlat(i)-w) > tol {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestValuesHandComputed(t *testing.T) {
	x := v32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	w := v32([]float32{1, 0, -1, 0.5, 0.5, 0.5}, 2, 3)
	bias := v32([]float32{1, -1}, 2)
	// x·Wᵀ + b: row 1: [1-3+1, 3-1] = [-1, 2]; row 2: [4-6+1, 7.5-1] = [-1, 6.5]
	closeTo(t, "Linear", fn.Linear(x, w, bias).Data, []float64{-1, 2, -1, 6.5}, 1e-6)
	closeTo(t, "SumAxis0", fn.SumAxis(x, 0).Data, []float64{5, 7, 9}, 0)
	closeTo(t, "MeanAxis1", fn.MeanAxis(x, 1).Data, []float64{2, 5}, 1e-6)
	// softmax([0, ln 3]) = [1/4, 3/4]
	s := fn.Softmax(v32([]float32{0, float32(math.Log(3))}, 1, 2))
	closeTo(t, "Softmax", s.Data, []float64{0.25, 0.75}, 1e-6)
	// cross-entropy of logits [0, ln 3] with label 1: −log(3/4)
	ce := fn.SoftmaxCrossEntropy(v32([]float32{0, float32(math.Log(3))}, 1, 2), []int{1}, -1, fn.ReduceMean)
	closeTo(t, "SoftmaxCrossEntropy", ce.Data, []float64{-math.Log(0.75)}, 1e-6)
	// Large logits must not overflow.
	big := fn.LogSoftmax(v32([]float32{1000, 1000}, 1, 2))
	closeTo(t, "LogSoftmax large", big.Data, []float64{-math.Ln2, -math.Ln2}, 1e-6)
	closeTo(t, "SigmoidCrossEntropy", fn.SigmoidCrossEntropy(v32([]float32{0, 1000, -1000}, 3), tensor.FromFloat32([]float32{1, 1, 0}, 3), fn.ReduceSum).Data, []float64{math.Ln2}, 1e-6)
	closeTo(t, "MSE", fn.MeanSquaredError(v32([]float32{1, 2}, 2), v32([]float32{3, 2}, 2)).Data, []float64{2}, 0)
	closeTo(t, "Sigmoid", fn.Sigmoid(v32([]float32{0, 100, -100}, 3)).Data, []float64{0.5, 1, 0}, 1e-7)
	closeTo(t, "ReLU", fn.ReLU(v32([]float32{-1, 0, 2}, 3)).Data, []float64{0, 0, 2}, 0)
	closeTo(t, "Square", fn.Square(v32([]float32{-3, 0, 0.5}, 3)).Data, []float64{9, 0, 0.25}, 0)
	cat := fn.Concat([]*V{x, v32([]float32{7, 8}, 2, 1)}, 1)
	closeTo(t, "Concat", cat.Data, []float64{1, 2, 3, 7, 4, 5, 6, 8}, 0)
	parts := fn.Split(x, []int{2, 1}, 1)
	closeTo(t, "Split[1]", parts[1].Data, []float64{3, 6}, 0)
	closeTo(t, "Where per row", fn.Where([]bool{false, true}, x, fn.Neg(x)).Data, []float64{-1, -2, -3, 4, 5, 6}, 0)
	emb := fn.EmbedID([]int{1, -1, 0}, w, -1)
	closeTo(t, "EmbedID", emb.Data, []float64{0.5, 0.5, 0.5, 0, 0, 0, 1, 0, -1}, 0)
}

func TestSoftmaxCrossEntropyIgnoreAndReduction(t *testing.T) {
	logits := tensor.FromFloat64([]float64{1, 2, 3, 1, 2, 3, 5, 0, 0}, 3, 3)
	l0 := -math.Log(math.Exp(3) / (math.Exp(1) + math.Exp(2) + math.Exp(3)))
	tests := []struct {
		labels []int
		reduce fn.Reduction
		want   float64
	}{
		{[]int{2, 2, -1}, fn.ReduceMean, l0},
		{[]int{2, 2, -1}, fn.ReduceSum, 2 * l0},
		{[]int{-1, -1, -1}, fn.ReduceMean, 0},
	}
	for _, tc := range tests {
		x := autograd.NewParameter(logits.Clone())
		loss := fn.SoftmaxCrossEntropy(x, tc.labels, -1, tc.reduce)
		if math.Abs(loss.Data.Item()-tc.want) > 1e-12 {
			t.Errorf("labels %v reduce %v: loss %v, want %v", tc.labels, tc.reduce, loss.Data.Item(), tc.want)
		}
		loss.Backward()
		for j := 0; j < 3; j++ {
			if x.Grad.At(2, j) != 0 {
				t.Errorf("ignored row got gradient %v", x.Grad)
			}
		}
	}
}

func TestDropout(t *testing.T) {
	x := autograd.NewParameter(tensor.New(tensor.Float32, 100, 100))
	x.Data.Fill(1)
	if y := fn.Dropout(x, 0.3, nil, autograd.Eval); y != x {
		t.Fatal("Dropout in eval mode is not the identity")
	}
	y1 := fn.Dropout(x, 0.3, tensor.NewRNG(9), autograd.Train)
	y2 := fn.Dropout(x, 0.3, tensor.NewRNG(9), autograd.Train)
	if !tensor.Equal(y1.Data, y2.Data) {
		t.Fatal("same seed gave different masks")
	}
	zeros := 0
	for _, v := range y1.Data.Float32s() {
		switch {
		case v == 0:
			zeros++
		case math.Abs(float64(v)-1/0.7) > 1e-6:
			t.Fatalf("kept value %v, want 1/0.7", v)
		}
	}
	if frac := float64(zeros) / 1e4; math.Abs(frac-0.3) > 0.02 {
		t.Fatalf("dropped fraction %v, want ≈ 0.3", frac)
	}
	// Expectation preserved.
	if m := y1.Data.Sum() / 1e4; math.Abs(m-1) > 0.03 {
		t.Fatalf("mean after dropout %v, want ≈ 1", m)
	}
}

func TestFloat32MatchesFloat64(t *testing.T) {
	x64 := randn(3, 4, 6)
	w64 := randn(4, 5, 6)
	x32, w32 := x64.AsType(tensor.Float32), w64.AsType(tensor.Float32)
	f := func(x, w *tensor.Tensor) *tensor.Tensor {
		h := fn.Tanh(fn.Linear(autograd.NewVariable(x), autograd.NewVariable(w), nil))
		return fn.LogSoftmax(h).Data
	}
	if !tensor.AllClose(f(x32, w32), f(x64, w64), 1e-5, 1e-6) {
		t.Fatal("float32 and float64 results differ")
	}
}

func TestMisusePanics(t *testing.T) {
	a := autograd.NewVariable(tensor.New(tensor.Float32, 2, 3))
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"broadcast", func() { fn.Add(a, autograd.NewVariable(tensor.New(tensor.Float32, 2))) }, "[2 3] and [2]"},
		{"dtype", func() { fn.Add(a, autograd.NewVariable(tensor.New(tensor.Float64, 2, 3))) }, "float32"},
		{"matmul", func() { fn.MatMul(a, a) }, "[2 3] and [2 3]"},
		{"linear", func() { fn.Linear(a, autograd.NewVariable(tensor.New(tensor.Float32, 4, 2)), nil) }, "[4 2]"},
		{"label", func() { fn.SoftmaxCrossEntropy(a, []int{0, 3}, -1, fn.ReduceMean) }, "label 3"},
		{"labels", func() { fn.SoftmaxCrossEntropy(a, []int{0}, -1, fn.ReduceMean) }, "1 labels"},
		{"linear-ce shapes", func() {
			fn.LinearSoftmaxCrossEntropy(a, autograd.NewVariable(tensor.New(tensor.Float32, 4, 2)), nil, []int{0, 0}, -1, fn.ReduceMean)
		}, "W [4 2]"},
		{"linear-ce label", func() {
			fn.LinearSoftmaxCrossEntropy(a, autograd.NewVariable(tensor.New(tensor.Float32, 4, 3)), nil, []int{0, 4}, -1, fn.ReduceMean)
		}, "label 4"},
		{"linear-ce labels", func() {
			fn.LinearSoftmaxCrossEntropy(a, autograd.NewVariable(tensor.New(tensor.Float32, 4, 3)), nil, []int{0}, -1, fn.ReduceMean)
		}, "1 labels"},
		{"embed", func() { fn.EmbedID([]int{5}, a, -1) }, "id 5"},
		{"where", func() { fn.Where([]bool{true}, a, a) }, "[2 3]"},
		{"dropout", func() { fn.Dropout(a, 1, tensor.NewRNG(1), autograd.Train) }, "ratio 1"},
		{"split", func() { fn.Split(a, []int{1, 1}, 1) }, "[2 3]"},
		{"concat", func() { fn.Concat([]*V{a, autograd.NewVariable(tensor.New(tensor.Float32, 3, 3))}, 1) }, "[3 3]"},
		{"sumaxis", func() { fn.SumAxis(a, 2) }, "[2 3]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Recover(tc.f)
			if r == nil {
				t.Fatal("no panic")
			}
			if s, _ := r.(string); !strings.Contains(s, tc.want) {
				t.Fatalf("panic %v does not mention %q", r, tc.want)
			}
		})
	}
}

// randomLabels returns rows labels drawn from [0, n) by an RNG seeded with
// seed, then -1 (ignored) at the rows r with r%every == at.
func randomLabels(seed uint64, rows, n, every, at int) []int {
	labels := make([]int, rows)
	rng := tensor.NewRNG(seed)
	for r := range labels {
		labels[r] = rng.IntN(n)
		if r%every == at {
			labels[r] = -1
		}
	}
	return labels
}

// TestSoftmaxCrossEntropyLarge checks the row-parallel kernels on a batch
// big enough to be split across threads, in both precisions, against a
// plain float64 computation, and that a second backward pass through the
// same graph (which must recompute the consumed probabilities) adds the
// same gradient again.
func TestSoftmaxCrossEntropyLarge(t *testing.T) {
	const rows, n = 300, 517
	x64 := randn(4, rows, n)
	x64.Scale(3)
	labels := randomLabels(5, rows, n, 7, 3)
	want := 0.0
	count := 0
	wantGrad := make([]float64, rows*n)
	xs := x64.Float64s()
	for _, l := range labels {
		if l >= 0 {
			count++
		}
	}
	for r, l := range labels {
		if l < 0 {
			continue
		}
		row := xs[r*n : (r+1)*n]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - m)
		}
		want += (math.Log(s) - (row[l] - m)) / float64(count)
		for j, v := range row {
			wantGrad[r*n+j] = math.Exp(v-m) / s / float64(count)
		}
		wantGrad[r*n+l] -= 1 / float64(count)
	}
	for _, tc := range []struct {
		dt      tensor.DType
		lossTol float64
		gradTol float64
	}{{tensor.Float64, 1e-12, 1e-15}, {tensor.Float32, 1e-5, 1e-8}} {
		x := autograd.NewParameter(x64.AsType(tc.dt))
		loss := fn.SoftmaxCrossEntropy(x, labels, -1, fn.ReduceMean)
		if got := loss.Data.Item(); math.Abs(got-want) > tc.lossTol*want {
			t.Errorf("%v: loss %v, want %v", tc.dt, got, want)
		}
		for pass := 1; pass <= 2; pass++ {
			loss.Backward()
			g := x.Grad.AsType(tensor.Float64).Float64s()
			for i := range g {
				if d := math.Abs(g[i] - float64(pass)*wantGrad[i]); d > tc.gradTol {
					t.Fatalf("%v pass %d: gradient[%d] = %v, want %v", tc.dt, pass, i, g[i], float64(pass)*wantGrad[i])
				}
			}
		}
	}
}

// TestLinearSoftmaxCrossEntropyMatchesComposition compares the fused output
// layer and loss with Linear followed by SoftmaxCrossEntropy — loss and
// every gradient, over two backward passes — in both precisions, at a
// size that uses the parallel row and column paths.
func TestLinearSoftmaxCrossEntropyMatchesComposition(t *testing.T) {
	const rows, in, classes = 150, 24, 1100
	labels := randomLabels(8, rows, classes, 9, 4)
	x0, w0, b0 := randn(9, rows, in), randn(10, classes, in), randn(11, classes)
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 2e-5
		}
		for _, bias := range []bool{true, false} {
			run := func(fused bool) []*tensor.Tensor {
				x, w := autograd.NewParameter(x0.AsType(dt)), autograd.NewParameter(w0.AsType(dt))
				var b *V
				if bias {
					b = autograd.NewParameter(b0.AsType(dt))
				}
				var loss *V
				if fused {
					loss = fn.LinearSoftmaxCrossEntropy(x, w, b, labels, -1, fn.ReduceMean)
				} else {
					loss = fn.SoftmaxCrossEntropy(fn.Linear(x, w, b), labels, -1, fn.ReduceMean)
				}
				loss.Backward()
				loss.Backward() // recomputes the consumed probabilities
				out := []*tensor.Tensor{loss.Data.AsType(tensor.Float64), x.Grad.AsType(tensor.Float64), w.Grad.AsType(tensor.Float64)}
				if bias {
					out = append(out, b.Grad.AsType(tensor.Float64))
				}
				return out
			}
			got, want := run(true), run(false)
			for i := range want {
				g, w := got[i].Float64s(), want[i].Float64s()
				for j := range w {
					if math.Abs(g[j]-w[j]) > tol*(1+math.Abs(w[j])) {
						t.Fatalf("%v bias %v: output %d element %d = %v, composition %v", dt, bias, i, j, g[j], w[j])
					}
				}
			}
		}
	}
}
