// Package train runs training: one loop (RunTask) over a small Task
// interface, with epochs, a time limit, validation and the best
// checkpoint kept, learning-rate policies, exact resumption, progress
// events, metrics written as JSON lines and training curves drawn as PNG
// (package train/curves), written once for every model.
//
// Trainer is the language model's task: the study deck's truncated-BPTT
// loop (forward a chunk, backward, cut the graph, clip, update) with the
// state carried across chunks. Other models (seq2seq, in the command
// kioku) implement Task themselves. Loading a trained model for inference
// needs none of this: see lm.Load.
package train

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
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
	// SaveEvery and SaveEverySteps, when positive, also write the last
	// checkpoint mid-epoch every this long or every this many updates
	// (LoopConfig.SaveEvery).
	SaveEvery      time.Duration `json:"save_every,omitempty"`
	SaveEverySteps int           `json:"save_every_steps,omitempty"`
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
	case c.SaveEvery < 0 || c.SaveEverySteps < 0:
		return fmt.Errorf("save-every %v / %d steps must not be negative", c.SaveEvery, c.SaveEverySteps)
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
	Chunk, Chunks int // steps (chunks, batches) done in this epoch, of
	Step          int // updates so far
	Tokens        int // training tokens so far (this run and resumed ones)
	Loss          float64
	LR            float64
	// TokensPerSec is the rate since the run started, RecentTokensPerSec
	// the rate of the steps since the previous report (or the epoch's
	// start), over which Loss is the mean.
	TokensPerSec       float64
	RecentTokensPerSec float64
	Elapsed, ETA       time.Duration
}

// Reporter receives progress. Implementations show a progress bar or log
// lines; all methods are called from the training goroutine.
type Reporter interface {
	// Progress reports training steps (see LoopConfig.ReportEvery).
	Progress(Event)
	// Validated reports a validation, after the best checkpoint was saved.
	Validated(Validation)
	// Stopped reports that the time limit stopped the run before the
	// step after e.
	Stopped(e Event)
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
	// Skipped counts the steps skipped for non-finite gradients
	// (LoopConfig.SkipNonFinite).
	Skipped int
	// Improved is whether this run saved a new best checkpoint.
	Improved bool
}

// Trainer trains one language model: its Run is RunTask over the
// language model's task.
type Trainer struct {
	cfg    Config
	model  *lm.Model
	opt    *optim.Optimizer
	clip   *optim.GradientClipping
	sched  optim.Schedule
	vocab  []string
	outDir string
	rep    Reporter
	state  lm.State // carried from chunk to chunk
	pos    Progress // where the run stands (restored by Resume)
	// stopAfter, when positive, stops the run after this many chunks as a
	// time limit would (for tests of mid-epoch resumption).
	stopAfter int
	// reportEvery is LoopConfig.ReportEvery (for tests that act on a
	// given step).
	reportEvery int
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
	t := &Trainer{cfg: cfg, model: model, vocab: vocab, outDir: outDir, rep: rep, pos: Progress{Best: math.NaN()}}
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
	t.sched = constantLR(t.cfg.LR)
	if t.cfg.LRDecay > 1 {
		t.sched, err = optim.NewZarembaLR(t.cfg.LR, max(t.cfg.LRKeep, 0), t.cfg.LRDecay)
		if err != nil {
			return err
		}
	}
	return nil
}

// constantLR is the schedule of a constant learning rate.
type constantLR float64

func (c constantLR) LR(int) float64 { return float64(c) }

// Model returns the model being trained.
func (t *Trainer) Model() *lm.Model { return t.model }

// Config returns the training configuration (for a resumed run, the
// checkpoint's, with the epochs and time limit it was resumed with).
func (t *Trainer) Config() Config { return t.cfg }

// LastDir and BestDir are the checkpoint directories inside outDir.
func (t *Trainer) LastDir() string { return filepath.Join(t.outDir, "last") }

// BestDir is where the checkpoint with the best validation loss is kept.
func (t *Trainer) BestDir() string { return filepath.Join(t.outDir, "best") }

// Run trains on the train tokens, validating on valid (may be empty) at
// the end of each epoch, until the epochs are done, the time limit hits
// or ctx is cancelled (see RunTask). It writes the checkpoints LastDir
// and BestDir, metrics.jsonl and curves.png into the output directory. A
// resumed run must be given the data it was trained on: a saved position
// past the end of this data's epoch is an error.
func (t *Trainer) Run(ctx context.Context, train, valid []int) (Summary, error) {
	b, err := seq.NewBPTT(train, t.cfg.Batch, t.cfg.BPTT)
	if err != nil {
		return Summary{}, err
	}
	return t.run(ctx, b, valid)
}

// RunIDs is Run on a compact token stream (seq.IDs, two or four bytes a
// token instead of a []int's eight), as kioku train reads its data.
func (t *Trainer) RunIDs(ctx context.Context, train *seq.IDs, valid []int) (Summary, error) {
	b, err := seq.NewBPTTIDs(train, t.cfg.Batch, t.cfg.BPTT)
	if err != nil {
		return Summary{}, err
	}
	return t.run(ctx, b, valid)
}

