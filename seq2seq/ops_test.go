package seq2seq

import (
	"fmt"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/tensor"
)

func randT(rng *tensor.RNG, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float64, shape...)
	t.RandNormal(rng, 0, 1)
	return t
}

// TestAttentionKernelGradients checks each score with the masked softmax
// and the context, with rows sharing memory and masks of every length.
func TestAttentionKernelGradients(t *testing.T) {
	const B, S, D = 3, 4, 5
	lengths := []int{2, 4, 1}
	cases := []struct {
		name string
		rows []int
	}{
		{"identity", nil},
		{"shared", []int{1, 0, 1, 2, 2}},
	}
	for _, kind := range []Attention{Dot, General, Additive} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%v/%s", kind, c.name), func(t *testing.T) {
				N := B
				if c.rows != nil {
					N = len(c.rows)
				}
				lens := make([]int, N)
				for n := range lens {
					lens[n] = lengths[rowOf(c.rows, n)]
				}
				rng := tensor.NewRNG(7)
				keys, mem, q, v := randT(rng, B, S, D), randT(rng, B, S, D), randT(rng, N, D), randT(rng, D)
				f := func(xs []*autograd.Variable) []*autograd.Variable {
					var s *autograd.Variable
					if kind == Additive {
						s = additiveScores(xs[0], xs[2], xs[3], c.rows)
					} else {
						s = dotScores(xs[0], xs[2], c.rows)
					}
					w := maskedSoftmax(s, lens)
					return []*autograd.Variable{w, contextVectors(w, xs[1], c.rows)}
				}
				if err := gradcheck.Check(f, []*tensor.Tensor{keys, mem, q, v}, nil); err != nil {
					t.Fatal(err)
				}
				w := f([]*autograd.Variable{autograd.NewVariable(keys), autograd.NewVariable(mem), autograd.NewVariable(q), autograd.NewVariable(v)})[0].Data
				for n, l := range lens {
					sum := 0.0
					for s := range S {
						a := w.At(n, s)
						if s >= l && a != 0 {
							t.Errorf("row %d: weight %g at padded position %d (length %d)", n, a, s, l)
						}
						sum += a
					}
					if sum < 1-1e-12 || sum > 1+1e-12 {
						t.Errorf("row %d: weights sum to %g", n, sum)
					}
				}
			})
		}
	}
}

// TestKernelsFloat32 compares the float32 kernels with float64.
func TestKernelsFloat32(t *testing.T) {
	rng := tensor.NewRNG(3)
	keys, q, v := randT(rng, 2, 3, 4), randT(rng, 3, 4), randT(rng, 4)
	rows, lens := []int{0, 1, 1}, []int{3, 2, 2}
	run := func(dt tensor.DType) []*tensor.Tensor {
		k, qq, vv := autograd.NewParameter(keys.AsType(dt)), autograd.NewParameter(q.AsType(dt)), autograd.NewParameter(v.AsType(dt))
		w1 := maskedSoftmax(dotScores(k, qq, rows), lens)
		w2 := maskedSoftmax(additiveScores(k, qq, vv, rows), lens)
		c := contextVectors(w2, k, rows)
		return []*tensor.Tensor{w1.Data, w2.Data, c.Data}
	}
	a, b := run(tensor.Float64), run(tensor.Float32)
	for i := range a {
		if !tensor.AllClose(b[i], a[i], 1e-5, 1e-6) {
			t.Errorf("output %d: float32 %v, float64 %v", i, b[i], a[i])
		}
	}
}

func TestKernelPanics(t *testing.T) {
	rng := tensor.NewRNG(1)
	k := autograd.NewVariable(randT(rng, 2, 3, 4))
	for name, f := range map[string]func(){
		"query width":    func() { dotScores(k, autograd.NewVariable(randT(rng, 2, 5)), nil) },
		"rows length":    func() { dotScores(k, autograd.NewVariable(randT(rng, 3, 4)), []int{0, 1}) },
		"rows range":     func() { dotScores(k, autograd.NewVariable(randT(rng, 2, 4)), []int{0, 2}) },
		"no row map":     func() { dotScores(k, autograd.NewVariable(randT(rng, 3, 4)), nil) },
		"softmax length": func() { maskedSoftmax(autograd.NewVariable(randT(rng, 2, 3)), []int{0, 3}) },
		"softmax rows":   func() { maskedSoftmax(autograd.NewVariable(randT(rng, 2, 3)), []int{3}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
