package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/train/curves"
)

// Task is one model's side of the training loop that RunTask runs: its
// batches, its optimisation step, its validation and its checkpoints.
// The loop owns everything else, written once for every task: epochs,
// the time limit, validation cadence and the best checkpoint, the
// learning-rate policy, progress events, metrics and curves.
//
// The methods are called from the loop's goroutine, in this order per
// epoch: StartEpoch, then Step for the steps not done yet, then EndEpoch
// when the epoch ran to its end; Validate and Checkpoint in between.
type Task interface {
	// Optimizer is the optimizer Step updates; the loop reads its step
	// count and sets its learning rate.
	Optimizer() *optim.Optimizer
	// StartEpoch prepares epoch e (0-based), shuffling its batches, say,
	// and returns the number of steps in it. It is called once per epoch
	// run, also for an epoch resumed part-way through.
	StartEpoch(e int) (steps int, err error)
	// Step makes one optimisation step on batch k of the current epoch
	// (forward, backward, update, carrying any state to the next batch)
	// and returns the loss in nats per token and the number of tokens.
	// A step whose update was skipped returns an error wrapping
	// optim.ErrNonFiniteGrad.
	Step(k int) (loss float64, tokens int, err error)
	// EndEpoch is called when epoch e ran to its end, before validation:
	// the place to drop carried state.
	EndEpoch(e int)
	// Validate returns the validation loss, or ok false when there is
	// nothing to validate on. It leaves the model ready for Step.
	Validate() (loss float64, ok bool, err error)
	// Checkpoint returns what a checkpoint of the task at p holds: the
	// model, the optimizer, the random generators and whatever Progress
	// the task needs to resume exactly (in the checkpoint's Step, Epoch,
	// Config or Metadata, as the task's format has it).
	Checkpoint(p Progress) *modelio.Checkpoint
}

// Progress is the loop's position, saved with checkpoints and given back
// to RunTask to resume.
type Progress struct {
	// Epoch counts completed epochs; Step counts the steps done in the
	// current one.
	Epoch, Step int
	// Tokens counts the training tokens so far, resumed runs included.
	Tokens int
	// Best is the best validation loss so far: NaN before any validation
	// (or +Inf, to save only what beats it).
	Best float64
	// Elapsed is the time spent by this run so far (not saved by the
	// loop; tasks may record it).
	Elapsed time.Duration
}

// LoopConfig is the task-independent part of a training run.
type LoopConfig struct {
	// Epochs is the number of epochs in all, resumed ones included.
	Epochs int
	// TimeLimit, when positive, stops the run before a step once this
	// much time has passed (the run always makes its first step); the
	// loop then validates and saves as at the end of an epoch.
	TimeLimit time.Duration
	// EvalEvery, when positive, also validates every this many steps of
	// an epoch.
	EvalEvery int
	// ReportEvery, when positive, reports progress every this many
	// updates (counted over the run, resumed ones included); 0 reports at
	// most every 200ms and at the end of each epoch.
	ReportEvery int
	// Schedule, when not nil, sets the learning rate at the start of
	// each epoch.
	Schedule optim.Schedule
	// PlateauFactor, when in (0, 1), multiplies the learning rate after
	// each end-of-epoch validation that did not improve on the best.
	PlateauFactor float64
	// SkipNonFinite skips steps whose update failed with
	// optim.ErrNonFiniteGrad (counted in Summary.Skipped) instead of
	// stopping the run with the error. More than MaxSkipped such steps in
	// a row stop the run as diverged.
	SkipNonFinite bool
	// MaxLoss, when positive, is the training loss (nats per token) above
	// which the run counts as diverged and stops with ErrDiverged, as it
	// does for any non-finite training or validation loss, whatever the
	// clipping. A model guessing uniformly over V tokens scores ln V, so
	// a few times ln V is far past anything a working run reaches.
	MaxLoss float64
	// SaveEvery and SaveEverySteps, when positive, also write LastDir
	// mid-epoch once this much time or this many updates have passed
	// since the run started or the last save, so that a crash loses
	// little; resuming from such a save is exact.
	SaveEvery      time.Duration
	SaveEverySteps int
	// BestDir, when set, receives a checkpoint each time the validation
	// loss improves; LastDir, when set, one at the end of each epoch and
	// of the run.
	BestDir, LastDir string
	// Metrics, when set, is the metrics.jsonl file progress and
	// validation are appended to; Plot, when set, is the PNG the curves
	// of Metrics are drawn into at the end.
	Metrics, Plot string

	// stopAfter, when positive, stops the run before a step once this
	// many updates are done, as a time limit would (for tests).
	stopAfter int
}