// run trains on the chunks of b.
func (t *Trainer) run(ctx context.Context, b *seq.BPTT, valid []int) (Summary, error) {
	if err := os.MkdirAll(t.outDir, 0o755); err != nil {
		return Summary{}, err
	}
	cfg := LoopConfig{
		Epochs: t.cfg.Epochs, TimeLimit: t.cfg.TimeLimit, EvalEvery: t.cfg.EvalEvery, Schedule: t.sched,
		SaveEvery: t.cfg.SaveEvery, SaveEverySteps: t.cfg.SaveEverySteps, MaxLoss: MaxLossFor(t.model.Config().Vocab),
		BestDir: t.BestDir(), LastDir: t.LastDir(),
		Metrics: filepath.Join(t.outDir, "metrics.jsonl"), Plot: filepath.Join(t.outDir, "curves.png"),
		stopAfter: t.stopAfter, ReportEvery: t.reportEvery,
	}
	task := &lmTask{Trainer: t, batches: b, valid: valid}
	sum, err := RunTask(ctx, task, cfg, t.pos, t.rep)
	if task.didSave {
		t.pos = task.saved
	}
	return sum, err
}

// lmTask is the language model's Task: truncated BPTT over the chunks of
// seq.BPTT, the state carried from chunk to chunk within an epoch.
type lmTask struct {
	*Trainer
	batches *seq.BPTT
	valid   []int
	saved   Progress // the position of the latest checkpoint
	didSave bool
}

// MaxLossFor is the training loss (LoopConfig.MaxLoss) past which a
// model predicting tokens of a vocabulary of v counts as diverged: a
// model guessing uniformly scores ln v, and no working run gets near
// three times that, or ln v + 10 for small vocabularies.
func MaxLossFor(v int) float64 {
	lv := math.Log(float64(v))
	return max(3*lv, lv+10)
}

func (t *lmTask) Optimizer() *optim.Optimizer { return t.opt }

// ValidationTokens is the size of the validation text (ValidationSizer).
func (t *lmTask) ValidationTokens() int { return len(t.valid) }

func (t *lmTask) StartEpoch(int) (int, error) {
	t.model.SetMode(autograd.Train)
	return t.batches.Chunks(), nil
}

func (t *lmTask) Step(k int) (float64, int, error) {
	in, tg := t.batches.Chunk(k)
	loss, next := t.model.Loss(in, tg, t.state)
	t.opt.ClearGrads()
	loss.Backward()
	loss.UnchainBackward()
	if err := t.opt.Update(); err != nil {
		return 0, 0, err
	}
	t.state = next.Detach()
	return loss.Data.Item(), len(in) * len(in[0]), nil
}

func (t *lmTask) EndEpoch(int) { t.state = lm.State{} }

func (t *lmTask) Validate() (float64, bool, error) {
	if len(t.valid) < 2 {
		return math.NaN(), false, nil
	}
	eb := t.cfg.EvalBatch
	if eb == 0 {
		eb = t.cfg.Batch
	}
	// Validation runs to its end even when a signal has come: the loop
	// then saves right after it. Evaluate leaves the model's mode alone.
	loss, err := t.model.Evaluate(context.Background(), t.valid, eb, t.cfg.BPTT)
	return loss, err == nil, err
}

func (t *lmTask) Checkpoint(p Progress) *modelio.Checkpoint {
	t.saved, t.didSave = p, true
	return &modelio.Checkpoint{
		Kind:      lm.Kind,
		Config:    savedConfig{Model: t.model.Config(), Train: t.cfg},
		Model:     t.model,
		Optimizer: t.opt,
		RNGs:      t.model.RNGs(),
		Step:      t.opt.Steps(),
		Epoch:     p.Epoch,
		Vocab:     t.vocab,
		Metadata: map[string]string{
			"chunk":      strconv.Itoa(p.Step),
			"tokens":     strconv.Itoa(p.Tokens),
			"best_valid": strconv.FormatFloat(p.Best, 'g', -1, 64),
			"state":      encodeState(t.state),
		},
	}
}

// ResumeOptions are what may change when a run is resumed, and how
// strictly its checkpoint is read: everything else comes from the
// checkpoint, so that the resumed run continues exactly as the
// uninterrupted one would have.
type ResumeOptions struct {
	// Epochs, when positive, replaces the number of epochs in all.
	Epochs int
	// TimeLimit is the time limit of the resumed run (0: none).
	TimeLimit time.Duration
	// SaveEvery and SaveEverySteps set the periodic saves of the resumed
	// run (Config.SaveEvery).
	SaveEvery      time.Duration
	SaveEverySteps int
	// AllowNonFinite restores weights and optimizer state that hold NaN
	// or ±Inf, which are otherwise refused (for debugging).
	AllowNonFinite bool
}

