// Package train runs the training of a recurrent language model: the
// study deck's truncated-BPTT loop (forward a chunk, backward, cut the
// graph, clip, update) with the state carried across chunks, a learning
// rate schedule, validation each epoch, the best checkpoint kept, exact
// resumption, a time limit, metrics written as JSON lines and training
// curves drawn as PNG.
package train

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// Config holds the training hyperparameters.
type Config struct {
	// Batch is the number of parallel rows, BPTT the chunk length.
	Batch int `json:"batch"`
	BPTT  int `json:"bptt"`
	// Epochs is the number of passes over the training tokens.
	Epochs int `json:"epochs"`
	// TimeLimit, when positive, stops training after this much time (at a
	// chunk boundary), then validates and saves.
	TimeLimit time.Duration `json:"time_limit"`
	// Optimizer is "sgd" or "adam".
	Optimizer string `json:"optimizer"`
	// LR is the initial learning rate.
	LR float64 `json:"lr"`
	// LRKeep and LRDecay are Zaremba et al.'s schedule: keep LR for
	// LRKeep epochs, then divide it by LRDecay each epoch. LRDecay ≤ 1
	// keeps LR constant.
	LRKeep  int     `json:"lr_keep"`
	LRDecay float64 `json:"lr_decay"`
	// Clip is the threshold of gradient clipping by global norm (Pascanu
	// et al. 2013); 0 turns it off.
	Clip float64 `json:"clip"`
	// Seed seeds the initialisation and dropout.
	Seed uint64 `json:"seed"`
	// EvalBatch is the number of rows for validation (0 means Batch).
	EvalBatch int `json:"eval_batch"`
	// EvalEvery, when positive, also validates every this many chunks.
	EvalEvery int `json:"eval_every"`
}

// Validate reports the first problem of the configuration.
func (c Config) Validate() error {
	switch {
	case c.Batch <= 0 || c.BPTT <= 0:
		return fmt.Errorf("batch %d and bptt %d must be positive", c.Batch, c.BPTT)
	case c.Batch > 1<<16 || c.BPTT > 1<<16:
		return fmt.Errorf("batch %d or bptt %d is too large", c.Batch, c.BPTT)
	case c.Epochs <= 0:
		return fmt.Errorf("epochs %d must be positive", c.Epochs)
	case c.TimeLimit < 0:
		return fmt.Errorf("negative time limit %v", c.TimeLimit)
	case c.Optimizer != "sgd" && c.Optimizer != "adam":
		return fmt.Errorf("optimizer %q: want sgd or adam", c.Optimizer)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("learning rate %v must be positive", c.LR)
	case c.LRKeep < 0 || c.LRDecay < 0:
		return fmt.Errorf("lr-keep %d and lr-decay %v must not be negative", c.LRKeep, c.LRDecay)
	case c.Clip < 0:
		return fmt.Errorf("clip %v must not be negative", c.Clip)
	case c.EvalBatch < 0 || c.EvalEvery < 0:
		return fmt.Errorf("eval-batch %d and eval-every %d must not be negative", c.EvalBatch, c.EvalEvery)
	}
	return nil
}

// savedConfig is the configuration stored with checkpoints.
type savedConfig struct {
	Model lm.Config `json:"model"`
	Train Config    `json:"train"`
}

// Event describes training progress for a Reporter.
type Event struct {
	Epoch, Epochs int // 1-based epoch
	Chunk, Chunks int // chunks done in this epoch, of
	Step          int // updates so far
	Tokens        int // training tokens so far (this run and resumed ones)
	Loss          float64
	LR            float64
	TokensPerSec  float64
	Elapsed, ETA  time.Duration
}

// Reporter receives progress. Implementations show a progress bar or log
// lines; all methods are called from the training goroutine.
type Reporter interface {
	Progress(Event)
	Validated(epoch int, step int, loss float64, best bool)
	Logf(format string, args ...any)
}

// Summary is the result of a training run.
type Summary struct {
	Epochs     int
	Steps      int
	Tokens     int
	BestValid  float64 // nats per token; NaN when there was no validation
	LastValid  float64
	Elapsed    time.Duration
	StoppedBy  string // "epochs" or "time limit"
	BestDir    string
	LastDir    string
	MetricsLog string
	Plot       string
}