// Validation describes one validation for a Reporter.
type Validation struct {
	// Epoch counts completed epochs; Current is the 1-based epoch that
	// ran last, which may be incomplete (a time limit, EvalEvery).
	Epoch, Current int
	// Step counts updates so far.
	Step int
	// Loss is the validation loss; Best is whether it is the best so far
	// (and was saved in BestDir).
	Loss float64
	Best bool
	// TrainLoss is the mean training loss per token over the steps this
	// run made in the current epoch.
	TrainLoss float64
	// LR is the learning rate the steps used.
	LR float64
	// EndOfEpoch is false for a validation in the middle of an epoch.
	EndOfEpoch bool
	// Elapsed is the time since the run started.
	Elapsed time.Duration
}

// ErrDiverged is wrapped by the error that stops a run whose loss became
// non-finite or passed LoopConfig.MaxLoss. The model is not saved after
// it: LastDir and BestDir keep what they held before.
var ErrDiverged = errors.New("training diverged")

// MaxSkipped is the number of consecutive steps with non-finite
// gradients that LoopConfig.SkipNonFinite tolerates before the run counts
// as diverged.
const MaxSkipped = 100

// ValidationSizer is implemented by tasks that can say how many tokens a
// validation reads. With a time limit, the loop then stops training early
// enough for the final validation to end near the limit: it reserves the
// duration of the last validation or, before the first, an estimate from
// the training rate.
type ValidationSizer interface {
	ValidationTokens() int
}

// RunTask runs task from position from (the zero Progress, with Best NaN
// or +Inf, for a fresh run) until cfg.Epochs epochs are done, the time
// limit stops it or ctx is cancelled. An epoch in which no step succeeded
// ends the run without validation.
//
// Cancelling ctx (a signal, in kioku) lets the current step finish, then
// writes LastDir without validating and returns with Summary.StoppedBy
// "interrupted" and a nil error: resuming from LastDir continues exactly.
//
// The metrics file is started anew for a fresh run (from the zero
// Progress); for a resumed run, its records past the resumed point (by
// their "tokens") are dropped first, so that a run resumed from an older
// checkpoint does not leave the abandoned continuation in its curves.
func RunTask(ctx context.Context, task Task, cfg LoopConfig, from Progress, rep Reporter) (Summary, error) {
	start := time.Now()
	l := &loop{ctx: ctx, task: task, cfg: cfg, rep: rep, opt: task.Optimizer(), pos: from, start: start, lastSave: start, lastSaveStep: task.Optimizer().Steps()}
	sum := Summary{BestValid: from.Best, LastValid: math.NaN(), StoppedBy: "epochs", BestDir: cfg.BestDir, LastDir: cfg.LastDir, MetricsLog: cfg.Metrics}
	if cfg.Metrics != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Metrics), 0o755); err != nil {
			return sum, err
		}
		if err := cutMetrics(cfg.Metrics, from.Tokens); err != nil {
			return sum, err
		}
		var err error
		if l.metrics, err = openMetrics(cfg.Metrics); err != nil {
			return sum, err
		}
		defer l.metrics.Close()
	}
	err := l.run(&sum)
	sum.Epochs, sum.Steps, sum.Tokens, sum.Elapsed = l.pos.Epoch, l.opt.Steps(), l.pos.Tokens, time.Since(start)
	sum.BestValid, sum.Skipped, sum.Improved = l.pos.Best, l.skipped, l.improved
	if err != nil {
		return sum, err
	}
	if l.metrics != nil {
		if err := l.metrics.Close(); err != nil {
			return sum, err
		}
		if cfg.Plot != "" {
			if err := curves.Plot(cfg.Metrics, cfg.Plot); err != nil {
				rep.Logf("no plot: %v", err)
			} else {
				sum.Plot = cfg.Plot
			}
		}
	}
	return sum, nil
}

