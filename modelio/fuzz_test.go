package modelio

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

var writeFuzzSeeds = flag.Bool("fuzzseeds", false, "rewrite the seed corpora testdata/fuzz/FuzzOpenCheckpoint and testdata/fuzz/FuzzLoadStateDict")

// checkpointFilesForFuzz saves a valid checkpoint (a trained LSTM language
// model with Adam and two RNGs) and returns its files' contents by name,
// and their names in a fixed order, the manifest last.
func checkpointFilesForFuzz(t testing.TB) (map[string][]byte, []string) {
	_, ck := saveState(t, 1)
	dir := filepath.Join(t.TempDir(), "ck")
	if err := Save(dir, ck); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	names := slices.Sorted(maps.Keys(files))
	names = slices.DeleteFunc(names, func(n string) bool { return n == ManifestFile })
	return files, append(names, ManifestFile)
}

// resignManifest returns the manifest man with the sha256 of every file
// it lists replaced by the real sum of files[name], so that a fuzzed file
// (or a fuzzed manifest) gets past the integrity check to the parsers and
// the checks behind it. Sizes are set to the real ones too unless
// keepSizes (a fuzzed manifest keeps its own, to fuzz them). A manifest
// that is not a JSON object with a "files" object is returned unchanged.
func resignManifest(man []byte, files map[string][]byte, keepSizes bool) []byte {
	var m map[string]any
	if json.Unmarshal(man, &m) != nil {
		return man
	}
	list, ok := m["files"].(map[string]any)
	if !ok {
		return man
	}
	for name, v := range list {
		info, ok := v.(map[string]any)
		data, known := files[name]
		if !ok || !known {
			continue
		}
		sum := sha256.Sum256(data)
		info["sha256"] = hex.EncodeToString(sum[:])
		if !keepSizes {
			info["size"] = len(data)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return man
	}
	return out
}

// FuzzOpenCheckpoint replaces one file of a valid checkpoint (chosen by
// which) with arbitrary bytes, re-signs the manifest so that the bytes
// reach the parsers, and opens and restores the checkpoint into fresh
// objects: nothing may panic, and a checkpoint that restores must leave
// every parameter equal to its tensor.
//
//	go test ./modelio -run XXX -fuzz FuzzOpenCheckpoint -fuzztime 60s
func FuzzOpenCheckpoint(f *testing.F) {
	base, names := checkpointFilesForFuzz(f)
	for i, n := range names {
		f.Add(uint8(i), base[n])
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		name := names[int(which)%len(names)]
		files := maps.Clone(base)
		files[name] = data
		if name == ManifestFile {
			files[ManifestFile] = resignManifest(data, files, true)
		} else {
			files[ManifestFile] = resignManifest(base[ManifestFile], files, false)
		}
		dir := filepath.Join(t.TempDir(), "ck")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := Open(dir)
		if err != nil {
			return
		}
		fresh := newTrainer(t, 9)
		c := fresh.checkpoint()
		c.Config = new(lmConfig)
		if err := snap.Restore(c); err != nil {
			return
		}
		for name, p := range nn.NamedParams(fresh.model) {
			want, err := snap.Weights().Tensors[name].ToTensorAs(p.Data.DType())
			if err != nil || !bitsEqual(want, p.Data) {
				t.Fatalf("restored parameter %s is not its tensor (%v)", name, err)
			}
		}
		if c.Step != snap.Step() || len(c.Vocab) != len(snap.Vocab()) {
			t.Fatalf("restored step %d, vocabulary of %d; the snapshot has %d, %d", c.Step, len(c.Vocab), snap.Step(), len(snap.Vocab()))
		}
	})
}

// FuzzLoadStateDict parses arbitrary bytes as a safetensors file and
// loads it into a model with parameters and buffers (a batch-normalised
// bidirectional LSTM, BatchNorm and Linear), strictly and with every
// relaxation: nothing may panic, a failed load leaves the model as it was,
// and a successful one leaves every parameter equal to its tensor.
//
//	go test ./modelio -run XXX -fuzz FuzzLoadStateDict -fuzztime 60s
func FuzzLoadStateDict(f *testing.F) {
	for _, seed := range stateDictSeeds(f) {
		f.Add(seed.opts, seed.data)
	}
	f.Fuzz(func(t *testing.T, opts uint8, data []byte) {
		file, err := safetensors.Parse(data)
		if err != nil {
			return
		}
		m := newBNModel(1)
		before := must(StateDict(m, ""))
		o := &LoadOptions{AllowMissing: opts&1 != 0, AllowUnexpected: opts&2 != 0, ExactDType: opts&4 != 0, AllowNonFinite: opts&8 != 0}
		prefix := []string{"", "model."}[opts>>4&1]
		err = LoadStateDict(m, file.Tensors, prefix, o)
		after := must(StateDict(m, ""))
		for name, p := range nn.NamedParams(m) {
			t0, ok := file.Tensors[prefix+name]
			switch {
			case err != nil || !ok:
				if !bytes.Equal(before[name].Bytes(), after[name].Bytes()) {
					t.Fatalf("load (%v) changed parameter %s", err, name)
				}
			default:
				want, cerr := t0.ToTensorAs(p.Data.DType())
				if cerr != nil {
					t.Fatalf("loaded %s from a tensor that does not convert: %v", name, cerr)
				}
				if !bitsEqual(want, p.Data) {
					t.Fatalf("parameter %s is not its tensor", name)
				}
				if !o.AllowNonFinite {
					if _, _, bad := t0.FirstNonFinite(); bad {
						t.Fatalf("loaded non-finite %s without AllowNonFinite", name)
					}
				}
			}
		}
		if err != nil {
			for name, b := range before {
				if !bytes.Equal(b.Bytes(), after[name].Bytes()) {
					t.Fatalf("a failed load (%v) changed %s", err, name)
				}
			}
		}
	})
}