// Trainer trains one language model.
type Trainer struct {
	cfg     Config
	model   *lm.Model
	opt     *optim.Optimizer
	clip    *optim.GradientClipping
	sched   optim.Schedule
	vocab   []string
	outDir  string
	rep     Reporter
	state   lm.State
	epoch   int // completed epochs
	chunk   int // chunks done in the current epoch
	tokens  int
	best    float64
	metrics *metricsLog
	// stopAfter, when positive, stops the run after this many chunks as a
	// time limit would (for tests of mid-epoch resumption).
	stopAfter int
}

// New prepares a fresh training run of a model of the given configuration;
// Run writes into outDir (creating it).
func New(mcfg lm.Config, cfg Config, vocab []string, outDir string, rep Reporter) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	model, err := lm.New(mcfg, tensor.NewRNG(cfg.Seed))
	if err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, model: model, vocab: vocab, outDir: outDir, rep: rep, best: math.NaN()}
	if err := t.setup(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Trainer) setup() error {
	var err error
	switch t.cfg.Optimizer {
	case "sgd":
		t.opt, err = optim.NewSGD(t.model.NamedParams(), optim.SGDConfig{LR: t.cfg.LR})
	default:
		t.opt, err = optim.NewAdam(t.model.NamedParams(), optim.AdamConfig{LR: t.cfg.LR})
	}
	if err != nil {
		return err
	}
	if t.cfg.Clip > 0 {
		if t.clip, err = optim.NewGradientClipping(t.cfg.Clip); err != nil {
			return err
		}
		t.opt.AddHook(t.clip)
	}
	if t.cfg.LRDecay > 1 {
		t.sched, err = optim.NewZarembaLR(t.cfg.LR, max(t.cfg.LRKeep, 0), t.cfg.LRDecay)
		if err != nil {
			return err
		}
	}
	return nil
}

// Model returns the model being trained.
func (t *Trainer) Model() *lm.Model { return t.model }

// LastDir and BestDir are the checkpoint directories inside outDir.
func (t *Trainer) LastDir() string { return filepath.Join(t.outDir, "last") }

// BestDir is where the checkpoint with the best validation loss is kept.
func (t *Trainer) BestDir() string { return filepath.Join(t.outDir, "best") }

// lrFor returns the learning rate of epoch e (0-based).
func (t *Trainer) lrFor(e int) float64 {
	if t.sched == nil {
		return t.cfg.LR
	}
	return t.sched.LR(e)
}

// Run trains on the train tokens, validating on valid (may be empty) at
// the end of each epoch, until the epochs are done or the time limit hits.
func (t *Trainer) Run(train, valid []int) (Summary, error) {
	start := time.Now()
	if err := os.MkdirAll(t.outDir, 0o755); err != nil {
		return Summary{}, err
	}
	var err error
	if t.metrics, err = openMetrics(filepath.Join(t.outDir, "metrics.jsonl")); err != nil {
		return Summary{}, err
	}
	defer t.metrics.Close()
	b, err := newBatcher(train, t.cfg.Batch, t.cfg.BPTT)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{BestValid: t.best, LastValid: math.NaN(), StoppedBy: "epochs", BestDir: t.BestDir(), LastDir: t.LastDir(), MetricsLog: t.metrics.path}
	startTokens := t.tokens
	lastReport := time.Time{}
	var lossSum float64
	var lossN int
	stop := false
	for t.epoch < t.cfg.Epochs && !stop {
		t.opt.SetLR(t.lrFor(t.epoch))
		t.model.SetMode(autograd.Train)
		for t.chunk < b.chunks {
			in, tg := b.chunk(t.chunk)
			loss, next := t.model.Loss(in, tg, t.state)
			t.opt.ClearGrads()
			loss.Backward()
			loss.UnchainBackward()
			if err := t.opt.Update(); err != nil {
				return sum, fmt.Errorf("epoch %d chunk %d: %w", t.epoch+1, t.chunk+1, err)
			}
			t.state = next.Detach()
			t.chunk++
			n := len(in) * len(in[0])
			t.tokens += n
			l := loss.Data.Item()
			lossSum += l * float64(n)
			lossN += n
			elapsed := time.Since(start)
			if time.Since(lastReport) > 200*time.Millisecond || t.chunk == b.chunks {
				lastReport = time.Now()
				tps := float64(t.tokens-startTokens) / elapsed.Seconds()
				ev := Event{Epoch: t.epoch + 1, Epochs: t.cfg.Epochs, Chunk: t.chunk, Chunks: b.chunks, Step: t.opt.Steps(), Tokens: t.tokens, Loss: lossSum / float64(lossN), LR: t.opt.LR(), TokensPerSec: tps, Elapsed: elapsed}
				left := float64((t.cfg.Epochs-t.epoch-1)*b.chunks+(b.chunks-t.chunk)) * float64(n) / tps
				ev.ETA = time.Duration(left * float64(time.Second))
				if t.cfg.TimeLimit > 0 {
					ev.ETA = min(ev.ETA, t.cfg.TimeLimit-elapsed)
				}
				t.rep.Progress(ev)
				t.metrics.write(map[string]any{"kind": "train", "epoch": t.epoch + 1, "step": t.opt.Steps(), "tokens": t.tokens, "loss": ev.Loss, "lr": ev.LR, "tokens_per_s": tps, "elapsed_s": elapsed.Seconds()})
				lossSum, lossN = 0, 0
			}
			if t.cfg.EvalEvery > 0 && t.chunk%t.cfg.EvalEvery == 0 && t.chunk < b.chunks {
				if _, err := t.validate(valid, &sum); err != nil {
					return sum, err
				}
				t.model.SetMode(autograd.Train)
			}
			if (t.cfg.TimeLimit > 0 && elapsed >= t.cfg.TimeLimit) || (t.stopAfter > 0 && t.opt.Steps() >= t.stopAfter) {
				stop = true
				sum.StoppedBy = "time limit"
				break
			}
		}
		if t.chunk == b.chunks {
			t.epoch++
			t.chunk = 0
			t.state = lm.State{}
		}
		if _, err := t.validate(valid, &sum); err != nil {
			return sum, err
		}
		if err := t.save(t.LastDir()); err != nil {
			return sum, err
		}
	}
	sum.Epochs, sum.Steps, sum.Tokens, sum.Elapsed = t.epoch, t.opt.Steps(), t.tokens, time.Since(start)
	sum.BestValid = t.best
	if err := t.metrics.Close(); err != nil {
		return sum, err
	}
	plot := filepath.Join(t.outDir, "curves.png")
	if err := PlotMetrics(t.metrics.path, plot); err != nil {
		t.rep.Logf("no plot: %v", err)
	} else {
		sum.Plot = plot
	}
	return sum, nil
}

