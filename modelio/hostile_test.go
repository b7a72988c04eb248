package modelio

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// resign rewrites the manifest of the checkpoint in dir with the sizes
// and SHA-256 sums of the files now there, as an attacker (or a fuzzer)
// who edits a checkpoint would: the manifest is a check against damage,
// not a signature.
func resign(t testing.TB, dir string) {
	t.Helper()
	p := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for name := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		m.Files[name] = fileInfo{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setElement sets element i of the F32 tensor name in the safetensors
// file of the checkpoint in dir to v, and re-signs the manifest.
func setElement(t testing.TB, dir, file, name string, i int, v float32) {
	t.Helper()
	p := filepath.Join(dir, file)
	f, err := safetensors.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	old := f.Tensors[name]
	if old == nil || old.DType() != safetensors.F32 {
		t.Fatalf("%s has no F32 tensor %q", file, name)
	}
	data := append([]byte(nil), old.Bytes()...)
	binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	f.Tensors[name] = must(safetensors.New(old.DType(), old.Shape(), data))
	if err := safetensors.WriteFile(p, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
	resign(t, dir)
}

// TestRestoreRefusesNonFinite: NaN or ±Inf in a weight or in the
// optimizer's moments is an error naming the tensor and the element,
// unless AllowNonFinite; nothing is restored on the error.
func TestRestoreRefusesNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := []struct {
		name        string
		file, param string
		index       int
		value       float32
		want        string
	}{
		{"NaN weight", ModelFile, "rnn.weight_hh_l0", 9, nan, `model.safetensors: tensor "rnn.weight_hh_l0" holds NaN at element 9 ([1 2] of [28 7])`},
		{"+Inf bias", ModelFile, "out.bias", 0, inf, `model.safetensors: tensor "out.bias" holds +Inf at element 0 ([0] of [11])`},
		{"-Inf embedding", ModelFile, "embed.weight", 54, -inf, `tensor "embed.weight" holds -Inf at element 54 ([10 4] of [11 5])`},
		{"NaN in Adam's moments", OptimizerTensorsFile, "out.weight.exp_avg_sq", 3, nan, `optimizer.safetensors: tensor "out.weight.exp_avg_sq" holds NaN at element 3`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ck := saveState(t, 2)
			dir := filepath.Join(t.TempDir(), "ckpt")
			if err := Save(dir, ck); err != nil {
				t.Fatal(err)
			}
			setElement(t, dir, c.file, c.param, c.index, c.value)
			fresh := newTrainer(t, 7)
			before := must(StateDict(fresh.model, ""))
			load := fresh.checkpoint()
			load.Config = nil
			err := Load(dir, load)
			if _, ok := errors.AsType[*CheckpointError](err); !ok || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v\nwant a *CheckpointError containing %q", err, c.want)
			}
			for name, p := range nn.NamedParams(fresh.model) {
				if !tensor.Equal(p.Data, must(before[name].ToTensor())) {
					t.Errorf("a refused restore changed %s", name)
				}
			}
			allow := fresh.checkpoint()
			allow.Config, allow.AllowNonFinite = nil, true
			if err := Load(dir, allow); err != nil {
				t.Fatalf("Load with AllowNonFinite: %v", err)
			}
		})
	}
}

// TestLoadStateDictRefusesNonFinite: LoadStateDictFile refuses NaN and
// ±Inf, in any floating-point type, with the file, tensor and element.
func TestLoadStateDictRefusesNonFinite(t *testing.T) {
	f16NaN := []byte{0x00, 0x3c, 0x00, 0x7e}  // 1, NaN
	bf16Inf := []byte{0x80, 0x3f, 0x80, 0xff} // 1, -Inf
	cases := []struct {
		name  string
		dtype safetensors.DType
		data  []byte
		want  string
	}{
		{"F16 NaN", safetensors.F16, f16NaN, `tensor "weight" holds NaN at element 1 ([1] of [2])`},
		{"BF16 -Inf", safetensors.BF16, bf16Inf, `tensor "weight" holds -Inf at element 1 ([1] of [2])`},
		{"F64 +Inf", safetensors.F64, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.Inf(1))), 0), `tensor "weight" holds +Inf at element 0 ([0] of [2])`},
		{"finite", safetensors.F32, make([]byte, 8), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "w.safetensors")
			tt := must(safetensors.New(c.dtype, []int{2}, c.data))
			if err := safetensors.WriteFile(p, map[string]*safetensors.Tensor{"weight": tt}, nil); err != nil {
				t.Fatal(err)
			}
			d := NewParamDict()
			w := d.Add("weight", tensor.Float32, 2)
			err := LoadStateDictFile(p, d, "", nil)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if _, ok := errors.AsType[*NonFiniteError](err); !ok || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("LoadStateDictFile: %v\nwant a *NonFiniteError naming %s and containing %q", err, p, c.want)
			}
			if w.Data.Float32s()[0] != 0 {
				t.Error("a refused load changed the parameter")
			}
			if err := LoadStateDictFile(p, d, "", &LoadOptions{AllowNonFinite: true}); err != nil {
				t.Fatalf("with AllowNonFinite: %v", err)
			}
		})
	}
}

