package nn_test

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// A two-layer bidirectional LSTM over three sequences of different lengths,
// given in any order: outputs come back per sequence in the same order, and
// the final states are (layers·directions, batch, hidden) as in PyTorch.
func ExampleNStepLSTM() {
	rng := tensor.NewRNG(1)
	lstm, err := nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: 8, HiddenSize: 16, Layers: 2, Bidirectional: true, Dropout: 0.2}, rng)
	if err != nil {
		panic(err)
	}
	var xs []*autograd.Variable
	for _, n := range []int{5, 2, 7} {
		x := tensor.New(tensor.Float32, n, 8)
		x.RandNormal(rng, 0, 1)
		xs = append(xs, autograd.NewVariable(x))
	}
	ys, st := lstm.Forward(xs, nn.State{}) // the zero State starts from zeros
	fmt.Println("h:", st.H.Shape(), "c:", st.C.Shape())
	for _, y := range ys {
		fmt.Println("output:", y.Shape())
	}
	// Output:
	// h: [4 3 16] c: [4 3 16]
	// output: [5 32]
	// output: [2 32]
	// output: [7 32]
}

// Truncated backpropagation through time with a stateful LSTM link, as in
// the study deck: run k steps accumulating the loss, Backward, cut the graph
// with UnchainBackward, update; the state carries over to the next chunk.
func ExampleLSTM_truncatedBPTT() {
	rng := tensor.NewRNG(1)
	lstm, _ := nn.NewLSTM(nn.CellConfig{InputSize: 1, HiddenSize: 8}, rng)
	out := autograd.NewParameter(tensor.New(tensor.Float32, 1, 8))
	out.Data.RandNormal(rng, 0, 0.3)
	params := append(lstm.Params(), out)

	// Predict the next value of a sine wave, one sequence (batch 1).
	wave := func(t int) *autograd.Variable {
		return autograd.NewVariable(tensor.FromFloat32([]float32{float32(sinApprox(t))}, 1, 1))
	}
	const k = 10 // BPTT length
	var first, last float64
	for chunk := 0; chunk < 60; chunk++ {
		var loss *autograd.Variable
		for s := 0; s < k; s++ {
			t := chunk*k + s
			h := lstm.Advance(wave(t))
			l := fn.MeanSquaredError(fn.Linear(h, out, nil), wave(t+1))
			if loss == nil {
				loss = l
			} else {
				loss = fn.Add(loss, l)
			}
		}
		autograd.ClearGrads(params)
		loss.Backward()
		loss.UnchainBackward()
		for _, p := range params {
			p.Data.Axpy(-0.05, p.Grad)
		}
		if chunk == 0 {
			first = loss.Data.Item() / k
		}
		last = loss.Data.Item() / k
	}
	fmt.Println("loss fell:", last < first/4)
	// Output: loss fell: true
}

// sinApprox is sin(2πt/20) from a table, so the example prints the same on
// every platform.
func sinApprox(t int) float64 {
	table := [20]float64{0, 0.309, 0.588, 0.809, 0.951, 1, 0.951, 0.809, 0.588, 0.309, 0, -0.309, -0.588, -0.809, -0.951, -1, -0.951, -0.809, -0.588, -0.309}
	return table[t%20]
}