// validate evaluates on valid, records the result and keeps the best
// checkpoint.
func (t *Trainer) validate(valid []int, sum *Summary) (float64, error) {
	if len(valid) < 2 {
		return math.NaN(), nil
	}
	eb := t.cfg.EvalBatch
	if eb == 0 {
		eb = t.cfg.Batch
	}
	loss, err := t.model.Evaluate(valid, eb, t.cfg.BPTT)
	if err != nil {
		return 0, err
	}
	sum.LastValid = loss
	better := math.IsNaN(t.best) || loss < t.best
	if better {
		t.best = loss
		if err := t.save(t.BestDir()); err != nil {
			return 0, err
		}
	}
	t.rep.Validated(t.epoch, t.opt.Steps(), loss, better)
	t.metrics.write(map[string]any{"kind": "valid", "epoch": t.epoch, "step": t.opt.Steps(), "tokens": t.tokens, "loss": loss})
	return loss, nil
}

// save writes a checkpoint of everything needed to resume.
func (t *Trainer) save(dir string) error {
	rngs := t.model.RNGs()
	meta := map[string]string{
		"chunk":      strconv.Itoa(t.chunk),
		"tokens":     strconv.Itoa(t.tokens),
		"best_valid": strconv.FormatFloat(t.best, 'g', -1, 64),
	}
	st, err := encodeState(t.state)
	if err != nil {
		return err
	}
	meta["state"] = st
	return modelio.Save(dir, &modelio.Checkpoint{
		Kind:      lm.Kind,
		Config:    savedConfig{Model: t.model.Config(), Train: t.cfg},
		Model:     t.model,
		Optimizer: t.opt,
		RNGs:      rngs,
		Step:      t.opt.Steps(),
		Epoch:     t.epoch,
		Vocab:     t.vocab,
		Metadata:  meta,
	})
}

