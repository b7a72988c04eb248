package seq2seq

import (
	"fmt"

	"github.com/kioku-ml/kioku/modelio"
)

// ParamSpecs returns the names, shapes and element types of the
// parameters NewModel(c, …) builds, in the order of Model.NamedParams,
// without building anything: what a checkpoint's weights must hold for c,
// and what the model costs (modelio.SpecBytes). It returns an error for a
// configuration NewModel would refuse.
func (c Config) ParamSpecs() ([]modelio.TensorSpec, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cell := c.Cell.kernel()
	G, H, E, D, L := cell.Gates(), c.Hidden, c.encHidden(), c.memorySize(), c.layers()
	var specs []modelio.TensorSpec
	add := func(name string, shape ...int) {
		specs = append(specs, modelio.TensorSpec{Name: name, Shape: shape, DType: c.DType})
	}
	linear := func(name string, in, out int, bias bool) {
		add(name+".weight", out, in)
		if bias {
			add(name+".bias", out)
		}
	}
	add("encoder.embed.weight", c.SrcVocab, c.Embed)
	for l := range L {
		in := D
		if l == 0 {
			in = c.Embed
		}
		for _, dir := range []string{"", "_reverse"}[:c.dirs()] {
			add(fmt.Sprintf("encoder.rnn.weight_ih_l%d%s", l, dir), G*E, in)
			add(fmt.Sprintf("encoder.rnn.weight_hh_l%d%s", l, dir), G*E, E)
			add(fmt.Sprintf("encoder.rnn.bias_ih_l%d%s", l, dir), G*E)
			add(fmt.Sprintf("encoder.rnn.bias_hh_l%d%s", l, dir), G*E)
		}
	}
	if c.Bridge == BridgeLinear {
		for l := range L {
			linear(fmt.Sprintf("bridge.h.%d", l), D, H, true)
		}
		if cell.HasCellState() {
			for l := range L {
				linear(fmt.Sprintf("bridge.c.%d", l), D, H, true)
			}
		}
	}
	add("decoder.embed.weight", c.TgtVocab, c.Embed)
	for l := range L {
		in := H
		if l == 0 {
			in = c.Embed
			if c.InputFeeding {
				in += H
			}
		}
		add(fmt.Sprintf("decoder.rnn.%d.weight_ih", l), G*H, in)
		add(fmt.Sprintf("decoder.rnn.%d.weight_hh", l), G*H, H)
		add(fmt.Sprintf("decoder.rnn.%d.bias_ih", l), G*H)
		add(fmt.Sprintf("decoder.rnn.%d.bias_hh", l), G*H)
	}
	switch c.Attention {
	case General:
		linear("attention.linear_in", D, H, false)
	case Additive:
		A := c.attnSize()
		linear("attention.query", H, A, false)
		linear("attention.key", D, A, true)
		add("attention.v", A)
	}
	if c.Attention != NoAttention {
		linear("attention.linear_out", D+H, H, false)
	}
	linear("generator", H, c.TgtVocab, true)
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
