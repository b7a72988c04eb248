package nn_test

import (
	"fmt"
	"iter"
	"log"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// Classifier is a model made of two named layers.
type Classifier struct {
	Embed *nn.Embedding
	Out   *nn.Linear
}

// NamedParams names the layers' parameters "embed.…" and "out.…".
func (m *Classifier) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("embed", m.Embed), nn.Sub("out", m.Out))
}

// Params lists the parameters in the same order.
func (m *Classifier) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

// A model lists its sub-modules; NamedParams gives PyTorch's state_dict
// names.
func ExampleNamedParams() {
	rng := tensor.NewRNG(1)
	embed, err := nn.NewEmbedding(nn.EmbeddingConfig{Vocab: 100, Dim: 8, Padding: true, PaddingIdx: 0}, rng)
	if err != nil {
		log.Fatal(err)
	}
	out, err := nn.NewLinear(nn.LinearConfig{In: 8, Out: 3}, rng)
	if err != nil {
		log.Fatal(err)
	}
	model := &Classifier{Embed: embed, Out: out}
	for name, p := range nn.NamedParams(model) {
		fmt.Println(name, p.Shape(), p.DType())
	}
	fmt.Println(nn.NumParams(model), "parameters")
	fmt.Println(model.Out.Forward(model.Embed.Forward([]int{5, 0, 7})).Shape())
	// Output:
	// embed.weight [100 8] float32
	// out.weight [3 8] float32
	// out.bias [3] float32
	// 827 parameters
	// [3 3]
}