// Resume reopens the checkpoint in dir (written by a Trainer) to continue
// training exactly where it stopped; epochs and the time limit may be
// changed through cfg's Epochs and TimeLimit (other fields come from the
// checkpoint).
func Resume(dir string, epochs int, timeLimit time.Duration, outDir string, rep Reporter) (*Trainer, error) {
	snap, err := modelio.Open(dir)
	if err != nil {
		return nil, err
	}
	if snap.Kind() != lm.Kind {
		return nil, fmt.Errorf("%s holds a %q checkpoint, not a language model", dir, snap.Kind())
	}
	var sc savedConfig
	if err := json.Unmarshal(snap.Config(), &sc); err != nil {
		return nil, fmt.Errorf("%s: configuration: %w", dir, err)
	}
	if epochs > 0 {
		sc.Train.Epochs = epochs
	}
	sc.Train.TimeLimit = timeLimit
	if err := sc.Train.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	model, err := lm.New(sc.Model, tensor.NewRNG(sc.Train.Seed))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	t := &Trainer{cfg: sc.Train, model: model, outDir: outDir, rep: rep}
	if err := t.setup(); err != nil {
		return nil, err
	}
	ck := &modelio.Checkpoint{Kind: lm.Kind, Model: model, Optimizer: t.opt, RNGs: model.RNGs()}
	if err := modelio.Load(dir, ck); err != nil {
		return nil, err
	}
	t.vocab, t.epoch = ck.Vocab, ck.Epoch
	if t.chunk, err = strconv.Atoi(ck.Metadata["chunk"]); err != nil {
		return nil, fmt.Errorf("%s: bad chunk counter: %w", dir, err)
	}
	if t.tokens, err = strconv.Atoi(ck.Metadata["tokens"]); err != nil {
		return nil, fmt.Errorf("%s: bad token counter: %w", dir, err)
	}
	if t.best, err = strconv.ParseFloat(ck.Metadata["best_valid"], 64); err != nil {
		return nil, fmt.Errorf("%s: bad best validation loss: %w", dir, err)
	}
	if t.state, err = decodeState(ck.Metadata["state"], model.Config().Cell == "lstm"); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return t, nil
}

// Vocab returns the vocabulary the run was started with.
func (t *Trainer) Vocab() []string { return t.vocab }

// encodeState writes the carried state exactly: its shape and the
// little-endian bytes of its float32 values, base64-encoded, as
// "L,B,H:<h>[:<c>]".
func encodeState(s lm.State) (string, error) {
	if s.H == nil {
		return "", nil
	}
	sh := s.H.Shape()
	out := fmt.Sprintf("%d,%d,%d:%s", sh[0], sh[1], sh[2], b64(s.H.Data.Float32s()))
	if s.C != nil {
		out += ":" + b64(s.C.Data.Float32s())
	}
	return out, nil
}

func b64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func decodeState(s string, lstm bool) (lm.State, error) {
	if s == "" {
		return lm.State{}, nil
	}
	bad := errors.New("carried state is damaged")
	parts := strings.Split(s, ":")
	var L, B, H int
	if _, err := fmt.Sscanf(parts[0], "%d,%d,%d", &L, &B, &H); err != nil || L <= 0 || B <= 0 || H <= 0 || L*B*H > 1<<28 {
		return lm.State{}, bad
	}
	if (lstm && len(parts) != 3) || (!lstm && len(parts) != 2) {
		return lm.State{}, bad
	}
	read := func(enc string) (*autograd.Variable, error) {
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(b) != 4*L*B*H {
			return nil, bad
		}
		v := make([]float32, L*B*H)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return autograd.NewVariable(tensor.FromFloat32(v, L, B, H)), nil
	}
	var st lm.State
	var err error
	if st.H, err = read(parts[1]); err != nil {
		return st, err
	}
	if lstm {
		if st.C, err = read(parts[2]); err != nil {
			return st, err
		}
	}
	return st, nil
}

// LoadModel opens a checkpoint written by a Trainer (best or last) and
// returns the model, ready for evaluation or sampling, and its vocabulary.
func LoadModel(dir string) (*lm.Model, *seq.Vocab, error) {
	snap, err := modelio.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	if snap.Kind() != lm.Kind {
		return nil, nil, fmt.Errorf("%s holds a %q checkpoint, not a language model", dir, snap.Kind())
	}
	var sc savedConfig
	if err := json.Unmarshal(snap.Config(), &sc); err != nil {
		return nil, nil, fmt.Errorf("%s: configuration: %w", dir, err)
	}
	model, err := lm.New(sc.Model, tensor.NewRNG(0))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	ck := &modelio.Checkpoint{Kind: lm.Kind, Model: model}
	if err := snap.Restore(ck); err != nil {
		return nil, nil, err
	}
	vocab, err := seq.VocabFromTokens(ck.Vocab)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	if vocab.Len() != sc.Model.Vocab {
		return nil, nil, fmt.Errorf("%s: vocabulary of %d tokens for a model of %d", dir, vocab.Len(), sc.Model.Vocab)
	}
	model.SetMode(autograd.Eval)
	return model, vocab, nil
}
