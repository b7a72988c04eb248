package modelio_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// A PyTorch model saved in Python with
//
//	safetensors.torch.save_file(model.state_dict(), "lm.safetensors")
//
// holds an nn.LSTM under "rnn."; load it into an NStepLSTM of the same
// shape.
func ExampleLoadStateDictFile() {
	rnn, err := nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: 5, HiddenSize: 6, Layers: 2}, tensor.NewRNG(1))
	if err != nil {
		log.Fatal(err)
	}
	if err := modelio.LoadStateDictFile("testdata/lm.safetensors", rnn, "rnn.", nil); err != nil {
		log.Fatal(err)
	}
	for name, p := range nn.NamedParams(rnn) {
		fmt.Println(name, p.Shape())
	}
	// Output:
	// weight_ih_l0 [24 5]
	// weight_hh_l0 [24 6]
	// bias_ih_l0 [24]
	// bias_hh_l0 [24]
	// weight_ih_l1 [24 6]
	// weight_hh_l1 [24 6]
	// bias_ih_l1 [24]
	// bias_hh_l1 [24]
}

// A mismatch is one error listing every problem.
func ExampleStateDictError() {
	gru, err := nn.NewNStepGRU(nn.RecurrentConfig{InputSize: 4, HiddenSize: 3, Layers: 1, Bidirectional: true}, tensor.NewRNG(1))
	if err != nil {
		log.Fatal(err)
	}
	// testdata/bigru.safetensors is a 2-layer GRU with input size 4.
	err = modelio.LoadStateDictFile("testdata/bigru.safetensors", gru, "", nil)
	var se *modelio.StateDictError
	if errors.As(err, &se) {
		fmt.Println("missing:", se.Missing)
		fmt.Println("unexpected:", se.Unexpected)
	}
	// Output:
	// missing: []
	// unexpected: [bias_hh_l1 bias_hh_l1_reverse bias_ih_l1 bias_ih_l1_reverse weight_hh_l1 weight_hh_l1_reverse weight_ih_l1 weight_ih_l1_reverse]
}

// Save a training run and restore it into fresh objects.
func ExampleSave() {
	dir, err := os.MkdirTemp("", "kioku-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	type config struct{ In, Out int }

	build := func(cfg config, seed uint64) (*nn.Linear, *optim.Optimizer) {
		m, err := nn.NewLinear(nn.LinearConfig{In: cfg.In, Out: cfg.Out}, tensor.NewRNG(seed))
		if err != nil {
			log.Fatal(err)
		}
		opt, err := optim.NewAdam(nn.NamedParams(m), optim.AdamConfig{})
		if err != nil {
			log.Fatal(err)
		}
		return m, opt
	}
	m, opt := build(config{In: 3, Out: 2}, 1)
	shuffle := tensor.NewRNG(7)
	// … train …
	ckpt := filepath.Join(dir, "run")
	err = modelio.Save(ckpt, &modelio.Checkpoint{
		Kind: "linear", Config: config{In: 3, Out: 2}, Model: m, Optimizer: opt,
		RNGs: map[string]*tensor.RNG{"shuffle": shuffle}, Step: 1000, Epoch: 3,
	})
	if err != nil {
		log.Fatal(err)
	}

	// Later, in another process: read the configuration, build, restore.
	snap, err := modelio.Open(ckpt)
	if err != nil {
		log.Fatal(err)
	}
	var cfg config
	if err := snap.DecodeConfig(&cfg); err != nil {
		log.Fatal(err)
	}
	m2, opt2 := build(cfg, 99)
	c := &modelio.Checkpoint{Kind: "linear", Model: m2, Optimizer: opt2, RNGs: map[string]*tensor.RNG{"shuffle": tensor.NewRNG(0)}}
	if err := snap.Restore(c); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg, c.Step, c.Epoch, tensor.Equal(m.Weight.Data, m2.Weight.Data))
	entries, _ := os.ReadDir(ckpt)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// {3 2} 1000 3 true
	// checkpoint.json
	// config.json
	// model.safetensors
	// optimizer.json
	// optimizer.safetensors
}
