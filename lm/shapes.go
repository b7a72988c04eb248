package lm

import (
	"fmt"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/tensor"
)

// ParamSpecs returns the names, shapes and element types of the
// parameters New(c, …) builds, in the order of Model.NamedParams, without
// building anything: what a checkpoint's weights must hold for c, and
// what the model costs (modelio.SpecBytes). It returns an error for a
// configuration New would refuse.
func (c Config) ParamSpecs() ([]modelio.TensorSpec, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cell, _ := cellKind(c.Cell)
	g := cell.Gates() * c.Hidden
	var specs []modelio.TensorSpec
	add := func(name string, shape ...int) {
		specs = append(specs, modelio.TensorSpec{Name: name, Shape: shape, DType: tensor.Float32})
	}
	add("emb.weight", c.Vocab, c.Emb)
	for l := range c.Layers {
		in := c.Hidden
		if l == 0 {
			in = c.Emb
		}
		add(fmt.Sprintf("rnn.weight_ih_l%d", l), g, in)
		add(fmt.Sprintf("rnn.weight_hh_l%d", l), g, c.Hidden)
		add(fmt.Sprintf("rnn.bias_ih_l%d", l), g)
		add(fmt.Sprintf("rnn.bias_hh_l%d", l), g)
		if c.LayerNorm {
			add(fmt.Sprintf("rnn.norm_ih_l%d", l), g)
			add(fmt.Sprintf("rnn.norm_hh_l%d", l), g)
			if cell.HasCellState() {
				add(fmt.Sprintf("rnn.norm_c_l%d", l), c.Hidden)
				add(fmt.Sprintf("rnn.norm_c_bias_l%d", l), c.Hidden)
			}
		}
	}
	if !c.Tie {
		add("out.weight", c.Vocab, c.Hidden)
	}
	add("out.bias", c.Vocab)
	return specs, nil
}

// NumParams returns the number of parameters of a model of configuration
// c (saturating at math.MaxInt64), or 0 for an invalid configuration.
func (c Config) NumParams() int64 {
	specs, err := c.ParamSpecs()
	if err != nil {
		return 0
	}
	return modelio.SpecElements(specs)
}
