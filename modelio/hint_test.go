package modelio

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// TestPrefixHintListsEveryPrefix: a file holding the weights under
// "param." and tensors of the same names and shapes (gradients) under
// "grad.param." gets a hint naming both, "param." first and the gradients
// marked; it never suggests "grad.param." alone. Loading with the exact
// prefix "param." then loads the weights, not the gradients.
func TestPrefixHintListsEveryPrefix(t *testing.T) {
	newLinear := func(seed uint64) *nn.Linear {
		return must(nn.NewLinear(nn.LinearConfig{In: 3, Out: 2}, tensor.NewRNG(seed)))
	}
	weights, grads := must(StateDict(newLinear(1), "param.")), must(StateDict(newLinear(2), "grad.param."))
	file := map[string]*safetensors.Tensor{}
	for _, sd := range []map[string]*safetensors.Tensor{weights, grads} {
		for k, v := range sd {
			file[k] = v
		}
	}
	cases := []struct {
		name     string
		tensors  map[string]*safetensors.Tensor
		prefixes []string
		hint     []string // substrings, in order
	}{
		{"weights and gradients", file, []string{"param.", "grad.param."}, []string{`2 prefixes: "param."`, `"grad.param." (gradients?)`}},
		{"weights only", weights, []string{"param."}, []string{`prefix "param."`}},
		{"gradients only", grads, []string{"grad.param."}, []string{`prefix "grad.param." (gradients?)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := LoadStateDict(newLinear(3), c.tensors, "", nil)
			var se *StateDictError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a *StateDictError", err)
			}
			if !slices.Equal(se.Prefixes, c.prefixes) {
				t.Errorf("prefixes %q, want %q", se.Prefixes, c.prefixes)
			}
			rest := se.Hint
			for _, h := range c.hint {
				i := strings.Index(rest, h)
				if i < 0 {
					t.Fatalf("hint %q lacks %q (in order)", se.Hint, h)
				}
				rest = rest[i+len(h):]
			}
			if !strings.Contains(err.Error(), se.Hint) {
				t.Errorf("error %q lacks the hint", err)
			}
		})
	}
	// The exact prefix loads the weights; the longer "grad.param." names
	// do not start with it and neither load nor count as unexpected.
	m := newLinear(3)
	if err := LoadStateDict(m, file, "param.", nil); err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params() {
		if !tensor.Equal(p.Data, newLinear(1).Params()[i].Data) {
			t.Errorf("%s: not the weights", p.Name)
		}
	}
}