// cutMetrics keeps the records of the metrics file at path whose
// "tokens" is at most tokens (none for a fresh run, tokens 0), rewriting
// the file atomically; a missing file is fine.
func cutMetrics(path string, tokens int) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept bytes.Buffer
	if tokens > 0 {
		sc := bufio.NewScanner(bytes.NewReader(old))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct {
				Tokens *float64 `json:"tokens"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Tokens == nil || *rec.Tokens > float64(tokens) {
				continue
			}
			kept.Write(sc.Bytes())
			kept.WriteByte('\n')
		}
	}
	if kept.Len() == len(old) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, kept.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loop is the state of one RunTask.
type loop struct {
	ctx      context.Context
	task     Task
	cfg      LoopConfig
	rep      Reporter
	opt      *optim.Optimizer
	metrics  *metricsLog
	pos      Progress
	start    time.Time
	skipped  int
	improved bool
	// epochLoss and epochTokens sum the current epoch's steps.
	epochLoss   float64
	epochTokens int
	// inARow counts the steps skipped in a row; lastSave and lastSaveStep
	// time the periodic saves; validTime is the last validation's
	// duration (0 before the first).
	inARow       int
	lastSave     time.Time
	lastSaveStep int
	validTime    time.Duration
	// startTokens is pos.Tokens when the run started.
	startTokens int
}

// reserve is the time kept at the end of a time-limited run for the
// final validation: the last validation's duration, or before the first
// an estimate from the training rate (a validation token, forward only,
// costs about a third of a training token).
func (l *loop) reserve(startTokens int) time.Duration {
	if l.validTime > 0 {
		return l.validTime
	}
	vs, ok := l.task.(ValidationSizer)
	if !ok {
		return 0
	}
	rate := float64(l.pos.Tokens-startTokens) / time.Since(l.start).Seconds()
	if !(rate > 0) {
		return 0
	}
	return time.Duration(float64(vs.ValidationTokens()) / (3 * rate) * float64(time.Second))
}

// diverged returns the error that stops a run whose loss is bad, or nil.
func (l *loop) diverged(what string, loss float64) error {
	if !math.IsNaN(loss) && !math.IsInf(loss, 0) && (l.cfg.MaxLoss <= 0 || loss <= l.cfg.MaxLoss) {
		return nil
	}
	bound := ""
	if l.cfg.MaxLoss > 0 && !math.IsNaN(loss) && !math.IsInf(loss, 0) {
		bound = fmt.Sprintf(", above the bound of %.4g", l.cfg.MaxLoss)
	}
	return fmt.Errorf("%w at epoch %d chunk %d (update %d): %s loss %v nats/token%s; nothing was saved after it (lower the learning rate, or clip gradients)",
		ErrDiverged, l.pos.Epoch+1, l.pos.Step, l.opt.Steps(), what, loss, bound)
}

func (l *loop) run(sum *Summary) error {
	startTokens := l.pos.Tokens
	l.startTokens = startTokens
	first := true
	for l.pos.Epoch < l.cfg.Epochs {
		if l.cfg.Schedule != nil {
			l.opt.SetLR(l.cfg.Schedule.LR(l.pos.Epoch))
		}
		steps, err := l.task.StartEpoch(l.pos.Epoch)
		if err != nil {
			return err
		}
		l.epochLoss, l.epochTokens = 0, 0
		var winLoss float64
		var winTokens, n int
		winStart, lastReport := time.Now(), time.Time{}
		stop := false
		if l.pos.Step < 0 || l.pos.Step >= steps && steps > 0 {
			return fmt.Errorf("the run stopped at chunk %d of an epoch, but this data gives %d chunks per epoch: resume with the data of the run", l.pos.Step, steps)
		}
		for l.pos.Step < steps {
			if l.ctx.Err() != nil {
				sum.StoppedBy = "interrupted"
				if l.epochTokens == 0 && !l.moved(startTokens) {
					return nil // nothing new to save
				}
				return l.saveLast()
			}
			elapsed := time.Since(l.start)
			if !first && ((l.cfg.TimeLimit > 0 && elapsed+l.reserve(startTokens) >= l.cfg.TimeLimit) || (l.cfg.stopAfter > 0 && l.opt.Steps() >= l.cfg.stopAfter)) {
				stop = true
				sum.StoppedBy = "time limit"
				l.rep.Stopped(l.event(steps, n, startTokens, winLoss, winTokens, winStart))
				break
			}
			first = false
			loss, tokens, err := l.task.Step(l.pos.Step)
			l.pos.Step++
			if err != nil {
				if l.cfg.SkipNonFinite && errors.Is(err, optim.ErrNonFiniteGrad) {
					l.skipped++
					if l.inARow++; l.inARow > MaxSkipped {
						return fmt.Errorf("%w at epoch %d chunk %d: %d steps in a row had non-finite gradients; nothing was saved after them", ErrDiverged, l.pos.Epoch+1, l.pos.Step, l.inARow)
					}
					continue
				}
				return fmt.Errorf("epoch %d chunk %d: %w", l.pos.Epoch+1, l.pos.Step, err)
			}
			l.inARow = 0
			if err := l.diverged("training", loss); err != nil {
				return err
			}
			n = tokens
			l.pos.Tokens += n
			l.epochLoss += loss * float64(n)
			l.epochTokens += n
			winLoss += loss * float64(n)
			winTokens += n
			report := time.Since(lastReport) > 200*time.Millisecond || l.pos.Step == steps
			if l.cfg.ReportEvery > 0 {
				report = l.opt.Steps()%l.cfg.ReportEvery == 0
			}
			if report {
				lastReport = time.Now()
				ev := l.event(steps, n, startTokens, winLoss, winTokens, winStart)
				l.rep.Progress(ev)
				l.writeMetrics(map[string]any{"kind": "train", "epoch": l.pos.Epoch + 1, "step": ev.Step, "tokens": ev.Tokens, "loss": ev.Loss, "lr": ev.LR, "tokens_per_s": ev.TokensPerSec, "elapsed_s": ev.Elapsed.Seconds()})
				winLoss, winTokens, winStart = 0, 0, time.Now()
			}
			if l.cfg.EvalEvery > 0 && l.pos.Step%l.cfg.EvalEvery == 0 && l.pos.Step < steps &&
				(l.cfg.TimeLimit <= 0 || time.Since(l.start)+2*l.reserve(startTokens) < l.cfg.TimeLimit) {
				if _, err := l.validate(sum, false); err != nil {
					return err
				}
			}
			if l.saveDue() && l.pos.Step < steps {
				if err := l.saveLast(); err != nil {
					return err
				}
			}
		}
		if l.epochTokens == 0 {
			// Out of time before the epoch's first step, or every step
			// skipped: nothing new to validate or save.
			return nil
		}
		if l.pos.Step == steps {
			l.task.EndEpoch(l.pos.Epoch)
			l.pos.Epoch++
			l.pos.Step = 0
		}
		better, err := l.validate(sum, true)
		if err != nil {
			return err
		}
		if !better && l.cfg.PlateauFactor > 0 && l.cfg.PlateauFactor < 1 {
			l.opt.SetLR(l.opt.LR() * l.cfg.PlateauFactor)
		}
		if err := l.saveLast(); err != nil {
			return err
		}
		if stop {
			break
		}
	}
	return nil
}

// moved reports whether the run has made a step since it started.
func (l *loop) moved(startTokens int) bool { return l.pos.Tokens > startTokens }

// saveDue reports whether a periodic save is due.
func (l *loop) saveDue() bool {
	return (l.cfg.SaveEvery > 0 && time.Since(l.lastSave) >= l.cfg.SaveEvery) ||
		(l.cfg.SaveEverySteps > 0 && l.opt.Steps()-l.lastSaveStep >= l.cfg.SaveEverySteps)
}

// saveLast writes LastDir, if set, at the current position.
func (l *loop) saveLast() error {
	l.lastSave, l.lastSaveStep = time.Now(), l.opt.Steps()
	if l.cfg.LastDir == "" {
		return nil
	}
	return l.save(l.cfg.LastDir)
}

// event describes the progress after a step of n tokens in an epoch of
// steps steps.
func (l *loop) event(steps, n, startTokens int, winLoss float64, winTokens int, winStart time.Time) Event {
	elapsed := time.Since(l.start)
	tps := float64(l.pos.Tokens-startTokens) / elapsed.Seconds()
	ev := Event{Epoch: l.pos.Epoch + 1, Epochs: l.cfg.Epochs, Chunk: l.pos.Step, Chunks: steps, Step: l.opt.Steps(), Tokens: l.pos.Tokens,
		Loss: winLoss / float64(winTokens), LR: l.opt.LR(), TokensPerSec: tps, RecentTokensPerSec: float64(winTokens) / time.Since(winStart).Seconds(), Elapsed: elapsed}
	leftSteps := (l.cfg.Epochs-l.pos.Epoch-1)*steps + (steps - l.pos.Step)
	left := float64(leftSteps) * float64(n) / tps
	ev.ETA = time.Duration(left * float64(time.Second))
	ev.Bound = "epochs"
	if total := l.cfg.Epochs * steps; total > 0 {
		ev.Done = 1 - float64(leftSteps)/float64(total)
	}
	if l.cfg.TimeLimit > 0 && l.cfg.TimeLimit-elapsed < ev.ETA {
		ev.ETA = max(l.cfg.TimeLimit-elapsed, 0)
		ev.Bound = "time limit"
		ev.Done = min(elapsed.Seconds()/l.cfg.TimeLimit.Seconds(), 1)
	}
	return ev
}

// validate runs the task's validation, records it and keeps the best
// checkpoint; it reports whether the loss improved on the best.
func (l *loop) validate(sum *Summary, endOfEpoch bool) (bool, error) {
	if vs, ok := l.rep.(ValidationStarter); ok {
		st := ValidationStart{Estimate: l.reserve(l.startTokens), Step: l.opt.Steps(), EndOfEpoch: endOfEpoch}
		if sz, ok := l.task.(ValidationSizer); ok {
			st.Tokens = sz.ValidationTokens()
		}
		vs.ValidationStarted(st)
	}
	began := time.Now()
	loss, ok, err := l.task.Validate()
	l.validTime = time.Since(began)
	if err != nil || !ok {
		return false, err
	}
	if err := l.diverged("validation", loss); err != nil {
		return false, err
	}
	sum.LastValid = loss
	better := math.IsNaN(l.pos.Best) || loss < l.pos.Best
	if better {
		l.pos.Best = loss
		if l.cfg.BestDir != "" {
			if err := l.save(l.cfg.BestDir); err != nil {
				return false, err
			}
			l.improved = true
		}
	}
	v := Validation{Epoch: l.pos.Epoch, Current: l.pos.Epoch, Step: l.opt.Steps(), Loss: loss, Best: better,
		TrainLoss: l.epochLoss / float64(l.epochTokens), LR: l.opt.LR(), EndOfEpoch: endOfEpoch, Elapsed: time.Since(l.start)}
	if l.pos.Step > 0 {
		v.Current++
	}
	l.rep.Validated(v)
	l.writeMetrics(map[string]any{"kind": "valid", "epoch": l.pos.Epoch, "step": v.Step, "tokens": l.pos.Tokens, "loss": loss})
	return better, nil
}

// save writes the task's checkpoint at the current position.
func (l *loop) save(dir string) error {
	p := l.pos
	p.Elapsed = time.Since(l.start)
	return modelio.Save(dir, l.task.Checkpoint(p))
}

func (l *loop) writeMetrics(v map[string]any) {
	if l.metrics != nil {
		l.metrics.write(v)
	}
}
