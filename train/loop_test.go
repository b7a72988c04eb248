package train

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// fakeTask is a Task of steps steps per epoch whose losses come from a
// table: loss(epoch, k); a NaN loss makes the step fail as a non-finite
// gradient would. Its validation losses come from valid in turn.
type fakeTask struct {
	opt    *optim.Optimizer
	p      *autograd.Variable
	steps  int
	loss   func(epoch, k int) float64
	valid  []float64
	epoch  int
	log    []string
	saved  []Progress
	nvalid int
}

func newFakeTask(t *testing.T, steps int, loss func(e, k int) float64, valid ...float64) *fakeTask {
	t.Helper()
	p := autograd.NewParameter(tensor.FromFloat32([]float32{0}, 1))
	opt, err := optim.NewSGD(maps.All(map[string]*autograd.Variable{"p": p}), optim.SGDConfig{LR: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeTask{opt: opt, p: p, steps: steps, loss: loss, valid: valid}
}

func (f *fakeTask) Optimizer() *optim.Optimizer { return f.opt }

func (f *fakeTask) StartEpoch(e int) (int, error) {
	f.epoch = e
	f.log = append(f.log, fmt.Sprintf("start %d lr %g", e, f.opt.LR()))
	return f.steps, nil
}

func (f *fakeTask) Step(k int) (float64, int, error) {
	l := f.loss(f.epoch, k)
	f.log = append(f.log, fmt.Sprintf("step %d.%d", f.epoch, k))
	if math.IsNaN(l) {
		return 0, 0, fmt.Errorf("step: %w", optim.ErrNonFiniteGrad)
	}
	f.p.Grad = tensor.FromFloat32([]float32{0}, 1)
	if err := f.opt.Update(); err != nil {
		return 0, 0, err
	}
	return l, 10, nil
}

func (f *fakeTask) EndEpoch(e int) { f.log = append(f.log, fmt.Sprintf("end %d", e)) }

func (f *fakeTask) Validate() (float64, bool, error) {
	if len(f.valid) == 0 {
		return math.NaN(), false, nil
	}
	v := f.valid[min(f.nvalid, len(f.valid)-1)]
	f.nvalid++
	f.log = append(f.log, fmt.Sprintf("valid %g", v))
	return v, true, nil
}

func (f *fakeTask) Checkpoint(p Progress) *modelio.Checkpoint {
	f.saved = append(f.saved, p)
	lin, _ := nn.NewLinear(nn.LinearConfig{In: 1, Out: 1}, tensor.NewRNG(1))
	return &modelio.Checkpoint{Kind: "fake", Model: lin, Epoch: p.Epoch}
}

// recorder is a Reporter that keeps what it is told.
type recorder struct {
	progress []Event
	valid    []Validation
	stopped  []Event
}

func (r *recorder) Progress(e Event)            { r.progress = append(r.progress, e) }
func (r *recorder) Validated(v Validation)      { r.valid = append(r.valid, v) }
func (r *recorder) Stopped(e Event)             { r.stopped = append(r.stopped, e) }
func (r *recorder) Logf(string, ...any)         {}
func constant(l float64) func(int, int) float64 { return func(int, int) float64 { return l } }

func TestRunTask(t *testing.T) {
	nanAt := func(e0, k0 int) func(int, int) float64 {
		return func(e, k int) float64 {
			if e == e0 && k == k0 {
				return math.NaN()
			}
			return 1
		}
	}
	cases := []struct {
		name    string
		cfg     LoopConfig
		from    Progress
		loss    func(e, k int) float64
		valid   []float64
		wantErr string
		// want is the task's log, joined by "|".
		want             string
		epochs, steps    int
		skipped          int
		improved         bool
		best             float64
		stoppedBy        string
		nvalid, nstopped int
		lr               float64
		perEpoch         int // steps per epoch; 0 means 3
	}{
		{
			name: "two epochs", cfg: LoopConfig{Epochs: 2}, loss: constant(1), valid: []float64{3, 2},
			want:   "start 0 lr 1|step 0.0|step 0.1|step 0.2|end 0|valid 3|start 1 lr 1|step 1.0|step 1.1|step 1.2|end 1|valid 2",
			epochs: 2, steps: 6, best: 2, stoppedBy: "epochs", nvalid: 2, lr: 1,
		},
		{
			name: "resumed mid-epoch", cfg: LoopConfig{Epochs: 2}, from: Progress{Epoch: 1, Step: 2, Best: 2.5}, loss: constant(1), valid: []float64{3},
			want:   "start 1 lr 1|step 1.2|end 1|valid 3",
			epochs: 2, steps: 1, best: 2.5, stoppedBy: "epochs", nvalid: 1, lr: 1,
		},
		{
			name: "already done", cfg: LoopConfig{Epochs: 2}, from: Progress{Epoch: 2, Best: 1}, loss: constant(1),
			want: "", epochs: 2, best: 1, stoppedBy: "epochs", lr: 1,
		},
		{
			name: "stop after 4 updates", cfg: LoopConfig{Epochs: 3, stopAfter: 4}, loss: constant(1), valid: []float64{3, 2},
			want:   "start 0 lr 1|step 0.0|step 0.1|step 0.2|end 0|valid 3|start 1 lr 1|step 1.0|valid 2",
			epochs: 1, steps: 4, best: 2, stoppedBy: "time limit", nvalid: 2, nstopped: 1, lr: 1,
		},
		{
			name: "non-finite stops", cfg: LoopConfig{Epochs: 1}, loss: nanAt(0, 1),
			wantErr: "epoch 1 chunk 2: step: gradient is not finite",
		},
		{
			name: "non-finite skipped", cfg: LoopConfig{Epochs: 1, SkipNonFinite: true}, loss: nanAt(0, 1), valid: []float64{3},
			want:   "start 0 lr 1|step 0.0|step 0.1|step 0.2|end 0|valid 3",
			epochs: 1, steps: 2, skipped: 1, best: 3, stoppedBy: "epochs", nvalid: 1, lr: 1,
		},
		{
			name: "every step skipped", cfg: LoopConfig{Epochs: 2, SkipNonFinite: true}, loss: constant(math.NaN()), valid: []float64{3},
			want:    "start 0 lr 1|step 0.0|step 0.1|step 0.2",
			skipped: 3, best: math.Inf(1), stoppedBy: "epochs", lr: 1,
			from: Progress{Best: math.Inf(1)},
		},
		{
			name: "plateau", cfg: LoopConfig{Epochs: 3, PlateauFactor: 0.5, BestDir: "best"}, from: Progress{Best: math.Inf(1)}, loss: constant(1), valid: []float64{3, 4, 2},
			want:   "start 0 lr 1|step 0.0|step 0.1|step 0.2|end 0|valid 3|start 1 lr 1|step 1.0|step 1.1|step 1.2|end 1|valid 4|start 2 lr 0.5|step 2.0|step 2.1|step 2.2|end 2|valid 2",
			epochs: 3, steps: 9, improved: true, best: 2, stoppedBy: "epochs", nvalid: 3, lr: 0.5,
		},
		{
			name: "schedule and eval-every", cfg: LoopConfig{Epochs: 2, Schedule: optim.Schedule(constantLR(0.25)), EvalEvery: 2}, loss: constant(1), valid: []float64{5, 4, 3, 2},
			want:   "start 0 lr 0.25|step 0.0|step 0.1|valid 5|step 0.2|end 0|valid 4|start 1 lr 0.25|step 1.0|step 1.1|valid 3|step 1.2|end 1|valid 2",
			epochs: 2, steps: 6, best: 2, stoppedBy: "epochs", nvalid: 4, lr: 0.25,
		},
		{
			name: "infinite loss diverges", cfg: LoopConfig{Epochs: 1}, loss: constant(math.Inf(1)),
			wantErr: "training diverged at epoch 1 chunk 1 (update 1): training loss +Inf nats/token; nothing was saved after it (lower the learning rate, or clip gradients)",
		},
		{
			name: "loss past MaxLoss diverges", cfg: LoopConfig{Epochs: 1, MaxLoss: 5}, loss: func(e, k int) float64 { return float64(3 * (k + 1)) },
			wantErr: "training diverged at epoch 1 chunk 2 (update 2): training loss 6 nats/token, above the bound of 5; nothing was saved after it (lower the learning rate, or clip gradients)",
		},
		{
			name: "NaN validation diverges", cfg: LoopConfig{Epochs: 1, BestDir: "best"}, loss: constant(1), valid: []float64{math.NaN()},
			wantErr: "training diverged at epoch 2 chunk 0 (update 3): validation loss NaN nats/token",
		},
		{
			name: "skipped in a row diverge", cfg: LoopConfig{Epochs: 1, SkipNonFinite: true}, loss: constant(math.NaN()), perEpoch: 2 * MaxSkipped,
			wantErr: fmt.Sprintf("training diverged at epoch 1 chunk %d: %d steps in a row had non-finite gradients", MaxSkipped+1, MaxSkipped+1),
		},
		{
			name: "resumed past the epoch", cfg: LoopConfig{Epochs: 2}, from: Progress{Epoch: 1, Step: 3, Best: 2.5}, loss: constant(1),
			wantErr: "the run stopped at chunk 3 of an epoch, but this data gives 3 chunks per epoch: resume with the data of the run",
		},
		{
			name: "no validation data", cfg: LoopConfig{Epochs: 1}, loss: constant(1),
			want:   "start 0 lr 1|step 0.0|step 0.1|step 0.2|end 0",
			epochs: 1, steps: 3, best: math.NaN(), stoppedBy: "epochs", lr: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := c.perEpoch
			if steps == 0 {
				steps = 3
			}
			task := newFakeTask(t, steps, c.loss, c.valid...)
			if c.cfg.BestDir != "" {
				c.cfg.BestDir = t.TempDir()
			}
			from := c.from
			if from == (Progress{}) {
				from.Best = math.NaN()
			}
			var rep recorder
			sum, err := RunTask(context.Background(), task, c.cfg, from, &rep)
			if c.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				if !errors.Is(err, optim.ErrNonFiniteGrad) && !errors.Is(err, ErrDiverged) && !strings.Contains(c.name, "resumed") {
					t.Errorf("error %v wraps neither ErrNonFiniteGrad nor ErrDiverged", err)
				}
				if errors.Is(err, ErrDiverged) && len(task.saved) > 0 {
					t.Errorf("a diverged run saved checkpoints at %+v", task.saved)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(task.log, "|"); got != c.want {
				t.Errorf("log\n%s\nwant\n%s", got, c.want)
			}
			same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
			if sum.Epochs != c.epochs || sum.Steps != c.steps || sum.Skipped != c.skipped || sum.Improved != c.improved || !same(sum.BestValid, c.best) || sum.StoppedBy != c.stoppedBy {
				t.Errorf("summary %+v", sum)
			}
			if len(rep.valid) != c.nvalid || len(rep.stopped) != c.nstopped {
				t.Errorf("%d validations and %d stops reported, want %d and %d", len(rep.valid), len(rep.stopped), c.nvalid, c.nstopped)
			}
			if lr := task.opt.LR(); lr != c.lr {
				t.Errorf("final learning rate %g, want %g", lr, c.lr)
			}
			if c.improved && (len(task.saved) == 0 || task.saved[len(task.saved)-1].Best != c.best) {
				t.Errorf("checkpoints at %+v", task.saved)
			}
		})
	}
}

// TestRunTaskReports: progress events every ReportEvery updates, with the
// loss averaged over the window, and validations with the epoch's
// training loss.
func TestRunTaskReports(t *testing.T) {
	task := newFakeTask(t, 4, func(e, k int) float64 { return float64(k + 1) }, 9)
	var rep recorder
	if _, err := RunTask(context.Background(), task, LoopConfig{Epochs: 1, ReportEvery: 2}, Progress{Best: math.NaN()}, &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rep.progress {
		got = append(got, fmt.Sprintf("%d/%d step %d tokens %d loss %g", e.Chunk, e.Chunks, e.Step, e.Tokens, e.Loss))
	}
	want := []string{"2/4 step 2 tokens 20 loss 1.5", "4/4 step 4 tokens 40 loss 3.5"}
	if !slices.Equal(got, want) {
		t.Errorf("progress %q, want %q", got, want)
	}
	if len(rep.valid) != 1 || rep.valid[0].TrainLoss != 2.5 || rep.valid[0].Epoch != 1 || rep.valid[0].Current != 1 || !rep.valid[0].Best || !rep.valid[0].EndOfEpoch {
		t.Errorf("validations %+v", rep.valid)
	}
}

// TestRunTaskTimeLimit: the time limit stops the run before a step, but
// never before the first; the loop then validates and saves the last
// checkpoint at the position reached.
func TestRunTaskTimeLimit(t *testing.T) {
	task := newFakeTask(t, 5, constant(1), 3)
	var rep recorder
	sum, err := RunTask(context.Background(), task, LoopConfig{Epochs: 2, TimeLimit: time.Nanosecond, LastDir: t.TempDir()}, Progress{Best: math.NaN()}, &rep)
	if err != nil {
		t.Fatal(err)
	}
	if sum.StoppedBy != "time limit" || sum.Steps != 1 || len(rep.stopped) != 1 || rep.stopped[0].Chunk != 1 {
		t.Fatalf("summary %+v, stops %+v", sum, rep.stopped)
	}
	if len(task.saved) != 1 || task.saved[0].Epoch != 0 || task.saved[0].Step != 1 || task.saved[0].Tokens != 10 {
		t.Errorf("checkpoints at %+v", task.saved)
	}
	if len(rep.valid) != 1 || rep.valid[0].Current != 1 || rep.valid[0].EndOfEpoch != true {
		t.Errorf("validations %+v", rep.valid)
	}
}

// TestCarriedState: the carried state encodes H and, when there is one,
// C, and decodes to the same values; a state that does not fit the model
// (shape, or a cell state too many or too few) is refused.
func TestCarriedState(t *testing.T) {
	mk := func(seed uint64, shape ...int) *autograd.Variable {
		x := tensor.Zeros(shape...)
		v := x.Float32s()
		for i := range v {
			v[i] = float32(seed) + float32(i)/7
		}
		return autograd.NewVariable(x)
	}
	lstm, gru := tinyModel, tinyModel
	lstm.Vocab, gru.Vocab, gru.Cell = 5, 5, "gru"
	models := map[string]*lm.Model{}
	for name, c := range map[string]lm.Config{"lstm": lstm, "gru": gru} {
		m, err := lm.New(c, tensor.NewRNG(1))
		if err != nil {
			t.Fatal(err)
		}
		models[name] = m
	}
	cases := []struct {
		name, model string
		st          lm.State
		err         string
	}{
		{"lstm", "lstm", lm.State{H: mk(1, 1, 8, 48), C: mk(2, 1, 8, 48)}, ""},
		{"gru", "gru", lm.State{H: mk(1, 1, 8, 48)}, ""},
		{"empty", "lstm", lm.State{}, ""},
		{"lstm without C", "lstm", lm.State{H: mk(1, 1, 8, 48)}, "no cell state for a model with a cell state"},
		{"gru with C", "gru", lm.State{H: mk(1, 1, 8, 48), C: mk(2, 1, 8, 48)}, "a cell state for a model with no cell state"},
		{"wrong hidden", "gru", lm.State{H: mk(1, 1, 8, 40)}, "shape [1 8 40] for a model whose state is [1 8 48]"},
		{"wrong batch", "gru", lm.State{H: mk(1, 1, 4, 48)}, "shape [1 4 48]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeState(encodeState(c.st))
			if err != nil {
				t.Fatal(err)
			}
			for i, pair := range [][2]*autograd.Variable{{c.st.H, got.H}, {c.st.C, got.C}} {
				if (pair[0] == nil) != (pair[1] == nil) || pair[0] != nil && !tensor.Equal(pair[0].Data, pair[1].Data) {
					t.Fatalf("part %d of the state does not round-trip", i)
				}
			}
			err = checkState(got, models[c.model], 8)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("checkState: %v, want %q", err, c.err)
			}
		})
	}
	for _, bad := range []string{"x", "1,2,3", "1,2,3:AAAA", "0,1,1:AAAAAA==", "1,1,1:AAAAAA==:AAAAAA==:AAAAAA==", "1,1,1:!!!!"} {
		if _, err := decodeState(bad); !errors.Is(err, errDamagedState) {
			t.Errorf("decodeState(%q): %v", bad, err)
		}
	}
}

// TestRunTaskInterrupted: cancelling the context (a signal) lets the
// current step finish, then saves the last checkpoint at the position
// reached, without validating, and reports "interrupted".
func TestRunTaskInterrupted(t *testing.T) {
	task := newFakeTask(t, 5, constant(1), 3)
	ctx, cancel := context.WithCancel(context.Background())
	rep := &cancelAfter{n: 3, cancel: cancel}
	sum, err := RunTask(ctx, task, LoopConfig{Epochs: 2, ReportEvery: 1, LastDir: t.TempDir()}, Progress{Best: math.NaN()}, rep)
	if err != nil {
		t.Fatal(err)
	}
	if sum.StoppedBy != "interrupted" || sum.Steps != 3 || len(rep.valid) != 0 {
		t.Fatalf("summary %+v, %d validations", sum, len(rep.valid))
	}
	if len(task.saved) != 1 || task.saved[0].Epoch != 0 || task.saved[0].Step != 3 || task.saved[0].Tokens != 30 {
		t.Errorf("checkpoints at %+v", task.saved)
	}
}

// cancelAfter is a recorder that cancels a context after n progress
// reports: a signal arriving during step n.
type cancelAfter struct {
	recorder
	n      int
	cancel func()
}

func (c *cancelAfter) Progress(e Event) {
	c.recorder.Progress(e)
	if len(c.progress) == c.n {
		c.cancel()
	}
}

// TestRunTaskSavesEvery: SaveEverySteps writes the last checkpoint
// mid-epoch every so many updates, besides the end of each epoch.
func TestRunTaskSavesEvery(t *testing.T) {
	task := newFakeTask(t, 5, constant(1))
	if _, err := RunTask(context.Background(), task, LoopConfig{Epochs: 2, SaveEverySteps: 2, LastDir: t.TempDir()}, Progress{Best: math.NaN()}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range task.saved {
		got = append(got, fmt.Sprintf("%d.%d", p.Epoch, p.Step))
	}
	// Updates 2 and 4 mid-epoch, the epoch's end (update 5), then 7 and 9
	// (counted from the last save), and the end.
	want := []string{"0.2", "0.4", "1.0", "1.2", "1.4", "2.0"}
	if !slices.Equal(got, want) {
		t.Errorf("saved at %v, want %v", got, want)
	}
}

// TestMetricsCutOnResume: a fresh run starts the metrics file anew; a
// resumed one keeps the records up to its position and drops the rest;
// a NaN loss is written as null.
func TestMetricsCutOnResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	old := `{"kind":"train","tokens":10,"loss":1}
{"kind":"train","tokens":20,"loss":1}
{"kind":"valid","tokens":20,"loss":2}
{"kind":"train","tokens":30,"loss":1}
`
	for _, c := range []struct {
		name string
		from Progress
		keep int // lines of old kept
	}{{"fresh", Progress{Best: math.NaN()}, 0}, {"resumed", Progress{Epoch: 0, Step: 2, Tokens: 20, Best: 2}, 3}} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			task := newFakeTask(t, 3, constant(1))
			if _, err := RunTask(context.Background(), task, LoopConfig{Epochs: 1, ReportEvery: 1, Metrics: path}, c.from, &recorder{}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			oldLines := strings.Split(strings.TrimSpace(old), "\n")
			if !slices.Equal(lines[:c.keep], oldLines[:c.keep]) || len(lines) != c.keep+3-c.from.Step {
				t.Errorf("metrics after the run:\n%s", b)
			}
		})
	}
	m, err := openMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	m.write(map[string]any{"kind": "valid", "tokens": 5, "loss": math.NaN()})
	if err := m.Close(); err != nil {
		t.Fatalf("writing a NaN loss: %v", err)
	}
	if b, _ := os.ReadFile(path); !strings.HasSuffix(string(b), `{"kind":"valid","loss":null,"tokens":5}`+"\n") {
		t.Errorf("NaN loss written as %q", b)
	}
}

