package fn_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/autograd/gradcheck"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// normCase returns the inputs of a normalised sequence: those of
// recurrentCase (with biases) followed by the gains (and the LSTM cell's
// gain and bias).
func normCase(cell fn.Cell, bs []int, in, hidden int, peep bool, seed uint64) []*tensor.Tensor {
	ts := recurrentCase(cell, bs, in, hidden, true, peep, seed)
	g := cell.Gates() * hidden
	gain := func(s uint64, n int) *tensor.Tensor {
		t := randn(s, n)
		t.Scale(0.3)
		for i := range t.Size() {
			t.SetFlat(i, t.AtFlat(i)+1)
		}
		return t
	}
	ts = append(ts, gain(seed+10, g), gain(seed+11, g))
	if cell == fn.LSTMCellKind {
		ts = append(ts, gain(seed+12, hidden), randn(seed+13, hidden))
	}
	return ts
}

func normFunc(cell fn.Cell, seq fn.Sequence, peep bool) gradcheck.Func {
	return func(v []*V) []*V { return runSequence(cell, seq, v, true, peep, true) }
}

func TestNormalizedSequenceGradients(t *testing.T) {
	bs := []int{4, 4, 3, 2}
	const I, H = 3, 4
	pop := &fn.RecurrentNormStats{}
	for range 2 { // population statistics for two steps; later steps reuse the last
		pop.X = append(pop.X, fn.BatchNormStats{Mean: seq(16, 0.1), Var: seq(16, 1.1)})
		pop.H = append(pop.H, fn.BatchNormStats{Mean: seq(16, -0.1), Var: seq(16, 0.9)})
		pop.C = append(pop.C, fn.BatchNormStats{Mean: seq(4, 0.05), Var: seq(4, 0.7)})
	}
	kinds := []struct {
		name string
		norm fn.RecurrentNorm
	}{
		{"layer", fn.RecurrentNorm{Kind: fn.LayerNormKind}},
		{"batch", fn.RecurrentNorm{Kind: fn.BatchNormKind}},
		{"batchEval", fn.RecurrentNorm{Kind: fn.BatchNormKind, Population: pop}},
	}
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind} {
		for _, k := range kinds {
			for _, rev := range []bool{false, true} {
				for _, extras := range []bool{false, true} {
					if extras && cell != fn.LSTMCellKind {
						continue
					}
					t.Run(fmt.Sprintf("%v/%s/rev%v/peepMasks%v", cell, k.name, rev, extras), func(t *testing.T) {
						norm := k.norm
						if cell == fn.GRUCellKind && norm.Population != nil {
							p := *norm.Population
							for i := range p.X {
								p.X[i] = fn.BatchNormStats{Mean: seq(12, 0.1), Var: seq(12, 1.1)}
								p.H[i] = fn.BatchNormStats{Mean: seq(12, -0.1), Var: seq(12, 0.9)}
							}
							norm.Population = &p
						}
						sq := fn.Sequence{BatchSizes: bs, Reverse: rev, Norm: norm}
						if extras {
							sq.Masks = fn.RecurrentMasks{H: binaryMask(1, 0.3, 4, H), ZoneC: zoneMask(2, 0.3, 13, H, false)}
						}
						inputs := normCase(cell, bs, I, H, extras, 31)
						if err := gradcheck.Check(normFunc(cell, sq, extras), inputs, nil); err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		}
	}
}

// seq returns n values around base (a deterministic spread).
func seq(n int, base float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = base + 0.01*float64(i)
	}
	return v
}

// TestLayerNormLSTMMatchesComposition checks the fused LN-LSTM against the
// same step built from fn.LayerNorm and elementary functions.
func TestLayerNormLSTMMatchesComposition(t *testing.T) {
	bs := []int{2, 2, 1}
	const I, H = 3, 4
	in := normCase(fn.LSTMCellKind, bs, I, H, false, 41)
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x)
	}
	ys, _, _ := normFunc(fn.LSTMCellKind, fn.Sequence{BatchSizes: bs, Norm: fn.RecurrentNorm{Kind: fn.LayerNormKind}}, false)(v)[0], 0, 0
	offs := []int{0, 2, 4}
	for seqi := 0; seqi < 2; seqi++ {
		h := fn.Slice(v[1], 0, seqi, seqi+1)
		c := fn.Slice(v[2], 0, seqi, seqi+1)
		for step := 0; step < 3 && bs[step] > seqi; step++ {
			x := fn.Slice(v[0], 0, offs[step]+seqi, offs[step]+seqi+1)
			a := fn.Add(fn.Add(fn.LayerNorm(fn.Linear(x, v[3], nil), v[7], nil, 1e-5), fn.LayerNorm(fn.Linear(h, v[4], nil), v[8], nil, 1e-5)), fn.Add(v[5], v[6]))
			p := fn.Split(a, []int{H, H, H, H}, 1)
			c = fn.Add(fn.Mul(fn.Sigmoid(p[1]), c), fn.Mul(fn.Sigmoid(p[0]), fn.Tanh(p[2])))
			h = fn.Mul(fn.Sigmoid(p[3]), fn.Tanh(fn.LayerNorm(c, v[9], v[10], 1e-5)))
			if !tensor.AllClose(ys.Data.Index(offs[step]+seqi), h.Data.Reshape(H), 1e-12, 1e-12) {
				t.Fatalf("seq %d step %d: fused %v, composed %v", seqi, step, ys.Data.Index(offs[step]+seqi), h.Data)
			}
		}
	}
}

// TestBatchNormObservedStats: in training mode the kernel reports each
// step's batch statistics; the input projection's mean over the batch is
// the mean of W_ih·x over the step's rows.
func TestBatchNormObservedStats(t *testing.T) {
	bs := []int{3, 2}
	in := normCase(fn.GRUCellKind, bs, 2, 3, false, 51)
	v := make([]*V, len(in))
	for i, x := range in {
		v[i] = autograd.NewVariable(x)
	}
	obs := &fn.RecurrentNormStats{}
	normFunc(fn.GRUCellKind, fn.Sequence{BatchSizes: bs, Norm: fn.RecurrentNorm{Kind: fn.BatchNormKind, Observed: obs}}, false)(v)
	if len(obs.X) != 2 || len(obs.H) != 2 || len(obs.X[1].Mean) != 9 {
		t.Fatalf("observed stats %+v", obs)
	}
	proj := fn.Linear(v[0], v[2], nil).Data // rows 0-2 step 0, 3-4 step 1
	for j := 0; j < 9; j++ {
		want := (proj.At(3, j) + proj.At(4, j)) / 2
		if math.Abs(obs.X[1].Mean[j]-want) > 1e-12 {
			t.Fatalf("step 1 mean[%d] = %v, want %v", j, obs.X[1].Mean[j], want)
		}
	}
}
