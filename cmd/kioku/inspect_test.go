package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

func TestInspectFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "m.safetensors")
	ids, _ := safetensors.FromInt64s([]int64{3, -1, 4})
	tensors := map[string]*safetensors.Tensor{
		"w":     safetensors.FromTensor(tensor.FromFloat32([]float32{1, -2, 3, 6}, 2, 2)),
		"ids":   ids,
		"empty": safetensors.FromTensor(tensor.New(tensor.Float64, 0, 3)),
	}
	if err := safetensors.WriteFile(name, tensors, map[string]string{"format": "pt", "note": "two\nlines"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("inspect", name)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		name + ": 3 tensors, 7 elements, ",
		"metadata:\n  format: pt\n  note: \"two\\nlines\"\n",
		"name   dtype  shape  min  max  mean\n",
		"empty  F64    [0 3]  -    -    -\n",
		"ids    I64    [3]    -1   4    2\n",
		"w      F32    [2 2]  -2   6    2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI("inspect", "-nostats", name)
	if code != 0 || strings.Contains(out, "mean") || !strings.Contains(out, "w      F32    [2 2]\n") {
		t.Errorf("-nostats: exit %d\n%s", code, out)
	}
}

func TestInspectCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	m, err := nn.NewLinear(nn.LinearConfig{In: 2, Out: 3}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewAdam(nn.NamedParams(m), optim.AdamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := &modelio.Checkpoint{Kind: "demo", Config: map[string]int{"in": 2}, Model: m, Optimizer: opt, Step: 7, Epoch: 1, Vocab: []string{"a", "b"}, RNGs: map[string]*tensor.RNG{"data": tensor.NewRNG(2)}}
	if err := modelio.Save(dir, c); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("inspect", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		dir + ": checkpoint of kind demo at step 7, epoch 1\n",
		`config: { "in": 2 }`,
		"vocabulary: 2 entries\n",
		"RNG states: data\n",
		"model.safetensors: 2 tensors, 9 elements\n",
		"weight  F32    [3 2]",
		"optimizer.safetensors: 4 tensors, 18 elements\n",
		"weight.exp_avg_sq  F32    [3 2]  0    0    0\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, 0o644)
	dup := filepath.Join(dir, "dup.safetensors")
	h := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	os.WriteFile(dup, append(append([]byte{byte(len(h)), 0, 0, 0, 0, 0, 0, 0}, h...), 0, 0, 0, 0), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect"}, 2, "no FILE given"},
		{[]string{"inspect", filepath.Join(dir, "missing")}, 1, "no such file"},
		{[]string{"inspect", bad}, 1, "kioku inspect: safetensors: " + bad + ": header length 8 exceeds the 2 bytes that follow it (truncated file?)\n"},
		{[]string{"inspect", dup}, 1, `tensor "a": duplicate key in header`},
		{[]string{"inspect", dir}, 1, "checkpoint.json: no such file"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("kioku %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if code == 1 && strings.Count(errOut, "\n") != 1 {
			t.Errorf("kioku %q: stderr is not one line: %q", tc.args, errOut)
		}
	}
}