// startRecorder is a recorder that also records ValidationStarted.
type startRecorder struct {
	recorder
	order  []string
	starts []ValidationStart
}

func (r *startRecorder) ValidationStarted(s ValidationStart) {
	r.starts = append(r.starts, s)
	r.order = append(r.order, "start")
}
func (r *startRecorder) Validated(v Validation) {
	r.recorder.Validated(v)
	r.order = append(r.order, "validated")
}

// sizedTask is a fakeTask that says how many tokens it validates on.
type sizedTask struct{ *fakeTask }

func (sizedTask) ValidationTokens() int { return 1234 }

// TestProgressFigures checks that Event.Done and ETA measure the same
// thing (the run's steps, without a time limit: Done reaches 1 as the
// ETA reaches 0) and that a ValidationStarter hears of each validation
// before it runs, with the validation's size.
func TestProgressFigures(t *testing.T) {
	task := sizedTask{newFakeTask(t, 4, constant(1), 3, 2, 1)}
	rep := &startRecorder{}
	if _, err := RunTask(context.Background(), task, LoopConfig{Epochs: 2, EvalEvery: 3, ReportEvery: 1}, Progress{Best: math.NaN()}, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.progress) != 8 {
		t.Fatalf("%d progress events, want 8", len(rep.progress))
	}
	for i, e := range rep.progress {
		if want := float64(i+1) / 8; math.Abs(e.Done-want) > 1e-12 || e.Bound != "epochs" {
			t.Errorf("event %d: Done %v, Bound %q; want %v, epochs", i, e.Done, e.Bound, want)
		}
	}
	if last := rep.progress[7]; last.ETA != 0 {
		t.Errorf("last event: ETA %v with Done %v", last.ETA, last.Done)
	}
	if want := "start validated start validated start validated start validated"; strings.Join(rep.order, " ") != want {
		t.Errorf("reports %q, want %q", rep.order, want)
	}
	for i, s := range rep.starts {
		if s.Tokens != 1234 {
			t.Errorf("validation %d: Tokens %d, want 1234", i, s.Tokens)
		}
		if i > 0 && s.Estimate <= 0 {
			t.Errorf("validation %d: no estimate after a validation ran", i)
		}
	}
	if !rep.starts[1].EndOfEpoch || rep.starts[0].EndOfEpoch {
		t.Errorf("EndOfEpoch of the first two validations: %v, %v; want false, true", rep.starts[0].EndOfEpoch, rep.starts[1].EndOfEpoch)
	}
}

// TestEventTimeLimitBound checks that an event of a run the time limit
// ends first counts Done and ETA against the time limit.
func TestEventTimeLimitBound(t *testing.T) {
	task := newFakeTask(t, 4, constant(1))
	l := &loop{task: task, cfg: LoopConfig{Epochs: 1000, TimeLimit: time.Hour}, opt: task.opt, start: time.Now().Add(-15 * time.Minute)}
	l.pos.Step, l.pos.Tokens = 2, 20
	e := l.event(4, 10, 0, 10, 10, time.Now())
	if e.Bound != "time limit" || math.Abs(e.Done-0.25) > 0.01 || e.ETA < 44*time.Minute || e.ETA > 45*time.Minute {
		t.Errorf("Bound %q, Done %v, ETA %v; want time limit, 0.25, 45m", e.Bound, e.Done, e.ETA)
	}
}
