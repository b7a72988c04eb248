package modelio

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// lmConfig configures the little language model of these tests.
type lmConfig struct {
	Vocab   int     `json:"vocab"`
	Embed   int     `json:"embed"`
	Hidden  int     `json:"hidden"`
	Dropout float64 `json:"dropout"`
}

// lm is Embedding → LSTM → dropout → Linear.
type lm struct {
	cfg lmConfig
	*embedLSTM
}

func newLM(cfg lmConfig, seed uint64) *lm {
	return &lm{cfg: cfg, embedLSTM: newEmbedLSTM(tensor.NewRNG(seed), cfg.Vocab, cfg.Embed, cfg.Hidden, 0, cfg.Vocab)}
}

// trainer is everything a training run holds.
type trainer struct {
	model         *lm
	opt           *optim.Optimizer
	data, dropout *tensor.RNG
	step, epoch   int
	vocab         []string
	stepsPerEpoch int
	lastLoss      float64
}

var testCfg = lmConfig{Vocab: 11, Embed: 5, Hidden: 7, Dropout: 0.3}

func newTrainer(t testing.TB, initSeed uint64) *trainer {
	m := newLM(testCfg, initSeed)
	opt, err := optim.NewAdam(nn.NamedParams(m), optim.AdamConfig{LR: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	clip, err := optim.NewGradientClipping(0.5)
	if err != nil {
		t.Fatal(err)
	}
	opt.AddHook(clip)
	return &trainer{
		model: m, opt: opt, data: tensor.NewRNG(100), dropout: tensor.NewRNG(200),
		vocab: []string{"<pad>", "a", "b", "c", "d", "e", "f", "g", "h", "i", "日本"}, stepsPerEpoch: 3,
	}
}

// trainStep draws a batch of sequences of random lengths and makes one
// update of next-token prediction.
func (tr *trainer) trainStep() {
	m := tr.model
	var xs []*autograd.Variable
	var targets []int
	for range 3 {
		n := 2 + tr.data.IntN(4)
		ids := make([]int, n+1)
		for i := range ids {
			ids[i] = tr.data.IntN(m.cfg.Vocab)
		}
		xs = append(xs, m.Embed.Forward(ids[:n]))
		targets = append(targets, ids[1:]...)
	}
	ys, _ := m.RNN.Forward(xs, nn.State{})
	h := fn.Dropout(fn.Concat(ys, 0), m.cfg.Dropout, tr.dropout, autograd.Train)
	loss := fn.SoftmaxCrossEntropy(m.Out.Forward(h), targets, -1, fn.ReduceMean)
	tr.opt.ClearGrads()
	loss.Backward()
	if err := tr.opt.Update(); err != nil {
		panic(err)
	}
	tr.lastLoss = loss.Data.Item()
	tr.step++
	if tr.step%tr.stepsPerEpoch == 0 {
		tr.epoch++
	}
}

func (tr *trainer) checkpoint() *Checkpoint {
	return &Checkpoint{
		Kind: "test-lm", Config: tr.model.cfg, Model: tr.model, Optimizer: tr.opt,
		RNGs: map[string]*tensor.RNG{"data": tr.data, "dropout": tr.dropout},
		Step: tr.step, Epoch: tr.epoch, Vocab: tr.vocab,
		Metadata: map[string]string{"note": "resume test"},
	}
}

// TestResumeIsExact trains N steps in one go, and N/2 steps, a checkpoint,
// a load into fresh objects and N/2 more: the parameters, optimizer state
// and RNGs must be bit-identical.
func TestResumeIsExact(t *testing.T) {
	const N = 12
	straight := newTrainer(t, 1)
	for range N {
		straight.trainStep()
	}

	first := newTrainer(t, 1)
	for range N / 2 {
		first.trainStep()
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := Save(dir, first.checkpoint()); err != nil {
		t.Fatal(err)
	}

	// A new process: read the configuration, build fresh objects (with a
	// different initialisation, to be sure everything is overwritten),
	// restore.
	snap, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var cfg lmConfig
	if err := snap.DecodeConfig(&cfg); err != nil || cfg != testCfg {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	resumed := newTrainer(t, 999)
	resumed.data, resumed.dropout = tensor.NewRNG(0), tensor.NewRNG(0)
	resumed.vocab = nil
	c := resumed.checkpoint()
	var loaded lmConfig
	c.Config = &loaded
	if err := snap.Restore(c); err != nil {
		t.Fatal(err)
	}
	if loaded != testCfg || c.Step != N/2 || c.Epoch != N/2/3 || !slices.Equal(c.Vocab, first.vocab) || c.Metadata["note"] != "resume test" {
		t.Fatalf("restored config %+v, step %d, epoch %d, vocab %v, metadata %v", loaded, c.Step, c.Epoch, c.Vocab, c.Metadata)
	}
	resumed.step, resumed.epoch, resumed.vocab = c.Step, c.Epoch, c.Vocab
	for range N / 2 {
		resumed.trainStep()
	}

	if resumed.step != straight.step || resumed.epoch != straight.epoch || resumed.lastLoss != straight.lastLoss {
		t.Errorf("resumed at step %d epoch %d loss %v; straight %d %d %v", resumed.step, resumed.epoch, resumed.lastLoss, straight.step, straight.epoch, straight.lastLoss)
	}
	sp := straight.model.Params()
	for i, p := range resumed.model.Params() {
		if !tensor.Equal(p.Data, sp[i].Data) {
			t.Errorf("parameter %d (%s) differs after resuming", i, p.Name)
		}
	}
	ss, rs := straight.opt.State(), resumed.opt.State()
	if ss.Steps != rs.Steps || ss.LR != rs.LR {
		t.Errorf("optimizer steps %d/%d, lr %v/%v", ss.Steps, rs.Steps, ss.LR, rs.LR)
	}
	for name, tt := range ss.Tensors {
		if !tensor.Equal(tt, rs.Tensors[name]) {
			t.Errorf("optimizer tensor %s differs", name)
		}
	}
	if straight.data.Uint64() != resumed.data.Uint64() || straight.dropout.Uint64() != resumed.dropout.Uint64() {
		t.Error("RNG streams differ")
	}
}

// saveState returns a small checkpoint at the given step.
func saveState(t testing.TB, step int) (*trainer, *Checkpoint) {
	tr := newTrainer(t, uint64(step))
	for range step {
		tr.trainStep()
	}
	return tr, tr.checkpoint()
}

// TestCrashAtEveryStage interrupts a Save at each of its stages, as a
// crash would (no clean-up), and checks that Open then finds a complete
// checkpoint — the previous one before the new directory is in place, the
// new one after — and leaves no debris.
func TestCrashAtEveryStage(t *testing.T) {
	var stages []string
	_, c1 := saveState(t, 1)
	_, c2 := saveState(t, 2)
	probe := filepath.Join(t.TempDir(), "ckpt")
	record := func(s string) error { stages = append(stages, s); return nil }
	if err := save(probe, c1, nil); err != nil {
		t.Fatal(err)
	}
	if err := save(probe, c2, record); err != nil {
		t.Fatal(err)
	}
	want := []string{"mkdir", "write config.json", "write model.safetensors", "write optimizer.json", "write optimizer.safetensors", "write vocab.json", "write checkpoint.json", "sync", "rename old", "rename new", "remove old"}
	if !slices.Equal(stages, want) {
		t.Fatalf("stages %q, want %q", stages, want)
	}
	crash := errors.New("simulated crash")
	for _, first := range []bool{false, true} {
		for i, stage := range stages {
			if first && (stage == "rename old" || stage == "remove old") {
				continue // no previous checkpoint: these stages do not happen
			}
			parent := t.TempDir()
			dir := filepath.Join(parent, "ckpt")
			if !first {
				if err := Save(dir, c1); err != nil {
					t.Fatal(err)
				}
			}
			err := save(dir, c2, func(s string) error {
				if s == stage {
					return crash
				}
				return nil
			})
			if !errors.Is(err, crash) {
				t.Fatalf("crash at %s: save returned %v", stage, err)
			}
			newVisible := i >= slices.Index(stages, "rename new")
			snap, err := Open(dir)
			switch {
			case first && !newVisible:
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("first save, crash at %s: Open gave %v, want not-exist", stage, err)
				}
			case err != nil:
				t.Errorf("crash at %s: %v", stage, err)
			default:
				want := 1
				if newVisible {
					want = 2
				}
				if snap.Step() != want {
					t.Errorf("crash at %s (previous checkpoint: %v): recovered step %d, want %d", stage, !first, snap.Step(), want)
				}
				c := newTrainer(t, 7).checkpoint()
				c.Config = new(lmConfig)
				if err := snap.Restore(c); err != nil {
					t.Errorf("crash at %s: restore: %v", stage, err)
				}
			}
			entries, _ := os.ReadDir(parent)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			wantNames := []string{"ckpt"}
			if first && !newVisible {
				wantNames = nil
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("crash at %s: after recovery the directory holds %v, want %v", stage, names, wantNames)
			}
			// Saving again works from any state.
			if err := Save(dir, c1); err != nil {
				t.Errorf("crash at %s: save after recovery: %v", stage, err)
			}
		}
	}
}

// TestFailureAtEveryStage makes a Save fail (not crash) at each stage:
// before the new directory is in place, Save must clean up after itself
// and leave the previous checkpoint where it was, with no recovery needed.
func TestFailureAtEveryStage(t *testing.T) {
	_, c1 := saveState(t, 1)
	_, c2 := saveState(t, 2)
	for _, stage := range []string{"mkdir", "write model.safetensors", "write checkpoint.json", "sync", "rename old"} {
		parent := t.TempDir()
		dir := filepath.Join(parent, "ckpt")
		if err := Save(dir, c1); err != nil {
			t.Fatal(err)
		}
		err := save(dir, c2, func(s string) error {
			if s == stage {
				return fmt.Errorf("disk full: %w", errInjected)
			}
			return nil
		})
		if !errors.Is(err, errInjected) {
			t.Fatalf("failure at %s: save returned %v", stage, err)
		}
		entries, _ := os.ReadDir(parent)
		if len(entries) != 1 || entries[0].Name() != "ckpt" {
			t.Errorf("failure at %s: the directory holds %v", stage, entries)
		}
		if snap, err := Open(dir); err != nil || snap.Step() != 1 {
			t.Errorf("failure at %s: Open gave %v", stage, err)
		}
	}
}

func TestRestoreListsEveryProblem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	_, c := saveState(t, 2)
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	snap, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A model of another size, another optimizer, another kind, a config
	// type with different fields and other RNG names.
	other := newLM(lmConfig{Vocab: 11, Embed: 5, Hidden: 8}, 3)
	sgd := must(optim.NewSGD(nn.NamedParams(other), optim.SGDConfig{LR: 0.1}))
	before := must(StateDict(other, ""))
	type otherConfig struct{ Layers int }
	cfg := &otherConfig{Layers: 3}
	shuffle := tensor.NewRNG(5)
	err = snap.Restore(&Checkpoint{
		Kind: "tagger", Config: cfg, Model: other, Optimizer: sgd,
		RNGs: map[string]*tensor.RNG{"shuffle": shuffle, "data": tensor.NewRNG(1)},
	})
	var ce *CheckpointError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v", err, err)
	}
	if strings.Contains(err.Error(), "exp_avg") {
		t.Errorf("error lists the tensors of another kind of optimizer: %v", err)
	}
	for _, want := range []string{
		`kind is "test-lm", want "tagger"`,
		`config.json: json: unknown field "vocab"`,
		"model: 5 mismatched: out.weight (file F32 [11 7], model float32 [11 8]), rnn.bias_hh_l0 (file F32 [28], model float32 [32])",
		`optimizer: kind is "adam", want "sgd"`,
		`no state for RNG "shuffle"`,
		`unexpected state for RNG "dropout"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	// Nothing changed.
	for name, p := range nn.NamedParams(other) {
		if !tensor.Equal(p.Data, must(before[name].ToTensor())) {
			t.Errorf("%s changed", name)
		}
	}
	if cfg.Layers != 3 || sgd.Steps() != 0 || shuffle.Uint64() != tensor.NewRNG(5).Uint64() {
		t.Error("a failed restore changed the config, optimizer or RNG")
	}

	// An optimizer of the same kind over other parameters.
	tg := newTagger(1, 7)
	err = snap.Restore(&Checkpoint{Kind: "test-lm", Optimizer: must(optim.NewAdam(nn.NamedParams(tg), optim.AdamConfig{}))})
	for _, want := range []string{
		"optimizer: no step counts for parameters rnn.bias_hh_l1, rnn.bias_ih_l1, rnn.weight_hh_l1, rnn.weight_ih_l1",
		"optimizer: tensors: 8 missing: rnn.bias_hh_l1.exp_avg, rnn.bias_hh_l1.exp_avg_sq,",
		"; 8 mismatched: embed.weight.exp_avg (file F32 [11 5], model float32 [6 3]), embed.weight.exp_avg_sq (file F32 [11 5], model float32 [6 3]), out.bias.exp_avg (file F32 [11], model float32 [2]),",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}

	// Loading only the model (for inference) needs no optimizer or RNGs.
	m := newLM(testCfg, 9)
	c2 := &Checkpoint{Kind: "test-lm", Model: m}
	if err := Load(dir, c2); err != nil {
		t.Fatal(err)
	}
	if c2.Step != 2 || len(c2.Vocab) != 11 {
		t.Errorf("step %d vocab %v", c2.Step, c2.Vocab)
	}
	// Asking for an optimizer a checkpoint does not have is an error.
	c.Optimizer = nil
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	err = Load(dir, &Checkpoint{Kind: "test-lm", Model: m, Optimizer: must(optim.NewAdam(nn.NamedParams(m), optim.AdamConfig{}))})
	if err == nil || !strings.Contains(err.Error(), "no optimizer state") {
		t.Errorf("missing optimizer: %v", err)
	}
	if err := Load(dir, &Checkpoint{Kind: "test-lm", Model: m, Config: lmConfig{}}); err == nil || !strings.Contains(err.Error(), "pointer") {
		t.Errorf("non-pointer config: %v", err)
	}
}

func TestOpenRejectsDamage(t *testing.T) {
	_, c := saveState(t, 1)
	tests := []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"flipped byte", func(dir string) {
			p := filepath.Join(dir, ModelFile)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o644)
		}, "model.safetensors: size or SHA-256 differs"},
		{"truncated", func(dir string) {
			p := filepath.Join(dir, OptimizerTensorsFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, "optimizer.safetensors: size or SHA-256 differs"},
		{"missing file", func(dir string) { os.Remove(filepath.Join(dir, VocabFile)) }, "vocab.json: no such file"},
		{"missing manifest", func(dir string) { os.Remove(filepath.Join(dir, ManifestFile)) }, "checkpoint.json: no such file"},
		{"path in manifest", editManifest(func(m map[string]any) {
			m["files"].(map[string]any)["../../etc/passwd"] = map[string]any{"size": 1, "sha256": "x"}
		}), `lists unknown file "../../etc/passwd"`},
		{"required file unlisted", editManifest(func(m map[string]any) { delete(m["files"].(map[string]any), ModelFile) }), "does not list required file model.safetensors"},
		{"half the optimizer", editManifest(func(m map[string]any) { delete(m["files"].(map[string]any), OptimizerFile) }), "lists only one of"},
		{"newer version", editManifest(func(m map[string]any) { m["version"] = 2 }), "version 2 is newer"},
		{"other format", editManifest(func(m map[string]any) { m["format"] = "zip" }), `format "zip"`},
		{"unknown field", editManifest(func(m map[string]any) { m["extra"] = 1 }), `unknown field "extra"`},
		{"negative step", editManifest(func(m map[string]any) { m["step"] = -1 }), "step -1"},
		{"bad rng", editManifest(func(m map[string]any) { m["rng"].(map[string]any)["data"] = "AAAA" }), `RNG "data"`},
		{"not json", func(dir string) { os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{"), 0o644) }, "checkpoint.json: unexpected EOF"},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "ckpt")
		if err := Save(dir, c); err != nil {
			t.Fatal(err)
		}
		tt.damage(dir)
		_, err := Open(dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

// editManifest returns a damage function that edits the manifest's JSON.
func editManifest(f func(m map[string]any)) func(dir string) {
	return func(dir string) {
		p := filepath.Join(dir, ManifestFile)
		b, _ := os.ReadFile(p)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			panic(err)
		}
		f(m)
		b, _ = json.Marshal(m)
		os.WriteFile(p, b, 0o644)
	}
}

func TestSaveRejectsBadCheckpoints(t *testing.T) {
	m := newLM(testCfg, 1)
	dir := filepath.Join(t.TempDir(), "ckpt")
	tests := []struct {
		name string
		c    *Checkpoint
		want string
	}{
		{"nil", nil, "nil checkpoint"},
		{"no model", &Checkpoint{}, "no model"},
		{"negative step", &Checkpoint{Model: m, Step: -1}, "step -1"},
		{"bad config json", &Checkpoint{Model: m, Config: json.RawMessage("{")}, "not valid JSON"},
		{"unmarshalable config", &Checkpoint{Model: m, Config: func() {}}, "config"},
		{"nil rng", &Checkpoint{Model: m, RNGs: map[string]*tensor.RNG{"x": nil}}, `RNG "x"`},
		{"bad vocab", &Checkpoint{Model: m, Vocab: []string{"\xff"}}, "vocabulary entry 0"},
		{"bad path", &Checkpoint{Model: m}, "directory name"},
	}
	for _, tt := range tests {
		d := dir
		if tt.name == "bad path" {
			d = "/"
		}
		if err := Save(d, tt.c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 0 {
		t.Errorf("failed saves left %v", entries)
	}
	// Raw JSON configs are kept as they are.
	raw := json.RawMessage(`{"vocab": 11, "embed": 5, "hidden": 7, "dropout": 0.3}`)
	if err := Save(dir, &Checkpoint{Kind: "k", Model: m, Config: raw}); err != nil {
		t.Fatal(err)
	}
	snap := must(Open(dir))
	if string(snap.Config()) != string(raw) || snap.Kind() != "k" || snap.HasOptimizer() || snap.OptimizerTensors() != nil || snap.Vocab() != nil || len(snap.RNGNames()) != 0 {
		t.Errorf("snapshot %q %q %v %v", snap.Config(), snap.Kind(), snap.HasOptimizer(), snap.Vocab())
	}
	if snap.Weights().Tensors["rnn.weight_ih_l0"] == nil || snap.Dir() != dir {
		t.Error("Weights or Dir")
	}
	// Saving into a missing parent directory fails cleanly.
	if err := Save(filepath.Join(dir, "a", "b"), &Checkpoint{Model: m}); err == nil {
		t.Error("save into a missing directory succeeded")
	}
}