// bitsEqual compares two tensors bit for bit (NaN equal to itself).
func bitsEqual(a, b *tensor.Tensor) bool {
	return bytes.Equal(safetensors.FromTensor(a).Bytes(), safetensors.FromTensor(b).Bytes())
}

type stateDictSeed struct {
	name string
	opts uint8
	data []byte
}

// stateDictSeeds returns valid and damaged state dicts of newBNModel.
func stateDictSeeds(t testing.TB) []stateDictSeed {
	sd := must(StateDict(newBNModel(2), ""))
	encode := func(tensors map[string]*safetensors.Tensor) []byte {
		var b bytes.Buffer
		if err := safetensors.Write(&b, tensors, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	edit := func(f func(map[string]*safetensors.Tensor)) []byte {
		c := maps.Clone(sd)
		f(c)
		return encode(c)
	}
	prefixed := map[string]*safetensors.Tensor{}
	for n, v := range sd {
		prefixed["model."+n] = v
	}
	nan := func(name string) func(map[string]*safetensors.Tensor) {
		return func(c map[string]*safetensors.Tensor) {
			old := c[name]
			data := slices.Clone(old.Bytes())
			binary.LittleEndian.PutUint32(data, math.Float32bits(float32(math.NaN())))
			c[name] = must(safetensors.New(old.DType(), old.Shape(), data))
		}
	}
	half := func(name string) func(map[string]*safetensors.Tensor) {
		return func(c map[string]*safetensors.Tensor) {
			old := c[name]
			c[name] = must(safetensors.New(safetensors.F16, old.Shape(), make([]byte, 2*old.NumElements())))
		}
	}
	huge := binary.LittleEndian.AppendUint64(nil, 88)
	huge = append(huge, `{"out.bias":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`...)
	return []stateDictSeed{
		{"valid", 0, encode(sd)},
		{"valid-prefixed", 16, encode(prefixed)},
		{"nan-weight", 0, edit(nan("out.weight"))},
		{"nan-weight-allowed", 8, edit(nan("out.weight"))},
		{"missing", 1, edit(func(c map[string]*safetensors.Tensor) { delete(c, "out.bias") })},
		{"unexpected", 2, edit(func(c map[string]*safetensors.Tensor) { c["extra"] = c["out.bias"] })},
		{"f16", 0, edit(half("out.weight"))},
		{"f16-exact", 4, edit(half("out.weight"))},
		{"buffer-bad-shape", 0, edit(func(c map[string]*safetensors.Tensor) { c["norm.running_var"] = c["out.bias"] })},
		{"huge-shape", 0, huge},
	}
}

// TestWriteFuzzSeeds writes the seed corpora of the fuzz targets under
// testdata/fuzz when run with -fuzzseeds; plain go test runs them as
// tests.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeFuzzSeeds {
		t.Skip("run with -fuzzseeds to rewrite testdata/fuzz")
	}
	write := func(target, name string, args ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, a := range args {
			switch v := a.(type) {
			case uint8:
				s += fmt.Sprintf("byte(%q)\n", rune(v))
			case []byte:
				s += fmt.Sprintf("[]byte(%q)\n", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stateDictSeeds(t) {
		write("FuzzLoadStateDict", s.name, s.opts, s.data)
	}
	files, names := checkpointFilesForFuzz(t)
	index := func(name string) uint8 { return uint8(slices.Index(names, name)) }
	model := files[ModelFile]
	hugeHeader := binary.LittleEndian.AppendUint64(nil, 1<<40)
	zeroLen := make([]byte, 16)
	nanModel := slices.Clone(model)
	binary.LittleEndian.PutUint32(nanModel[len(nanModel)-4:], math.Float32bits(float32(math.Inf(1))))
	var man map[string]any
	json.Unmarshal(files[ManifestFile], &man)
	setSize := func(file string, size any) []byte {
		m := map[string]any{}
		b, _ := json.Marshal(man)
		json.Unmarshal(b, &m)
		m["files"].(map[string]any)[file].(map[string]any)["size"] = size
		out, _ := json.Marshal(m)
		return out
	}
	seeds := []struct {
		name string
		file string
		data []byte
	}{
		{"model-huge-header-length", ModelFile, hugeHeader},
		{"model-zero-header-length", ModelFile, zeroLen},
		{"model-inf-weight", ModelFile, nanModel},
		{"model-truncated", ModelFile, model[:len(model)/2]},
		{"optimizer-not-json", OptimizerFile, []byte("{")},
		{"optimizer-other-kind", OptimizerFile, bytes.Replace(files[OptimizerFile], []byte(`"adam"`), []byte(`"sgd"`), 1)},
		{"vocab-not-array", VocabFile, []byte(`{"a":1}`)},
		{"config-huge", ConfigFile, []byte(`{"vocab": 1099511627776, "embed": 65536, "hidden": 65536, "dropout": 0}`)},
		{"manifest-size-3GB", ManifestFile, setSize(ConfigFile, 3<<30)},
		{"manifest-size-negative", ManifestFile, setSize(VocabFile, -1)},
		{"manifest-valid", ManifestFile, files[ManifestFile]},
	}
	for _, s := range seeds {
		write("FuzzOpenCheckpoint", s.name, index(s.file), s.data)
	}
	for i, n := range names {
		write("FuzzOpenCheckpoint", "valid-"+n, uint8(i), files[n])
	}
}