// allocated returns the bytes f allocates on the Go heap.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestOpenBoundsHostileFiles: files that are not what the manifest says
// — a device, a FIFO, sparse giants — are refused at once, naming the
// file, and Open allocates little doing so (the sizes are checked before
// anything is read).
func TestOpenBoundsHostileFiles(t *testing.T) {
	_, ck := saveState(t, 1)
	replace := func(name string, make func(p string) error) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := make(p); err != nil {
				t.Skip(err)
			}
		}
	}
	sparse := func(size int64) func(p string) error {
		return func(p string) error {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
			return os.Truncate(p, size)
		}
	}
	setSize := func(name string, size int64) func(t *testing.T, dir string) {
		return editManifestT(func(m map[string]any) {
			m["files"].(map[string]any)[name].(map[string]any)["size"] = size
		})
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"model file a symlink to /dev/zero", replace(ModelFile, func(p string) error {
			if _, err := os.Stat("/dev/zero"); err != nil {
				return err
			}
			return os.Symlink("/dev/zero", p)
		}), "model.safetensors: not a regular file (a character device)"},
		{"model file a FIFO", replace(ModelFile, func(p string) error { return syscall.Mkfifo(p, 0o644) }), "model.safetensors: not a regular file (a FIFO)"},
		{"manifest a FIFO", replace(ManifestFile, func(p string) error { return syscall.Mkfifo(p, 0o644) }), "checkpoint.json: not a regular file (a FIFO)"},
		{"3 GB sparse manifest", replace(ManifestFile, sparse(3<<30)), "checkpoint.json: file too large: 3221225472 bytes, more than the limit of 268435456"},
		{"3 GB sparse model file", func(t *testing.T, dir string) {
			replace(ModelFile, sparse(3<<30))(t, dir)
			setSize(ModelFile, 3<<30)(t, dir)
		}, "model.safetensors: safetensors: header length 0 is too short"},
		{"model header past the file", func(t *testing.T, dir string) {
			p := filepath.Join(dir, ModelFile)
			hdr := `{"w":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`
			b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
			if err := os.WriteFile(p, append(b, hdr...), 0o644); err != nil {
				t.Fatal(err)
			}
			resign(t, dir)
		}, "run past the end of the 0-byte data buffer"},
		{"manifest claims a 3 GB config", setSize(ConfigFile, 3<<30), "gives config.json a size of 3221225472 bytes; the limit is 268435456"},
		{"manifest claims a negative size", setSize(VocabFile, -1), "gives vocab.json a size of -1 bytes"},
		{"vocab file a directory", replace(VocabFile, func(p string) error { return os.Mkdir(p, 0o755) }), "vocab.json: not a regular file (a directory)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			if err := Save(dir, ck); err != nil {
				t.Fatal(err)
			}
			c.damage(t, dir)
			var err error
			n := allocated(func() { _, err = Open(dir) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v\nwant an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
			if n > 4<<20 {
				t.Errorf("Open allocated %d bytes to refuse it", n)
			}
		})
	}
}

// editManifestT is editManifest for a damage function that takes t.
func editManifestT(f func(m map[string]any)) func(t *testing.T, dir string) {
	return func(_ *testing.T, dir string) { editManifest(f)(dir) }
}

// TestRestoreOptimizerNonFiniteKeepsOptimizer: an optimizer whose saved
// moments are refused keeps its own state.
func TestRestoreOptimizerNonFiniteKeepsOptimizer(t *testing.T) {
	_, ck := saveState(t, 2)
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := Save(dir, ck); err != nil {
		t.Fatal(err)
	}
	setElement(t, dir, OptimizerTensorsFile, "embed.weight.exp_avg", 0, float32(math.Inf(-1)))
	fresh := newTrainer(t, 3)
	steps := fresh.opt.Steps()
	load := fresh.checkpoint()
	load.Config = nil
	if err := Load(dir, load); err == nil {
		t.Fatal("restored -Inf moments")
	}
	if fresh.opt.Steps() != steps {
		t.Error("a refused restore changed the optimizer")
	}
	var _ Optimizer = (*optim.Optimizer)(nil)
}