// Resume reopens the checkpoint in dir (written by a Trainer) to continue
// training exactly where it stopped, with the changes opts allows. Every
// restored piece is checked first: the model configuration against the
// weights in the file (lm.CheckSnapshot) before the model is built, the
// counters, the carried state's shape against the model, and the
// vocabulary against the embedding.
func Resume(dir string, opts ResumeOptions, outDir string, rep Reporter) (*Trainer, error) {
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
	if opts.Epochs > 0 {
		sc.Train.Epochs = opts.Epochs
	}
	sc.Train.TimeLimit = opts.TimeLimit
	sc.Train.SaveEvery, sc.Train.SaveEverySteps = opts.SaveEvery, opts.SaveEverySteps
	if err := sc.Train.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := lm.CheckSnapshot(snap, sc.Model); err != nil {
		return nil, err
	}
	model, err := lm.New(sc.Model, tensor.NewRNG(sc.Train.Seed))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	t := &Trainer{cfg: sc.Train, model: model, outDir: outDir, rep: rep}
	if err := t.setup(); err != nil {
		return nil, err
	}
	ck := &modelio.Checkpoint{Kind: lm.Kind, Model: model, Optimizer: t.opt, RNGs: model.RNGs(), AllowNonFinite: opts.AllowNonFinite}
	if err := snap.Restore(ck); err != nil {
		return nil, err
	}
	t.vocab, t.pos.Epoch = ck.Vocab, ck.Epoch
	if len(ck.Vocab) != sc.Model.Vocab {
		return nil, fmt.Errorf("%s: vocabulary of %d tokens for a model of %d", dir, len(ck.Vocab), sc.Model.Vocab)
	}
	if t.pos.Step, err = strconv.Atoi(ck.Metadata["chunk"]); err != nil {
		return nil, fmt.Errorf("%s: bad chunk counter: %w", dir, err)
	}
	if t.pos.Tokens, err = strconv.Atoi(ck.Metadata["tokens"]); err != nil {
		return nil, fmt.Errorf("%s: bad token counter: %w", dir, err)
	}
	if t.pos.Epoch < 0 || t.pos.Step < 0 || t.pos.Tokens < 0 {
		return nil, fmt.Errorf("%s: bad counters (epoch %d, chunk %d, tokens %d); they must not be negative", dir, t.pos.Epoch, t.pos.Step, t.pos.Tokens)
	}
	if t.pos.Best, err = strconv.ParseFloat(ck.Metadata["best_valid"], 64); err != nil {
		return nil, fmt.Errorf("%s: bad best validation loss: %w", dir, err)
	}
	if t.state, err = decodeState(ck.Metadata["state"]); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := checkState(t.state, model, sc.Train.Batch); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return t, nil
}

// Vocab returns the vocabulary the run was started with.
func (t *Trainer) Vocab() []string { return t.vocab }

// encodeState writes the carried state exactly: its shape and the
// little-endian bytes of its float32 values, base64-encoded, as
// "L,B,H:<h>[:<c>]", with <c> for a state that has a cell part.
func encodeState(s lm.State) string {
	if s.H == nil {
		return ""
	}
	sh := s.H.Shape()
	out := fmt.Sprintf("%d,%d,%d:%s", sh[0], sh[1], sh[2], b64(s.H.Data.Float32s()))
	if s.C != nil {
		out += ":" + b64(s.C.Data.Float32s())
	}
	return out
}

func b64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// errDamagedState is the error of a carried state that does not decode.
var errDamagedState = errors.New("carried state is damaged")

// decodeState reads what encodeState wrote: H, and C when it is there.
// Whether the state fits the model is checkState's business.
func decodeState(s string) (lm.State, error) {
	if s == "" {
		return lm.State{}, nil
	}
	parts := strings.Split(s, ":")
	var L, B, H int
	if _, err := fmt.Sscanf(parts[0], "%d,%d,%d", &L, &B, &H); err != nil || L <= 0 || B <= 0 || H <= 0 || L*B*H > 1<<28 {
		return lm.State{}, errDamagedState
	}
	if len(parts) != 2 && len(parts) != 3 {
		return lm.State{}, errDamagedState
	}
	var vs [2]*autograd.Variable
	for i, enc := range parts[1:] {
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(b) != 4*L*B*H {
			return lm.State{}, errDamagedState
		}
		v := make([]float32, L*B*H)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		vs[i] = autograd.NewVariable(tensor.FromFloat32(v, L, B, H))
	}
	return lm.State{H: vs[0], C: vs[1]}, nil
}

// checkState checks a decoded carried state against the state model
// carries for a batch of batch rows (lm.Model.StateShape): the same shape
// of H, and a C exactly when the model's state has one.
func checkState(st lm.State, model *lm.Model, batch int) error {
	if st.H == nil {
		if st.C != nil {
			return errDamagedState
		}
		return nil
	}
	want, hasC := model.StateShape(batch)
	if got := st.H.Shape(); !slices.Equal(got, want) {
		return fmt.Errorf("carried state of shape %v for a model whose state is %v", got, want)
	}
	if (st.C != nil) != hasC {
		has := func(c bool) string {
			if !c {
				return "no cell state"
			}
			return "a cell state"
		}
		return fmt.Errorf("carried state with %s for a model with %s", has(st.C != nil), has(hasC))
	}
	return nil
}
