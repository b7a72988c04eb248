package optim_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// The training loop: forward, loss, ClearGrads, Backward, then Update,
// which clips the global gradient norm before the Adam step; the learning
// rate follows a schedule, epoch by epoch. The network learns XOR.
func Example_trainingLoop() {
	rng := tensor.NewRNG(1)
	hidden, err := nn.NewLinear(nn.LinearConfig{In: 2, Out: 8}, rng)
	if err != nil {
		log.Fatal(err)
	}
	out, err := nn.NewLinear(nn.LinearConfig{In: 8, Out: 2}, rng)
	if err != nil {
		log.Fatal(err)
	}
	params := nn.Join(nn.Sub("hidden", hidden), nn.Sub("out", out))

	opt, err := optim.NewAdam(params, optim.AdamConfig{LR: 0.02})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(opt)
	clip, err := optim.NewGradientClipping(1)
	if err != nil {
		log.Fatal(err)
	}
	opt.AddHook(clip)
	schedule, err := optim.NewExponentialLR(0.02, 0.8)
	if err != nil {
		log.Fatal(err)
	}

	x := autograd.NewVariable(tensor.FromFloat32([]float32{0, 0, 0, 1, 1, 0, 1, 1}, 4, 2))
	labels := []int{0, 1, 1, 0}
	for epoch := range 5 {
		opt.SetLR(schedule.LR(epoch))
		var loss *autograd.Variable
		for range 20 {
			logits := out.Forward(fn.Tanh(hidden.Forward(x)))
			loss = fn.SoftmaxCrossEntropy(logits, labels, -1, fn.ReduceMean)
			opt.ClearGrads()
			loss.Backward()
			if err := opt.Update(); err != nil {
				log.Fatal(err) // e.g. a NaN gradient: the step was skipped
			}
		}
		fmt.Printf("epoch %d  lr %.4f  loss %.4f  grad norm %.4f\n", epoch, opt.LR(), loss.Data.Item(), clip.LastNorm())
	}
	// Output:
	// Adam(lr=0.02, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)
	// epoch 0  lr 0.0200  loss 0.6320  grad norm 0.0969
	// epoch 1  lr 0.0160  loss 0.4138  grad norm 0.1852
	// epoch 2  lr 0.0128  loss 0.1777  grad norm 0.1413
	// epoch 3  lr 0.0102  loss 0.0774  grad norm 0.0779
	// epoch 4  lr 0.0082  loss 0.0447  grad norm 0.0494
}

// An optimizer's state goes into a checkpoint as named tensors plus a few
// scalars that encode as JSON; LoadState puts it back.
func ExampleOptimizer_State() {
	w := autograd.NewParameter(tensor.FromFloat32([]float32{1, 2}))
	w.Name = "w"
	opt, err := optim.NewAdam(optim.Named(w), optim.AdamConfig{})
	if err != nil {
		log.Fatal(err)
	}
	w.Grad = tensor.FromFloat32([]float32{0.5, -0.5})
	if err := opt.Update(); err != nil {
		log.Fatal(err)
	}

	st := opt.State()
	scalars, _ := json.Marshal(st)
	fmt.Println(string(scalars))
	for _, name := range st.TensorNames() {
		fmt.Println(name, st.Tensors[name].Values())
	}

	resumed, _ := optim.NewAdam(optim.Named(w), optim.AdamConfig{})
	if err := resumed.LoadState(st); err != nil {
		log.Fatal(err)
	}
	fmt.Println("resumed at step", resumed.Steps())
	// Output:
	// {"kind":"adam","lr":0.001,"steps":1,"param_steps":{"w":1}}
	// w.exp_avg [0.05000000074505806 -0.05000000074505806]
	// w.exp_avg_sq [0.0002500000118743628 0.0002500000118743628]
	// resumed at step 1
}
