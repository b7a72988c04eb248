package autograd_test

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/tensor"
)

// The gradient of y = x² + 3x at x = 2 is 2x + 3 = 7.
func ExampleVariable_Backward() {
	x := autograd.NewParameter(tensor.FromFloat32([]float32{2}))
	y := fn.Add(fn.Mul(x, x), fn.MulScalar(x, 3))
	y.Backward()
	fmt.Println(y.Data.Item(), x.Grad.Item())
	// Output: 10 7
}

// Truncated backpropagation through time as in the study deck: accumulate
// the loss over a chunk of steps, Backward, UnchainBackward, update; the
// state carries its value into the next chunk but not its graph.
func ExampleVariable_UnchainBackward() {
	w := autograd.NewParameter(tensor.FromFloat64([]float64{0.5}))
	h := autograd.NewVariable(tensor.FromFloat64([]float64{1}))
	for chunk := 0; chunk < 2; chunk++ {
		var loss *autograd.Variable
		for step := 0; step < 3; step++ {
			h = fn.Tanh(fn.Add(fn.Mul(w, h), autograd.NewVariable(tensor.FromFloat64([]float64{0.1}))))
			l := fn.Mul(h, h)
			if loss == nil {
				loss = l
			} else {
				loss = fn.Add(loss, l)
			}
		}
		autograd.ClearGrads([]*autograd.Variable{w})
		loss.Backward()
		loss.UnchainBackward()
		w.Data.Axpy(-0.1, w.Grad) // a plain SGD update
		fmt.Printf("chunk %d: loss %.4f, h has a creator: %v\n", chunk, loss.Data.Item(), h.Creator() != nil)
	}
	// Output:
	// chunk 0: loss 0.4855, h has a creator: false
	// chunk 1: loss 0.0839, h has a creator: false
}
