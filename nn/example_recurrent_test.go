package nn_test

import (
	"fmt"
	"slices"
	"sync"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/seq"
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

// One field of type nn.Recurrent holds any recurrent layer: the cell
// kind is picked once, from the configuration, and the rest of the code
// never looks at it. The State carries H and, for the LSTM only, C.
func ExampleRecurrent() {
	for _, cell := range []fn.Cell{fn.LSTMCellKind, fn.GRUCellKind} {
		var rnn nn.Recurrent
		rnn, err := nn.NewRecurrent(cell, nn.RecurrentConfig{InputSize: 4, HiddenSize: 8, Layers: 2}, tensor.NewRNG(1))
		if err != nil {
			panic(err)
		}
		// Truncated BPTT over two chunks of 3 steps for 2 rows, time-major
		// (row t·B + b), carrying the state between them.
		p := seq.MustPacking([]int{3, 3})
		var st nn.State
		for range 2 {
			x := autograd.NewVariable(tensor.New(tensor.Float32, 3*2, 4))
			var y *autograd.Variable
			y, st = rnn.ForwardPacked(x, p, st)
			st = st.Detach()
			fmt.Println(cell, "output", y.Shape(), "H", st.H.Shape(), "has C:", st.C != nil)
		}
	}
	// Output:
	// lstm output [6 8] H [2 2 8] has C: true
	// lstm output [6 8] H [2 2 8] has C: true
	// gru output [6 8] H [2 2 8] has C: false
	// gru output [6 8] H [2 2 8] has C: false
}

// A stepped link generates one step at a time through Stepper: each
// output is the next input.
func ExampleStepper() {
	var cell nn.Stepper
	cell, err := nn.NewRecurrentCell(fn.GRUCellKind, nn.CellConfig{InputSize: 3, HiddenSize: 3}, tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	x := autograd.NewVariable(tensor.New(tensor.Float32, 2, 3)) // a batch of 2
	var st nn.State                                             // zeros
	for range 4 {
		x, st = cell.Step(x, st)
	}
	fmt.Println("output", x.Shape(), "state", st.H.Shape())
	// Output: output [2 3] state [2 3]
}

// PackPadded and PadPacked convert between a zero-padded time-major batch
// with its lengths, in any order, and the packed layout of ForwardPacked,
// as PyTorch's pack_padded_sequence (enforce_sorted=False) and
// pad_packed_sequence: no step past a sequence's end is computed, and the
// final states come back in the batch's column order.
func ExamplePackPadded() {
	const T, B, I = 4, 3, 2
	padded := tensor.New(tensor.Float32, T, B, I)
	padded.RandNormal(tensor.NewRNG(1), 0, 1)
	lengths := []int{2, 4, 1}
	x, p, err := nn.PackPadded(autograd.NewVariable(padded), lengths)
	if err != nil {
		panic(err)
	}
	fmt.Println("packed", x.Shape(), "batch sizes", p.BatchSizes, "order", p.Order)

	lstm, _ := nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: I, HiddenSize: 5}, tensor.NewRNG(2))
	y, st := lstm.ForwardPacked(x, p, nn.State{})
	out := nn.PadPacked(y, p, 0)
	fmt.Println("padded output", out.Shape(), "final H", st.H.Shape())
	fmt.Println("zero past the end:", out.Data.Index(2).Index(0).MaxAbs() == 0)
	// Output:
	// packed [7 2] batch sizes [3 2 1 1] order [1 0 2]
	// padded output [4 3 5] final H [1 3 5]
	// zero past the end: true
}

// One layer shared by many goroutines: each runs the layer's inference
// view, which shares the weights, records no graph and stays in evaluation
// mode (dropout off), so the goroutines need no lock and all get the same
// numbers. The layer itself keeps its training mode and still trains.
func ExampleNStepLSTM_Inference() {
	rng := tensor.NewRNG(1)
	lstm, err := nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: 4, HiddenSize: 8, Layers: 2, Dropout: 0.5}, rng)
	if err != nil {
		panic(err)
	}
	x := tensor.New(tensor.Float32, 6, 4)
	x.RandNormal(rng, 0, 1)
	xs := []*autograd.Variable{autograd.NewVariable(x)}

	view := lstm.Inference()
	finals := make([][]float64, 8)
	var wg sync.WaitGroup
	for g := range finals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, st := view.Forward(xs, nn.State{})
			finals[g] = st.H.Data.Values()
		}()
	}
	wg.Wait()
	same := true
	for _, f := range finals[1:] {
		same = same && slices.Equal(f, finals[0])
	}
	ys, _ := view.Forward(xs, nn.State{})
	fmt.Println("all goroutines agree:", same)
	fmt.Println("graph recorded:", ys[0].Creator() != nil)
	fmt.Println("layer still trains:", lstm.Params()[0].RequiresGrad())
	// Output:
	// all goroutines agree: true
	// graph recorded: false
	// layer still trains: true
}
